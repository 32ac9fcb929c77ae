//! Body decompression under a small limit (the property is in `fuzz/checks.rs`, also
//! replayed on stable by the corpus test).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::decompress(data));

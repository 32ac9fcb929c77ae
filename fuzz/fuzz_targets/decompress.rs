//! Body decompression: no input may panic or exceed the limit, and what decodes must
//! re-encode and decode back the same.
#![no_main]

#[path = "../checks.rs"]
#[allow(dead_code)]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::decompress(data));

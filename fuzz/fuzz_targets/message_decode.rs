//! Message decoders: no input may panic, and what decodes must encode and decode back the
//! same (the property is in `fuzz/checks.rs`, also replayed on stable by the corpus test).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::message_decode(data));

//! Message decoders: no input may panic, and what decodes must encode and decode back the same.
#![no_main]

#[path = "../checks.rs"]
#[allow(dead_code)]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::message_decode(data));

//! Info-file reader: no input may panic, and what reads must write and read back the same.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::info_read(data));

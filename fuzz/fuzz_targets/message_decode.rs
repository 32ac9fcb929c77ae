//! Message decoders: no input may panic, and what decodes must encode and decode back the
//! same (the shared check, also replayed on stable by the corpus test of
//! `ocs-deploy-core`). The device id check must print back exactly what it accepted.
#![no_main]

#[path = "../checks.rs"]
#[allow(dead_code)]
mod checks;

use ocs_deploy_core::protocol::DeviceId;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::message_decode(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(id) = DeviceId::parse(text) {
            assert_eq!(id.as_str(), text);
            assert_eq!(DeviceId::parse(id.as_str()), Ok(id));
        }
    }
});

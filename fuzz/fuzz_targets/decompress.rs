//! Body decompression under a small limit: no input may panic or produce more than the
//! limit, a refused size names the limit, plain bodies come back unchanged, and what
//! decodes must re-encode in the same framing and decode back the same.
#![no_main]

use ocs_deploy_core::protocol::{CompressionError, Encoding, compression};

/// Small, so that bombs hit it in a few chunks and each run stays fast.
const LIMIT: usize = 64 * 1024;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    match compression::decode(data, LIMIT) {
        Ok((body, encoding)) => {
            assert!(body.len() <= LIMIT);
            assert_eq!(Encoding::detect(data), Some(encoding));
            if encoding == Encoding::Plain {
                assert_eq!(body, data);
            }
            let again = compression::decode(&compression::encode(&body, encoding), LIMIT)
                .expect("a re-encoded body decodes");
            assert_eq!(again, (body, encoding));
        }
        Err(CompressionError::TooLarge { limit }) => assert_eq!(limit, LIMIT),
        Err(_) => {}
    }
});

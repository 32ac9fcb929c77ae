//! The properties the fuzz targets check, shared with the corpus replay test of
//! `ocs-deploy-core` (which includes this file with `#[path]`), so that CI checks every
//! corpus input on stable exactly as the fuzzer did.

use ocs_deploy_core::info;
use ocs_deploy_core::protocol::{
    CompressionError, DeviceId, Encoding, InventoryReply, PrologReply, Request, compression,
};

/// Reads arbitrary bytes as an info file. Where that succeeds, writing the package and
/// reading it back must give the same package.
pub fn info_read(data: &[u8]) {
    if let Ok(package) = info::read(data) {
        let written = info::write(&package);
        let again = info::read(written.as_bytes()).expect("a written info file reads back");
        assert_eq!(again, package);
    }
}

/// Decodes arbitrary bytes as every message type. Where that succeeds, encoding the
/// message and decoding it again must give the same message; a device id accepted as text
/// prints back exactly as it was.
pub fn message_decode(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(id) = DeviceId::parse(text)
    {
        assert_eq!(id.as_str(), text);
        assert_eq!(DeviceId::parse(id.as_str()), Ok(id));
    }
    if let Ok(request) = Request::decode(data) {
        let again =
            Request::decode(request.encode().as_bytes()).expect("an encoded request decodes");
        assert_eq!(again, request);
    }
    if let Ok(reply) = PrologReply::decode(data) {
        let again = PrologReply::decode(reply.encode().as_bytes())
            .expect("an encoded PROLOG reply decodes");
        assert_eq!(again, reply);
    }
    if let Ok(reply) = InventoryReply::decode(data) {
        let again = InventoryReply::decode(reply.encode().as_bytes())
            .expect("an encoded INVENTORY reply decodes");
        assert_eq!(again, reply);
    }
}

/// Decompresses arbitrary bytes under a 64 KiB limit (small, so bombs hit it in a few
/// chunks): no output exceeds the limit, a refused size names the limit, the detected
/// framing is the one reported, plain bodies come back unchanged, and what decodes must
/// re-encode in the same framing and decode back the same.
pub fn decompress(data: &[u8]) {
    const LIMIT: usize = 64 * 1024;
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
}

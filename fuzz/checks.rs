//! The properties the fuzz targets check, shared with the corpus replay test of
//! `ocs-deploy-core` (which includes this file with `#[path]`), so that CI checks every
//! corpus input on stable exactly as the fuzzer did.

use ocs_deploy_core::info;

/// Reads arbitrary bytes as an info file. Where that succeeds, writing the package and
/// reading it back must give the same package.
pub fn info_read(data: &[u8]) {
    if let Ok(package) = info::read(data) {
        let written = info::write(&package);
        let again = info::read(written.as_bytes()).expect("a written info file reads back");
        assert_eq!(again, package);
    }
}

use ocs_deploy_core::protocol::{InventoryReply, PrologReply, Request, compression};

/// Decodes arbitrary bytes as every message type. Where that succeeds, encoding the
/// message and decoding it again must give the same message.
pub fn message_decode(data: &[u8]) {
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

/// Decompresses arbitrary bytes under a 1 MiB limit. The output never exceeds the limit,
/// and where decoding succeeds, encoding the output the same way decodes back to it.
pub fn decompress(data: &[u8]) {
    const LIMIT: usize = 1 << 20;
    if let Ok((body, encoding)) = compression::decode(data, LIMIT) {
        assert!(body.len() <= LIMIT);
        let again = compression::decode(&compression::encode(&body, encoding), LIMIT)
            .expect("a re-encoded body decodes");
        assert_eq!(again, (body, encoding));
    }
}

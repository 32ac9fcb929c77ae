//! Access to `../shared/reference/`, the data written by the real OCS programs.

use std::path::PathBuf;

/// The bytes of a file under `shared/reference/`; panics with the path when it is missing.
pub(crate) fn read(relative: &str) -> Vec<u8> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // ocs-deploy-http/ -> the repository -> its parent, which holds shared/.
    let path = manifest
        .parent()
        .and_then(|repo| repo.parent())
        .map(|root| root.join("shared/reference").join(relative))
        .expect("the repository has a parent folder");
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("cannot read reference file {}: {e}", path.display()))
}

//! Access to `../shared/reference/`, the data written by the real OCS programs.

use std::path::PathBuf;

/// The path of a file under `shared/reference/`.
pub(crate) fn path(relative: &str) -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // ocs-deploy-core/ -> the repository -> its parent, which holds shared/.
    manifest
        .parent()
        .and_then(|repo| repo.parent())
        .map(|root| root.join("shared/reference").join(relative))
        .expect("the repository has a parent folder")
}

/// The bytes of a reference file; panics with the path when it is missing.
pub(crate) fn read(relative: &str) -> Vec<u8> {
    let p = path(relative);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read reference file {}: {e}", p.display()))
}

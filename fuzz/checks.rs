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

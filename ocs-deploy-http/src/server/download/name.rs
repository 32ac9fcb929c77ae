//! Which URL names a package file: only `<id>/info` and `<id>/<id>-<n>`.

use ocs_deploy_core::PackageId;
use ocs_deploy_core::store::FileName;

/// The package file a `/<id>/<name>` URL names, or `None` for anything else.
///
/// The id must be canonical decimal ([`PackageId`]'s parse), the name `info` or
/// `<id>-<n>` with the same id text and `n` canonical decimal from 1. Every other text
/// (`..`, slashes, absolute paths, other names) is refused, so the path built from the
/// result never leaves the package's directory.
pub(crate) fn resolve(id: &str, name: &str) -> Option<(PackageId, FileName)> {
    let package: PackageId = id.parse().ok()?;
    if name == "info" {
        return Some((package, FileName::Info));
    }
    let n = name.strip_prefix(id)?.strip_prefix('-')?;
    if n.is_empty() || n.starts_with('0') || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u32 = n.parse().ok()?;
    Some((package, FileName::Fragment(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_shapes_resolve() {
        let id = PackageId::new(1_700_000_000).unwrap();
        assert_eq!(resolve("1700000000", "info"), Some((id, FileName::Info)));
        assert_eq!(
            resolve("1700000000", "1700000000-12"),
            Some((id, FileName::Fragment(12)))
        );
        for (dir, name) in [
            ("1700000000", "1700000001-1"),
            ("1700000000", "1700000000-0"),
            ("1700000000", "1700000000-01"),
            ("1700000000", "1700000000-"),
            ("1700000000", "1700000000-1/.."),
            ("1700000000", "1700000000-+1"),
            ("1700000000", "1700000000-99999999999"),
            ("1700000000", "INFO"),
            ("1700000000", "info.bak"),
            ("1700000000", ".."),
            ("01700000000", "01700000000-1"),
            ("..", "info"),
            ("/etc", "passwd"),
            ("0", "info"),
            ("", "info"),
        ] {
            assert_eq!(resolve(dir, name), None, "{dir}/{name}");
        }
    }
}

//! Safe extraction: good archives come out whole; every hostile one is refused with
//! `ERR_UNZIP` and writes nothing outside its target.

use std::path::{Path, PathBuf};

use ocs_deploy_agent::extract::{ExtractError, ExtractLimits, extract, extract_parts};
use ocs_deploy_core::StatusCode;
use tempfile::TempDir;

use crate::archives::{TarEntry, ZipEntry, tar_gz, zip};

/// A sandbox: `archive` is written beside `target`; `outside` is a sibling folder a
/// hostile archive would like to reach.
struct Sandbox {
    dir: TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("outside")).unwrap();
        Self { dir }
    }

    fn target(&self) -> PathBuf {
        self.dir.path().join("work/target")
    }

    async fn run(&self, bytes: &[u8], limits: &ExtractLimits) -> Result<u64, ExtractError> {
        let archive = self.dir.path().join("archive");
        std::fs::write(&archive, bytes).unwrap();
        extract(&archive, &self.target(), limits)
            .await
            .map(|s| s.entries)
    }

    /// Every path under the sandbox except the target's content and the archive.
    fn outside_target(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        walk(self.dir.path(), &mut found);
        found
            .into_iter()
            .filter(|p| !p.starts_with(self.target()))
            .filter(|p| {
                let rel = p.strip_prefix(self.dir.path()).unwrap();
                !["archive", "outside", "work", "work/target"]
                    .iter()
                    .any(|ok| rel == Path::new(ok))
            })
            .collect()
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        out.push(path.clone());
        if std::fs::symlink_metadata(&path).unwrap().is_dir() {
            walk(&path, out);
        }
    }
}

async fn refused(bytes: Vec<u8>, limits: ExtractLimits) -> ExtractError {
    let sandbox = Sandbox::new();
    let error = sandbox.run(&bytes, &limits).await.unwrap_err();
    assert_eq!(
        sandbox.outside_target(),
        Vec::<PathBuf>::new(),
        "nothing outside the target after {error}"
    );
    assert_eq!(error.status(), StatusCode::ErrUnzip, "{error}");
    error
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn a_tar_gz_made_with_tar_c_dir_dot_comes_out_whole() {
    // `tar -czf pkg.tar.gz -C src .` (as real-ocs-server.sh's make-package and many
    // packagers do) starts with the folder itself, `./`, and names files `./…`.
    let bytes = tar_gz(&[
        TarEntry::dir("./"),
        TarEntry {
            mode: 0o755,
            ..TarEntry::file("./install.sh", b"#!/bin/sh\n")
        },
        TarEntry::dir("./conf/"),
        TarEntry::file("./conf/app.ini", b"key=value\n"),
    ])
    .await;
    let sandbox = Sandbox::new();
    sandbox
        .run(&bytes, &ExtractLimits::default())
        .await
        .unwrap();
    let t = sandbox.target();
    assert_eq!(std::fs::read(t.join("install.sh")).unwrap(), b"#!/bin/sh\n");
    assert_eq!(
        std::fs::read(t.join("conf/app.ini")).unwrap(),
        b"key=value\n"
    );
    assert_eq!(sandbox.outside_target(), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn a_tar_gz_package_comes_out_whole() {
    let bytes = tar_gz(&[
        TarEntry::dir("bin/"),
        TarEntry {
            mode: 0o755,
            ..TarEntry::file("bin/install.sh", b"#!/bin/sh\necho installed\n")
        },
        TarEntry::file("README", b"read me"),
        TarEntry::link("bin/run", b'2', "install.sh"),
        TarEntry::link("README.copy", b'1', "README"),
    ])
    .await;
    let sandbox = Sandbox::new();
    let entries = sandbox
        .run(&bytes, &ExtractLimits::default())
        .await
        .unwrap();
    assert_eq!(entries, 5);
    let t = sandbox.target();
    assert_eq!(std::fs::read(t.join("README")).unwrap(), b"read me");
    assert_eq!(std::fs::read(t.join("README.copy")).unwrap(), b"read me");
    assert_eq!(
        std::fs::read_link(t.join("bin/run")).unwrap(),
        Path::new("install.sh")
    );
    assert_eq!(
        std::fs::read(t.join("bin/run")).unwrap(),
        b"#!/bin/sh\necho installed\n"
    );
    #[cfg(unix)]
    assert_eq!(mode(&t.join("bin/install.sh")), 0o755);
}

#[tokio::test]
async fn a_zip_package_comes_out_whole() {
    let bytes = zip(&[
        ZipEntry::Dir("setup/"),
        ZipEntry::File("setup/install.bat", b"echo installed", 0o755),
        ZipEntry::File("data/deep/file.txt", b"deep", 0o644),
        ZipEntry::Symlink("setup/latest", "install.bat"),
    ]);
    let sandbox = Sandbox::new();
    assert_eq!(
        sandbox
            .run(&bytes, &ExtractLimits::default())
            .await
            .unwrap(),
        4
    );
    let t = sandbox.target();
    assert_eq!(
        std::fs::read(t.join("setup/install.bat")).unwrap(),
        b"echo installed"
    );
    assert_eq!(
        std::fs::read(t.join("data/deep/file.txt")).unwrap(),
        b"deep"
    );
    assert_eq!(
        std::fs::read(t.join("setup/latest")).unwrap(),
        b"echo installed"
    );
    #[cfg(unix)]
    assert_eq!(mode(&t.join("setup/install.bat")), 0o755);
}

#[tokio::test]
async fn extracting_again_over_a_stored_package_replaces_its_files() {
    let sandbox = Sandbox::new();
    let first = zip(&[ZipEntry::File("conf/app.ini", b"v1", 0o644)]);
    let second = zip(&[ZipEntry::File("conf/app.ini", b"v2", 0o644)]);
    sandbox
        .run(&first, &ExtractLimits::default())
        .await
        .unwrap();
    sandbox
        .run(&second, &ExtractLimits::default())
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(sandbox.target().join("conf/app.ini")).unwrap(),
        b"v2"
    );
}

#[tokio::test]
async fn zip_slip_and_absolute_paths_are_refused() {
    for name in [
        "../evil.txt",
        "a/../../evil.txt",
        "/tmp/evil.txt",
        "../outside/evil.txt",
    ] {
        let error = refused(
            zip(&[ZipEntry::File(name, b"evil", 0o644)]),
            ExtractLimits::default(),
        )
        .await;
        assert!(
            matches!(error, ExtractError::UnsafePath { .. }),
            "{name}: {error}"
        );
    }
    for name in [
        "../evil.txt",
        "a/../../evil.txt",
        "/tmp/evil.txt",
        "./../outside/evil",
    ] {
        let error = refused(
            tar_gz(&[TarEntry::file(name, b"evil")]).await,
            ExtractLimits::default(),
        )
        .await;
        assert!(
            matches!(
                error,
                ExtractError::UnsafePath { .. } | ExtractError::Corrupt(_)
            ),
            "{name}: {error}"
        );
    }
}

#[tokio::test]
async fn links_pointing_out_are_refused() {
    for target in ["../outside", "/etc", "a/../../..", "../../outside/x"] {
        let error = refused(
            zip(&[ZipEntry::Symlink("link", target)]),
            ExtractLimits::default(),
        )
        .await;
        assert!(
            matches!(error, ExtractError::LinkOutside { .. }),
            "{target}: {error}"
        );
        for kind in [b'1', b'2'] {
            let error = refused(
                tar_gz(&[TarEntry::link("link", kind, target)]).await,
                ExtractLimits::default(),
            )
            .await;
            assert!(
                matches!(
                    error,
                    ExtractError::LinkOutside { .. } | ExtractError::Corrupt(_)
                ),
                "{target} ({}): {error}",
                kind as char
            );
        }
    }
    // A hard link to a file the archive did not write.
    let error = refused(
        tar_gz(&[TarEntry::link("copy", b'1', "not-there")]).await,
        ExtractLimits::default(),
    )
    .await;
    assert!(matches!(error, ExtractError::LinkOutside { .. }), "{error}");
}

#[tokio::test]
async fn nothing_is_written_through_a_link() {
    // A link to a folder inside, then a file "through" it: links are made last, so the
    // file's folder is a real one and the link cannot take its place.
    let error = refused(
        tar_gz(&[
            TarEntry::dir("real/"),
            TarEntry::link("via", b'2', "real"),
            TarEntry::file("via/file", b"x"),
        ])
        .await,
        ExtractLimits::default(),
    )
    .await;
    assert!(matches!(error, ExtractError::Obstructed { .. }), "{error}");
    // An existing link in a Store target is never followed.
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.target()).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(
            sandbox.dir.path().join("outside"),
            sandbox.target().join("conf"),
        )
        .unwrap();
        let error = sandbox
            .run(
                &zip(&[ZipEntry::File("conf/evil", b"x", 0o644)]),
                &ExtractLimits::default(),
            )
            .await
            .unwrap_err();
        assert!(matches!(error, ExtractError::Obstructed { .. }), "{error}");
        assert!(!sandbox.dir.path().join("outside/evil").exists());
    }
}

#[tokio::test]
async fn device_files_and_fifos_are_refused() {
    for (kind, what) in [(b'3', "device file"), (b'4', "device file"), (b'6', "FIFO")] {
        let error = refused(
            tar_gz(&[TarEntry::special("dev", kind)]).await,
            ExtractLimits::default(),
        )
        .await;
        assert!(
            matches!(&error, ExtractError::Unsupported { kind, .. } if *kind == what),
            "{error}"
        );
    }
}

#[tokio::test]
async fn bombs_stop_at_the_limit() {
    let zeros = vec![0u8; 64 << 20];
    let limits = ExtractLimits::new(8 << 20, 100);
    let error = refused(zip(&[ZipEntry::File("bomb", &zeros, 0o644)]), limits).await;
    assert!(matches!(error, ExtractError::TooLarge { .. }), "{error}");
    let error = refused(tar_gz(&[TarEntry::file("bomb", &zeros)]).await, limits).await;
    assert!(matches!(error, ExtractError::TooLarge { .. }), "{error}");
    // Many small files adding up.
    let small = vec![0u8; 1 << 20];
    let names: Vec<String> = (0..12).map(|i| format!("f{i}")).collect();
    let entries: Vec<TarEntry<'_>> = names.iter().map(|n| TarEntry::file(n, &small)).collect();
    let error = refused(tar_gz(&entries).await, limits).await;
    assert!(matches!(error, ExtractError::TooLarge { .. }), "{error}");
    // A header that declares less than it holds cannot smuggle more bytes in.
    let error = refused(
        tar_gz(&[TarEntry {
            declared: Some((8 << 30) - 1),
            ..TarEntry::file("liar", b"short")
        }])
        .await,
        limits,
    )
    .await;
    assert!(
        matches!(
            error,
            ExtractError::TooLarge { .. } | ExtractError::Corrupt(_)
        ),
        "{error}"
    );
}

#[tokio::test]
async fn entry_count_is_bounded() {
    let names: Vec<String> = (0..20).map(|i| format!("f{i}")).collect();
    let limits = ExtractLimits::new(1 << 20, 10);
    let entries: Vec<ZipEntry<'_>> = names
        .iter()
        .map(|n| ZipEntry::File(n, b"x", 0o644))
        .collect();
    let error = refused(zip(&entries), limits).await;
    assert!(
        matches!(error, ExtractError::TooManyEntries { limit: 10 }),
        "{error}"
    );
    let entries: Vec<TarEntry<'_>> = names.iter().map(|n| TarEntry::file(n, b"x")).collect();
    let error = refused(tar_gz(&entries).await, limits).await;
    assert!(
        matches!(error, ExtractError::TooManyEntries { limit: 10 }),
        "{error}"
    );
}

#[tokio::test]
async fn corrupt_archives_are_refused() {
    for bytes in [
        b"PK\x03\x04 not really a zip".to_vec(),
        vec![0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5],
        b"#!/bin/sh\necho not an archive\n".to_vec(),
        Vec::new(),
    ] {
        let error = refused(bytes.clone(), ExtractLimits::default()).await;
        assert!(
            matches!(error, ExtractError::Corrupt(_) | ExtractError::Io(_)),
            "{bytes:?}: {error}"
        );
    }
    // A truncated tar.gz.
    let mut bytes = tar_gz(&[TarEntry::file("a", &vec![7u8; 100_000])]).await;
    bytes.truncate(bytes.len() / 2);
    let error = refused(bytes, ExtractLimits::default()).await;
    assert!(matches!(error, ExtractError::Corrupt(_)), "{error}");
}

#[tokio::test]
async fn an_archive_in_parts_is_extracted_as_one() {
    // The agent extracts from the fragments themselves: ZIP (read with seeks) and TAR.GZ
    // (read as a stream), cut at odd places, an empty part among them.
    let content: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let zipped = zip(&[
        ZipEntry::Dir("d/"),
        ZipEntry::File("d/a.bin", &content, 0o644),
        ZipEntry::File("b.txt", b"bee", 0o644),
    ]);
    let tarred = tar_gz(&[
        TarEntry::dir("d/"),
        TarEntry::file("d/a.bin", &content),
        TarEntry::file("b.txt", b"bee"),
    ])
    .await;
    for (name, archive) in [("zip", zipped), ("tar.gz", tarred)] {
        let dir = tempfile::tempdir().unwrap();
        let mut parts = Vec::new();
        let cuts = [0, 1, 1, archive.len() / 3, archive.len() / 2, archive.len()];
        for (i, pair) in cuts.windows(2).enumerate() {
            let path = dir.path().join(format!("part-{i}"));
            std::fs::write(&path, &archive[pair[0]..pair[1]]).unwrap();
            parts.push(path);
        }
        let target = dir.path().join("target");
        let summary = extract_parts(&parts, &target, &ExtractLimits::default(), false)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(summary.bytes, content.len() as u64 + 3, "{name}");
        assert_eq!(
            std::fs::read(target.join("d/a.bin")).unwrap(),
            content,
            "{name}"
        );
        assert_eq!(
            std::fs::read(target.join("b.txt")).unwrap(),
            b"bee",
            "{name}"
        );
        // A part missing from the list: refused, not a short archive extracted.
        let target = dir.path().join("short");
        let short = [parts[0].clone(), parts[1].clone(), parts[4].clone()];
        assert!(
            extract_parts(&short, &target, &ExtractLimits::default(), false)
                .await
                .is_err(),
            "{name}"
        );
        // Removing the parts read: a TAR.GZ's go, a ZIP's (read in any order) stay.
        let target = dir.path().join("again");
        extract_parts(&parts, &target, &ExtractLimits::default(), true)
            .await
            .unwrap();
        assert_eq!(
            std::fs::read(target.join("d/a.bin")).unwrap(),
            content,
            "{name}"
        );
        let left = parts.iter().filter(|p| p.exists()).count();
        assert_eq!(left, if name == "zip" { parts.len() } else { 0 }, "{name}");
    }
}

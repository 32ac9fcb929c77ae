//! `DirectoryFiles`: layout, atomic writes, reads and removal.

use std::path::Component;

use bytes::Bytes;
use ocs_deploy_core::PackageId;
use ocs_deploy_core::store::{FileName, FilesError, PackageFiles};
use ocs_deploy_store_sql::DirectoryFiles;

fn id() -> PackageId {
    PackageId::new(1_700_000_000).unwrap()
}

/// The names in a package's directory.
fn listing(files: &DirectoryFiles) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(files.root().join(id().to_string()))
        .map(|dir| {
            dir.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn files_are_written_whole_at_the_agent_layout() {
    let root = tempfile::tempdir().unwrap();
    let files = DirectoryFiles::new(root.path());
    let mut w = files.create(id(), FileName::Info).await.unwrap();
    w.write(Bytes::from_static(b"<DOWNLOAD ")).await.unwrap();
    w.write(Bytes::from_static(b"/>")).await.unwrap();
    assert!(
        matches!(
            files.read(id(), FileName::Info).await,
            Err(FilesError::NotFound { .. })
        ),
        "invisible until finished"
    );
    w.finish().await.unwrap();
    let mut w = files.create(id(), FileName::Fragment(1)).await.unwrap();
    w.write(Bytes::from_static(b"abc")).await.unwrap();
    w.finish().await.unwrap();
    assert_eq!(
        std::fs::read(root.path().join("1700000000/info")).unwrap(),
        b"<DOWNLOAD />"
    );
    assert_eq!(
        files.read(id(), FileName::Fragment(1)).await.unwrap(),
        "abc"
    );
    assert_eq!(listing(&files), vec!["1700000000-1", "info"]);
}

#[tokio::test]
async fn finishing_replaces_and_dropping_leaves_nothing() {
    let root = tempfile::tempdir().unwrap();
    let files = DirectoryFiles::new(root.path());
    let mut w = files.create(id(), FileName::Fragment(2)).await.unwrap();
    w.write(Bytes::from_static(b"old")).await.unwrap();
    w.finish().await.unwrap();
    let mut dropped = files.create(id(), FileName::Fragment(2)).await.unwrap();
    dropped.write(Bytes::from_static(b"half")).await.unwrap();
    drop(dropped);
    assert_eq!(
        files.read(id(), FileName::Fragment(2)).await.unwrap(),
        "old"
    );
    assert_eq!(
        listing(&files),
        vec!["1700000000-2"],
        "no temporary file left"
    );
    let mut w = files.create(id(), FileName::Fragment(2)).await.unwrap();
    w.write(Bytes::from_static(b"new")).await.unwrap();
    w.finish().await.unwrap();
    assert_eq!(
        files.read(id(), FileName::Fragment(2)).await.unwrap(),
        "new"
    );
    let never = files.create(id(), FileName::Fragment(3)).await.unwrap();
    drop(never);
    assert!(matches!(
        files.read(id(), FileName::Fragment(3)).await,
        Err(FilesError::NotFound { .. })
    ));
}

#[tokio::test]
async fn packages_are_removed_whole() {
    let root = tempfile::tempdir().unwrap();
    let files = DirectoryFiles::new(root.path());
    assert!(
        !files.remove_package(id()).await.unwrap(),
        "nothing to remove"
    );
    for n in 1..=3 {
        let mut w = files.create(id(), FileName::Fragment(n)).await.unwrap();
        w.write(Bytes::from_static(b"x")).await.unwrap();
        w.finish().await.unwrap();
    }
    assert!(files.remove_package(id()).await.unwrap());
    assert!(!root.path().join("1700000000").exists());
    assert!(matches!(
        files.read(id(), FileName::Fragment(1)).await,
        Err(FilesError::NotFound { .. })
    ));
}

#[test]
fn paths_stay_below_the_root() {
    let files = DirectoryFiles::new("/srv/download");
    for file in [
        FileName::Info,
        FileName::Fragment(0),
        FileName::Fragment(u32::MAX),
    ] {
        for package in [
            id(),
            PackageId::new(1).unwrap(),
            PackageId::new(9_999_999_999).unwrap(),
        ] {
            let path = files.path(package, file);
            let relative = path.strip_prefix("/srv/download").unwrap();
            let parts: Vec<_> = relative.components().collect();
            assert_eq!(parts.len(), 2, "{path:?}");
            assert!(
                parts.iter().all(|c| matches!(c, Component::Normal(_))),
                "{path:?}"
            );
        }
    }
}

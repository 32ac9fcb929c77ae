//! [`DirectoryFiles`]: package files in a directory, laid out as agents fetch them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use ocs_deploy_core::PackageId;
use ocs_deploy_core::store::{FileName, FileWriter, FilesError, PackageFiles};
use tokio::io::AsyncWriteExt;

const BACKEND: &str = "directory";

/// [`PackageFiles`] in a directory: `<root>/<id>/info` and `<root>/<id>/<id>-<n>`, the
/// layout any static web server can serve to the agents.
///
/// A file is written to a temporary file in the package's directory, synced, and renamed
/// into place by [`FileWriter::finish`]; a writer dropped unfinished removes its temporary
/// file, so readers only ever see whole files.
///
/// ```
/// use bytes::Bytes;
/// use ocs_deploy_core::PackageId;
/// use ocs_deploy_core::store::{FileName, PackageFiles};
/// use ocs_deploy_store_sql::DirectoryFiles;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let root = tempfile::tempdir()?;
/// let files = DirectoryFiles::new(root.path());
/// let id = PackageId::new(1_700_000_000)?;
/// let mut writer = files.create(id, FileName::Fragment(1)).await?;
/// writer.write(Bytes::from_static(b"hello")).await?;
/// writer.finish().await?;
/// assert_eq!(files.read(id, FileName::Fragment(1)).await?, "hello");
/// assert!(root.path().join("1700000000/1700000000-1").is_file());
/// assert!(files.remove_package(id).await?);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct DirectoryFiles {
    root: Arc<PathBuf>,
}

impl DirectoryFiles {
    /// Files under `root` (created with the first package).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: Arc::new(root.into()),
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a file lives.
    pub fn path(&self, package: PackageId, file: FileName) -> PathBuf {
        self.root.join(file.relative_path(package))
    }
}

fn failed(path: String, e: std::io::Error) -> FilesError {
    FilesError::Backend {
        backend: BACKEND,
        path,
        source: Arc::new(e),
    }
}

/// A name for a temporary file no other writer in this process uses.
fn temporary_name(final_name: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        ".{final_name}.{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[async_trait]
impl PackageFiles for DirectoryFiles {
    async fn create(
        &self,
        package: PackageId,
        file: FileName,
    ) -> Result<Box<dyn FileWriter>, FilesError> {
        let relative = file.relative_path(package);
        let dir = self.root.join(package.to_string());
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| failed(relative.clone(), e))?;
        let target = dir.join(file.file_name(package));
        let temporary = dir.join(temporary_name(&file.file_name(package)));
        let handle = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)
            .await
            .map_err(|e| failed(relative.clone(), e))?;
        Ok(Box::new(DirectoryWriter {
            file: Some(handle),
            temporary: Some(temporary),
            target,
            relative,
        }))
    }

    async fn read(&self, package: PackageId, file: FileName) -> Result<Bytes, FilesError> {
        let relative = file.relative_path(package);
        match tokio::fs::read(self.path(package, file)).await {
            Ok(bytes) => Ok(Bytes::from(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(FilesError::NotFound { path: relative })
            }
            Err(e) => Err(failed(relative, e)),
        }
    }

    async fn remove_package(&self, package: PackageId) -> Result<bool, FilesError> {
        match tokio::fs::remove_dir_all(self.root.join(package.to_string())).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(failed(package.to_string(), e)),
        }
    }
}

/// A file being written to its temporary name.
#[derive(Debug)]
struct DirectoryWriter {
    file: Option<tokio::fs::File>,
    /// `None` once renamed into place.
    temporary: Option<PathBuf>,
    target: PathBuf,
    relative: String,
}

#[async_trait]
impl FileWriter for DirectoryWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), FilesError> {
        let Some(file) = self.file.as_mut() else {
            return Err(failed(
                self.relative.clone(),
                std::io::Error::other("writer already finished"),
            ));
        };
        file.write_all(&chunk)
            .await
            .map_err(|e| failed(self.relative.clone(), e))
    }

    async fn finish(mut self: Box<Self>) -> Result<(), FilesError> {
        let relative = self.relative.clone();
        if let Some(mut file) = self.file.take() {
            file.flush()
                .await
                .map_err(|e| failed(relative.clone(), e))?;
            file.sync_all()
                .await
                .map_err(|e| failed(relative.clone(), e))?;
        }
        if let Some(temporary) = self.temporary.as_ref() {
            tokio::fs::rename(temporary, &self.target)
                .await
                .map_err(|e| failed(relative.clone(), e))?;
            self.temporary = None;
        }
        // Make the rename itself durable.
        if let Some(dir) = self.target.parent()
            && let Ok(dir) = tokio::fs::File::open(dir).await
        {
            dir.sync_all().await.ok();
        }
        Ok(())
    }
}

impl Drop for DirectoryWriter {
    fn drop(&mut self) {
        // Unfinished: the file never becomes visible. (Blocking, but one unlink.)
        self.file.take();
        if let Some(temporary) = self.temporary.take() {
            std::fs::remove_file(temporary).ok();
        }
    }
}

//! [`MemoryFiles`]: the [`PackageFiles`] twin that keeps files in memory.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};

use crate::PackageId;
use crate::store::{FileName, FileWriter, FilesError, PackageFiles};

type Files = BTreeMap<(PackageId, FileName), Bytes>;

/// Package files in memory. Clones share the same files.
///
/// ```
/// use bytes::Bytes;
/// use ocs_deploy_core::PackageId;
/// use ocs_deploy_core::store::{FileName, PackageFiles};
/// use ocs_deploy_core::testkit::MemoryFiles;
///
/// # futures::executor::block_on(async {
/// let files = MemoryFiles::new();
/// let id = PackageId::new(1_700_000_000)?;
/// let mut w = files.create(id, FileName::Info).await?;
/// w.write(Bytes::from_static(b"<DOWNLOAD/>")).await?;
/// assert!(files.read(id, FileName::Info).await.is_err()); // not visible before finish
/// w.finish().await?;
/// assert_eq!(files.read(id, FileName::Info).await?, "<DOWNLOAD/>");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryFiles {
    files: Arc<Mutex<Files>>,
}

impl MemoryFiles {
    /// No files.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Files> {
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The names of a package's files, sorted.
    pub fn list(&self, package: PackageId) -> Vec<FileName> {
        self.lock()
            .keys()
            .filter(|(p, _)| *p == package)
            .map(|&(_, f)| f)
            .collect()
    }
}

#[async_trait]
impl PackageFiles for MemoryFiles {
    async fn create(
        &self,
        package: PackageId,
        file: FileName,
    ) -> Result<Box<dyn FileWriter>, FilesError> {
        Ok(Box::new(MemoryWriter {
            files: Arc::clone(&self.files),
            key: (package, file),
            data: BytesMut::new(),
        }))
    }

    async fn read(&self, package: PackageId, file: FileName) -> Result<Bytes, FilesError> {
        self.lock()
            .get(&(package, file))
            .cloned()
            .ok_or_else(|| FilesError::NotFound {
                path: file.relative_path(package),
            })
    }

    async fn remove_package(&self, package: PackageId) -> Result<bool, FilesError> {
        let mut files = self.lock();
        let before = files.len();
        files.retain(|(p, _), _| *p != package);
        Ok(files.len() != before)
    }
}

struct MemoryWriter {
    files: Arc<Mutex<Files>>,
    key: (PackageId, FileName),
    data: BytesMut,
}

#[async_trait]
impl FileWriter for MemoryWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), FilesError> {
        self.data.extend_from_slice(&chunk);
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<(), FilesError> {
        let Self { files, key, data } = *self;
        files
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, data.freeze());
        Ok(())
    }
}

//! Where package files (the info file and the fragments) are written.

use async_trait::async_trait;
use bytes::Bytes;

use super::BackendError;
use crate::PackageId;

/// One file of a package.
///
/// Files are laid out as `<root>/<id>/info` and `<root>/<id>/<id>-<n>`, the layout the
/// OCS agents fetch and any static web server can serve.
///
/// ```
/// use ocs_deploy_core::PackageId;
/// use ocs_deploy_core::store::FileName;
///
/// let id = PackageId::new(1_700_000_000)?;
/// assert_eq!(FileName::Info.relative_path(id), "1700000000/info");
/// assert_eq!(FileName::Fragment(2).relative_path(id), "1700000000/1700000000-2");
/// # Ok::<(), ocs_deploy_core::package::PackageIdError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileName {
    /// The info file.
    Info,
    /// Fragment `n` (from 1).
    Fragment(u32),
}

impl FileName {
    /// The file's name in the package's directory.
    pub fn file_name(self, package: PackageId) -> String {
        match self {
            Self::Info => "info".to_owned(),
            Self::Fragment(n) => package.fragment_name(n),
        }
    }

    /// `<id>/<file name>`, relative to the root of the package files.
    pub fn relative_path(self, package: PackageId) -> String {
        format!("{package}/{}", self.file_name(package))
    }

    /// Reads [`Self::relative_path`]'s output back: `<id>/info` or `<id>/<id>-<n>`, with a
    /// canonical id, the same id twice and `n` from 1; anything else is `None`.
    ///
    /// ```
    /// use ocs_deploy_core::PackageId;
    /// use ocs_deploy_core::store::FileName;
    ///
    /// let id = PackageId::new(1_700_000_000)?;
    /// assert_eq!(FileName::parse_relative("1700000000/info"), Some((id, FileName::Info)));
    /// assert_eq!(FileName::parse_relative("1700000000/1700000000-2"), Some((id, FileName::Fragment(2))));
    /// assert_eq!(FileName::parse_relative("1700000000/1700000001-2"), None);
    /// assert_eq!(FileName::parse_relative("1700000000/../etc/passwd"), None);
    /// assert_eq!(FileName::parse_relative("01700000000/info"), None);
    /// # Ok::<(), ocs_deploy_core::package::PackageIdError>(())
    /// ```
    pub fn parse_relative(path: &str) -> Option<(PackageId, Self)> {
        let (dir, name) = path.split_once('/')?;
        let package: PackageId = dir.parse().ok()?;
        if name == "info" {
            return Some((package, Self::Info));
        }
        let (prefix, n) = name.rsplit_once('-')?;
        if prefix != dir || n.starts_with('0') || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u32 = n.parse().ok()?;
        Some((package, Self::Fragment(n)))
    }
}

/// Writing package files failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum FilesError {
    /// The file does not exist.
    #[error("package file {path} not found")]
    NotFound {
        /// `<id>/<name>`.
        path: String,
    },
    /// The storage failed.
    #[error("package file {path}: {backend} storage failed")]
    Backend {
        /// Which storage.
        backend: &'static str,
        /// `<id>/<name>`, or `<id>` for a whole package.
        path: String,
        /// Why.
        #[source]
        source: BackendError,
    },
}

/// Storage for package files: a directory served by a web server, an object store, memory.
///
/// A file becomes visible only when its writer is finished, so agents never fetch half a
/// fragment; a writer dropped without [`FileWriter::finish`] leaves nothing behind.
#[async_trait]
pub trait PackageFiles: Send + Sync + core::fmt::Debug + 'static {
    /// Starts writing a file (replacing it when finished, if it exists).
    ///
    /// # Errors
    /// [`FilesError::Backend`] when the storage cannot take it.
    async fn create(
        &self,
        package: PackageId,
        file: FileName,
    ) -> Result<Box<dyn FileWriter>, FilesError>;

    /// Reads a whole file.
    ///
    /// # Errors
    /// [`FilesError::NotFound`], or [`FilesError::Backend`].
    async fn read(&self, package: PackageId, file: FileName) -> Result<Bytes, FilesError>;

    /// Removes every file of a package; returns whether there were any.
    ///
    /// # Errors
    /// [`FilesError::Backend`].
    async fn remove_package(&self, package: PackageId) -> Result<bool, FilesError>;
}

/// A file being written.
#[async_trait]
pub trait FileWriter: Send {
    /// Appends bytes.
    ///
    /// # Errors
    /// [`FilesError::Backend`].
    async fn write(&mut self, chunk: Bytes) -> Result<(), FilesError>;

    /// Makes the file visible, whole.
    ///
    /// # Errors
    /// [`FilesError::Backend`].
    async fn finish(self: Box<Self>) -> Result<(), FilesError>;
}

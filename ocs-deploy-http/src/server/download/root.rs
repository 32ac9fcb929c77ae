//! The package root, and opening a file beneath it without leaving it.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// The directory package files are served from.
///
/// On Linux a file is opened with `openat2(RESOLVE_BENEATH)` relative to the root's
/// directory descriptor, opened once: one system call, which the kernel refuses for any
/// path, symbolic links included, that would lead out of the root. Elsewhere, or when that
/// call is unavailable or finds nothing (the root replaced since), the path is resolved
/// with `canonicalize` and checked to start with the canonical root: two `realpath`s, one
/// `readlink` per path component, which cost nginx-class serving a tenth of its speed.
#[derive(Debug)]
pub(crate) struct PackageRoot {
    path: PathBuf,
    #[cfg(target_os = "linux")]
    dir: std::sync::OnceLock<rustix::fd::OwnedFd>,
}

/// Why a file beneath the root could not be opened.
pub(crate) enum OpenError {
    /// No such file (or a directory on the way is missing).
    Missing,
    /// The path leads out of the root through a symbolic link.
    Outside,
    /// Anything else (permissions, I/O).
    Io(io::Error),
}

impl PackageRoot {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            #[cfg(target_os = "linux")]
            dir: std::sync::OnceLock::new(),
        }
    }

    /// Opens `relative` (a path of plain names) beneath the root, for reading.
    pub(crate) fn open(&self, relative: &Path) -> Result<File, OpenError> {
        #[cfg(target_os = "linux")]
        if let Some(opened) = self.open_beneath(relative) {
            return opened;
        }
        self.open_resolved(relative)
    }

    /// `openat2` beneath the root's descriptor; `None` when the caller should resolve the
    /// path instead (no descriptor, no `openat2`, or nothing found through it).
    #[cfg(target_os = "linux")]
    fn open_beneath(&self, relative: &Path) -> Option<Result<File, OpenError>> {
        use rustix::fs::{Mode, OFlags, ResolveFlags};
        if self.dir.get().is_none() {
            let dir = rustix::fs::open(
                &self.path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ok()?;
            // Another thread may have set it first: either descriptor will do.
            let _ = self.dir.set(dir);
        }
        let dir = self.dir.get()?;
        match rustix::fs::openat2(
            dir,
            relative,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        ) {
            Ok(fd) => Some(Ok(File::from(fd))),
            Err(rustix::io::Errno::XDEV) => Some(Err(OpenError::Outside)),
            Err(rustix::io::Errno::NOTDIR) => Some(Err(OpenError::Missing)),
            Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOSYS) => None,
            Err(e) => Some(Err(OpenError::Io(e.into()))),
        }
    }

    fn open_resolved(&self, relative: &Path) -> Result<File, OpenError> {
        let missing = |e: io::Error| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => OpenError::Missing,
            _ => OpenError::Io(e),
        };
        let root = std::fs::canonicalize(&self.path).map_err(missing)?;
        let real = std::fs::canonicalize(root.join(relative)).map_err(missing)?;
        if !real.starts_with(&root) {
            return Err(OpenError::Outside);
        }
        File::open(&real).map_err(missing)
    }
}

//! Safe extraction of ZIP and TAR.GZ packages.
//!
//! Nothing lands outside the target directory: absolute paths, `..` that escapes, NUL
//! bytes, device files and FIFOs are refused; a symbolic link is created only if its target
//! stays inside the target (links are created after every file, so nothing is ever
//! written through one); a hard link only to a file of the same archive already
//! extracted. A path that crosses an existing symbolic link or a non-directory is refused.
//! The number of entries and the bytes written are bounded (a zip or gzip bomb stops at
//! the limit), and the free space is checked against the archive's declared size before
//! anything is written. Any refusal ends the package with `ERR_UNZIP` (`ERR_OUT_OF_SPACE`
//! for space), as [`ExtractError::status`] says.

use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

use async_compression::tokio::bufread::GzipDecoder;
use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use ocs_deploy_core::{ArchiveKind, StatusCode};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_util::io::StreamReader;

/// The buffer size for reading archives and writing files (each read or write of a tokio
/// file is a trip to the blocking pool: few large ones, not many of 8 KiB).
const IO_BUFFER: usize = 1 << 20;

/// Bounds on what one archive may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExtractLimits {
    /// Bytes written, all files together. Default 4 GiB.
    pub max_bytes: u64,
    /// Entries (files, directories, links). Default 100,000.
    pub max_entries: u64,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        Self {
            max_bytes: 4 << 30,
            max_entries: 100_000,
        }
    }
}

impl ExtractLimits {
    /// Limits of `max_bytes` bytes and `max_entries` entries.
    pub fn new(max_bytes: u64, max_entries: u64) -> Self {
        Self {
            max_bytes,
            max_entries,
        }
    }
}

/// What an extraction wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExtractSummary {
    /// Entries extracted.
    pub entries: u64,
    /// Bytes of file content written.
    pub bytes: u64,
}

/// Why an archive was not extracted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// An entry's name is absolute, escapes with `..`, holds a NUL byte or is empty.
    #[error("entry {entry:?} has an unsafe path")]
    UnsafePath {
        /// The entry's name.
        entry: String,
    },
    /// A link points outside the target (or, for a hard link, at nothing extracted).
    #[error("link {entry:?} points outside the target: {target:?}")]
    LinkOutside {
        /// The link's name.
        entry: String,
        /// What it points to.
        target: String,
    },
    /// A device file, FIFO or another kind of entry that is never extracted.
    #[error("entry {entry:?} is a {kind}, which is never extracted")]
    Unsupported {
        /// The entry's name.
        entry: String,
        /// What it is.
        kind: &'static str,
    },
    /// A path crosses an existing symbolic link or a file where a directory should be.
    #[error("entry {entry:?} would be written through {obstacle:?}")]
    Obstructed {
        /// The entry's name.
        entry: String,
        /// The existing path in the way.
        obstacle: PathBuf,
    },
    /// More entries than [`ExtractLimits::max_entries`].
    #[error("more than {limit} entries")]
    TooManyEntries {
        /// The limit.
        limit: u64,
    },
    /// More bytes than [`ExtractLimits::max_bytes`] (a bomb, or a package too large).
    #[error("more than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The archive declares more bytes than the target's file system has free.
    #[error("{needed} bytes needed, {available} available")]
    OutOfSpace {
        /// Bytes the archive declares.
        needed: u64,
        /// Bytes free.
        available: u64,
    },
    /// The archive is not a readable ZIP or TAR.GZ.
    #[error("the archive is corrupt: {0}")]
    Corrupt(String),
    /// The file system failed.
    #[error("i/o error while extracting: {0}")]
    Io(#[from] io::Error),
}

impl ExtractError {
    /// The status the package ends with: `ERR_OUT_OF_SPACE` for space, `ERR_UNZIP`
    /// otherwise.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::OutOfSpace { .. } => StatusCode::ErrOutOfSpace,
            _ => StatusCode::ErrUnzip,
        }
    }
}

/// Extracts `archive` into `target`, created if missing. The format (ZIP or TAR.GZ) is
/// recognised from the archive's first bytes, whatever the info file declares: the bytes
/// are what the digest verified.
///
/// # Errors
/// [`ExtractError`]: every refusal above, a corrupt archive, or an I/O failure. Entries
/// already written stay (the target is the package's own folder).
///
/// # Example
/// ```no_run
/// use ocs_deploy_agent::extract::{extract, ExtractLimits};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let summary = extract("build.tar.gz".as_ref(), "pkg".as_ref(), &ExtractLimits::default()).await?;
/// println!("{} entries, {} bytes", summary.entries, summary.bytes);
/// # Ok(()) }
/// ```
pub async fn extract(
    archive: &Path,
    target: &Path,
    limits: &ExtractLimits,
) -> Result<ExtractSummary, ExtractError> {
    extract_parts(&[archive.to_owned()], target, limits, false).await
}

/// [`extract`] for an archive stored in consecutive parts (a package's fragments, in
/// order), read as one file without being copied into one.
///
/// With `remove_read_parts`, the parts of a TAR.GZ are removed one by one as the extraction
/// passes them (so that most of their bytes never have to reach the disk); ZIP parts,
/// read in any order, stay. The agent does so: once a package's extraction starts, its
/// fragments are never needed again.
///
/// # Errors
/// As [`extract`].
///
/// # Example
/// ```no_run
/// use ocs_deploy_agent::extract::{extract_parts, ExtractLimits};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let parts = ["1700000000-1".into(), "1700000000-2".into()];
/// extract_parts(&parts, "pkg".as_ref(), &ExtractLimits::default(), false).await?;
/// # Ok(()) }
/// ```
pub async fn extract_parts(
    parts: &[PathBuf],
    target: &Path,
    limits: &ExtractLimits,
    remove_read_parts: bool,
) -> Result<ExtractSummary, ExtractError> {
    let list = parts.to_vec();
    let (parts, head) = blocking(move || {
        let mut parts = Parts::open(list)?;
        let mut head = Vec::with_capacity(4);
        (&mut parts).take(4).read_to_end(&mut head)?;
        parts.seek(SeekFrom::Start(0))?;
        Ok((parts, head))
    })
    .await?;
    let kind = ArchiveKind::detect(&head)
        .ok_or_else(|| ExtractError::Corrupt("not a ZIP or gzip archive".into()))?;
    tokio::fs::create_dir_all(target).await?;
    let limits = *limits;
    match kind {
        ArchiveKind::Zip => {
            let target = target.to_owned();
            blocking(move || extract_zip(parts, &target, limits)).await
        }
        ArchiveKind::TarGz => {
            let summary = extract_tar_gz(&parts, target, limits, remove_read_parts).await?;
            if remove_read_parts {
                // The reader removes the parts it has passed; the last ones (the tar's end
                // blocks, the gzip trailer) it may not have read when the entries end.
                let mut all = parts.clone();
                blocking(move || {
                    all.remove_before(all.files.len());
                    Ok(())
                })
                .await?;
            }
            Ok(summary)
        }
        ArchiveKind::None => Err(ExtractError::Corrupt("not an archive".into())),
    }
}

/// Runs blocking file work off the runtime's threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ExtractError> + Send + 'static,
) -> Result<T, ExtractError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ExtractError::Io(io::Error::other(e)))?
}

/// Files read one after the other as one: the parts of an archive.
#[derive(Debug)]
struct Parts {
    /// Each part and the offset where it starts.
    files: Vec<(PathBuf, u64)>,
    len: u64,
    pos: u64,
    /// The part open, and where its file's cursor is in the whole.
    current: Option<(usize, std::fs::File)>,
    /// Remove each part once read past (reading in order only).
    remove_read: bool,
    /// Parts before this one are removed.
    removed: usize,
}

impl Clone for Parts {
    fn clone(&self) -> Self {
        Self {
            files: self.files.clone(),
            len: self.len,
            pos: 0,
            current: None,
            remove_read: false,
            removed: 0,
        }
    }
}

impl Parts {
    fn open(paths: Vec<PathBuf>) -> io::Result<Self> {
        let mut parts = Vec::with_capacity(paths.len());
        let mut len: u64 = 0;
        for path in paths {
            let size = std::fs::metadata(&path)?.len();
            parts.push((path, len));
            len = len
                .checked_add(size)
                .ok_or_else(|| io::Error::other("archive too large"))?;
        }
        Ok(Self {
            files: parts,
            len,
            pos: 0,
            current: None,
            remove_read: false,
            removed: 0,
        })
    }

    /// Removes the parts before `upto` not removed yet.
    fn remove_before(&mut self, upto: usize) {
        while self.removed < upto {
            if let Some((path, _)) = self.files.get(self.removed) {
                let _ = std::fs::remove_file(path);
            }
            self.removed += 1;
        }
    }

    /// The part holding byte `pos`, and where it ends.
    fn part_at(&self, pos: u64) -> Option<(usize, u64)> {
        let i = self.files.partition_point(|(_, start)| *start <= pos);
        let i = i.checked_sub(1)?;
        let end = self.files.get(i + 1).map_or(self.len, |(_, start)| *start);
        (pos < end).then_some((i, end))
    }
}

impl Read for Parts {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let Some((i, end)) = self.part_at(self.pos) else {
            if self.remove_read {
                self.current = None;
                self.remove_before(self.files.len());
            }
            return Ok(0);
        };
        if self.remove_read {
            self.remove_before(i);
        }
        let file = match &mut self.current {
            Some((open, file)) if *open == i => file,
            current => {
                let (path, start) = &self.files[i];
                let mut file = std::fs::File::open(path)?;
                file.seek(SeekFrom::Start(self.pos - start))?;
                &mut current.insert((i, file)).1
            }
        };
        let want = usize::try_from(end - self.pos)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "an archive part is shorter than when it was opened",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Parts {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek out of range"))?;
        if pos != self.pos {
            self.current = None;
            self.pos = pos;
        }
        Ok(pos)
    }
}

/// An entry's name as a path inside the target: relative, normal components only.
fn inside(entry: &str) -> Result<PathBuf, ExtractError> {
    let unsafe_path = || ExtractError::UnsafePath {
        entry: entry.to_owned(),
    };
    if entry.contains('\0') {
        return Err(unsafe_path());
    }
    let mut out = PathBuf::new();
    for component in Path::new(entry).components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return Err(unsafe_path());
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err(unsafe_path()),
        }
    }
    if out.as_os_str().is_empty() {
        return Err(unsafe_path());
    }
    Ok(out)
}

/// Whether a folder entry names the target folder itself (`./`, which `tar -C dir .`
/// writes first, as `tar -x` takes it): there is nothing to make.
fn is_the_target(entry: &str) -> bool {
    !entry.is_empty()
        && !entry.contains('\0')
        && Path::new(entry)
            .components()
            .all(|c| c == Component::CurDir)
}

/// Where a symbolic link at `link` (inside the target) pointing to `target` resolves,
/// if that stays inside.
fn link_inside(link: &Path, target: &str) -> Option<PathBuf> {
    if target.is_empty() || target.contains('\0') || Path::new(target).is_absolute() {
        return None;
    }
    let mut out = link.parent().map(Path::to_owned).unwrap_or_default();
    for component in Path::new(target).components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// The bookkeeping shared by both formats: limits, what was written, links to make last.
struct Writer {
    root: PathBuf,
    limits: ExtractLimits,
    summary: ExtractSummary,
    files: HashSet<PathBuf>,
    symlinks: Vec<(PathBuf, String, String)>,
}

impl Writer {
    fn new(root: &Path, limits: ExtractLimits) -> Self {
        Self {
            root: root.to_owned(),
            limits,
            summary: ExtractSummary::default(),
            files: HashSet::new(),
            symlinks: Vec::new(),
        }
    }

    fn count_entry(&mut self) -> Result<(), ExtractError> {
        self.summary.entries += 1;
        if self.summary.entries > self.limits.max_entries {
            return Err(ExtractError::TooManyEntries {
                limit: self.limits.max_entries,
            });
        }
        Ok(())
    }

    /// Bytes still allowed.
    fn budget(&self) -> u64 {
        self.limits.max_bytes.saturating_sub(self.summary.bytes)
    }

    fn add_bytes(&mut self, n: u64) -> Result<(), ExtractError> {
        self.summary.bytes = self.summary.bytes.saturating_add(n);
        if self.summary.bytes > self.limits.max_bytes {
            return Err(ExtractError::TooLarge {
                limit: self.limits.max_bytes,
            });
        }
        Ok(())
    }

    /// Creates `rel` as a directory (and its parents), refusing to cross anything but
    /// real directories.
    fn dir(&self, entry: &str, rel: &Path) -> Result<(), ExtractError> {
        let mut path = self.root.clone();
        for component in rel.components() {
            path.push(component);
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(ExtractError::Obstructed {
                        entry: entry.to_owned(),
                        obstacle: path,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::create_dir(&path)?,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Prepares the path of a new file (or link) `rel`: its parents exist, and a regular
    /// file already there is removed. Returns the full path.
    fn prepare(&self, entry: &str, rel: &Path) -> Result<PathBuf, ExtractError> {
        if let Some(parent) = rel.parent() {
            self.dir(entry, parent)?;
        }
        let path = self.root.join(rel);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => std::fs::remove_file(&path)?,
            Ok(_) => {
                return Err(ExtractError::Obstructed {
                    entry: entry.to_owned(),
                    obstacle: path,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        Ok(path)
    }

    fn opened(&mut self, rel: PathBuf) {
        self.files.insert(rel);
    }

    fn hard_link(&mut self, entry: &str, rel: &Path, target: &str) -> Result<(), ExtractError> {
        let outside = || ExtractError::LinkOutside {
            entry: entry.to_owned(),
            target: target.to_owned(),
        };
        let source = inside(target).map_err(|_| outside())?;
        if !self.files.contains(&source) {
            return Err(outside());
        }
        let path = self.prepare(entry, rel)?;
        std::fs::hard_link(self.root.join(&source), path)?;
        self.files.insert(rel.to_owned());
        Ok(())
    }

    fn symlink_later(
        &mut self,
        entry: &str,
        rel: PathBuf,
        target: String,
    ) -> Result<(), ExtractError> {
        if link_inside(&rel, &target).is_none() {
            return Err(ExtractError::LinkOutside {
                entry: entry.to_owned(),
                target,
            });
        }
        self.symlinks.push((rel, target, entry.to_owned()));
        Ok(())
    }

    fn finish(mut self) -> Result<ExtractSummary, ExtractError> {
        for (rel, target, entry) in std::mem::take(&mut self.symlinks) {
            let path = self.prepare(&entry, &rel)?;
            symlink(&target, &path)?;
        }
        Ok(self.summary)
    }
}

#[cfg(unix)]
fn symlink(target: &str, path: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, path)
}

#[cfg(not(unix))]
fn symlink(_target: &str, path: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        format!("symbolic links are not extracted here: {}", path.display()),
    ))
}

/// Applies the permission bits an archive gives a file (execute bits matter: a Launch
/// runs the package's script). Never set-uid, set-gid or world-writable.
#[cfg(unix)]
fn set_mode(path: &Path, mode: Option<u32>) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    if let Some(mode) = mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o755 | 0o600))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: Option<u32>) -> io::Result<()> {
    Ok(())
}

/// Checks the declared size against the limit and the free space.
fn check_space(root: &Path, declared: u64, limits: &ExtractLimits) -> Result<(), ExtractError> {
    if declared > limits.max_bytes {
        return Err(ExtractError::TooLarge {
            limit: limits.max_bytes,
        });
    }
    let available = fs4::available_space(root)?;
    if declared > available {
        return Err(ExtractError::OutOfSpace {
            needed: declared,
            available,
        });
    }
    Ok(())
}

fn extract_zip(
    archive: Parts,
    root: &Path,
    limits: ExtractLimits,
) -> Result<ExtractSummary, ExtractError> {
    let mut zip = zip::ZipArchive::new(io::BufReader::new(archive))
        .map_err(|e| ExtractError::Corrupt(e.to_string()))?;
    if zip.len() as u64 > limits.max_entries {
        return Err(ExtractError::TooManyEntries {
            limit: limits.max_entries,
        });
    }
    let mut declared: u64 = 0;
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| ExtractError::Corrupt(e.to_string()))?;
        declared = declared.saturating_add(entry.size());
    }
    check_space(root, declared, &limits)?;
    let mut writer = Writer::new(root, limits);
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| ExtractError::Corrupt(e.to_string()))?;
        let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        writer.count_entry()?;
        if entry.is_dir() && is_the_target(&name) {
            continue;
        }
        let rel = inside(&name)?;
        if entry.is_dir() {
            writer.dir(&name, &rel)?;
        } else if entry.is_symlink() {
            let mut target = String::new();
            (&mut entry)
                .take(4096)
                .read_to_string(&mut target)
                .map_err(|e| ExtractError::Corrupt(e.to_string()))?;
            writer.symlink_later(&name, rel, target)?;
        } else {
            if let Some(mode) = entry.unix_mode() {
                let kind = mode & 0o170_000;
                if kind != 0 && kind != 0o100_000 {
                    return Err(ExtractError::Unsupported {
                        entry: name,
                        kind: "special file",
                    });
                }
            }
            let path = writer.prepare(&name, &rel)?;
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)?;
            let budget = writer.budget();
            let copied = io::copy(&mut (&mut entry).take(budget.saturating_add(1)), &mut out)
                .map_err(|e| ExtractError::Corrupt(e.to_string()))?;
            out.flush()?;
            writer.add_bytes(copied)?;
            set_mode(&path, entry.unix_mode())?;
            writer.opened(rel);
        }
    }
    writer.finish()
}

/// Per-entry overhead of a tar stream (header and padding), for the decompression cap.
const TAR_OVERHEAD: u64 = 1536;

async fn extract_tar_gz(
    archive: &Parts,
    root: &Path,
    limits: ExtractLimits,
    remove_read_parts: bool,
) -> Result<ExtractSummary, ExtractError> {
    // Stream bytes are bounded: contents plus headers, so a gzip bomb stops at the cap.
    let cap = limits.max_bytes.saturating_add(
        limits
            .max_entries
            .saturating_add(2)
            .saturating_mul(TAR_OVERHEAD),
    );
    // First pass: the declared size, for the space check, without writing anything.
    let mut declared: u64 = 0;
    let mut entries_seen: u64 = 0;
    {
        let mut tar = open_tar(archive, cap, false);
        let mut entries = tar.entries()?;
        while let Some(entry) = entries.next().await {
            let entry = entry.map_err(|e| ExtractError::Corrupt(e.to_string()))?;
            entries_seen += 1;
            if entries_seen > limits.max_entries {
                return Err(ExtractError::TooManyEntries {
                    limit: limits.max_entries,
                });
            }
            if entry.header().entry_type().is_file() {
                declared = declared.saturating_add(entry.effective_size());
                // Before its bytes are read: a bomb stops here.
                if declared > limits.max_bytes {
                    return Err(ExtractError::TooLarge {
                        limit: limits.max_bytes,
                    });
                }
            }
        }
    }
    check_space(root, declared, &limits)?;
    let mut writer = Writer::new(root, limits);
    let mut tar = open_tar(archive, cap, remove_read_parts);
    let mut entries = tar.entries()?;
    while let Some(entry) = entries.next().await {
        let mut entry = entry.map_err(|e| ExtractError::Corrupt(e.to_string()))?;
        let name = entry
            .path()
            .map_err(|e| ExtractError::Corrupt(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        writer.count_entry()?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            continue;
        }
        if kind.is_dir() && is_the_target(&name) {
            continue;
        }
        let rel = inside(&name)?;
        if kind.is_dir() {
            writer.dir(&name, &rel)?;
        } else if kind.is_file() || kind.is_contiguous() {
            let path = writer.prepare(&name, &rel)?;
            let out = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .await?;
            // Large writes: each write to a tokio file is a trip to the blocking pool.
            let mut out = tokio::io::BufWriter::with_capacity(IO_BUFFER, out);
            let budget = writer.budget();
            let copied =
                tokio::io::copy(&mut (&mut entry).take(budget.saturating_add(1)), &mut out)
                    .await
                    .map_err(|e| ExtractError::Corrupt(e.to_string()))?;
            out.flush().await?;
            writer.add_bytes(copied)?;
            set_mode(&path, entry.header().mode().ok())?;
            writer.opened(rel);
        } else if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name()
                .map_err(|e| ExtractError::Corrupt(e.to_string()))?
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default();
            if kind.is_symlink() {
                writer.symlink_later(&name, rel, target)?;
            } else {
                writer.hard_link(&name, &rel, &target)?;
            }
        } else {
            let what = if kind.is_character_special() || kind.is_block_special() {
                "device file"
            } else if kind.is_fifo() {
                "FIFO"
            } else {
                "entry of an unsupported kind"
            };
            return Err(ExtractError::Unsupported {
                entry: name,
                kind: what,
            });
        }
    }
    writer.finish()
}

/// The bytes of an archive as an async stream: a blocking thread reads the parts in
/// blocks of [`IO_BUFFER`] (at most two blocks wait in the channel).
type ArchiveReader = StreamReader<BoxStream<'static, io::Result<Bytes>>, Bytes>;

fn read_parts(mut parts: Parts) -> ArchiveReader {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(2);
    tokio::task::spawn_blocking(move || {
        loop {
            let mut block = vec![0u8; IO_BUFFER];
            let item = match parts.read(&mut block) {
                Ok(0) => return,
                Ok(n) => {
                    block.truncate(n);
                    Ok(Bytes::from(block))
                }
                Err(e) => Err(e),
            };
            let failed = item.is_err();
            // The reader gone (extraction stopped): nothing more to read.
            if tx.blocking_send(item).is_err() || failed {
                return;
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    StreamReader::new(stream.boxed())
}

fn open_tar(
    archive: &Parts,
    cap: u64,
    remove_read_parts: bool,
) -> tokio_tar::Archive<tokio::io::Take<GzipDecoder<ArchiveReader>>> {
    let mut parts = archive.clone();
    parts.remove_read = remove_read_parts;
    let mut gz = GzipDecoder::new(read_parts(parts));
    gz.multiple_members(true);
    tokio_tar::ArchiveBuilder::new(gz.take(cap))
        .set_allow_external_symlinks(false)
        .set_preserve_permissions(false)
        .set_unpack_xattrs(false)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_read_and_seek_as_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        let mut whole = Vec::new();
        for (i, content) in [&b"hello "[..], b"", b"wor", b"ld!"].iter().enumerate() {
            let path = dir.path().join(format!("part-{i}"));
            std::fs::write(&path, content).unwrap();
            paths.push(path);
            whole.extend_from_slice(content);
        }
        let mut parts = Parts::open(paths.clone()).unwrap();
        let mut read = Vec::new();
        parts.read_to_end(&mut read).unwrap();
        assert_eq!(read, whole);
        // Reads stop at each part's end; seeks land anywhere.
        assert_eq!(parts.seek(SeekFrom::Start(4)).unwrap(), 4);
        let mut buf = [0u8; 16];
        assert_eq!(parts.read(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"o ");
        assert_eq!(parts.seek(SeekFrom::End(-4)).unwrap(), 8);
        let mut tail = String::new();
        parts.read_to_string(&mut tail).unwrap();
        assert_eq!(tail, "rld!");
        assert_eq!(parts.seek(SeekFrom::Current(-6)).unwrap(), 6);
        let mut buf = [0u8; 3];
        parts.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"wor");
        assert!(parts.seek(SeekFrom::Current(-100)).is_err());
        // A part that shrank after it was opened is an error, not a short archive.
        std::fs::write(&paths[3], b"l").unwrap();
        parts.seek(SeekFrom::Start(0)).unwrap();
        assert!(parts.read_to_end(&mut Vec::new()).is_err());
        // A part that is missing.
        assert!(Parts::open(vec![dir.path().join("missing")]).is_err());
    }

    #[test]
    fn names_stay_inside() {
        assert_eq!(inside("a/./b/../c").unwrap(), Path::new("a/c"));
        for bad in ["", ".", "..", "a/../..", "/etc/passwd", "a\0b"] {
            assert!(inside(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_dot_folders_name_the_target() {
        for target in [".", "./", "./."] {
            assert!(is_the_target(target), "{target:?}");
        }
        for other in ["", "..", "./..", "a", "./a", "/"] {
            assert!(!is_the_target(other), "{other:?}");
        }
    }

    #[test]
    fn link_targets_are_resolved_from_the_links_folder() {
        assert_eq!(
            link_inside(Path::new("a/b/l"), "../c"),
            Some(PathBuf::from("a/c"))
        );
        assert_eq!(
            link_inside(Path::new("l"), "x/../y"),
            Some(PathBuf::from("y"))
        );
        assert_eq!(link_inside(Path::new("a/l"), "../../x"), None);
        assert_eq!(link_inside(Path::new("l"), "/etc"), None);
        assert_eq!(link_inside(Path::new("l"), ""), None);
    }

    #[test]
    fn declared_size_is_checked_against_free_space_first() {
        let dir = tempfile::tempdir().unwrap();
        let limits = ExtractLimits::new(u64::MAX, 10);
        let error = check_space(dir.path(), u64::MAX / 2, &limits).unwrap_err();
        assert!(matches!(error, ExtractError::OutOfSpace { .. }), "{error}");
        assert_eq!(error.status(), StatusCode::ErrOutOfSpace);
        assert!(check_space(dir.path(), 1024, &limits).is_ok());
        let small = ExtractLimits::new(100, 10);
        assert!(matches!(
            check_space(dir.path(), 1024, &small),
            Err(ExtractError::TooLarge { limit: 100 })
        ));
    }
}

//! The agent's state directory: what must survive a crash, written so that a `kill -9` at
//! any moment leaves either the old file or the new one, never a torn one.
//!
//! ```text
//! <dir>/device-id                  the OCS device id, made once
//! <dir>/history                    package ids done, one per line
//! <dir>/config                     the download settings of the last PROLOG
//! <dir>/packages/<id>/job          the job's state (notice, stage, counters)
//! <dir>/packages/<id>/info         the info file as fetched
//! <dir>/packages/<id>/<id>-<n>     the fragments held
//! ```
//!
//! Every file is written to a temporary name in the same folder, flushed to disk
//! (`fsync`), renamed over the old one, and the folder is flushed too. A fragment appears
//! under its name only once it is whole, so a fragment on disk is never fetched again.
//! Fragments are the exception to the flushing: one `fsync` per fragment made the download
//! several times slower (see `benches/agent_download_vs_curl.sh`), and a fragment torn by
//! a power cut (a process crash never tears one) is found when the jobs are read back:
//! every fragment kept is checked against the info file's per-fragment SHA-256, and a bad
//! one is removed and fetched again. Without that list (an info file written by OCS), the
//! package digest checked at the build still refuses a torn archive. A
//! job's stage is written `installing` before its command runs, so a crash during the run
//! never runs it twice (the job reports `ERR_EXECUTE_NO_EXIT_CODE`), and its result is
//! written before it is sent, so it is never lost. A job file that cannot be read any more
//! reports `ERR_DONE_FAILED`.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ocs_deploy_core::agent::{JobSnapshot, Stage};
use ocs_deploy_core::protocol::{DeviceId, DownloadConfig, PackageNotice};
use ocs_deploy_core::{PackageId, StatusCode, Timestamp, info};

/// Why the state directory could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The file system failed.
    #[error("state directory {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The stored device id is not one.
    #[error("stored device id {0:?} is not an OCS device id")]
    BadDeviceId(String),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A job read back from the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredJob {
    /// Its state, as saved.
    Ok(Box<JobSnapshot>),
    /// Its job file could not be read: the package reports `ERR_DONE_FAILED` (its notice
    /// is rebuilt from the id alone).
    Unreadable(PackageId),
}

impl StoredJob {
    /// The snapshot to restore the job from; an unreadable one becomes a job that reports
    /// `ERR_DONE_FAILED`.
    pub fn into_snapshot(self) -> JobSnapshot {
        match self {
            Self::Ok(snapshot) => *snapshot,
            Self::Unreadable(id) => JobSnapshot {
                notice: PackageNotice::new(id, "", ""),
                info: None,
                since: None,
                fragments_present: Vec::new(),
                failures: 0,
                not_before: None,
                stage: Stage::Result(StatusCode::ErrDoneFailed),
            },
        }
    }
}

/// The agent's state directory. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// Opens (creating if needed) a state directory.
    ///
    /// # Errors
    /// [`StateError::Io`] when it cannot be created.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StateError> {
        let root = root.into();
        let packages = root.join("packages");
        fs::create_dir_all(&packages).map_err(io_error(&packages))?;
        Ok(Self { root })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The device id, made by `make` the first time and kept after.
    ///
    /// # Errors
    /// [`StateError`] when it cannot be read or written, or the stored one is invalid.
    pub fn device_id(&self, make: impl FnOnce() -> DeviceId) -> Result<DeviceId, StateError> {
        let path = self.root.join("device-id");
        match fs::read_to_string(&path) {
            Ok(text) => DeviceId::parse(text.trim())
                .map_err(|_| StateError::BadDeviceId(text.trim().to_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let id = make();
                write_atomic(&path, format!("{id}\n").as_bytes())?;
                Ok(id)
            }
            Err(e) => Err(io_error(&path)(e)),
        }
    }

    /// The packages done, in the order they were added.
    ///
    /// # Errors
    /// [`StateError::Io`].
    pub fn history(&self) -> Result<Vec<PackageId>, StateError> {
        let path = self.root.join("history");
        match fs::read_to_string(&path) {
            Ok(text) => Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io_error(&path)(e)),
        }
    }

    /// Adds a package to the history (once).
    ///
    /// # Errors
    /// [`StateError::Io`].
    pub fn add_history(&self, id: PackageId) -> Result<(), StateError> {
        let mut history = self.history()?;
        if history.contains(&id) {
            return Ok(());
        }
        history.push(id);
        let mut text = String::new();
        for id in &history {
            text.push_str(&id.to_string());
            text.push('\n');
        }
        write_atomic(&self.root.join("history"), text.as_bytes())
    }

    /// The download settings of the last PROLOG, if one was saved.
    ///
    /// # Errors
    /// [`StateError::Io`] when the file exists but cannot be read; an unreadable content
    /// gives `None` (the defaults apply until the next PROLOG).
    pub fn download_config(&self) -> Result<Option<DownloadConfig>, StateError> {
        let path = self.root.join("config");
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&path)(e)),
        };
        let mut config = DownloadConfig::default();
        let mut seen = 0;
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                return Ok(None);
            };
            let Ok(value) = value.parse::<u64>() else {
                return Ok(None);
            };
            let secs = Duration::from_secs(value);
            match key {
                "on" => config.enabled = value != 0,
                "frag_latency" => config.fragment_latency = secs,
                "cycle_latency" => config.cycle_latency = secs,
                "period_latency" => config.period_latency = secs,
                "period_length" => config.period_length = u32::try_from(value).unwrap_or(u32::MAX),
                "timeout_days" => config.timeout_days = u32::try_from(value).unwrap_or(u32::MAX),
                "execution_timeout" => config.execution_timeout = secs,
                _ => continue,
            }
            seen += 1;
        }
        Ok((seen == 7).then_some(config))
    }

    /// Saves the download settings of a PROLOG.
    ///
    /// # Errors
    /// [`StateError::Io`].
    pub fn save_download_config(&self, config: &DownloadConfig) -> Result<(), StateError> {
        let text = format!(
            "on={}\nfrag_latency={}\ncycle_latency={}\nperiod_latency={}\nperiod_length={}\ntimeout_days={}\nexecution_timeout={}\n",
            u8::from(config.enabled),
            config.fragment_latency.as_secs(),
            config.cycle_latency.as_secs(),
            config.period_latency.as_secs(),
            config.period_length,
            config.timeout_days,
            config.execution_timeout.as_secs(),
        );
        write_atomic(&self.root.join("config"), text.as_bytes())
    }

    fn package_dir(&self, id: PackageId) -> PathBuf {
        self.root.join("packages").join(id.to_string())
    }

    /// Where fragment `n` of a package is kept.
    pub fn fragment_path(&self, id: PackageId, n: u32) -> PathBuf {
        self.package_dir(id).join(id.fragment_name(n))
    }

    /// Saves a job's state (and its info file), atomically.
    ///
    /// # Errors
    /// [`StateError::Io`].
    pub fn save_job(&self, job: &JobSnapshot) -> Result<(), StateError> {
        let dir = self.package_dir(job.notice.id);
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        if let Some(info) = &job.info {
            let path = dir.join("info");
            let text = info::write(info);
            if fs::read(&path).ok().as_deref() != Some(text.as_bytes()) {
                write_atomic(&path, text.as_bytes())?;
            }
        }
        write_atomic(&dir.join("job"), encode(job).as_bytes())
    }

    /// Starts writing fragment `n`: the bytes go to a temporary file that takes the
    /// fragment's name only on [`FragmentFile::commit`].
    ///
    /// # Errors
    /// [`StateError::Io`].
    pub fn fragment_file(&self, id: PackageId, n: u32) -> Result<FragmentFile, StateError> {
        let dir = self.package_dir(id);
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let path = self.fragment_path(id, n);
        let temp = temp_name(&path);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(io_error(&temp))?;
        Ok(FragmentFile {
            file,
            temp,
            path,
            committed: false,
        })
    }

    /// Every job kept, with the fragments actually on disk (a job file may list one
    /// whose file is gone; only whole fragments count).
    ///
    /// # Errors
    /// [`StateError::Io`] when the folder cannot be listed.
    pub fn jobs(&self) -> Result<Vec<StoredJob>, StateError> {
        let packages = self.root.join("packages");
        let mut jobs = Vec::new();
        for entry in fs::read_dir(&packages).map_err(io_error(&packages))? {
            let entry = entry.map_err(io_error(&packages))?;
            let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<PackageId>().ok())
            else {
                continue;
            };
            let dir = entry.path();
            remove_temporaries(&dir);
            let text = match fs::read_to_string(dir.join("job")) {
                Ok(text) => text,
                // A folder without a job file: the job was never saved (a crash before its
                // first save); nothing was promised for it.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let _ = fs::remove_dir_all(&dir);
                    continue;
                }
                Err(_) => {
                    jobs.push(StoredJob::Unreadable(id));
                    continue;
                }
            };
            let info = fs::read(dir.join("info"))
                .ok()
                .and_then(|b| info::read(&b).ok());
            match decode(&text, id, info) {
                Some(mut job) => {
                    let listed: BTreeSet<u32> = job.fragments_present.iter().copied().collect();
                    job.fragments_present = listed
                        .into_iter()
                        .filter(|&n| self.fragment_path(id, n).is_file())
                        .collect();
                    // Fragments on disk that the job file does not list yet (a crash
                    // between the rename and the job's save) count too.
                    let count = job
                        .info
                        .as_ref()
                        .map_or(0, ocs_deploy_core::PackageInfo::fragment_count);
                    for n in 1..=count {
                        if self.fragment_path(id, n).is_file()
                            && !job.fragments_present.contains(&n)
                        {
                            job.fragments_present.push(n);
                        }
                    }
                    job.fragments_present.sort_unstable();
                    self.drop_torn_fragments(&mut job);
                    jobs.push(StoredJob::Ok(Box::new(job)));
                }
                None => jobs.push(StoredJob::Unreadable(id)),
            }
        }
        jobs.sort_by_key(|j| match j {
            StoredJob::Ok(s) => s.notice.id,
            StoredJob::Unreadable(id) => *id,
        });
        Ok(jobs)
    }

    /// Removes the fragments whose SHA-256 is not the info file's (torn by a power cut:
    /// fragments are not flushed one by one) from the disk and from `job`.
    fn drop_torn_fragments(&self, job: &mut JobSnapshot) {
        let id = job.notice.id;
        let Some(expected) = job
            .info
            .as_ref()
            .and_then(|i| i.payload())
            .and_then(|p| p.fragment_sha256.as_deref())
        else {
            return;
        };
        job.fragments_present.retain(|&n| {
            let path = self.fragment_path(id, n);
            let good = n
                .checked_sub(1)
                .and_then(|i| expected.get(i as usize))
                .is_some_and(|want| sha256_file(&path).is_ok_and(|got| got == *want));
            if !good {
                tracing::warn!(package_id = %id, fragment = n, "fragment torn on disk: fetched again");
                let _ = fs::remove_file(&path);
            }
            good
        });
    }

    /// Removes a package's folder (its job, info file and fragments).
    ///
    /// # Errors
    /// [`StateError::Io`] (a folder already gone is not one).
    pub fn remove_package(&self, id: PackageId) -> Result<(), StateError> {
        let dir = self.package_dir(id);
        match fs::remove_dir_all(&dir) {
            Ok(()) => sync_dir(&self.root.join("packages")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(&dir)(e)),
        }
    }
}

/// A fragment being written. Dropped without [`commit`](Self::commit), it leaves nothing.
#[derive(Debug)]
pub struct FragmentFile {
    file: File,
    temp: PathBuf,
    path: PathBuf,
    committed: bool,
}

impl FragmentFile {
    /// Appends bytes.
    ///
    /// # Errors
    /// [`StateError::Io`].
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        self.file.write_all(bytes).map_err(io_error(&self.temp))
    }

    /// Gives the fragment its name. It is not flushed to disk: see the
    /// [module documentation](self) for why, and what happens after a power cut.
    ///
    /// # Errors
    /// [`StateError::Io`].
    pub fn commit(mut self) -> Result<PathBuf, StateError> {
        fs::rename(&self.temp, &self.path).map_err(io_error(&self.path))?;
        self.committed = true;
        Ok(self.path.clone())
    }
}

impl Drop for FragmentFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// The SHA-256 of a file, read in 1 MiB blocks.
fn sha256_file(path: &Path) -> io::Result<[u8; 32]> {
    use sha2::Digest as _;
    use std::io::Read as _;
    let mut file = File::open(path)?;
    let mut sha = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buf)?;
        if read == 0 {
            return Ok(sha.finalize().into());
        }
        sha.update(&buf[..read]);
    }
}

/// Writes a file so that a crash leaves the old content or the new, never a mix.
///
/// # Errors
/// [`StateError::Io`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let temp = temp_name(path);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        return Err(io_error(path)(e));
    }
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

const TEMP_MARK: &str = ".tmp-";

fn temp_name(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(
        "{name}{TEMP_MARK}{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Removes the temporary files a crash left in a folder.
fn remove_temporaries(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().contains(TEMP_MARK) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

fn sync_dir(dir: &Path) -> Result<(), StateError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Escapes a value so that it stays on one line.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The job file: one `key=value` a line, values escaped, ending with `end=1` so a
/// truncated file is recognised.
fn encode(job: &JobSnapshot) -> String {
    let n = &job.notice;
    let mut lines = vec![
        format!("id={}", n.id),
        format!("info_location={}", escape(&n.info_location)),
        format!("pack_location={}", escape(&n.pack_location)),
        format!("cert_path={}", escape(&n.cert_path)),
        format!("cert_file={}", escape(&n.cert_file)),
        format!("force={}", u8::from(n.force)),
    ];
    if let Some(s) = &n.schedule {
        lines.push(format!("schedule={}", escape(s)));
    }
    if let Some(p) = &n.post_command {
        lines.push(format!("post_command={}", escape(p)));
    }
    if let Some(since) = job.since {
        lines.push(format!("since={}", since.as_millis()));
    }
    if let Some(t) = job.not_before {
        lines.push(format!("not_before={}", t.as_millis()));
    }
    lines.push(format!("failures={}", job.failures));
    let fragments: Vec<String> = job.fragments_present.iter().map(u32::to_string).collect();
    lines.push(format!("fragments={}", fragments.join(",")));
    lines.push(match &job.stage {
        Stage::NeedInfo => "stage=need-info".to_owned(),
        Stage::Downloading => "stage=downloading".to_owned(),
        Stage::Ready => "stage=ready".to_owned(),
        Stage::Installing => "stage=installing".to_owned(),
        Stage::Result(s) => format!("stage=result {}", escape(&s.to_string())),
        Stage::Done(s) => format!("stage=done {}", escape(&s.to_string())),
    });
    lines.push("end=1".to_owned());
    lines.join("\n") + "\n"
}

fn decode(
    text: &str,
    id: PackageId,
    info: Option<ocs_deploy_core::PackageInfo>,
) -> Option<JobSnapshot> {
    let mut fields = std::collections::HashMap::new();
    for line in text.lines() {
        let (k, v) = line.split_once('=')?;
        fields.insert(k, unescape(v));
    }
    if fields.get("end").map(String::as_str) != Some("1")
        || fields.get("id")?.parse::<PackageId>().ok()? != id
    {
        return None;
    }
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let time = |k: &str| {
        fields
            .get(k)
            .and_then(|v| v.parse().ok())
            .map(Timestamp::from_millis)
    };
    let mut notice = PackageNotice::new(id, get("info_location"), get("pack_location"));
    notice.cert_path = get("cert_path");
    notice.cert_file = get("cert_file");
    notice.force = get("force") == "1";
    notice.schedule = fields.get("schedule").cloned();
    notice.post_command = fields.get("post_command").cloned();
    let stage_text = get("stage");
    let stage = match stage_text.split_once(' ') {
        Some(("result", s)) => Stage::Result(StatusCode::from_wire(s)),
        Some(("done", s)) => Stage::Done(StatusCode::from_wire(s)),
        _ => match stage_text.as_str() {
            "need-info" => Stage::NeedInfo,
            "downloading" => Stage::Downloading,
            "ready" => Stage::Ready,
            "installing" => Stage::Installing,
            _ => return None,
        },
    };
    // A job past its info stage whose info file is gone or unreadable is broken.
    if info.is_none() && !matches!(stage, Stage::NeedInfo | Stage::Result(_) | Stage::Done(_)) {
        return None;
    }
    let fragments_present = get("fragments")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<Result<Vec<u32>, _>>()
        .ok()?;
    Some(JobSnapshot {
        notice,
        info,
        since: time("since"),
        fragments_present,
        failures: get("failures").parse().ok()?,
        not_before: time("not_before"),
        stage,
    })
}

//! One package on one agent: from the PROLOG notice to the reported result.

use std::time::Duration;

use sha2::{Digest as _, Sha256};

use super::ResultStyle;
use crate::fragment::FragmentError;
use crate::info::{self, InfoError};
use crate::package::{ArchiveKind, DoneAction, Notification, Protocol};
use crate::protocol::PackageNotice;
use crate::{Action, PackageFile, PackageId, PackageInfo, StatusCode, Timestamp};

/// How a [`Job`] behaves where the OCS agents leave a choice.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobConfig {
    /// The spelling of results.
    pub style: ResultStyle,
    /// Failed attempts at one fragment (download failures and bad fragments) before the
    /// package ends with `ERR_DOWNLOAD_PACK`. Default 5, the Windows agent's
    /// `MAX_ERROR_COUNT`.
    pub max_fragment_failures: u32,
    /// How long a package waits when the user chose "delay" in the notification.
    /// Default one hour.
    pub user_delay: Duration,
    /// How long a command may run (`EXECUTION_TIMEOUT`). Default 120 minutes.
    pub execution_timeout: Duration,
}

impl Default for JobConfig {
    fn default() -> Self {
        Self {
            style: ResultStyle::default(),
            max_fragment_failures: 5,
            user_delay: Duration::from_secs(3600),
            execution_timeout: Duration::from_secs(120 * 60),
        }
    }
}

/// Where a [`Job`] stands. A driver that persists jobs keeps this (with the info file,
/// the fragments it holds and the other fields of [`JobSnapshot`]) and restores it after
/// a crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// The info file is to be fetched.
    NeedInfo,
    /// Fragments are being fetched, one per step.
    Downloading,
    /// Every fragment is there (or the package has no file): the next step builds and
    /// installs it, unless it is held until a later time.
    Ready,
    /// The install is under way. A job restored in this stage was interrupted: it is
    /// never run again and reports `ERR_EXECUTE_NO_EXIT_CODE`.
    Installing,
    /// A result waits to be reported; it is kept until the server has it.
    Result(StatusCode),
    /// The server has the result: the job is over.
    Done(StatusCode),
}

/// The download failed (unreachable server, HTTP error, timeout, interrupted body): the
/// transport's error is the driver's to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("the download failed")]
pub struct FetchFailed;

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The fragments do not make the archive the info file describes.
    #[error(transparent)]
    Fragments(#[from] FragmentError),
    /// Reading the fragments or writing the archive failed (`ERR_OUT_OF_SPACE` when the
    /// disk is full, `ERR_BUILD` otherwise).
    #[error("i/o error while building: {message}")]
    Io {
        /// Whether the disk is full.
        out_of_space: bool,
        /// What failed.
        message: String,
    },
}

/// What the driver must do for a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// Fetch the info file (over HTTPS, checked against the agent's CA) and report it with
    /// [`Job::info_fetched`]. The OCS agents do this at PROLOG time, outside the schedule.
    FetchInfo {
        /// `https://INFO_LOC/<id>/info`.
        url: String,
    },
    /// Fetch one fragment, through a [`FragmentReceiver`] from [`Job::receiver`], and
    /// report it with [`Job::fragment_fetched`]. Ends the step.
    FetchFragment {
        /// The fragment, from 1.
        fragment: u32,
        /// `http(s)://PACK_LOC/<id>/<id>-<n>`.
        url: String,
    },
    /// Not before this time (`SCHEDULE`, or a delay the user asked for): nothing to do in
    /// this step. Ends the step.
    Wait {
        /// When the package may be installed.
        until: Timestamp,
    },
    /// Assemble the fragments in order through a
    /// [`fragment::Assembler`](crate::fragment::Assembler) over [`Job::info`]'s payload,
    /// into the archive, and report with [`Job::built`].
    Build,
    /// Install: check free space, extract, notify the user, run or store, as the plan
    /// says, and report with [`Job::installed`].
    Install(Box<InstallPlan>),
    /// Send this result to the server and report with [`Job::reported`]. Ends the step.
    Report(StatusCode),
}

impl Task {
    /// Whether the scheduler's step is over after this task.
    pub fn ends_step(&self) -> bool {
        matches!(
            self,
            Self::FetchFragment { .. } | Self::Wait { .. } | Self::Report(_)
        )
    }
}

/// What to do after POSTCMD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostCommand {
    /// `REBOOT`.
    Reboot,
    /// `SHUTDOWN`.
    Shutdown,
    /// Any other text: a command to run in the package's folder (its result is ignored).
    Command(String),
}

impl PostCommand {
    /// The POSTCMD of a PROLOG notice; `None` when empty.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "" => None,
            t if t.eq_ignore_ascii_case("REBOOT") => Some(Self::Reboot),
            t if t.eq_ignore_ascii_case("SHUTDOWN") => Some(Self::Shutdown),
            t => Some(Self::Command(t.to_owned())),
        }
    }
}

/// Everything the install needs, from the info file and the PROLOG notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallPlan {
    /// The package.
    pub id: PackageId,
    /// Launch, Execute or Store, with its command or path.
    pub action: Action,
    /// Whether the package has a file (an archive to extract); an Execute may have none.
    pub has_file: bool,
    /// The archive's kind when the info file declares it (our extension); files written
    /// by OCS do not, and the driver recognises the archive from its first bytes
    /// ([`ArchiveKind::detect`]).
    pub archive: Option<ArchiveKind>,
    /// The archive's size when the info file gives it (for the free-space check).
    pub size: Option<u64>,
    /// The dialog to show first, when the info file asks for one.
    pub notification: Option<Notification>,
    /// The dialog to show after, when the info file asks for one.
    pub done_action: Option<DoneAction>,
    /// What to do after the package has run.
    pub post_command: Option<PostCommand>,
    /// How long the command may run.
    pub execution_timeout: Duration,
}

/// How an install ended, as the driver reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstallOutcome {
    /// The command ran and exited with this code (Launch, Execute).
    Exited(i32),
    /// The archive was stored at the package's path (Store).
    Stored,
    /// The command ran longer than the execution timeout; its process tree was killed.
    TimedOut,
    /// The command could not be started.
    StartFailed,
    /// Not enough free space (`ERR_OUT_OF_SPACE`).
    OutOfSpace,
    /// The archive could not be extracted safely (`ERR_UNZIP`).
    ExtractFailed,
    /// The user cancelled in the notification (`ERR_ABORTED`).
    Aborted,
    /// The user postponed: the package waits [`JobConfig::user_delay`].
    Delayed,
}

/// The SHA-256 and size of a fragment as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Receipt {
    fragment: u32,
    sha256: [u8; 32],
    len: u64,
}

impl Receipt {
    /// The fragment, from 1.
    pub fn fragment(&self) -> u32 {
        self.fragment
    }

    /// Its size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it was empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Hashes a fragment while it streams in, so it is checked without being held whole.
#[derive(Debug, Clone)]
pub struct FragmentReceiver {
    fragment: u32,
    sha256: Sha256,
    len: u64,
}

impl FragmentReceiver {
    /// Takes the next bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.sha256.update(bytes);
        self.len = self.len.saturating_add(bytes.len() as u64);
    }

    /// The fragment's receipt, for [`Job::fragment_fetched`].
    pub fn finish(self) -> Receipt {
        Receipt {
            fragment: self.fragment,
            sha256: self.sha256.finalize().into(),
            len: self.len,
        }
    }
}

/// What the driver does with a fragment it received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Keep it (write it in place): it is good, or it cannot be checked before the build.
    Keep,
    /// Throw it away: it is not the fragment the info file describes.
    Discard,
}

/// A job's state, to persist and restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSnapshot {
    /// The PROLOG notice.
    pub notice: PackageNotice,
    /// The info file, once fetched.
    pub info: Option<PackageInfo>,
    /// When the info file was fetched (`TIMEOUT` counts from then).
    pub since: Option<Timestamp>,
    /// The fragments the driver holds, from 1.
    pub fragments_present: Vec<u32>,
    /// Failed attempts at the current fragment.
    pub failures: u32,
    /// Not before this time.
    pub not_before: Option<Timestamp>,
    /// The stage.
    pub stage: Stage,
}

/// One package on one agent, as a sans-IO state machine: it says what to fetch, build,
/// install and report ([`Task`]), and the driver reports back what happened.
///
/// ```
/// use ocs_deploy_core::agent::{InstallOutcome, Job, JobConfig, Stage, Task};
/// use ocs_deploy_core::protocol::PackageNotice;
/// use ocs_deploy_core::{PackageId, StatusCode, Timestamp};
///
/// let id = PackageId::new(1_700_000_103)?;
/// let notice = PackageNotice::new(id, "ocs.example.com/download", "ocs.example.com/download");
/// let now = Timestamp::from_secs(1_700_000_200);
/// let mut job = Job::new(notice, false, JobConfig::default());
/// assert_eq!(job.step(now), Some(Task::FetchInfo { url: "https://ocs.example.com/download/1700000103/info".into() }));
///
/// // An Execute package without a file.
/// let info = br#"<DOWNLOAD ID="1700000103" PRI="5" ACT="EXECUTE" DIGEST="" PROTO="HTTP" FRAGS="0" DIGEST_ALGO="MD5" DIGEST_ENCODE="Hexa" COMMAND="echo hi" NOTIFY_USER="0" NOTIFY_TEXT="" NOTIFY_COUNTDOWN="" NOTIFY_CAN_ABORT="0" NOTIFY_CAN_DELAY="0" NEED_DONE_ACTION="0" NEED_DONE_ACTION_TEXT="" GARDEFOU="rien" />"#;
/// job.info_fetched(Ok(info), now);
/// let Some(Task::Install(plan)) = job.step(now) else { panic!() };
/// assert_eq!(plan.action.argument(), "echo hi");
/// assert_eq!(job.installed(InstallOutcome::Exited(0), now), Some(Task::Report(StatusCode::Success)));
/// job.reported(true);
/// assert_eq!(job.stage(), &Stage::Done(StatusCode::Success));
/// assert!(job.adds_to_history());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Job {
    notice: PackageNotice,
    config: JobConfig,
    info: Option<PackageInfo>,
    since: Option<Timestamp>,
    present: Vec<bool>,
    failures: u32,
    not_before: Option<Timestamp>,
    stage: Stage,
}

impl Job {
    /// A job for a package a PROLOG reply offered. A package already in the agent's
    /// history and not forced ends at once with `SUCCESS_ALREADY_SETUP`, to report.
    pub fn new(notice: PackageNotice, in_history: bool, config: JobConfig) -> Self {
        let stage = if in_history && !notice.force {
            Stage::Result(StatusCode::SuccessAlreadySetup)
        } else {
            Stage::NeedInfo
        };
        let not_before = notice.schedule.as_deref().and_then(parse_schedule);
        Self {
            notice,
            config,
            info: None,
            since: None,
            present: Vec::new(),
            failures: 0,
            not_before,
            stage,
        }
    }

    /// A job from a snapshot. A job interrupted while installing is not installed again:
    /// it reports `ERR_EXECUTE_NO_EXIT_CODE`. A snapshot whose fragments do not fit its
    /// info file is a broken state: it reports `ERR_DONE_FAILED`.
    pub fn restore(snapshot: JobSnapshot, config: JobConfig) -> Self {
        let count = snapshot
            .info
            .as_ref()
            .map_or(0, PackageInfo::fragment_count);
        let mut present = vec![false; count as usize];
        let mut broken = false;
        for n in snapshot.fragments_present {
            match n.checked_sub(1).and_then(|i| present.get_mut(i as usize)) {
                Some(slot) => *slot = true,
                None => broken = true,
            }
        }
        let stage = match snapshot.stage {
            Stage::Installing => Stage::Result(StatusCode::ErrExecuteNoExitCode),
            _ if broken => Stage::Result(StatusCode::ErrDoneFailed),
            Stage::Downloading | Stage::Ready if snapshot.info.is_none() => Stage::NeedInfo,
            other => other,
        };
        let mut job = Self {
            notice: snapshot.notice,
            config,
            info: snapshot.info,
            since: snapshot.since,
            present,
            failures: snapshot.failures,
            not_before: snapshot.not_before,
            stage,
        };
        if matches!(job.stage, Stage::Downloading | Stage::Ready) {
            job.stage = job.download_or_ready();
        }
        job
    }

    /// The job's state, to persist.
    pub fn snapshot(&self) -> JobSnapshot {
        JobSnapshot {
            notice: self.notice.clone(),
            info: self.info.clone(),
            since: self.since,
            fragments_present: self.fragments_present(),
            failures: self.failures,
            not_before: self.not_before,
            stage: self.stage.clone(),
        }
    }

    /// The package.
    pub fn id(&self) -> PackageId {
        self.notice.id
    }

    /// The PROLOG notice.
    pub fn notice(&self) -> &PackageNotice {
        &self.notice
    }

    /// The info file, once fetched.
    pub fn info(&self) -> Option<&PackageInfo> {
        self.info.as_ref()
    }

    /// When the info file was fetched.
    pub fn since(&self) -> Option<Timestamp> {
        self.since
    }

    /// Not before this time (`SCHEDULE`, or a user's delay).
    pub fn not_before(&self) -> Option<Timestamp> {
        self.not_before
    }

    /// The stage.
    pub fn stage(&self) -> &Stage {
        &self.stage
    }

    /// The fragments held, from 1.
    pub fn fragments_present(&self) -> Vec<u32> {
        (1..)
            .zip(&self.present)
            .filter(|&(_, &p)| p)
            .map(|(n, _)| n)
            .collect()
    }

    /// Whether the package belongs in the agent's history (its result, now reported, is
    /// a success).
    pub fn adds_to_history(&self) -> bool {
        matches!(&self.stage, Stage::Done(s) if s.is_success())
    }

    /// The first task of a scheduler step (or of the PROLOG, for the info file); `None`
    /// when the job is over or a task is already out.
    pub fn step(&mut self, now: Timestamp) -> Option<Task> {
        match &self.stage {
            Stage::NeedInfo => Some(Task::FetchInfo {
                url: format!(
                    "https://{}/{}/info",
                    self.notice.info_location.trim_end_matches('/'),
                    self.notice.id
                ),
            }),
            Stage::Downloading => {
                let fragment = self.next_missing()?;
                Some(Task::FetchFragment {
                    fragment,
                    url: self.fragment_url(fragment),
                })
            }
            Stage::Ready => {
                if let Some(until) = self.not_before
                    && now < until
                {
                    return Some(Task::Wait { until });
                }
                if self.present.is_empty() {
                    self.stage = Stage::Installing;
                    Some(Task::Install(Box::new(self.plan()?)))
                } else {
                    Some(Task::Build)
                }
            }
            Stage::Result(status) => Some(Task::Report(status.clone())),
            Stage::Installing | Stage::Done(_) => None,
        }
    }

    /// The info file arrived (or could not be fetched). Its id must be the notice's
    /// (`ERR_BAD_ID`), its parameters usable (`ERR_BAD_PARAM`); a failed download gives
    /// `ERR_DOWNLOAD_INFO`. Ignored unless the info file was asked for.
    pub fn info_fetched(&mut self, result: Result<&[u8], FetchFailed>, now: Timestamp) {
        if self.stage != Stage::NeedInfo {
            return;
        }
        let parsed = result
            .map_err(|FetchFailed| StatusCode::ErrDownloadInfo)
            .and_then(|bytes| info::read(bytes).map_err(|e| e.status()))
            .and_then(|info| {
                if info.id == self.notice.id {
                    Ok(info)
                } else {
                    Err(InfoError::IdMismatch {
                        expected: self.notice.id,
                        found: info.id,
                    }
                    .status())
                }
            });
        match parsed {
            Ok(info) => {
                self.present = vec![false; info.fragment_count() as usize];
                self.info = Some(info);
                self.since.get_or_insert(now);
                self.failures = 0;
                self.stage = self.download_or_ready();
            }
            Err(status) => self.stage = Stage::Result(status),
        }
    }

    /// A receiver that hashes fragment `fragment` while it streams in.
    pub fn receiver(&self, fragment: u32) -> FragmentReceiver {
        FragmentReceiver {
            fragment,
            sha256: Sha256::new(),
            len: 0,
        }
    }

    /// A fragment arrived (or could not be fetched). A good one is kept; with our
    /// per-fragment SHA-256 a bad one is discarded at once; a failure counts towards
    /// `ERR_DOWNLOAD_PACK`. Returns what to do with the bytes.
    pub fn fragment_fetched(&mut self, result: Result<Receipt, FetchFailed>) -> Verdict {
        if self.stage != Stage::Downloading {
            return Verdict::Discard;
        }
        let good = match (&result, self.payload_check()) {
            (Err(FetchFailed), _) => None,
            (Ok(receipt), Some(expected)) => receipt
                .fragment
                .checked_sub(1)
                .and_then(|i| expected.get(i as usize))
                .filter(|sha| **sha == receipt.sha256)
                .map(|_| receipt.fragment),
            (Ok(receipt), None) => Some(receipt.fragment),
        };
        match good {
            Some(n) if self.next_missing() == Some(n) => {
                if let Some(slot) = self.present.get_mut(n as usize - 1) {
                    *slot = true;
                }
                self.failures = 0;
                self.stage = self.download_or_ready();
                Verdict::Keep
            }
            Some(_) => Verdict::Discard,
            None => {
                self.fail_fragment();
                Verdict::Discard
            }
        }
    }

    /// The build ended. A digest that does not match gives `ERR_BAD_DIGEST` — unless our
    /// per-fragment SHA-256 names the bad fragment, which is then fetched again alone.
    /// Returns the install task when the build succeeded.
    pub fn built<E: Into<BuildError>>(&mut self, result: Result<(), E>) -> Option<Task> {
        if self.stage != Stage::Ready {
            return None;
        }
        let e = match result.map_err(Into::into) {
            Ok(()) => None,
            Err(BuildError::Fragments(e)) => Some(e),
            Err(BuildError::Io {
                out_of_space,
                message,
            }) => {
                tracing::warn!(package_id = %self.notice.id, %message, "build failed");
                let status = if out_of_space {
                    StatusCode::ErrOutOfSpace
                } else {
                    StatusCode::ErrBuild
                };
                self.stage = Stage::Result(status.clone());
                return Some(Task::Report(status));
            }
        };
        match e.map_or(Ok(()), Err) {
            Ok(()) => {
                self.stage = Stage::Installing;
                let plan = self.plan()?;
                Some(Task::Install(Box::new(plan)))
            }
            Err(e) => {
                if let Some(n) = e.fragment()
                    && self.payload_check().is_some()
                    && let Some(slot) = n
                        .checked_sub(1)
                        .and_then(|i| self.present.get_mut(i as usize))
                {
                    *slot = false;
                    self.stage = Stage::Downloading;
                    self.fail_fragment();
                    None
                } else {
                    let status = e.status();
                    self.stage = Stage::Result(status.clone());
                    Some(Task::Report(status))
                }
            }
        }
    }

    /// The install ended. Returns the report to send, or `None` when the user delayed it.
    pub fn installed(&mut self, outcome: InstallOutcome, now: Timestamp) -> Option<Task> {
        if self.stage != Stage::Installing {
            return None;
        }
        let style = self.config.style;
        let status = match outcome {
            InstallOutcome::Exited(code) => match self.info.as_ref().map(|i| &i.action) {
                Some(Action::Execute { .. }) => style.command_exit_code(code),
                _ => style.exit_code(code),
            },
            InstallOutcome::Stored => StatusCode::Success,
            InstallOutcome::TimedOut => StatusCode::ErrExecuteTimeout,
            InstallOutcome::StartFailed => StatusCode::ErrExecute,
            InstallOutcome::OutOfSpace => StatusCode::ErrOutOfSpace,
            InstallOutcome::ExtractFailed => StatusCode::ErrUnzip,
            InstallOutcome::Aborted => StatusCode::ErrAborted,
            InstallOutcome::Delayed => {
                self.not_before = Some(now.saturating_add(self.config.user_delay));
                self.stage = Stage::Ready;
                return None;
            }
        };
        self.stage = Stage::Result(status.clone());
        Some(Task::Report(status))
    }

    /// The result was sent (`delivered`) or not (it is kept, and sent again next step).
    pub fn reported(&mut self, delivered: bool) {
        if delivered && let Stage::Result(status) = &self.stage {
            self.stage = Stage::Done(status.clone());
        }
    }

    /// The package has been pending longer than `TIMEOUT`: it ends with `ERR_TIMEOUT`,
    /// unless a result is already waiting (a real result is never replaced; the Windows
    /// agent replaces it).
    pub fn time_out(&mut self) {
        if matches!(
            self.stage,
            Stage::NeedInfo | Stage::Downloading | Stage::Ready
        ) {
            self.stage = Stage::Result(StatusCode::ErrTimeout);
        }
    }

    fn next_missing(&self) -> Option<u32> {
        (1..).zip(&self.present).find(|(_, p)| !**p).map(|(n, _)| n)
    }

    fn download_or_ready(&self) -> Stage {
        if self.next_missing().is_some() {
            Stage::Downloading
        } else {
            Stage::Ready
        }
    }

    fn fail_fragment(&mut self) {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= self.config.max_fragment_failures {
            self.stage = Stage::Result(StatusCode::ErrDownloadPack);
        }
    }

    /// The per-fragment SHA-256 list, when the info file has one that fits.
    fn payload_check(&self) -> Option<&[[u8; 32]]> {
        let payload = self.info.as_ref()?.payload()?;
        // A list that does not fit the count is ignored here (the build then fails).
        payload
            .fragment_sha256
            .as_deref()
            .filter(|list| list.len() == payload.fragments as usize)
    }

    fn fragment_url(&self, fragment: u32) -> String {
        let scheme = match self.info.as_ref().map_or(Protocol::Http, |i| i.protocol) {
            Protocol::Http => "http",
            Protocol::Https => "https",
        };
        format!(
            "{scheme}://{}/{id}/{id}-{fragment}",
            self.notice.pack_location.trim_end_matches('/'),
            id = self.notice.id
        )
    }

    fn plan(&self) -> Option<InstallPlan> {
        let info = self.info.as_ref()?;
        let (has_file, archive, size) = match &info.file {
            PackageFile::None { .. } => (false, None, None),
            PackageFile::Fragments(payload) => (true, payload.archive, payload.size),
        };
        Some(InstallPlan {
            id: info.id,
            action: info.action.clone(),
            has_file,
            archive,
            size,
            notification: info.notification.enabled.then(|| info.notification.clone()),
            done_action: info.done_action.enabled.then(|| info.done_action.clone()),
            post_command: self
                .notice
                .post_command
                .as_deref()
                .and_then(PostCommand::parse),
            execution_timeout: self.config.execution_timeout,
        })
    }
}

/// A PROLOG `SCHEDULE` (`YYYY/MM/DD HH:MM`, as our server writes it in UTC); `None` for
/// anything else, which the OCS agents take as "now".
///
/// ```
/// use ocs_deploy_core::agent::parse_schedule;
/// use ocs_deploy_core::Timestamp;
///
/// assert_eq!(parse_schedule("2023/11/14 22:13"), Some(Timestamp::from_secs(1_699_999_980)));
/// assert_eq!(parse_schedule(""), None);
/// assert_eq!(parse_schedule("14/11/2023 22:13"), None);
/// ```
pub fn parse_schedule(text: &str) -> Option<Timestamp> {
    let (date, time) = text.trim().split_once(' ')?;
    let mut d = date.split('/');
    let mut t = time.trim().split(':');
    let year = d.next()?.parse().ok()?;
    let month = d.next()?.parse().ok()?;
    let day = d.next()?.parse().ok()?;
    let hour = t.next()?.parse().ok()?;
    let minute = t.next()?.parse().ok()?;
    let second = t.next().map_or(Some(0), |s| s.parse().ok())?;
    if d.next().is_some() || t.next().is_some() {
        return None;
    }
    Timestamp::from_utc(year, month, day, hour, minute, second)
}

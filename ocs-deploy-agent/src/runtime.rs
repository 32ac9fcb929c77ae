//! The agent: contacts the server, keeps one [`Job`] per package in the state directory,
//! and runs them on the OCS schedule with real time, real files and real processes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use futures::StreamExt as _;
use ocs_deploy_core::agent::{
    BuildError, FetchFailed, InstallOutcome, InstallPlan, Job, JobConfig, PostCommand, Stage, Task,
    Transport, TransportError, Verdict,
};
use ocs_deploy_core::fragment::{Assembler, FragmentError};
use ocs_deploy_core::package::{DoneAction, Notification};
use ocs_deploy_core::protocol::{
    DeviceId, DownloadConfig, Hardware, HistoryEntry, PrologReply, Request,
};
use ocs_deploy_core::schedule::{Next, Scheduler};
use ocs_deploy_core::{Action, PackageId, StatusCode, Timestamp};

use crate::exec::{self, RunOutcome, ShellCommand};
use crate::extract::{self, ExtractLimits};
use crate::progress::{Event, NoProgress, Progress};
use crate::running_digest::RunningDigest;
use crate::state::{StateDir, StateError};

/// The largest info file accepted.
const MAX_INFO_BYTES: usize = 1 << 20;

/// How often `--once` tries again to deliver results, and the pause between tries.
const UNDELIVERED_RETRIES: u32 = 3;
const UNDELIVERED_PAUSE: Duration = Duration::from_secs(5);

/// The wall clock, as the core's [`Timestamp`].
pub fn now() -> Timestamp {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_millis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

/// What the user answered to a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Install now.
    Accept,
    /// Do not install (`ERR_ABORTED`).
    Abort,
    /// Later.
    Delay,
}

/// Shows the notification a package asks for before it installs.
#[async_trait]
pub trait Notifier: Send + Sync + std::fmt::Debug {
    /// Shows it and returns the answer.
    async fn notify(&self, package: PackageId, notification: &Notification) -> Answer;

    /// Shows the done action (`NEED_DONE_ACTION_TEXT`) after the package has run. By
    /// default it is logged.
    async fn done(&self, package: PackageId, done: &DoneAction) {
        tracing::info!(package_id = %package, text = %done.text, "done action");
    }
}

/// The non-interactive notifier: nobody is there to answer, so it logs the text and
/// accepts once the countdown has passed (as the Windows agent's dialog does).
#[derive(Debug, Clone, Copy, Default)]
pub struct NonInteractive;

#[async_trait]
impl Notifier for NonInteractive {
    async fn notify(&self, package: PackageId, notification: &Notification) -> Answer {
        let countdown = Duration::from_secs(u64::from(notification.countdown_secs.unwrap_or(0)));
        tracing::info!(package_id = %package, text = %notification.text, ?countdown, "notification: accepting after the countdown");
        tokio::time::sleep(countdown).await;
        Answer::Accept
    }
}

/// Reboots or shuts the computer down for a package's POSTCMD.
#[async_trait]
pub trait Power: Send + Sync + std::fmt::Debug {
    /// Reboots (`REBOOT`) or shuts down (`SHUTDOWN`).
    async fn power(&self, command: &PostCommand);
}

/// Logs the request and does nothing: for tests and for agents that must never reboot.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPower;

#[async_trait]
impl Power for NoPower {
    async fn power(&self, command: &PostCommand) {
        tracing::warn!(
            ?command,
            "POSTCMD asks to reboot or shut down: not done (NoPower)"
        );
    }
}

/// Reboots or shuts down with the system's `shutdown` command.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemPower;

#[async_trait]
impl Power for SystemPower {
    async fn power(&self, command: &PostCommand) {
        let flag = match command {
            PostCommand::Reboot => "-r",
            PostCommand::Shutdown => "-h",
            PostCommand::Command(_) => return,
        };
        tracing::warn!(?command, "POSTCMD: shutdown {flag} +1");
        if let Err(e) = tokio::process::Command::new("shutdown")
            .args([flag, "+1"])
            .status()
            .await
        {
            tracing::error!(error = %e, "shutdown could not run");
        }
    }
}

/// How an agent runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AgentConfig {
    /// Status spellings, failure counts, user delay.
    pub job: JobConfig,
    /// Bounds on what one archive may write.
    pub limits: ExtractLimits,
    /// What `INSTALL_PATH` stands for in commands.
    pub install_path: PathBuf,
    /// The minimal inventory sent after each PROLOG.
    pub hardware: Hardware,
    /// Shows notifications.
    pub notifier: Arc<dyn Notifier>,
    /// Reboots and shuts down.
    pub power: Arc<dyn Power>,
    /// Receives what the agent is doing (progress bars).
    pub progress: Arc<dyn Progress>,
}

impl AgentConfig {
    /// The defaults: the documented status spellings, the default limits, `install_path`
    /// for `INSTALL_PATH`, no user to notify, never a reboot.
    pub fn new(install_path: impl Into<PathBuf>, hardware: Hardware) -> Self {
        Self {
            job: JobConfig::default(),
            limits: ExtractLimits::default(),
            install_path: install_path.into(),
            hardware,
            notifier: Arc::new(NonInteractive),
            power: Arc::new(NoPower),
            progress: Arc::new(NoProgress),
        }
    }
}

/// Why the agent stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The state directory failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The server could not be contacted.
    #[error("contacting the server failed: {0}")]
    Transport(#[from] TransportError),
    /// The server's reply could not be read.
    #[error("the server's reply is unreadable: {0}")]
    Reply(String),
    /// Results the server did not take; they are kept and sent at the next run.
    #[error("{count} result(s) not delivered yet; kept for the next run")]
    Undelivered {
        /// How many.
        count: usize,
    },
}

/// What one contact did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    /// Packages newly offered.
    pub new_packages: Vec<PackageId>,
    /// Results delivered.
    pub reported: Vec<(PackageId, StatusCode)>,
    /// Whether deployment is on.
    pub enabled: bool,
}

/// An agent on a real machine. See the [module documentation](self).
#[derive(Debug)]
pub struct Agent {
    transport: Arc<dyn Transport>,
    state: StateDir,
    config: AgentConfig,
    device: DeviceId,
    jobs: BTreeMap<PackageId, Job>,
    scheduler: Scheduler,
    download: DownloadConfig,
    /// Package digests computed while the fragments arrive.
    digests: BTreeMap<PackageId, RunningDigest>,
}

impl Agent {
    /// Opens the agent's state (making its device id from the host name the first time)
    /// and restores the jobs a previous run left.
    ///
    /// # Errors
    /// [`AgentError::State`].
    pub fn open(
        transport: Arc<dyn Transport>,
        state: StateDir,
        config: AgentConfig,
    ) -> Result<Self, AgentError> {
        let host = config
            .hardware
            .name
            .clone()
            .unwrap_or_else(|| "ocs-deploy-agent".to_owned());
        let device = state.device_id(|| make_device_id(&host, now()))?;
        let download = state.download_config()?.unwrap_or_default();
        let mut agent = Self {
            transport,
            scheduler: Scheduler::new(&download),
            download,
            state,
            config,
            device,
            jobs: BTreeMap::new(),
            digests: BTreeMap::new(),
        };
        for stored in agent.state.jobs()? {
            let job = Job::restore(stored.into_snapshot(), agent.config.job.clone());
            tracing::info!(package_id = %job.id(), stage = ?job.stage(), "job restored");
            agent.jobs.insert(job.id(), job);
        }
        agent.schedule_jobs();
        Ok(agent)
    }

    /// Puts every job with work left on the schedule.
    fn schedule_jobs(&mut self) {
        for (id, job) in &self.jobs {
            if let (Some(info), Some(since)) = (job.info(), job.since())
                && matches!(job.stage(), Stage::Downloading | Stage::Ready)
            {
                self.scheduler.add(*id, info.priority, since);
                self.scheduler.hold_until(*id, job.not_before());
            }
        }
    }

    /// The device id.
    pub fn device_id(&self) -> &DeviceId {
        &self.device
    }

    /// The jobs not over yet, by package.
    pub fn jobs(&self) -> impl Iterator<Item = (&PackageId, &Stage)> {
        self.jobs.iter().map(|(id, job)| (id, job.stage()))
    }

    /// Whether any job is still to run or to report.
    pub fn has_pending(&self) -> bool {
        !self.jobs.is_empty()
    }

    /// One contact: delivers kept results, sends a PROLOG and then an INVENTORY with the
    /// history, takes the packages offered (fetching their info files) and the settings.
    ///
    /// # Errors
    /// [`AgentError`]: the PROLOG failed, or the state directory did.
    pub async fn contact(&mut self) -> Result<Contact, AgentError> {
        let mut contact = Contact::default();
        self.report_pending(&mut contact).await?;
        let body = self
            .transport
            .post(&Request::Prolog {
                device_id: self.device.to_string(),
            })
            .await?;
        let reply = PrologReply::decode(&body).map_err(|e| AgentError::Reply(e.to_string()))?;
        let history = self.state.history()?;
        let inventory = Request::Inventory {
            device_id: self.device.to_string(),
            hardware: self.config.hardware.clone(),
            history: Some(
                history
                    .iter()
                    .map(|&id| HistoryEntry::Package(id))
                    .collect(),
            ),
        };
        if let Err(e) = self.transport.post(&inventory).await {
            tracing::warn!(error = %e, "inventory not sent");
        }
        let Some(option) = reply.download else {
            tracing::info!("the server sent no DOWNLOAD option");
            return Ok(contact);
        };
        self.download = option.config.clone();
        self.scheduler.reconfigure(&self.download);
        self.state.save_download_config(&self.download)?;
        contact.enabled = self.download.enabled;
        if !self.download.enabled {
            tracing::info!("deployment is off (ON=0)");
            return Ok(contact);
        }
        let at = now();
        for notice in option.packages {
            let id = notice.id;
            if self.jobs.contains_key(&id) {
                continue;
            }
            let in_history = history.contains(&id);
            let mut job = Job::new(notice, in_history, self.config.job.clone());
            if let Some(Task::FetchInfo { url }) = job.step(at) {
                let fetched = self.fetch_info(&url).await;
                job.info_fetched(fetched.as_deref().map_err(|_| FetchFailed), at);
            }
            tracing::info!(package_id = %id, stage = ?job.stage(), "package offered");
            self.state.save_job(&job.snapshot())?;
            self.jobs.insert(id, job);
            contact.new_packages.push(id);
        }
        self.report_pending(&mut contact).await?;
        self.schedule_jobs();
        Ok(contact)
    }

    /// Delivers every result waiting (the server may have been down when it was made).
    async fn report_pending(&mut self, contact: &mut Contact) -> Result<(), AgentError> {
        let waiting: Vec<PackageId> = self
            .jobs
            .iter()
            .filter(|(_, j)| matches!(j.stage(), Stage::Result(_)))
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            if let Some(status) = self.report(id).await? {
                contact.reported.push((id, status));
            }
        }
        Ok(())
    }

    /// Runs the schedule until nothing is pending (`once`), or forever, contacting the
    /// server again every `prolog_every`.
    ///
    /// # Errors
    /// [`AgentError::State`]; with `once`, also a failed contact
    /// ([`AgentError::Transport`], [`AgentError::Reply`]) or results the server did not
    /// take ([`AgentError::Undelivered`]). Without `once`, transport failures are retried
    /// at the next contact.
    pub async fn run(&mut self, once: bool, prolog_every: Duration) -> Result<(), AgentError> {
        loop {
            let contacted = match self.contact().await {
                Ok(contact) => {
                    tracing::info!(
                        new = contact.new_packages.len(),
                        reported = contact.reported.len(),
                        "contacted the server"
                    );
                    Ok(())
                }
                Err(AgentError::State(e)) => return Err(AgentError::State(e)),
                Err(e) => {
                    tracing::warn!(error = %e, "contact failed");
                    Err(e)
                }
            };
            // Packages restored from an earlier run go on even when the server is away.
            self.run_schedule().await?;
            if !once {
                tokio::time::sleep(prolog_every).await;
                continue;
            }
            // Results the server did not take: a few more tries, then they wait (kept in
            // the state directory) for the next run.
            for _ in 0..UNDELIVERED_RETRIES {
                if self.undelivered() == 0 {
                    break;
                }
                tokio::time::sleep(UNDELIVERED_PAUSE).await;
                self.report_pending(&mut Contact::default()).await?;
            }
            contacted?;
            return match self.undelivered() {
                0 => Ok(()),
                count => Err(AgentError::Undelivered { count }),
            };
        }
    }

    /// Results made but not delivered yet.
    fn undelivered(&self) -> usize {
        self.jobs
            .values()
            .filter(|j| matches!(j.stage(), Stage::Result(_)))
            .count()
    }

    /// Runs the scheduler until it is idle.
    ///
    /// # Errors
    /// [`AgentError::State`].
    pub async fn run_schedule(&mut self) -> Result<(), AgentError> {
        loop {
            let at = now();
            match self.scheduler.poll(at) {
                Next::Step(id) => {
                    self.step(id).await?;
                    self.scheduler.step_done(id, now());
                }
                Next::TimedOut(id) => {
                    if let Some(job) = self.jobs.get_mut(&id) {
                        job.time_out();
                        self.state.save_job(&job.snapshot())?;
                    }
                    self.report(id).await?;
                }
                Next::Sleep { until, latency } => {
                    tracing::debug!(?latency, "pausing");
                    let wait =
                        Duration::from_millis(until.as_millis().saturating_sub(at.as_millis()));
                    // A zero latency is no pause: a timer of zero still waits for the next
                    // tick of the timer wheel (1 ms, far more on a loaded machine), three
                    // times per fragment (fragment, cycle and period latencies).
                    if wait.is_zero() {
                        tokio::task::yield_now().await;
                    } else {
                        tokio::time::sleep(wait).await;
                    }
                }
                Next::InProgress(_) => {}
                Next::Idle => return Ok(()),
            }
        }
    }

    /// One scheduler step of one package.
    async fn step(&mut self, id: PackageId) -> Result<(), AgentError> {
        let Some(job) = self.jobs.get_mut(&id) else {
            self.scheduler.remove(id);
            return Ok(());
        };
        let mut task = job.step(now());
        while let Some(t) = task.take() {
            task = match t {
                Task::FetchFragment { fragment, url } => {
                    self.fetch_fragment(id, fragment, &url).await?;
                    None
                }
                Task::Wait { until } => {
                    self.scheduler.hold_until(id, Some(until));
                    None
                }
                Task::Build => self.build(id).await?,
                Task::Install(plan) => self.install(id, &plan).await?,
                Task::Report(_) => {
                    self.report(id).await?;
                    None
                }
                Task::FetchInfo { .. } => None,
            };
        }
        if let Some(job) = self.jobs.get(&id)
            && !matches!(job.stage(), Stage::Downloading | Stage::Ready)
        {
            self.scheduler.remove(id);
        }
        Ok(())
    }

    async fn fetch_info(&self, url: &str) -> Result<Vec<u8>, TransportError> {
        let mut stream = self.transport.get(url).await?;
        let mut body = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if body.len() + chunk.len() > MAX_INFO_BYTES {
                return Err(TransportError::TooLarge {
                    limit: MAX_INFO_BYTES as u64,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    async fn fetch_fragment(&mut self, id: PackageId, n: u32, url: &str) -> Result<(), AgentError> {
        let Some(job) = self.jobs.get_mut(&id) else {
            return Ok(());
        };
        let mut file = self.state.fragment_file(id, n)?;
        let mut receiver = job.receiver(n);
        let failures_before = job.snapshot().failures;
        let progress = &self.config.progress;
        let payload = job.info().and_then(|i| i.payload());
        progress.event(&Event::Fragment {
            package: id,
            fragment: n,
            fragments: payload.map_or(0, |p| p.fragments),
            size: payload.and_then(|p| p.size),
        });
        // The package digest follows in its own thread (started at the first fragment).
        let mut digest = self
            .digests
            .remove(&id)
            .filter(|d| d.expects() == n)
            .or_else(|| payload.filter(|_| n == 1).and_then(RunningDigest::start));
        if let Some(d) = &mut digest {
            d.begin(n);
        }
        let mut fetched_bytes = 0u64;
        let fetched: Result<(), String> = async {
            let mut stream = self.transport.get(url).await.map_err(|e| e.to_string())?;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| e.to_string())?;
                receiver.push(&chunk);
                if let Some(d) = &mut digest {
                    d.bytes(chunk.clone());
                }
                file.write(&chunk).map_err(|e| e.to_string())?;
                fetched_bytes += chunk.len() as u64;
                progress.event(&Event::Bytes {
                    package: id,
                    bytes: chunk.len() as u64,
                });
            }
            Ok(())
        }
        .await;
        let verdict = match fetched {
            Ok(()) => job.fragment_fetched(Ok(receiver.finish())),
            Err(e) => {
                tracing::warn!(package_id = %id, fragment = n, error = %e, "fragment download failed");
                job.fragment_fetched(Err(FetchFailed))
            }
        };
        if let Some(mut d) = digest {
            d.end(verdict == Verdict::Keep);
            self.digests.insert(id, d);
        }
        if verdict == Verdict::Keep {
            file.commit()?;
        } else {
            drop(file);
        }
        progress.event(&Event::FragmentDone {
            package: id,
            fragment: n,
            kept: verdict == Verdict::Keep,
            bytes: fetched_bytes,
        });
        // A fragment kept changes nothing the job file must hold: the fragments are read
        // back from the disk. Saved when a failure is counted or forgotten, or the stage
        // changes (one fsync less per fragment).
        let snapshot = job.snapshot();
        if !(verdict == Verdict::Keep
            && failures_before == 0
            && snapshot.stage == Stage::Downloading)
        {
            self.state.save_job(&snapshot)?;
        }
        Ok(())
    }

    /// The package's fragments, in order: its archive, which is extracted from them
    /// without being copied into one file.
    fn archive_parts(&self, id: PackageId) -> Vec<PathBuf> {
        let fragments = self
            .jobs
            .get(&id)
            .and_then(|j| j.info())
            .and_then(|i| i.payload())
            .map_or(0, |p| p.fragments);
        (1..=fragments)
            .map(|n| self.state.fragment_path(id, n))
            .collect()
    }

    /// Checks the package digest over the fragments (the archive).
    async fn build(&mut self, id: PackageId) -> Result<Option<Task>, AgentError> {
        let Some(job) = self.jobs.get_mut(&id) else {
            return Ok(None);
        };
        self.config
            .progress
            .event(&Event::Installing { package: id });
        let pipelined = match self.digests.remove(&id) {
            Some(digest) => digest.verified().await,
            None => false,
        };
        let result = match job.info().and_then(|i| i.payload()) {
            Some(_) if pipelined => Ok(()),
            Some(payload) => {
                tracing::info!(package_id = %id, "downloaded; checking the package digest");
                verify(&self.state, id, payload).await
            }
            None => Ok(()),
        };
        tracing::info!(package_id = %id, ok = result.is_ok(), pipelined, "package digest checked");
        let next = job.built(result);
        // Saved before anything runs: a crash from here on never runs the package twice.
        self.state.save_job(&job.snapshot())?;
        Ok(next)
    }

    async fn install(
        &mut self,
        id: PackageId,
        plan: &InstallPlan,
    ) -> Result<Option<Task>, AgentError> {
        let outcome = self.run_install(id, plan).await;
        if let (Some(done), InstallOutcome::Exited(_) | InstallOutcome::Stored) =
            (&plan.done_action, outcome)
        {
            self.config.notifier.done(id, done).await;
        }
        let Some(job) = self.jobs.get_mut(&id) else {
            return Ok(None);
        };
        let next = job.installed(outcome, now());
        self.state.save_job(&job.snapshot())?;
        if let (Some(post), Some(Task::Report(_))) = (&plan.post_command, &next) {
            match post {
                PostCommand::Command(command) => {
                    let command = ShellCommand {
                        command: exec::expand(command, &self.config.install_path, |v| {
                            std::env::var(v).ok()
                        }),
                        dir: self.run_dir(id),
                        timeout: plan.execution_timeout,
                    };
                    let outcome = exec::run(&command).await;
                    tracing::info!(package_id = %id, ?outcome, "POSTCMD ran");
                }
                power => self.config.power.power(power).await,
            }
        }
        Ok(next)
    }

    fn run_dir(&self, id: PackageId) -> PathBuf {
        self.state
            .root()
            .join("packages")
            .join(id.to_string())
            .join("run")
    }

    async fn run_install(&self, id: PackageId, plan: &InstallPlan) -> InstallOutcome {
        if let Some(notification) = &plan.notification {
            match self.config.notifier.notify(id, notification).await {
                Answer::Accept => {}
                Answer::Abort => return InstallOutcome::Aborted,
                Answer::Delay => return InstallOutcome::Delayed,
            }
        }
        let target = match &plan.action {
            Action::Store { path } => {
                PathBuf::from(exec::expand(path, &self.config.install_path, |v| {
                    std::env::var(v).ok()
                }))
            }
            _ => self.run_dir(id),
        };
        if let Err(e) = tokio::fs::create_dir_all(&target).await {
            tracing::warn!(package_id = %id, target = %target.display(), error = %e, "target folder");
            return InstallOutcome::ExtractFailed;
        }
        if plan.has_file {
            let parts = self.archive_parts(id);
            // The fragments go as they are read: the job is `Installing`, so they are
            // never read again (a crash from here on reports, it does not extract again).
            match extract::extract_parts(&parts, &target, &self.config.limits, true).await {
                Ok(summary) => {
                    tracing::info!(package_id = %id, entries = summary.entries, bytes = summary.bytes, "extracted");
                }
                Err(e) => {
                    tracing::warn!(package_id = %id, error = %e, "extraction refused");
                    return if e.status() == StatusCode::ErrOutOfSpace {
                        InstallOutcome::OutOfSpace
                    } else {
                        InstallOutcome::ExtractFailed
                    };
                }
            }
        }
        let (command, launch) = match &plan.action {
            Action::Store { .. } => return InstallOutcome::Stored,
            Action::Launch { command } => (command, true),
            Action::Execute { command } => (command, false),
        };
        let mut command = exec::expand(command, &self.config.install_path, |v| {
            std::env::var(v).ok()
        });
        if launch {
            command = launch_line(command, &target).await;
        }
        let command = ShellCommand {
            command,
            dir: target,
            timeout: plan.execution_timeout,
        };
        match exec::run(&command).await {
            RunOutcome::Exited { code, .. } => InstallOutcome::Exited(code),
            RunOutcome::TimedOut => InstallOutcome::TimedOut,
            RunOutcome::StartFailed(_) => InstallOutcome::StartFailed,
        }
    }

    /// Sends a job's result; once the server has it, the job ends (and its package joins
    /// the history if it succeeded). Returns the status delivered.
    async fn report(&mut self, id: PackageId) -> Result<Option<StatusCode>, AgentError> {
        let Some(job) = self.jobs.get_mut(&id) else {
            return Ok(None);
        };
        let Stage::Result(status) = job.stage().clone() else {
            return Ok(None);
        };
        let request = Request::DownloadResult {
            device_id: self.device.to_string(),
            package_id: id,
            status: status.clone(),
        };
        let delivered = match self.transport.post(&request).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(package_id = %id, %status, error = %e, "result not delivered; kept");
                false
            }
        };
        job.reported(delivered);
        self.config.progress.event(&Event::Ended {
            package: id,
            status: status.clone(),
            delivered,
        });
        if !delivered {
            return Ok(None);
        }
        tracing::info!(package_id = %id, %status, "result delivered");
        if job.adds_to_history() {
            self.state.add_history(id)?;
        }
        self.state.remove_package(id)?;
        self.jobs.remove(&id);
        self.digests.remove(&id);
        self.scheduler.remove(id);
        Ok(Some(status))
    }
}

/// A Launch names a file of the package, then its arguments (`install.sh hello world`,
/// as the console writes it). As the Unix agent does (the first word checked with `-e`,
/// made executable, run as `./NAME`), a first word naming a file in the package's folder
/// runs that file, not a program of the `PATH`; other command lines run as written.
async fn launch_line(command: String, dir: &Path) -> String {
    let line = command.trim_start();
    let first = line.split_whitespace().next().unwrap_or_default();
    if first.is_empty() || first.contains('/') {
        return command;
    }
    let file = dir.join(first);
    match tokio::fs::metadata(&file).await {
        Ok(meta) if meta.is_file() => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                let mut permissions = meta.permissions();
                permissions.set_mode(permissions.mode() | 0o755);
                if let Err(e) = tokio::fs::set_permissions(&file, permissions).await {
                    tracing::warn!(file = %file.display(), error = %e, "cannot make the Launch file executable");
                }
            }
            format!("./{line}")
        }
        _ => command,
    }
}

/// Reads the fragments in order and checks the package digest (the archive is the
/// fragments one after the other; it is never copied into one file).
///
/// Each fragment's SHA-256 was checked when it arrived (and again when the jobs were read
/// back after a restart), so only the package digest is computed here: one hash, not two.
async fn verify(
    state: &StateDir,
    id: PackageId,
    payload: &ocs_deploy_core::package::Payload,
) -> Result<(), BuildError> {
    use tokio::io::AsyncReadExt as _;
    let io = |e: std::io::Error| BuildError::Io {
        out_of_space: e.raw_os_error() == Some(28), // ENOSPC
        message: e.to_string(),
    };
    let checked = ocs_deploy_core::package::Payload {
        fragment_sha256: None,
        ..payload.clone()
    };
    let mut assembler = Assembler::new(&checked)?;
    let mut buf = vec![0u8; 1 << 20];
    for n in 1..=payload.fragments {
        assembler.begin_fragment(n)?;
        let mut file = tokio::fs::File::open(state.fragment_path(id, n))
            .await
            .map_err(|_| FragmentError::MissingFragments {
                received: n - 1,
                count: payload.fragments,
            })?;
        loop {
            let read = file.read(&mut buf).await.map_err(io)?;
            if read == 0 {
                break;
            }
            assembler.push(&buf[..read])?;
        }
        assembler.end_fragment()?;
    }
    assembler.finish()?;
    Ok(())
}

/// An OCS device id: `host-YYYY-MM-DD-hh-mm-ss` (characters other than letters, digits,
/// `-`, `_` and `.` in the host name become `_`).
///
/// ```
/// use ocs_deploy_agent::runtime::make_device_id;
/// use ocs_deploy_core::Timestamp;
///
/// assert_eq!(make_device_id("pc 1", Timestamp::from_secs(1_700_000_000)).as_str(), "pc_1-2023-11-14-22-13-20");
/// ```
///
/// # Panics
/// Never: the host part is never empty and the date part always matches the OCS format.
pub fn make_device_id(host: &str, at: Timestamp) -> DeviceId {
    let (y, mo, d, h, mi, s) = at.utc();
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let host = if host.is_empty() {
        "agent".to_owned()
    } else {
        host
    };
    DeviceId::parse(&format!(
        "{host}-{y:04}-{mo:02}-{d:02}-{h:02}-{mi:02}-{s:02}"
    ))
    .expect("a sanitised host and a formatted date make a device id")
}

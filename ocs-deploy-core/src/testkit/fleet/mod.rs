//! The fleet simulator: thousands of agents, each running the real [`Scheduler`] and
//! [`Job`] state machines, against the real [`DeploymentService`] over any
//! [`Store`](crate::store::Store), in virtual time.
//!
//! # Model
//! - **Setup** ([`Fleet::setup`]): the service builds each package (deterministic bytes of
//!   the given size, split as the OCS console splits by count), activates it, registers
//!   every computer (an inventory, as a first contact would), gives each its site's
//!   download server and affects every package to every computer. The download settings
//!   of [`FleetConfig::download`] are set globally.
//! - **Agents** follow `ocs-deploy-agent`'s runtime: a *contact* delivers results kept
//!   from before, sends a PROLOG and, when the reply says `SEND` (as the OCS agents do;
//!   see [`ServiceConfig::inventory_every`](crate::service::ServiceConfig::inventory_every)),
//!   an INVENTORY with the history, takes the packages
//!   offered (fetching their info files) and the settings; then the schedule runs until it
//!   is idle; the next contact comes [`FleetConfig::contact_every`] later (plus a seeded
//!   jitter). First contacts are spread uniformly over
//!   [`FleetConfig::first_contact_within`], in the order of the agents' numbers. An
//!   agent stops once it has delivered a result for every package.
//! - **Time** is virtual: a discrete-event loop pops (time, agent, kind) events from
//!   a radix heap (a priority queue for times that only move forward) and awaits the agent's calls one after the other (no sleeping, no
//!   thread or task per agent). The [`VirtualClock`] is set to each event's time, so the
//!   service records results at virtual times.
//! - **Download servers** ([`DownloadServer`]): with servers configured, the package is
//!   activated per site (`$NAME$/download`, the OCS multi-site pattern) and each computer
//!   gets a server by weighted round robin. A fragment transfer takes
//!   `bytes × n / bandwidth × slowdown`, where `n` is the number of transfers in progress
//!   on that server when it starts (itself included): the bandwidth is shared equally
//!   among concurrent downloads, fixed at the transfer's start. The step ends when the
//!   transfer does.
//! - **Builds** are not redone: every fragment was checked against its SHA-256 when it
//!   arrived (a corrupted one is discarded and fetched again), and keeping the bytes of
//!   100 000 agents would not fit in memory. [`Job::built`] is told the build succeeded.
//! - **Installs** go through an [`Executor`]; its virtual duration is how far it moved the
//!   clock (see [`ScriptedExecutor`]).
//! - **Faults**: the transport injects them ([`FaultyTransport`]); slow servers are
//!   applied by the bandwidth model ([`Faults::slow_servers`]).
//! - **Randomness** comes from [`FleetConfig::seed`] alone: the same inputs and seed give
//!   the same [`FleetReport`], byte for byte.
//!
//! Your own [`Store`](crate::store::Store) goes under the [`DeploymentService`] you hand
//! to [`Fleet::setup`]; your own [`Transport`] or [`Executor`] goes to [`Fleet::run`].
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use ocs_deploy_core::service::{DeploymentService, ServiceConfig};
//! use ocs_deploy_core::testkit::fleet::{Fleet, FleetConfig, PackageSpec};
//! use ocs_deploy_core::testkit::{MemoryFiles, MemoryStore};
//!
//! # futures::executor::block_on(async {
//! let service = Arc::new(DeploymentService::new(
//!     Arc::new(MemoryStore::new()),
//!     Arc::new(MemoryFiles::new()),
//!     ServiceConfig::default(),
//! ));
//! let config = FleetConfig {
//!     agents: 50,
//!     packages: vec![PackageSpec::new("tools", 4_000, 4)],
//!     ..FleetConfig::default()
//! };
//! let report = Fleet::simulate(config, service).await?;
//! assert!(report.all_finished());
//! assert_eq!(report.packages[0].status_count("SUCCESS"), 50);
//! println!("{report}");
//! # Ok::<(), ocs_deploy_core::testkit::fleet::FleetError>(())
//! # }).unwrap();
//! ```

mod queue;
mod report;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;

use queue::RadixHeap;
pub use report::{FleetReport, PackageReport, ServerReport, TraceEvent};

use super::faults::url_host;
use super::rng::Rng;
use super::{Faults, FaultyTransport, LoopbackTransport, Script, ScriptedExecutor, VirtualClock};
use crate::agent::{
    BuildError, Executor, FetchFailed, Job, JobConfig, Receipt, ResultStyle, Stage, Task, Transport,
};
use crate::fragment::FragmentPlan;
use crate::protocol::{
    DeviceId, DownloadConfig, Hardware, HistoryEntry, PrologReply, PrologResponse, Request,
};
use crate::schedule::{Next, Scheduler};
use crate::service::{AffectTarget, BuildRequest, DeploymentService, ServiceError};
use crate::store::{AffectOptions, ComputerFilter, Setting, SettingScope, TextMatch};
use crate::{Action, PackageId, PackageInfo, Priority, Timestamp};

/// Where agents fetch info files (and, without download servers, fragments).
const INFO_HOST: &str = "ocs.sim";
/// The `TAG` of simulated computers (download servers have none).
const FLEET_TAG: &str = "fleet-sim";
/// The random stream of the fleet's jitter.
const STREAM: u64 = 1;
/// At most this many packages (agents keep a bit per package).
pub const MAX_PACKAGES: usize = 64;

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// The configuration is not usable.
    #[error("bad fleet configuration: {0}")]
    Config(String),
    /// The service refused a setup step (build, activate, affect, settings).
    #[error("service: {0}")]
    Service(#[from] ServiceError),
}

/// One package of the scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageSpec {
    /// A name for people (and the report).
    pub name: String,
    /// The archive's size in bytes (0 for an Execute without file).
    pub size: u64,
    /// Fragments, split as the OCS console splits by count (0 for an Execute without
    /// file).
    pub fragments: u32,
    /// The priority (0 is exclusive).
    pub priority: Priority,
    /// Launch, Execute or Store.
    pub action: Action,
    /// What installs of this package do, with the default executor
    /// ([`Fleet::scripted_executor`]).
    pub script: Script,
    /// Its info file is missing on the server (with the default transport,
    /// [`Fleet::loopback`]): agents report `ERR_DOWNLOAD_INFO`.
    pub info_missing: bool,
}

impl PackageSpec {
    /// A Launch package of `size` bytes in `fragments` fragments, priority 5, whose
    /// installs exit with 0 at once.
    ///
    /// ```
    /// use ocs_deploy_core::testkit::fleet::PackageSpec;
    ///
    /// let p = PackageSpec::new("tools", 10_000, 10);
    /// assert_eq!(p.priority.get(), 5);
    /// ```
    pub fn new(name: impl Into<String>, size: u64, fragments: u32) -> Self {
        Self {
            name: name.into(),
            size,
            fragments,
            priority: Priority::DEFAULT,
            action: Action::Launch {
                command: "install.sh".into(),
            },
            script: Script::default(),
            info_missing: false,
        }
    }
}

/// A download server: a site's mirror of the fragments.
#[derive(Debug, Clone, PartialEq)]
pub struct DownloadServer {
    /// Its host name (a plain name: it becomes `$NAME$` in the fragment location).
    pub name: String,
    /// Bytes per second, shared among concurrent downloads; 0 for unlimited.
    pub bandwidth: u64,
    /// Its share of the computers (weighted round robin); 0 counts as 1.
    pub weight: u32,
}

impl DownloadServer {
    /// A server of `bandwidth` bytes per second with weight 1.
    pub fn new(name: impl Into<String>, bandwidth: u64) -> Self {
        Self {
            name: name.into(),
            bandwidth,
            weight: 1,
        }
    }
}

/// The inputs of a simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetConfig {
    /// How many agents (computers).
    pub agents: u32,
    /// The seed of every random draw (jitter, faults, failure rates).
    pub seed: u64,
    /// When the simulation starts (virtual).
    pub start: Timestamp,
    /// How long an agent waits after its schedule went idle before it contacts the
    /// server again (the agents' `PROLOG_FREQ`).
    pub contact_every: Duration,
    /// A random extra wait, up to this, added to each later contact.
    pub contact_jitter: Duration,
    /// First contacts are spread uniformly over this time from the start.
    pub first_contact_within: Duration,
    /// The packages, affected to every computer.
    pub packages: Vec<PackageSpec>,
    /// Latencies, period length, timeout and execution timeout, set as the server's
    /// global settings (`enabled` switches deployment).
    pub download: DownloadConfig,
    /// Download servers; empty for one unlimited server for everyone.
    pub servers: Vec<DownloadServer>,
    /// Faults, for the default transport and the bandwidth model.
    pub faults: Faults,
    /// How agents spell results.
    pub result_style: ResultStyle,
    /// Virtual time after which the simulation stops, finished or not.
    pub horizon: Duration,
    /// Record this agent's every event in [`FleetReport::trace`].
    pub trace_agent: Option<u32>,
}

impl Default for FleetConfig {
    /// 100 agents contacting every hour (first contacts spread over one hour, up to 5
    /// minutes of jitter), no package, the OCS download defaults, no download server, no
    /// fault, seed 1, 60 days of horizon.
    fn default() -> Self {
        Self {
            agents: 100,
            seed: 1,
            start: Timestamp::from_secs(1_800_000_000),
            contact_every: Duration::from_secs(3600),
            contact_jitter: Duration::from_secs(300),
            first_contact_within: Duration::from_secs(3600),
            packages: Vec::new(),
            download: DownloadConfig::default(),
            servers: Vec::new(),
            faults: Faults::default(),
            result_style: ResultStyle::default(),
            horizon: Duration::from_secs(60 * 86_400),
            trace_agent: None,
        }
    }
}

impl FleetConfig {
    fn check(&self) -> Result<(), FleetError> {
        let bad = |m: String| Err(FleetError::Config(m));
        if self.agents == 0 {
            return bad("no agent".into());
        }
        if self.packages.is_empty() {
            return bad("no package".into());
        }
        if self.packages.len() > MAX_PACKAGES {
            return bad(format!(
                "{} packages (at most {MAX_PACKAGES})",
                self.packages.len()
            ));
        }
        if self.contact_every.is_zero() {
            return bad("contacts every 0 s would never let time move".into());
        }
        let d = &self.download;
        let still = d.cycle_latency.is_zero() && d.period_latency.is_zero();
        for p in &self.packages {
            if still && u32::from(p.priority.get()) > d.period_length {
                return bad(format!(
                    "package {:?}: priority {} is never served with {} cycles a period, and with no cycle or period latency time would not move until its timeout",
                    p.name,
                    p.priority.get(),
                    d.period_length
                ));
            }
            if p.fragments == 0 && p.size > 0 || p.fragments > 0 && u64::from(p.fragments) > p.size
            {
                return bad(format!(
                    "package {:?}: {} bytes cannot make {} fragments",
                    p.name, p.size, p.fragments
                ));
            }
            if p.fragments == 0 && p.action.needs_file() {
                return bad(format!(
                    "package {:?}: a {} needs a file",
                    p.name,
                    p.action.wire_name()
                ));
            }
        }
        for s in &self.servers {
            if s.name.is_empty()
                || !s
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            {
                return bad(format!("download server name {:?}", s.name));
            }
        }
        let mut names: Vec<&str> = self.servers.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) || names.contains(&INFO_HOST) {
            return bad("download server names must be distinct".into());
        }
        Ok(())
    }
}

/// A fleet set up on a service, ready to [`run`](Self::run).
#[derive(Debug)]
pub struct Fleet {
    config: FleetConfig,
    service: Arc<DeploymentService>,
    packages: Vec<PackageId>,
}

/// The device id of simulated computer `i`.
fn device_of(i: u32) -> String {
    format!("sim{i:07}-2026-01-01-00-00-00")
}

/// The inventory of simulated computer `i`.
fn hardware_of(i: u32) -> Hardware {
    Hardware {
        name: Some(format!("sim{i:07}")),
        tag: Some(FLEET_TAG.into()),
        ..Hardware::default()
    }
}

/// The device id of download server `i`.
fn server_device(i: usize) -> String {
    format!("dlserver{i:03}-2026-01-01-00-00-00")
}

/// Deterministic archive bytes.
fn archive(size: u64, salt: u64) -> Bytes {
    let mut rng = Rng::new(salt, 99);
    let mut v = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    while (v.len() as u64) < size {
        v.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    v.truncate(usize::try_from(size).unwrap_or(0));
    Bytes::from(v)
}

impl Fleet {
    /// Sets the scenario up on `service` at [`FleetConfig::start`]: settings, packages
    /// (built and activated), computers (registered, with their download server) and
    /// affectations. The store should hold no other package affected to these computers.
    ///
    /// # Errors
    /// [`FleetError::Config`] for a configuration that cannot run (no agent, no package,
    /// more than [`MAX_PACKAGES`], sizes that do not split, bad server names, contacts
    /// every 0 s, a package never served while no latency moves time);
    /// [`FleetError::Service`] when the service refuses a step.
    pub async fn setup(
        config: FleetConfig,
        service: Arc<DeploymentService>,
    ) -> Result<Self, FleetError> {
        config.check()?;
        let now = config.start;
        let d = &config.download;
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        for (setting, value) in [
            (Setting::Switch, i64::from(d.enabled)),
            (Setting::FragLatency, secs(d.fragment_latency)),
            (Setting::CycleLatency, secs(d.cycle_latency)),
            (Setting::PeriodLatency, secs(d.period_latency)),
            (Setting::PeriodLength, i64::from(d.period_length)),
            (Setting::Timeout, i64::from(d.timeout_days)),
            (Setting::ExecutionTimeout, secs(d.execution_timeout) / 60),
        ] {
            service
                .set_setting(SettingScope::Global, setting, Some(value))
                .await?;
        }

        // Download servers are computers of the inventory: their names fill `$NAME$`.
        for (i, server) in config.servers.iter().enumerate() {
            let inventory = Request::Inventory {
                device_id: server_device(i),
                hardware: Hardware {
                    name: Some(server.name.clone()),
                    ..Hardware::default()
                },
                history: None,
            };
            service.handle(&inventory, now).await?;
        }
        let sites = assign_sites(&config.servers, config.agents);
        for i in 0..config.agents {
            let inventory = Request::Inventory {
                device_id: device_of(i),
                hardware: hardware_of(i),
                history: Some(Vec::new()),
            };
            service.handle(&inventory, now).await?;
            if !config.servers.is_empty() {
                let device = DeviceId::parse(&device_of(i))
                    .map_err(|e| FleetError::Config(e.to_string()))?;
                let server = DeviceId::parse(&server_device(usize::from(sites[i as usize])))
                    .map_err(|e| FleetError::Config(e.to_string()))?;
                service.set_download_server(&device, Some(&server)).await?;
            }
        }

        let pack_location = if config.servers.is_empty() {
            format!("{INFO_HOST}/download")
        } else {
            "$NAME$/download".to_owned()
        };
        let info_location = format!("{INFO_HOST}/download");
        let everyone = AffectTarget::Matching(ComputerFilter {
            tag: Some(TextMatch::Equals(FLEET_TAG.into())),
            ..ComputerFilter::default()
        });
        let mut packages = Vec::with_capacity(config.packages.len());
        for (n, spec) in config.packages.iter().enumerate() {
            let mut request = BuildRequest::new(spec.name.clone(), spec.action.clone());
            request.priority = spec.priority;
            let record = if spec.fragments == 0 {
                service
                    .build(
                        request,
                        None::<futures::stream::Empty<Result<Bytes, std::io::Error>>>,
                        now,
                    )
                    .await?
            } else {
                let plan = FragmentPlan::by_count(spec.size, spec.fragments)
                    .map_err(|e| FleetError::Config(format!("package {:?}: {e}", spec.name)))?;
                request.plan = Some(plan);
                let bytes = archive(spec.size, config.seed ^ n as u64);
                service
                    .build(
                        request,
                        Some(futures::stream::iter([Ok::<_, std::io::Error>(bytes)])),
                        now,
                    )
                    .await?
            };
            let activation = service
                .activate(record.id, &info_location, &pack_location, now)
                .await?;
            service
                .affect(activation, &everyone, &AffectOptions::default(), now)
                .await?;
            packages.push(record.id);
        }
        tracing::info!(agents = config.agents, packages = ?packages, "fleet set up");
        Ok(Self {
            config,
            service,
            packages,
        })
    }

    /// Sets the scenario up and runs it with the default pieces: the loopback transport
    /// with the configured faults, and the scripted executor.
    ///
    /// # Errors
    /// As [`setup`](Self::setup).
    pub async fn simulate(
        config: FleetConfig,
        service: Arc<DeploymentService>,
    ) -> Result<FleetReport, FleetError> {
        let fleet = Self::setup(config, service).await?;
        let clock = VirtualClock::new(fleet.config.start);
        let transport = fleet.loopback(&clock);
        let executor = fleet.scripted_executor(&clock);
        fleet.run(&transport, &executor, &clock).await
    }

    /// The configuration.
    pub fn config(&self) -> &FleetConfig {
        &self.config
    }

    /// The service.
    pub fn service(&self) -> &Arc<DeploymentService> {
        &self.service
    }

    /// The packages' ids, in the order of [`FleetConfig::packages`].
    pub fn packages(&self) -> &[PackageId] {
        &self.packages
    }

    /// The faults of the configuration, with the info files the package specs say are
    /// missing.
    pub fn faults(&self) -> Faults {
        let mut faults = self.config.faults.clone();
        for (spec, id) in self.config.packages.iter().zip(&self.packages) {
            if spec.info_missing {
                faults.missing_info.insert(*id);
            }
        }
        faults
    }

    /// The default transport: a [`LoopbackTransport`] into the service, seeing `clock`,
    /// wrapped in a [`FaultyTransport`] with [`faults`](Self::faults) and the seed.
    pub fn loopback(&self, clock: &VirtualClock) -> FaultyTransport<LoopbackTransport> {
        FaultyTransport::new(
            LoopbackTransport::new(Arc::clone(&self.service), clock.reader()),
            self.faults(),
            self.config.seed,
            clock.clone(),
        )
    }

    /// The default executor: each package's [`PackageSpec::script`], advancing `clock`,
    /// seeded.
    pub fn scripted_executor(&self, clock: &VirtualClock) -> ScriptedExecutor {
        let mut executor = ScriptedExecutor::new(self.config.seed).with_clock(clock.clone());
        for (spec, id) in self.config.packages.iter().zip(&self.packages) {
            executor = executor.script(*id, spec.script);
        }
        executor
    }

    /// Runs the fleet to the end (every agent has delivered a result for every package,
    /// or the horizon is reached), talking through `transport`, installing through
    /// `executor`, and setting `clock` (which `transport` and `executor` should read) to
    /// each event's time. Run it once per setup.
    ///
    /// Failures of the transport are the agents' to handle (retries, error statuses), as
    /// on real machines: they never end the run.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ocs_deploy_core::agent::{Executor, InstallOutcome, InstallPlan};
    /// use ocs_deploy_core::service::{DeploymentService, ServiceConfig};
    /// use ocs_deploy_core::testkit::fleet::{Fleet, FleetConfig, PackageSpec};
    /// use ocs_deploy_core::testkit::{MemoryFiles, MemoryStore, VirtualClock};
    /// use ocs_deploy_core::PackageId;
    ///
    /// // An executor of your own: every install exits with 1.
    /// #[derive(Debug)]
    /// struct Failing;
    /// #[async_trait::async_trait]
    /// impl Executor for Failing {
    ///     async fn install(&self, _: PackageId, _: &InstallPlan) -> InstallOutcome {
    ///         InstallOutcome::Exited(1)
    ///     }
    /// }
    ///
    /// # futures::executor::block_on(async {
    /// let service = Arc::new(DeploymentService::new(Arc::new(MemoryStore::new()), Arc::new(MemoryFiles::new()), ServiceConfig::default()));
    /// let config = FleetConfig { agents: 5, packages: vec![PackageSpec::new("p", 100, 2)], ..FleetConfig::default() };
    /// let fleet = Fleet::setup(config, service).await?;
    /// let clock = VirtualClock::new(fleet.config().start);
    /// let report = fleet.run(&fleet.loopback(&clock), &Failing, &clock).await?;
    /// assert_eq!(report.packages[0].status_count("ERR_EXIT_CODE_1"), 5);
    /// # Ok::<(), ocs_deploy_core::testkit::fleet::FleetError>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// None today; the `Result` leaves room for stores that fail the run.
    pub async fn run(
        &self,
        transport: &dyn Transport,
        executor: &dyn Executor,
        clock: &VirtualClock,
    ) -> Result<FleetReport, FleetError> {
        let mut sim = Sim::new(self, transport, executor, clock);
        sim.run().await;
        Ok(sim.into_report())
    }
}

/// Weighted round robin: the site (server index) of each agent.
fn assign_sites(servers: &[DownloadServer], agents: u32) -> Vec<u16> {
    if servers.is_empty() {
        return Vec::new();
    }
    let mut wheel = Vec::new();
    for (i, s) in servers.iter().enumerate() {
        for _ in 0..s.weight.max(1) {
            wheel.push(u16::try_from(i).unwrap_or(u16::MAX));
        }
    }
    (0..agents as usize)
        .map(|i| wheel[i % wheel.len()])
        .collect()
}

/// What an event asks of an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// Contact the server.
    Contact = 0,
    /// Poll the scheduler.
    Poll = 1,
    /// A fragment transfer ends.
    TransferDone = 2,
}

/// What the scheduler decided ahead of time, for when the agent's turn comes.
#[derive(Debug, Clone, Copy)]
enum Due {
    /// Take this step.
    Step(PackageId),
    /// This package timed out.
    TimedOut(PackageId),
}

/// A fragment transfer under way.
#[derive(Debug)]
struct Transfer {
    package: PackageId,
    server: usize,
    result: Result<Receipt, FetchFailed>,
}

/// One simulated agent: small, since there may be 100 000 of them.
#[derive(Debug)]
struct Agent {
    scheduler: Scheduler,
    jobs: Vec<Job>,
    history: Vec<PackageId>,
    /// Packages with a delivered result, one bit per package index.
    done: u64,
    transfer: Option<Box<Transfer>>,
    due: Option<Due>,
}

/// Per download server, during the run.
#[derive(Debug, Clone)]
struct ServerState {
    name: String,
    bandwidth: u64,
    slowdown: f64,
    active: u32,
    peak: u32,
    bytes: u64,
    fragments: u64,
}

/// How a step ended.
enum StepEnd {
    /// At this time.
    At(Timestamp),
    /// A transfer is under way; it ends then.
    Transfer(Timestamp),
}

struct Sim<'a> {
    fleet: &'a Fleet,
    transport: &'a dyn Transport,
    executor: &'a dyn Executor,
    clock: &'a VirtualClock,
    agents: Vec<Agent>,
    /// Events as `time << 64 | agent << 8 | kind`: 16 bytes each, ordered by time, then
    /// agent (an agent has one event at most at any time).
    heap: RadixHeap,
    /// Parsed info files by their bytes, shared by the agents that fetch the same one.
    infos: BTreeMap<Bytes, (PackageId, PackageInfo)>,
    rng: Rng,
    job_config: JobConfig,
    all_done: u64,
    finished: u32,
    servers: Vec<ServerState>,
    server_index: BTreeMap<String, usize>,
    report: FleetReport,
    end: Timestamp,
}

impl<'a> Sim<'a> {
    fn new(
        fleet: &'a Fleet,
        transport: &'a dyn Transport,
        executor: &'a dyn Executor,
        clock: &'a VirtualClock,
    ) -> Self {
        let config = &fleet.config;
        let faults = &config.faults;
        let mut servers: Vec<ServerState> = config
            .servers
            .iter()
            .map(|s| ServerState {
                name: s.name.clone(),
                bandwidth: s.bandwidth,
                slowdown: faults.slowdown(&s.name),
                active: 0,
                peak: 0,
                bytes: 0,
                fragments: 0,
            })
            .collect();
        if servers.is_empty() {
            servers.push(ServerState {
                name: INFO_HOST.into(),
                bandwidth: 0,
                slowdown: faults.slowdown(INFO_HOST),
                active: 0,
                peak: 0,
                bytes: 0,
                fragments: 0,
            });
        }
        let server_index = servers
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        let scheduler = Scheduler::new(&config.download);
        let agents = (0..config.agents)
            .map(|_| Agent {
                scheduler: scheduler.clone(),
                jobs: Vec::new(),
                history: Vec::new(),
                done: 0,
                transfer: None,
                due: None,
            })
            .collect();
        let mut job_config = JobConfig {
            style: config.result_style,
            ..JobConfig::default()
        };
        job_config.execution_timeout = config.download.execution_timeout;
        let count = fleet.packages.len();
        let all_done = if count == 64 {
            u64::MAX
        } else {
            (1u64 << count) - 1
        };
        Self {
            fleet,
            transport,
            executor,
            clock,
            agents,
            heap: RadixHeap::new(),
            infos: BTreeMap::new(),
            rng: Rng::new(config.seed, STREAM),
            job_config,
            all_done,
            finished: 0,
            servers,
            server_index,
            report: FleetReport::new(fleet),
            end: config.start,
        }
    }

    fn push(&mut self, at: Timestamp, agent: u32, kind: Kind) {
        let key = u128::from(at.as_millis()) << 64 | u128::from(agent) << 8 | kind as u128;
        self.heap.push(key);
    }

    fn trace(&mut self, agent: u32, at: Timestamp, event: TraceEvent) {
        if self.fleet.config.trace_agent == Some(agent) {
            self.report.trace.push((at, event));
        }
    }

    fn jitter(&mut self, max: Duration) -> Duration {
        let ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(self.rng.below(ms))
    }

    async fn run(&mut self) {
        let config = &self.fleet.config;
        let start = config.start;
        let within = config.first_contact_within;
        let horizon = start.saturating_add(config.horizon);
        // The first contacts, drawn, then given to the agents in order: agent `i` makes
        // the `i`-th. Agents busy at the same time then sit side by side in memory, which
        // keeps a 100 000-agent run in the processor's caches.
        let mut firsts: Vec<Duration> = (0..config.agents).map(|_| self.jitter(within)).collect();
        firsts.sort_unstable();
        for (i, first) in (0..config.agents).zip(firsts) {
            self.push(start.saturating_add(first), i, Kind::Contact);
        }
        while let Some(key) = self.heap.pop() {
            let now = Timestamp::from_millis(u64::try_from(key >> 64).unwrap_or(u64::MAX));
            let agent = u32::try_from((key >> 8) & u128::from(u32::MAX)).unwrap_or(u32::MAX);
            let kind = match key & 0xFF {
                0 => Kind::Contact,
                1 => Kind::Poll,
                _ => Kind::TransferDone,
            };
            if now > horizon {
                break;
            }
            self.end = now;
            self.report.events += 1;
            match kind {
                Kind::Contact => {
                    self.contact(agent, now).await;
                    self.poll(agent, now).await;
                }
                Kind::Poll => self.poll(agent, now).await,
                Kind::TransferDone => {
                    self.transfer_done(agent, now);
                    self.poll(agent, now).await;
                }
            }
            if self.finished == config.agents {
                break;
            }
        }
    }

    fn into_report(mut self) -> FleetReport {
        self.report.end = self.end;
        self.report.finished_agents = self.finished;
        let mut servers: Vec<ServerReport> = self
            .servers
            .iter()
            .map(|s| ServerReport {
                name: s.name.clone(),
                bandwidth: s.bandwidth,
                bytes_served: s.bytes,
                fragments_served: s.fragments,
                peak_concurrent: s.peak,
            })
            .collect();
        servers.sort_by(|a, b| a.name.cmp(&b.name));
        self.report.servers = servers;
        for p in &mut self.report.packages {
            p.completions.sort_unstable();
        }
        self.report
    }

    fn index_of(&self, package: PackageId) -> Option<usize> {
        self.fleet.packages.iter().position(|&p| p == package)
    }

    async fn fetch_all(&self, url: &str) -> Result<Vec<u8>, FetchFailed> {
        let mut stream = self.transport.get(url).await.map_err(|_| FetchFailed)?;
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.map_err(|_| FetchFailed)?);
        }
        Ok(out)
    }

    /// A contact, as `ocs-deploy-agent`'s runtime makes it.
    async fn contact(&mut self, i: u32, now: Timestamp) {
        self.clock.set(now);
        self.trace(i, now, TraceEvent::Contact);
        self.report_pending(i, now).await;
        let device = device_of(i);
        let reply = match self
            .transport
            .post(&Request::Prolog {
                device_id: device.clone(),
            })
            .await
        {
            Ok(body) => PrologReply::decode(&body).ok(),
            Err(_) => None,
        };
        let Some(reply) = reply else {
            self.report.failed_contacts += 1;
            self.trace(i, now, TraceEvent::ContactFailed);
            return;
        };
        let history = self.agents[i as usize].history.clone();
        if reply.response == PrologResponse::Send {
            // The OCS agents send an inventory (with the history) when the server asks;
            // a failed one is only logged.
            let inventory = Request::Inventory {
                device_id: device,
                hardware: hardware_of(i),
                history: Some(
                    history
                        .iter()
                        .map(|&id| HistoryEntry::Package(id))
                        .collect(),
                ),
            };
            let _ = self.transport.post(&inventory).await;
        }
        let Some(option) = reply.download else {
            return;
        };
        let agent = &mut self.agents[i as usize];
        agent.scheduler.reconfigure(&option.config);
        if !option.config.enabled {
            return;
        }
        for notice in option.packages {
            let id = notice.id;
            if self.agents[i as usize].jobs.iter().any(|j| j.id() == id) {
                continue;
            }
            let mut job = Job::new(notice, history.contains(&id), self.job_config.clone());
            if let Some(Task::FetchInfo { url }) = job.step(now) {
                let fetched = self.fetch_all(&url).await.map(Bytes::from);
                job = self.info_fetched(job, fetched, now);
            }
            self.trace(i, now, TraceEvent::Offered(id));
            let jobs = &mut self.agents[i as usize].jobs;
            let at = jobs.partition_point(|j| j.id() < id);
            jobs.insert(at, job);
        }
        self.report_pending(i, now).await;
        let agent = &mut self.agents[i as usize];
        for job in &agent.jobs {
            if let (Some(info), Some(since)) = (job.info(), job.since())
                && matches!(job.stage(), Stage::Downloading | Stage::Ready)
            {
                agent.scheduler.add(job.id(), info.priority, since);
                agent.scheduler.hold_until(job.id(), job.not_before());
            }
        }
    }

    /// [`Job::info_fetched`], parsing each distinct info file once: a job given bytes
    /// already parsed for the same package is restored from the snapshot `info_fetched`
    /// would have made (info kept, `since` now, no fragment, downloading). Parsing the
    /// same file for each of 100 000 agents would cost more than the rest of a contact.
    fn info_fetched(
        &mut self,
        mut job: Job,
        fetched: Result<Bytes, FetchFailed>,
        now: Timestamp,
    ) -> Job {
        let id = job.id();
        if let Ok(bytes) = &fetched
            && let Some((package, info)) = self.infos.get(bytes)
            && *package == id
        {
            let mut snapshot = job.snapshot();
            snapshot.info = Some(info.clone());
            snapshot.since = Some(snapshot.since.unwrap_or(now));
            snapshot.failures = 0;
            snapshot.stage = Stage::Downloading;
            return Job::restore(snapshot, self.job_config.clone());
        }
        job.info_fetched(fetched.as_deref().map_err(|&e| e), now);
        if let (Ok(bytes), Some(info)) = (fetched, job.info()) {
            self.infos.insert(bytes, (id, info.clone()));
        }
        job
    }

    /// Delivers every result waiting.
    async fn report_pending(&mut self, i: u32, now: Timestamp) {
        let waiting: Vec<PackageId> = self.agents[i as usize]
            .jobs
            .iter()
            .filter(|j| matches!(j.stage(), Stage::Result(_)))
            .map(Job::id)
            .collect();
        for id in waiting {
            self.report(i, id, now).await;
        }
    }

    /// Sends a job's result; once delivered the job ends.
    async fn report(&mut self, i: u32, id: PackageId, now: Timestamp) {
        let agent = &mut self.agents[i as usize];
        let Some(pos) = agent.jobs.iter().position(|j| j.id() == id) else {
            return;
        };
        let Stage::Result(status) = agent.jobs[pos].stage().clone() else {
            return;
        };
        self.clock.set(now);
        let request = Request::DownloadResult {
            device_id: device_of(i),
            package_id: id,
            status: status.clone(),
        };
        let delivered = self.transport.post(&request).await.is_ok();
        self.trace(
            i,
            now,
            TraceEvent::Report {
                package: id,
                status: status.to_string(),
                delivered,
            },
        );
        let agent = &mut self.agents[i as usize];
        let job = &mut agent.jobs[pos];
        job.reported(delivered);
        if !delivered {
            self.report.undelivered_results += 1;
            return;
        }
        if job.adds_to_history() {
            agent.history.push(id);
        }
        agent.jobs.remove(pos);
        agent.scheduler.remove(id);
        if let Some(n) = self.index_of(id) {
            let agent = &mut self.agents[i as usize];
            let bit = 1u64 << n;
            if agent.done & bit == 0 {
                agent.done |= bit;
                let elapsed = now.duration_since(self.fleet.config.start);
                let p = &mut self.report.packages[n];
                p.completions
                    .push(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
                *p.statuses.entry(status.to_string()).or_default() += 1;
                if agent.done == self.all_done {
                    self.finished += 1;
                }
            }
        }
    }

    /// Runs the schedule from `now` until it waits for a transfer or is idle.
    ///
    /// Pauses cost no event: the scheduler is polled again at the pause's end at once,
    /// since nothing but the agent's own events touches its state. Only what the agent
    /// does with the outside world (a step, a timeout's report) waits in the heap for
    /// its time, so the service sees every call in time order.
    async fn poll(&mut self, i: u32, now: Timestamp) {
        if self.agents[i as usize].transfer.is_some() {
            return;
        }
        // A decision the scheduler made ahead of time, due now.
        let mut next = self.agents[i as usize].due.take();
        let mut at = now;
        loop {
            let decided = if let Some(d) = next.take() {
                d
            } else {
                let agent = &mut self.agents[i as usize];
                let period = agent.scheduler.period();
                let decided = agent.scheduler.poll(at);
                let new_period = agent.scheduler.period();
                if new_period != period {
                    self.trace(i, at, TraceEvent::NewPeriod(new_period));
                }
                match decided {
                    Next::Sleep { until, latency } => {
                        self.trace(i, at, TraceEvent::Sleep(latency));
                        at = until.max(at);
                        continue;
                    }
                    Next::Step(id) => Due::Step(id),
                    Next::TimedOut(id) => Due::TimedOut(id),
                    Next::InProgress(_) => return,
                    Next::Idle => {
                        self.trace(i, at, TraceEvent::Idle);
                        if self.agents[i as usize].done != self.all_done {
                            let wait = self.fleet.config.contact_every
                                + self.jitter(self.fleet.config.contact_jitter);
                            self.push(at.saturating_add(wait), i, Kind::Contact);
                        }
                        return;
                    }
                }
            };
            if at > now {
                // Later than this event: wait for its turn.
                self.agents[i as usize].due = Some(decided);
                self.push(at, i, Kind::Poll);
                return;
            }
            match decided {
                Due::Step(id) => match self.step(i, id, at).await {
                    StepEnd::At(t) => {
                        self.agents[i as usize].scheduler.step_done(id, t);
                        at = t;
                        if t > now {
                            self.push(t, i, Kind::Poll);
                            return;
                        }
                    }
                    StepEnd::Transfer(t) => {
                        self.push(t, i, Kind::TransferDone);
                        return;
                    }
                },
                Due::TimedOut(id) => {
                    if let Some(job) = self.agents[i as usize]
                        .jobs
                        .iter_mut()
                        .find(|j| j.id() == id)
                    {
                        job.time_out();
                    }
                    self.report(i, id, at).await;
                }
            }
        }
    }

    /// One scheduler step of one package.
    async fn step(&mut self, i: u32, id: PackageId, now: Timestamp) -> StepEnd {
        let Some(pos) = self.agents[i as usize]
            .jobs
            .iter()
            .position(|j| j.id() == id)
        else {
            self.agents[i as usize].scheduler.remove(id);
            return StepEnd::At(now);
        };
        let mut t = now;
        let mut task = self.agents[i as usize].jobs[pos].step(now);
        while let Some(current) = task.take() {
            task = match current {
                Task::FetchFragment { fragment, url } => {
                    self.trace(
                        i,
                        t,
                        TraceEvent::Fetch {
                            package: id,
                            fragment,
                        },
                    );
                    return self.fetch_fragment(i, pos, fragment, &url, t).await;
                }
                Task::Wait { until } => {
                    self.agents[i as usize]
                        .scheduler
                        .hold_until(id, Some(until));
                    None
                }
                Task::Build => {
                    self.trace(i, t, TraceEvent::Build(id));
                    self.agents[i as usize].jobs[pos].built(Ok::<(), BuildError>(()))
                }
                Task::Install(plan) => {
                    self.trace(i, t, TraceEvent::Install(id));
                    self.clock.set(t);
                    let outcome = self.executor.install(id, &plan).await;
                    t = self.clock.now().max(t);
                    self.agents[i as usize].jobs[pos].installed(outcome, t)
                }
                Task::Report(_) => {
                    self.report(i, id, t).await;
                    None
                }
                Task::FetchInfo { .. } => None,
            };
        }
        self.after_step(i, id);
        StepEnd::At(t)
    }

    /// Takes a package off the schedule once its job no longer downloads.
    fn after_step(&mut self, i: u32, id: PackageId) {
        let agent = &mut self.agents[i as usize];
        let active = agent
            .jobs
            .iter()
            .find(|j| j.id() == id)
            .is_some_and(|j| matches!(j.stage(), Stage::Downloading | Stage::Ready));
        if !active {
            agent.scheduler.remove(id);
        }
    }

    async fn fetch_fragment(
        &mut self,
        i: u32,
        pos: usize,
        fragment: u32,
        url: &str,
        now: Timestamp,
    ) -> StepEnd {
        self.clock.set(now);
        let receiver = self.agents[i as usize].jobs[pos].receiver(fragment);
        let result = match self.transport.get(url).await {
            Ok(mut stream) => {
                let mut receiver = receiver;
                let mut ok = true;
                while let Some(chunk) = stream.next().await {
                    let Ok(bytes) = chunk else {
                        ok = false;
                        break;
                    };
                    receiver.push(&bytes);
                }
                if ok {
                    Ok(receiver.finish())
                } else {
                    Err(FetchFailed)
                }
            }
            Err(_) => Err(FetchFailed),
        };
        let host = url_host(url);
        let server = if let Some(&s) = self.server_index.get(host) {
            s
        } else {
            self.servers.push(ServerState {
                name: host.to_owned(),
                bandwidth: 0,
                slowdown: self.fleet.config.faults.slowdown(host),
                active: 0,
                peak: 0,
                bytes: 0,
                fragments: 0,
            });
            self.server_index
                .insert(host.to_owned(), self.servers.len() - 1);
            self.servers.len() - 1
        };
        let s = &mut self.servers[server];
        let bytes = result.as_ref().map_or(0, Receipt::len);
        let duration = if bytes == 0 || s.bandwidth == 0 {
            Duration::ZERO
        } else {
            let concurrent = f64::from(s.active + 1);
            #[allow(clippy::cast_precision_loss)] // sizes far below 2^52
            let secs = bytes as f64 * concurrent / s.bandwidth as f64 * s.slowdown;
            Duration::from_secs_f64(secs.max(0.0))
        };
        if result.is_ok() {
            s.bytes += bytes;
            s.fragments += 1;
        } else {
            self.report.failed_fetches += 1;
        }
        let package = self.agents[i as usize].jobs[pos].id();
        if duration.is_zero() {
            s.peak = s.peak.max(1);
            let _verdict = self.agents[i as usize].jobs[pos].fragment_fetched(result);
            self.after_step(i, package);
            return StepEnd::At(now);
        }
        s.active += 1;
        s.peak = s.peak.max(s.active);
        self.agents[i as usize].transfer = Some(Box::new(Transfer {
            package,
            server,
            result,
        }));
        StepEnd::Transfer(now.saturating_add(duration))
    }

    fn transfer_done(&mut self, i: u32, now: Timestamp) {
        let Some(transfer) = self.agents[i as usize].transfer.take() else {
            return;
        };
        let s = &mut self.servers[transfer.server];
        s.active = s.active.saturating_sub(1);
        let agent = &mut self.agents[i as usize];
        if let Some(job) = agent.jobs.iter_mut().find(|j| j.id() == transfer.package) {
            let _verdict = job.fragment_fetched(transfer.result);
        }
        self.after_step(i, transfer.package);
        self.agents[i as usize]
            .scheduler
            .step_done(transfer.package, now);
    }
}

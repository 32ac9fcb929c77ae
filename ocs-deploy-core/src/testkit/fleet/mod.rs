//! The fleet simulator: thousands of agents, each running the real
//! [`Scheduler`](crate::schedule::Scheduler) and [`Job`](crate::agent::Job) state machines,
//! against the real [`DeploymentService`] over any
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
//!   100 000 agents would not fit in memory. [`Job::built`](crate::agent::Job::built) is told the build succeeded.
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
mod sim;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

pub use report::{FleetReport, PackageReport, ServerReport, TraceEvent};
use sim::Sim;

use super::rng::Rng;
use super::{Faults, FaultyTransport, LoopbackTransport, Script, ScriptedExecutor, VirtualClock};
use crate::agent::{Executor, ResultStyle, Transport};
use crate::fragment::FragmentPlan;
use crate::protocol::{DeviceId, DownloadConfig, Hardware, Request};
use crate::service::{AffectTarget, BuildRequest, DeploymentService, ServiceError};
use crate::store::{AffectOptions, ComputerFilter, Setting, SettingScope, TextMatch};
use crate::{Action, PackageId, Priority, Timestamp};

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

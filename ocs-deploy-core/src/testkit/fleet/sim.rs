//! The discrete-event loop: agents, their events, and what each event does.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;

use super::queue::RadixHeap;
use super::{
    Fleet, FleetReport, INFO_HOST, STREAM, ServerReport, TraceEvent, device_of, hardware_of,
};
use crate::agent::{
    BuildError, Executor, FetchFailed, Job, JobConfig, Receipt, Stage, Task, Transport,
};
use crate::protocol::{HistoryEntry, PrologReply, PrologResponse, Request};
use crate::schedule::{Next, Scheduler};
use crate::testkit::VirtualClock;
use crate::testkit::faults::url_host;
use crate::testkit::rng::Rng;
use crate::{PackageId, PackageInfo, Timestamp};

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

pub(super) struct Sim<'a> {
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
    pub(super) fn new(
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

    pub(super) async fn run(&mut self) {
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

    pub(super) fn into_report(mut self) -> FleetReport {
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

//! The OCS download schedule, as a sans-IO state machine.
//!
//! The agents download in *periods* of `PERIOD_LENGTH` *cycles*, numbered from 1. In cycle
//! `i`, every pending package of priority `p > 0` with `i % p == 0` gets one *step* (its
//! next fragment, or, once every fragment is there, its build and run); `FRAG_LATENCY` is
//! waited after each step, `CYCLE_LATENCY` after each cycle and `PERIOD_LATENCY` after each
//! period. While a priority-0 package is pending, each cycle serves only the priority-0
//! packages and skips the cycle latency: the others wait (OCS behaviour, kept, and made
//! observable through [`Scheduler::blocked`] and a warning). A priority above
//! `PERIOD_LENGTH` is never served. At the start of each period a package pending for more
//! than `TIMEOUT` days ends with `ERR_TIMEOUT`, and the work stops when nothing is pending.
//! Inside a cycle, packages are served by priority then id (Perl's hash order in the Unix
//! agent; deterministic here).
//!
//! The [`Scheduler`] does no I/O and reads no clock: the driver asks it what to do at the
//! current time ([`Scheduler::poll`]), does it, and reports back. The same code runs in the
//! agent (with tokio and the wall clock) and in the fleet simulator (in virtual time).
//!
//! # Example
//!
//! The real Unix agent's observed trace: one package of priority 5 with two fragments
//! (three steps: two fragments, then build and run), ten cycles a period.
//!
//! ```
//! use std::time::Duration;
//! use ocs_deploy_core::protocol::DownloadConfig;
//! use ocs_deploy_core::schedule::{Next, Scheduler};
//! use ocs_deploy_core::{PackageId, Priority, Timestamp};
//!
//! let config = DownloadConfig {
//!     fragment_latency: Duration::from_secs(10),
//!     cycle_latency: Duration::from_secs(60),
//!     period_latency: Duration::from_secs(1),
//!     period_length: 10,
//!     ..DownloadConfig::default()
//! };
//! let id = PackageId::new(1_700_000_000)?;
//! let mut now = Timestamp::from_secs(0);
//! let mut scheduler = Scheduler::new(&config);
//! scheduler.add(id, Priority::new(5)?, now);
//!
//! let mut steps = Vec::new();
//! loop {
//!     match scheduler.poll(now) {
//!         Next::Step(package) => {
//!             steps.push((scheduler.period(), scheduler.cycle()));
//!             if steps.len() == 3 {
//!                 scheduler.remove(package); // built and run: done
//!             }
//!             scheduler.step_done(package, now);
//!         }
//!         Next::Sleep { until, .. } => now = until,
//!         Next::Idle => break,
//!         other => panic!("unexpected {other:?}"),
//!     }
//! }
//! // Fragment 1 in cycle 5, fragment 2 in cycle 10, build and run in cycle 5 of period 2.
//! assert_eq!(steps, vec![(1, 5), (1, 10), (2, 5)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::protocol::DownloadConfig;
use crate::{PackageId, Priority, Timestamp};

/// Seconds in a day, for `TIMEOUT`.
const DAY: u64 = 86_400;

/// Which pause a [`Next::Sleep`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Latency {
    /// `FRAG_LATENCY`, after a step.
    Fragment,
    /// `CYCLE_LATENCY`, after a cycle.
    Cycle,
    /// `PERIOD_LATENCY`, after a period.
    Period,
}

/// What the driver should do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Take one step of this package (its next fragment, or its build and run), then call
    /// [`Scheduler::step_done`] (and [`Scheduler::remove`] if the package has ended).
    Step(PackageId),
    /// This package has been pending for more than `TIMEOUT` days: it ends with
    /// `ERR_TIMEOUT`. The scheduler has already dropped it.
    TimedOut(PackageId),
    /// Wait until this time, then poll again (a zero latency gives `until == now`, so a
    /// driver can log every pause as the OCS agents do).
    Sleep {
        /// When to poll again.
        until: Timestamp,
        /// Which pause this is.
        latency: Latency,
    },
    /// A step is under way: report it with [`Scheduler::step_done`] first.
    InProgress(PackageId),
    /// Nothing is pending: the work is over (the OCS agents exit). Adding a package
    /// starts a new period.
    Idle,
}

/// One pending package.
#[derive(Debug, Clone, Copy)]
struct Pending {
    priority: Priority,
    since: Timestamp,
    not_before: Option<Timestamp>,
}

/// Where the scheduler is in its loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// Serve the next package of the cycle's queue.
    Serve,
    /// Start the next cycle (or end the period).
    NextCycle,
    /// Start a new period.
    NewPeriod,
}

/// The download schedule of one agent. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Scheduler {
    fragment_latency: Duration,
    cycle_latency: Duration,
    period_latency: Duration,
    period_length: u32,
    timeout: Duration,
    packages: BTreeMap<PackageId, Pending>,
    /// Periods started so far (the current one's number, from 1).
    period: u64,
    /// The current cycle, from 1; 0 before the first period.
    cycle: u32,
    /// Packages still to serve in this cycle, in order.
    queue: VecDeque<PackageId>,
    /// Whether this cycle serves priority-0 packages only.
    exclusive: bool,
    /// Non-zero packages held back in the current cycle by priority 0.
    blocked: Vec<PackageId>,
    in_step: Option<PackageId>,
    /// The current pause, and whether [`Next::Sleep`] has told the driver of it.
    sleep: Option<(Timestamp, Latency, bool)>,
    after: After,
    warned_period: u64,
}

impl Scheduler {
    /// A scheduler with the latencies, period length and timeout of a PROLOG reply's
    /// `DOWNLOAD` configuration, and no package.
    pub fn new(config: &DownloadConfig) -> Self {
        Self {
            fragment_latency: config.fragment_latency,
            cycle_latency: config.cycle_latency,
            period_latency: config.period_latency,
            period_length: config.period_length,
            timeout: Duration::from_secs(u64::from(config.timeout_days) * DAY),
            packages: BTreeMap::new(),
            period: 0,
            cycle: 0,
            queue: VecDeque::new(),
            exclusive: false,
            blocked: Vec::new(),
            in_step: None,
            sleep: None,
            after: After::NewPeriod,
            warned_period: 0,
        }
    }

    /// Takes the latencies, period length and timeout of a new configuration (a later
    /// PROLOG). The current pause keeps its end; the next ones use the new values.
    pub fn reconfigure(&mut self, config: &DownloadConfig) {
        self.fragment_latency = config.fragment_latency;
        self.cycle_latency = config.cycle_latency;
        self.period_latency = config.period_latency;
        self.period_length = config.period_length;
        self.timeout = Duration::from_secs(u64::from(config.timeout_days) * DAY);
    }

    /// Adds a pending package; `since` is when it became pending (its info file was
    /// fetched), from which `TIMEOUT` counts. Adding a package already there changes its
    /// priority and keeps its `since`. It is served from the next cycle on.
    pub fn add(&mut self, id: PackageId, priority: Priority, since: Timestamp) {
        self.packages
            .entry(id)
            .and_modify(|p| p.priority = priority)
            .or_insert(Pending {
                priority,
                since,
                not_before: None,
            });
    }

    /// Holds a package back until a time (its `SCHEDULE`): it is not served, and does not
    /// block others even at priority 0, before then. `None` lifts the hold.
    pub fn hold_until(&mut self, id: PackageId, not_before: Option<Timestamp>) {
        if let Some(p) = self.packages.get_mut(&id) {
            p.not_before = not_before;
        }
    }

    /// Removes a package that has ended (success, error, or given up). Returns whether it
    /// was pending.
    pub fn remove(&mut self, id: PackageId) -> bool {
        self.queue.retain(|&q| q != id);
        self.packages.remove(&id).is_some()
    }

    /// Whether a package is pending.
    pub fn contains(&self, id: PackageId) -> bool {
        self.packages.contains_key(&id)
    }

    /// The pending packages, by id.
    pub fn pending(&self) -> impl Iterator<Item = PackageId> + '_ {
        self.packages.keys().copied()
    }

    /// The current period's number (from 1; 0 before the first).
    pub fn period(&self) -> u64 {
        self.period
    }

    /// The current cycle's number in its period (from 1; 0 before the first period).
    pub fn cycle(&self) -> u32 {
        self.cycle
    }

    /// Packages of priority above 0 that the current cycle holds back because a
    /// priority-0 package is pending (empty when nothing is blocked). A priority-0 package
    /// that keeps failing blocks every other deployment: this is OCS behaviour.
    pub fn blocked(&self) -> &[PackageId] {
        &self.blocked
    }

    /// Pending packages whose priority is above `PERIOD_LENGTH`: no cycle ever serves
    /// them, so they end with `ERR_TIMEOUT` (as with OCS).
    pub fn never_served(&self) -> Vec<PackageId> {
        self.packages
            .iter()
            .filter(|(_, p)| u32::from(p.priority.get()) > self.period_length)
            .map(|(&id, _)| id)
            .collect()
    }

    /// Reports the end of the step [`Next::Step`] asked for; `FRAG_LATENCY` follows.
    /// A report for another package (or none asked) is ignored.
    pub fn step_done(&mut self, id: PackageId, now: Timestamp) {
        if self.in_step == Some(id) {
            self.in_step = None;
            self.sleep = Some((
                now.saturating_add(self.fragment_latency),
                Latency::Fragment,
                false,
            ));
            self.after = After::Serve;
        }
    }

    /// What to do at `now`.
    pub fn poll(&mut self, now: Timestamp) -> Next {
        if let Some(id) = self.in_step {
            return Next::InProgress(id);
        }
        if let Some((until, latency, told)) = self.sleep {
            if now < until || !told {
                self.sleep = Some((until, latency, true));
                return Next::Sleep { until, latency };
            }
            self.sleep = None;
        }
        loop {
            match self.after {
                After::NewPeriod => {
                    if let Some(id) = self.expired(now) {
                        self.packages.remove(&id);
                        tracing::info!(package_id = %id, "package timed out");
                        return Next::TimedOut(id);
                    }
                    if self.packages.is_empty() {
                        self.cycle = 0;
                        return Next::Idle;
                    }
                    if self.period_length == 0 {
                        // No cycle at all: nothing is served until the packages time out.
                        let pause = self.period_latency.max(Duration::from_secs(1));
                        return self.pause(now, pause, Latency::Period);
                    }
                    self.period += 1;
                    self.cycle = 1;
                    self.fill_queue(now);
                    self.after = After::Serve;
                }
                After::Serve => {
                    if let Some(id) = self.queue.pop_front() {
                        self.in_step = Some(id);
                        return Next::Step(id);
                    }
                    self.after = After::NextCycle;
                    if !self.exclusive {
                        return self.pause(now, self.cycle_latency, Latency::Cycle);
                    }
                }
                After::NextCycle => {
                    if self.cycle >= self.period_length {
                        self.after = After::NewPeriod;
                        return self.pause(now, self.period_latency, Latency::Period);
                    }
                    self.cycle += 1;
                    self.fill_queue(now);
                    self.after = After::Serve;
                }
            }
        }
    }

    fn pause(&mut self, now: Timestamp, latency: Duration, which: Latency) -> Next {
        let until = now.saturating_add(latency);
        self.sleep = Some((until, which, true));
        Next::Sleep {
            until,
            latency: which,
        }
    }

    /// The first package pending for more than `TIMEOUT`.
    fn expired(&self, now: Timestamp) -> Option<PackageId> {
        self.packages
            .iter()
            .find(|(_, p)| now.duration_since(p.since) > self.timeout)
            .map(|(&id, _)| id)
    }

    /// The packages the current cycle serves, by priority then id.
    fn fill_queue(&mut self, now: Timestamp) {
        let cycle = self.cycle;
        let ready = |p: &Pending| p.not_before.is_none_or(|t| t <= now);
        let mut exclusive: Vec<PackageId> = self
            .packages
            .iter()
            .filter(|(_, p)| p.priority.is_exclusive() && ready(p))
            .map(|(&id, _)| id)
            .collect();
        self.blocked.clear();
        self.exclusive = !exclusive.is_empty();
        if self.exclusive {
            self.blocked = self
                .packages
                .iter()
                .filter(|(_, p)| !p.priority.is_exclusive())
                .map(|(&id, _)| id)
                .collect();
            if !self.blocked.is_empty() && self.warned_period != self.period {
                self.warned_period = self.period;
                tracing::warn!(
                    blocking = ?exclusive,
                    blocked = ?self.blocked,
                    "priority-0 packages are pending: no other package is served until they end"
                );
            }
            self.queue = exclusive.drain(..).collect();
            return;
        }
        let mut due: Vec<(Priority, PackageId)> = self
            .packages
            .iter()
            .filter(|(_, p)| {
                let pri = u32::from(p.priority.get());
                pri > 0 && cycle.is_multiple_of(pri) && ready(p)
            })
            .map(|(&id, p)| (p.priority, id))
            .collect();
        due.sort_unstable();
        self.queue = due.into_iter().map(|(_, id)| id).collect();
    }
}

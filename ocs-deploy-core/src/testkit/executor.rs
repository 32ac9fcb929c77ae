//! [`ScriptedExecutor`]: installs that do what a test says, in virtual time.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::VirtualClock;
use super::rng::Rng;
use crate::PackageId;
use crate::agent::{Executor, InstallOutcome, InstallPlan};

/// What one package's installs do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Script {
    /// The outcome of an install that does not fail.
    pub outcome: InstallOutcome,
    /// How long an install takes, in virtual time.
    pub duration: Duration,
    /// The probability that an install fails instead, from 0 to 1.
    pub failure_rate: f64,
    /// The outcome of a failed install.
    pub failure: InstallOutcome,
}

impl Default for Script {
    /// Exit code 0 at once, never failing.
    fn default() -> Self {
        Self::exit(0)
    }
}

impl Script {
    /// Exits with `code` at once, never failing.
    ///
    /// ```
    /// use ocs_deploy_core::agent::InstallOutcome;
    /// use ocs_deploy_core::testkit::Script;
    ///
    /// assert_eq!(Script::exit(3).outcome, InstallOutcome::Exited(3));
    /// ```
    pub fn exit(code: i32) -> Self {
        Self::outcome(InstallOutcome::Exited(code))
    }

    /// Ends with `outcome` at once (e.g. [`InstallOutcome::StartFailed`]), never failing.
    pub fn outcome(outcome: InstallOutcome) -> Self {
        Self {
            outcome,
            duration: Duration::ZERO,
            failure_rate: 0.0,
            failure: InstallOutcome::StartFailed,
        }
    }

    /// The same, taking `duration` of virtual time.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ocs_deploy_core::testkit::Script;
    ///
    /// assert_eq!(Script::exit(0).taking(Duration::from_secs(30)).duration.as_secs(), 30);
    /// ```
    #[must_use]
    pub fn taking(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    /// The same, but a share `rate` (0 to 1) of installs ends with `failure` instead,
    /// drawn from the executor's seed.
    ///
    /// ```
    /// use ocs_deploy_core::agent::InstallOutcome;
    /// use ocs_deploy_core::testkit::Script;
    ///
    /// let s = Script::exit(0).failing(0.1, InstallOutcome::Exited(1));
    /// assert_eq!(s.failure, InstallOutcome::Exited(1));
    /// ```
    #[must_use]
    pub fn failing(mut self, rate: f64, failure: InstallOutcome) -> Self {
        self.failure_rate = rate.clamp(0.0, 1.0);
        self.failure = failure;
        self
    }
}

/// An [`Executor`] that runs nothing: each package's install ends as its [`Script`] says
/// (exit code, duration in virtual time, failure rate), with randomness from one seed.
/// With a [`VirtualClock`], an install moves the clock forward by its duration, which is
/// how the fleet simulator learns how long it took.
///
/// ```
/// use std::time::Duration;
/// use ocs_deploy_core::agent::{Executor, InstallOutcome, InstallPlan};
/// use ocs_deploy_core::testkit::{Script, ScriptedExecutor, VirtualClock};
/// use ocs_deploy_core::{Action, PackageId, Timestamp};
///
/// let clock = VirtualClock::new(Timestamp::from_secs(0));
/// let bad = PackageId::new(1_700_000_001)?;
/// let executor = ScriptedExecutor::new(42)
///     .with_clock(clock.clone())
///     .default_script(Script::exit(0).taking(Duration::from_secs(20)))
///     .script(bad, Script::outcome(InstallOutcome::StartFailed));
/// let plan = InstallPlan {
///     id: bad,
///     action: Action::Execute { command: "true".into() },
///     has_file: false,
///     archive: None,
///     size: None,
///     notification: None,
///     done_action: None,
///     post_command: None,
///     execution_timeout: Duration::from_secs(60),
/// };
/// # futures::executor::block_on(async {
/// assert_eq!(executor.install(bad, &plan).await, InstallOutcome::StartFailed);
/// let good = PackageId::new(1_700_000_002)?;
/// assert_eq!(executor.install(good, &plan).await, InstallOutcome::Exited(0));
/// assert_eq!(clock.now(), Timestamp::from_secs(20));
/// assert_eq!(executor.runs(good), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ScriptedExecutor {
    default: Script,
    scripts: BTreeMap<PackageId, Script>,
    clock: Option<VirtualClock>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    rng: Rng,
    runs: BTreeMap<PackageId, u64>,
}

/// The random stream of executors, apart from the transport's and the fleet's.
const STREAM: u64 = 3;

impl ScriptedExecutor {
    /// An executor whose installs all exit with 0 at once; `seed` drives failure rates.
    pub fn new(seed: u64) -> Self {
        Self {
            default: Script::default(),
            scripts: BTreeMap::new(),
            clock: None,
            state: Mutex::new(State {
                rng: Rng::new(seed, STREAM),
                runs: BTreeMap::new(),
            }),
        }
    }

    /// Installs advance `clock` by their duration.
    #[must_use]
    pub fn with_clock(mut self, clock: VirtualClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The script of packages without their own.
    #[must_use]
    pub fn default_script(mut self, script: Script) -> Self {
        self.default = script;
        self
    }

    /// The script of one package.
    #[must_use]
    pub fn script(mut self, package: PackageId, script: Script) -> Self {
        self.scripts.insert(package, script);
        self
    }

    /// How many installs of `package` ran.
    pub fn runs(&self, package: PackageId) -> u64 {
        self.lock().runs.get(&package).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl Executor for ScriptedExecutor {
    async fn install(&self, package: PackageId, _plan: &InstallPlan) -> InstallOutcome {
        let script = self.scripts.get(&package).unwrap_or(&self.default);
        let failed = {
            let mut state = self.lock();
            *state.runs.entry(package).or_default() += 1;
            state.rng.chance(script.failure_rate)
        };
        if let Some(clock) = &self.clock {
            clock.advance(script.duration);
        }
        if failed {
            script.failure
        } else {
            script.outcome
        }
    }
}

//! [`EndpointConfig`]: the limits and policies of the OCS communication endpoint.

use core::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ocs_deploy_core::Timestamp;

/// Where the endpoint reads the time it hands to the deployment service.
///
/// [`Clock::system`] (the default) reads the wall clock; tests pass a fixed or virtual
/// time with [`Clock::from_fn`].
///
/// ```
/// use ocs_deploy_core::Timestamp;
/// use ocs_deploy_http::server::Clock;
///
/// let fixed = Clock::from_fn(|| Timestamp::from_secs(1_700_000_000));
/// assert_eq!(fixed.now(), Timestamp::from_secs(1_700_000_000));
/// assert!(Clock::system().now() > Timestamp::from_secs(1_700_000_000));
/// ```
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> Timestamp + Send + Sync>);

impl Clock {
    /// The system's wall clock (a clock before 1970 reads as the epoch).
    pub fn system() -> Self {
        Self(Arc::new(system_now))
    }

    /// A clock that calls `now` each time.
    pub fn from_fn(now: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        (self.0)()
    }
}

impl Default for Clock {
    /// [`Clock::system`].
    fn default() -> Self {
        Self::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Clock").field(&self.now()).finish()
    }
}

fn system_now() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Timestamp::from_millis(millis)
}

/// How the OCS communication endpoint ([`ocs_router`](super::ocs_router)) bounds and
/// filters requests.
///
/// ```
/// use ocs_deploy_core::Timestamp;
/// use ocs_deploy_http::server::{Clock, EndpointConfig};
///
/// let config = EndpointConfig::default()
///     .with_max_body(1 << 20)
///     .with_user_agents(["OCS-NG_unified_unix_agent_", "OCS-NG_WINDOWS_AGENT_"])
///     .with_clock(Clock::from_fn(|| Timestamp::from_secs(1_700_000_000)));
/// assert_eq!(config.max_body, 1 << 20);
/// assert!(config.accepts_user_agent(Some("OCS-NG_WINDOWS_AGENT_v2.11.0.1")));
/// assert!(!config.accepts_user_agent(Some("curl/8.0")));
/// assert!(!config.accepts_user_agent(None));
/// assert!(EndpointConfig::default().accepts_user_agent(None));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EndpointConfig {
    /// The largest request body accepted, as sent (compressed), in bytes; larger ones get
    /// 413. Default [`DEFAULT_MAX_BODY`](Self::DEFAULT_MAX_BODY).
    pub max_body: usize,
    /// The largest request body accepted once decompressed, in bytes; larger ones (zip
    /// bombs included) get 413, and decompression stops at the limit. Default
    /// [`DEFAULT_MAX_DECODED`](Self::DEFAULT_MAX_DECODED).
    pub max_decoded: usize,
    /// When set, only agents whose `User-Agent` starts with one of these prefixes get a
    /// PROLOG answer; others get 400, as the OCS server answers agents it does not know.
    /// `None` (the default) accepts every agent. There is no version gate: the OCS 2.8
    /// server refuses agents newer than itself (a 2.9 Windows agent), we do not.
    pub user_agents: Option<Vec<String>>,
    /// Where the time handed to the service comes from.
    pub clock: Clock,
}

impl EndpointConfig {
    /// 8 MiB: a full inventory of a large computer, compressed, is well below.
    pub const DEFAULT_MAX_BODY: usize = 8 << 20;
    /// 64 MiB: a full inventory of a large computer, decompressed, is well below.
    pub const DEFAULT_MAX_DECODED: usize = 64 << 20;

    /// Sets [`max_body`](Self::max_body).
    #[must_use]
    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Sets [`max_decoded`](Self::max_decoded).
    #[must_use]
    pub fn with_max_decoded(mut self, bytes: usize) -> Self {
        self.max_decoded = bytes;
        self
    }

    /// Sets the [`user_agents`](Self::user_agents) allow-list of prefixes.
    #[must_use]
    pub fn with_user_agents<I, S>(mut self, prefixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.user_agents = Some(prefixes.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the [`clock`](Self::clock).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Whether a PROLOG from this `User-Agent` is answered.
    pub fn accepts_user_agent(&self, user_agent: Option<&str>) -> bool {
        match (&self.user_agents, user_agent) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(prefixes), Some(agent)) => prefixes.iter().any(|p| agent.starts_with(p)),
        }
    }
}

impl Default for EndpointConfig {
    /// 8 MiB bodies, 64 MiB decompressed, every agent, the system clock.
    fn default() -> Self {
        Self {
            max_body: Self::DEFAULT_MAX_BODY,
            max_decoded: Self::DEFAULT_MAX_DECODED,
            user_agents: None,
            clock: Clock::system(),
        }
    }
}

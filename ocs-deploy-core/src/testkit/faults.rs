//! Fault injection: [`Faults`] and the [`FaultyTransport`] that applies them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;

use super::VirtualClock;
use super::rng::Rng;
use crate::agent::{BodyStream, Transport, TransportError};
use crate::protocol::Request;
use crate::{PackageId, Timestamp};

/// A time during which a server answers nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownWindow {
    /// The download server's host name, as in the fragment URLs; `None` for the
    /// communication server (every message and every file it serves, info files
    /// included).
    pub host: Option<String>,
    /// From this time (included).
    pub from: Timestamp,
    /// Until this time (excluded).
    pub until: Timestamp,
}

impl DownWindow {
    /// Whether the window covers `at`.
    ///
    /// ```
    /// use ocs_deploy_core::testkit::DownWindow;
    /// use ocs_deploy_core::Timestamp;
    ///
    /// let w = DownWindow { host: None, from: Timestamp::from_secs(10), until: Timestamp::from_secs(20) };
    /// assert!(w.covers(Timestamp::from_secs(10)) && !w.covers(Timestamp::from_secs(20)));
    /// ```
    pub fn covers(&self, at: Timestamp) -> bool {
        self.from <= at && at < self.until
    }
}

/// What goes wrong, and how often. The default is nothing.
///
/// ```
/// use ocs_deploy_core::testkit::Faults;
///
/// let faults = Faults { fragment_loss: 0.01, fragment_corruption: 0.005, ..Faults::default() };
/// assert!(!faults.is_none() && Faults::default().is_none());
/// assert_eq!(faults.slowdown("mirror.example.com"), 1.0);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// The probability (0 to 1) that a fragment download fails (connection lost).
    pub fragment_loss: f64,
    /// The probability (0 to 1) that a fragment arrives with a wrong byte.
    pub fragment_corruption: f64,
    /// Times when a server is down.
    pub down: Vec<DownWindow>,
    /// Packages whose info file is missing (404): their agents report
    /// `ERR_DOWNLOAD_INFO`.
    pub missing_info: BTreeSet<PackageId>,
    /// Download servers (by host) that are slower than their bandwidth says, by this
    /// factor (2.0 = transfers take twice as long). The fleet simulator's bandwidth model
    /// applies it; a transport has no notion of duration.
    pub slow_servers: BTreeMap<String, f64>,
}

impl Faults {
    /// Whether anything goes wrong at all.
    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }

    /// The slowdown factor of a download server (1 when it is not slow).
    pub fn slowdown(&self, host: &str) -> f64 {
        self.slow_servers.get(host).copied().unwrap_or(1.0).max(0.0)
    }
}

/// How many faults a [`FaultyTransport`] injected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Fragment downloads failed on purpose.
    pub lost: u64,
    /// Fragments corrupted on purpose.
    pub corrupted: u64,
    /// Calls refused because a server was down.
    pub down: u64,
    /// Info files answered 404 on purpose.
    pub missing_info: u64,
}

/// A [`Transport`] wrapper that injects [`Faults`] into another one, with randomness from
/// one seed and time from a [`VirtualClock`]: fragments lost or corrupted at the given
/// rates, servers down during windows, info files missing.
///
/// Wrap your own transport in it to run the fault scenarios against your code.
///
/// ```
/// use std::collections::BTreeSet;
/// use std::sync::Arc;
/// use ocs_deploy_core::agent::{Transport, TransportError};
/// use ocs_deploy_core::protocol::Request;
/// use ocs_deploy_core::service::{DeploymentService, ServiceConfig};
/// use ocs_deploy_core::testkit::{DownWindow, FaultyTransport, Faults, LoopbackTransport, MemoryFiles, MemoryStore, VirtualClock};
/// use ocs_deploy_core::Timestamp;
///
/// let service = Arc::new(DeploymentService::new(Arc::new(MemoryStore::new()), Arc::new(MemoryFiles::new()), ServiceConfig::default()));
/// let clock = VirtualClock::new(Timestamp::from_secs(50));
/// let faults = Faults {
///     down: vec![DownWindow { host: None, from: Timestamp::from_secs(0), until: Timestamp::from_secs(100) }],
///     ..Faults::default()
/// };
/// let transport = FaultyTransport::new(LoopbackTransport::new(service, clock.reader()), faults, 7, clock.clone());
/// let prolog = Request::Prolog { device_id: "pc-2026-11-24-10-00-00".into() };
/// # futures::executor::block_on(async {
/// assert!(matches!(transport.post(&prolog).await, Err(TransportError::Unreachable(_))));
/// clock.set(Timestamp::from_secs(100));
/// assert!(transport.post(&prolog).await.is_ok());
/// assert_eq!(transport.counts().down, 1);
/// # });
/// ```
#[derive(Debug)]
pub struct FaultyTransport<T> {
    inner: T,
    faults: Faults,
    clock: VirtualClock,
    state: Mutex<(Rng, FaultCounts)>,
}

/// The random stream of transports.
const STREAM: u64 = 2;

impl<T: Transport> FaultyTransport<T> {
    /// Injects `faults` into `inner`; `seed` drives the rates, `clock` the windows.
    pub fn new(inner: T, faults: Faults, seed: u64, clock: VirtualClock) -> Self {
        Self {
            inner,
            faults,
            clock,
            state: Mutex::new((Rng::new(seed, STREAM), FaultCounts::default())),
        }
    }

    /// The wrapped transport.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The faults.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// How many faults were injected so far.
    pub fn counts(&self) -> FaultCounts {
        self.lock().1
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Rng, FaultCounts)> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn down(&self, host: Option<&str>) -> bool {
        let now = self.clock.now();
        let down = self
            .faults
            .down
            .iter()
            .any(|w| w.covers(now) && (w.host.is_none() || w.host.as_deref() == host));
        if down {
            self.lock().1.down += 1;
        }
        down
    }
}

/// The host of an `http(s)://host[:port]/…` URL.
pub(crate) fn url_host(url: &str) -> &str {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or_default();
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

/// The package of an info file URL (`…/<id>/info`).
fn info_package(url: &str) -> Option<PackageId> {
    let rest = url.strip_suffix("/info")?;
    let id = rest.rsplit('/').next()?;
    PackageId::new(id.parse().ok()?).ok()
}

#[async_trait]
impl<T: Transport> Transport for FaultyTransport<T> {
    async fn post(&self, request: &Request) -> Result<Vec<u8>, TransportError> {
        if self.down(None) {
            return Err(TransportError::Unreachable(
                "the communication server is down (injected)".into(),
            ));
        }
        self.inner.post(request).await
    }

    async fn get(&self, url: &str) -> Result<BodyStream, TransportError> {
        if let Some(package) = info_package(url) {
            if self.down(None) {
                return Err(TransportError::Unreachable(
                    "the server is down (injected)".into(),
                ));
            }
            if self.faults.missing_info.contains(&package) {
                self.lock().1.missing_info += 1;
                return Err(TransportError::Status(404));
            }
            return self.inner.get(url).await;
        }
        if self.down(Some(url_host(url))) {
            return Err(TransportError::Unreachable(format!(
                "{} is down (injected)",
                url_host(url)
            )));
        }
        let (lost, corrupt) = {
            let mut state = self.lock();
            let lost = state.0.chance(self.faults.fragment_loss);
            let corrupt = !lost && state.0.chance(self.faults.fragment_corruption);
            if lost {
                state.1.lost += 1;
            }
            if corrupt {
                state.1.corrupted += 1;
            }
            (lost, corrupt)
        };
        if lost {
            return Err(TransportError::Unreachable(
                "connection lost (injected)".into(),
            ));
        }
        let body = self.inner.get(url).await?;
        if !corrupt {
            return Ok(body);
        }
        let mut pending = true;
        Ok(body
            .map(move |chunk| match chunk {
                Ok(bytes) if pending && !bytes.is_empty() => {
                    pending = false;
                    let mut bad = BytesMut::from(&bytes[..]);
                    bad[0] ^= 0xFF;
                    Ok(Bytes::from(bad))
                }
                other => other,
            })
            .boxed())
    }
}

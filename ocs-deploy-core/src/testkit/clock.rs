//! [`VirtualClock`]: time that moves only when told to.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::Timestamp;

/// A clock shared by everything in a test or a simulation: it reads what it was last set
/// to, and moves only through [`set`](Self::set) and [`advance`](Self::advance). Clones
/// share the time.
///
/// The fleet simulator sets it to each event's time before it calls the service, the
/// transport or the executor; a [`ScriptedExecutor`](super::ScriptedExecutor) advances it
/// by the duration of an install.
///
/// ```
/// use std::time::Duration;
/// use ocs_deploy_core::testkit::VirtualClock;
/// use ocs_deploy_core::Timestamp;
///
/// let clock = VirtualClock::new(Timestamp::from_secs(100));
/// let seen_by_service = clock.clone();
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(seen_by_service.now(), Timestamp::from_secs(105));
/// let read = clock.reader();
/// clock.set(Timestamp::from_secs(7));
/// assert_eq!(read(), Timestamp::from_secs(7));
/// ```
#[derive(Debug, Clone, Default)]
pub struct VirtualClock(Arc<AtomicU64>);

impl VirtualClock {
    /// A clock at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self(Arc::new(AtomicU64::new(start.as_millis())))
    }

    /// The current virtual time.
    pub fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::Relaxed))
    }

    /// Moves the clock to `at` (forwards or backwards: a discrete-event loop visits each
    /// agent at its own time).
    pub fn set(&self, at: Timestamp) {
        self.0.store(at.as_millis(), Ordering::Relaxed);
    }

    /// Moves the clock forward by `by` (saturating).
    pub fn advance(&self, by: Duration) {
        self.set(self.now().saturating_add(by));
    }

    /// A function that reads the clock, for
    /// [`LoopbackTransport::new`](super::LoopbackTransport::new).
    pub fn reader(&self) -> impl Fn() -> Timestamp + Send + Sync + 'static {
        let clock = self.clone();
        move || clock.now()
    }
}

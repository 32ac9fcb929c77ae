//! What the agent is doing, as events for a progress display.
//!
//! The [`Agent`](crate::runtime::Agent) reports each step to the [`Progress`] of its
//! [`AgentConfig`](crate::runtime::AgentConfig); the default, [`NoProgress`], ignores them.
//! The `ocs-deploy-agent` binary draws them as progress bars on a terminal; the library
//! itself draws nothing.

use ocs_deploy_core::{PackageId, StatusCode};

/// One step of one package.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A fragment download starts.
    Fragment {
        /// The package.
        package: PackageId,
        /// The fragment, from 1.
        fragment: u32,
        /// The package's fragment count.
        fragments: u32,
        /// The archive's size, when the info file gives it.
        size: Option<u64>,
    },
    /// Bytes of the current fragment arrived.
    Bytes {
        /// The package.
        package: PackageId,
        /// How many (since the last event).
        bytes: u64,
    },
    /// A fragment download ended.
    FragmentDone {
        /// The package.
        package: PackageId,
        /// The fragment.
        fragment: u32,
        /// Whether it was good and kept (otherwise it is fetched again).
        kept: bool,
        /// Its length as received.
        bytes: u64,
    },
    /// The package is being built, installed and run.
    Installing {
        /// The package.
        package: PackageId,
    },
    /// The package ended with a result, and the result was sent (or kept for later).
    Ended {
        /// The package.
        package: PackageId,
        /// Its result.
        status: StatusCode,
        /// Whether the server took the result.
        delivered: bool,
    },
}

/// Receives the agent's [`Event`]s. Called in line with the work: keep it quick.
///
/// ```
/// use std::sync::Mutex;
/// use ocs_deploy_agent::progress::{Event, Progress};
///
/// #[derive(Debug, Default)]
/// struct Recorder(Mutex<Vec<Event>>);
///
/// impl Progress for Recorder {
///     fn event(&self, event: &Event) {
///         self.0.lock().unwrap().push(event.clone());
///     }
/// }
///
/// let recorder = Recorder::default();
/// let package = "1700000000".parse().unwrap();
/// recorder.event(&Event::Installing { package });
/// assert_eq!(recorder.0.lock().unwrap().len(), 1);
/// ```
pub trait Progress: Send + Sync + std::fmt::Debug {
    /// One event.
    fn event(&self, event: &Event);
}

/// Ignores every event.
///
/// ```
/// use ocs_deploy_agent::progress::{Event, NoProgress, Progress as _};
///
/// NoProgress.event(&Event::Installing { package: "1700000000".parse().unwrap() });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _: &Event) {}
}

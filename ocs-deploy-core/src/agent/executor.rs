//! What an agent does to the machine: the one trait an integrator implements to install
//! packages their own way (or to script installs in tests and simulations).

use async_trait::async_trait;

use super::{InstallOutcome, InstallPlan};
use crate::PackageId;

/// Installs a built package on the machine: checks free space, extracts the archive,
/// notifies the user, runs or stores, as the [`InstallPlan`] says, and tells how it ended.
///
/// A driver calls it for [`Task::Install`](super::Task::Install) and hands the outcome to
/// [`Job::installed`](super::Job::installed), which turns it into the status code.
///
/// Implementations: `ocs-deploy-agent`'s OS executor (processes, archives, dialogs) and the
/// testkit's `ScriptedExecutor` (exit codes, durations in virtual time, failures per
/// package).
///
/// # Example
///
/// An executor that pretends every package ran and exited with 0:
/// ```
/// use async_trait::async_trait;
/// use ocs_deploy_core::agent::{Executor, InstallOutcome, InstallPlan};
/// use ocs_deploy_core::PackageId;
///
/// #[derive(Debug)]
/// struct AlwaysZero;
///
/// #[async_trait]
/// impl Executor for AlwaysZero {
///     async fn install(&self, _package: PackageId, _plan: &InstallPlan) -> InstallOutcome {
///         InstallOutcome::Exited(0)
///     }
/// }
/// ```
#[async_trait]
pub trait Executor: Send + Sync + std::fmt::Debug {
    /// Installs `package` as `plan` says and returns how it ended. Failures are outcomes
    /// ([`InstallOutcome::StartFailed`], [`InstallOutcome::OutOfSpace`], …), not errors:
    /// each maps to the status code the agent reports.
    async fn install(&self, package: PackageId, plan: &InstallPlan) -> InstallOutcome;
}

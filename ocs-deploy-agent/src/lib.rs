//! The ocs-deploy agent runtime: what an agent needs on a real machine around the sans-IO
//! core of `ocs_deploy_core::agent` and `ocs_deploy_core::schedule`.
//!
//! - [`extract`]: safe extraction of ZIP and TAR.GZ packages (nothing outside the target,
//!   bounded size and entry count, free space checked first).
//! - [`exec`]: a package's command through the shell, in its folder, with `%VAR%` and
//!   `INSTALL_PATH` expanded and a time limit that kills the whole process group.
//! - [`state`]: the crash-safe state directory (device id, history, jobs, fragments),
//!   every file written atomically.
//!
//! - [`runtime`]: the [`Agent`](runtime::Agent): contacts, the schedule with real time,
//!   downloads into the state directory, builds, installs and reports.
//! - [`notify`]: notifications and done actions on a terminal ([`notify::Terminal`]).
//! - [`progress`]: what the agent is doing, for progress bars ([`progress::Progress`]).
//!
//! The `ocs-deploy-agent` binary (feature `cli`) runs an [`Agent`](runtime::Agent) against
//! an OCS server over HTTPS.

pub mod exec;
pub mod extract;
pub mod notify;
pub mod progress;
mod running_digest;
pub mod runtime;
pub mod state;

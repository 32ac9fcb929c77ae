//! The ocs-deploy agent runtime: what an agent needs on a real machine around the sans-IO
//! core of `ocs_deploy_core::agent` and `ocs_deploy_core::schedule`.
//!
//! - [`extract`]: safe extraction of ZIP and TAR.GZ packages (nothing outside the target,
//!   bounded size and entry count, free space checked first).
//!
//! The OS executor, the crash-safe state directory and the `ocs-deploy-agent` binary are
//! to come.

pub mod extract;

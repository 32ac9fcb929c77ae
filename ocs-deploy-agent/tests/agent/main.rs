//! The integration tests of ocs-deploy-agent, in one binary.

mod archives;
mod exec;
mod extract;
mod runtime;
mod state;

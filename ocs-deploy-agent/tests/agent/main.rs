//! The integration tests of ocs-deploy-agent, in one binary.

mod archives;
mod binary;
mod crash;
mod exec;
mod extract;
mod real_server;
mod runtime;
mod state;

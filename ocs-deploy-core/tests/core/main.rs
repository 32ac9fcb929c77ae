//! The integration tests of ocs-deploy-core, in one binary (one link on a 2-core CI machine).
//! Reference files are read from `../shared/reference/`, as the real OCS programs wrote them.

mod agent;
mod fleet;
mod fragment;
mod fuzz_corpus;
mod info;
mod package;
mod protocol;
mod reference;
mod schedule;
mod service;
mod status;
mod store;

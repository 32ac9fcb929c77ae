//! Conformance suites: the behaviour every implementation of a trait must have, written
//! once and run against each one.
//!
//! Each test is a public async function that panics when the implementation misbehaves.
//! Run them all with [`store::run_all`], giving a fresh, empty store to each test:
//!
//! ```
//! use ocs_deploy_core::testkit::{MemoryStore, conformance};
//!
//! # futures::executor::block_on(async {
//! conformance::store::run_all(|| async { MemoryStore::new() }).await;
//! # });
//! ```

pub mod store;

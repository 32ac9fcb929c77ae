//! The store conformance suite against `MemoryStore`.

use futures::executor::block_on;
use ocs_deploy_core::testkit::{MemoryStore, conformance};

#[test]
fn memory_store_passes_the_conformance_suite() {
    for (name, test) in conformance::store::ALL {
        eprintln!("store conformance: {name}");
        let store = MemoryStore::new();
        block_on(test(&store));
    }
}

#[test]
fn run_all_runs_every_test() {
    block_on(conformance::store::run_all(|| async { MemoryStore::new() }));
    assert!(conformance::store::ALL.len() >= 20);
}

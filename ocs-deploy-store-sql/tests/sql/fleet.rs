//! The fleet simulator on `SQLite`: a small fleet with faults deploys through the SQL
//! store exactly as through the memory store, and the store holds what the agents sent.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ocs_deploy_core::agent::InstallOutcome;
use ocs_deploy_core::service::{DeploymentService, ServiceConfig};
use ocs_deploy_core::store::Store;
use ocs_deploy_core::testkit::fleet::{DownloadServer, Fleet, FleetConfig, PackageSpec};
use ocs_deploy_core::testkit::{Faults, MemoryFiles, MemoryStore, Script};
use ocs_deploy_store_sql::Backend;

use crate::common::fresh_store;

fn scenario() -> FleetConfig {
    let mut failing = PackageSpec::new("failing", 3_000, 3);
    failing.script = Script::exit(0).failing(0.25, InstallOutcome::Exited(2));
    FleetConfig {
        agents: 60,
        seed: 9,
        first_contact_within: Duration::from_secs(900),
        packages: vec![PackageSpec::new("tools", 8_000, 8), failing],
        servers: vec![
            DownloadServer::new("north", 10_000),
            DownloadServer::new("south", 4_000),
        ],
        faults: Faults {
            fragment_loss: 0.03,
            fragment_corruption: 0.03,
            ..Faults::default()
        },
        ..FleetConfig::default()
    }
}

async fn run(
    store: Arc<dyn Store>,
) -> (
    ocs_deploy_core::testkit::fleet::FleetReport,
    Arc<DeploymentService>,
) {
    let service = Arc::new(DeploymentService::new(
        store,
        Arc::new(MemoryFiles::new()),
        ServiceConfig::default(),
    ));
    let report = Fleet::simulate(scenario(), Arc::clone(&service))
        .await
        .unwrap();
    (report, service)
}

#[tokio::test]
async fn a_small_fleet_deploys_through_sqlite_as_through_memory() {
    let store = fresh_store(Backend::Sqlite)
        .await
        .expect("SQLite is embedded");
    let (on_sqlite, service) = run(Arc::new(store)).await;
    let (in_memory, _) = run(Arc::new(MemoryStore::new())).await;
    assert!(on_sqlite.all_finished(), "{on_sqlite}");
    assert_eq!(on_sqlite.to_csv(), in_memory.to_csv());
    for p in &on_sqlite.packages {
        let stats = service.stats(p.id).await.unwrap();
        let stored: BTreeMap<String, u64> = stats
            .statuses
            .iter()
            .map(|s| (s.status.clone().unwrap_or_default(), s.count))
            .collect();
        assert_eq!(stored, p.statuses, "{}", p.name);
    }
    assert!(
        on_sqlite.packages[1].status_count("ERR_EXIT_CODE_2") > 0,
        "{on_sqlite}"
    );
}

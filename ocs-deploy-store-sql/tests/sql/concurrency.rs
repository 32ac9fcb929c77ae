//! Two stores (two pools, as two server processes) sharing one database.

use futures::future::join_all;
use ocs_deploy_core::protocol::DeviceId;
use ocs_deploy_core::store::{
    AffectOptions, ComputerId, ComputerUpdate, NewActivation, PackageRecord, ResultOutcome,
    StatusSelector, Store,
};
use ocs_deploy_core::{PackageId, Priority, StatusClass, Timestamp};
use ocs_deploy_store_sql::{Backend, SqlStore};

use crate::common::fresh_url;

const T0: Timestamp = Timestamp::from_secs(1_700_000_000);

async fn two_stores(backend: Backend) -> Option<(SqlStore, SqlStore)> {
    let url = fresh_url(backend).await?;
    Some((
        SqlStore::connect(&url).await.unwrap(),
        SqlStore::connect(&url).await.unwrap(),
    ))
}

async fn setup(
    store: &SqlStore,
    computers: u64,
) -> (
    PackageId,
    ocs_deploy_core::store::ActivationId,
    Vec<ComputerId>,
) {
    let p = PackageId::new(1_700_000_001).unwrap();
    store
        .insert_package(&PackageRecord {
            id: p,
            name: "p".into(),
            priority: Priority::DEFAULT,
            fragments: 0,
            size: 0,
            info: "<DOWNLOAD />".into(),
            created: T0,
        })
        .await
        .unwrap();
    let a = store
        .insert_activation(
            &NewActivation {
                package: p,
                info_location: "h/d".into(),
                pack_location: "h/d".into(),
                cert_path: None,
                cert_file: None,
            },
            T0,
        )
        .await
        .unwrap();
    let mut cs = Vec::new();
    for n in 0..computers {
        let device = DeviceId::parse(&format!("pc{n}-2026-01-01-00-00-00")).unwrap();
        cs.push(
            store
                .upsert_computer(&ComputerUpdate::new(device), T0)
                .await
                .unwrap(),
        );
    }
    (p, a, cs)
}

/// Notifications and results from two stores at once: each row notified once, each
/// change audited once, none lost.
async fn two_servers_share_one_database(backend: Backend) {
    let Some((one, two)) = two_stores(backend).await else {
        return;
    };
    let (p, a, cs) = setup(&one, 8).await;
    one.affect(a, &cs, &AffectOptions::default(), T0)
        .await
        .unwrap();
    let targets = [a];
    let targets = &targets;
    let calls = cs
        .iter()
        .flat_map(|&c| [one.notify(c, targets, T0), two.notify(c, targets, T0)]);
    let notified: usize = join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().len())
        .sum();
    assert_eq!(
        notified,
        cs.len(),
        "{backend}: each row notified exactly once"
    );

    let results = cs.iter().flat_map(|&c| {
        [
            one.record_result(c, p, "ERR_DOWNLOAD_PACK", StatusClass::Error, T0),
            two.record_result(c, p, "SUCCESS", StatusClass::Success, T0),
        ]
    });
    let outcomes: Vec<_> = join_all(results)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, ResultOutcome::Recorded { .. })),
        "{backend}"
    );
    for &c in &cs {
        let events = two.status_events(c, a).await.unwrap();
        // waiting, notified, then both results in some order, each recorded once.
        assert_eq!(events.len(), 4, "{backend}: {events:?}");
        let last = events.last().unwrap().status.clone();
        assert_eq!(two.affectation(c, a).await.unwrap().unwrap().status, last);
    }
    one.close().await;
    two.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_two_servers_share_one_database() {
    two_servers_share_one_database(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_servers_share_one_database() {
    two_servers_share_one_database(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_two_servers_share_one_database() {
    two_servers_share_one_database(Backend::MySql).await;
}

/// Affecting more computers than fit one statement writes them all, or none on error.
async fn large_affectations_are_batched(backend: Backend) {
    let Some(url) = fresh_url(backend).await else {
        return;
    };
    let store = SqlStore::connect(&url).await.unwrap();
    let (p, a, mut cs) = setup(&store, 4_500).await;
    let count = |store: &SqlStore| {
        let store = store.clone();
        async move {
            store
                .status_counts(p)
                .await
                .unwrap()
                .iter()
                .map(|c| c.count)
                .sum::<u64>()
        }
    };
    cs.push(ComputerId(i64::MAX));
    let err = store
        .affect(a, &cs, &AffectOptions::default(), T0)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(count(&store).await, 0, "{backend}: nothing written");
    cs.pop();
    store
        .affect(a, &cs, &AffectOptions::default(), T0)
        .await
        .unwrap();
    assert_eq!(count(&store).await, 4_500, "{backend}");
    store
        .affect(a, &cs, &AffectOptions::default(), T0)
        .await
        .unwrap();
    assert_eq!(
        count(&store).await,
        4_500,
        "{backend}: affecting again keeps one row each"
    );
    let waiting = store
        .computers_with_status(
            p,
            &StatusSelector::Class(StatusClass::Waiting),
            ocs_deploy_core::store::Page {
                offset: 4_000,
                limit: 1_000,
            },
        )
        .await
        .unwrap();
    assert_eq!(waiting.len(), 500);
    assert_eq!(store.unaffect(a, &cs).await.unwrap(), 4_500);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_large_affectations_are_batched() {
    large_affectations_are_batched(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_large_affectations_are_batched() {
    large_affectations_are_batched(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_large_affectations_are_batched() {
    large_affectations_are_batched(Backend::MySql).await;
}

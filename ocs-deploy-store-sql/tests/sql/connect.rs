//! Opening stores: migrations, persistence, dead servers and bad URLs.

use std::time::{Duration, Instant};

use ocs_deploy_core::protocol::DeviceId;
use ocs_deploy_core::store::{ComputerId, ComputerUpdate, PackageRecord, Store, StoreError};
use ocs_deploy_core::{PackageId, Priority, Timestamp};
use ocs_deploy_store_sql::{Backend, SqlStore, SqlStoreOptions};

use crate::common::fresh_url;

fn record(n: u64) -> PackageRecord {
    PackageRecord {
        id: PackageId::new(1_700_000_000 + n).unwrap(),
        name: format!("package {n}"),
        priority: Priority::DEFAULT,
        fragments: 3,
        size: 12_345,
        info: "<DOWNLOAD />".into(),
        created: Timestamp::from_secs(1_700_000_000),
    }
}

/// Connecting twice to one database applies the migrations once and keeps the rows.
async fn reconnect_keeps_rows(backend: Backend) {
    let Some(url) = fresh_url(backend).await else {
        return;
    };
    let first = SqlStore::connect(&url).await.unwrap();
    assert_eq!(first.backend(), backend);
    first.insert_package(&record(1)).await.unwrap();
    first.close().await;
    let again = SqlStore::connect(&url).await.unwrap();
    let third = SqlStore::connect(&url).await.unwrap();
    assert_eq!(again.package(record(1).id).await.unwrap(), Some(record(1)));
    assert_eq!(third.packages().await.unwrap().len(), 1);
    again.close().await;
    third.close().await;
}

#[tokio::test]
async fn sqlite_file_migrations_are_idempotent_and_data_survives_reconnects() {
    reconnect_keeps_rows(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_migrations_are_idempotent_and_data_survives_reconnects() {
    reconnect_keeps_rows(Backend::Postgres).await;
}

#[tokio::test]
async fn mysql_migrations_are_idempotent_and_data_survives_reconnects() {
    reconnect_keeps_rows(Backend::MySql).await;
}

/// Each fresh URL is its own database: a row written in one is absent from another.
#[tokio::test]
async fn fresh_urls_are_isolated() {
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
        let (Some(a), Some(b)) = (fresh_url(backend).await, fresh_url(backend).await) else {
            continue;
        };
        let a = SqlStore::connect(&a).await.unwrap();
        let b = SqlStore::connect(&b).await.unwrap();
        a.insert_package(&record(1)).await.unwrap();
        assert!(b.packages().await.unwrap().is_empty(), "{backend}");
        a.close().await;
        b.close().await;
    }
}

#[tokio::test]
async fn sqlite_memory_stores_are_separate_and_keep_their_rows() {
    let a = SqlStore::connect_with(
        "sqlite::memory:",
        SqlStoreOptions::default().max_connections(8),
    )
    .await
    .unwrap();
    let b = SqlStore::connect("sqlite::memory:").await.unwrap();
    a.insert_package(&record(1)).await.unwrap();
    // Many concurrent operations share the one connection without losing the database.
    let reads = (0..20).map(|_| a.packages());
    for r in futures::future::join_all(reads).await {
        assert_eq!(r.unwrap().len(), 1);
    }
    assert!(b.packages().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_dead_server_is_unavailable_quickly() {
    for url in [
        "postgres://postgres@127.0.0.1:1/test",
        "mysql://root@127.0.0.1:1/test",
    ] {
        let started = Instant::now();
        let err = SqlStore::connect(url).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Unavailable { .. }),
            "{url}: {err:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{url}: {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn bad_urls_are_typed_errors() {
    let err = SqlStore::connect("redis://127.0.0.1/0").await.unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    assert!(err.to_string().contains("store failed"), "{err}");
    let err = SqlStore::connect("sqlite:///nonexistent-dir/below/store.db")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Backend { .. } | StoreError::Unavailable { .. }
        ),
        "{err:?}"
    );
    let err = SqlStore::connect("sqlite://x.db?mode=nonsense")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
}

#[tokio::test]
async fn a_closed_store_is_unavailable() {
    let store = SqlStore::connect("sqlite::memory:").await.unwrap();
    store.close().await;
    let err = store.computer(ComputerId(1)).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
}

#[test]
fn backends_are_named_by_url_scheme() {
    assert_eq!(Backend::of_url("sqlite://x.db"), Some(Backend::Sqlite));
    assert_eq!(Backend::of_url("postgres://h/db"), Some(Backend::Postgres));
    assert_eq!(Backend::of_url("mysql://h/db"), Some(Backend::MySql));
    assert_eq!(Backend::MySql.to_string(), "mysql");
}

/// A fresh `PostgreSQL` URL puts the tables in its own schema (through `search_path`),
/// not in `public`.
#[tokio::test]
async fn postgres_tables_go_to_the_fresh_schema() {
    use sqlx::Connection;

    let Some(url) = fresh_url(Backend::Postgres).await else {
        return;
    };
    let schema = url.rsplit("search_path%3D").next().unwrap().to_owned();
    let store = SqlStore::connect(&url).await.unwrap();
    store.close().await;
    let mut admin = sqlx::PgConnection::connect(&crate::common::postgres_url())
        .await
        .unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables \
         WHERE table_schema = $1 AND table_name IN ('affectations', '_sqlx_migrations')",
    )
    .bind(&schema)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(tables, 2, "{schema}");
}

/// A store in a new `SQLite` file, its URL, and a computer in it that contacted the store
/// at `at` (which opened the store's direct connection).
async fn sqlite_file_with_a_computer(at: Timestamp) -> (String, SqlStore, DeviceId) {
    let url = fresh_url(Backend::Sqlite).await.unwrap();
    let store = SqlStore::connect(&url).await.unwrap();
    let device = DeviceId::parse("pc-2026-01-01-00-00-00").unwrap();
    store
        .upsert_computer(&ComputerUpdate::new(device.clone()), at)
        .await
        .unwrap();
    assert!(store.contact(&device, at).await.unwrap().is_some());
    (url, store, device)
}

/// A store in an `SQLite` file runs contacts on direct connections (see the crate's
/// `direct` module): closing the store closes them too.
#[tokio::test]
async fn a_closed_sqlite_file_store_refuses_contacts() {
    let now = Timestamp::from_secs(1_700_000_000);
    let (_, store, device) = sqlite_file_with_a_computer(now).await;
    store.close().await;
    let err = store.contact(&device, now).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
}

/// While another connection (another process, for the store) holds the file's write
/// lock, a contact waits for it within the busy timeout (10 s by default) instead of
/// failing, then records the contact time; past the timeout it fails as unavailable. The
/// lock is held longer than the store's own retries of a busy transaction last (about
/// 1.3 s), so only the busy timeout can make the contact succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_contacts_wait_for_a_lock_held_by_another_connection() {
    use sqlx::Connection as _;
    let (url, store, device) =
        sqlite_file_with_a_computer(Timestamp::from_secs(1_700_000_000)).await;

    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let now = Timestamp::from_secs(1_700_000_600);
    let started = Instant::now();
    let contact = tokio::spawn({
        let (store, device) = (store.clone(), device.clone());
        async move { store.contact(&device, now).await }
    });
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert!(
        !contact.is_finished(),
        "the contact did not wait for the lock"
    );
    sqlx::raw_sql("COMMIT").execute(&mut other).await.unwrap();
    let context = contact.await.unwrap().unwrap().unwrap();
    assert!(started.elapsed() >= Duration::from_millis(1800));
    assert_eq!(context.computer.last_contact, Some(now));
    assert_eq!(
        store
            .computer(context.computer.id)
            .await
            .unwrap()
            .unwrap()
            .last_contact,
        Some(now)
    );
    store.close().await;

    let impatient = SqlStore::connect_with(
        &url,
        SqlStoreOptions::default().sqlite_busy_timeout(Duration::from_millis(50)),
    )
    .await
    .unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let err = impatient.contact(&device, now).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    sqlx::raw_sql("ROLLBACK").execute(&mut other).await.unwrap();
    assert!(impatient.contact(&device, now).await.unwrap().is_some());
    impatient.close().await;
}

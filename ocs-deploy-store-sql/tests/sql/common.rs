//! Fresh, empty stores on every backend.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ocs_deploy_store_sql::{Backend, SqlStore};
use sqlx::Connection;

/// Where a conformance test runs: the three backends, `SQLite` both in memory and in a
/// file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    SqliteMemory,
    SqliteFile,
    Postgres,
    MySql,
}

impl Target {
    /// A fresh, empty store here, or `None` when the server is missing (outside CI).
    pub(crate) async fn fresh_store(self) -> Option<SqlStore> {
        match self {
            Self::SqliteMemory => Some(SqlStore::connect("sqlite::memory:").await.unwrap()),
            Self::SqliteFile => fresh_store(Backend::Sqlite).await,
            Self::Postgres => fresh_store(Backend::Postgres).await,
            Self::MySql => fresh_store(Backend::MySql).await,
        }
    }
}

/// The `PostgreSQL` server the tests use.
pub(crate) fn postgres_url() -> String {
    std::env::var("OCS_DEPLOY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// The `MariaDB`/`MySQL` server the tests use.
pub(crate) fn mysql_url() -> String {
    std::env::var("OCS_DEPLOY_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

/// A fresh store on `backend` (`SQLite`: a new file), or `None` when its server is
/// missing outside CI.
pub(crate) async fn fresh_store(backend: Backend) -> Option<SqlStore> {
    let url = fresh_url(backend).await?;
    Some(SqlStore::connect(&url).await.unwrap())
}

/// The prefix of every schema and database the tests make.
const PREFIX: &str = "ocsd_t";

/// Test databases older than this are dropped by later runs.
const KEEP_SECS: u64 = 3 * 3600;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// A name no other test (in this or another run) uses: `ocsd_t<unix secs>_<pid>_<n>`.
fn unique_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{PREFIX}{}_{}_{}",
        now_secs(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Whether a schema or database a test made is old enough to drop.
fn is_stale(name: &str) -> bool {
    name.strip_prefix(PREFIX)
        .and_then(|rest| rest.split('_').next())
        .and_then(|secs| secs.parse::<u64>().ok())
        .is_some_and(|secs| secs + KEEP_SECS < now_secs())
}

/// The server is missing: fail in CI, else say why the test is skipped.
fn missing(what: &str, url: &str, e: &dyn std::fmt::Display) -> Option<String> {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what} at {url} is required when CI=true: {e}"
    );
    println!("skipping: {what} at {url} unreachable: {e}");
    None
}

/// `url` with another database name (its path).
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{database}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A URL to a fresh, empty database several `SqlStore::connect` calls can share, or
/// `None` when the server is missing outside CI.
///
/// - `SQLite`: a file `store.db` in a new directory under Cargo's per-target temporary
///   directory (`target/tmp`), kept after the test so a failure can be inspected.
/// - `PostgreSQL`: a new schema, made the connection's `search_path` through the URL's
///   `options` parameter.
/// - `MariaDB`/`MySQL`: a new database (utf8mb4, binary collation).
///
/// Schemas and databases are left behind for inspection; each call drops those of earlier
/// runs older than three hours.
pub(crate) async fn fresh_url(backend: Backend) -> Option<String> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::Builder::new()
                .prefix("ocsd-sqlite-")
                .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
                .unwrap()
                .keep();
            Some(format!("sqlite://{}", dir.join("store.db").display()))
        }
        Backend::Postgres => {
            let url = postgres_url();
            let mut conn = match admin(sqlx::PgConnection::connect(&url)).await {
                Ok(c) => c,
                Err(e) => return missing("PostgreSQL", &url, &e),
            };
            let schema = unique_name();
            let old: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE '{PREFIX}%'"
            )))
            .fetch_all(&mut conn)
            .await
            .unwrap();
            for name in old.iter().filter(|n| is_stale(n)) {
                let drop = format!("DROP SCHEMA IF EXISTS {name} CASCADE");
                sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                    .execute(&mut conn)
                    .await
                    .ok();
            }
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.ok();
            let separator = if url.contains('?') { '&' } else { '?' };
            Some(format!(
                "{url}{separator}options=-c%20search_path%3D{schema}"
            ))
        }
        Backend::MySql => {
            let url = mysql_url();
            let mut conn = match admin(sqlx::MySqlConnection::connect(&url)).await {
                Ok(c) => c,
                Err(e) => return missing("MariaDB", &url, &e),
            };
            let database = unique_name();
            let old: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata \
                 WHERE schema_name LIKE '{PREFIX}%'"
            )))
            .fetch_all(&mut conn)
            .await
            .unwrap();
            for name in old.iter().filter(|n| is_stale(n)) {
                let drop = format!("DROP DATABASE IF EXISTS {name}");
                sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                    .execute(&mut conn)
                    .await
                    .ok();
            }
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "CREATE DATABASE {database} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )))
            .execute(&mut conn)
            .await
            .unwrap();
            conn.close().await.ok();
            Some(with_database(&url, &database))
        }
    }
}

/// Connects within a few seconds.
async fn admin<C>(
    connect: impl Future<Output = Result<C, sqlx::Error>>,
) -> Result<C, Box<dyn std::error::Error>> {
    match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(e.into()),
    }
}

#[test]
fn only_old_test_databases_are_stale() {
    assert!(is_stale("ocsd_t1000_1_0"));
    assert!(!is_stale(&unique_name()));
    assert!(!is_stale("ocs_production"));
}

#[test]
fn database_names_are_replaced_in_urls() {
    assert_eq!(
        with_database("mysql://root@127.0.0.1:3306/test", "x"),
        "mysql://root@127.0.0.1:3306/x"
    );
    assert_eq!(
        with_database("mysql://root@h/test?ssl-mode=disabled", "x"),
        "mysql://root@h/x?ssl-mode=disabled"
    );
    assert_eq!(with_database("mysql://root@h", "x"), "mysql://root@h/x");
}

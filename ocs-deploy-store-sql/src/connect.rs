//! Opening a store: URLs, pool settings, per-connection pragmas and migrations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ocs_deploy_core::store::StoreError;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Connection, Executor};

use crate::direct::Direct;
use crate::error::{backend_error, unavailable};
use crate::sql::{Inner, SqlStore};

/// The SQL dialect behind a [`SqlStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// `SQLite` (bundled): a file, or memory.
    Sqlite,
    /// `PostgreSQL`.
    Postgres,
    /// `MariaDB` or `MySQL`.
    MySql,
}

impl Backend {
    /// The backend a URL names, from its scheme (`sqlite:`, `postgres:`/`postgresql:`,
    /// `mysql:`/`mariadb:`).
    ///
    /// ```
    /// use ocs_deploy_store_sql::Backend;
    ///
    /// assert_eq!(Backend::of_url("sqlite::memory:"), Some(Backend::Sqlite));
    /// assert_eq!(Backend::of_url("postgresql://db/ocs"), Some(Backend::Postgres));
    /// assert_eq!(Backend::of_url("mariadb://db/ocs"), Some(Backend::MySql));
    /// assert_eq!(Backend::of_url("redis://db"), None);
    /// ```
    pub fn of_url(url: &str) -> Option<Self> {
        let scheme = url.split(':').next()?.to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Some(Self::Sqlite),
            "postgres" | "postgresql" => Some(Self::Postgres),
            "mysql" | "mariadb" => Some(Self::MySql),
            _ => None,
        }
    }

    /// A short name, used in errors (`sqlite`, `postgres`, `mysql`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
            Self::MySql => "mysql",
        }
    }
}

impl core::fmt::Display for Backend {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// How [`SqlStore::connect_with`] opens the pool.
///
/// ```
/// use std::time::Duration;
/// use ocs_deploy_store_sql::SqlStoreOptions;
///
/// let options = SqlStoreOptions::default()
///     .max_connections(4)
///     .acquire_timeout(Duration::from_secs(2));
/// assert_eq!(options.max_connections, 4);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqlStoreOptions {
    /// The most connections the pool opens (ignored for `sqlite::memory:`, which has
    /// exactly one). Default 10.
    pub max_connections: u32,
    /// How long an operation waits for a connection (or the first connection is
    /// retried) before failing with [`StoreError::Unavailable`]. Default 10 s.
    pub acquire_timeout: Duration,
    /// How long `SQLite` waits for another writer's lock before failing. Default 10 s.
    pub sqlite_busy_timeout: Duration,
}

impl Default for SqlStoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(10),
            sqlite_busy_timeout: Duration::from_secs(10),
        }
    }
}

impl SqlStoreOptions {
    /// Sets [`max_connections`](Self::max_connections) (at least 1).
    #[must_use]
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Sets [`acquire_timeout`](Self::acquire_timeout).
    #[must_use]
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Sets [`sqlite_busy_timeout`](Self::sqlite_busy_timeout).
    #[must_use]
    pub fn sqlite_busy_timeout(mut self, timeout: Duration) -> Self {
        self.sqlite_busy_timeout = timeout;
        self
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");
static MYSQL_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/mysql");

/// Whether a `SQLite` URL names a memory database.
fn is_sqlite_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// A `SQLite` file URL made to create the file when missing (`mode=rwc`), unless the URL
/// chooses a mode itself.
fn sqlite_url(url: &str) -> String {
    if is_sqlite_memory(url) || url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

pub(crate) async fn connect(url: &str, options: SqlStoreOptions) -> Result<SqlStore, StoreError> {
    sqlx::any::install_default_drivers();
    let Some(backend) = Backend::of_url(url) else {
        return Err(StoreError::Backend {
            backend: "sql",
            source: Arc::new(UnsupportedUrl(redact(url))),
        });
    };
    let url = match backend {
        Backend::Sqlite => sqlite_url(url),
        Backend::Postgres | Backend::MySql => url.to_owned(),
    };
    let connect_options: AnyConnectOptions = url.parse().map_err(|e| backend_error(backend, e))?;
    let memory = backend == Backend::Sqlite && is_sqlite_memory(&url);
    let busy_ms = options.sqlite_busy_timeout.as_millis();

    let migrator = match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
        Backend::MySql => &MYSQL_MIGRATIONS,
    };
    let map = |e| crate::error::map(backend, e);

    let mut pool = AnyPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.acquire_timeout);
    if backend == Backend::Sqlite {
        pool = pool.after_connect(move |conn, _meta| {
            Box::pin(async move { sqlite_pragmas(conn, busy_ms, !memory).await })
        });
    }
    let mut direct = None;
    let pool = if memory {
        // Every connection to `sqlite::memory:` is a database of its own: keep exactly one,
        // forever, and migrate through it.
        let pool = pool
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(connect_options)
            .await
            .map_err(map)?;
        let mut conn = pool.acquire().await.map_err(map)?;
        migrator
            .run(&mut *conn)
            .await
            .map_err(|e| backend_error(backend, e))?;
        drop(conn);
        pool
    } else {
        // One connection first, without the pool's retries: a dead server fails at once,
        // and the migrations run before any other connection opens.
        let mut first = tokio::time::timeout(
            options.acquire_timeout,
            sqlx::AnyConnection::connect_with(&connect_options),
        )
        .await
        .map_err(|elapsed| unavailable(backend, elapsed))?
        .map_err(map)?;
        if backend == Backend::Sqlite {
            sqlite_pragmas(&mut first, busy_ms, true)
                .await
                .map_err(map)?;
        }
        migrator
            .run(&mut first)
            .await
            .map_err(|e| backend_error(backend, e))?;
        if backend == Backend::Sqlite {
            let file: Option<String> =
                sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                    .fetch_optional(&mut first)
                    .await
                    .map_err(map)?;
            direct = file.filter(|f| !f.is_empty()).map(|file| {
                Arc::new(Direct::new(
                    file.into(),
                    url.contains("mode=ro"),
                    options.sqlite_busy_timeout,
                    options.max_connections as usize,
                ))
            });
        }
        first.close().await.ok();
        pool.connect_with(connect_options).await.map_err(map)?
    };
    tracing::info!(%backend, "store connected and migrated");
    let checkpointer = (backend == Backend::Sqlite && !memory).then(|| checkpoints(pool.clone()));
    Ok(SqlStore {
        inner: Arc::new(Inner {
            pool,
            backend,
            statements: Mutex::new(HashMap::new()),
            checkpointer,
            writer: (backend == Backend::Sqlite).then(|| Arc::new(tokio::sync::Mutex::new(()))),
            direct,
        }),
    })
}

/// Copies the `SQLite` WAL back into the database file twice a second, off the request
/// path: a commit then never pays for a checkpoint (and its fsync). Passive checkpoints
/// never wait for, nor block, writers. Stops when the pool closes or the store is dropped.
fn checkpoints(pool: sqlx::AnyPool) -> tokio::task::AbortHandle {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if pool.is_closed() {
                break;
            }
            if let Err(e) = pool.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
                tracing::debug!(error = %e, "background checkpoint failed");
            }
        }
    })
    .abort_handle()
}

/// Per-connection `SQLite` settings: foreign keys, a busy timeout so writers wait for each
/// other, and for files WAL with `synchronous=NORMAL`.
async fn sqlite_pragmas(
    conn: &mut sqlx::AnyConnection,
    busy_ms: u128,
    file: bool,
) -> Result<(), sqlx::Error> {
    // A 32 MiB page cache per connection. Checkpoints run in the background (see
    // `checkpoints`); the automatic one, in the committing request, only as a safety net
    // past 80 MiB of WAL.
    let mut sql = format!(
        "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {busy_ms}; PRAGMA cache_size = -32768;"
    );
    if file {
        sql.push_str(
            " PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA wal_autocheckpoint = 20000;",
        );
    }
    conn.execute(sqlx::AssertSqlSafe(sql)).await?;
    Ok(())
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            let creds = &url[start + 3..at];
            match creds.find(':') {
                Some(colon) => {
                    format!("{}{}:***{}", &url[..start + 3], &creds[..colon], &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The URL names no supported database.
#[derive(Debug, thiserror::Error)]
#[error(
    "unsupported store URL {0:?}: expected sqlite:, postgres:, postgresql:, mysql: or mariadb:"
)]
pub(crate) struct UnsupportedUrl(String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_files_are_created_and_memory_is_left_alone() {
        assert_eq!(sqlite_url("sqlite://a.db"), "sqlite://a.db?mode=rwc");
        assert_eq!(
            sqlite_url("sqlite://a.db?vfs=unix"),
            "sqlite://a.db?vfs=unix&mode=rwc"
        );
        assert_eq!(sqlite_url("sqlite://a.db?mode=ro"), "sqlite://a.db?mode=ro");
        assert_eq!(sqlite_url("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite::memory:"), "sqlite::memory:");
    }
}

//! [`SqlStore`]: the pool, SQL text per dialect, transactions with retries, and the
//! conversions between model types and columns.

use core::fmt;
use core::future::Future;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ocs_deploy_core::protocol::DeviceId;
use ocs_deploy_core::store::{
    Activation, ActivationId, AffectOptions, Affectation, Computer, ComputerId, StoreError,
};
use ocs_deploy_core::{PackageId, StatusClass, Timestamp};
use sqlx::AnyPool;
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Executor, Row, Transaction};

use crate::error::{Attempt, Failure, corrupt, is_retriable, is_retriable_sqlite, map, map_sqlite};
use crate::{Backend, SqlStoreOptions};

/// A [`Store`](ocs_deploy_core::store::Store) in `SQLite`, `PostgreSQL` or
/// `MariaDB`/`MySQL`, over one `sqlx` pool. Cloning shares the pool.
///
/// See the [crate documentation](crate) for an example.
#[derive(Clone)]
pub struct SqlStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    /// SQL text as the backend takes it (`$n` placeholders on `PostgreSQL`), per source.
    pub(crate) statements: Mutex<HashMap<&'static str, Arc<str>>>,
    /// The background `SQLite` checkpoint task, stopped with the last clone.
    pub(crate) checkpointer: Option<tokio::task::AbortHandle>,
    /// `SQLite` takes one writer at a time, and a connection that finds the database
    /// locked sleeps in its busy handler (1, 2, 5, 10 … 100 ms) instead of being woken when
    /// the lock is free: under concurrent contacts most of the time went to those sleeps.
    /// Writers of this store queue here first, in order, and meet no lock in the database.
    /// (Other processes on the same file still meet the busy timeout.)
    pub(crate) writer: Option<Arc<tokio::sync::Mutex<()>>>,
    /// Direct connections for the contact path, for a `SQLite` file (see
    /// [`crate::direct`]).
    pub(crate) direct: Option<Arc<crate::direct::Direct>>,
}

/// A write transaction, holding this store's writer turn (`SQLite`) until it ends.
pub(crate) struct WriteTx {
    tx: Transaction<'static, Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// Commits, then gives the turn to the next writer.
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.checkpointer.take() {
            task.abort();
        }
    }
}

impl fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.inner.backend)
            .field("connections", &self.inner.pool.size())
            .finish_non_exhaustive()
    }
}

/// How many times a transaction that hit a deadlock, a serialization failure or a busy
/// database is run again.
const RETRIES: u32 = 8;

/// How many ids go into one `IN (...)` list or one multi-row statement.
pub(crate) const CHUNK: usize = 2000;

impl SqlStore {
    /// Opens a store with default [`SqlStoreOptions`] and applies the migrations.
    ///
    /// URLs: `sqlite://path/to/file.db` (created when missing), `sqlite::memory:`,
    /// `postgres://user@host/db`, `mysql://user@host/db` (`MariaDB` too).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the server cannot be reached;
    /// [`StoreError::Backend`] for a bad URL or a failed migration.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, SqlStoreOptions::default()).await
    }

    /// Opens a store with these options and applies the migrations.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_with(url: &str, options: SqlStoreOptions) -> Result<Self, StoreError> {
        crate::connect::connect(url, options).await
    }

    /// The dialect behind this store.
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// Closes every connection; operations started afterwards fail with
    /// [`StoreError::Unavailable`].
    pub async fn close(&self) {
        if let Some(direct) = &self.inner.direct {
            direct.close();
        }
        self.inner.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    /// The direct `SQLite` connections, for a store in a file.
    pub(crate) fn direct(&self) -> Option<&Arc<crate::direct::Direct>> {
        self.inner.direct.as_ref()
    }

    pub(crate) fn is_mysql(&self) -> bool {
        self.inner.backend == Backend::MySql
    }

    /// Static SQL written with `?` placeholders, as this backend takes it.
    pub(crate) fn sql(&self, sql: &'static str) -> AssertSqlSafe<Arc<str>> {
        let mut cache = self
            .inner
            .statements
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let text = cache
            .entry(sql)
            .or_insert_with(|| match self.inner.backend {
                Backend::Postgres => Arc::from(numbered_placeholders(sql)),
                Backend::Sqlite | Backend::MySql => Arc::from(sql),
            });
        AssertSqlSafe(Arc::clone(text))
    }

    /// SQL built at run time (only from our own text and integers), as this backend
    /// takes it.
    pub(crate) fn dynamic(&self, sql: &str) -> AssertSqlSafe<String> {
        AssertSqlSafe(match self.inner.backend {
            Backend::Postgres => numbered_placeholders(sql),
            Backend::Sqlite | Backend::MySql => sql.to_owned(),
        })
    }

    /// Begins a write transaction. On `SQLite` it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so a transaction that reads before it writes waits for other
    /// writers instead of failing with `SQLITE_BUSY`.
    pub(crate) async fn begin(&self) -> Result<WriteTx, sqlx::Error> {
        let turn = self.write_turn().await;
        let tx = match self.inner.backend {
            Backend::Sqlite => self.inner.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres | Backend::MySql => self.inner.pool.begin().await?,
        };
        Ok(WriteTx { tx, _turn: turn })
    }

    /// Waits for this store's writer turn (`SQLite` only; `None` elsewhere). Take it
    /// before acquiring the connection that writes, never while holding another one.
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.inner.writer {
            Some(writer) => Some(Arc::clone(writer).lock_owned().await),
            None => None,
        }
    }

    /// Runs `op` until it succeeds, fails for good, or was retried [`RETRIES`] times.
    pub(crate) async fn retry<T, F, Fut>(&self, mut op: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Attempt<T>>,
    {
        let mut attempt = 0;
        loop {
            let failure = match op().await {
                Ok(v) => return Ok(v),
                Err(failure) => failure,
            };
            let retriable = match &failure {
                Failure::Sql(e) => is_retriable(self.backend(), e),
                Failure::Sqlite(e) => is_retriable_sqlite(e),
                Failure::Store(_) => false,
            };
            if !retriable || attempt >= RETRIES {
                return Err(self.store_error(failure));
            }
            attempt += 1;
            tracing::debug!(backend = %self.backend(), attempt, error = ?failure, "retrying transaction");
            tokio::time::sleep(Duration::from_millis(5 << attempt.min(6))).await;
        }
    }

    /// Runs one attempt of a read-only operation (no retry needed), mapping its errors.
    pub(crate) async fn read<T>(
        &self,
        op: impl Future<Output = Attempt<T>>,
    ) -> Result<T, StoreError> {
        op.await.map_err(|failure| self.store_error(failure))
    }

    /// A failed attempt as the store error callers see.
    fn store_error(&self, failure: Failure) -> StoreError {
        match failure {
            Failure::Store(e) => e,
            Failure::Sql(e) => map(self.backend(), e),
            Failure::Sqlite(e) => map_sqlite(e),
        }
    }

    /// Runs an `INSERT` and returns the generated `id`: the statement must end with
    /// `RETURNING id` except on `MySQL`, where `LAST_INSERT_ID()` is read.
    pub(crate) async fn insert_id<'q, E>(
        &self,
        conn: &mut sqlx::AnyConnection,
        query: E,
    ) -> Attempt<i64>
    where
        E: 'q + sqlx::Execute<'q, Any>,
    {
        if self.is_mysql() {
            let done = conn.execute(query).await?;
            done.last_insert_id()
                .ok_or_else(|| corrupt(self.backend(), "generated id", "none returned"))
        } else {
            Ok(conn.fetch_one(query).await?.try_get(0)?)
        }
    }

    /// Picks the SQL for `SQLite`/`PostgreSQL` or for `MySQL`.
    pub(crate) fn pick(&self, standard: &'static str, mysql: &'static str) -> &'static str {
        if self.is_mysql() { mysql } else { standard }
    }

    // --- conversions ---

    pub(crate) fn package_id(&self, v: i64) -> Attempt<PackageId> {
        u64::try_from(v)
            .ok()
            .and_then(|v| PackageId::new(v).ok())
            .ok_or_else(|| corrupt(self.backend(), "package id", v))
    }

    pub(crate) fn time(&self, v: i64) -> Attempt<Timestamp> {
        u64::try_from(v)
            .map(Timestamp::from_millis)
            .map_err(|_| corrupt(self.backend(), "time", v))
    }

    pub(crate) fn opt_time(&self, v: Option<i64>) -> Attempt<Option<Timestamp>> {
        v.map(|v| self.time(v)).transpose()
    }

    pub(crate) fn device(&self, v: &str) -> Attempt<DeviceId> {
        DeviceId::parse(v).map_err(|e| corrupt(self.backend(), "device id", e))
    }

    /// A computer from the columns `id, device_id, name, os_name, ip_address, tag,
    /// download_server, last_contact, last_inventory`.
    pub(crate) fn computer_row(&self, row: &impl Columns) -> Attempt<Computer> {
        Ok(Computer {
            id: ComputerId(row.int("id")?),
            device_id: self.device(&row.text("device_id")?)?,
            name: row.opt_text("name")?,
            os_name: row.opt_text("os_name")?,
            ip_address: row.opt_text("ip_address")?,
            tag: row.opt_text("tag")?,
            download_server: row.opt_int("download_server")?.map(ComputerId),
            last_contact: self.opt_time(row.opt_int("last_contact")?)?,
            last_inventory: self.opt_time(row.opt_int("last_inventory")?)?,
        })
    }

    /// An affectation from the columns of [`AFFECTATION_COLUMNS`].
    pub(crate) fn affectation_row(&self, row: &impl Columns) -> Attempt<Affectation> {
        Ok(Affectation {
            computer: ComputerId(row.int("computer")?),
            activation: ActivationId(row.int("activation")?),
            status: row.opt_text("status")?,
            options: self.options_row(row)?,
            changed: self.time(row.int("changed_at")?)?,
        })
    }

    /// Affectation options from the columns `forced, schedule_at, post_command`.
    pub(crate) fn options_row(&self, row: &impl Columns) -> Attempt<AffectOptions> {
        Ok(AffectOptions {
            force: row.int("forced")? != 0,
            schedule: self.opt_time(row.opt_int("schedule_at")?)?,
            post_command: row.opt_text("post_command")?,
        })
    }

    /// An activation from the columns of [`ACTIVATION_COLUMNS`].
    pub(crate) fn activation_row(&self, row: &impl Columns) -> Attempt<Activation> {
        Ok(Activation {
            id: ActivationId(row.int("act_id")?),
            package: self.package_id(row.int("act_package")?)?,
            info_location: row.text("info_location")?,
            pack_location: row.text("pack_location")?,
            cert_path: row.opt_text("cert_path")?,
            cert_file: row.opt_text("cert_file")?,
            created: self.time(row.int("act_created")?)?,
        })
    }
}

/// Reading columns by name from a row of either driver: sqlx's `AnyRow`, or a direct
/// `SQLite` connection's row ([`crate::direct::NamedRow`]). The row conversions above take either.
pub(crate) trait Columns {
    fn int(&self, name: &str) -> Attempt<i64>;
    fn opt_int(&self, name: &str) -> Attempt<Option<i64>>;
    fn text(&self, name: &str) -> Attempt<String>;
    fn opt_text(&self, name: &str) -> Attempt<Option<String>>;
}

impl Columns for AnyRow {
    fn int(&self, name: &str) -> Attempt<i64> {
        Ok(self.try_get(name)?)
    }
    fn opt_int(&self, name: &str) -> Attempt<Option<i64>> {
        Ok(self.try_get(name)?)
    }
    fn text(&self, name: &str) -> Attempt<String> {
        Ok(self.try_get(name)?)
    }
    fn opt_text(&self, name: &str) -> Attempt<Option<String>> {
        Ok(self.try_get(name)?)
    }
}

/// The columns [`SqlStore::affectation_row`] reads, from `affectations a`.
macro_rules! affectation_columns {
    () => {
        "a.computer, a.activation, a.status, a.forced, a.schedule_at, a.post_command, a.changed_at"
    };
}
pub(crate) use affectation_columns;

/// The columns [`SqlStore::activation_row`] reads, from `activations v`.
macro_rules! activation_columns {
    () => {
        "v.id AS act_id, v.package AS act_package, v.info_location, v.pack_location, \
         v.cert_path, v.cert_file, v.created AS act_created"
    };
}
pub(crate) use activation_columns;

/// The columns [`SqlStore::computer_row`] reads, from `computers`.
pub(crate) const COMPUTER_COLUMNS: &str = "id, device_id, name, os_name, ip_address, tag, \
     download_server, last_contact, last_inventory";

/// A time as stored: milliseconds since the Unix epoch.
pub(crate) fn millis(t: Timestamp) -> i64 {
    i64::try_from(t.as_millis()).unwrap_or(i64::MAX)
}

/// A package id as stored.
pub(crate) fn package_key(id: PackageId) -> i64 {
    i64::try_from(id.get()).unwrap_or(i64::MAX)
}

/// A status class as stored in `status_class`.
pub(crate) fn class_key(class: StatusClass) -> i64 {
    match class {
        StatusClass::Waiting => 0,
        StatusClass::Notified => 1,
        StatusClass::Success => 2,
        StatusClass::Error => 3,
        StatusClass::Unclassified => 4,
    }
}

/// `n` comma-separated placeholders, for a row of `VALUES`.
pub(crate) fn marks(n: usize) -> String {
    let mut out = String::with_capacity(n * 3);
    for i in 0..n {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('?');
    }
    out
}

impl SqlStore {
    /// `IN (?, …)` for a list of `n` ids, bound with [`bind_ids!`]: on `PostgreSQL` one
    /// text parameter split into a `BIGINT[]` (planning an `IN` list of thousands of
    /// parameters costs more than the insert it selects for).
    ///
    /// Lists are bound, never inlined, so that a statement's text depends only on the
    /// list's length (or not at all on `PostgreSQL`): prepared statements are then reused
    /// from the connection's cache. (Preparing and closing a statement per call costs
    /// `MySQL` a delayed-ACK round trip, ~40 ms.)
    pub(crate) fn in_ids(&self, n: usize) -> String {
        match self.backend() {
            Backend::Postgres => "= ANY(CAST(string_to_array(?, ',') AS BIGINT[]))".to_owned(),
            Backend::Sqlite | Backend::MySql => format!("IN ({})", marks(n)),
        }
    }

    /// The text a `PostgreSQL` id list is bound as: `1,2,3`.
    pub(crate) fn joined_ids(ids: &[i64]) -> String {
        let mut out = String::with_capacity(ids.len() * 8);
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&id.to_string());
        }
        out
    }
}

/// Binds a list of ids to a query whose SQL holds [`SqlStore::in_ids`].
macro_rules! bind_ids {
    ($store:expr, $query:expr, $ids:expr) => {{
        let mut query = $query;
        let ids: &[i64] = $ids;
        if $store.backend() == crate::Backend::Postgres {
            query = query.bind(crate::SqlStore::joined_ids(ids));
        } else {
            for id in ids {
                query = query.bind(*id);
            }
        }
        query
    }};
}
pub(crate) use bind_ids;

/// Rewrites `?` placeholders as `$1`, `$2`, … for `PostgreSQL`, leaving `?` inside
/// quoted strings and identifiers alone.
pub(crate) fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    let mut quote: Option<char> = None;
    for ch in sql.chars() {
        match (quote, ch) {
            (None, '?') => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
                continue;
            }
            (None, '\'' | '"') => quote = Some(ch),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            numbered_placeholders("SELECT a FROM t WHERE b = ? AND c LIKE '?%' AND d IN (?, ?)"),
            "SELECT a FROM t WHERE b = $1 AND c LIKE '?%' AND d IN ($2, $3)"
        );
        assert_eq!(
            numbered_placeholders("x = 'it''s ?' OR y = ?"),
            "x = 'it''s ?' OR y = $1"
        );
    }

    #[test]
    fn placeholders_are_listed() {
        assert_eq!(marks(3), "?, ?, ?");
        assert_eq!(marks(0), "");
        assert_eq!(SqlStore::joined_ids(&[1, -2, 3]), "1,-2,3");
    }
}

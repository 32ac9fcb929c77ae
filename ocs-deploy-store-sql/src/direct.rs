//! Direct `SQLite` connections for the operations every agent contact runs.
//!
//! sqlx runs each `SQLite` connection on a thread of its own and hands it every statement,
//! and every row back, through channels: a PROLOG's dozen statements cost dozens of
//! thread switches, which took most of a contact's time under load (`perf`: scheduler
//! and futex wake-ups ahead of `SQLite` itself). For a store in a file, the contact and
//! notification paths instead run all their statements in one call on a blocking thread,
//! through `rusqlite` connections to the same file (the same bundled `SQLite` library as
//! sqlx's, same pragmas), within the store's writer turn: one hand-over per operation.
//! Everything else, and memory databases (which a second connection cannot see), goes
//! through sqlx.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ocs_deploy_core::store::StoreError;
use rusqlite::{Connection, OpenFlags};

use crate::Backend;
use crate::error::{Attempt, Failure, backend_error, is_retriable_sqlite};
use crate::sql::Columns;

/// A pool of direct connections to one `SQLite` file.
pub(crate) struct Direct {
    path: PathBuf,
    read_only: bool,
    busy_timeout: Duration,
    /// Idle connections, at most `keep`.
    idle: Mutex<Vec<Connection>>,
    keep: usize,
    /// Set by [`close`](Self::close): no connection is handed out or kept any more.
    closed: AtomicBool,
}

impl Direct {
    /// Direct connections to the database file at `path` (as `PRAGMA database_list`
    /// names it), opened lazily, at most `keep` kept idle.
    pub(crate) fn new(path: PathBuf, read_only: bool, busy_timeout: Duration, keep: usize) -> Self {
        Self {
            path,
            read_only,
            busy_timeout,
            idle: Mutex::new(Vec::new()),
            keep: keep.max(1),
            closed: AtomicBool::new(false),
        }
    }

    /// Closes the idle connections; later operations fail with
    /// [`StoreError::Unavailable`], as the pool's do once closed.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Runs `op` with a connection, returning what it returns. `op` should run its
    /// statements in one transaction; a transaction it leaves open is rolled back when
    /// the `rusqlite::Transaction` drops, so a returned connection is always clean.
    ///
    /// The caller holds the store's writer turn, so no other writer of this process
    /// competes for the database: `op` first runs right here, with no busy timeout, on an
    /// idle connection (statements on cached pages take microseconds, and a hand-over to
    /// another thread would cost more than the work). Only when no connection is idle, or
    /// another process holds the database's lock, does it run again on a blocking thread,
    /// where the busy timeout may wait.
    pub(crate) async fn run<T, F>(self: &Arc<Self>, op: F) -> Attempt<T>
    where
        T: Send + 'static,
        F: Fn(&mut Connection) -> Attempt<T> + Send + 'static,
    {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Failure::Store(StoreError::Unavailable {
                backend: Backend::Sqlite.name(),
                source: Arc::new(Closed),
            }));
        }
        if let Some(mut conn) = self.take_idle() {
            conn.busy_timeout(Duration::ZERO)?;
            let out = op(&mut conn);
            let busy = matches!(&out, Err(Failure::Sqlite(e)) if is_retriable_sqlite(e));
            conn.busy_timeout(self.busy_timeout)?;
            if conn.is_autocommit() {
                self.give(conn);
            }
            if !busy {
                return out;
            }
        }
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut conn = match pool.take_idle() {
                Some(conn) => conn,
                None => pool.open()?,
            };
            let out = op(&mut conn);
            if conn.is_autocommit() {
                pool.give(conn);
            }
            out
        })
        .await
        .map_err(|e| Failure::Store(backend_error(Backend::Sqlite, e)))?
    }

    fn take_idle(&self) -> Option<Connection> {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    fn give(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.keep && !self.closed.load(Ordering::SeqCst) {
            idle.push(conn);
        }
    }

    /// A new connection with the pragmas of the store's sqlx connections (see
    /// `connect::sqlite_pragmas`).
    fn open(&self) -> Attempt<Connection> {
        let mut flags = OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        flags |= if self.read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
        };
        let conn = Connection::open_with_flags(&self.path, flags).map_err(|e| {
            Failure::Store(StoreError::Unavailable {
                backend: Backend::Sqlite.name(),
                source: Arc::new(e),
            })
        })?;
        conn.busy_timeout(self.busy_timeout)?;
        conn.set_prepared_statement_cache_capacity(64);
        conn.execute_batch(
            "PRAGMA foreign_keys = ON; PRAGMA cache_size = -32768; \
             PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 20000;",
        )?;
        Ok(conn)
    }
}

/// The store was closed.
#[derive(Debug, thiserror::Error)]
#[error("the store is closed")]
struct Closed;

/// Binds `values` in order to a prepared statement's parameters `1..`.
pub(crate) fn bind_all(
    statement: &mut rusqlite::CachedStatement<'_>,
    values: &[&dyn rusqlite::ToSql],
) -> rusqlite::Result<()> {
    for (i, value) in values.iter().enumerate() {
        statement.raw_bind_parameter(i + 1, value)?;
    }
    Ok(())
}

/// A statement's column names, read once: `rusqlite` looks a column up by name through
/// `sqlite3_column_name` and a case-insensitive comparison on every call, which for a
/// PROLOG's fifty rows of fourteen columns cost more than the rows' values.
pub(crate) struct ColumnNames(Vec<String>);

impl ColumnNames {
    /// The names of the columns `statement` returns.
    pub(crate) fn of(statement: &rusqlite::Statement<'_>) -> Self {
        Self(
            statement
                .column_names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        )
    }

    /// `row`, read by these names.
    pub(crate) fn row<'a>(&'a self, row: &'a rusqlite::Row<'a>) -> NamedRow<'a> {
        NamedRow { row, names: self }
    }
}

/// A row of a statement whose [`ColumnNames`] are known.
pub(crate) struct NamedRow<'a> {
    row: &'a rusqlite::Row<'a>,
    names: &'a ColumnNames,
}

impl NamedRow<'_> {
    fn get<T: rusqlite::types::FromSql>(&self, name: &str) -> Attempt<T> {
        let index = self
            .names
            .0
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| rusqlite::Error::InvalidColumnName(name.to_owned()))?;
        Ok(self.row.get(index)?)
    }
}

impl Columns for NamedRow<'_> {
    fn int(&self, name: &str) -> Attempt<i64> {
        self.get(name)
    }
    fn opt_int(&self, name: &str) -> Attempt<Option<i64>> {
        self.get(name)
    }
    fn text(&self, name: &str) -> Attempt<String> {
        self.get(name)
    }
    fn opt_text(&self, name: &str) -> Attempt<Option<String>> {
        self.get(name)
    }
}

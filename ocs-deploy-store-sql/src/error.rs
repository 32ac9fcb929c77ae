//! sqlx errors as [`StoreError`]s, and which of them are worth a retry.

use std::sync::Arc;

use ocs_deploy_core::store::StoreError;
use sqlx::error::ErrorKind;

use crate::Backend;

/// Why one attempt at an operation failed: a database error (maybe retried) or a decided
/// store error (returned as is).
#[derive(Debug)]
pub(crate) enum Failure {
    Sql(sqlx::Error),
    /// From a direct `SQLite` connection (see [`crate::direct`]).
    Sqlite(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Self::Sql(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// The result of one attempt.
pub(crate) type Attempt<T> = Result<T, Failure>;

/// Any error as [`StoreError::Backend`].
pub(crate) fn backend_error(
    backend: Backend,
    e: impl std::error::Error + Send + Sync + 'static,
) -> StoreError {
    StoreError::Backend {
        backend: backend.name(),
        source: Arc::new(e),
    }
}

/// Any error as [`StoreError::Unavailable`].
pub(crate) fn unavailable(
    backend: Backend,
    e: impl std::error::Error + Send + Sync + 'static,
) -> StoreError {
    StoreError::Unavailable {
        backend: backend.name(),
        source: Arc::new(e),
    }
}

/// A value read back that the model refuses.
#[allow(clippy::needless_pass_by_value)] // details are ids and short texts; by value reads better
pub(crate) fn corrupt(backend: Backend, what: &'static str, detail: impl ToString) -> Failure {
    Failure::Store(StoreError::Corrupt {
        backend: backend.name(),
        what,
        detail: detail.to_string(),
    })
}

/// A sqlx error as a store error: connection trouble is [`StoreError::Unavailable`],
/// constraint violations are [`StoreError::Conflict`] / [`StoreError::NotFound`] (callers
/// that know the row map them with a better key first), the rest
/// [`StoreError::Backend`].
pub(crate) fn map(backend: Backend, e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => unavailable(backend, e),
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation => StoreError::Conflict {
                what: "row",
                key: db.constraint().unwrap_or("unique key").to_owned(),
            },
            ErrorKind::ForeignKeyViolation => StoreError::NotFound {
                what: "row",
                key: db.constraint().unwrap_or("foreign key").to_owned(),
            },
            _ if is_retriable(backend, &e) => unavailable(backend, e),
            _ => backend_error(backend, e),
        },
        _ => backend_error(backend, e),
    }
}

/// A direct `SQLite` connection's error as a store error, sorted as [`map`] sorts sqlx's.
pub(crate) fn map_sqlite(e: rusqlite::Error) -> StoreError {
    let backend = Backend::Sqlite;
    match sqlite_code(&e) {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            unavailable(backend, e)
        }
        Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Conflict {
            what: "row",
            key: "constraint".to_owned(),
        },
        Some(rusqlite::ErrorCode::CannotOpen) => unavailable(backend, e),
        _ => backend_error(backend, e),
    }
}

/// Whether running a direct `SQLite` transaction again may succeed: a busy or locked
/// database (another process holds the write lock).
pub(crate) fn is_retriable_sqlite(e: &rusqlite::Error) -> bool {
    matches!(
        sqlite_code(e),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn sqlite_code(e: &rusqlite::Error) -> Option<rusqlite::ErrorCode> {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.code),
        _ => None,
    }
}

/// Whether the error is a unique-key violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation)
}

/// Whether running the transaction again may succeed: a deadlock or serialization
/// failure (`PostgreSQL` 40001/40P01, `MySQL` 1213/1205), a busy or locked `SQLite`.
pub(crate) fn is_retriable(backend: Backend, e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    let Some(code) = db.code() else {
        return false;
    };
    match backend {
        Backend::Postgres => matches!(&*code, "40001" | "40P01"),
        // sqlx gives MySQL's SQLSTATE: 40001 for a deadlock (1213); a lock wait timeout
        // (1205) is the generic HY000, so it is told by its message.
        Backend::MySql => &*code == "40001" || db.message().contains("Lock wait timeout"),
        // Primary codes SQLITE_BUSY (5) and SQLITE_LOCKED (6), or their extended codes.
        Backend::Sqlite => code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6)),
    }
}

//! What can go wrong in a store.

use std::sync::Arc;

/// A boxed error from a store's backend, shared so [`StoreError`] can be cloned.
pub type BackendError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// A store operation failed.
///
/// ```
/// use ocs_deploy_core::store::StoreError;
///
/// let e = StoreError::conflict("activation", "1700000000 a/b c/d");
/// assert_eq!(e.to_string(), "activation 1700000000 a/b c/d already exists");
/// assert!(e.is_conflict());
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A row the operation needs does not exist.
    #[error("{what} {key} not found")]
    NotFound {
        /// What kind of row.
        what: &'static str,
        /// Its key.
        key: String,
    },
    /// A unique key is already taken.
    #[error("{what} {key} already exists")]
    Conflict {
        /// What kind of row.
        what: &'static str,
        /// Its key.
        key: String,
    },
    /// The backend cannot be reached now; retrying later may work.
    #[error("{backend} store unavailable")]
    Unavailable {
        /// Which backend.
        backend: &'static str,
        /// Why.
        #[source]
        source: BackendError,
    },
    /// A stored value cannot be read back (written by something else, or a bug).
    #[error("{what} in the {backend} store is invalid: {detail}")]
    Corrupt {
        /// Which backend.
        backend: &'static str,
        /// Which value.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// Any other backend failure.
    #[error("{backend} store failed")]
    Backend {
        /// Which backend.
        backend: &'static str,
        /// Why.
        #[source]
        source: BackendError,
    },
}

impl StoreError {
    /// A [`NotFound`](Self::NotFound) error.
    #[allow(clippy::needless_pass_by_value)] // ids are Copy; taking them by value reads better
    pub fn not_found(what: &'static str, key: impl ToString) -> Self {
        Self::NotFound {
            what,
            key: key.to_string(),
        }
    }

    /// A [`Conflict`](Self::Conflict) error.
    #[allow(clippy::needless_pass_by_value)]
    pub fn conflict(what: &'static str, key: impl ToString) -> Self {
        Self::Conflict {
            what,
            key: key.to_string(),
        }
    }

    /// Whether this is a [`Conflict`](Self::Conflict).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }

    /// Whether this is a [`NotFound`](Self::NotFound).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}

//! The SQL store of ocs-deploy: [`SqlStore`] keeps packages, activations, computers,
//! groups, affectations with their audit trail and settings in `SQLite`, `PostgreSQL` or
//! `MariaDB`/`MySQL`; [`DirectoryFiles`] keeps the package files in a directory.
//!
//! - [`SqlStore`] implements [`ocs_deploy_core::store::Store`] over one `sqlx` `Any` pool:
//!   one code path for the three dialects, SQL written with `?` placeholders (numbered
//!   for `PostgreSQL`), migrations per dialect applied on connect. It passes
//!   `ocs_deploy_core::testkit::conformance::store` on every backend. For a store in an
//!   `SQLite` file, the two operations of every agent contact (`contact`, `notify`) run
//!   instead on `rusqlite` connections to the same file, all of an operation's statements
//!   in one call: sqlx hands each statement and row of an `SQLite` connection to a thread
//!   of its own, and those thread switches were most of a contact's cost.
//! - [`SqlStoreOptions`] sizes the pool; [`Backend`] names the dialect.
//! - [`DirectoryFiles`] implements [`ocs_deploy_core::store::PackageFiles`] with atomic
//!   writes.
//!
//! Several server processes may share one database: status changes are guarded updates
//! (each affectation is notified once, no result is lost), transactions that meet a
//! deadlock, a serialization failure or a busy `SQLite` are run again, and `SQLite` files
//! use WAL with a busy timeout.
//!
//! Times are stored as milliseconds since the Unix epoch
//! ([`Timestamp`](ocs_deploy_core::Timestamp)'s resolution), in 64-bit integers.
//!
//! # Example
//! ```
//! use ocs_deploy_core::protocol::DeviceId;
//! use ocs_deploy_core::store::{ComputerUpdate, Store};
//! use ocs_deploy_core::Timestamp;
//! use ocs_deploy_store_sql::{Backend, SqlStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = SqlStore::connect("sqlite::memory:").await?;
//! assert_eq!(store.backend(), Backend::Sqlite);
//! let device = DeviceId::parse("pc-2026-01-01-00-00-00")?;
//! let id = store
//!     .upsert_computer(&ComputerUpdate::new(device.clone()), Timestamp::from_secs(1_700_000_000))
//!     .await?;
//! let context = store.contact(&device, Timestamp::from_secs(1_700_000_060)).await?;
//! assert_eq!(context.map(|c| c.computer.id), Some(id));
//! store.close().await;
//! # Ok(())
//! # }
//! ```
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)
)]

mod connect;
mod direct;
mod error;
pub mod files;
mod sql;
mod store;

pub use connect::{Backend, SqlStoreOptions};
pub use files::DirectoryFiles;
pub use sql::SqlStore;

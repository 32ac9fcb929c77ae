//! The pure core of ocs-deploy: OCS Inventory NG package deployment as values and state
//! machines, with no I/O.
//!
//! # Overview
//! - [`package`]: the model ([`PackageInfo`], [`PackageId`], [`Priority`], [`Action`],
//!   digests).
//! - [`info`]: read and write the XML `info` file, accepting every file the real OCS
//!   console writes (including its malformed ones) and writing its exact layout.
//! - [`fragment`]: plan, split and reassemble fragments, with the package digest and our
//!   per-fragment SHA-256 computed in one pass.
//! - [`status`]: every status code as an enum, and the console's classification.
//! - [`protocol`]: the OCS messages (PROLOG, INVENTORY, DOWNLOAD result) and their zlib,
//!   gzip or plain framing.
//! - [`schedule`]: the agents' download schedule (periods, cycles, priorities, latencies,
//!   timeout) as a sans-IO state machine.
//! - [`service`] over a [`store::Store`]: what the OCS console and communication server do
//!   for deployment.
//!
//! This crate has no tokio, no file system, no network, no clock and no processes: bytes
//! and time come in as arguments and results go out as values.
//!
//! # Example
//! ```
//! use ocs_deploy_core::{info, StatusCode};
//!
//! let text = br#"<?xml version="1.0" encoding="UTF-8"?>
//! <DOWNLOAD ID="1700000103" PRI="0" ACT="EXECUTE" DIGEST="" PROTO="HTTP" FRAGS="0" DIGEST_ALGO="MD5" DIGEST_ENCODE="Hexa" COMMAND="apt-get install -y <pkg> & echo ok" NOTIFY_USER="0" NOTIFY_TEXT="" NOTIFY_COUNTDOWN="" NOTIFY_CAN_ABORT="0" NOTIFY_CAN_DELAY="0" NEED_DONE_ACTION="0" NEED_DONE_ACTION_TEXT="" GARDEFOU="rien" />
//! "#;
//! let package = info::read(text)?;
//! assert_eq!(package.action.argument(), "apt-get install -y <pkg> & echo ok");
//! assert_eq!(package.fragment_count(), 0);
//! # Ok::<(), ocs_deploy_core::info::InfoError>(())
//! ```
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)
)]

pub mod agent;
pub mod fragment;
pub mod info;
pub mod package;
pub mod protocol;
pub mod schedule;
pub mod service;
pub mod status;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
mod time;
mod xml_text;

pub use package::{
    Action, ArchiveKind, Package, PackageFile, PackageId, PackageInfo, Payload, Priority,
};
pub use status::{DeploymentStatus, StatusClass, StatusCode};
pub use time::Timestamp;

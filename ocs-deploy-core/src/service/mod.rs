//! The deployment service: everything the OCS console and communication server do for
//! deployment, generic over a [`Store`] and a [`PackageFiles`].
//!
//! # Overview
//! - Build: [`DeploymentService::build`] splits an archive stream into fragments and writes
//!   them with the info file (`<root>/<id>/info`, `<root>/<id>/<id>-<n>`).
//! - Activate: [`DeploymentService::activate`] says where agents find a package;
//!   [`deactivate`](DeploymentService::deactivate) and
//!   [`delete_package`](DeploymentService::delete_package) undo it, leaving no row behind.
//! - Affect: [`DeploymentService::affect`] to computers (by device id or inventory
//!   criteria) or [`affect_group`](DeploymentService::affect_group) to a static group,
//!   with [`AffectOptions`](crate::store::AffectOptions) (force, schedule, post command).
//! - Contact: [`DeploymentService::handle`] answers an agent's request (PROLOG, INVENTORY,
//!   DOWNLOAD result).
//! - Stats and validation: [`DeploymentService::stats`],
//!   [`validate_success`](DeploymentService::validate_success),
//!   [`unaffect_not_notified`](DeploymentService::unaffect_not_notified).
//!
//! Time comes in as a [`Timestamp`](crate::Timestamp): the service reads no clock.
//!
//! # Example
//! ```
//! # #[cfg(feature = "testkit")] {
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use ocs_deploy_core::protocol::{DeviceId, Request};
//! use ocs_deploy_core::service::{AffectTarget, BuildRequest, DeploymentService, Reply, ServiceConfig};
//! use ocs_deploy_core::store::AffectOptions;
//! use ocs_deploy_core::testkit::{MemoryFiles, MemoryStore};
//! use ocs_deploy_core::{Action, Timestamp};
//!
//! # futures::executor::block_on(async {
//! let service = DeploymentService::new(
//!     Arc::new(MemoryStore::new()),
//!     Arc::new(MemoryFiles::new()),
//!     ServiceConfig::default(),
//! );
//! let now = Timestamp::from_secs(1_700_000_000);
//! let archive = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"#!/bin/sh\necho hi\n"))]);
//! let package = service
//!     .build(BuildRequest::new("hello", Action::Launch { command: "hello.sh".into() }), Some(archive), now)
//!     .await?;
//! let activation = service.activate(package.id, "ocs.example.com/download", "ocs.example.com/download", now).await?;
//!
//! // The agent's inventory creates the computer; its next PROLOG gets the package.
//! let device = DeviceId::parse("pc-2026-01-01-00-00-00")?;
//! let inventory = Request::Inventory { device_id: device.to_string(), hardware: Default::default(), history: Some(vec![]) };
//! service.handle(&inventory, now).await?;
//! service.affect(activation, &AffectTarget::Computers(vec![device.clone()]), &AffectOptions::default(), now).await?;
//! let Reply::Prolog(outcome) = service.handle(&Request::Prolog { device_id: device.to_string() }, now).await? else { unreachable!() };
//! assert_eq!(outcome.reply.download.unwrap().packages[0].id, package.id);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! # }
//! ```

mod build;
mod contact;
mod error;
mod location;
mod manage;
mod results;
mod settings;
mod stats;

use core::time::Duration;
use std::sync::Arc;

pub use build::BuildRequest;
pub use contact::{Deferred, PrologOutcome, Reply};
pub use error::ServiceError;
pub use location::{IP_PLACEHOLDER, Location, LocationError, NAME_PLACEHOLDER};
pub use manage::AffectTarget;
pub use results::{ResultRefusal, sanitize_status};
pub use settings::{EffectiveSettings, default_setting, merge_settings};
pub use stats::{PackageStats, StatusShare, TimelinePoint};

use crate::store::{PackageFiles, Store};

/// How a [`DeploymentService`] behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Accept `localhost` and loopback addresses in activations (tests, the quickstart).
    /// Off by default: every agent would resolve such a host to itself.
    pub allow_loopback: bool,
    /// Ask for an inventory (`RESPONSE` `SEND`) only when the last one is older than this;
    /// `None` asks at every PROLOG (OCS `FREQUENCY` 0).
    pub inventory_every: Option<Duration>,
}

impl Default for ServiceConfig {
    /// Loopback refused, an inventory at every PROLOG.
    fn default() -> Self {
        Self {
            allow_loopback: false,
            inventory_every: None,
        }
    }
}

/// The deployment service over a store and package files. Cheap to clone; clones share
/// the store. Several services (in one process or many) may share one store.
#[derive(Debug, Clone)]
pub struct DeploymentService {
    store: Arc<dyn Store>,
    files: Arc<dyn PackageFiles>,
    config: ServiceConfig,
}

impl DeploymentService {
    /// A service over `store` and `files`.
    pub fn new(store: Arc<dyn Store>, files: Arc<dyn PackageFiles>, config: ServiceConfig) -> Self {
        Self {
            store,
            files,
            config,
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The package files.
    pub fn files(&self) -> &Arc<dyn PackageFiles> {
        &self.files
    }

    /// The configuration.
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }
}

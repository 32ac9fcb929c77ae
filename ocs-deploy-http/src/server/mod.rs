//! The server side (feature `server`): the OCS communication endpoint, the package
//! files, TLS, and the listeners.
//!
//! - [`ocs_router`] with [`EndpointConfig`] (limits, `User-Agent` allow-list,
//!   [`Clock`]): `POST /ocsinventory`, answered by a
//!   [`DeploymentService`](ocs_deploy_core::service::DeploymentService); refusals are
//!   [`EndpointError`]s.
//! - [`download_router`]: `GET`/`HEAD /download/<id>/info` and
//!   `/download/<id>/<id>-<n>` from a package root on disk, with ranges and validators;
//!   [`InfoFiles`] says whether info files are served (HTTPS) or refused (plain HTTP).
//! - [`serve_files`] ([`FilesConfig`]): the fragments of the same package root on a
//!   plain-TCP listener of its own that sends bodies with `sendfile(2)` (no info files).
//! - [`TlsConfig`]: a certificate from PEM files, or generated with a CA for the agents
//!   ([`GeneratedCertificates`]).
//! - [`admin_router`]: the admin API (`/admin/v1/...`, JSON, bearer [`AdminToken`]) for
//!   every operation of the service, with streamed uploads; see [`admin`].
//! - [`Server`]: both routers on an HTTP and an HTTPS listener, and the admin API on the
//!   HTTPS one only; [`RunningServer`] gives the bound addresses and shuts down gracefully.
//!
//! Routers carry no tracing layer of their own; [`Server`] adds `tower_http`'s
//! `TraceLayer`. Install the ring crypto provider in your binary
//! (`rustls::crypto::ring::default_provider().install_default()`) if other code builds
//! rustls configurations without naming one; [`TlsConfig`] names ring itself.

pub mod admin;
mod config;
mod download;
mod error;
mod files;
mod ocs_endpoint;
mod serve;
mod tls;

pub use admin::{
    AdminConfig, AdminError, AdminToken, AdminTokenError, admin_router, admin_router_with,
};
pub use config::{Clock, EndpointConfig};
pub use download::{InfoFiles, download_router};
pub use error::EndpointError;
pub use files::{FilesConfig, serve_files};
pub use ocs_endpoint::{REPLY_CONTENT_TYPE, ocs_router};
pub use serve::{HEADER_READ_TIMEOUT, RunningServer, ServeError, Server};
pub use tls::{DEFAULT_NAMES, GeneratedCertificates, TlsConfig, TlsError};

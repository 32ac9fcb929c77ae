//! The admin API: JSON over HTTPS for every operation of the
//! [`DeploymentService`], behind a bearer token.
//!
//! # Routes
//! Every route needs `Authorization: Bearer <token>` ([`AdminToken`]); without it, or
//! with a wrong one, the answer is 401 with `WWW-Authenticate: Bearer`. Errors are
//! [`AdminError`]s: a JSON body `{"error": "..."}` with 400, 404, 409, 413 or 415 for bad
//! input, 5xx only for a failing store. The bodies are the types of [`api`].
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `POST /admin/v1/packages?name=&action=launch\|execute\|store&command=[&priority=&fragment_size=&fragments=]` | the archive (ZIP, TAR.GZ), streamed; empty for an Execute without file | 201 [`api::Package`] |
//! | `GET /admin/v1/packages` | | `[`[`api::Package`]`]` |
//! | `GET /admin/v1/packages/{id}` | | [`api::Package`] with its info file |
//! | `DELETE /admin/v1/packages/{id}` | | 204 |
//! | `GET /admin/v1/packages/{id}/activations` | | `[`[`api::Activation`]`]` |
//! | `POST /admin/v1/packages/{id}/activations` | [`api::ActivateRequest`] | 201 [`api::Activation`] |
//! | `DELETE /admin/v1/activations/{id}` | | 204 |
//! | `POST /admin/v1/packages/{id}/affectations` | [`api::AffectRequest`] | [`api::AffectResponse`] |
//! | `DELETE /admin/v1/packages/{id}/affectations/{device}` | | 204 |
//! | `POST /admin/v1/packages/{id}/affectations/{device}/reaffect` (after a failure) | | 204 |
//! | `GET /admin/v1/packages/{id}/stats` | | [`api::Stats`] |
//! | `GET /admin/v1/packages/{id}/status[?class=\|status=&offset=&limit=]` | | [`api::StatusPage`] |
//! | `GET /admin/v1/packages/{id}/timeline` | | `[`[`api::TimelinePoint`]`]` |
//! | `POST /admin/v1/packages/{id}/validate[?scope=success\|not-notified\|all]` | | [`api::Removed`] |
//! | `GET /admin/v1/config` | | [`api::Settings`] |
//! | `PUT /admin/v1/config/{KEY}` | [`api::SettingValue`] | [`api::Setting`] |
//! | `DELETE /admin/v1/config/{KEY}` | | 204 |
//! | `GET /admin/v1/groups` | | `[`[`api::Group`]`]` |
//! | `POST /admin/v1/groups` | [`api::CreateGroup`] | 201 [`api::Group`] |
//! | `GET /admin/v1/groups/{name}` | | [`api::Group`] with its members |
//! | `DELETE /admin/v1/groups/{name}` | | 204 |
//! | `POST /admin/v1/groups/{name}/members` | [`api::Members`] | 204 |
//! | `DELETE /admin/v1/groups/{name}/members/{device}` | | 204 |
//! | `DELETE /admin/v1/groups/{name}/affectations/{activation}` | | 204 |
//! | `PUT /admin/v1/computers/{device}/download-server` | [`api::DownloadServer`] | 204 |
//!
//! The archive of a build is never held in memory: the request body goes chunk by chunk
//! into [`DeploymentService::build`], which writes the fragments as they fill; more than
//! [`AdminConfig::max_upload`] bytes end the build with 413 and leave no package. JSON
//! bodies are bounded by [`AdminConfig::max_json`].
//!
//! Serve it on HTTPS only: [`Server::admin`](super::Server::admin) mounts it on the
//! HTTPS listener and nowhere else.

mod error;
mod extract;
mod groups;
mod packages;
mod settings;
mod token;
mod upload;

pub mod api;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{any, delete, get, post, put};
use ocs_deploy_core::service::DeploymentService;

pub use error::AdminError;
pub use token::{AdminToken, AdminTokenError};

use super::Clock;

/// The limits of the admin API, and the clock of the times it records.
///
/// ```
/// use ocs_deploy_http::server::AdminConfig;
///
/// let config = AdminConfig::default().with_max_upload(1 << 30).with_max_json(64 << 10);
/// assert_eq!(config.max_upload, 1 << 30);
/// assert_eq!(AdminConfig::default().max_json, AdminConfig::DEFAULT_MAX_JSON);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AdminConfig {
    /// The largest archive a build accepts, in bytes; a larger one gets 413 and leaves
    /// no package. Default [`DEFAULT_MAX_UPLOAD`](Self::DEFAULT_MAX_UPLOAD).
    pub max_upload: u64,
    /// The largest JSON body, in bytes; larger ones get 413. Default
    /// [`DEFAULT_MAX_JSON`](Self::DEFAULT_MAX_JSON).
    pub max_json: usize,
    /// Where build, activation and affectation times come from.
    pub clock: Clock,
}

impl AdminConfig {
    /// 4 GiB.
    pub const DEFAULT_MAX_UPLOAD: u64 = 4 << 30;
    /// 1 MiB: a list of some ten thousand device ids.
    pub const DEFAULT_MAX_JSON: usize = 1 << 20;

    /// Sets [`max_upload`](Self::max_upload).
    #[must_use]
    pub fn with_max_upload(mut self, bytes: u64) -> Self {
        self.max_upload = bytes;
        self
    }

    /// Sets [`max_json`](Self::max_json).
    #[must_use]
    pub fn with_max_json(mut self, bytes: usize) -> Self {
        self.max_json = bytes;
        self
    }

    /// Sets the [`clock`](Self::clock).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
}

impl Default for AdminConfig {
    /// 4 GiB uploads, 1 MiB JSON bodies, the system clock.
    fn default() -> Self {
        Self {
            max_upload: Self::DEFAULT_MAX_UPLOAD,
            max_json: Self::DEFAULT_MAX_JSON,
            clock: Clock::system(),
        }
    }
}

/// What every handler shares.
#[derive(Debug)]
struct AdminState {
    service: Arc<DeploymentService>,
    config: AdminConfig,
}

/// The admin API (`/admin/v1/...`) over `service`, with [`AdminConfig::default`].
///
/// Mount it on an HTTPS listener only, for example with
/// [`Server::admin`](super::Server::admin):
///
/// ```
/// use std::sync::Arc;
/// use ocs_deploy_core::service::{DeploymentService, ServiceConfig};
/// use ocs_deploy_core::testkit::{MemoryFiles, MemoryStore};
/// use ocs_deploy_http::server::admin::api::Package;
/// use ocs_deploy_http::server::{AdminToken, EndpointConfig, Server, TlsConfig, admin_router};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let _ = rustls::crypto::ring::default_provider().install_default();
/// let service = Arc::new(DeploymentService::new(
///     Arc::new(MemoryStore::new()),
///     Arc::new(MemoryFiles::new()),
///     ServiceConfig::default(),
/// ));
/// let token = AdminToken::new("0123456789abcdef0123456789abcdef")?;
/// let dir = tempfile::tempdir()?;
/// let (tls, certs) = TlsConfig::generate(dir.path(), &[])?;
/// let running = Server::new(service.clone(), EndpointConfig::default(), dir.path().join("download"))
///     .admin(admin_router(service, token))
///     .https("127.0.0.1:0".parse()?, tls)
///     .start()
///     .await?;
///
/// let client = reqwest::Client::builder()
///     .tls_certs_only([reqwest::Certificate::from_pem(&std::fs::read(&certs.ca_cert)?)?])
///     .build()?;
/// let base = format!("https://localhost:{}/admin/v1", running.https_addr().unwrap().port());
/// // An Execute without file: no body.
/// let built = client
///     .post(format!("{base}/packages?name=htop&action=execute&command=apt-get%20install%20-y%20htop"))
///     .bearer_auth("0123456789abcdef0123456789abcdef")
///     .send()
///     .await?;
/// assert_eq!(built.status(), 201);
/// let package: Package = serde_json::from_slice(&built.bytes().await?)?;
/// assert_eq!(package.fragments, 0);
///
/// let anonymous = client.get(format!("{base}/packages")).send().await?;
/// assert_eq!(anonymous.status(), 401);
/// running.shutdown(std::time::Duration::from_secs(1)).await?;
/// # Ok(()) }
/// ```
pub fn admin_router(service: Arc<DeploymentService>, token: AdminToken) -> Router {
    admin_router_with(service, token, AdminConfig::default())
}

/// The admin API with your limits and clock; see [`admin_router`].
///
/// ```
/// use std::sync::Arc;
/// use ocs_deploy_core::service::{DeploymentService, ServiceConfig};
/// use ocs_deploy_core::testkit::{MemoryFiles, MemoryStore};
/// use ocs_deploy_http::server::{AdminConfig, AdminToken, admin_router_with};
///
/// let service = Arc::new(DeploymentService::new(
///     Arc::new(MemoryStore::new()),
///     Arc::new(MemoryFiles::new()),
///     ServiceConfig::default(),
/// ));
/// let token = AdminToken::new("0123456789abcdef0123456789abcdef")?;
/// let router = admin_router_with(service, token, AdminConfig::default().with_max_upload(1 << 30));
/// # drop(router);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn admin_router_with(
    service: Arc<DeploymentService>,
    token: AdminToken,
    config: AdminConfig,
) -> Router {
    let max_json = config.max_json;
    let state = Arc::new(AdminState { service, config });
    Router::new()
        .route(
            "/admin/v1/packages",
            get(packages::list).post(packages::build),
        )
        .route(
            "/admin/v1/packages/{id}",
            get(packages::show).delete(packages::delete),
        )
        .route(
            "/admin/v1/packages/{id}/activations",
            get(packages::activations).post(packages::activate),
        )
        .route("/admin/v1/activations/{id}", delete(packages::deactivate))
        .route(
            "/admin/v1/packages/{id}/affectations",
            post(packages::affect),
        )
        .route(
            "/admin/v1/packages/{id}/affectations/{device}",
            delete(packages::unaffect),
        )
        .route(
            "/admin/v1/packages/{id}/affectations/{device}/reaffect",
            post(packages::reaffect),
        )
        .route("/admin/v1/packages/{id}/stats", get(packages::stats))
        .route("/admin/v1/packages/{id}/timeline", get(packages::timeline))
        .route("/admin/v1/packages/{id}/status", get(packages::status))
        .route("/admin/v1/packages/{id}/validate", post(packages::validate))
        .route("/admin/v1/config", get(settings::list))
        .route(
            "/admin/v1/config/{key}",
            put(settings::set).delete(settings::remove),
        )
        .route("/admin/v1/groups", get(groups::list).post(groups::create))
        .route(
            "/admin/v1/groups/{name}",
            get(groups::show).delete(groups::delete),
        )
        .route("/admin/v1/groups/{name}/members", post(groups::add_members))
        .route(
            "/admin/v1/groups/{name}/members/{device}",
            delete(groups::remove_member),
        )
        .route(
            "/admin/v1/groups/{name}/affectations/{activation}",
            delete(groups::unaffect),
        )
        .route(
            "/admin/v1/computers/{device}/download-server",
            put(packages::set_download_server),
        )
        .route("/admin/{*rest}", any(no_route))
        .route("/admin", any(no_route))
        .layer(DefaultBodyLimit::max(max_json))
        .layer(axum::middleware::from_fn_with_state(
            token,
            token::require_token,
        ))
        .with_state(state)
}

/// Any other path under `/admin` (once the token is checked).
async fn no_route() -> AdminError {
    AdminError::NotFound("no such admin route".into())
}

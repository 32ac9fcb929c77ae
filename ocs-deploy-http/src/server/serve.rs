//! [`Server`]: an HTTP listener and an HTTPS listener, with graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::tls_rustls::RustlsConfig;
use axum_server::{Control, Handle};
use ocs_deploy_core::service::DeploymentService;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_http::trace::TraceLayer;

use super::files::serve_until;
use super::{EndpointConfig, FilesConfig, InfoFiles, TlsConfig, download_router, ocs_router};

/// Starting or running the listeners failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// No HTTP, HTTPS or files address was given.
    #[error("no listener configured: give an HTTP, an HTTPS or a files address")]
    NoListener,
    /// A listener could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A listener stopped with an error.
    #[error("the {scheme} listener failed")]
    Listener {
        /// `http`, `https` or `files`.
        scheme: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A listener's task panicked or was cancelled.
    #[error("the {scheme} listener task ended abnormally")]
    Task {
        /// `http`, `https` or `files`.
        scheme: &'static str,
        /// Why.
        #[source]
        source: tokio::task::JoinError,
    },
}

/// How long a client may take to send its request headers before the connection is
/// closed (slow clients holding connections open).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The server of the OCS agents: an HTTP listener and an HTTPS listener (either may be
/// left out), each answering the OCS communication endpoint ([`ocs_router`]) and the
/// package files ([`download_router`]); info files only over HTTPS, and the admin API
/// ([`admin`](Self::admin)) only over HTTPS. Optionally a third, fragments-only listener
/// ([`files`](Self::files), [`serve_files`](super::serve_files)) that sends bodies with
/// `sendfile(2)`.
///
/// [`start`](Self::start) binds the listeners (port 0 picks a free port) and returns a
/// [`RunningServer`] with the bound addresses; stop it with
/// [`RunningServer::shutdown`] or [`RunningServer::run_until`].
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use ocs_deploy_core::service::{DeploymentService, ServiceConfig};
/// use ocs_deploy_core::testkit::{MemoryFiles, MemoryStore};
/// use ocs_deploy_http::server::{EndpointConfig, FilesConfig, Server, TlsConfig};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let service = Arc::new(DeploymentService::new(
///     Arc::new(MemoryStore::new()),
///     Arc::new(MemoryFiles::new()),
///     ServiceConfig::default(),
/// ));
/// let (tls, certs) = TlsConfig::generate("/etc/ocs-deploy/tls".as_ref(), &["ocs.example.com"])?;
/// println!("give {} to the agents", certs.ca_cert.display());
/// let running = Server::new(service, EndpointConfig::default(), "/var/lib/ocs-deploy/download")
///     .http("0.0.0.0:80".parse()?)
///     .https("0.0.0.0:443".parse()?, tls)
///     // Optional: fragments only, with sendfile, on a port of their own.
///     .files("0.0.0.0:8080".parse()?, "/var/lib/ocs-deploy/download", FilesConfig::default())
///     .start()
///     .await?;
/// println!("listening on {:?} and {:?}", running.http_addr(), running.https_addr());
/// println!("fragments also on {:?}", running.files_addr());
/// running
///     .run_until(async { let _ = tokio::signal::ctrl_c().await; }, Duration::from_secs(10))
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Server {
    http_app: Router,
    https_app: Router,
    admin: Option<Router>,
    http: Option<SocketAddr>,
    https: Option<(SocketAddr, TlsConfig)>,
    files: Option<(SocketAddr, PathBuf, FilesConfig)>,
}

impl Server {
    /// A server answering agents with `service` and serving the package files under
    /// `package_root`; no listener yet.
    pub fn new(
        service: Arc<DeploymentService>,
        endpoint: EndpointConfig,
        package_root: impl Into<PathBuf>,
    ) -> Self {
        let root = package_root.into();
        let ocs = ocs_router(service, endpoint);
        Self::from_routers(
            ocs.clone()
                .merge(download_router(root.clone(), InfoFiles::Refuse)),
            ocs.merge(download_router(root, InfoFiles::Serve)),
        )
    }

    /// A server answering with your own routers on each listener (for example with an
    /// admin API merged in on HTTPS only). A request-tracing layer is added to both.
    pub fn from_routers(plain: Router, tls: Router) -> Self {
        Self {
            http_app: plain,
            https_app: tls,
            admin: None,
            http: None,
            https: None,
            files: None,
        }
    }

    /// Serves `admin` (normally [`admin_router`](super::admin_router)) on the HTTPS
    /// listener, and nowhere on plain HTTP: its paths are 404 there. Without an HTTPS
    /// listener it is not served at all (a warning says so at [`start`](Self::start)).
    #[must_use]
    pub fn admin(mut self, admin: Router) -> Self {
        self.admin = Some(admin);
        self
    }

    /// Listens for plain HTTP on `addr`.
    #[must_use]
    pub fn http(mut self, addr: SocketAddr) -> Self {
        self.http = Some(addr);
        self
    }

    /// Listens for HTTPS on `addr`.
    #[must_use]
    pub fn https(mut self, addr: SocketAddr, tls: TlsConfig) -> Self {
        self.https = Some((addr, tls));
        self
    }

    /// Serves the package fragments under `package_root` (normally the root given to
    /// [`new`](Self::new)) on `addr` with [`serve_files`](super::serve_files): a plain-TCP
    /// listener of its own that sends bodies with `sendfile(2)`, and refuses info files.
    #[must_use]
    pub fn files(
        mut self,
        addr: SocketAddr,
        package_root: impl Into<PathBuf>,
        config: FilesConfig,
    ) -> Self {
        self.files = Some((addr, package_root.into(), config));
        self
    }

    /// Binds the listeners and starts serving, on the current tokio runtime.
    ///
    /// # Errors
    /// [`ServeError::NoListener`], [`ServeError::Bind`].
    // Async although nothing is awaited yet: it must run inside the tokio runtime that
    // will drive the listeners (it spawns them and registers their sockets).
    #[allow(clippy::unused_async)]
    pub async fn start(self) -> Result<RunningServer, ServeError> {
        if self.http.is_none() && self.https.is_none() && self.files.is_none() {
            return Err(ServeError::NoListener);
        }
        let plain_app = self.http_app.layer(TraceLayer::new_for_http());
        let tls_app = match self.admin {
            Some(admin) => {
                if self.https.is_none() {
                    tracing::warn!("the admin API is not served: it needs an HTTPS listener");
                }
                self.https_app.merge(admin)
            }
            None => self.https_app,
        }
        .layer(TraceLayer::new_for_http());
        let control = Control::new();
        let mut running = RunningServer {
            http: None,
            https: None,
            files: None,
            files_stop: None,
            control: control.clone(),
            tasks: Vec::new(),
        };
        if let Some(addr) = self.http {
            let (listener, bound) = bind(addr)?;
            let mut server = axum_server::from_tcp(listener)
                .map_err(|source| ServeError::Bind { addr, source })?
                .handle(Handle::with_control(control.clone()));
            server
                .http_builder()
                .http1()
                .header_read_timeout(Some(HEADER_READ_TIMEOUT));
            let app = plain_app;
            running.tasks.push((
                "http",
                tokio::spawn(async move { server.serve(app.into_make_service()).await }),
            ));
            running.http = Some(bound);
            tracing::info!(addr = %bound, "HTTP listener started");
        }
        if let Some((addr, tls)) = self.https {
            let (listener, bound) = bind(addr)?;
            let config = RustlsConfig::from_config(tls.rustls_config());
            let mut server = axum_server::from_tcp_rustls(listener, config)
                .map_err(|source| ServeError::Bind { addr, source })?
                .handle(Handle::with_control(control.clone()));
            server
                .http_builder()
                .http1()
                .header_read_timeout(Some(HEADER_READ_TIMEOUT));
            let app = tls_app;
            running.tasks.push((
                "https",
                tokio::spawn(async move { server.serve(app.into_make_service()).await }),
            ));
            running.https = Some(bound);
            tracing::info!(addr = %bound, "HTTPS listener started");
        }
        if let Some((addr, root, config)) = self.files {
            let (listener, bound) = bind(addr)?;
            let listener = listener
                .set_nonblocking(true)
                .and_then(|()| tokio::net::TcpListener::from_std(listener))
                .map_err(|source| ServeError::Bind { addr, source })?;
            let (stop, stopped) = oneshot::channel::<Duration>();
            let fallback = config.shutdown_grace;
            running.tasks.push((
                "files",
                tokio::spawn(serve_until(listener, root, config, async move {
                    stopped.await.unwrap_or(fallback)
                })),
            ));
            running.files = Some(bound);
            running.files_stop = Some(stop);
            tracing::info!(addr = %bound, "files listener started");
        }
        Ok(running)
    }
}

fn bind(addr: SocketAddr) -> Result<(std::net::TcpListener, SocketAddr), ServeError> {
    let error = |source| ServeError::Bind { addr, source };
    let listener = std::net::TcpListener::bind(addr).map_err(error)?;
    let bound = listener.local_addr().map_err(error)?;
    Ok((listener, bound))
}

/// Listeners started by [`Server::start`].
///
/// Dropping it leaves the listeners running in their tasks until the runtime stops; call
/// [`shutdown`](Self::shutdown) or [`run_until`](Self::run_until) to stop them.
#[derive(Debug)]
pub struct RunningServer {
    http: Option<SocketAddr>,
    https: Option<SocketAddr>,
    files: Option<SocketAddr>,
    files_stop: Option<oneshot::Sender<Duration>>,
    control: Control,
    tasks: Vec<(&'static str, JoinHandle<std::io::Result<()>>)>,
}

impl RunningServer {
    /// The address the HTTP listener is bound to.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http
    }

    /// The address the HTTPS listener is bound to.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https
    }

    /// The address the files listener ([`Server::files`]) is bound to.
    pub fn files_addr(&self) -> Option<SocketAddr> {
        self.files
    }

    /// Serves until `signal` completes, then shuts down as [`shutdown`](Self::shutdown)
    /// does.
    ///
    /// # Errors
    /// As [`shutdown`](Self::shutdown).
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()>,
        grace: Duration,
    ) -> Result<(), ServeError> {
        signal.await;
        self.shutdown(grace).await
    }

    /// Stops accepting connections, lets requests in progress finish for at most
    /// `grace`, then closes every connection and waits for the listeners to end.
    ///
    /// # Errors
    /// [`ServeError::Listener`] or [`ServeError::Task`] when a listener had failed.
    pub async fn shutdown(self, grace: Duration) -> Result<(), ServeError> {
        tracing::info!(?grace, "shutting down");
        self.control.graceful_shutdown(Some(grace));
        if let Some(stop) = self.files_stop {
            let _ = stop.send(grace);
        }
        let mut first_error = None;
        for (scheme, task) in self.tasks {
            let error = match task.await {
                Ok(Ok(())) => continue,
                Ok(Err(source)) => ServeError::Listener { scheme, source },
                Err(source) => ServeError::Task { scheme, source },
            };
            tracing::error!(error = %super::error::chain(&error), "listener failed");
            first_error.get_or_insert(error);
        }
        first_error.map_or(Ok(()), Err)
    }
}

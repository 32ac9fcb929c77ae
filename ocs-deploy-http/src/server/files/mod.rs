//! A plain-TCP listener for package fragments that sends file bodies with `sendfile(2)`:
//! [`serve_files`] and [`FilesConfig`].
//!
//! The axum download handler ([`download_router`](super::download_router)) copies each
//! body twice (disk cache to user space, user space to the socket); this listener lets the
//! kernel move the bytes from the page cache to the socket, as nginx does. It speaks a
//! small, strict HTTP/1.1 (see [`serve_files`]) and serves fragments only.

mod connection;
mod request;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::download::PackageRoot;

/// Limits of a files listener ([`serve_files`]).
///
/// ```
/// use std::time::Duration;
/// use ocs_deploy_http::server::FilesConfig;
///
/// let mut config = FilesConfig::default();
/// config.header_read_timeout = Duration::from_secs(10);
/// assert_eq!(config.max_request_head, 16 * 1024);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FilesConfig {
    /// How long a client may take to send a whole request head, counted from the moment
    /// the listener waits for it (also the idle time allowed between keep-alive
    /// requests). The connection is closed when it runs out (slow clients).
    pub header_read_timeout: Duration,
    /// The largest request head (request line and headers) accepted, in bytes; a longer
    /// one is answered 431 and the connection closed.
    pub max_request_head: usize,
    /// After the shutdown signal of [`serve_files`], how long responses in progress may
    /// take before their connections are closed.
    pub shutdown_grace: Duration,
    /// The most connections served at once. At the limit the listener stops accepting
    /// until one closes: further clients wait in the kernel's accept queue (nginx's
    /// `worker_connections`). Idle keep-alive connections count, for at most
    /// [`header_read_timeout`](Self::header_read_timeout). Default 10,000.
    pub max_connections: usize,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: super::HEADER_READ_TIMEOUT,
            max_request_head: 16 * 1024,
            shutdown_grace: Duration::from_secs(10),
            max_connections: 10_000,
        }
    }
}

/// Where the connections find the files.
#[derive(Debug)]
struct Shared {
    root: PackageRoot,
    config: FilesConfig,
}

/// Serves the package fragments under `root` (laid out as for
/// [`download_router`](super::download_router): `<root>/<id>/<id>-<n>`) on `listener`
/// until `shutdown` completes, then stops accepting, lets responses in progress finish for
/// at most [`FilesConfig::shutdown_grace`] and closes every connection.
///
/// The HTTP it speaks:
/// - `GET` and `HEAD /download/<id>/<id>-<n>` (`?query` ignored, percent-encoding
///   decoded, as axum does); the same names, path safety, headers, `ETag`,
///   `Last-Modified`, conditional requests (`If-None-Match`, `If-Modified-Since`,
///   `If-Range`) and single byte `Range` (206, 416) as the download router.
/// - `/download/<id>/info` is 403: this listener is plain TCP, and agents fetch info
///   files over HTTPS only. Other paths are 404, other methods 405 with `Allow`.
/// - HTTP/1.1 keep-alive (pipelined requests are answered in order), `Connection:
///   close`, HTTP/1.0 (closed after the response unless `Connection: keep-alive`).
/// - A malformed request is 400, a request head over
///   [`FilesConfig::max_request_head`] 431; both close the connection, as does a
///   request with a body. A head not received within
///   [`FilesConfig::header_read_timeout`] closes the connection.
///
/// On Linux a body goes from the file to the socket with `sendfile(2)`, run on the
/// runtime's thread (a fragment not in the page cache is read from disk there, as nginx
/// does without `aio`); elsewhere it is copied through a buffer.
///
/// # Errors
/// None today: a connection's failure only ends that connection; accepting is retried
/// after errors (such as running out of file descriptors).
///
/// ```no_run
/// use ocs_deploy_http::server::{FilesConfig, serve_files};
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
/// serve_files(listener, "/var/lib/ocs-deploy/packages".into(), FilesConfig::default(), async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await
/// # }
/// ```
pub async fn serve_files(
    listener: TcpListener,
    root: PathBuf,
    config: FilesConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let grace = config.shutdown_grace;
    serve_until(listener, root, config, async move {
        shutdown.await;
        grace
    })
    .await
}

/// [`serve_files`], with the grace given by the shutdown signal.
pub(crate) async fn serve_until(
    listener: TcpListener,
    root: PathBuf,
    config: FilesConfig,
    shutdown: impl Future<Output = Duration>,
) -> std::io::Result<()> {
    let shared = Arc::new(Shared {
        root: PackageRoot::new(root),
        config,
    });
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let slots = Arc::new(Semaphore::new(shared.config.max_connections.max(1)));
    let mut at_limit = false;
    let grace = loop {
        while connections.try_join_next().is_some() {}
        if slots.available_permits() == 0 && !at_limit {
            tracing::warn!(
                max_connections = shared.config.max_connections,
                "files listener at its connection limit: new clients wait until one closes"
            );
        }
        at_limit = slots.available_permits() == 0;
        let next = async {
            let slot = Arc::clone(&slots).acquire_owned().await;
            (slot, listener.accept().await)
        };
        tokio::select! {
            grace = &mut shutdown => break grace,
            (slot, accepted) = next => match accepted {
                Ok((stream, peer)) => {
                    let shared = shared.clone();
                    let stopped = stopped.clone();
                    connections.spawn(async move {
                        let _slot = slot;
                        if let Err(e) = connection::serve(stream, &shared, stopped).await {
                            tracing::debug!(%peer, error = %e, "files connection ended with an error");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "files listener cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    };
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(
            left = connections.len(),
            "grace period over: closing the remaining files connections"
        );
        connections.shutdown().await;
    }
    Ok(())
}

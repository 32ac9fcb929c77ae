//! HTTP adapters of ocs-deploy: the server that OCS Inventory NG agents talk to, and
//! the agent's HTTP transport.
//!
//! # Overview
//! With the `server` feature (on by default), [`server`] holds:
//! - [`server::ocs_router`]: the OCS communication endpoint (`POST /ocsinventory`),
//!   wire-compatible with the real OCS agents: zlib (complete or sync-flushed), gzip or
//!   plain XML bodies, replies framed as the request was, the `DEVICEID` check, and the
//!   HTTP statuses agents expect (a DOWNLOAD result always gets 200). Requests are
//!   answered by a [`DeploymentService`](ocs_deploy_core::service::DeploymentService).
//! - [`server::download_router`]: the package files (`/download/<id>/info` and
//!   `/download/<id>/<id>-<n>`) from a directory, streamed, with ranges and `ETag`s.
//! - [`server::TlsConfig`]: the HTTPS certificate, from PEM files or generated with a
//!   CA certificate (`cacert.pem`) for the agents.
//! - [`server::Server`]: an HTTP and an HTTPS listener serving both, with graceful
//!   shutdown.
//! - [`server::admin_router`]: the admin API (`/admin/v1/...`, JSON, bearer
//!   [`server::AdminToken`]) for every operation of the service, uploads streamed into
//!   the build; [`server::Server::admin`] serves it on the HTTPS listener only.
//!
//! With the `client` feature (on by default), [`client`] holds
//! [`client::HttpTransport`]: the agent's
//! [`Transport`](ocs_deploy_core::agent::Transport) over HTTP(S) (reqwest, rustls with
//! ring), speaking as the OCS Unix agent does, to this server or a real OCS one. It
//! trusts HTTPS servers by the agent's CA file (`cacert.pem`), including the self-signed
//! `CA:TRUE` certificates of OCS servers, and fetches info files only over HTTPS.
//!
//! The guide [`docs::serving_files`] shows how to serve the package files with nginx or
//! an object store instead.
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use ocs_deploy_core::agent::Transport;
//! use ocs_deploy_core::protocol::{compression, PrologReply, PrologResponse, Request};
//! use ocs_deploy_core::service::{DeploymentService, ServiceConfig};
//! use ocs_deploy_core::testkit::{MemoryFiles, MemoryStore};
//! use ocs_deploy_http::client::HttpTransport;
//! use ocs_deploy_http::server::{EndpointConfig, Server, TlsConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let service = Arc::new(DeploymentService::new(
//!     Arc::new(MemoryStore::new()),
//!     Arc::new(MemoryFiles::new()),
//!     ServiceConfig::default(),
//! ));
//! let dir = tempfile::tempdir()?;
//! let (tls, certs) = TlsConfig::generate(&dir.path().join("tls"), &[])?;
//! let running = Server::new(service, EndpointConfig::default(), dir.path().join("download"))
//!     .http("127.0.0.1:0".parse()?)
//!     .https("127.0.0.1:0".parse()?, tls)
//!     .start()
//!     .await?;
//!
//! // What the Unix agent POSTs first, over plain HTTP.
//! let prolog = compression::encode_zlib(
//!     b"<REQUEST><DEVICEID>vm-2026-11-24-06-35-53</DEVICEID><QUERY>PROLOG</QUERY></REQUEST>",
//! );
//! let addr = running.http_addr().unwrap();
//! let reply = post(addr, &prolog).await?;
//! assert!(reply.starts_with(b"HTTP/1.1 200 OK\r\n"));
//!
//! // The same through the agent's transport, over HTTPS, trusting the generated CA.
//! let transport = HttpTransport::builder(format!(
//!     "https://localhost:{}/ocsinventory",
//!     running.https_addr().unwrap().port()
//! ))
//! .ca_file(&certs.ca_cert)
//! .build()?;
//! let reply = transport
//!     .post(&Request::Prolog { device_id: "vm-2026-11-24-06-35-53".into() })
//!     .await?;
//! assert_eq!(PrologReply::decode(&reply)?.response, PrologResponse::Send);
//! running.shutdown(std::time::Duration::from_secs(1)).await?;
//! # Ok(()) }
//! # async fn post(addr: std::net::SocketAddr, body: &[u8]) -> std::io::Result<Vec<u8>> {
//! #     use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! #     let mut s = tokio::net::TcpStream::connect(addr).await?;
//! #     let head = format!("POST /ocsinventory HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n", body.len());
//! #     s.write_all(head.as_bytes()).await?;
//! #     s.write_all(body).await?;
//! #     let mut out = Vec::new();
//! #     s.read_to_end(&mut out).await?;
//! #     Ok(out)
//! # }
//! ```
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)
)]

#[cfg(feature = "client")]
pub mod client;
pub mod docs;
#[cfg(feature = "server")]
pub mod server;

/// An error and its causes on one line (`outer: inner: innermost`, a cause already quoted
/// by the message above it written once), as the command-line tools and logs print them.
///
/// ```
/// use ocs_deploy_http::error_chain;
///
/// let inner = std::io::Error::other("connection refused");
/// let outer = std::io::Error::new(std::io::ErrorKind::Other, inner);
/// assert_eq!(error_chain(&outer), "connection refused");
/// ```
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let next = e.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = e.source();
    }
    text
}

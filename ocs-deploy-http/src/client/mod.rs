//! The agent side (feature `client`): [`HttpTransport`], the core
//! [`Transport`](ocs_deploy_core::agent::Transport) over HTTP and HTTPS, as the OCS Unix
//! agent speaks it.
//!
//! - [`HttpTransport::builder`] gives an [`HttpTransportBuilder`]: the server URL, the
//!   agent's CA file (`cacert.pem`), whether info files may come over plain HTTP,
//!   timeouts, the reply size limit, the `User-Agent` ([`DEFAULT_USER_AGENT`]) and extra
//!   headers.
//! - HTTPS trust: a server is accepted when its certificate chains to the CA file, or is
//!   one of its certificates (the self-signed `CA:TRUE` certificates OCS servers use),
//!   its name and dates checked either way. RSA keys under 2048 bits are refused with
//!   [`ClientError::WeakRsaKey`], which says how to make a new certificate
//!   ([`NEW_CERTIFICATE_COMMAND`]).
//! - TLS is rustls with the ring provider, configured here: nothing needs installing as
//!   the process default.
//!
//! ```no_run
//! use futures::TryStreamExt;
//! use ocs_deploy_core::agent::{Transport, TransportError};
//! use ocs_deploy_http::client::HttpTransport;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The communication endpoint over plain HTTP, as many OCS sites have it; the info
//! // file over HTTPS, checked against the CA file.
//! let transport = HttpTransport::builder("http://ocs.example.com/ocsinventory")
//!     .ca_file("/etc/ocsinventory-agent/cacert.pem")
//!     .build()?;
//! let info: Vec<bytes::Bytes> = transport
//!     .get("https://ocs.example.com/download/1700000000/info")
//!     .await?
//!     .try_collect()
//!     .await?;
//! // Over plain HTTP, the info file is refused before any connection.
//! assert!(matches!(
//!     transport.get("http://ocs.example.com/download/1700000000/info").await,
//!     Err(TransportError::Refused(_))
//! ));
//! # let _ = info; Ok(()) }
//! ```

mod der;
mod error;
mod transport;
mod verifier;

pub use error::{ClientError, NEW_CERTIFICATE_COMMAND};
pub use transport::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_REPLY_SIZE, DEFAULT_POST_TIMEOUT, DEFAULT_READ_TIMEOUT,
    DEFAULT_USER_AGENT, HttpTransport, HttpTransportBuilder,
};

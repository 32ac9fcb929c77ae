//! How an agent talks to its servers: the one trait an integrator implements to carry OCS
//! messages and package files over their own transport.

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::protocol::Request;

/// Why a transport call failed. The agent maps a failure fetching the info file to
/// `ERR_DOWNLOAD_INFO`, a failure fetching a fragment to a retry (and `ERR_DOWNLOAD_PACK`
/// after repeated failures), and a failed contact or result post to a later retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The server could not be reached (refused, reset, DNS, timeout).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The server answered with an HTTP status other than success.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The URL is not allowed (plain HTTP for an info file, an unknown scheme) or the
    /// server's certificate is not trusted.
    #[error("refused: {0}")]
    Refused(String),
    /// The body is larger than the caller's limit.
    #[error("the body is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The reply could not be read (bad framing, bad XML, cut short).
    #[error("bad reply: {0}")]
    BadReply(String),
}

/// A stream of body chunks.
pub type BodyStream = BoxStream<'static, Result<Bytes, TransportError>>;

/// Carries an agent's messages to the communication server and fetches package files.
///
/// Implementations: `ocs-deploy-http`'s client (reqwest and rustls, the agent's CA file)
/// and the testkit's loopback transport (an in-process service, no sockets).
///
/// # Example
///
/// A transport that refuses everything, as a starting point:
/// ```
/// use async_trait::async_trait;
/// use ocs_deploy_core::agent::{BodyStream, Transport, TransportError};
/// use ocs_deploy_core::protocol::Request;
///
/// #[derive(Debug)]
/// struct Offline;
///
/// #[async_trait]
/// impl Transport for Offline {
///     async fn post(&self, _request: &Request) -> Result<Vec<u8>, TransportError> {
///         Err(TransportError::Unreachable("offline".into()))
///     }
///     async fn get(&self, url: &str) -> Result<BodyStream, TransportError> {
///         Err(TransportError::Unreachable(format!("offline: {url}")))
///     }
/// }
/// ```
#[async_trait]
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// Sends one message to the communication server and returns its reply, unframed
    /// (decompressed) XML; an empty body for a DOWNLOAD result.
    ///
    /// # Errors
    /// [`TransportError`].
    async fn post(&self, request: &Request) -> Result<Vec<u8>, TransportError>;

    /// Fetches a file (`https://…/<id>/info`, or a fragment over `http://` or
    /// `https://`), as a stream of chunks: fragments are never held whole.
    ///
    /// # Errors
    /// [`TransportError`], before the body or while streaming it.
    async fn get(&self, url: &str) -> Result<BodyStream, TransportError>;
}

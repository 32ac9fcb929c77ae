//! [`EndpointError`]: why the OCS endpoint refused a request, and the status it answers.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ocs_deploy_core::protocol::{CompressionError, ProtocolError};
use ocs_deploy_core::service::ServiceError;
use ocs_deploy_core::store::StoreError;

/// Why the OCS communication endpoint refused a request.
///
/// Bad input gets a 4xx with a short reason in a plain-text body (never a 500, unlike the
/// OCS server, which answers 500 to a body it cannot decompress); a failing store gets
/// 503 (unavailable) or 500, with a generic body and the details in the log.
///
/// ```
/// use axum::http::StatusCode;
/// use ocs_deploy_core::protocol::CompressionError;
/// use ocs_deploy_http::server::EndpointError;
///
/// let e = EndpointError::Undecodable(CompressionError::Unrecognized);
/// assert_eq!(e.status(), StatusCode::BAD_REQUEST);
/// assert_eq!(EndpointError::Undecodable(CompressionError::TooLarge { limit: 1 }).status(), StatusCode::PAYLOAD_TOO_LARGE);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The body is larger than [`EndpointConfig::max_body`](super::EndpointConfig::max_body).
    #[error("request body exceeds {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The body could not be read from the connection.
    #[error("cannot read the request body: {0}")]
    BodyUnreadable(String),
    /// The body is neither zlib, gzip nor XML, is corrupt, or is too large once decoded.
    #[error("cannot decode the request body")]
    Undecodable(#[source] CompressionError),
    /// The XML is not a request (malformed, another root, no `DEVICEID` or `QUERY`).
    #[error("bad request message")]
    BadMessage(#[source] ProtocolError),
    /// The `DEVICEID` is not `<name>-YYYY-MM-DD-hh-mm-ss`.
    #[error("bad DEVICEID")]
    BadDeviceId(#[source] ProtocolError),
    /// The `QUERY` is not one this endpoint answers (only PROLOG, INVENTORY and DOWNLOAD).
    #[error("unknown QUERY {0:?}")]
    UnknownQuery(String),
    /// A PROLOG from an agent that is not on the allow-list.
    #[error("User-Agent {0:?} is not allowed")]
    UserAgentRefused(String),
    /// The service refused the request as bad input.
    #[error("request refused")]
    Refused(#[source] ServiceError),
    /// The store or the package files failed.
    #[error("deployment service failed")]
    Service(#[source] ServiceError),
    /// The service gave a kind of reply this endpoint does not know (a newer core).
    #[error("unexpected reply from the deployment service to {query}")]
    UnexpectedReply {
        /// The query answered.
        query: String,
    },
    /// A task of the endpoint failed (a panic: a bug).
    #[error("{what} failed: {detail}")]
    Internal {
        /// Which task.
        what: &'static str,
        /// What happened.
        detail: String,
    },
    /// The request used a method other than POST (GET gets 400, others 405).
    #[error("method {0} not allowed")]
    Method(axum::http::Method),
}

impl EndpointError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BodyTooLarge { .. } | Self::Undecodable(CompressionError::TooLarge { .. }) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Self::Undecodable(_)
            | Self::BodyUnreadable(_)
            | Self::BadMessage(_)
            | Self::BadDeviceId(_)
            | Self::UnknownQuery(_)
            | Self::UserAgentRefused(_)
            | Self::Refused(_) => StatusCode::BAD_REQUEST,
            Self::Method(method) if *method == axum::http::Method::GET => StatusCode::BAD_REQUEST,
            Self::Method(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Service(ServiceError::Store(StoreError::Unavailable { .. })) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Service(_) | Self::UnexpectedReply { .. } | Self::Internal { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// Whether the client is at fault (a 4xx), rather than the server.
    pub fn is_bad_input(&self) -> bool {
        self.status().is_client_error()
    }
}

/// The error and its sources, joined with `: `, for one log line.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl IntoResponse for EndpointError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = if status.is_server_error() {
            (status, "server error\n").into_response()
        } else {
            (status, format!("{}\n", chain(&self))).into_response()
        };
        if status == StatusCode::METHOD_NOT_ALLOWED {
            response.headers_mut().insert(
                axum::http::header::ALLOW,
                axum::http::HeaderValue::from_static("POST"),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn backend() -> ocs_deploy_core::store::BackendError {
        Arc::new(std::io::Error::other("connection refused"))
    }

    #[test]
    fn store_failures_are_5xx_and_bad_input_4xx() {
        let unavailable = EndpointError::Service(ServiceError::Store(StoreError::Unavailable {
            backend: "sql",
            source: backend(),
        }));
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        let failed = EndpointError::Service(ServiceError::Store(StoreError::Backend {
            backend: "sql",
            source: backend(),
        }));
        assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!failed.is_bad_input());
        assert_eq!(
            chain(&failed),
            "deployment service failed: store operation failed: sql store failed: connection refused"
        );
        let refused = EndpointError::Refused(ServiceError::UnknownComputer("x".into()));
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            EndpointError::Method(axum::http::Method::GET).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            EndpointError::Method(axum::http::Method::PUT).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            EndpointError::BodyTooLarge { limit: 1 }.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }

    #[test]
    fn server_errors_keep_details_out_of_the_body() {
        let failed = EndpointError::Service(ServiceError::Store(StoreError::Backend {
            backend: "sql",
            source: backend(),
        }));
        let response = failed.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body =
            futures::executor::block_on(axum::body::to_bytes(response.into_body(), 1024)).unwrap();
        assert_eq!(body, "server error\n");
    }
}

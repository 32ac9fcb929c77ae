//! [`AdminError`]: why the admin API refused a request, and the status it answers.

use axum::Json;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ocs_deploy_core::service::ServiceError;
use ocs_deploy_core::store::StoreError;

use super::api::ErrorBody;

/// Why the admin API refused a request.
///
/// Answered with a JSON body `{"error": "..."}`: bad input gets a 4xx with the reason
/// (400 malformed, 404 unknown, 409 conflicting with the current state, 413 too large),
/// never a 500; a failing store or file storage gets 503 or 500 with a generic message,
/// the details going to the log.
///
/// ```
/// use axum::http::StatusCode;
/// use ocs_deploy_core::PackageId;
/// use ocs_deploy_core::service::ServiceError;
/// use ocs_deploy_http::server::AdminError;
///
/// let unknown = AdminError::Service(ServiceError::UnknownPackage(PackageId::new(1_700_000_000)?));
/// assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
/// assert_eq!(AdminError::UploadTooLarge { limit: 10 }.status(), StatusCode::PAYLOAD_TOO_LARGE);
/// assert_eq!(AdminError::Unauthorized { presented: false }.status(), StatusCode::UNAUTHORIZED);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// No bearer token (`presented` false) or a wrong one.
    #[error("{}", if *presented { "invalid admin token" } else { "admin token required" })]
    Unauthorized {
        /// Whether a token was presented.
        presented: bool,
    },
    /// The request is malformed: a bad path parameter, query string or JSON field.
    #[error("{0}")]
    BadRequest(String),
    /// The JSON body is not JSON, or not the expected shape.
    #[error("bad JSON body: {0}")]
    BadJson(String),
    /// The body is not declared as `application/json`.
    #[error("expected Content-Type: application/json")]
    NotJson,
    /// A JSON body larger than [`AdminConfig::max_json`](super::AdminConfig::max_json).
    #[error("request body too large")]
    BodyTooLarge,
    /// An upload larger than [`AdminConfig::max_upload`](super::AdminConfig::max_upload);
    /// nothing is left of the package.
    #[error("upload exceeds {limit} bytes")]
    UploadTooLarge {
        /// The limit.
        limit: u64,
    },
    /// The upload's body could not be read to its end (the client went away).
    #[error("the upload was interrupted: {0}")]
    UploadInterrupted(String),
    /// No such resource (route, setting, member).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (a package without activation, or
    /// with several when none was named).
    #[error("{0}")]
    Conflict(String),
    /// The deployment service refused or failed.
    #[error("{}", crate::error_chain(.0))]
    Service(#[source] ServiceError),
}

impl From<ServiceError> for AdminError {
    fn from(e: ServiceError) -> Self {
        Self::Service(e)
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        Self::Service(ServiceError::Store(e))
    }
}

impl AdminError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) | Self::BadJson(_) | Self::UploadInterrupted(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::BodyTooLarge | Self::UploadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Service(e) => service_status(e),
        }
    }
}

fn service_status(e: &ServiceError) -> StatusCode {
    match e {
        ServiceError::UnknownPackage(_)
        | ServiceError::UnknownActivation(_)
        | ServiceError::UnknownComputer(_)
        | ServiceError::UnknownGroup(_)
        | ServiceError::Store(StoreError::NotFound { .. }) => StatusCode::NOT_FOUND,
        ServiceError::PackageNotBuilt(_)
        | ServiceError::GroupExists(_)
        | ServiceError::GroupNotVisible(_)
        | ServiceError::DuplicateActivation { .. }
        | ServiceError::AlreadyAffected { .. }
        | ServiceError::NotInError { .. }
        | ServiceError::Store(StoreError::Conflict { .. }) => StatusCode::CONFLICT,
        ServiceError::Store(StoreError::Unavailable { .. }) | ServiceError::NoFreePackageId(_) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        ServiceError::Store(_) | ServiceError::Files(_) | ServiceError::Archive { .. } => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        // Bad device ids, locations, build requests, archives that cannot be split, and
        // whatever a newer core refuses as bad input.
        other if other.is_bad_input() => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status.is_server_error() {
            tracing::error!(error = %crate::error_chain(&self), "admin request failed");
            "server error".to_owned()
        } else {
            tracing::debug!(error = %self, %status, "admin request refused");
            self.to_string()
        };
        let mut response = (status, Json(ErrorBody { error: message })).into_response();
        if let Self::Unauthorized { presented } = self {
            let challenge = if presented {
                r#"Bearer realm="ocs-deploy-admin", error="invalid_token""#
            } else {
                r#"Bearer realm="ocs-deploy-admin""#
            };
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ocs_deploy_core::PackageId;

    use super::*;

    #[test]
    fn service_errors_map_to_4xx_and_store_failures_to_5xx() {
        let id = PackageId::new(1_700_000_000).unwrap();
        let status = |e: ServiceError| AdminError::Service(e).status();
        assert_eq!(
            status(ServiceError::UnknownPackage(id)),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status(ServiceError::PackageNotBuilt(id)),
            StatusCode::CONFLICT
        );
        assert_eq!(
            status(ServiceError::BadBuild("x".into())),
            StatusCode::BAD_REQUEST
        );
        let backend: ocs_deploy_core::store::BackendError =
            Arc::new(std::io::Error::other("disk on fire"));
        assert_eq!(
            status(ServiceError::Store(StoreError::Backend {
                backend: "sql",
                source: backend.clone(),
            })),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            status(ServiceError::Store(StoreError::Unavailable {
                backend: "sql",
                source: backend,
            })),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn server_errors_keep_details_out_of_the_body() {
        let backend: ocs_deploy_core::store::BackendError =
            Arc::new(std::io::Error::other("disk on fire"));
        let response = AdminError::from(StoreError::Backend {
            backend: "sql",
            source: backend,
        })
        .into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body =
            futures::executor::block_on(axum::body::to_bytes(response.into_body(), 1024)).unwrap();
        assert_eq!(body, r#"{"error":"server error"}"#);
    }

    #[test]
    fn unauthorized_carries_a_bearer_challenge() {
        let response = AdminError::Unauthorized { presented: true }.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response.headers()[WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
        assert!(challenge.contains("invalid_token"), "{challenge}");
    }
}

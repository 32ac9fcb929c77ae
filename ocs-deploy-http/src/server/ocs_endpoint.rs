//! The OCS communication endpoint: `POST /ocsinventory` (and any path below it).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use futures::StreamExt;
use ocs_deploy_core::protocol::{
    CompressionError, DeviceId, Encoding, ProtocolError, Request, compression,
};
use ocs_deploy_core::service::{DeploymentService, Reply, ServiceError};

use super::error::chain;
use super::{EndpointConfig, EndpointError};

/// The `Content-Type` of every reply that has a body, as the OCS server labels it
/// (whatever the framing, plain XML included).
pub const REPLY_CONTENT_TYPE: &str = "application/x-compressed";

#[derive(Debug, Clone)]
struct Endpoint {
    service: Arc<DeploymentService>,
    config: Arc<EndpointConfig>,
}

/// The OCS communication endpoint as an axum [`Router`]: `POST /ocsinventory`, and
/// `POST` to any path below it (the OCS server ignores the rest of the path).
///
/// - The body is bounded ([`EndpointConfig::max_body`], 413), decoded under
///   [`EndpointConfig::max_decoded`] (413) from zlib (complete, or sync-flushed as the
///   Windows agent sends it), gzip or plain XML; anything else is 400.
/// - The reply is framed as the request was, labelled `Content-Type:
///   application/x-compressed` with `Cache-Control: no-cache`, as the OCS server does.
/// - The `DEVICEID` must be `<name>-YYYY-MM-DD-hh-mm-ss` (400 otherwise).
/// - PROLOG and INVENTORY get the service's reply; a DOWNLOAD result gets 200 with an
///   empty body, also when the service refuses it (logged at `warn`), so agents stop
///   sending it, as with OCS. A DOWNLOAD result whose package `ID` is missing or not an
///   id is likewise answered 200 and dropped, as OCS does.
/// - Bad XML, a missing or unknown `QUERY`, and a PROLOG from an agent not on the
///   [`EndpointConfig::user_agents`] allow-list get 400; each refusal is one log line
///   saying why.
/// - A failing store gets 503 (unavailable) or 500, logged at `error`.
/// - `GET` gets 400 (as OCS), other methods 405.
///
/// ```
/// use std::sync::Arc;
/// use ocs_deploy_core::service::{DeploymentService, ServiceConfig};
/// use ocs_deploy_core::testkit::{MemoryFiles, MemoryStore};
/// use ocs_deploy_http::server::{EndpointConfig, ocs_router};
///
/// let service = DeploymentService::new(
///     Arc::new(MemoryStore::new()),
///     Arc::new(MemoryFiles::new()),
///     ServiceConfig::default(),
/// );
/// let app: axum::Router = ocs_router(Arc::new(service), EndpointConfig::default());
/// ```
pub fn ocs_router(service: Arc<DeploymentService>, config: EndpointConfig) -> Router {
    let state = Endpoint {
        service,
        config: Arc::new(config),
    };
    Router::new()
        .route("/ocsinventory", any(communicate))
        .route("/ocsinventory/", any(communicate))
        .route("/ocsinventory/{*rest}", any(communicate))
        .with_state(state)
}

/// What a handled request answers: a reply to encode, or an empty 200.
enum Answer {
    Xml(String),
    Empty,
}

async fn communicate(
    State(endpoint): State<Endpoint>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let content_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match handle(&endpoint, &method, user_agent, content_length, body).await {
        Ok((Answer::Xml(xml), encoding)) => {
            let body = compression::encode(xml.as_bytes(), encoding);
            (
                StatusCode::OK,
                [
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(REPLY_CONTENT_TYPE),
                    ),
                ],
                body,
            )
                .into_response()
        }
        Ok((Answer::Empty, _)) => StatusCode::OK.into_response(),
        Err(error) => {
            let status = error.status();
            if status.is_server_error() {
                tracing::error!(status = status.as_u16(), user_agent, error = %chain(&error), "OCS request failed");
            } else {
                tracing::warn!(status = status.as_u16(), user_agent, reason = %chain(&error), "OCS request refused");
            }
            error.into_response()
        }
    }
}

/// Bodies up to this size are decoded on the async worker; larger ones on a blocking
/// thread.
const INLINE_DECODE_MAX: usize = 64 * 1024;

/// Decompresses a body under `limit` and decodes the request in it.
fn decode_request(
    body: &[u8],
    limit: usize,
) -> Result<(Result<Request, ProtocolError>, Encoding), CompressionError> {
    let (xml, encoding) = compression::decode(body, limit)?;
    Ok((Request::decode(&xml), encoding))
}

/// Reads a whole body of at most `limit` bytes. A larger announced length is refused
/// before a byte is read; a body sent without a length is read up to the limit.
async fn read_body(
    body: Body,
    content_length: Option<u64>,
    limit: usize,
) -> Result<Vec<u8>, EndpointError> {
    let too_large = || EndpointError::BodyTooLarge { limit };
    if content_length.is_some_and(|len| usize::try_from(len).map_or(true, |len| len > limit)) {
        return Err(too_large());
    }
    let capacity = content_length
        .and_then(|len| usize::try_from(len).ok())
        .unwrap_or(0);
    let mut out = Vec::with_capacity(capacity);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| EndpointError::BodyUnreadable(chain(&e)))?;
        if out.len().saturating_add(chunk.len()) > limit {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

async fn handle(
    endpoint: &Endpoint,
    method: &Method,
    user_agent: Option<&str>,
    content_length: Option<u64>,
    body: Body,
) -> Result<(Answer, Encoding), EndpointError> {
    if method != Method::POST {
        return Err(EndpointError::Method(method.clone()));
    }
    let config = &endpoint.config;
    let body = read_body(body, content_length, config.max_body).await?;
    let limit = config.max_decoded;
    let decoded = if body.len() > INLINE_DECODE_MAX {
        // Inflating and parsing megabytes takes milliseconds: off the async workers.
        tokio::task::spawn_blocking(move || decode_request(&body, limit))
            .await
            .map_err(|e| EndpointError::Internal {
                what: "request decoder",
                detail: e.to_string(),
            })?
    } else {
        decode_request(&body, limit)
    };
    let (request, encoding) = decoded.map_err(EndpointError::Undecodable)?;
    let request = match request {
        Ok(request) => request,
        Err(
            ProtocolError::MissingPackageId { device_id }
            | ProtocolError::BadResultPackageId { device_id, .. },
        ) => {
            // As OCS: a result naming no package is dropped with a 200, so the agent stops
            // sending it; the device id is still checked.
            let device = DeviceId::parse(&device_id).map_err(EndpointError::BadDeviceId)?;
            tracing::warn!(device_id = %device, "DOWNLOAD result without a valid package ID dropped");
            return Ok((Answer::Empty, encoding));
        }
        Err(e) => return Err(EndpointError::BadMessage(e)),
    };
    let device = DeviceId::parse(request.device_id()).map_err(EndpointError::BadDeviceId)?;
    match &request {
        Request::Prolog { .. } if !config.accepts_user_agent(user_agent) => {
            return Err(EndpointError::UserAgentRefused(
                user_agent.unwrap_or_default().chars().take(120).collect(),
            ));
        }
        Request::Prolog { .. } | Request::Inventory { .. } | Request::DownloadResult { .. } => {}
        other => return Err(EndpointError::UnknownQuery(other.query().to_owned())),
    }
    tracing::debug!(device_id = %device, query = request.query(), ?encoding, user_agent, "OCS request");
    let now = config.clock.now();
    match endpoint.service.handle(&request, now).await {
        Ok(Reply::Prolog(outcome)) => Ok((Answer::Xml(outcome.reply.encode()), encoding)),
        Ok(Reply::Inventory(reply)) => Ok((Answer::Xml(reply.encode()), encoding)),
        Ok(Reply::Result(_)) => Ok((Answer::Empty, encoding)),
        Ok(Reply::Unsupported { query }) => Err(EndpointError::UnknownQuery(query)),
        // A reply kind added to the service after this endpoint was written.
        Ok(_) => Err(EndpointError::UnexpectedReply {
            query: request.query().to_owned(),
        }),
        Err(ServiceError::ResultRefused(refusal)) => {
            tracing::warn!(device_id = %device, %refusal, "DOWNLOAD result not recorded; answered 200 as OCS does");
            Ok((Answer::Empty, encoding))
        }
        Err(e) if e.is_bad_input() => Err(EndpointError::Refused(e)),
        Err(e) => Err(EndpointError::Service(e)),
    }
}

//! The archive of a build, streamed from the request body into the service, bounded.

use axum::body::Body;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_LENGTH;
use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use ocs_deploy_core::service::ServiceError;

use super::AdminError;

/// Why the archive stream ended in error.
#[derive(Debug, thiserror::Error)]
pub(super) enum UploadError {
    /// More bytes than allowed arrived.
    #[error("upload exceeds {limit} bytes")]
    TooLarge { limit: u64 },
    /// The body could not be read.
    #[error("cannot read the upload")]
    Read(#[source] axum::Error),
}

/// The archive as the service reads it.
pub(super) type Archive = BoxStream<'static, Result<Bytes, UploadError>>;

/// The `Content-Length`, when the client gave a valid one.
pub(super) fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// The body as a stream of chunks that fails once more than `limit` bytes arrived, or
/// `None` for an empty body (an Execute without file). Reads the first chunk only; a
/// declared length over the limit is refused before reading anything.
pub(super) async fn archive(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
) -> Result<Option<Archive>, AdminError> {
    if content_length(headers).is_some_and(|len| len > limit) {
        return Err(AdminError::UploadTooLarge { limit });
    }
    let mut seen: u64 = 0;
    let mut chunks = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(UploadError::Read)?;
        seen = seen.saturating_add(chunk.len() as u64);
        if seen > limit {
            return Err(UploadError::TooLarge { limit });
        }
        Ok(chunk)
    });
    // Skip empty chunks until the first byte or the end.
    loop {
        match chunks.next().await {
            None => return Ok(None),
            Some(Err(e)) => return Err(upload_error(&e)),
            Some(Ok(first)) if first.is_empty() => {}
            Some(Ok(first)) => {
                return Ok(Some(
                    futures::stream::once(async move { Ok(first) })
                        .chain(chunks)
                        .boxed(),
                ));
            }
        }
    }
}

fn upload_error(e: &UploadError) -> AdminError {
    match e {
        UploadError::TooLarge { limit } => AdminError::UploadTooLarge { limit: *limit },
        UploadError::Read(e) => AdminError::UploadInterrupted(e.to_string()),
    }
}

/// A build's error: the upload's own when the stream failed, the service's otherwise.
pub(super) fn build_error(e: ServiceError) -> AdminError {
    if let ServiceError::Archive { source, .. } = &e
        && let Some(upload) = source.downcast_ref::<UploadError>()
    {
        return upload_error(upload);
    }
    AdminError::Service(e)
}

//! Package files: `GET`/`HEAD /download/<id>/info` and `/download/<id>/<id>-<n>`, from
//! a package root directory on disk.

pub(crate) mod conditional;
pub(crate) mod name;
pub(crate) mod root;

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures::Stream;
use ocs_deploy_core::PackageId;
use ocs_deploy_core::store::FileName;

use conditional::{Range, Validators};
use root::OpenError;
pub(crate) use root::PackageRoot;

/// Whether a download router serves the info files.
///
/// Agents fetch the info file (which names the command to run and the digest of the
/// archive) only over HTTPS, checking the server's certificate; fragments are checked
/// against that digest and may come over plain HTTP. So the plain-HTTP listener should
/// refuse info files ([`InfoFiles::Refuse`]: 403) and the HTTPS listener serve them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InfoFiles {
    /// Serve `<id>/info` (HTTPS listeners).
    Serve,
    /// Answer 403 for `<id>/info` (plain-HTTP listeners); fragments are still served.
    Refuse,
}

/// Bytes read from disk at a time while streaming a file (see [`chunks`]), each chunk
/// handed to the connection as it is (no second copy). A response holds about two chunks
/// at a time, whatever the file's size. 128 KiB chunks were not faster in
/// `benches/fragments_vs_nginx.sh`, and hold twice the memory.
const CHUNK: usize = 64 * 1024;

#[derive(Debug)]
struct Downloads {
    root: Arc<PackageRoot>,
    info: InfoFiles,
}

/// The package files under `root`, laid out as `<root>/<id>/info` and
/// `<root>/<id>/<id>-<n>` (what [`DeploymentService::build`] writes through a
/// [`PackageFiles`] on disk, and what the OCS console writes), served at
/// `/download/<id>/info` and `/download/<id>/<id>-<n>`.
///
/// - `GET` and `HEAD`, streamed from disk (a fragment is never held in memory whole).
/// - A single `Range` is answered 206 with `Content-Range`; an unsatisfiable one 416;
///   several ranges get the whole file.
/// - A strong `ETag` (size and modification time) and `Last-Modified`; `If-None-Match`
///   and `If-Modified-Since` give 304; `If-Range` is honoured.
/// - Only those two names are served: the id must be canonical decimal
///   ([`PackageId`]) and a fragment's id prefix must be the directory's. Anything else
///   (`..`, encoded slashes, absolute paths, other names, directories, symbolic links
///   leading out of `root`) is 404 and never reads a file outside `root`.
/// - With [`InfoFiles::Refuse`], info files are 403.
///
/// See [the serving guide](crate::docs::serving_files) to serve the same folder with
/// nginx or an object store instead.
///
/// ```
/// use ocs_deploy_http::server::{InfoFiles, download_router};
///
/// let plain_http: axum::Router = download_router("/var/lib/ocs-deploy/download", InfoFiles::Refuse);
/// let https: axum::Router = download_router("/var/lib/ocs-deploy/download", InfoFiles::Serve);
/// ```
///
/// [`DeploymentService::build`]: ocs_deploy_core::service::DeploymentService::build
/// [`PackageFiles`]: ocs_deploy_core::store::PackageFiles
pub fn download_router(root: impl Into<PathBuf>, info: InfoFiles) -> Router {
    let state = Arc::new(Downloads {
        root: Arc::new(PackageRoot::new(root.into())),
        info,
    });
    Router::new()
        .route("/download/{id}/{name}", get(serve_file).head(serve_file))
        .with_state(state)
}

async fn serve_file(
    State(downloads): State<Arc<Downloads>>,
    method: Method,
    headers: HeaderMap,
    path: Result<UrlPath<(String, String)>, PathRejection>,
) -> Response {
    let Ok(UrlPath((id, name))) = path else {
        return not_found();
    };
    let Some((package, file)) = name::resolve(&id, &name) else {
        tracing::info!(id = ?excerpt(&id), name = ?excerpt(&name), "download of a name that is not a package file refused");
        return not_found();
    };
    if file == FileName::Info && downloads.info == InfoFiles::Refuse {
        tracing::info!(package_id = %package, "info file requested over plain HTTP refused");
        return (
            StatusCode::FORBIDDEN,
            "info files are served over HTTPS only\n",
        )
            .into_response();
    }
    let root = Arc::clone(&downloads.root);
    // Every file-system call of the lookup in one trip to the blocking pool.
    let opened = tokio::task::spawn_blocking(move || open(&root, package, file))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
    match opened {
        Ok(Some(opened)) => respond(&method, &headers, opened, file),
        Ok(None) => not_found(),
        Err(e) => {
            tracing::error!(package_id = %package, file = %file.file_name(package), error = %e, "cannot read package file");
            (StatusCode::INTERNAL_SERVER_ERROR, "server error\n").into_response()
        }
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// At most 120 characters of a text from the URL, for a log line.
fn excerpt(text: &str) -> String {
    text.chars().take(120).collect()
}

/// A package file opened for serving, with its length and validators (also used by the
/// files listener).
pub(crate) struct Opened {
    pub(crate) file: std::fs::File,
    pub(crate) len: u64,
    pub(crate) validators: Validators,
}

/// Opens a package file, or `None` when there is no such regular file inside `root`
/// (missing, a directory, or a symbolic link leading out of `root`).
pub(crate) fn open(
    root: &PackageRoot,
    package: PackageId,
    file: FileName,
) -> std::io::Result<Option<Opened>> {
    let handle = match root.open(file.relative_path(package).as_ref()) {
        Ok(handle) => handle,
        Err(OpenError::Missing) => return Ok(None),
        Err(OpenError::Outside) => {
            tracing::warn!(package_id = %package, file = %file.file_name(package), "package file is a link out of the package root; refused");
            return Ok(None);
        }
        Err(OpenError::Io(e)) => return Err(e),
    };
    let metadata = handle.metadata()?;
    if !metadata.is_file() {
        return Ok(None);
    }
    let len = metadata.len();
    Ok(Some(Opened {
        file: handle,
        len,
        validators: Validators::new(len, metadata.modified().ok()),
    }))
}

fn respond(method: &Method, headers: &HeaderMap, opened: Opened, file: FileName) -> Response {
    let header_text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let Opened {
        file: handle,
        len,
        validators,
    } = opened;
    let mut response = Response::builder()
        .header(header::ETAG, &validators.etag)
        .header(header::ACCEPT_RANGES, "bytes");
    if let Some(modified) = validators.modified {
        response = response.header(header::LAST_MODIFIED, httpdate::fmt_http_date(modified));
    }
    if validators.not_modified(
        header_text(header::IF_NONE_MATCH),
        header_text(header::IF_MODIFIED_SINCE),
    ) {
        return finish(response.status(StatusCode::NOT_MODIFIED), Body::empty());
    }
    let range = if validators.range_applies(header_text(header::IF_RANGE)) {
        Range::parse(header_text(header::RANGE), len)
    } else {
        Range::Full
    };
    let (start, count) = match range {
        Range::Full => {
            response = response.status(StatusCode::OK);
            (0, len)
        }
        Range::Part { start, end } => {
            response = response
                .status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"));
            (start, end - start + 1)
        }
        Range::Unsatisfiable => {
            return finish(
                response
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{len}")),
                Body::empty(),
            );
        }
    };
    let content_type = match file {
        FileName::Info => "application/xml",
        FileName::Fragment(_) => "application/octet-stream",
    };
    response = response
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, count);
    if *method == Method::HEAD {
        return finish(response, Body::empty());
    }
    finish(response, Body::from_stream(chunks(handle, start, count)))
}

/// `count` bytes of `file` from `start`, as chunks of at most [`CHUNK`] bytes. On Linux a
/// chunk already in the page cache is read right on the runtime (`preadv2` with
/// `RWF_NOWAIT`, which never waits for the disk); the rest is read on the blocking pool.
/// A hand-off to the blocking pool costs more than the read of a cached chunk, and
/// fragments being downloaded by many agents are cached. A file that ends early
/// (truncated while being served) ends the stream with an error, so the connection is
/// closed rather than the body cut short silently.
fn chunks(
    file: std::fs::File,
    start: u64,
    count: u64,
) -> impl Stream<Item = std::io::Result<Bytes>> {
    futures::stream::try_unfold((file, start, count), |(file, pos, left)| async move {
        if left == 0 {
            return Ok(None);
        }
        let want = usize::try_from(left).map_or(CHUNK, |left| left.min(CHUNK));
        let chunk = read_cached(&file, pos, want);
        let (file, chunk) = if chunk.len() < want {
            tokio::task::spawn_blocking(move || {
                let mut chunk = chunk;
                let mut reader = &file;
                reader.seek(SeekFrom::Start(pos + chunk.len() as u64))?;
                let rest = (want - chunk.len()) as u64;
                reader.take(rest).read_to_end(&mut chunk)?;
                Ok::<_, std::io::Error>((file, chunk))
            })
            .await
            .map_err(std::io::Error::other)??
        } else {
            (file, chunk)
        };
        if chunk.len() < want {
            tracing::error!(
                missing = left - chunk.len() as u64,
                "package file shorter than announced while serving it"
            );
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let read = want as u64;
        Ok(Some((Bytes::from(chunk), (file, pos + read, left - read))))
    })
}

/// Up to `want` bytes of `file` at `offset` that are in the page cache, read without
/// waiting for the disk; fewer (or none) when the rest is not cached or the file system
/// cannot tell. The buffer has room for `want` bytes.
#[cfg(target_os = "linux")]
fn read_cached(file: &std::fs::File, offset: u64, want: usize) -> Vec<u8> {
    use rustix::io::{IoSliceMut, ReadWriteFlags, preadv2};
    let mut chunk = vec![0; want];
    let read = preadv2(
        file,
        &mut [IoSliceMut::new(&mut chunk)],
        offset,
        ReadWriteFlags::NOWAIT,
    )
    .unwrap_or(0);
    chunk.truncate(read);
    chunk
}

/// Elsewhere every read goes to the blocking pool.
#[cfg(not(target_os = "linux"))]
fn read_cached(_file: &std::fs::File, _offset: u64, want: usize) -> Vec<u8> {
    Vec::with_capacity(want)
}

fn finish(builder: axum::http::response::Builder, body: Body) -> Response {
    builder.body(body).unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot build a download response");
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    })
}

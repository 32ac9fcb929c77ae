//! One connection of the files listener: read a head, answer, repeat while kept alive.

use std::fmt::Write as _;
use std::fs::File;
use std::io;
use std::time::{Duration, SystemTime};

use ocs_deploy_core::store::FileName;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::Shared;
use super::request::{self, Method, Parsed, Request};
use crate::server::download::conditional::Range;
use crate::server::download::name;
use crate::server::download::{Opened, open};

/// Bytes read from the socket at a time while waiting for a head.
const READ_CHUNK: usize = 4096;

/// Serves requests on `stream` until the client closes, a request asks to close, an
/// error, the header read timeout, or the listener's shutdown (between requests).
pub(super) async fn serve(
    mut stream: TcpStream,
    shared: &Shared,
    mut stopped: watch::Receiver<bool>,
) -> io::Result<()> {
    // Heads and bodies are written whole; no reason to wait for more.
    stream.set_nodelay(true)?;
    let max_head = shared.config.max_request_head;
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    loop {
        let deadline = Instant::now() + shared.config.header_read_timeout;
        let (request, consumed) = loop {
            match request::parse(&buf, max_head) {
                Parsed::Complete(request, consumed) => break (request, consumed),
                Parsed::Refused(status) => {
                    tracing::debug!(status, "files request refused");
                    let text = if status == 431 {
                        "request head too large\n"
                    } else {
                        "bad request\n"
                    };
                    write_simple(&mut stream, status, text, &[], Some("close"), false).await?;
                    return linger_close(stream).await;
                }
                Parsed::Partial => {}
            }
            if buf.is_empty() && *stopped.borrow() {
                return Ok(());
            }
            let idle = buf.is_empty();
            buf.reserve(READ_CHUNK);
            let read = tokio::select! {
                read = tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)) => read,
                _ = stopped.changed(), if idle => return Ok(()),
            };
            match read {
                Err(_) => {
                    tracing::debug!(
                        received = buf.len(),
                        "no complete request head in time: files connection closed"
                    );
                    return Ok(());
                }
                Ok(Ok(0)) => return Ok(()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e),
            }
        };
        buf.drain(..consumed);
        let keep_alive = request.keep_alive && !request.has_body && !*stopped.borrow();
        let connection = if !keep_alive {
            Some("close")
        } else if request.http10_keep_alive {
            Some("keep-alive")
        } else {
            None
        };
        respond(&mut stream, shared, &request, connection).await?;
        if !keep_alive {
            if request.has_body {
                // The unread body would make the close a reset, and the client could
                // lose the response.
                return linger_close(stream).await;
            }
            return stream.shutdown().await;
        }
    }
}

/// Closes the sending side, then reads and drops what the client still sends (at most
/// 1 MiB, for at most a second), so the response is not lost to a reset.
async fn linger_close(mut stream: TcpStream) -> io::Result<()> {
    stream.shutdown().await?;
    let mut sink = [0u8; READ_CHUNK];
    let mut left: usize = 1024 * 1024;
    let deadline = Instant::now() + Duration::from_secs(1);
    while left > 0 {
        match tokio::time::timeout_at(deadline, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
            _ => break,
        }
    }
    Ok(())
}

async fn respond(
    stream: &mut TcpStream,
    shared: &Shared,
    request: &Request,
    connection: Option<&str>,
) -> io::Result<()> {
    let head_only = request.method == Method::Head;
    let not_found = "not found\n";
    let Some((id, name)) = request::download_path(&request.target) else {
        return write_simple(stream, 404, not_found, &[], connection, head_only).await;
    };
    if request.method == Method::Other {
        return write_simple(
            stream,
            405,
            "method not allowed\n",
            &[("Allow", "GET,HEAD")],
            connection,
            false,
        )
        .await;
    }
    let Some((package, file)) = name::resolve(&id, &name) else {
        tracing::info!(id = ?excerpt(&id), name = ?excerpt(&name), "download of a name that is not a package file refused");
        return write_simple(stream, 404, not_found, &[], connection, head_only).await;
    };
    if file == FileName::Info {
        tracing::info!(package_id = %package, "info file requested on the files listener (plain TCP) refused");
        return write_simple(
            stream,
            403,
            "info files are served over HTTPS only\n",
            &[],
            connection,
            head_only,
        )
        .await;
    }
    // The lookup runs on the runtime's thread: a few metadata calls answered from the
    // kernel's caches for files being downloaded, cheaper than a trip to the blocking pool.
    match open(&shared.root, package, file) {
        Ok(Some(opened)) => send_file(stream, request, opened, connection).await,
        Ok(None) => write_simple(stream, 404, not_found, &[], connection, head_only).await,
        Err(e) => {
            tracing::error!(package_id = %package, file = %file.file_name(package), error = %e, "cannot read package file");
            write_simple(stream, 500, "server error\n", &[], connection, head_only).await
        }
    }
}

/// At most 120 characters of a text from the URL, for a log line.
fn excerpt(text: &str) -> String {
    text.chars().take(120).collect()
}

async fn send_file(
    stream: &mut TcpStream,
    request: &Request,
    opened: Opened,
    connection: Option<&str>,
) -> io::Result<()> {
    let Opened {
        file,
        len,
        validators,
    } = opened;
    let modified = validators.modified.map(httpdate::fmt_http_date);
    let mut headers: Vec<(&str, &str)> =
        vec![("ETag", &validators.etag), ("Accept-Ranges", "bytes")];
    if let Some(modified) = &modified {
        headers.push(("Last-Modified", modified));
    }
    if validators.not_modified(
        request.if_none_match.as_deref(),
        request.if_modified_since.as_deref(),
    ) {
        let head = response_head(304, &headers, connection);
        return stream.write_all(head.as_bytes()).await;
    }
    let range = if validators.range_applies(request.if_range.as_deref()) {
        Range::parse(request.range.as_deref(), len)
    } else {
        Range::Full
    };
    let content_range;
    let (status, start, count) = match range {
        Range::Full => (200, 0, len),
        Range::Part { start, end } => {
            content_range = format!("bytes {start}-{end}/{len}");
            headers.push(("Content-Range", &content_range));
            (206, start, end - start + 1)
        }
        Range::Unsatisfiable => {
            content_range = format!("bytes */{len}");
            headers.push(("Content-Range", &content_range));
            headers.push(("Content-Length", "0"));
            let head = response_head(416, &headers, connection);
            return stream.write_all(head.as_bytes()).await;
        }
    };
    let count_text = count.to_string();
    headers.push(("Content-Type", "application/octet-stream"));
    headers.push(("Content-Length", &count_text));
    let head = response_head(status, &headers, connection);
    if request.method == Method::Head || count == 0 {
        return stream.write_all(head.as_bytes()).await;
    }
    write_head_more(stream, head.as_bytes()).await?;
    send_body(stream, &file, start, count).await
}

/// Writes a response head that a body follows. On Linux it goes with `MSG_MORE`, so the
/// kernel holds it to leave in the body's first full-sized segment (what nginx's
/// `tcp_nopush` gets by corking the socket, at two `setsockopt` calls per response);
/// `sendfile` pushes the last segment out.
#[cfg(target_os = "linux")]
async fn write_head_more(stream: &mut TcpStream, mut head: &[u8]) -> io::Result<()> {
    while !head.is_empty() {
        let sent = when_writable(stream, || {
            rustix::net::send(&*stream, head, rustix::net::SendFlags::MORE)
        })
        .await?;
        head = &head[sent..];
    }
    Ok(())
}

/// Runs the non-blocking socket write `op` once the socket is writable, again after each
/// `EAGAIN`, and returns its first result.
#[cfg(target_os = "linux")]
async fn when_writable(
    stream: &TcpStream,
    mut op: impl FnMut() -> rustix::io::Result<usize>,
) -> io::Result<usize> {
    loop {
        stream.writable().await?;
        match stream.try_io(tokio::io::Interest::WRITABLE, || {
            op().map_err(io::Error::from)
        }) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            done => return done,
        }
    }
}

#[cfg(not(target_os = "linux"))]
async fn write_head_more(stream: &mut TcpStream, head: &[u8]) -> io::Result<()> {
    stream.write_all(head).await
}

/// A short `text/plain` answer (no body for `HEAD`).
async fn write_simple(
    stream: &mut TcpStream,
    status: u16,
    text: &str,
    extra: &[(&str, &str)],
    connection: Option<&str>,
    head_only: bool,
) -> io::Result<()> {
    let length = text.len().to_string();
    let mut headers = extra.to_vec();
    headers.push(("Content-Type", "text/plain; charset=utf-8"));
    headers.push(("Content-Length", &length));
    let mut response = response_head(status, &headers, connection);
    if !head_only {
        response.push_str(text);
    }
    stream.write_all(response.as_bytes()).await
}

fn response_head(status: u16, headers: &[(&str, &str)], connection: Option<&str>) -> String {
    let reason = match status {
        200 => "OK",
        206 => "Partial Content",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        _ => "Internal Server Error",
    };
    let mut head = String::with_capacity(256);
    let _ = write!(
        head,
        "HTTP/1.1 {status} {reason}\r\nDate: {}\r\n",
        httpdate::fmt_http_date(SystemTime::now())
    );
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    if let Some(connection) = connection {
        let _ = write!(head, "Connection: {connection}\r\n");
    }
    head.push_str("\r\n");
    head
}

/// Largest count handed to one `sendfile` call; the socket's buffer takes less anyway.
#[cfg(target_os = "linux")]
const MAX_SENDFILE: usize = 1 << 20;

/// `count` bytes of `file` from `start` to the socket with `sendfile(2)`, waiting for the
/// socket to be writable between calls. A file that ends early (truncated while being
/// served) is an error, so the connection is closed rather than the body cut short.
#[cfg(target_os = "linux")]
async fn send_body(stream: &mut TcpStream, file: &File, start: u64, count: u64) -> io::Result<()> {
    let mut offset = start;
    let end = start + count;
    while offset < end {
        let want = usize::try_from(end - offset).map_or(MAX_SENDFILE, |n| n.min(MAX_SENDFILE));
        let sent = when_writable(stream, || {
            rustix::fs::sendfile(&*stream, file, Some(&mut offset), want)
        })
        .await?;
        if sent == 0 {
            tracing::error!(
                missing = end - offset,
                "package file shorter than announced while serving it"
            );
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(())
}

/// Elsewhere the body is read on the blocking pool and copied to the socket.
#[cfg(not(target_os = "linux"))]
async fn send_body(stream: &mut TcpStream, file: &File, start: u64, count: u64) -> io::Result<()> {
    use tokio::io::AsyncSeekExt as _;
    let mut file = tokio::fs::File::from_std(file.try_clone()?);
    file.seek(io::SeekFrom::Start(start)).await?;
    let copied = tokio::io::copy(&mut file.take(count), stream).await?;
    if copied < count {
        tracing::error!(
            missing = count - copied,
            "package file shorter than announced while serving it"
        );
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

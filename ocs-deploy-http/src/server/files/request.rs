//! Reading a request head with `httparse`, keeping only what the files listener uses.

/// Headers read from a request at most; more is 431.
const MAX_HEADERS: usize = 64;

/// The methods the listener tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    Get,
    Head,
    Other,
}

/// What the listener needs of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Request {
    pub(super) method: Method,
    /// The request target as sent (origin or absolute form).
    pub(super) target: String,
    /// Whether the connection stays open after the response.
    pub(super) keep_alive: bool,
    /// HTTP/1.0 with `Connection: keep-alive`: the response says it keeps the connection.
    pub(super) http10_keep_alive: bool,
    /// The request announces a body (`Content-Length` > 0 or `Transfer-Encoding`): the
    /// body is not read, so the connection is closed after the response.
    pub(super) has_body: bool,
    pub(super) range: Option<String>,
    pub(super) if_none_match: Option<String>,
    pub(super) if_modified_since: Option<String>,
    pub(super) if_range: Option<String>,
}

/// The outcome of parsing the bytes received so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Parsed {
    /// The head is not complete yet.
    Partial,
    /// A request whose head took the first `usize` bytes.
    Complete(Request, usize),
    /// Answer with this status and close: 400 (malformed) or 431 (too large).
    Refused(u16),
}

/// Parses a request head at the start of `buf`, of at most `max_head` bytes.
pub(super) fn parse(buf: &[u8], max_head: usize) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let consumed = match request.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n <= max_head => n,
        Ok(httparse::Status::Partial) if buf.len() < max_head => return Parsed::Partial,
        Ok(_) | Err(httparse::Error::TooManyHeaders) => return Parsed::Refused(431),
        Err(_) => return Parsed::Refused(400),
    };
    let (Some(method), Some(target), Some(version)) =
        (request.method, request.path, request.version)
    else {
        return Parsed::Refused(400);
    };
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        _ => Method::Other,
    };
    let mut found = Request {
        method,
        target: target.to_owned(),
        keep_alive: version >= 1,
        http10_keep_alive: false,
        has_body: false,
        range: None,
        if_none_match: None,
        if_modified_since: None,
        if_range: None,
    };
    let mut content_length: Option<u64> = None;
    for header in request.headers.iter() {
        let name = header.name;
        let value = std::str::from_utf8(header.value).ok().map(str::trim);
        if name.eq_ignore_ascii_case("connection") {
            for token in value.unwrap_or_default().split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    found.keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") && version == 0 {
                    found.keep_alive = true;
                    found.http10_keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            let Some(length) = value
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok())
            else {
                return Parsed::Refused(400);
            };
            if content_length.is_some_and(|known| known != length) {
                return Parsed::Refused(400);
            }
            content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            found.has_body = true;
        } else if name.eq_ignore_ascii_case("if-none-match") {
            // Several lines are one list.
            if let Some(value) = value {
                found.if_none_match = Some(match found.if_none_match.take() {
                    Some(before) => format!("{before}, {value}"),
                    None => value.to_owned(),
                });
            }
        } else {
            let slot = if name.eq_ignore_ascii_case("range") {
                &mut found.range
            } else if name.eq_ignore_ascii_case("if-modified-since") {
                &mut found.if_modified_since
            } else if name.eq_ignore_ascii_case("if-range") {
                &mut found.if_range
            } else {
                continue;
            };
            // The first line counts, as with `HeaderMap::get`.
            if slot.is_none() {
                *slot = value.map(str::to_owned);
            }
        }
    }
    if content_length.is_some_and(|n| n > 0) {
        found.has_body = true;
    }
    Parsed::Complete(found, consumed)
}

/// The package directory and file name a request target names under `/download/`, percent
/// decoded; `None` for any other path.
pub(super) fn download_path(target: &str) -> Option<(String, String)> {
    let path = if let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        // Absolute form: drop the authority.
        &rest[rest.find('/')?..]
    } else {
        target
    };
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    let rest = path.strip_prefix("/download/")?;
    let (id, name) = rest.split_once('/')?;
    if id.is_empty() || name.is_empty() || name.contains('/') {
        return None;
    }
    Some((percent_decode(id)?, percent_decode(name)?))
}

/// Decodes `%XX` escapes (others are kept as they are, as axum does); `None` when the
/// result is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(high), Some(low)) = (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            )
        {
            out.push(high << 4 | low);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(text: &str) -> Request {
        match parse(text.as_bytes(), 1024) {
            Parsed::Complete(request, n) => {
                assert_eq!(n, text.len());
                request
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }

    #[test]
    fn heads() {
        let r = complete(
            "GET /download/1/1-1 HTTP/1.1\r\nRange: bytes=0-1\r\nIf-None-Match: \"a\"\r\nif-none-match: \"b\"\r\n\r\n",
        );
        assert_eq!(r.method, Method::Get);
        assert!(r.keep_alive && !r.has_body);
        assert_eq!(r.range.as_deref(), Some("bytes=0-1"));
        assert_eq!(r.if_none_match.as_deref(), Some("\"a\", \"b\""));
        assert!(!complete("GET / HTTP/1.1\r\nConnection: Upgrade, close\r\n\r\n").keep_alive);
        assert!(!complete("GET / HTTP/1.0\r\n\r\n").keep_alive);
        let r = complete("HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert!(r.keep_alive && r.http10_keep_alive && r.method == Method::Head);
        assert!(complete("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n").has_body);
        assert!(!complete("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").has_body);
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHost: x\r\n", 1024),
            Parsed::Partial
        );
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHost: x\r\n", 10),
            Parsed::Refused(431)
        );
        assert_eq!(parse(b"GET / HTTP/1.1\r\n\r\n", 10), Parsed::Refused(431));
        assert_eq!(parse(b"GET / HTTP/9.9\r\n\r\n", 1024), Parsed::Refused(400));
        assert_eq!(
            parse(b"GET\0/ HTTP/1.1\r\n\r\n", 1024),
            Parsed::Refused(400)
        );
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 1024),
            Parsed::Refused(400)
        );
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(65));
        assert_eq!(parse(many.as_bytes(), 4096), Parsed::Refused(431));
    }

    #[test]
    fn paths() {
        let p = |t: &str| download_path(t);
        assert_eq!(p("/download/1/1-2"), Some(("1".into(), "1-2".into())));
        assert_eq!(p("/download/1/1-2?x=/y"), Some(("1".into(), "1-2".into())));
        assert_eq!(
            p("http://h:1/download/1/info"),
            Some(("1".into(), "info".into()))
        );
        assert_eq!(
            p("/download/%2e%2e/1%2D2"),
            Some(("..".into(), "1-2".into()))
        );
        assert_eq!(p("/download/1/%zz"), Some(("1".into(), "%zz".into())));
        assert_eq!(p("/download/1/%ff"), None);
        assert_eq!(p("/download/1/1-2/"), None);
        assert_eq!(p("/download/1/"), None);
        assert_eq!(p("/download//1-2"), None);
        assert_eq!(p("/other/1/1-2"), None);
        assert_eq!(p("*"), None);
    }
}

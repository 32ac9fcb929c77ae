//! The files listener (`serve_files`): fragments byte-exact with the download router's
//! headers, HEAD, ranges, validators, keep-alive, refusals (info, traversal, malformed,
//! oversize, methods), the header read timeout, and shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ocs_deploy_http::server::{FilesConfig, serve_files};
use reqwest::StatusCode;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::Harness;

/// A files listener on a loopback port, stopped by [`Files::stop`].
struct Files {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Files {
    async fn start(root: PathBuf, config: FilesConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_files(listener, root, config, async move {
            let _ = stopped.await;
        }));
        Self { addr, stop, task }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

async fn files_for(h: &Harness) -> Files {
    Files::start(h.root.clone(), FilesConfig::default()).await
}

/// One response read from a connection: status, headers (names lower case) and body.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one response; the body is `Content-Length` bytes unless `no_body` (HEAD, 304).
async fn read_response(reader: &mut BufReader<TcpStream>, no_body: bool) -> Raw {
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).await.unwrap();
        let text = line.trim_end();
        if text.is_empty() {
            break;
        }
        let (name, value) = text.split_once(':').expect("a header line");
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut raw = Raw {
        status,
        headers,
        body: Vec::new(),
    };
    if !no_body {
        let len: usize = raw
            .header("content-length")
            .map_or(0, |v| v.parse().unwrap());
        raw.body = vec![0; len];
        reader.read_exact(&mut raw.body).await.unwrap();
    }
    raw
}

async fn connect(addr: SocketAddr) -> BufReader<TcpStream> {
    BufReader::new(TcpStream::connect(addr).await.unwrap())
}

/// Sends `request` on a new connection and reads one response.
async fn exchange(addr: SocketAddr, request: &str, no_body: bool) -> Raw {
    let mut conn = connect(addr).await;
    conn.get_mut().write_all(request.as_bytes()).await.unwrap();
    read_response(&mut conn, no_body).await
}

/// Whether the server closed the connection (EOF, or a reset after it closed).
async fn closed(conn: &mut BufReader<TcpStream>) -> bool {
    let mut rest = Vec::new();
    match conn.read_to_end(&mut rest).await {
        Ok(_) => rest.is_empty(),
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

#[tokio::test]
async fn fragments_are_byte_exact_with_the_download_routers_headers() {
    let h = Harness::start().await;
    let files = files_for(&h).await;
    for n in 1..=3 {
        let path = h.fragment_path(n);
        let ours = h.client.get(files.url(&path)).send().await.unwrap();
        let theirs = h.client.get(h.http_url(&path)).send().await.unwrap();
        assert_eq!(ours.status(), StatusCode::OK);
        for name in [
            "etag",
            "last-modified",
            "content-length",
            "content-type",
            "accept-ranges",
        ] {
            assert_eq!(ours.headers()[name], theirs.headers()[name], "{name}");
        }
        assert!(ours.headers().contains_key("date"));
        assert_eq!(
            ours.bytes().await.unwrap(),
            h.fragment_bytes(n as usize),
            "fragment {n}"
        );
    }
    files.stop().await;
    h.stop().await;
}

#[tokio::test]
async fn head_and_keep_alive_answer_several_requests_on_one_connection() {
    let h = Harness::start().await;
    let files = files_for(&h).await;
    let (one, three) = (h.fragment_path(1), h.fragment_path(3));
    let mut conn = connect(files.addr).await;
    // HEAD: headers only, so the next response on the connection starts right after.
    conn.get_mut()
        .write_all(format!("HEAD {three} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let head = read_response(&mut conn, true).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("50000"));
    // Pipelined: three requests in one write, answered in order.
    let pipelined = format!(
        "GET {one} HTTP/1.1\r\nHost: x\r\n\r\nGET {three} HTTP/1.1\r\nHost: x\r\n\r\nGET {one} HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\n"
    );
    conn.get_mut()
        .write_all(pipelined.as_bytes())
        .await
        .unwrap();
    let first = read_response(&mut conn, false).await;
    assert_eq!(first.body, h.fragment_bytes(1));
    let second = read_response(&mut conn, false).await;
    assert_eq!(second.body, h.fragment_bytes(3));
    assert_eq!(second.header("etag"), head.header("etag"));
    let third = read_response(&mut conn, false).await;
    assert_eq!(
        (third.status, third.body.as_slice()),
        (206, &h.fragment_bytes(1)[..10])
    );
    // `Connection: close` is answered, then the connection ends.
    conn.get_mut()
        .write_all(format!("GET {three} HTTP/1.1\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let last = read_response(&mut conn, false).await;
    assert_eq!(last.header("connection"), Some("close"));
    assert_eq!(last.body, h.fragment_bytes(3));
    assert!(closed(&mut conn).await);

    // HTTP/1.0: closed after the response, unless it asks for keep-alive.
    let mut conn = connect(files.addr).await;
    conn.get_mut()
        .write_all(format!("GET {three} HTTP/1.0\r\n\r\n").as_bytes())
        .await
        .unwrap();
    assert_eq!(
        read_response(&mut conn, false).await.body,
        h.fragment_bytes(3)
    );
    assert!(closed(&mut conn).await);
    let mut conn = connect(files.addr).await;
    for _ in 0..2 {
        conn.get_mut()
            .write_all(format!("GET {three} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let response = read_response(&mut conn, false).await;
        assert_eq!(response.header("connection"), Some("keep-alive"));
        assert_eq!(response.body, h.fragment_bytes(3));
    }
    files.stop().await;
    h.stop().await;
}

#[tokio::test]
async fn ranges_are_answered_as_the_download_router_does() {
    let h = Harness::start().await;
    let files = files_for(&h).await;
    let path = h.fragment_path(1);
    for range in [
        "bytes=10-19",
        "bytes=99990-",
        "bytes=-5",
        "bytes=0-5000000",
        "bytes=100000-",
        "bytes=-0",
        "bytes=0-1,5-6",
        "bytes=9-1",
        "items=0-1",
    ] {
        let ours = h
            .client
            .get(files.url(&path))
            .header("Range", range)
            .send()
            .await
            .unwrap();
        let theirs = h
            .client
            .get(h.http_url(&path))
            .header("Range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(ours.status(), theirs.status(), "{range}");
        for name in ["content-range", "content-length", "etag"] {
            assert_eq!(
                ours.headers().get(name),
                theirs.headers().get(name),
                "{range}: {name}"
            );
        }
        assert_eq!(
            ours.bytes().await.unwrap(),
            theirs.bytes().await.unwrap(),
            "{range}"
        );
    }
    let unsatisfiable = h
        .client
        .get(files.url(&path))
        .header("Range", "bytes=100000-")
        .send()
        .await
        .unwrap();
    assert_eq!(unsatisfiable.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(unsatisfiable.headers()["content-range"], "bytes */100000");
    files.stop().await;
    h.stop().await;
}

#[tokio::test]
async fn validators_give_304_and_if_range_picks_the_range_or_the_whole_file() {
    let h = Harness::start().await;
    let files = files_for(&h).await;
    let url = files.url(&h.fragment_path(2));
    let first = h.client.get(&url).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let modified = first.headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_owned();
    let get = |name: &'static str, value: String| {
        let request = h.client.get(&url).header(name, value);
        async move { request.send().await.unwrap() }
    };
    let not_modified = get("If-None-Match", format!("\"other\", {etag}")).await;
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(not_modified.headers()["etag"], etag.as_str());
    assert!(not_modified.bytes().await.unwrap().is_empty());
    assert_eq!(
        get("If-None-Match", "\"other\"".into()).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        get("If-Modified-Since", modified.clone()).await.status(),
        StatusCode::NOT_MODIFIED
    );
    let ranged = |if_range: String| {
        let request = h
            .client
            .get(&url)
            .header("Range", "bytes=0-99")
            .header("If-Range", if_range);
        async move { request.send().await.unwrap() }
    };
    let same = ranged(etag.clone()).await;
    assert_eq!(same.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(same.bytes().await.unwrap(), &h.fragment_bytes(2)[..100]);
    let changed = ranged("\"an-older-version\"".into()).await;
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(changed.bytes().await.unwrap(), h.fragment_bytes(2));
    assert_eq!(ranged(modified).await.status(), StatusCode::PARTIAL_CONTENT);
    files.stop().await;
    h.stop().await;
}

#[tokio::test]
async fn info_files_are_refused_on_the_plain_listener() {
    let h = Harness::start().await;
    let files = files_for(&h).await;
    let info = h
        .client
        .get(files.url(&h.info_path()))
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), StatusCode::FORBIDDEN);
    assert!(info.text().await.unwrap().contains("HTTPS"));
    files.stop().await;
    h.stop().await;
}

#[tokio::test]
async fn nothing_outside_the_package_files_is_served() {
    let h = Harness::start().await;
    let id = h.package.id;
    // A secret beside the root, and a package directory that is a link out of the root.
    let secret = h.root.parent().unwrap().join("secret.txt");
    std::fs::write(&secret, "SECRET").unwrap();
    let outside = h.root.parent().unwrap().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("4242-1"), "SECRET").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&outside, h.root.join("4242")).unwrap();
    let files = files_for(&h).await;
    for target in [
        "/download/../secret.txt".to_owned(),
        "/download/%2e%2e/secret.txt".to_owned(),
        format!("/download/{id}/..%2f..%2fsecret.txt"),
        format!("/download/{id}/%2e%2e%2f%2e%2e%2fsecret.txt"),
        format!("/download/{id}/{id}-1/../../secret.txt"),
        "/download/%2fetc/passwd".to_owned(),
        "//etc/passwd".to_owned(),
        "/etc/passwd".to_owned(),
        format!("/download/{id}/{id}-4"),
        format!("/download/{id}/{id}-01"),
        format!("/download/{id}/other"),
        format!("/download/{id}/"),
        format!("/download/{id}"),
        "/download/4242/4242-1".to_owned(),
    ] {
        let response = exchange(
            files.addr,
            &format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n"),
            false,
        )
        .await;
        assert_eq!(response.status, 404, "{target}");
        assert!(
            !String::from_utf8_lossy(&response.body).contains("SECRET"),
            "{target}"
        );
    }
    files.stop().await;
    h.stop().await;
}

#[tokio::test]
async fn malformed_oversize_and_other_methods_are_refused() {
    let h = Harness::start().await;
    let mut config = FilesConfig::default();
    config.max_request_head = 4096;
    let files = Files::start(h.root.clone(), config).await;
    let path = h.fragment_path(1);
    for malformed in [
        "GARBAGE\r\n\r\n".to_owned(),
        format!("GET {path} HTTP/1.1\r\nNo colon here\r\n\r\n"),
        format!("GET {path} HTTP/2.0\r\n\r\n"),
        format!("GET {path} HTTP/1.1\r\nContent-Length: many\r\n\r\n"),
    ] {
        let mut conn = connect(files.addr).await;
        conn.get_mut()
            .write_all(malformed.as_bytes())
            .await
            .unwrap();
        let response = read_response(&mut conn, false).await;
        assert_eq!(response.status, 400, "{malformed:?}");
        assert!(closed(&mut conn).await, "{malformed:?}");
    }
    let long = format!(
        "GET {path} HTTP/1.1\r\nX-Long: {}\r\n\r\n",
        "a".repeat(8000)
    );
    let many = format!("GET {path} HTTP/1.1\r\n{}\r\n", "X-A: b\r\n".repeat(100));
    for oversize in [long, many] {
        assert_eq!(exchange(files.addr, &oversize, false).await.status, 431);
    }
    for method in ["DELETE", "PUT", "OPTIONS", "get"] {
        let request = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let ours = exchange(files.addr, &request, false).await;
        let theirs = exchange(h.http_addr(), &request, false).await;
        assert_eq!(ours.status, 405, "{method}");
        assert_eq!(ours.status, theirs.status, "{method}");
        assert_eq!(ours.header("allow"), theirs.header("allow"), "{method}");
    }
    // A request with a body is answered, then the connection closed (the body is not read).
    let mut conn = connect(files.addr).await;
    conn.get_mut()
        .write_all(format!("POST {path} HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello").as_bytes())
        .await
        .unwrap();
    assert_eq!(read_response(&mut conn, false).await.status, 405);
    assert!(closed(&mut conn).await);
    files.stop().await;
    h.stop().await;
}

#[tokio::test]
async fn a_slow_head_is_cut_and_shutdown_closes_idle_connections() {
    let h = Harness::start().await;
    let mut config = FilesConfig::default();
    config.header_read_timeout = Duration::from_millis(200);
    let files = Files::start(h.root.clone(), config).await;
    // Half a request line, then nothing: the server closes the connection.
    let mut slow = connect(files.addr).await;
    slow.get_mut().write_all(b"GET /down").await.unwrap();
    assert!(closed(&mut slow).await);

    let files = Files::start(h.root.clone(), FilesConfig::default()).await;
    let mut idle = connect(files.addr).await;
    idle.get_mut()
        .write_all(format!("GET {} HTTP/1.1\r\n\r\n", h.fragment_path(3)).as_bytes())
        .await
        .unwrap();
    assert_eq!(read_response(&mut idle, false).await.status, 200);
    let addr = files.addr;
    files.stop().await;
    assert!(closed(&mut idle).await);
    assert!(TcpStream::connect(addr).await.is_err());
    h.stop().await;
}

/// At its connection limit the listener accepts no more until a connection closes: the
/// next client waits (in the kernel's accept queue), then is served.
#[tokio::test]
async fn clients_past_the_connection_limit_wait_for_a_free_slot() {
    let h = Harness::start().await;
    let mut config = FilesConfig::default();
    config.max_connections = 2;
    let files = Files::start(h.root.clone(), config).await;
    let request = format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", h.fragment_path(1));
    // Two keep-alive connections, each served once and left open.
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut conn = connect(files.addr).await;
        conn.get_mut().write_all(request.as_bytes()).await.unwrap();
        assert_eq!(read_response(&mut conn, false).await.status, 200);
        open.push(conn);
    }
    let mut third = connect(files.addr).await;
    third.get_mut().write_all(request.as_bytes()).await.unwrap();
    let waited =
        tokio::time::timeout(Duration::from_millis(500), read_response(&mut third, false)).await;
    assert!(
        waited.is_err(),
        "a third connection was served past the limit of 2"
    );
    drop(open.pop());
    let served = tokio::time::timeout(Duration::from_secs(5), read_response(&mut third, false))
        .await
        .expect("the waiting client was not served after a connection closed");
    assert_eq!(served.status, 200);
    assert_eq!(served.body, h.fragment_bytes(1));
    files.stop().await;
}

//! Package files: full, HEAD, ranges, validators, info only over HTTPS, and nothing
//! outside the package root.

use std::net::SocketAddr;

use ocs_deploy_core::fragment::Assembler;
use ocs_deploy_core::protocol::{PrologReply, compression};
use ocs_deploy_core::store::FileName;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::reference;
use crate::support::{DEVICE, Harness};

const FRAGMENT_SIZE: usize = 100_000;

impl Harness {
    pub(crate) fn fragment_path(&self, n: u32) -> String {
        format!(
            "/download/{}",
            FileName::Fragment(n).relative_path(self.package.id)
        )
    }

    pub(crate) fn info_path(&self) -> String {
        format!(
            "/download/{}",
            FileName::Info.relative_path(self.package.id)
        )
    }

    pub(crate) fn fragment_bytes(&self, n: usize) -> &[u8] {
        let start = (n - 1) * FRAGMENT_SIZE;
        &self.archive[start..(start + FRAGMENT_SIZE).min(self.archive.len())]
    }
}

/// Sends `request` as is and returns the status code and the whole response.
async fn raw(addr: SocketAddr, target: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, text)
}

#[tokio::test]
async fn fragments_are_served_whole_with_validators() {
    let h = Harness::start().await;
    for n in 1..=3 {
        let response = h
            .client
            .get(h.http_url(&h.fragment_path(n)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        assert_eq!(headers["accept-ranges"], "bytes");
        assert_eq!(headers["content-type"], "application/octet-stream");
        let expected = h.fragment_bytes(n as usize);
        assert_eq!(
            headers["content-length"],
            expected.len().to_string().as_str()
        );
        let etag = headers["etag"].to_str().unwrap();
        assert!(etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"));
        assert!(httpdate::parse_http_date(headers["last-modified"].to_str().unwrap()).is_ok());
        assert_eq!(response.bytes().await.unwrap(), expected);
    }
    h.stop().await;
}

#[tokio::test]
async fn head_gives_the_headers_without_the_body() {
    let h = Harness::start().await;
    let url = h.http_url(&h.fragment_path(3));
    let head = h.client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], "50000");
    let etag = head.headers()["etag"].clone();
    assert!(head.bytes().await.unwrap().is_empty());
    let get = h.client.get(&url).send().await.unwrap();
    assert_eq!(get.headers()["etag"], etag);
    h.stop().await;
}

#[tokio::test]
async fn a_single_range_is_206() {
    let h = Harness::start().await;
    let url = h.http_url(&h.fragment_path(1));
    let fragment = h.fragment_bytes(1);
    for (range, start, end) in [
        ("bytes=10-19", 10usize, 19usize),
        ("bytes=99990-", 99_990, 99_999),
        ("bytes=-5", 99_995, 99_999),
        ("bytes=0-5000000", 0, 99_999),
    ] {
        let response = h
            .client
            .get(&url)
            .header("Range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            response.headers()["content-range"],
            format!("bytes {start}-{end}/100000").as_str()
        );
        assert_eq!(
            response.headers()["content-length"],
            (end - start + 1).to_string().as_str()
        );
        assert_eq!(
            response.bytes().await.unwrap(),
            &fragment[start..=end],
            "{range}"
        );
    }
    // Several ranges: the whole file.
    let response = h
        .client
        .get(&url)
        .header("Range", "bytes=0-1,5-6")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap(), fragment);
    h.stop().await;
}

#[tokio::test]
async fn an_unsatisfiable_range_is_416() {
    let h = Harness::start().await;
    let url = h.http_url(&h.fragment_path(1));
    for range in ["bytes=100000-", "bytes=200000-200010", "bytes=-0"] {
        let response = h
            .client
            .get(&url)
            .header("Range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::RANGE_NOT_SATISFIABLE,
            "{range}"
        );
        assert_eq!(response.headers()["content-range"], "bytes */100000");
    }
    h.stop().await;
}

#[tokio::test]
async fn validators_give_304_and_if_range_falls_back_to_200() {
    let h = Harness::start().await;
    let url = h.http_url(&h.fragment_path(2));
    let first = h.client.get(&url).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let modified = first.headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_owned();

    let by_tag = h
        .client
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(by_tag.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(by_tag.headers()["etag"], etag.as_str());
    assert!(by_tag.bytes().await.unwrap().is_empty());

    let by_date = h
        .client
        .get(&url)
        .header("If-Modified-Since", &modified)
        .send()
        .await
        .unwrap();
    assert_eq!(by_date.status(), StatusCode::NOT_MODIFIED);

    let other_tag = h
        .client
        .get(&url)
        .header("If-None-Match", "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other_tag.status(), StatusCode::OK);

    let resumed = h
        .client
        .get(&url)
        .header("Range", "bytes=100-")
        .header("If-Range", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), StatusCode::PARTIAL_CONTENT);
    let changed = h
        .client
        .get(&url)
        .header("Range", "bytes=100-")
        .header("If-Range", "\"older\"")
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(changed.bytes().await.unwrap(), h.fragment_bytes(2));

    // A file rewritten in place gets a new tag.
    let path = h
        .root
        .join(FileName::Fragment(2).relative_path(h.package.id));
    std::fs::write(&path, b"rewritten").unwrap();
    let after = h
        .client
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::OK);
    assert_ne!(after.headers()["etag"], etag.as_str());
    assert_eq!(after.bytes().await.unwrap(), "rewritten");
    h.stop().await;
}

#[tokio::test]
async fn info_is_refused_over_http_and_served_over_https() {
    let h = Harness::start().await;
    let plain = h
        .client
        .get(h.http_url(&h.info_path()))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::FORBIDDEN);
    let head = h
        .client
        .head(h.http_url(&h.info_path()))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::FORBIDDEN);

    let tls = h
        .client
        .get(h.https_url(&h.info_path()))
        .send()
        .await
        .unwrap();
    assert_eq!(tls.status(), StatusCode::OK);
    assert_eq!(tls.headers()["content-type"], "application/xml");
    assert_eq!(tls.text().await.unwrap(), h.package.info);
    // Fragments are served over HTTPS too.
    let fragment = h
        .client
        .get(h.https_url(&h.fragment_path(1)))
        .send()
        .await
        .unwrap();
    assert_eq!(fragment.bytes().await.unwrap(), h.fragment_bytes(1));
    h.stop().await;
}

#[tokio::test]
async fn an_agent_deploys_from_the_prolog_locations() {
    let h = Harness::start().await;
    h.affect_to(DEVICE).await;
    let request = reference::read("real-agent/prolog-request.xml");
    let reply = h.post(compression::encode_zlib(&request)).await;
    let reply = reply.bytes().await.unwrap();
    let prolog = PrologReply::decode(&compression::decode(&reply, 1 << 20).unwrap().0).unwrap();
    let notice = &prolog.download.unwrap().packages[0];
    // As the agents build the URLs: https for info, the info file's PROTO for fragments.
    let info_url = format!("https://{}/{}/info", notice.info_location, notice.id);
    let info = h
        .client
        .get(&info_url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let info = ocs_deploy_core::info::read(&info).unwrap();
    let payload = info.payload().expect("a package with fragments");
    let mut assembler = Assembler::new(payload).unwrap();
    let mut archive = Vec::new();
    for n in 1..=payload.fragments {
        let url = format!(
            "http://{}/{}/{}",
            notice.pack_location,
            notice.id,
            notice.id.fragment_name(n)
        );
        let fragment = h
            .client
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assembler.begin_fragment(n).unwrap();
        assembler.push(&fragment).unwrap();
        assembler.end_fragment().unwrap();
        archive.extend_from_slice(&fragment);
    }
    assembler.finish().unwrap();
    assert_eq!(archive, h.archive);
    h.stop().await;
}

#[tokio::test]
async fn nothing_outside_the_two_names_is_served() {
    let h = Harness::start().await;
    let id = h.package.id.to_string();
    std::fs::write(h.dir.path().join("secret"), "SECRET").unwrap();
    std::fs::write(h.root.join(&id).join("notes.txt"), "SECRET").unwrap();
    std::fs::write(h.root.join(&id).join(format!("{id}-01")), "SECRET").unwrap();
    let other = "1795000001";
    std::fs::create_dir_all(h.root.join(other).join(format!("{other}-1"))).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        // A fragment and a whole package directory that are links out of the root.
        let evil = "1795000002";
        std::fs::create_dir_all(h.root.join(evil)).unwrap();
        symlink(
            h.dir.path().join("secret"),
            h.root.join(evil).join(format!("{evil}-1")),
        )
        .unwrap();
        symlink(h.dir.path().join("secret"), h.root.join(evil).join("info")).unwrap();
        let outside = h.dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("1795000003-1"), "SECRET").unwrap();
        symlink(&outside, h.root.join("1795000003")).unwrap();
    }
    let targets = [
        "/download/../secret".to_owned(),
        "/download/../../secret".to_owned(),
        "/download/%2e%2e/secret".to_owned(),
        "/download/%2e%2e/%2e%2e%2fsecret".to_owned(),
        format!("/download/{id}/..%2f..%2fsecret"),
        format!("/download/{id}/%2e%2e%2f%2e%2e%2fsecret"),
        format!("/download/{id}/{id}-1%2f..%2f..%2f..%2fsecret"),
        format!(
            "/download/{id}/%2F{}",
            h.dir.path().join("secret").display()
        ),
        format!("/download/{id}/notes.txt"),
        format!("/download/{id}/{id}-01"),
        format!("/download/{id}/{id}-4"),
        format!("/download/{id}/{other}-1"),
        format!("/download/{id}/"),
        format!("/download/{id}"),
        format!("/download/0{id}/0{id}-1"),
        format!("/download/{other}/{other}-1"),
        "/download/1795000002/1795000002-1".to_owned(),
        "/download/1795000003/1795000003-1".to_owned(),
        "/download/%2Fetc/passwd".to_owned(),
        "//etc/passwd".to_owned(),
        "/secret".to_owned(),
    ];
    for target in &targets {
        let (status, text) = raw(h.http_addr(), target).await;
        assert_eq!(status, 404, "{target}: {text}");
        assert!(!text.contains("SECRET"), "{target}: {text}");
    }
    // Over HTTPS too, where info files are served.
    for target in ["/download/1795000002/info", "/download/..%2f/info"] {
        let response = h.client.get(h.https_url(target)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{target}");
    }
    // Only GET and HEAD.
    let post = h
        .client
        .post(h.http_url(&h.fragment_path(1)))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    h.stop().await;
}

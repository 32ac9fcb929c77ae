//! The OCS communication endpoint: framings, replies, results and refusals.

use std::io::Read;

use ocs_deploy_core::DeploymentStatus;
use ocs_deploy_core::protocol::{
    DeviceId, Encoding, InventoryReply, InventoryResponse, PrologReply, PrologResponse, compression,
};
use ocs_deploy_core::service::AffectTarget;
use ocs_deploy_core::store::AffectOptions;
use ocs_deploy_http::server::EndpointConfig;
use reqwest::StatusCode;

use crate::reference;
use crate::support::{DEVICE, Harness, NOW};

/// A zlib stream flushed with `Z_SYNC_FLUSH` and never finished, as the Windows agent
/// sends it.
fn sync_flushed(xml: &[u8]) -> Vec<u8> {
    let mut compress = flate2::Compress::new(flate2::Compression::default(), true);
    let mut out = Vec::with_capacity(xml.len() + 64);
    compress
        .compress_vec(xml, &mut out, flate2::FlushCompress::Sync)
        .unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out
}

fn prolog_request() -> Vec<u8> {
    reference::read("real-agent/prolog-request.xml")
}

/// The real agent's result message, naming `package` instead of the reference id.
fn result_message(package: &str, status: &str) -> Vec<u8> {
    String::from_utf8(reference::read("real-agent/download-result.xml"))
        .unwrap()
        .replace("1700000000", package)
        .replace("SUCCESS_0", status)
        .into_bytes()
}

fn inventory_request(device: &str) -> Vec<u8> {
    let part =
        String::from_utf8(reference::read("real-agent/inventory-download-part.xml")).unwrap();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<REQUEST>\n  <CONTENT>\n    <HARDWARE><NAME>vm</NAME></HARDWARE>\n    {part}\n  </CONTENT>\n  <DEVICEID>{device}</DEVICEID>\n  <QUERY>INVENTORY</QUERY>\n</REQUEST>\n"
    )
    .into_bytes()
}

/// Checks the OCS reply headers and returns the body.
async fn ocs_reply(response: reqwest::Response) -> Vec<u8> {
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "application/x-compressed");
    assert_eq!(headers["cache-control"], "no-cache");
    response.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn prolog_in_every_framing_is_answered_in_the_same_framing() {
    let h = Harness::start().await;
    h.affect_to(DEVICE).await;
    let xml = prolog_request();
    let bodies = [
        ("zlib", compression::encode_zlib(&xml), Encoding::Zlib),
        ("unfinished zlib", sync_flushed(&xml), Encoding::Zlib),
        ("gzip", compression::encode_gzip(&xml), Encoding::Gzip),
        ("plain", xml.clone(), Encoding::Plain),
    ];
    for (name, body, encoding) in bodies {
        let reply = ocs_reply(h.post(body).await).await;
        let (decoded, framing) = compression::decode(&reply, 1 << 20).unwrap();
        assert_eq!(framing, encoding, "{name}");
        if encoding == Encoding::Zlib {
            // The Unix agent inflates in one shot: the reply must be a complete stream.
            let mut strict = Vec::new();
            flate2::read::ZlibDecoder::new(&reply[..])
                .read_to_end(&mut strict)
                .unwrap();
            assert_eq!(strict, decoded, "{name}");
        }
        let prolog = PrologReply::decode(&decoded).unwrap();
        assert_eq!(prolog.response, PrologResponse::Send, "{name}");
        let download = prolog.download.expect("a DOWNLOAD option");
        assert_eq!(download.packages.len(), 1, "{name}");
        let notice = &download.packages[0];
        assert_eq!(notice.id, h.package.id);
        assert_eq!(
            notice.info_location,
            format!("127.0.0.1:{}/download", h.https_addr().port())
        );
        assert_eq!(
            notice.pack_location,
            format!("127.0.0.1:{}/download", h.http_addr().port())
        );
    }
    assert_eq!(
        h.status(DEVICE).await.as_deref(),
        Some(DeploymentStatus::NOTIFIED)
    );
    h.stop().await;
}

#[tokio::test]
async fn prolog_to_any_path_below_the_endpoint_is_answered() {
    let h = Harness::start().await;
    for path in ["/ocsinventory/", "/ocsinventory/deploy/x"] {
        let response = h
            .client
            .post(h.http_url(path))
            .body(compression::encode_zlib(&prolog_request()))
            .send()
            .await
            .unwrap();
        let reply = ocs_reply(response).await;
        let (xml, _) = compression::decode(&reply, 1 << 20).unwrap();
        // An unknown computer is asked for its inventory.
        assert_eq!(
            PrologReply::decode(&xml).unwrap().response,
            PrologResponse::Send
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn prolog_over_https_is_answered() {
    let h = Harness::start().await;
    let response = h
        .client
        .post(h.https_url("/ocsinventory"))
        .body(compression::encode_zlib(&prolog_request()))
        .send()
        .await
        .unwrap();
    let reply = ocs_reply(response).await;
    assert!(PrologReply::decode(&compression::decode(&reply, 1 << 20).unwrap().0).is_ok());
    h.stop().await;
}

#[tokio::test]
async fn inventory_with_the_real_agents_history_is_answered() {
    let h = Harness::start().await;
    let reply = ocs_reply(
        h.post(compression::encode_zlib(&inventory_request(DEVICE)))
            .await,
    )
    .await;
    let (xml, encoding) = compression::decode(&reply, 1 << 20).unwrap();
    assert_eq!(encoding, Encoding::Zlib);
    let inventory = InventoryReply::decode(&xml).unwrap();
    assert_eq!(inventory.response, InventoryResponse::NoAccountUpdate);
    // The computer now exists: the package can be affected to it.
    h.service
        .affect(
            h.activation,
            &AffectTarget::Computers(vec![DeviceId::parse(DEVICE).unwrap()]),
            &AffectOptions::default(),
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(h.status(DEVICE).await, None);
    h.stop().await;
}

#[tokio::test]
async fn a_large_inventory_is_answered() {
    let h = Harness::start().await;
    // 1 MiB of software entries, sent plain: decoded on a blocking thread.
    let software = "<SOFTWARES><NAME>libexample</NAME><VERSION>1.2.3-4</VERSION></SOFTWARES>\n";
    let padding = software.repeat((1 << 20) / software.len());
    let xml = String::from_utf8(inventory_request(DEVICE))
        .unwrap()
        .replace("<CONTENT>", &format!("<CONTENT>\n{padding}"));
    assert!(xml.len() > 1 << 20);
    let reply = ocs_reply(h.post(xml.into_bytes()).await).await;
    let (xml, encoding) = compression::decode(&reply, 1 << 20).unwrap();
    assert_eq!(encoding, Encoding::Plain);
    assert_eq!(
        InventoryReply::decode(&xml).unwrap().response,
        InventoryResponse::NoAccountUpdate
    );
    h.stop().await;
}

#[tokio::test]
async fn download_result_is_recorded_with_an_empty_200() {
    let h = Harness::start().await;
    h.affect_to(DEVICE).await;
    let body = compression::encode_zlib(&result_message(&h.package.id.to_string(), "SUCCESS_0"));
    let response = h.post(body).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("content-type").is_none());
    assert_eq!(response.headers()["content-length"], "0");
    assert!(response.bytes().await.unwrap().is_empty());
    assert_eq!(h.status(DEVICE).await.as_deref(), Some("SUCCESS_0"));
    h.stop().await;
}

#[tokio::test]
async fn windows_agent_result_in_unfinished_zlib_is_recorded() {
    let h = Harness::start().await;
    h.affect_to("HOST-2024-01-01-00-00-00").await;
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<REQUEST ID=\"{}\" ERR=\"EXIT_CODE_1603\">\n    <DEVICEID>HOST-2024-01-01-00-00-00</DEVICEID>\n    <CONTENT />\n    <QUERY>DOWNLOAD</QUERY>\n</REQUEST>\n",
        h.package.id
    );
    let response = h
        .client
        .post(h.http_url("/ocsinventory"))
        .header("User-Agent", "OCS-NG_WINDOWS_AGENT_v2.11.0.1")
        .body(sync_flushed(xml.as_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        h.status("HOST-2024-01-01-00-00-00").await.as_deref(),
        Some("EXIT_CODE_1603")
    );
    h.stop().await;
}

#[tokio::test]
async fn refused_results_still_get_an_empty_200() {
    let h = Harness::start().await;
    h.affect_to(DEVICE).await;
    let id = h.package.id.to_string();
    for (name, xml) in [
        // A computer that never sent an inventory.
        (
            "unknown computer",
            result_message(&id, "SUCCESS").map_device("other-2026-01-01-00-00-00"),
        ),
        // A package that does not exist.
        ("unknown package", result_message("1234567890", "SUCCESS")),
        // A package ID that is not an id (OCS drops it with a 200 too).
        ("bad package id", result_message("../1", "SUCCESS")),
        // A known computer the package is not affected to (OCS logs 2501).
        (
            "not affected",
            result_message(&id, "SUCCESS").map_device("second-2026-01-01-00-00-00"),
        ),
    ] {
        if name == "not affected" {
            h.register("second-2026-01-01-00-00-00").await;
        }
        let response = h.post(compression::encode_zlib(&xml)).await;
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        assert!(response.bytes().await.unwrap().is_empty(), "{name}");
    }
    assert_eq!(h.status(DEVICE).await, None);
    h.stop().await;
}

trait MapDevice {
    fn map_device(self, device: &str) -> Vec<u8>;
}

impl MapDevice for Vec<u8> {
    fn map_device(self, device: &str) -> Vec<u8> {
        String::from_utf8(self)
            .unwrap()
            .replace(DEVICE, device)
            .into_bytes()
    }
}

#[tokio::test]
async fn bad_input_gets_400_saying_why() {
    let h = Harness::start().await;
    let cases: [(&str, Vec<u8>, &str); 9] = [
        (
            "bad XML",
            compression::encode_zlib(b"<REQUEST><DEVICEID>vm-2026-11-24-06-35-53</DEVICEID><QUERY>PROLOG</REQUEST>"),
            "malformed XML",
        ),
        (
            "bad DEVICEID",
            compression::encode_zlib(&prolog_request().map_device("vm-2026-11-24")),
            "bad DEVICEID",
        ),
        (
            "missing DEVICEID",
            compression::encode_zlib(b"<REQUEST><QUERY>PROLOG</QUERY></REQUEST>"),
            "no DEVICEID",
        ),
        (
            "missing QUERY",
            compression::encode_zlib(b"<REQUEST><DEVICEID>vm-2026-11-24-06-35-53</DEVICEID></REQUEST>"),
            "has no QUERY",
        ),
        (
            "unknown QUERY",
            compression::encode_zlib(
                b"<REQUEST><DEVICEID>vm-2026-11-24-06-35-53</DEVICEID><QUERY>SYSTEM</QUERY></REQUEST>",
            ),
            "unknown QUERY \"SYSTEM\"",
        ),
        (
            "another root",
            b"<REPLY><RESPONSE>SEND</RESPONSE></REPLY>".to_vec(),
            "expected root element REQUEST",
        ),
        ("not zlib, gzip nor XML", b"REQUEST please".to_vec(), "neither zlib, gzip nor XML"),
        (
            "truncated zlib",
            {
                let z = compression::encode_zlib(&prolog_request());
                z[..z.len() - 6].to_vec()
            },
            "truncated",
        ),
        ("empty body", Vec::new(), "body is empty"),
    ];
    for (name, body, reason) in cases {
        let response = h.post(body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{name}");
        let text = response.text().await.unwrap();
        assert!(text.contains(reason), "{name}: {text}");
    }
    h.stop().await;
}

#[tokio::test]
async fn get_is_400_and_other_methods_405() {
    let h = Harness::start().await;
    let url = h.http_url("/ocsinventory");
    let get = h.client.get(&url).send().await.unwrap();
    assert_eq!(get.status(), StatusCode::BAD_REQUEST);
    for method in [
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
        reqwest::Method::PATCH,
    ] {
        let response = h.client.request(method.clone(), &url).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
        assert_eq!(response.headers()["allow"], "POST");
    }
    h.stop().await;
}

#[tokio::test]
async fn huge_body_is_413() {
    let h = Harness::start_with(EndpointConfig::default().with_max_body(64 * 1024)).await;
    // Small enough to be read whole, too large for the limit.
    let mut xml = prolog_request();
    xml.resize(100 * 1024, b' ');
    let response = h.post(xml.clone()).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // The same sent in chunks, without a length.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        xml.chunks(8 * 1024).map(|c| Ok(c.to_vec())).collect();
    let chunked = h
        .client
        .post(h.http_url("/ocsinventory"))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(chunked.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Just below the limit is fine, with or without a length.
    let mut xml = prolog_request();
    xml.resize(60 * 1024, b' ');
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        xml.chunks(8 * 1024).map(|c| Ok(c.to_vec())).collect();
    let chunked = h
        .client
        .post(h.http_url("/ocsinventory"))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(chunked.status(), StatusCode::OK);
    let mut xml = prolog_request();
    xml.resize(60 * 1024, b' ');
    assert_eq!(h.post(xml).await.status(), StatusCode::OK);
    h.stop().await;
}

#[tokio::test]
async fn default_body_limit_is_8_mib() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let h = Harness::start().await;
    // The announced length alone is refused: the server answers before the body is sent.
    let mut stream = tokio::net::TcpStream::connect(h.http_addr()).await.unwrap();
    let head = format!(
        "POST /ocsinventory HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-compress\r\nContent-Length: {}\r\n\r\n",
        (8 << 20) + 1
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = vec![0; 12];
    stream.read_exact(&mut response).await.unwrap();
    assert_eq!(response, b"HTTP/1.1 413");
    h.stop().await;
}

#[tokio::test]
async fn zlib_bomb_is_refused() {
    let h = Harness::start_with(EndpointConfig::default().with_max_decoded(1 << 20)).await;
    // 16 MiB of spaces after the request compress to a few KiB.
    let mut xml = prolog_request();
    xml.resize(16 << 20, b' ');
    let bomb = compression::encode_zlib(&xml);
    assert!(bomb.len() < 64 * 1024);
    let response = h.post(bomb).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let gzip_bomb = compression::encode_gzip(&xml);
    assert_eq!(
        h.post(gzip_bomb).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    h.stop().await;
}

#[tokio::test]
async fn every_agent_version_is_accepted_by_default() {
    let h = Harness::start().await;
    // OCS 2.8 refuses agents newer than itself; we do not.
    for agent in [
        "OCS-NG_WINDOWS_AGENT_v2.9.3.0",
        "OCS-NG_unified_unix_agent_v9.0",
        "curl/8.0",
    ] {
        let response = h
            .client
            .post(h.http_url("/ocsinventory"))
            .header("User-Agent", agent)
            .body(compression::encode_zlib(&prolog_request()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{agent}");
    }
    h.stop().await;
}

#[tokio::test]
async fn user_agent_allow_list_refuses_prolog_from_others() {
    let config = EndpointConfig::default()
        .with_user_agents(["OCS-NG_unified_unix_agent_", "OCS-NG_WINDOWS_AGENT_"]);
    let h = Harness::start_with(config).await;
    let send = |agent: &'static str, body: Vec<u8>| {
        h.client
            .post(h.http_url("/ocsinventory"))
            .header("User-Agent", agent)
            .body(body)
            .send()
    };
    let prolog = compression::encode_zlib(&prolog_request());
    assert_eq!(
        send("OCS-NG_unified_unix_agent_v2.10.0", prolog.clone())
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        send("OCS-NG_WINDOWS_AGENT_v2.11.0.1", prolog.clone())
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let refused = send("curl/8.0", prolog.clone()).await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("User-Agent \"curl/8.0\" is not allowed")
    );
    // Only PROLOG is gated, as in OCS.
    let inventory = compression::encode_zlib(&inventory_request(DEVICE));
    assert_eq!(
        send("curl/8.0", inventory).await.unwrap().status(),
        StatusCode::OK
    );
    h.stop().await;
}

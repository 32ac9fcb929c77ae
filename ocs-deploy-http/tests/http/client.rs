//! The agent's `HttpTransport` against the server: messages, files, trust (the CA file,
//! pinned OCS-style certificates, weak keys) and failures.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use futures::TryStreamExt;
use ocs_deploy_core::StatusCode;
use ocs_deploy_core::agent::{BodyStream, Transport, TransportError};
use ocs_deploy_core::protocol::{HistoryEntry, InventoryReply, PrologReply, Request};
use ocs_deploy_http::client::{ClientError, HttpTransport, NEW_CERTIFICATE_COMMAND};
use ocs_deploy_http::server::{RunningServer, Server, TlsConfig};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::support::{DEVICE, Harness, client_trusting, install_ring};

const RSA_1024: &str = include_str!("fixtures/rsa1024-cacert.pem");
const RSA_2048: &str = include_str!("fixtures/rsa2048-cacert.pem");

impl Harness {
    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("tls").join("cacert.pem")
    }

    /// A transport to `server_url` trusting the generated `cacert.pem`.
    fn transport(&self, server_url: &str) -> HttpTransport {
        HttpTransport::builder(server_url)
            .ca_file(self.ca_file())
            .build()
            .unwrap()
    }
}

async fn collect(stream: BodyStream) -> Result<Vec<u8>, TransportError> {
    let chunks: Vec<bytes::Bytes> = stream.try_collect().await?;
    Ok(chunks.concat())
}

async fn get(transport: &HttpTransport, url: &str) -> Result<Vec<u8>, TransportError> {
    collect(transport.get(url).await?).await
}

#[tokio::test]
async fn prolog_inventory_and_result_round_trip_over_https_and_http() {
    let h = Harness::start().await;
    h.affect_to(DEVICE).await;
    for url in [h.https_url("/ocsinventory"), h.http_url("/ocsinventory")] {
        let transport = h.transport(&url);
        let prolog = Request::Prolog {
            device_id: DEVICE.into(),
        };
        let reply = PrologReply::decode(&transport.post(&prolog).await.unwrap()).unwrap();
        let download = reply.download.expect("a DOWNLOAD option");
        assert_eq!(download.packages.len(), 1, "{url}");
        assert_eq!(download.packages[0].id, h.package.id);

        let inventory = Request::Inventory {
            device_id: DEVICE.into(),
            hardware: ocs_deploy_core::protocol::Hardware::default(),
            history: Some(Vec::<HistoryEntry>::new()),
        };
        InventoryReply::decode(&transport.post(&inventory).await.unwrap()).unwrap();
    }
    // The result: 200 with an empty body, recorded.
    let transport = h.transport(&h.https_url("/ocsinventory"));
    let result = Request::DownloadResult {
        device_id: DEVICE.into(),
        package_id: h.package.id,
        status: StatusCode::SuccessExitCode(0),
    };
    assert_eq!(transport.post(&result).await.unwrap(), Vec::<u8>::new());
    assert_eq!(h.status(DEVICE).await.as_deref(), Some("SUCCESS_0"));
    h.stop().await;
}

#[tokio::test]
async fn files_are_streamed_and_info_needs_https() {
    let h = Harness::start().await;
    let transport = h.transport(&h.http_url("/ocsinventory"));
    let info = get(&transport, &h.https_url(&h.info_path())).await.unwrap();
    assert!(
        info.windows(9).any(|w| w == b"<DOWNLOAD"),
        "{}",
        String::from_utf8_lossy(&info)
    );

    // Plain HTTP info: refused before any request, unless allowed (then this server
    // answers 403 itself).
    let plain_info = h.http_url(&h.info_path());
    assert!(matches!(
        transport.get(&plain_info).await,
        Err(TransportError::Refused(_))
    ));
    let lenient = HttpTransport::builder(h.http_url("/ocsinventory"))
        .allow_plain_http_info(true)
        .build()
        .unwrap();
    assert!(matches!(
        lenient.get(&plain_info).await,
        Err(TransportError::Status(403))
    ));
    assert!(matches!(
        transport.get("ftp://127.0.0.1/download/1/info").await,
        Err(TransportError::Refused(_))
    ));

    // Fragments over either scheme, in several chunks for the larger ones.
    for n in 1..=3 {
        for url in [
            h.http_url(&h.fragment_path(n)),
            h.https_url(&h.fragment_path(n)),
        ] {
            let bytes = get(&transport, &url).await.unwrap();
            assert_eq!(bytes, h.fragment_bytes(n as usize), "{url}");
        }
    }
    assert!(matches!(
        transport.get(&h.http_url(&h.fragment_path(9))).await,
        Err(TransportError::Status(404))
    ));
    h.stop().await;
}

#[tokio::test]
async fn a_server_outside_the_ca_file_is_refused() {
    let h = Harness::start().await;
    let other = tempfile::tempdir().unwrap();
    let (_, other_certs) = TlsConfig::generate(other.path(), &[]).unwrap();
    let stranger = HttpTransport::builder(h.https_url("/ocsinventory"))
        .ca_file(&other_certs.ca_cert)
        .build()
        .unwrap();
    let prolog = Request::Prolog {
        device_id: DEVICE.into(),
    };
    assert!(matches!(
        stranger.post(&prolog).await,
        Err(TransportError::Refused(_))
    ));
    assert!(matches!(
        stranger.get(&h.https_url(&h.info_path())).await,
        Err(TransportError::Refused(_))
    ));
    // Without a CA file, no HTTPS server is trusted; plain HTTP still works.
    let no_ca = HttpTransport::builder(h.http_url("/ocsinventory"))
        .build()
        .unwrap();
    assert!(matches!(
        no_ca.get(&h.https_url(&h.info_path())).await,
        Err(TransportError::Refused(_))
    ));
    assert!(no_ca.post(&prolog).await.is_ok());
    h.stop().await;
}

/// A certificate as `openssl req -x509` makes it for an OCS server: self-signed and
/// `CA:TRUE`.
fn ocs_style_params(names: &[&str]) -> CertificateParams {
    let mut params =
        CertificateParams::new(names.iter().map(|&n| n.to_owned()).collect::<Vec<_>>()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "ocs-server");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
}

/// An HTTPS server using that certificate itself; its PEM is the agents' `cacert.pem`.
async fn serve_self_signed(params: &CertificateParams) -> (RunningServer, String) {
    install_ring();
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let tls = TlsConfig::from_der(
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .unwrap();
    let running = Server::from_routers(Router::new(), Router::new())
        .https("127.0.0.1:0".parse().unwrap(), tls)
        .start()
        .await
        .unwrap();
    (running, cert.pem())
}

fn pinning(ca_pem: &str) -> HttpTransport {
    HttpTransport::builder("http://127.0.0.1:1/ocsinventory")
        .ca_pem(ca_pem)
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_ocs_style_ca_true_server_certificate_in_the_ca_file_is_accepted() {
    let (running, pem) = serve_self_signed(&ocs_style_params(&["127.0.0.1", "localhost"])).await;
    let port = running.https_addr().unwrap().port();
    let transport = pinning(&pem);
    for host in ["127.0.0.1", "localhost"] {
        // 404 from the (empty) server: the handshake was accepted.
        let url = format!("https://{host}:{port}/download/1/info");
        assert!(
            matches!(transport.get(&url).await, Err(TransportError::Status(404))),
            "{url}"
        );
    }
    // A plain webpki client refuses the same certificate (CaUsedAsEndEntity).
    let webpki = client_trusting(pem.as_bytes());
    let error = webpki
        .get(format!("https://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    // In a CA file with other certificates too.
    let dir = tempfile::tempdir().unwrap();
    let (_, other) = TlsConfig::generate(dir.path(), &[]).unwrap();
    let mut bundle = std::fs::read_to_string(&other.ca_cert).unwrap();
    bundle.push_str(&pem);
    bundle.push_str(RSA_2048);
    assert!(matches!(
        pinning(&bundle)
            .get(&format!("https://127.0.0.1:{port}/x"))
            .await,
        Err(TransportError::Status(404))
    ));
    running.shutdown(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn a_pinned_certificate_still_needs_the_right_name_and_dates() {
    let (wrong_name, pem) = serve_self_signed(&ocs_style_params(&["ocs.example.com"])).await;
    let url = format!(
        "https://127.0.0.1:{}/download/1/info",
        wrong_name.https_addr().unwrap().port()
    );
    let refused = pinning(&pem).get(&url).await.map(|_| ());
    assert!(
        matches!(&refused, Err(TransportError::Refused(m)) if m.contains("not valid for name")),
        "{refused:?}"
    );
    wrong_name.shutdown(Duration::from_secs(1)).await.unwrap();

    let mut expired = ocs_style_params(&["127.0.0.1"]);
    expired.not_before = rcgen::date_time_ymd(2000, 1, 1);
    expired.not_after = rcgen::date_time_ymd(2001, 1, 1);
    let mut not_yet = ocs_style_params(&["127.0.0.1"]);
    not_yet.not_before = rcgen::date_time_ymd(2990, 1, 1);
    not_yet.not_after = rcgen::date_time_ymd(2999, 1, 1);
    for (params, reason) in [(expired, "expired"), (not_yet, "not valid yet")] {
        let (running, pem) = serve_self_signed(&params).await;
        let url = format!(
            "https://127.0.0.1:{}/download/1/info",
            running.https_addr().unwrap().port()
        );
        let refused = pinning(&pem).get(&url).await.map(|_| ());
        assert!(
            matches!(&refused, Err(TransportError::Refused(m)) if m.contains(reason)),
            "{refused:?}"
        );
        running.shutdown(Duration::from_secs(1)).await.unwrap();
    }
}

#[test]
fn ca_files_with_weak_rsa_keys_are_refused_with_the_way_out() {
    let error = HttpTransport::builder("https://127.0.0.1/ocsinventory")
        .ca_pem(RSA_1024)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::WeakRsaKey {
                index: 1,
                bits: 1024
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("1024-bit RSA key"), "{message}");
    assert!(message.contains(NEW_CERTIFICATE_COMMAND), "{message}");
    assert!(NEW_CERTIFICATE_COMMAND.contains("openssl req -x509 -newkey rsa:2048"));

    let both = format!("{RSA_2048}{RSA_1024}");
    assert!(matches!(
        HttpTransport::builder("https://127.0.0.1/ocsinventory")
            .ca_pem(both)
            .build(),
        Err(ClientError::WeakRsaKey { index: 2, .. })
    ));
    assert!(
        HttpTransport::builder("https://127.0.0.1/ocsinventory")
            .ca_pem(RSA_2048)
            .build()
            .is_ok()
    );
}

#[test]
fn bad_settings_are_refused_when_building() {
    let dir = tempfile::tempdir().unwrap();
    let build = |b: ocs_deploy_http::client::HttpTransportBuilder| b.build().unwrap_err();
    let base = || HttpTransport::builder("https://127.0.0.1/ocsinventory");
    assert!(matches!(
        build(base().ca_file(dir.path().join("missing.pem"))),
        ClientError::CaFile { .. }
    ));
    assert!(matches!(
        build(base().ca_pem("not a certificate")),
        ClientError::CaPem { .. }
    ));
    assert!(matches!(
        build(base().header("Bad Header", "x")),
        ClientError::InvalidHeader { .. }
    ));
    for url in ["ftp://127.0.0.1/ocsinventory", "not a url"] {
        assert!(matches!(
            build(HttpTransport::builder(url)),
            ClientError::InvalidUrl { .. }
        ));
    }
}

/// A port nothing listens on.
fn dead_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
async fn a_dead_server_is_unreachable_quickly() {
    install_ring();
    let addr = dead_port();
    let transport = HttpTransport::builder(format!("http://{addr}/ocsinventory"))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let started = Instant::now();
    let prolog = Request::Prolog {
        device_id: DEVICE.into(),
    };
    assert!(matches!(
        transport.post(&prolog).await,
        Err(TransportError::Unreachable(_))
    ));
    assert!(matches!(
        transport
            .get(&format!("http://{addr}/download/1/1-1"))
            .await,
        Err(TransportError::Unreachable(_))
    ));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn error_statuses_bad_and_large_replies_are_typed() {
    install_ring();
    let app = Router::new()
        .route(
            "/ocsinventory",
            post(|| async { axum::http::StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .route("/garbage", post(|| async { "not zlib, not xml" }))
        .route(
            "/truncated",
            post(|| async {
                let full = ocs_deploy_core::protocol::compression::encode_zlib(b"<REPLY/>");
                full[..full.len() - 2].to_vec()
            }),
        );
    let running = Server::from_routers(app, Router::new())
        .http("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    let addr = running.http_addr().unwrap();
    let prolog = Request::Prolog {
        device_id: DEVICE.into(),
    };
    let to = |path: &str| {
        HttpTransport::builder(format!("http://{addr}{path}"))
            .build()
            .unwrap()
    };
    assert_eq!(
        to("/ocsinventory").post(&prolog).await,
        Err(TransportError::Status(500))
    );
    for path in ["/garbage", "/truncated"] {
        assert!(
            matches!(
                to(path).post(&prolog).await,
                Err(TransportError::BadReply(_))
            ),
            "{path}"
        );
    }
    running.shutdown(Duration::from_secs(1)).await.unwrap();

    // The real server's PROLOG reply does not fit in 16 bytes.
    let h = Harness::start().await;
    let small = HttpTransport::builder(h.http_url("/ocsinventory"))
        .max_reply_size(16)
        .build()
        .unwrap();
    assert_eq!(
        small.post(&prolog).await,
        Err(TransportError::TooLarge { limit: 16 })
    );
    h.stop().await;
}

#[tokio::test]
async fn a_redirection_from_https_to_http_is_refused() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let (tls, certs) = TlsConfig::generate(dir.path(), &[]).unwrap();
    let plain = dead_port();
    let app = Router::new()
        .route(
            "/download/1/info",
            axum::routing::get(move || async move {
                axum::response::Redirect::temporary(&format!("http://{plain}/download/1/info"))
            }),
        )
        .route(
            "/download/2/info",
            axum::routing::get(|| async {
                axum::response::Redirect::temporary("/download/3/info")
            }),
        );
    let running = Server::from_routers(Router::new(), app)
        .https("127.0.0.1:0".parse().unwrap(), tls)
        .start()
        .await
        .unwrap();
    let port = running.https_addr().unwrap().port();
    let transport = HttpTransport::builder("http://127.0.0.1:1/ocsinventory")
        .ca_file(&certs.ca_cert)
        .allow_plain_http_info(true)
        .build()
        .unwrap();
    let downgraded = transport
        .get(&format!("https://localhost:{port}/download/1/info"))
        .await
        .map(|_| ());
    assert!(
        matches!(&downgraded, Err(TransportError::Refused(m)) if m.contains("redirection from HTTPS")),
        "{downgraded:?}"
    );
    // HTTPS to HTTPS is followed (to a 404 here).
    assert!(matches!(
        transport
            .get(&format!("https://localhost:{port}/download/2/info"))
            .await,
        Err(TransportError::Status(404))
    ));
    running.shutdown(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn a_silent_server_times_out_as_unreachable() {
    install_ring();
    let app = Router::new()
        .route(
            "/ocsinventory",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .route(
            "/download/1/1-1",
            axum::routing::get(|| async {
                // One chunk, then silence.
                let first = futures::stream::iter([Ok::<_, std::io::Error>(
                    bytes::Bytes::from_static(b"abc"),
                )]);
                axum::body::Body::from_stream(futures::StreamExt::chain(
                    first,
                    futures::stream::pending(),
                ))
            }),
        );
    let running = Server::from_routers(app, Router::new())
        .http("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    let addr = running.http_addr().unwrap();
    let transport = HttpTransport::builder(format!("http://{addr}/ocsinventory"))
        .read_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let prolog = Request::Prolog {
        device_id: DEVICE.into(),
    };
    assert!(matches!(
        transport.post(&prolog).await,
        Err(TransportError::Unreachable(_))
    ));
    let mut stream = transport
        .get(&format!("http://{addr}/download/1/1-1"))
        .await
        .unwrap();
    let first = futures::StreamExt::next(&mut stream)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"abc");
    assert!(matches!(
        futures::StreamExt::next(&mut stream).await,
        Some(Err(TransportError::Unreachable(_)))
    ));
    assert!(started.elapsed() < Duration::from_secs(10));
    running.shutdown(Duration::from_millis(100)).await.unwrap();
}

/// What any transport does with this server, checked for the testkit's
/// `LoopbackTransport` (no sockets) and `HttpTransport` alike.
async fn serves_an_agent(transport: &dyn Transport, h: &Harness) -> PrologReply {
    let prolog = Request::Prolog {
        device_id: DEVICE.into(),
    };
    let reply = PrologReply::decode(&transport.post(&prolog).await.unwrap()).unwrap();
    let info = collect(transport.get(&h.https_url(&h.info_path())).await.unwrap())
        .await
        .unwrap();
    let on_disk = std::fs::read(h.root.join(format!("{}/info", h.package.id))).unwrap();
    assert_eq!(info, on_disk);
    for n in 1..=3 {
        let url = h.http_url(&h.fragment_path(n));
        let bytes = collect(transport.get(&url).await.unwrap()).await.unwrap();
        assert_eq!(bytes, h.fragment_bytes(n as usize));
    }
    assert_eq!(
        transport
            .get(&h.http_url(&h.fragment_path(4)))
            .await
            .map(|_| ())
            .unwrap_err(),
        TransportError::Status(404)
    );
    reply
}

#[tokio::test]
async fn the_http_transport_behaves_as_the_loopback_transport() {
    let h = Harness::start().await;
    h.affect_to(DEVICE).await;
    let loopback =
        ocs_deploy_core::testkit::LoopbackTransport::new(h.service.clone(), || crate::support::NOW);
    let http = h.transport(&h.https_url("/ocsinventory"));
    let by_loopback = serves_an_agent(&loopback, &h).await;
    let by_http = serves_an_agent(&http, &h).await;
    assert_eq!(by_http, by_loopback);
    assert_eq!(by_http.download.unwrap().packages.len(), 1);
    let result = Request::DownloadResult {
        device_id: DEVICE.into(),
        package_id: h.package.id,
        status: StatusCode::SuccessExitCode(0),
    };
    assert_eq!(http.post(&result).await, loopback.post(&result).await);
    h.stop().await;
}

#[tokio::test]
async fn the_default_user_agent_passes_an_allow_list_of_ocs_agents() {
    let config = ocs_deploy_http::server::EndpointConfig::default()
        .with_user_agents(["OCS-NG_unified_unix_agent_", "OCS-NG_WINDOWS_AGENT_"]);
    let h = Harness::start_with(config).await;
    let prolog = Request::Prolog {
        device_id: DEVICE.into(),
    };
    let transport = h.transport(&h.http_url("/ocsinventory"));
    PrologReply::decode(&transport.post(&prolog).await.unwrap()).unwrap();
    let renamed = HttpTransport::builder(h.http_url("/ocsinventory"))
        .user_agent("curl/8.0")
        .build()
        .unwrap();
    assert_eq!(
        renamed.post(&prolog).await,
        Err(TransportError::Status(400))
    );
    h.stop().await;
}

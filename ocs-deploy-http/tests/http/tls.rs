//! TLS: the generated CA, its reuse, clients that trust another CA, and the listeners.

use std::time::Duration;

use ocs_deploy_core::protocol::compression;
use ocs_deploy_http::server::{ServeError, Server, TlsConfig, TlsError};
use reqwest::StatusCode;

use crate::support::{Harness, client_trusting, install_ring};

#[tokio::test]
async fn a_client_trusting_another_ca_is_refused() {
    let h = Harness::start().await;
    let other = tempfile::tempdir().unwrap();
    let (_, other_certs) = TlsConfig::generate(other.path(), &[]).unwrap();
    let stranger = client_trusting(&std::fs::read(&other_certs.ca_cert).unwrap());
    let error = stranger
        .get(h.https_url("/download/1/info"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    // The same request from a client trusting cacert.pem reaches the server (404: no
    // such package).
    let ok = h
        .client
        .get(h.https_url("/download/1/info"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::NOT_FOUND);
    h.stop().await;
}

#[tokio::test]
async fn the_certificate_names_localhost_and_127_0_0_1() {
    let h = Harness::start().await;
    for url in [
        format!("https://localhost:{}/ocsinventory", h.https_addr().port()),
        format!("https://127.0.0.1:{}/ocsinventory", h.https_addr().port()),
    ] {
        // GET is 400 from the endpoint, so the TLS handshake worked.
        let response = h.client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{url}");
    }
    h.stop().await;
}

#[tokio::test]
async fn generated_files_are_reused_and_extra_names_sign_a_new_leaf_with_the_same_ca() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let (_, first) = TlsConfig::generate(dir.path(), &[]).unwrap();
    let ca = std::fs::read(&first.ca_cert).unwrap();
    let leaf = std::fs::read(&first.cert).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for key in [&first.key, &first.ca_key] {
            let mode = std::fs::metadata(key).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{}", key.display());
        }
    }

    let (_, again) = TlsConfig::generate(dir.path(), &[]).unwrap();
    assert_eq!(again, first);
    assert_eq!(std::fs::read(&again.ca_cert).unwrap(), ca);
    assert_eq!(std::fs::read(&again.cert).unwrap(), leaf);

    let (tls, renamed) = TlsConfig::generate(dir.path(), &["ocs.test", "10.1.2.3"]).unwrap();
    assert_eq!(std::fs::read(&renamed.ca_cert).unwrap(), ca);
    assert_ne!(std::fs::read(&renamed.cert).unwrap(), leaf);
    assert_eq!(
        std::fs::read_to_string(&renamed.names).unwrap(),
        "localhost\n127.0.0.1\nocs.test\n10.1.2.3\n"
    );

    // A client that resolves the extra name to the server trusts it with the old CA.
    let running = Server::from_routers(axum::Router::new(), axum::Router::new())
        .https("127.0.0.1:0".parse().unwrap(), tls)
        .start()
        .await
        .unwrap();
    let addr = running.https_addr().unwrap();
    let client = reqwest::Client::builder()
        .no_proxy()
        .resolve("ocs.test", addr)
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .build()
        .unwrap();
    let response = client
        .get(format!("https://ocs.test:{}/", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    running.shutdown(Duration::from_secs(1)).await.unwrap();
}

#[test]
fn an_incomplete_ca_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let (_, files) = TlsConfig::generate(dir.path(), &[]).unwrap();
    std::fs::remove_file(&files.ca_key).unwrap();
    let ca = std::fs::read(&files.ca_cert).unwrap();
    assert!(matches!(
        TlsConfig::generate(dir.path(), &[]),
        Err(TlsError::IncompleteCa { .. })
    ));
    assert_eq!(std::fs::read(&files.ca_cert).unwrap(), ca);
}

#[test]
fn pem_files_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (_, files) = TlsConfig::generate(dir.path(), &[]).unwrap();
    assert!(TlsConfig::from_pem_files(&files.cert, &files.key).is_ok());
    let missing = dir.path().join("missing.pem");
    assert!(matches!(
        TlsConfig::from_pem_files(&missing, &files.key),
        Err(TlsError::Io { .. })
    ));
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    assert!(matches!(
        TlsConfig::from_pem_files(&garbage, &files.key),
        Err(TlsError::Pem { .. })
    ));
    assert!(matches!(
        TlsConfig::from_pem_files(&files.cert, &garbage),
        Err(TlsError::Pem { .. })
    ));
    // The CA's key does not fit the server certificate.
    assert!(matches!(
        TlsConfig::from_pem_files(&files.cert, &files.ca_key),
        Err(TlsError::Rustls(_))
    ));
}

#[tokio::test]
async fn listeners_report_errors_and_stop_gracefully() {
    install_ring();
    let none = Server::from_routers(axum::Router::new(), axum::Router::new())
        .start()
        .await;
    assert!(matches!(none, Err(ServeError::NoListener)));

    let h = Harness::start().await;
    let taken = h.http_addr();
    let conflict = Server::from_routers(axum::Router::new(), axum::Router::new())
        .http(taken)
        .start()
        .await;
    assert!(matches!(conflict, Err(ServeError::Bind { addr, .. }) if addr == taken));

    let https = h.https_url("/ocsinventory");
    let body = compression::encode_zlib(
        b"<REQUEST><DEVICEID>vm-2026-11-24-06-35-53</DEVICEID><QUERY>PROLOG</QUERY></REQUEST>",
    );
    assert_eq!(
        h.client
            .post(&https)
            .body(body.clone())
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    h.stop().await;
    // After the shutdown, nothing listens: a new connection is refused.
    let fresh = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(
        fresh
            .post(format!("http://{taken}/ocsinventory"))
            .body(body.clone())
            .send()
            .await
            .is_err()
    );
}

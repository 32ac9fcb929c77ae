//! The `ocs-deploy-agent` binary against the ocs-deploy server over HTTPS on loopback:
//! the command-line contract scripts depend on.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ocs_deploy_agent::runtime::now;
use ocs_deploy_core::Action;
use ocs_deploy_core::protocol::DeviceId;
use ocs_deploy_core::service::{AffectTarget, BuildRequest, DeploymentService, ServiceConfig};
use ocs_deploy_core::store::{AffectOptions, Page, Setting, SettingScope, StatusSelector};
use ocs_deploy_core::testkit::MemoryStore;
use ocs_deploy_http::server::{
    EndpointConfig, GeneratedCertificates, RunningServer, Server, TlsConfig,
};
use ocs_deploy_store_sql::DirectoryFiles;

use crate::archives::{TarEntry, tar_gz};

fn agent(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ocs-deploy-agent"))
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .expect("the agent binary runs")
}

#[test]
fn help_names_the_contract() {
    let out = agent(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--server",
        "--ca",
        "--state-dir",
        "--once",
        "--non-interactive",
    ] {
        assert!(text.contains(flag), "{flag} in {text}");
    }
}

#[test]
fn a_bad_ca_file_is_a_one_line_error_with_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("cacert.pem");
    std::fs::write(&ca, "not a certificate").unwrap();
    let state = dir.path().join("state");
    let out = agent(&[
        "--server",
        "https://127.0.0.1:1/ocsinventory",
        "--ca",
        ca.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--once",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ocs-deploy-agent: "), "{err}");
}

/// Our server on loopback (memory store, package files in `dir/packages`, generated TLS).
pub(crate) async fn serve(
    dir: &Path,
) -> (Arc<DeploymentService>, RunningServer, GeneratedCertificates) {
    let packages = dir.join("packages");
    let service = Arc::new(DeploymentService::new(
        Arc::new(MemoryStore::new()),
        Arc::new(DirectoryFiles::new(&packages)),
        ServiceConfig {
            allow_loopback: true,
            ..ServiceConfig::default()
        },
    ));
    for setting in [
        Setting::FragLatency,
        Setting::CycleLatency,
        Setting::PeriodLatency,
    ] {
        service
            .set_setting(SettingScope::Global, setting, Some(0))
            .await
            .unwrap();
    }
    let (tls, certs) = TlsConfig::generate(&dir.join("tls"), &[]).unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = Server::new(service.clone(), EndpointConfig::default(), &packages)
        .http(any)
        .https(any, tls)
        .start()
        .await
        .unwrap();
    (service, server, certs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_server_with_once_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (tls, certs) = TlsConfig::generate(&dir.path().join("tls"), &[]).unwrap();
    drop(tls);
    let state = dir.path().join("state");
    let out = tokio::task::spawn_blocking(move || {
        agent(&[
            "--server",
            "https://127.0.0.1:1/ocsinventory",
            "--ca",
            certs.ca_cert.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
            "--once",
        ])
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ocs-deploy-agent: contacting the server failed"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_deploys_from_our_server_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let (service, server, certs) = serve(dir.path()).await;
    let (http, https) = (server.http_addr().unwrap(), server.https_addr().unwrap());
    let url = format!("https://{https}/ocsinventory");
    let state = dir.path().join("state");
    let args: Vec<String> = vec![
        "--server".into(),
        url,
        "--ca".into(),
        certs.ca_cert.display().to_string(),
        "--state-dir".into(),
        state.display().to_string(),
        "--once".into(),
    ];
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = agent(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };

    // First run: the server learns the computer; nothing to deploy.
    let again = args.clone();
    let first = tokio::task::spawn_blocking(move || run(args));
    first.await.unwrap();
    let device = std::fs::read_to_string(state.join("device-id")).unwrap();
    let device = DeviceId::parse(device.trim()).unwrap();

    // A Launch package in two fragments, affected to it.
    let marker = dir.path().join("ran.txt");
    let script = format!("#!/bin/sh\necho ran > '{}'\n", marker.display());
    let archive = tar_gz(&[TarEntry {
        mode: 0o755,
        ..TarEntry::file("install.sh", script.as_bytes())
    }])
    .await;
    let mut request = BuildRequest::new(
        "binary test",
        Action::Launch {
            command: "./install.sh".into(),
        },
    );
    request.fragment_size = (archive.len() as u64).div_ceil(2);
    let chunks = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(archive))]);
    let package = service.build(request, Some(chunks), now()).await.unwrap();
    assert_eq!(package.fragments, 2);
    let activation = service
        .activate(
            package.id,
            &format!("{https}/download"),
            &format!("{http}/download"),
            now(),
        )
        .await
        .unwrap();
    service
        .affect(
            activation,
            &AffectTarget::Computers(vec![device.clone()]),
            &AffectOptions::default(),
            now(),
        )
        .await
        .unwrap();

    // Second run: the same device id, the package deployed and reported.
    let second = tokio::task::spawn_blocking(move || run(again));
    second.await.unwrap();
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran\n");
    let rows = service
        .computers_with_status(package.id, &StatusSelector::All, Page::first(10))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].device_id, device);
    assert_eq!(rows[0].status.as_deref(), Some("SUCCESS"));
    assert!(Path::new(&dir.path().join("state/history")).exists());
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

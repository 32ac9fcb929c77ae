//! The `ocs-deploy-server` command line, end to end: build, configure, serve, activate,
//! affect, and an agent deploying over HTTPS; then status, stats and list; bad input gives
//! one-line errors and a non-zero exit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Serving;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use async_compression::tokio::write::GzipEncoder;
use ocs_deploy_agent::runtime::{Agent, AgentConfig};
use ocs_deploy_agent::state::StateDir;
use ocs_deploy_core::protocol::Hardware;
use ocs_deploy_http::client::HttpTransport;
use tokio::io::AsyncWriteExt as _;

fn server(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ocs-deploy-server"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .expect("the server binary runs")
}

fn ok(data: &Path, args: &[&str]) -> String {
    let out = server(data, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(data: &Path, args: &[&str]) -> String {
    let out = server(data, args);
    assert!(!out.status.success(), "{args:?} succeeded");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let last = err.lines().last().unwrap_or_default().to_owned();
    assert!(last.starts_with("ocs-deploy-server: "), "{err}");
    last
}

/// A TAR.GZ of one executable script.
async fn archive(script: &str) -> Vec<u8> {
    let mut builder = tokio_tar::Builder::new(GzipEncoder::new(Vec::new()));
    let mut header = tokio_tar::Header::new_gnu();
    header.set_size(script.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    builder
        .append_data(&mut header, "install.sh", script.as_bytes())
        .await
        .unwrap();
    let mut gzip = builder.into_inner().await.unwrap();
    gzip.shutdown().await.unwrap();
    gzip.into_inner()
}

/// An agent of ours, trusting the server's generated CA.
fn agent(dir: &Path, data: &Path, https: &str) -> Agent {
    let transport = HttpTransport::builder(format!("https://{https}/ocsinventory"))
        .ca_file(data.join("cacert.pem"))
        .build()
        .unwrap();
    let hardware = Hardware {
        name: Some("clipc".into()),
        ..Hardware::default()
    };
    Agent::open(
        Arc::new(transport),
        StateDir::open(dir.join("agent")).unwrap(),
        AgentConfig::new(dir.join("agent"), hardware),
    )
    .unwrap()
}

/// Builds a Launch package (two fragments) running a script that writes `marker`, and an
/// Execute without file; sets zero latencies; checks the list. Returns the Launch id.
async fn build_packages(dir: &Path, data: &Path, marker: &Path) -> String {
    let file = dir.join("package.tar.gz");
    let bytes = archive(&format!("#!/bin/sh\necho ran > '{}'\n", marker.display())).await;
    std::fs::write(&file, &bytes).unwrap();

    let id = ok(
        data,
        &[
            "package",
            "build",
            file.to_str().unwrap(),
            "--name",
            "cli test",
            "--priority",
            "5",
            "--action",
            "launch",
            "--command",
            "./install.sh",
            "--fragments",
            "2",
        ],
    );
    let id = id.trim().to_owned();
    let execute = ok(
        data,
        &[
            "package",
            "build",
            "--name",
            "no file",
            "--action",
            "execute",
            "--command",
            "true",
        ],
    );
    for key in ["FRAG_LATENCY", "CYCLE_LATENCY", "period_latency"] {
        ok(data, &["config", "set", key, "0"]);
    }
    let list = ok(data, &["package", "list"]);
    assert!(
        list.contains(&format!("{id} 5 2 {} 0 cli test", bytes.len())),
        "{list}"
    );
    assert!(
        list.contains(&format!("{} 5 0 0 0 no file", execute.trim())),
        "{list}"
    );

    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_serve_affect_deploy_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let marker = dir.path().join("ran.txt");
    let id = build_packages(dir.path(), &data, &marker).await;

    let serving = Serving::start(&data);
    let info = format!("{}/download", serving.https);
    let pack = format!("{}/download", serving.http);
    // Loopback locations need the explicit flag.
    let refused = fails(
        &data,
        &[
            "package",
            "activate",
            &id,
            "--info-url",
            &info,
            "--pack-url",
            &pack,
        ],
    );
    assert!(
        refused.contains("loopback") || refused.contains("127.0.0.1"),
        "{refused}"
    );
    ok(
        &data,
        &[
            "package",
            "activate",
            &id,
            "--info-url",
            &info,
            "--pack-url",
            &pack,
            "--allow-loopback",
        ],
    );

    // An agent registers, is affected the package, deploys it.
    let mut agent = agent(dir.path(), &data, &serving.https);
    agent.contact().await.unwrap();
    let device = agent.device_id().to_string();
    let waiting = ok(&data, &["package", "affect", &id, "--device", &device]);
    assert_eq!(waiting.trim(), "1");
    assert_eq!(
        ok(&data, &["package", "status", &id]),
        format!("{device} WAITING_NOTIFICATION\n")
    );
    agent.run(true, Duration::from_secs(3600)).await.unwrap();
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran\n");
    assert_eq!(
        ok(&data, &["package", "status", &id]),
        format!("{device} SUCCESS\n")
    );
    let json = ok(&data, &["package", "status", &id, "--json"]);
    assert!(
        json.contains(&format!("\"device_id\":\"{device}\""))
            && json.contains("\"status\":\"SUCCESS\""),
        "{json}"
    );
    let stats = ok(&data, &["package", "stats", &id]);
    assert_eq!(stats, "total 1\nSUCCESS 1 100.0%\n");
    let stats = ok(&data, &["package", "stats", &id, "--json"]);
    assert!(
        stats.contains("\"total\":1") && stats.contains("\"percent\":100.0"),
        "{stats}"
    );

    // Validate clears it; delete removes the package and its files.
    assert_eq!(ok(&data, &["validate", &id]).trim(), "1");
    ok(&data, &["delete", &id]);
    assert!(!data.join("packages").join(&id).exists());
    assert!(!ok(&data, &["package", "list"]).contains(&id));

    let mut serving = serving;
    serving.stop();
}

#[test]
fn bad_input_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    fails(data, &["config", "set", "BOGUS", "1"]);
    fails(data, &["package", "status", "1700000000"]);
    fails(data, &["package", "affect", "1700000000", "--all"]);
    fails(
        data,
        &[
            "package",
            "build",
            "/nonexistent/archive.zip",
            "--name",
            "x",
            "--action",
            "launch",
            "--command",
            "x",
        ],
    );
    fails(
        data,
        &[
            "package",
            "build",
            "--name",
            "x",
            "--action",
            "launch",
            "--command",
            "x",
        ],
    );
    fails(data, &["serve"]);
    let help = Command::new(env!("CARGO_BIN_EXE_ocs-deploy-server"))
        .args(["package", "build", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--name",
        "--priority",
        "--action",
        "--command",
        "--fragment-size",
        "--fragments",
    ] {
        assert!(text.contains(flag), "{flag}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_an_admin_token_file_answers_the_admin_api_over_https() {
    const TOKEN: &str = "cli-admin-token-0123456789abcdef";
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let token_arg = token_file.to_str().unwrap();

    // Refused before serving: no HTTPS listener, a weak token.
    let plain_only = fails(
        &data,
        &[
            "serve",
            "--http",
            "127.0.0.1:0",
            "--admin-token-file",
            token_arg,
        ],
    );
    assert!(plain_only.contains("HTTPS"), "{plain_only}");
    let weak = dir.path().join("weak-token");
    std::fs::write(&weak, "secret\n").unwrap();
    let weak = fails(
        &data,
        &[
            "serve",
            "--https",
            "127.0.0.1:0",
            "--admin-token-file",
            weak.to_str().unwrap(),
        ],
    );
    assert!(weak.contains("at least 16"), "{weak}");
    // The token may come from the environment instead (here too weak, so it fails
    // before serving), but not from both.
    let from_env = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ocs-deploy-server"))
            .arg("--data-dir")
            .arg(&data)
            .args(["serve", "--https", "127.0.0.1:0"])
            .args(args)
            .env("OCS_DEPLOY_ADMIN_TOKEN", "secret")
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let weak_env = from_env(&[]);
    assert!(weak_env.contains("at least 16"), "{weak_env}");
    let both = from_env(&["--admin-token-file", token_arg]);
    assert!(both.contains("not both"), "{both}");

    let mut serving = Serving::start_with(&data, &["--admin-token-file", token_arg]);
    let client = admin_client(&data);
    let base = format!("https://{}/admin/v1", serving.https);

    let anonymous = client.get(format!("{base}/packages")).send().await.unwrap();
    assert_eq!(anonymous.status(), reqwest::StatusCode::UNAUTHORIZED);
    let built = client
        .post(format!(
            "{base}/packages?name=over%20https&action=execute&command=true"
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(built.status(), reqwest::StatusCode::CREATED);
    let package: serde_json::Value = serde_json::from_slice(&built.bytes().await.unwrap()).unwrap();
    let id = package["id"].as_u64().unwrap();
    // The commands see the same store.
    let list = ok(&data, &["package", "list"]);
    assert!(list.contains(&format!("{id} 5 0 0 0 over https")), "{list}");
    // Not on the plain HTTP listener.
    let plain = client
        .get(format!("http://{}/admin/v1/packages", serving.http))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), reqwest::StatusCode::NOT_FOUND);
    serving.stop();
}

/// A plain-HTTP client (reqwest needs the process's rustls provider even for that).
fn plain_client(timeout: Option<Duration>) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder().no_proxy();
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    builder.build().unwrap()
}

/// A client that trusts the server's generated `cacert.pem`.
fn admin_client(data: &Path) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = std::fs::read(data.join("cacert.pem")).unwrap();
    reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_activates_on_loopback_hosts_only_with_allow_loopback() {
    const TOKEN: &str = "cli-admin-token-0123456789abcdef";
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let token_arg = token_file.to_str().unwrap();
    let id = ok(
        &data,
        &[
            "package",
            "build",
            "--name",
            "p",
            "--action",
            "execute",
            "--command",
            "true",
        ],
    );
    let activate = |client: reqwest::Client, serving: &Serving| {
        client
            .post(format!(
                "https://{}/admin/v1/packages/{}/activations",
                serving.https,
                id.trim()
            ))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(
                serde_json::json!({
                    "info_location": format!("{}/download", serving.https),
                    "pack_location": format!("{}/download", serving.http),
                })
                .to_string(),
            )
            .send()
    };
    let mut serving = Serving::start_with(&data, &["--admin-token-file", token_arg]);
    let refused = activate(admin_client(&data), &serving).await.unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::BAD_REQUEST);
    let body = refused.text().await.unwrap();
    assert!(body.contains("loopback"), "{body}");
    serving.stop();
    let mut serving = Serving::start_with(
        &data,
        &["--admin-token-file", token_arg, "--allow-loopback"],
    );
    let accepted = activate(admin_client(&data), &serving).await.unwrap();
    assert_eq!(accepted.status(), reqwest::StatusCode::CREATED);
    serving.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_files_serves_fragments_on_a_listener_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let id = build_packages(dir.path(), &data, &dir.path().join("marker")).await;
    let mut serving = Serving::start_with(&data, &["--files", "127.0.0.1:0"]);
    let files = serving.files.clone().expect("a files address line");
    let client = plain_client(None);
    for n in 1..=2 {
        let path = format!("/download/{id}/{id}-{n}");
        let expected = std::fs::read(data.join(format!("packages/{id}/{id}-{n}"))).unwrap();
        let from_files = client
            .get(format!("http://{files}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(from_files.status(), reqwest::StatusCode::OK);
        let etag = from_files.headers()["etag"].clone();
        assert_eq!(from_files.bytes().await.unwrap(), expected);
        let from_http = client
            .get(format!("http://{}{path}", serving.http))
            .send()
            .await
            .unwrap();
        assert_eq!(from_http.headers()["etag"], etag);
    }
    let info = client
        .get(format!("http://{files}/download/{id}/info"))
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), reqwest::StatusCode::FORBIDDEN);
    serving.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_max_connections_bounds_the_files_listener() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let id = build_packages(dir.path(), &data, &dir.path().join("marker")).await;
    let mut serving = Serving::start_with(
        &data,
        &["--files", "127.0.0.1:0", "--files-max-connections", "1"],
    );
    let files = serving.files.clone().expect("a files address line");
    let url = format!("http://{files}/download/{id}/{id}-1");
    // One idle connection takes the only slot.
    let idle = tokio::net::TcpStream::connect(&files).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = plain_client(Some(Duration::from_millis(700)));
    assert!(
        client.get(&url).send().await.is_err(),
        "served past --files-max-connections 1"
    );
    drop(idle);
    let client = plain_client(None);
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    serving.stop();

    let refused = server(
        &data,
        &[
            "serve",
            "--files",
            "127.0.0.1:0",
            "--files-max-connections",
            "0",
        ],
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("files-max-connections"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

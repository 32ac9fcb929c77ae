//! The admin API over real HTTPS: the token, every operation end to end, bad input,
//! bounded and streamed uploads, and its absence from the plain HTTP listener.

use std::io::{Cursor, Write as _};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::SinkExt as _;
use ocs_deploy_core::protocol::{Hardware, Request};
use ocs_deploy_core::service::{DeploymentService, Reply, ServiceConfig};
use ocs_deploy_core::store::{FileName, PackageFiles, Store};
use ocs_deploy_core::testkit::{MemoryFiles, MemoryStore};
use ocs_deploy_core::{PackageId, StatusCode as OcsStatus};
use ocs_deploy_http::server::admin::api::{
    Activation, AffectResponse, ErrorBody, Group, Package, Removed, Setting, Settings, Stats,
    StatusClassName, StatusPage,
};
use ocs_deploy_http::server::{
    AdminConfig, AdminToken, Clock, EndpointConfig, RunningServer, Server, TlsConfig,
    admin_router_with,
};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tempfile::TempDir;

use crate::support::{NOW, client_trusting, install_ring};

const TOKEN: &str = "admin-token-0123456789abcdef";

/// A server over memory with the admin API on HTTPS, and a client trusting its CA.
struct Admin {
    service: Arc<DeploymentService>,
    store: Arc<MemoryStore>,
    files: MemoryFiles,
    running: Option<RunningServer>,
    client: reqwest::Client,
    _dir: TempDir,
}

impl Admin {
    async fn start(config: AdminConfig) -> Self {
        install_ring();
        let store = Arc::new(MemoryStore::new());
        let files = MemoryFiles::new();
        let service = Arc::new(DeploymentService::new(
            store.clone(),
            Arc::new(files.clone()),
            ServiceConfig {
                allow_loopback: true,
                inventory_every: None,
            },
        ));
        let dir = tempfile::tempdir().unwrap();
        let (tls, certs) = TlsConfig::generate(&dir.path().join("tls"), &[]).unwrap();
        let admin = admin_router_with(
            service.clone(),
            AdminToken::new(TOKEN).unwrap(),
            config.with_clock(Clock::from_fn(|| NOW)),
        );
        let running = Server::new(
            service.clone(),
            EndpointConfig::default().with_clock(Clock::from_fn(|| NOW)),
            dir.path().join("download"),
        )
        .admin(admin)
        .http("127.0.0.1:0".parse().unwrap())
        .https("127.0.0.1:0".parse().unwrap(), tls)
        .start()
        .await
        .unwrap();
        let client = client_trusting(&std::fs::read(&certs.ca_cert).unwrap());
        Self {
            service,
            store,
            files,
            running: Some(running),
            client,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        let port = self.running.as_ref().unwrap().https_addr().unwrap().port();
        format!("https://localhost:{port}/admin/v1{path}")
    }

    fn http_url(&self, path: &str) -> String {
        let addr = self.running.as_ref().unwrap().http_addr().unwrap();
        format!("http://{addr}/admin/v1{path}")
    }

    /// A request with the right token.
    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(TOKEN)
    }

    /// Sends a JSON body with the right token.
    async fn send_json(
        &self,
        method: Method,
        path: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.request(method, path)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> T {
        let response = self.request(Method::GET, path).send().await.unwrap();
        parse(response, StatusCode::OK).await
    }

    /// The computer exists, as after its first inventory.
    async fn register(&self, device: &str, name: &str) {
        let inventory = Request::Inventory {
            device_id: device.into(),
            hardware: Hardware {
                name: Some(name.into()),
                ..Hardware::default()
            },
            history: Some(Vec::new()),
        };
        self.service.handle(&inventory, NOW).await.unwrap();
    }

    /// The packages the computer is offered at its PROLOG.
    async fn prolog(&self, device: &str) -> Vec<PackageId> {
        let reply = self
            .service
            .handle(
                &Request::Prolog {
                    device_id: device.into(),
                },
                NOW,
            )
            .await
            .unwrap();
        let Reply::Prolog(outcome) = reply else {
            panic!("not a PROLOG reply: {reply:?}")
        };
        outcome
            .reply
            .download
            .map(|d| d.packages.iter().map(|p| p.id).collect())
            .unwrap_or_default()
    }

    async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown(Duration::from_secs(2)).await.unwrap();
        }
    }
}

/// Checks the status and reads the JSON body.
async fn parse<T: DeserializeOwned>(response: reqwest::Response, status: StatusCode) -> T {
    let got = response.status();
    let body = response.bytes().await.unwrap();
    assert_eq!(got, status, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)))
}

/// Checks the status and that the body is a JSON error; returns its message.
async fn error(response: reqwest::Response, status: StatusCode) -> String {
    parse::<ErrorBody>(response, status).await.error
}

/// A ZIP of one executable script (stored, so its size is predictable).
fn zip_with_script(script: &[u8]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .unix_permissions(0o755);
    writer.start_file("install.sh", options).unwrap();
    writer.write_all(script).unwrap();
    writer.finish().unwrap().into_inner()
}

/// Bytes that do not repeat in short periods.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// The archive as the package's fragments hold it.
async fn fragments(files: &MemoryFiles, package: &Package) -> Vec<u8> {
    let id = PackageId::new(package.id).unwrap();
    let mut out = Vec::new();
    for n in 1..=package.fragments {
        out.extend_from_slice(&files.read(id, FileName::Fragment(n)).await.unwrap());
    }
    out
}

#[tokio::test]
async fn requests_without_the_token_get_401_and_change_nothing() {
    let a = Admin::start(AdminConfig::default()).await;
    for (method, path) in [
        (Method::GET, "/packages"),
        (Method::POST, "/packages?name=x&action=execute&command=true"),
        (Method::DELETE, "/packages/1700000000"),
        (Method::PUT, "/config/FRAG_LATENCY"),
        (Method::GET, "/groups"),
        (Method::GET, "/no/such/route"),
    ] {
        let response = a
            .client
            .request(method.clone(), a.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .split(' ')
                .next(),
            Some("Bearer"),
            "{method} {path}"
        );
        let message = error(response, StatusCode::UNAUTHORIZED).await;
        assert_eq!(message, "admin token required", "{method} {path}");
    }
    assert!(a.store.packages().await.unwrap().is_empty());
    a.stop().await;
}

#[tokio::test]
async fn a_wrong_token_gets_401() {
    let a = Admin::start(AdminConfig::default()).await;
    let almost = format!("{}x", &TOKEN[..TOKEN.len() - 1]);
    let longer = format!("{TOKEN}0");
    let basic = format!("Basic {TOKEN}");
    for authorization in [
        format!("Bearer {almost}"),
        format!("Bearer {longer}"),
        format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]),
        "Bearer ".to_owned(),
        basic,
    ] {
        let response = a
            .client
            .post(a.url("/packages?name=x&action=execute&command=true"))
            .header("Authorization", &authorization)
            .send()
            .await
            .unwrap();
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
        let message = error(response, StatusCode::UNAUTHORIZED).await;
        assert!(message.contains("token"), "{authorization}: {message}");
    }
    assert!(a.store.packages().await.unwrap().is_empty());
    // The right one works, whatever the scheme's case.
    let ok = a
        .client
        .get(a.url("/packages"))
        .header("Authorization", format!("bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    a.stop().await;
}

#[tokio::test]
async fn the_admin_api_is_not_on_the_plain_http_listener() {
    let a = Admin::start(AdminConfig::default()).await;
    for path in ["/packages", "/groups", "/config"] {
        let plain = a
            .client
            .get(a.http_url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(plain.status(), StatusCode::NOT_FOUND, "{path}");
        let tls = a.request(Method::GET, path).send().await.unwrap();
        assert_eq!(tls.status(), StatusCode::OK, "{path}");
    }
    let build = a
        .client
        .post(a.http_url("/packages?name=x&action=execute&command=true"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(build.status(), StatusCode::NOT_FOUND);
    assert!(a.store.packages().await.unwrap().is_empty());
    a.stop().await;
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // One deployment, start to end.
async fn every_operation_end_to_end() {
    let a = Admin::start(AdminConfig::default()).await;
    let archive = zip_with_script(b"#!/bin/sh\necho installed\n");

    // Build: the ZIP streamed in chunks, two fragments by count.
    let chunks: Vec<Result<Bytes, std::io::Error>> = archive
        .chunks(16)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let response = a
        .request(
            Method::POST,
            "/packages?name=installer&action=launch&command=./install.sh&priority=4&fragments=2",
        )
        .header("Content-Length", archive.len())
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let package: Package = parse(response, StatusCode::CREATED).await;
    assert_eq!(location, format!("/admin/v1/packages/{}", package.id));
    assert_eq!(package.name, "installer");
    assert_eq!(package.priority, 4);
    assert_eq!(package.fragments, 2);
    assert_eq!(package.size, archive.len() as u64);
    assert!(package.built);
    assert_eq!(package.created, NOW.as_secs());
    assert_eq!(fragments(&a.files, &package).await, archive);
    let info = package.info.clone().unwrap();
    assert!(info.contains(&format!("ID=\"{}\"", package.id)), "{info}");
    let id = package.id;

    // An Execute without file: no body.
    let execute: Package = parse(
        a.request(
            Method::POST,
            "/packages?name=no%20file&action=execute&command=true",
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(execute.fragments, 0);
    assert_ne!(execute.id, id);

    let listed: Vec<Package> = a.get("/packages").await;
    let ids: Vec<u64> = listed.iter().map(|p| p.id).collect();
    assert_eq!(ids, vec![id, execute.id]);
    assert!(listed.iter().all(|p| p.info.is_none()));
    let shown: Package = a.get(&format!("/packages/{id}")).await;
    assert_eq!(shown, package);

    // Activate.
    let activation: Activation = parse(
        a.send_json(
            Method::POST,
            &format!("/packages/{id}/activations"),
            &serde_json::json!({
                "info_location": "ocs.example.com/download",
                "pack_location": "ocs.example.com/download",
            }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(activation.package, id);
    assert_eq!(activation.info_location, "ocs.example.com/download");
    let activations: Vec<Activation> = a.get(&format!("/packages/{id}/activations")).await;
    assert_eq!(activations, vec![activation.clone()]);

    // Affect two computers by device id, a third by criteria.
    a.register("pc-one-2026-01-01-00-00-00", "pc-one").await;
    a.register("pc-two-2026-01-01-00-00-00", "pc-two").await;
    a.register("srv-2026-01-01-00-00-00", "srv-paris").await;
    let affected: AffectResponse = parse(
        a.send_json(
            Method::POST,
            &format!("/packages/{id}/affectations"),
            &serde_json::json!({
                "devices": ["pc-one-2026-01-01-00-00-00", "pc-two-2026-01-01-00-00-00"],
            }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(affected.activation, activation.id);
    assert_eq!(affected.computers.as_ref().map(Vec::len), Some(2));
    let by_criteria: AffectResponse = parse(
        a.send_json(
            Method::POST,
            &format!("/packages/{id}/affectations"),
            &serde_json::json!({
                "criteria": {"name": {"starts_with": "SRV-"}},
                "schedule": NOW.as_secs() + 3600,
            }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_criteria.computers.as_ref().map(Vec::len), Some(1));

    // Status: all waiting; one agent is told, then succeeds.
    let page: StatusPage = a.get(&format!("/packages/{id}/status")).await;
    assert_eq!(page.computers.len(), 3);
    assert!(
        page.computers
            .iter()
            .all(|c| c.status == "WAITING_NOTIFICATION"),
        "{page:?}"
    );
    assert_eq!(
        a.prolog("pc-one-2026-01-01-00-00-00").await,
        vec![PackageId::new(id).unwrap()]
    );
    a.prolog("pc-two-2026-01-01-00-00-00").await;
    a.service
        .handle(
            &Request::DownloadResult {
                device_id: "pc-one-2026-01-01-00-00-00".into(),
                package_id: PackageId::new(id).unwrap(),
                status: "SUCCESS".parse::<OcsStatus>().unwrap(),
            },
            NOW,
        )
        .await
        .unwrap();
    let success: StatusPage = a.get(&format!("/packages/{id}/status?class=success")).await;
    let devices: Vec<&str> = success
        .computers
        .iter()
        .map(|c| c.device_id.as_str())
        .collect();
    assert_eq!(devices, ["pc-one-2026-01-01-00-00-00"]);
    assert_eq!(success.computers[0].status, "SUCCESS");
    let exact: StatusPage = a
        .get(&format!("/packages/{id}/status?status=NOTIFIED&limit=10"))
        .await;
    assert_eq!(exact.computers.len(), 1);
    assert_eq!(exact.computers[0].device_id, "pc-two-2026-01-01-00-00-00");

    // Stats.
    let stats: Stats = a.get(&format!("/packages/{id}/stats")).await;
    assert_eq!(stats.package, id);
    assert_eq!(stats.total, 3);
    let share = |class| {
        stats
            .statuses
            .iter()
            .filter(|s| s.class == class)
            .map(|s| s.count)
            .sum::<u64>()
    };
    assert_eq!(share(StatusClassName::Success), 1);
    assert_eq!(share(StatusClassName::Notified), 1);
    assert_eq!(share(StatusClassName::Waiting), 1);
    let sum: f64 = stats.statuses.iter().map(|s| s.percent).sum();
    assert!((sum - 100.0).abs() < 1e-9, "{stats:?}");

    // Validate: successes, then the ones not told; the notified one stays.
    let removed: Removed = parse(
        a.request(
            Method::POST,
            &format!("/packages/{id}/validate?scope=success"),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(removed.removed, 1);
    let removed: Removed = parse(
        a.request(
            Method::POST,
            &format!("/packages/{id}/validate?scope=not-notified"),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(removed.removed, 1);
    let removed: Removed = parse(
        a.request(Method::POST, &format!("/packages/{id}/validate"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(removed.removed, 0);
    let left: StatusPage = a.get(&format!("/packages/{id}/status")).await;
    assert_eq!(left.computers.len(), 1);
    assert_eq!(left.computers[0].status, "NOTIFIED");

    // Groups: create, members, affect through the group, remove, delete.
    let group: Group = parse(
        a.send_json(
            Method::POST,
            "/groups",
            &serde_json::json!({"name": "paris", "visible": true}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(group.name, "paris");
    assert!(group.visible);
    let again = a
        .send_json(
            Method::POST,
            "/groups",
            &serde_json::json!({"name": "paris"}),
        )
        .await;
    assert!(error(again, StatusCode::CONFLICT).await.contains("paris"));
    let added = a
        .send_json(
            Method::POST,
            "/groups/paris/members",
            &serde_json::json!({"devices": ["srv-2026-01-01-00-00-00", "pc-two-2026-01-01-00-00-00"]}),
        )
        .await;
    assert_eq!(added.status(), StatusCode::NO_CONTENT);
    let shown: Group = a.get("/groups/paris").await;
    let mut members = shown.members.unwrap();
    members.sort();
    assert_eq!(
        members,
        ["pc-two-2026-01-01-00-00-00", "srv-2026-01-01-00-00-00"]
    );
    let groups: Vec<Group> = a.get("/groups").await;
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].id, group.id);
    let via_group: AffectResponse = parse(
        a.send_json(
            Method::POST,
            &format!("/packages/{id}/affectations"),
            &serde_json::json!({"group": "paris"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(via_group.group.as_deref(), Some("paris"));
    // The member whose affectation was cleared gets it again through the group.
    assert_eq!(
        a.prolog("srv-2026-01-01-00-00-00").await,
        vec![PackageId::new(id).unwrap()]
    );
    let removed = a
        .request(
            Method::DELETE,
            "/groups/paris/members/srv-2026-01-01-00-00-00",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let twice = a
        .request(
            Method::DELETE,
            "/groups/paris/members/srv-2026-01-01-00-00-00",
        )
        .send()
        .await
        .unwrap();
    error(twice, StatusCode::NOT_FOUND).await;
    let deleted = a
        .request(Method::DELETE, "/groups/paris")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = a
        .request(Method::GET, "/groups/paris")
        .send()
        .await
        .unwrap();
    error(gone, StatusCode::NOT_FOUND).await;

    // Configuration.
    let set: Setting = parse(
        a.send_json(
            Method::PUT,
            "/config/frag_latency",
            &serde_json::json!({"value": 10}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(set.key, "DOWNLOAD_FRAG_LATENCY");
    assert_eq!(set.value, 10);
    let settings: Settings = a.get("/config").await;
    assert_eq!(settings.get("DOWNLOAD_FRAG_LATENCY"), Some(&10));
    let cleared = a
        .request(Method::DELETE, "/config/DOWNLOAD_FRAG_LATENCY")
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    let settings: Settings = a.get("/config").await;
    assert_eq!(settings.get("DOWNLOAD_FRAG_LATENCY"), None);

    // Deactivate, then delete.
    let deactivated = a
        .request(Method::DELETE, &format!("/activations/{}", activation.id))
        .send()
        .await
        .unwrap();
    assert_eq!(deactivated.status(), StatusCode::NO_CONTENT);
    let twice = a
        .request(Method::DELETE, &format!("/activations/{}", activation.id))
        .send()
        .await
        .unwrap();
    error(twice, StatusCode::NOT_FOUND).await;
    let shown: Package = a.get(&format!("/packages/{id}")).await;
    assert!(shown.activations.is_empty());
    let deleted = a
        .request(Method::DELETE, &format!("/packages/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = a
        .request(Method::GET, &format!("/packages/{id}"))
        .send()
        .await
        .unwrap();
    assert!(
        error(gone, StatusCode::NOT_FOUND)
            .await
            .contains(&id.to_string())
    );
    assert!(a.files.list(PackageId::new(id).unwrap()).is_empty());
    let listed: Vec<Package> = a.get("/packages").await;
    assert_eq!(listed.len(), 1);
    a.stop().await;
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // One table of refusals.
async fn bad_input_gets_a_4xx_with_a_json_error() {
    let a = Admin::start(AdminConfig::default().with_max_json(1024)).await;
    let built: Package = parse(
        a.request(Method::POST, "/packages?name=x&action=execute&command=true")
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let id = built.id;
    let unknown = 1_600_000_000u64;
    let locations = serde_json::json!({
        "info_location": "ocs.example.com/download",
        "pack_location": "ocs.example.com/download",
    });

    // Unknown package: 404 everywhere.
    for (method, path) in [
        (Method::GET, format!("/packages/{unknown}")),
        (Method::DELETE, format!("/packages/{unknown}")),
        (Method::GET, format!("/packages/{unknown}/stats")),
        (Method::GET, format!("/packages/{unknown}/status")),
        (Method::GET, format!("/packages/{unknown}/activations")),
        (Method::POST, format!("/packages/{unknown}/validate")),
        (Method::DELETE, "/activations/999".to_owned()),
        (Method::GET, "/groups/nobody".to_owned()),
        (Method::DELETE, "/groups/nobody".to_owned()),
        (Method::GET, "/no/such/route".to_owned()),
    ] {
        let response = a.request(method.clone(), &path).send().await.unwrap();
        error(response, StatusCode::NOT_FOUND).await;
    }
    let activate_unknown = a
        .send_json(
            Method::POST,
            &format!("/packages/{unknown}/activations"),
            &locations,
        )
        .await;
    assert!(
        error(activate_unknown, StatusCode::NOT_FOUND)
            .await
            .contains("does not exist")
    );

    // Malformed ids, query strings and bodies: 400.
    for (method, path) in [
        (Method::GET, "/packages/abc".to_owned()),
        (Method::GET, "/packages/0170".to_owned()),
        (Method::DELETE, "/activations/x".to_owned()),
        (
            Method::POST,
            "/packages?name=x&action=jump&command=true".to_owned(),
        ),
        (Method::POST, "/packages?name=x&action=execute".to_owned()),
        (
            Method::POST,
            "/packages?name=x&action=execute&command=true&priority=11".to_owned(),
        ),
        (
            Method::POST,
            "/packages?name=x&action=execute&command=true&colour=red".to_owned(),
        ),
        (
            Method::POST,
            "/packages?name=x&action=launch&command=./install.sh".to_owned(),
        ),
        (
            Method::POST,
            format!("/packages/{id}/validate?scope=everything"),
        ),
        (
            Method::GET,
            format!("/packages/{id}/status?class=success&status=SUCCESS"),
        ),
        (Method::GET, format!("/packages/{id}/status?limit=0")),
        (Method::GET, format!("/packages/{id}/status?offset=-1")),
    ] {
        let response = a.request(method.clone(), &path).send().await.unwrap();
        let message = error(response, StatusCode::BAD_REQUEST).await;
        assert!(!message.is_empty(), "{method} {path}");
    }
    for body in [
        "{",
        "[]",
        r#"{"info_location": 1}"#,
        r#"{"info_location": "a/b"}"#,
    ] {
        let response = a
            .request(Method::POST, &format!("/packages/{id}/activations"))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let message = error(response, StatusCode::BAD_REQUEST).await;
        assert!(message.starts_with("bad JSON body"), "{body}: {message}");
    }
    let not_json = a
        .request(Method::POST, &format!("/packages/{id}/activations"))
        .body(locations.to_string())
        .send()
        .await
        .unwrap();
    error(not_json, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let huge = serde_json::json!({"devices": vec!["pc-2026-01-01-00-00-00"; 100]});
    let too_large = a
        .send_json(Method::POST, &format!("/packages/{id}/affectations"), &huge)
        .await;
    error(too_large, StatusCode::PAYLOAD_TOO_LARGE).await;
    let bad_location = a
        .send_json(
            Method::POST,
            &format!("/packages/{id}/activations"),
            &serde_json::json!({"info_location": "https://x/download", "pack_location": "x/download"}),
        )
        .await;
    assert!(
        error(bad_location, StatusCode::BAD_REQUEST)
            .await
            .contains("location")
    );

    // Affectations: not activated yet (409), then bad targets.
    let not_activated = a
        .send_json(
            Method::POST,
            &format!("/packages/{id}/affectations"),
            &serde_json::json!({"all": true}),
        )
        .await;
    assert!(
        error(not_activated, StatusCode::CONFLICT)
            .await
            .contains("not activated")
    );
    let activation: Activation = parse(
        a.send_json(
            Method::POST,
            &format!("/packages/{id}/activations"),
            &locations,
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let duplicate = a
        .send_json(
            Method::POST,
            &format!("/packages/{id}/activations"),
            &locations,
        )
        .await;
    assert!(
        error(duplicate, StatusCode::CONFLICT)
            .await
            .contains("already activated")
    );
    for (body, status) in [
        (serde_json::json!({}), StatusCode::BAD_REQUEST),
        (
            serde_json::json!({"all": true, "group": "g"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            serde_json::json!({"devices": ["not a device id"]}),
            StatusCode::BAD_REQUEST,
        ),
        (serde_json::json!({"criteria": {}}), StatusCode::BAD_REQUEST),
        (
            serde_json::json!({"group": "g", "force": true}),
            StatusCode::BAD_REQUEST,
        ),
        (
            serde_json::json!({"devices": ["pc-2026-01-01-00-00-00"]}),
            StatusCode::NOT_FOUND,
        ),
        (
            serde_json::json!({"group": "nobody"}),
            StatusCode::NOT_FOUND,
        ),
        (
            serde_json::json!({"all": true, "activation": activation.id + 1}),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let response = a
            .send_json(Method::POST, &format!("/packages/{id}/affectations"), &body)
            .await;
        let message = error(response, status).await;
        assert!(!message.is_empty(), "{body}");
    }

    // Settings and groups.
    let unknown_setting = a
        .send_json(
            Method::PUT,
            "/config/COLOUR",
            &serde_json::json!({"value": 1}),
        )
        .await;
    error(unknown_setting, StatusCode::NOT_FOUND).await;
    let no_value = a
        .send_json(
            Method::PUT,
            "/config/TIMEOUT",
            &serde_json::json!({"value": "x"}),
        )
        .await;
    error(no_value, StatusCode::BAD_REQUEST).await;
    let empty_name = a
        .send_json(Method::POST, "/groups", &serde_json::json!({"name": " "}))
        .await;
    error(empty_name, StatusCode::BAD_REQUEST).await;
    let unknown_member = a
        .send_json(
            Method::POST,
            "/groups/nobody/members",
            &serde_json::json!({"devices": ["pc-2026-01-01-00-00-00"]}),
        )
        .await;
    error(unknown_member, StatusCode::NOT_FOUND).await;

    // Nothing was built by the refused builds.
    let listed: Vec<Package> = a.get("/packages").await;
    assert_eq!(listed.len(), 1);
    a.stop().await;
}

#[tokio::test]
async fn an_oversize_upload_is_refused_and_leaves_no_package() {
    let limit = 64 * 1024;
    let a = Admin::start(AdminConfig::default().with_max_upload(limit)).await;
    let archive = noise(100 * 1024);

    // Streamed without a length: refused once the limit is passed.
    let chunks: Vec<Result<Bytes, std::io::Error>> = archive
        .chunks(8 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let response = a
        .request(
            Method::POST,
            "/packages?name=big&action=store&command=/tmp/big&fragment_size=10000",
        )
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    let message = error(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(message.contains(&limit.to_string()), "{message}");
    assert!(a.store.packages().await.unwrap().is_empty());
    // The build wrote fragments before the limit was passed; they are gone. Build ids
    // start at NOW, so the refused build had one of the first ids.
    for n in 0..3 {
        let id = PackageId::new(NOW.as_secs() + n).unwrap();
        assert!(a.files.list(id).is_empty(), "files of {id} left behind");
    }

    // With a declared length over the limit: refused before reading.
    let response = a
        .request(
            Method::POST,
            "/packages?name=big&action=store&command=/tmp/big",
        )
        .body(archive.clone())
        .send()
        .await
        .unwrap();
    error(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(a.store.packages().await.unwrap().is_empty());

    // Exactly the limit is fine.
    let response = a
        .request(
            Method::POST,
            "/packages?name=fits&action=store&command=/tmp/fits",
        )
        .body(archive[..usize::try_from(limit).unwrap()].to_vec())
        .send()
        .await
        .unwrap();
    let package: Package = parse(response, StatusCode::CREATED).await;
    assert_eq!(package.size, limit);
    a.stop().await;
}

/// The build starts while the upload is still arriving: the package row exists (not
/// built) before the last bytes are sent, and an upload far larger than the JSON limit
/// goes through.
#[tokio::test]
async fn uploads_stream_into_the_build() {
    let a = Admin::start(
        AdminConfig::default()
            .with_max_json(4 * 1024)
            .with_max_upload(1 << 20),
    )
    .await;
    let archive = noise(300_000);
    let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let request = a
        .request(
            Method::POST,
            "/packages?name=streamed&action=launch&command=./setup&fragment_size=100000",
        )
        .body(reqwest::Body::wrap_stream(rx));
    let upload = tokio::spawn(request.send());

    let (head, tail) = archive.split_at(120_000);
    for chunk in head.chunks(10_000) {
        tx.send(Ok(Bytes::copy_from_slice(chunk))).await.unwrap();
    }
    // Wait until the build has started and written its first fragment, with 180 000
    // bytes unsent. A server that buffered the whole body would never get there (the
    // bound only turns that deadlock into a failure; it measures nothing).
    let started = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let packages = a.store.packages().await.unwrap();
            if let Some(p) = packages.first()
                && a.files.list(p.id).contains(&FileName::Fragment(1))
            {
                break p.clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the build did not start before the upload ended");
    assert!(!started.is_built(), "built before the upload ended");
    for chunk in tail.chunks(10_000) {
        tx.send(Ok(Bytes::copy_from_slice(chunk))).await.unwrap();
    }
    drop(tx);
    let response = upload.await.unwrap().unwrap();
    let package: Package = parse(response, StatusCode::CREATED).await;
    assert_eq!(package.id, started.id.get());
    assert_eq!(package.fragments, 3);
    assert_eq!(package.size, archive.len() as u64);
    assert_eq!(fragments(&a.files, &package).await, archive);
    a.stop().await;
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // One failure, start to end.
async fn unaffect_reaffect_timeline_group_unaffect_and_download_server() {
    let a = Admin::start(AdminConfig::default()).await;
    let package: Package = parse(
        a.request(Method::POST, "/packages?name=x&action=execute&command=true")
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let id = package.id;
    let activation: Activation = parse(
        a.send_json(
            Method::POST,
            &format!("/packages/{id}/activations"),
            &serde_json::json!({
                "info_location": "ocs.example.com/download",
                "pack_location": "ocs.example.com/download",
            }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let failing = "pc-fail-2026-01-01-00-00-00";
    let other = "pc-other-2026-01-01-00-00-00";
    a.register(failing, "pc-fail").await;
    a.register(other, "pc-other").await;
    let affected = a
        .send_json(
            Method::POST,
            &format!("/packages/{id}/affectations"),
            &serde_json::json!({"devices": [failing, other]}),
        )
        .await;
    assert_eq!(affected.status(), StatusCode::OK);

    // Not failed yet: nothing to re-affect.
    let early = a
        .request(
            Method::POST,
            &format!("/packages/{id}/affectations/{failing}/reaffect"),
        )
        .send()
        .await
        .unwrap();
    error(early, StatusCode::CONFLICT).await;
    a.prolog(failing).await;
    a.service
        .handle(
            &Request::DownloadResult {
                device_id: failing.into(),
                package_id: PackageId::new(id).unwrap(),
                status: "ERR_BAD_DIGEST".parse::<OcsStatus>().unwrap(),
            },
            NOW,
        )
        .await
        .unwrap();
    let timeline: Vec<ocs_deploy_http::server::admin::api::TimelinePoint> =
        a.get(&format!("/packages/{id}/timeline")).await;
    let last = timeline.last().unwrap();
    let bad = last
        .statuses
        .iter()
        .find(|s| s.status == "ERR_BAD_DIGEST")
        .unwrap();
    assert_eq!(bad.count, 1);
    assert!((bad.percent - 50.0).abs() < 1e-9, "{timeline:?}");

    let again = a
        .request(
            Method::POST,
            &format!("/packages/{id}/affectations/{failing}/reaffect"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
    let page: StatusPage = a.get(&format!("/packages/{id}/status?class=waiting")).await;
    let waiting: Vec<&str> = page
        .computers
        .iter()
        .map(|c| c.device_id.as_str())
        .collect();
    assert!(waiting.contains(&failing), "{page:?}");

    // Unaffect one computer.
    let path = format!("/packages/{id}/affectations/{other}");
    let removed = a.request(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let twice = a.request(Method::DELETE, &path).send().await.unwrap();
    error(twice, StatusCode::NOT_FOUND).await;
    let page: StatusPage = a.get(&format!("/packages/{id}/status")).await;
    assert_eq!(page.computers.len(), 1);

    // A group's affectation, removed.
    let created = a
        .send_json(
            Method::POST,
            "/groups",
            &serde_json::json!({"name": "lyon"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let via_group = a
        .send_json(
            Method::POST,
            &format!("/packages/{id}/affectations"),
            &serde_json::json!({"group": "lyon"}),
        )
        .await;
    assert_eq!(via_group.status(), StatusCode::OK);
    let path = format!("/groups/lyon/affectations/{}", activation.id);
    let removed = a.request(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let twice = a.request(Method::DELETE, &path).send().await.unwrap();
    error(twice, StatusCode::NOT_FOUND).await;

    // A site's download server.
    let path = format!("/computers/{failing}/download-server");
    let set = a
        .send_json(Method::PUT, &path, &serde_json::json!({"server": other}))
        .await;
    assert_eq!(set.status(), StatusCode::NO_CONTENT);
    let computer = |device: &'static str| {
        let store = a.store.clone();
        async move {
            store
                .computer_by_device(&ocs_deploy_core::protocol::DeviceId::parse(device).unwrap())
                .await
                .unwrap()
                .unwrap()
        }
    };
    let server_id = computer(other).await.id;
    assert_eq!(computer(failing).await.download_server, Some(server_id));
    let cleared = a
        .send_json(Method::PUT, &path, &serde_json::json!({"server": null}))
        .await;
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    assert_eq!(computer(failing).await.download_server, None);
    let unknown = a
        .send_json(
            Method::PUT,
            "/computers/nobody-2026-01-01-00-00-00/download-server",
            &serde_json::json!({"server": null}),
        )
        .await;
    error(unknown, StatusCode::NOT_FOUND).await;
    a.stop().await;
}

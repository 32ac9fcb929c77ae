//! The admin API over real HTTPS: the token and its absence from the plain HTTP
//! listener (`auth`), every operation end to end (`operations`), bad input
//! (`bad_input`), bounded and streamed uploads (`upload`). This module holds the
//! server they share and the helpers.

mod auth;
mod bad_input;
mod operations;
mod upload;

use std::io::{Cursor, Write as _};
use std::sync::Arc;
use std::time::Duration;

use ocs_deploy_core::PackageId;
use ocs_deploy_core::protocol::{Hardware, Request};
use ocs_deploy_core::service::{DeploymentService, Reply, ServiceConfig};
use ocs_deploy_core::store::{FileName, PackageFiles};
use ocs_deploy_core::testkit::{MemoryFiles, MemoryStore};
use ocs_deploy_http::server::admin::api::{self, ErrorBody, Package};
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

    /// Activates package `id` on `ocs.example.com/download` through the API (201).
    async fn activate(&self, id: u64) -> api::Activation {
        parse(
            self.send_json(
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
        .await
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

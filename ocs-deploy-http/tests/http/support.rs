//! A running server over `MemoryStore` and `MemoryFiles`, with one package built,
//! activated on it and copied to a package root on disk, and clients.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ocs_deploy_core::protocol::{DeviceId, Hardware, Request};
use ocs_deploy_core::service::{AffectTarget, BuildRequest, DeploymentService, ServiceConfig};
use ocs_deploy_core::store::{
    ActivationId, AffectOptions, FileName, PackageFiles, PackageRecord, Store,
};
use ocs_deploy_core::testkit::{MemoryFiles, MemoryStore};
use ocs_deploy_core::{Action, Timestamp};
use ocs_deploy_http::server::{Clock, EndpointConfig, RunningServer, Server, TlsConfig};
use tempfile::TempDir;

/// The time the server's clock reads.
pub(crate) const NOW: Timestamp = Timestamp::from_secs(1_795_000_000);

/// The real Unix agent's device id (`shared/reference/real-agent/`).
pub(crate) const DEVICE: &str = "vm-2026-11-24-06-35-53";

/// The real Unix agent's User-Agent.
pub(crate) const UNIX_AGENT: &str = "OCS-NG_unified_unix_agent_v2.10.0";

pub(crate) struct Harness {
    pub(crate) service: Arc<DeploymentService>,
    pub(crate) store: Arc<MemoryStore>,
    pub(crate) dir: TempDir,
    pub(crate) root: PathBuf,
    pub(crate) running: Option<RunningServer>,
    pub(crate) package: PackageRecord,
    pub(crate) activation: ActivationId,
    pub(crate) archive: Vec<u8>,
    /// Trusts only the generated `cacert.pem`.
    pub(crate) client: reqwest::Client,
}

/// Installs the ring crypto provider, and a log subscriber whose output the test
/// harness shows for failing tests.
pub(crate) fn install_ring() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_test_writer()
        .try_init();
}

/// A client trusting only `ca_pem`.
pub(crate) fn client_trusting(ca_pem: &[u8]) -> reqwest::Client {
    install_ring();
    reqwest::Client::builder()
        .no_proxy()
        .user_agent(UNIX_AGENT)
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem).unwrap()])
        .build()
        .unwrap()
}

impl Harness {
    pub(crate) async fn start() -> Self {
        Self::start_with(EndpointConfig::default()).await
    }

    /// Starts a server with `config` (its clock replaced by [`NOW`]), builds a package of
    /// three fragments and activates it on this server.
    pub(crate) async fn start_with(config: EndpointConfig) -> Self {
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
        let archive: Vec<u8> = (0..250_000u32)
            .map(|i| u8::try_from(i * 7 % 253).unwrap())
            .collect();
        let mut request = BuildRequest::new(
            "install",
            Action::Launch {
                command: "install.sh".into(),
            },
        );
        request.fragment_size = 100_000;
        let chunks: Vec<Result<Bytes, std::io::Error>> = archive
            .chunks(30_000)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let package = service
            .build(request, Some(futures::stream::iter(chunks)), NOW)
            .await
            .unwrap();
        assert_eq!(package.fragments, 3);

        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("download");
        for file in files.list(package.id) {
            let path = root.join(file.relative_path(package.id));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let data = files.read(package.id, file).await.unwrap();
            std::fs::File::create(&path)
                .unwrap()
                .write_all(&data)
                .unwrap();
        }
        assert!(
            root.join(FileName::Info.relative_path(package.id))
                .is_file()
        );

        let (tls, certs) = TlsConfig::generate(&dir.path().join("tls"), &[]).unwrap();
        let config = config.with_clock(Clock::from_fn(|| NOW));
        let running = Server::new(service.clone(), config, root.clone())
            .http("127.0.0.1:0".parse().unwrap())
            .https("127.0.0.1:0".parse().unwrap(), tls)
            .start()
            .await
            .unwrap();
        let http = running.http_addr().unwrap();
        let https = running.https_addr().unwrap();
        let activation = service
            .activate(
                package.id,
                &format!("127.0.0.1:{}/download", https.port()),
                &format!("127.0.0.1:{}/download", http.port()),
                NOW,
            )
            .await
            .unwrap();
        let client = client_trusting(&std::fs::read(&certs.ca_cert).unwrap());
        Self {
            service,
            store,
            dir,
            root,
            running: Some(running),
            package,
            activation,
            archive,
            client,
        }
    }

    pub(crate) fn http_addr(&self) -> SocketAddr {
        self.running.as_ref().unwrap().http_addr().unwrap()
    }

    pub(crate) fn https_addr(&self) -> SocketAddr {
        self.running.as_ref().unwrap().https_addr().unwrap()
    }

    /// `http://127.0.0.1:<port><path>`.
    pub(crate) fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http_addr())
    }

    /// `https://localhost:<port><path>` (the certificate names localhost and 127.0.0.1).
    pub(crate) fn https_url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.https_addr().port())
    }

    /// The computer exists, as after its first inventory.
    pub(crate) async fn register(&self, device: &str) {
        let inventory = Request::Inventory {
            device_id: device.into(),
            hardware: Hardware::default(),
            history: Some(Vec::new()),
        };
        self.service.handle(&inventory, NOW).await.unwrap();
    }

    /// The computer exists and has the package affected.
    pub(crate) async fn affect_to(&self, device: &str) {
        self.register(device).await;
        self.service
            .affect(
                self.activation,
                &AffectTarget::Computers(vec![DeviceId::parse(device).unwrap()]),
                &AffectOptions::default(),
                NOW,
            )
            .await
            .unwrap();
    }

    /// The stored status of the package on `device`: `None` when waiting.
    pub(crate) async fn status(&self, device: &str) -> Option<String> {
        let computer = self
            .store
            .computer_by_device(&DeviceId::parse(device).unwrap())
            .await
            .unwrap()
            .unwrap();
        self.store
            .affectation(computer.id, self.activation)
            .await
            .unwrap()
            .unwrap()
            .status
    }

    /// POSTs `body` to `/ocsinventory` over plain HTTP.
    pub(crate) async fn post(&self, body: Vec<u8>) -> reqwest::Response {
        self.client
            .post(self.http_url("/ocsinventory"))
            .header("Content-Type", "application/x-compress")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown(Duration::from_secs(2)).await.unwrap();
        }
    }
}

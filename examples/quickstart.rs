//! Quickstart: a server on `SQLite` with loopback TLS, a package built, activated and
//! affected, and an agent that deploys it over HTTPS; then the status the server holds.
//!
//! ```sh
//! cargo run --release --example quickstart
//! ```
//!
//! Everything lives in a temporary directory and runs on 127.0.0.1 (ports chosen by the
//! system): the server's `SQLite` database, its package files and generated certificates,
//! and the agent's state directory. The package is a TAR.GZ holding an `install.sh` that
//! writes a file; the agent downloads it in fragments, checks every digest, runs it and
//! reports `SUCCESS`.

use std::error::Error;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_compression::tokio::write::GzipEncoder;
use bytes::Bytes;
use ocs_deploy_agent::runtime::{Agent, AgentConfig, now};
use ocs_deploy_agent::state::StateDir;
use ocs_deploy_core::Action;
use ocs_deploy_core::protocol::Hardware;
use ocs_deploy_core::service::{AffectTarget, BuildRequest, DeploymentService, ServiceConfig};
use ocs_deploy_core::store::{AffectOptions, Page, Setting, SettingScope, StatusSelector};
use ocs_deploy_http::client::HttpTransport;
use ocs_deploy_http::server::{EndpointConfig, Server, TlsConfig};
use ocs_deploy_store_sql::{DirectoryFiles, SqlStore};
use tokio::io::AsyncWriteExt as _;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let root = dir.path();

    // --- The server: SQLite, package files in a directory, generated TLS. ---
    let store =
        SqlStore::connect(&format!("sqlite://{}", root.join("server.db").display())).await?;
    let packages = root.join("packages");
    let service = Arc::new(DeploymentService::new(
        Arc::new(store),
        Arc::new(DirectoryFiles::new(&packages)),
        // Agents on this machine fetch from 127.0.0.1: allowed for the quickstart only.
        ServiceConfig {
            allow_loopback: true,
            ..ServiceConfig::default()
        },
    ));
    // No pauses between downloads, for a quick demonstration (OCS waits 10 s and 60 s).
    for setting in [
        Setting::FragLatency,
        Setting::CycleLatency,
        Setting::PeriodLatency,
    ] {
        service
            .set_setting(SettingScope::Global, setting, Some(0))
            .await?;
    }
    let (tls, certificates) = TlsConfig::generate(&root.join("tls"), &[])?;
    let any_port: SocketAddr = "127.0.0.1:0".parse()?;
    let server = Server::new(service.clone(), EndpointConfig::default(), &packages)
        .http(any_port)
        .https(any_port, tls)
        .start()
        .await?;
    let (http, https) = (
        server.http_addr().ok_or("no HTTP listener")?,
        server.https_addr().ok_or("no HTTPS listener")?,
    );
    println!(
        "server      https://{https}/ocsinventory (CA {})",
        certificates.ca_cert.display()
    );

    // --- A package: install.sh in a TAR.GZ, in fragments of 100 bytes. ---
    let marker = root.join("installed.txt");
    let archive = tar_gz("install.sh", &script(&marker)).await?;
    let mut request = BuildRequest::new(
        "quickstart",
        Action::Launch {
            command: "sh install.sh".into(),
        },
    );
    request.fragment_size = 100;
    let chunks = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(archive))]);
    let package = service.build(request, Some(chunks), now()).await?;
    let activation = service
        .activate(
            package.id,
            &format!("{https}/download"),
            &format!("{http}/download"),
            now(),
        )
        .await?;
    println!(
        "package     {} ({} bytes, {} fragments)",
        package.id, package.size, package.fragments
    );

    // --- The agent: first contact, so the server knows the computer. ---
    let transport = HttpTransport::builder(format!("https://{https}/ocsinventory"))
        .ca_file(&certificates.ca_cert)
        .build()?;
    let hardware = Hardware {
        name: Some("quickstart-pc".into()),
        os_name: Some("Linux".into()),
        ip_address: Some("127.0.0.1".into()),
        tag: Some("quickstart".into()),
    };
    let mut agent = Agent::open(
        Arc::new(transport),
        StateDir::open(root.join("agent"))?,
        AgentConfig::new(root.join("agent"), hardware),
    )?;
    agent.contact().await?;
    println!("agent       {}", agent.device_id());

    // --- Affect the package to it; the agent deploys it at its next contact. ---
    service
        .affect(
            activation,
            &AffectTarget::Computers(vec![agent.device_id().clone()]),
            &AffectOptions::default(),
            now(),
        )
        .await?;
    agent.run(true, Duration::from_secs(3600)).await?;

    // --- What the server holds. ---
    for row in service
        .computers_with_status(package.id, &StatusSelector::All, Page::first(100))
        .await?
    {
        println!(
            "status      {} {}",
            row.device_id,
            row.status.as_deref().unwrap_or("WAITING_NOTIFICATION")
        );
    }
    println!("script      {}", std::fs::read_to_string(&marker)?.trim());
    server.shutdown(Duration::from_secs(5)).await?;
    Ok(())
}

fn script(marker: &Path) -> String {
    format!(
        "#!/bin/sh\necho \"install.sh ran in $(pwd)\" > '{}'\n",
        marker.display()
    )
}

/// A TAR.GZ archive of one executable file.
async fn tar_gz(name: &str, content: &str) -> Result<Vec<u8>, Box<dyn Error>> {
    let mut builder = tokio_tar::Builder::new(GzipEncoder::new(Vec::new()));
    let mut header = tokio_tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    builder
        .append_data(&mut header, name, content.as_bytes())
        .await?;
    let mut gzip = builder.into_inner().await?;
    gzip.shutdown().await?;
    Ok(gzip.into_inner())
}

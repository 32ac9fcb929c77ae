//! `ocs-deploy-server`: an OCS-compatible deployment server, and the commands that manage
//! its packages.
//!
//! ```text
//! ocs-deploy-server --data-dir DIR [--database-url URL] serve --http ADDR --https ADDR [--files ADDR] [--tls-cert FILE --tls-key FILE] [--admin-token-file FILE]
//! ocs-deploy-server --data-dir DIR package build [FILE] --name NAME --priority P --action launch|execute|store --command CMD [--fragment-size BYTES|--fragments N]
//! ocs-deploy-server --data-dir DIR package activate ID --info-url HOST:PORT/download --pack-url HOST:PORT/download [--allow-loopback]
//! ocs-deploy-server --data-dir DIR package affect ID (--device DEVICEID... | --all | --group NAME) [--force]
//! ocs-deploy-server --data-dir DIR package status ID [--json]
//! ocs-deploy-server --data-dir DIR package stats ID [--json]
//! ocs-deploy-server --data-dir DIR package list
//! ocs-deploy-server --data-dir DIR validate ID
//! ocs-deploy-server --data-dir DIR delete ID
//! ocs-deploy-server --data-dir DIR config set KEY VALUE
//! ```
//!
//! The data directory holds the SQLite database (`ocs-deploy.db`, unless `--database-url`
//! names PostgreSQL or MariaDB), the package files (`packages/<id>/info`,
//! `packages/<id>/<id>-<n>`) and, when no certificate is given, a generated CA and server
//! certificate: `cacert.pem` is the file agents need.
//!
//! With `--admin-token-file` (or the token itself in `OCS_DEPLOY_ADMIN_TOKEN`), `serve`
//! also answers the admin API (`/admin/v1/...`, JSON, `Authorization: Bearer <token>`)
//! on the HTTPS listener: the same operations as the commands above, over the network.

// Doc comments here are also the `--help` texts people read: product names stay plain.
#![allow(clippy::doc_markdown)]

use std::error::Error;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use futures::StreamExt as _;
use indicatif::{ProgressBar, ProgressStyle};
use ocs_deploy_core::fragment::FragmentPlan;
use ocs_deploy_core::protocol::DeviceId;
use ocs_deploy_core::service::{AffectTarget, BuildRequest, DeploymentService, ServiceConfig};
use ocs_deploy_core::store::{
    AffectOptions, ComputerFilter, Page, Setting, SettingScope, StatusSelector,
};
use ocs_deploy_core::{Action, PackageId, Priority, Timestamp};
use ocs_deploy_http::server::{
    AdminConfig, AdminToken, Clock, EndpointConfig, FilesConfig, Server, TlsConfig,
    admin_router_with,
};
use ocs_deploy_store_sql::{DirectoryFiles, SqlStore};
use serde_json::json;
use tracing_subscriber::EnvFilter;

/// An OCS-compatible deployment server: serves agents, and manages packages.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Where the database (SQLite by default), the package files and the generated
    /// certificates live.
    #[arg(long, env = "OCS_DEPLOY_DATA_DIR")]
    data_dir: PathBuf,
    /// A database URL instead of SQLite in the data directory: `postgres://…`,
    /// `mysql://…` (MariaDB), or `sqlite://…`.
    #[arg(long, env = "OCS_DEPLOY_DATABASE_URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serves agents: the OCS endpoint (`/ocsinventory`) and the package files
    /// (`/download/<id>/…`; info files over HTTPS only), until SIGINT or SIGTERM.
    Serve {
        /// Plain HTTP listener (fragments, and the OCS endpoint).
        #[arg(long)]
        http: Option<SocketAddr>,
        /// HTTPS listener (info files, fragments, the OCS endpoint).
        #[arg(long)]
        https: Option<SocketAddr>,
        /// Fragments-only listener (plain TCP, bodies sent with sendfile; no info files,
        /// no OCS endpoint), serving the same `/download/<id>/<id>-<n>` URLs.
        #[arg(long)]
        files: Option<SocketAddr>,
        /// The most connections the `--files` listener serves at once; past it, new
        /// clients wait until one closes.
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
        files_max_connections: u64,
        /// Server certificate (PEM, with its chain); without it one is generated, with
        /// `DATA_DIR/cacert.pem` for the agents.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The certificate's private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Extra DNS names or IP addresses for a generated certificate (localhost and
        /// 127.0.0.1 are always in it).
        #[arg(long = "tls-name")]
        tls_names: Vec<String>,
        /// A file holding the admin API's bearer token (at least 16 characters, e.g.
        /// `openssl rand -hex 32`). The admin API (`/admin/v1/...`) is served on the
        /// HTTPS listener only, and only with this option or the token itself in
        /// OCS_DEPLOY_ADMIN_TOKEN.
        #[arg(long, env = "OCS_DEPLOY_ADMIN_TOKEN_FILE")]
        admin_token_file: Option<PathBuf>,
        /// The largest archive the admin API accepts for a build, in bytes.
        #[arg(long, default_value_t = AdminConfig::DEFAULT_MAX_UPLOAD)]
        admin_max_upload: u64,
        /// Let the admin API activate packages on loopback hosts (agents on other
        /// machines would resolve them to themselves: for tests and demos only).
        #[arg(long)]
        allow_loopback: bool,
    },
    /// Packages.
    #[command(subcommand)]
    Package(PackageCommand),
    /// Clears the computers that succeeded and removes the affectations nobody was told
    /// about (the console's "validate all", without losing late results).
    Validate {
        /// The package.
        id: PackageId,
    },
    /// Deletes a package: its files, activations, affectations and history.
    Delete {
        /// The package.
        id: PackageId,
    },
    /// Download settings.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
enum PackageCommand {
    /// Builds a package from an archive (ZIP or TAR.GZ; none for an Execute) and prints
    /// its id.
    Build {
        /// The archive.
        file: Option<PathBuf>,
        /// A name for people.
        #[arg(long)]
        name: String,
        /// Priority, 0 (exclusive) to 10.
        #[arg(long, default_value_t = 5)]
        priority: u8,
        /// What the agent does with it.
        #[arg(long, value_enum)]
        action: ActionArg,
        /// The command to launch or execute, or the folder to store into.
        #[arg(long)]
        command: String,
        /// Fragment size in bytes (default 1 MiB).
        #[arg(long, conflicts_with = "fragments")]
        fragment_size: Option<u64>,
        /// Number of fragments, split as the OCS console does.
        #[arg(long)]
        fragments: Option<u32>,
    },
    /// Activates a package: where agents fetch its info file (HTTPS) and fragments.
    Activate {
        /// The package.
        id: PackageId,
        /// `host[:port]/path` of the info file, without a scheme.
        #[arg(long)]
        info_url: String,
        /// `host[:port]/path` of the fragments, without a scheme.
        #[arg(long)]
        pack_url: String,
        /// Allow loopback hosts (agents on other machines would resolve them to
        /// themselves: for tests and demonstrations on one machine only).
        #[arg(long)]
        allow_loopback: bool,
    },
    /// Affects a package to computers.
    Affect {
        /// The package.
        id: PackageId,
        /// Computers by device id.
        #[arg(long = "device", required_unless_present_any = ["all", "group"])]
        devices: Vec<String>,
        /// Every computer known.
        #[arg(long, conflicts_with_all = ["devices", "group"])]
        all: bool,
        /// A static group, by name (its members get it at their next contact).
        #[arg(long, conflicts_with = "devices")]
        group: Option<String>,
        /// Send it even to computers that have it in their history.
        #[arg(long)]
        force: bool,
    },
    /// One line per computer: `DEVICEID STATUS`.
    Status {
        /// The package.
        id: PackageId,
        /// JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Counts per status, with percentages.
    Stats {
        /// The package.
        id: PackageId,
        /// JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// The packages: id, priority, fragments, size, activations, name.
    List,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Sets a global download setting, by its OCS name (ON, FRAG_LATENCY,
    /// CYCLE_LATENCY, PERIOD_LATENCY, PERIOD_LENGTH, TIMEOUT, EXECUTION_TIMEOUT,
    /// PROLOG_FREQ).
    Set {
        /// The setting.
        key: String,
        /// Its value (a whole number).
        value: i64,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ActionArg {
    Launch,
    Execute,
    Store,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "ocs-deploy-server: {}",
                ocs_deploy_http::error_chain(e.as_ref())
            );
            ExitCode::FAILURE
        }
    }
}

fn now() -> Timestamp {
    Clock::system().now()
}

async fn service(
    cli: &Cli,
    allow_loopback: bool,
) -> Result<Arc<DeploymentService>, Box<dyn Error>> {
    tokio::fs::create_dir_all(&cli.data_dir).await?;
    let url = cli
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", cli.data_dir.join("ocs-deploy.db").display()));
    let store = SqlStore::connect(&url).await?;
    let files = DirectoryFiles::new(packages_dir(&cli.data_dir));
    Ok(Arc::new(DeploymentService::new(
        Arc::new(store),
        Arc::new(files),
        ServiceConfig {
            allow_loopback,
            ..ServiceConfig::default()
        },
    )))
}

fn packages_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("packages")
}

async fn run(cli: Cli) -> Result<(), Box<dyn Error>> {
    match &cli.command {
        Command::Serve {
            http,
            https,
            files,
            files_max_connections,
            tls_cert,
            tls_key,
            tls_names,
            admin_token_file,
            admin_max_upload,
            allow_loopback,
        } => {
            let files = files.map(|addr| {
                let mut config = FilesConfig::default();
                config.max_connections =
                    usize::try_from(*files_max_connections).unwrap_or(usize::MAX);
                (addr, config)
            });
            let admin = admin_token(admin_token_file.as_deref())?.map(|token| {
                (
                    token,
                    AdminConfig::default().with_max_upload(*admin_max_upload),
                )
            });
            serve(
                &cli,
                *http,
                *https,
                files,
                tls_cert.as_deref().zip(tls_key.as_deref()),
                tls_names,
                admin,
                *allow_loopback,
            )
            .await
        }
        Command::Package(command) => package(&cli, command).await,
        Command::Validate { id } => {
            let service = service(&cli, false).await?;
            let removed = service.validate_all(*id).await?;
            println!("{removed}");
            Ok(())
        }
        Command::Delete { id } => {
            let service = service(&cli, false).await?;
            service.delete_package(*id).await?;
            Ok(())
        }
        Command::Config(ConfigCommand::Set { key, value }) => {
            let setting = setting(key).ok_or_else(|| {
                format!(
                    "unknown setting {key:?}: one of ON, FRAG_LATENCY, CYCLE_LATENCY, PERIOD_LATENCY, PERIOD_LENGTH, TIMEOUT, EXECUTION_TIMEOUT, PROLOG_FREQ"
                )
            })?;
            let service = service(&cli, false).await?;
            service
                .set_setting(SettingScope::Global, setting, Some(*value))
                .await?;
            Ok(())
        }
    }
}

/// A setting by the name the PROLOG reply uses (`FRAG_LATENCY`, `ON`, …) or the one OCS
/// stores (`DOWNLOAD_FRAG_LATENCY`, `DOWNLOAD_SWITCH`, …), in any case.
fn setting(key: &str) -> Option<Setting> {
    let key = key.to_ascii_uppercase();
    if key == "ON" {
        return Some(Setting::Switch);
    }
    Setting::from_ocs_name(&key).or_else(|| Setting::from_ocs_name(&format!("DOWNLOAD_{key}")))
}

/// The admin token from `--admin-token-file` or `OCS_DEPLOY_ADMIN_TOKEN`, if either is
/// given.
fn admin_token(file: Option<&Path>) -> Result<Option<AdminToken>, Box<dyn Error>> {
    let from_env = std::env::var("OCS_DEPLOY_ADMIN_TOKEN").ok();
    match (file, from_env) {
        (Some(_), Some(_)) => {
            Err("give --admin-token-file or OCS_DEPLOY_ADMIN_TOKEN, not both".into())
        }
        (Some(path), None) => Ok(Some(AdminToken::from_file(path)?)),
        (None, Some(token)) => Ok(Some(AdminToken::new(token.trim())?)),
        (None, None) => Ok(None),
    }
}

// Each argument is a `serve` option; a struct would only repeat their names.
#[allow(clippy::too_many_arguments)]
async fn serve(
    cli: &Cli,
    http: Option<SocketAddr>,
    https: Option<SocketAddr>,
    files: Option<(SocketAddr, FilesConfig)>,
    pem: Option<(&Path, &Path)>,
    names: &[String],
    admin: Option<(AdminToken, AdminConfig)>,
    allow_loopback: bool,
) -> Result<(), Box<dyn Error>> {
    if http.is_none() && https.is_none() && files.is_none() {
        return Err("give --http ADDR, --https ADDR, --files ADDR or several".into());
    }
    if admin.is_some() && https.is_none() {
        return Err("the admin API is served over HTTPS only: give --https ADDR".into());
    }
    let service = service(cli, allow_loopback).await?;
    let mut server = Server::new(
        service.clone(),
        EndpointConfig::default(),
        packages_dir(&cli.data_dir),
    );
    if let Some((token, config)) = admin {
        server = server.admin(admin_router_with(service, token, config));
        tracing::info!("admin API on the HTTPS listener (/admin/v1)");
    } else {
        tracing::info!(
            "admin API off: give --admin-token-file FILE or OCS_DEPLOY_ADMIN_TOKEN to turn it on"
        );
    }
    if let Some(addr) = http {
        server = server.http(addr);
    }
    if let Some((addr, config)) = files {
        server = server.files(addr, packages_dir(&cli.data_dir), config);
    }
    if let Some(addr) = https {
        let tls = if let Some((cert, key)) = pem {
            TlsConfig::from_pem_files(cert, key)?
        } else {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let (tls, generated) = TlsConfig::generate(&cli.data_dir, &names)?;
            tracing::info!(ca = %generated.ca_cert.display(), "agents need this CA file");
            tls
        };
        server = server.https(addr, tls);
    }
    let running = server.start().await?;
    // Scripts read the bound addresses (useful with port 0).
    if let Some(addr) = running.http_addr() {
        println!("http {addr}");
    }
    if let Some(addr) = running.https_addr() {
        println!("https {addr}");
    }
    if let Some(addr) = running.files_addr() {
        println!("files {addr}");
    }
    running
        .run_until(shutdown_signal(), Duration::from_secs(10))
        .await?;
    Ok(())
}

/// SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = interrupt.await;
            return;
        };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down");
}

async fn package(cli: &Cli, command: &PackageCommand) -> Result<(), Box<dyn Error>> {
    match command {
        PackageCommand::Build {
            file,
            name,
            priority,
            action,
            command,
            fragment_size,
            fragments,
        } => {
            let action = match action {
                ActionArg::Launch => Action::Launch {
                    command: command.clone(),
                },
                ActionArg::Execute => Action::Execute {
                    command: command.clone(),
                },
                ActionArg::Store => Action::Store {
                    path: command.clone(),
                },
            };
            let mut request = BuildRequest::new(name.clone(), action);
            request.priority = Priority::new(*priority)?;
            if let Some(size) = fragment_size {
                request.fragment_size = *size;
            }
            let service = service(cli, false).await?;
            let record =
                match file {
                    None => service
                        .build(
                            request,
                            None::<futures::stream::Empty<Result<bytes::Bytes, std::io::Error>>>,
                            now(),
                        )
                        .await?,
                    Some(path) => {
                        let file = tokio::fs::File::open(path)
                            .await
                            .map_err(|e| format!("{}: {e}", path.display()))?;
                        let len = file.metadata().await?.len();
                        if let Some(n) = fragments {
                            request.plan = Some(FragmentPlan::by_count(len, *n)?);
                        }
                        let bar = progress(len);
                        let counted = bar.clone();
                        let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20)
                            .inspect(move |chunk| {
                                if let Ok(chunk) = chunk {
                                    counted.inc(chunk.len() as u64);
                                }
                            });
                        let record = service.build(request, Some(stream), now()).await?;
                        bar.finish_and_clear();
                        record
                    }
                };
            println!("{}", record.id);
            Ok(())
        }
        PackageCommand::Activate {
            id,
            info_url,
            pack_url,
            allow_loopback,
        } => {
            let service = service(cli, *allow_loopback).await?;
            let activation = service.activate(*id, info_url, pack_url, now()).await?;
            println!("{}", activation.0);
            Ok(())
        }
        PackageCommand::Affect {
            id,
            devices,
            all,
            group,
            force,
        } => affect(cli, *id, devices, *all, group.as_deref(), *force).await,
        PackageCommand::Status { id, json } => status(cli, *id, *json).await,
        PackageCommand::Stats { id, json } => stats(cli, *id, *json).await,
        PackageCommand::List => {
            let service = service(cli, false).await?;
            for p in service.store().packages().await? {
                let activations = service.store().activations(p.id).await?.len();
                println!(
                    "{} {} {} {} {} {}",
                    p.id,
                    p.priority.get(),
                    p.fragments,
                    p.size,
                    activations,
                    p.name
                );
            }
            Ok(())
        }
    }
}

/// A progress bar on a terminal (hidden otherwise).
fn progress(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
    {
        bar.set_style(style);
    }
    bar
}

async fn affect(
    cli: &Cli,
    id: PackageId,
    devices: &[String],
    all: bool,
    group: Option<&str>,
    force: bool,
) -> Result<(), Box<dyn Error>> {
    let service = service(cli, false).await?;
    let activations = service.store().activations(id).await?;
    let activation = match activations.as_slice() {
        [one] => one.id,
        [] => {
            return Err(
                format!("package {id} is not activated: run `package activate` first").into(),
            );
        }
        _ => {
            return Err(format!(
                "package {id} has several activations; affect it through the library"
            )
            .into());
        }
    };
    let options = AffectOptions {
        force,
        ..AffectOptions::default()
    };
    if let Some(name) = group {
        service.affect_group(name, activation, &options).await?;
        return Ok(());
    }
    let target = if all {
        AffectTarget::Matching(ComputerFilter::default())
    } else {
        let devices = devices
            .iter()
            .map(|d| DeviceId::parse(d).map_err(|e| format!("{d:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        AffectTarget::Computers(devices)
    };
    let affected = service.affect(activation, &target, &options, now()).await?;
    println!("{}", affected.len());
    Ok(())
}

async fn status(cli: &Cli, id: PackageId, as_json: bool) -> Result<(), Box<dyn Error>> {
    let service = service(cli, false).await?;
    if service.store().package(id).await?.is_none() {
        return Err(format!("no package {id}").into());
    }
    let mut rows = Vec::new();
    let mut offset = 0;
    loop {
        let page = service
            .computers_with_status(
                id,
                &StatusSelector::All,
                Page {
                    offset,
                    limit: 10_000,
                },
            )
            .await?;
        let n = page.len() as u64;
        rows.extend(page);
        if n < 10_000 {
            break;
        }
        offset += n;
    }
    for row in &rows {
        let status = row.status.as_deref().unwrap_or("WAITING_NOTIFICATION");
        if as_json {
            println!(
                "{}",
                json!({"device_id": row.device_id.as_str(), "status": status, "changed": row.changed.as_secs()})
            );
        } else {
            println!("{} {status}", row.device_id);
        }
    }
    Ok(())
}

async fn stats(cli: &Cli, id: PackageId, as_json: bool) -> Result<(), Box<dyn Error>> {
    let service = service(cli, false).await?;
    let stats = service.stats(id).await?;
    if as_json {
        let statuses: Vec<_> = stats
            .statuses
            .iter()
            .map(|s| {
                json!({
                    "status": s.status.as_deref().unwrap_or("WAITING_NOTIFICATION"),
                    "class": format!("{:?}", s.class),
                    "count": s.count,
                    "percent": s.percent,
                })
            })
            .collect();
        println!(
            "{}",
            json!({"package": stats.package.get(), "total": stats.total, "statuses": statuses})
        );
    } else {
        println!("total {}", stats.total);
        for s in &stats.statuses {
            println!(
                "{} {} {:.1}%",
                s.status.as_deref().unwrap_or("WAITING_NOTIFICATION"),
                s.count,
                s.percent
            );
        }
    }
    Ok(())
}

//! `ocs-deploy-agent`: deploys the packages an OCS-compatible server offers this computer.
//!
//! ```text
//! ocs-deploy-agent --server https://ocs.example.com/ocsinventory --ca cacert.pem --state-dir /var/lib/ocs-deploy-agent [--once]
//! ```
//!
//! It makes an OCS device id (`host-YYYY-MM-DD-hh-mm-ss`) once and keeps it in the state
//! directory, sends a PROLOG and then an INVENTORY with its history and a minimal inventory
//! (name, OS, IP), runs the download schedule with the server's latencies, and posts the
//! results. With `--once` it exits when nothing is left to do; otherwise it contacts the
//! server again every `--prolog-every`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use ocs_deploy_agent::runtime::{Agent, AgentConfig, SystemPower};
use ocs_deploy_agent::state::StateDir;
use ocs_deploy_core::agent::ResultStyle;
use ocs_deploy_core::protocol::Hardware;
use ocs_deploy_http::client::HttpTransport;
use tracing_subscriber::EnvFilter;

/// Deploys the packages an OCS Inventory NG (or ocs-deploy) server offers this computer.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The server's communication URL, e.g. `https://ocs.example.com/ocsinventory`.
    #[arg(long, env = "OCS_DEPLOY_SERVER")]
    server: String,
    /// The CA file the server's certificate (and the info files' server) is checked
    /// against: the `cacert.pem` OCS agents use.
    #[arg(long, env = "OCS_DEPLOY_CA")]
    ca: PathBuf,
    /// Where the agent keeps its device id, history, downloads and results.
    #[arg(long, env = "OCS_DEPLOY_STATE_DIR")]
    state_dir: PathBuf,
    /// Exit when nothing is left to download, run or report.
    #[arg(long)]
    once: bool,
    /// Hours between two contacts when running without `--once`.
    #[arg(long, default_value_t = 1)]
    prolog_every: u64,
    /// What `INSTALL_PATH` stands for in package commands (default: the state directory).
    #[arg(long)]
    install_path: Option<PathBuf>,
    /// The spelling of results: as the OCS documentation lists them, or as the Unix or
    /// Windows agents send them.
    #[arg(long, value_enum, default_value_t = Style::Documented)]
    result_style: Style,
    /// The `TAG` sent in the inventory (OCS sorts computers by it).
    #[arg(long)]
    tag: Option<String>,
    /// Accept info files over plain HTTP (never do this outside a test network).
    #[arg(long)]
    allow_plain_http_info: bool,
    /// Allow POSTCMD to reboot or shut the computer down.
    #[arg(long)]
    allow_power: bool,
    /// The `User-Agent` sent (default: the Unix agent's `OCS-NG_unified_unix_agent_v2.10.0`
    /// followed by ours, which OCS servers 2.1 and later accept). OCS servers answer a
    /// PROLOG only from agents they know: `<name>_v<version>`, or a string listed in their
    /// extra user-agents file.
    #[arg(long, env = "OCS_DEPLOY_USER_AGENT")]
    user_agent: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Style {
    Documented,
    Unix,
    Windows,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "ocs-deploy-agent: {}",
                ocs_deploy_http::error_chain(e.as_ref())
            );
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut transport = HttpTransport::builder(&args.server)
        .ca_file(&args.ca)
        .allow_plain_http_info(args.allow_plain_http_info);
    if let Some(user_agent) = &args.user_agent {
        transport = transport.user_agent(user_agent);
    }
    let transport = transport.build()?;
    let state = StateDir::open(&args.state_dir)?;
    let hardware = Hardware {
        name: Some(hostname()),
        os_name: os_name(),
        ip_address: local_ip(&args.server),
        tag: args.tag.clone(),
    };
    let install_path = args
        .install_path
        .clone()
        .unwrap_or_else(|| args.state_dir.clone());
    let mut config = AgentConfig::new(install_path, hardware);
    config.job.style = match args.result_style {
        Style::Documented => ResultStyle::Documented,
        Style::Unix => ResultStyle::UnixAgent,
        Style::Windows => ResultStyle::WindowsAgent,
    };
    if args.allow_power {
        config.power = Arc::new(SystemPower);
    }
    let mut agent = Agent::open(Arc::new(transport), state, config)?;
    tracing::info!(device_id = %agent.device_id(), server = %args.server, "agent starting");
    agent
        .run(
            args.once,
            Duration::from_secs(args.prolog_every.max(1) * 3600),
        )
        .await?;
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "ocs-deploy-agent".to_owned())
}

fn os_name() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
}

/// The address this computer uses to reach the server (a UDP `connect` sends nothing).
fn local_ip(server: &str) -> Option<String> {
    let host_port = server.split("://").nth(1)?.split('/').next()?;
    let with_port =
        if host_port.rsplit(':').next()?.parse::<u16>().is_ok() && !host_port.ends_with(']') {
            host_port.to_owned()
        } else {
            format!("{host_port}:443")
        };
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect(with_port).ok()?;
    socket.local_addr().ok().map(|a| a.ip().to_string())
}

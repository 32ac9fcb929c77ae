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
//!
//! On a terminal it draws a progress bar per package download and a line per result, and
//! asks the user when a package wants a notification (unless `--non-interactive`); without
//! a terminal it logs, and notifications accept at the end of their countdown.

use std::collections::HashMap;
use std::io::{IsTerminal as _, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use ocs_deploy_agent::notify::Terminal;
use ocs_deploy_agent::progress::{Event, Progress};
use ocs_deploy_agent::runtime::{Agent, AgentConfig, SystemPower};
use ocs_deploy_agent::state::StateDir;
use ocs_deploy_core::PackageId;
use ocs_deploy_core::agent::ResultStyle;
use ocs_deploy_core::protocol::Hardware;
use ocs_deploy_http::client::HttpTransport;
use tracing_subscriber::EnvFilter;

/// Deploys the packages an OCS Inventory NG (or ocs-deploy) server offers this computer.
#[derive(Debug, Parser)]
#[command(version, about)]
#[expect(clippy::struct_excessive_bools, reason = "command-line switches")]
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
    /// Never ask on the terminal: notifications are logged and accept at the end of their
    /// countdown (the default when stdin is not a terminal).
    #[arg(long)]
    non_interactive: bool,
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

fn main() -> ExitCode {
    let args = Args::parse();
    // Bars are drawn only on a terminal (indicatif hides them otherwise); logs and
    // notifications are written around them.
    let multi = MultiProgress::new();
    let logs = Stderr(multi.clone());
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(move || logs.clone())
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ocs-deploy-agent: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(args, multi));
    // A terminal notifier may be waiting on stdin in a blocking thread: do not wait for it.
    runtime.shutdown_background();
    match result {
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

/// Standard error, written with the progress bars out of the way.
#[derive(Debug, Clone)]
struct Stderr(MultiProgress);

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.suspend(|| std::io::stderr().write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// A progress bar per package download, a line per result.
#[derive(Debug)]
struct Bars {
    multi: MultiProgress,
    /// Each package's bar, and whether it counts bytes (else fragments: the info file
    /// gave no size).
    bars: Mutex<HashMap<PackageId, (ProgressBar, bool)>>,
}

impl Bars {
    fn bar(&self, size: Option<u64>, fragments: u32) -> (ProgressBar, bool) {
        let (len, template) = match size {
            Some(size) => (
                size,
                "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            ),
            None => (u64::from(fragments), "{msg} {bar:30} {pos}/{len} fragments"),
        };
        let bar = self.multi.add(ProgressBar::new(len));
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        (bar, size.is_some())
    }
}

impl Progress for Bars {
    fn event(&self, event: &Event) {
        let mut bars = match self.bars.lock() {
            Ok(bars) => bars,
            Err(poisoned) => poisoned.into_inner(),
        };
        match event {
            Event::Fragment {
                package,
                fragment,
                fragments,
                size,
            } => {
                let (bar, _) = bars
                    .entry(*package)
                    .or_insert_with(|| self.bar(*size, *fragments));
                bar.set_message(format!(
                    "package {package}: fragment {fragment}/{fragments}"
                ));
            }
            Event::Bytes { package, bytes } => {
                if let Some((bar, true)) = bars.get(package) {
                    bar.inc(*bytes);
                }
            }
            Event::FragmentDone {
                package,
                kept,
                bytes,
                ..
            } => match bars.get(package) {
                Some((bar, true)) if !kept => {
                    bar.set_position(bar.position().saturating_sub(*bytes));
                }
                Some((bar, false)) if *kept => bar.inc(1),
                _ => {}
            },
            Event::Installing { package } => {
                if let Some((bar, _)) = bars.get(package) {
                    bar.set_message(format!("package {package}: installing"));
                }
            }
            Event::Ended {
                package,
                status,
                delivered,
            } => {
                let line = if *delivered {
                    format!("package {package}: {status}")
                } else {
                    format!("package {package}: {status} (not delivered yet, kept)")
                };
                // The bar goes; the line stays above the other packages' bars.
                if let Some((bar, _)) = bars.remove(package) {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                let _ = self.multi.println(line);
            }
            _ => {}
        }
    }
}

async fn run(args: Args, multi: MultiProgress) -> Result<(), Box<dyn std::error::Error>> {
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
    if std::io::stderr().is_terminal() {
        config.progress = Arc::new(Bars {
            multi: multi.clone(),
            bars: Mutex::new(HashMap::new()),
        });
    }
    if !args.non_interactive && std::io::stdin().is_terminal() {
        config.notifier = Arc::new(Terminal::new(
            tokio::io::BufReader::new(tokio::io::stdin()),
            Stderr(multi),
        ));
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

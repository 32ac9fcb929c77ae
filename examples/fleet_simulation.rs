//! Fleet simulation: N agents, each running the real scheduler and package state machine,
//! against the real deployment service over the in-memory or the `SQLite` store, in virtual
//! time. Prints the summary table; writes the figures as CSV and a plot as SVG.
//!
//! ```sh
//! cargo run --release --example fleet_simulation -- --agents 100000 --packages 3 --fragments 10 --seed 1
//! cargo run --release --example fleet_simulation -- --agents 2000 --packages 2 --fragments 20 \
//!     --server paris:2000000:3 --server lyon:500000 --loss 0.01 --corruption 0.01 \
//!     --store sqlite --csv fleet.csv --plot fleet.svg
//! ```
//!
//! Exits 0 when every computer delivered a result for every package, 1 when some did not
//! before the horizon, 2 for bad options.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use ocs_deploy_core::agent::{InstallOutcome, ResultStyle};
use ocs_deploy_core::protocol::DownloadConfig;
use ocs_deploy_core::service::{DeploymentService, ServiceConfig};
use ocs_deploy_core::store::Store;
use ocs_deploy_core::testkit::fleet::{DownloadServer, Fleet, FleetConfig, PackageSpec};
use ocs_deploy_core::testkit::{
    DownWindow, Faults, MemoryFiles, MemoryStore, Script, VirtualClock,
};
use ocs_deploy_core::{Action, Priority};
use ocs_deploy_store_sql::SqlStore;

/// Which store the service runs on.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum StoreKind {
    /// `MemoryStore`.
    Memory,
    /// `SqlStore` on an `SQLite` file.
    Sqlite,
}

/// A package's action.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ActionKind {
    Launch,
    Execute,
    Store,
}

/// How agents spell results.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Style {
    Documented,
    Unix,
    Windows,
}

#[derive(Debug, Parser)]
#[command(
    about = "Simulate a fleet of OCS agents against the real deployment service, in virtual time"
)]
struct Args {
    /// Computers in the fleet.
    #[arg(long, default_value_t = 1000)]
    agents: u32,
    /// Packages, each affected to every computer.
    #[arg(long, default_value_t = 1)]
    packages: u32,
    /// Fragments per package.
    #[arg(long, default_value_t = 10)]
    fragments: u32,
    /// Bytes per fragment.
    #[arg(long, default_value_t = 100)]
    fragment_size: u64,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Store under the service.
    #[arg(long, value_enum, default_value_t = StoreKind::Memory)]
    store: StoreKind,
    /// `SQLite` database file (default: in a temporary directory).
    #[arg(long)]
    sqlite_path: Option<PathBuf>,
    /// Write the figures as CSV to this file.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Write the completion plot as SVG to this file.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Seconds between an agent's idle schedule and its next contact (`PROLOG_FREQ`).
    #[arg(long, default_value_t = 3600)]
    contact_every: u64,
    /// Up to this many seconds of random extra wait before each later contact.
    #[arg(long, default_value_t = 300)]
    contact_jitter: u64,
    /// First contacts are spread over this many seconds (default: --contact-every).
    #[arg(long)]
    first_contact_within: Option<u64>,
    /// Priorities of the packages, in order, repeated as needed (0..=10).
    #[arg(long, value_delimiter = ',', default_value = "5")]
    priority: Vec<u8>,
    /// Actions of the packages, in order, repeated as needed.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "launch")]
    action: Vec<ActionKind>,
    /// `FRAG_LATENCY`, seconds.
    #[arg(long, default_value_t = 10)]
    frag_latency: u64,
    /// `CYCLE_LATENCY`, seconds.
    #[arg(long, default_value_t = 60)]
    cycle_latency: u64,
    /// `PERIOD_LATENCY`, seconds.
    #[arg(long, default_value_t = 1)]
    period_latency: u64,
    /// `PERIOD_LENGTH`, cycles.
    #[arg(long, default_value_t = 10)]
    period_length: u32,
    /// `TIMEOUT`, days.
    #[arg(long, default_value_t = 30)]
    timeout_days: u32,
    /// Download server `NAME:BYTES_PER_SECOND[:WEIGHT]` (repeat for several sites;
    /// bandwidth 0 is unlimited). Without one, everyone downloads from one unlimited server.
    #[arg(long = "server")]
    servers: Vec<String>,
    /// Probability that a fragment download fails.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Probability that a fragment arrives corrupted.
    #[arg(long, default_value_t = 0.0)]
    corruption: f64,
    /// Server down window `[HOST@]FROM-UNTIL`, seconds from the start; without a host,
    /// the communication server.
    #[arg(long)]
    down: Vec<String>,
    /// Slow download server `HOST:FACTOR` (transfers take FACTOR times longer).
    #[arg(long)]
    slow: Vec<String>,
    /// Package number (from 1) whose info file is missing.
    #[arg(long)]
    missing_info: Vec<usize>,
    /// Exit code of installs.
    #[arg(long, default_value_t = 0)]
    exit_code: i32,
    /// Share of installs that fail to start (`ERR_EXECUTE`).
    #[arg(long, default_value_t = 0.0)]
    failure_rate: f64,
    /// Seconds an install takes.
    #[arg(long, default_value_t = 0)]
    install_time: u64,
    /// How agents spell results.
    #[arg(long, value_enum, default_value_t = Style::Documented)]
    style: Style,
    /// The server asks for an inventory at a PROLOG only when the last one is this many
    /// hours old (OCS `FREQUENCY`; 0: at every PROLOG).
    #[arg(long, default_value_t = 24)]
    inventory_every_hours: u64,
    /// Stop after this many days of virtual time.
    #[arg(long, default_value_t = 60)]
    horizon_days: u64,
}

fn split_pair<'a>(text: &'a str, what: &str) -> Result<(&'a str, &'a str), Box<dyn Error>> {
    text.split_once(':')
        .ok_or_else(|| format!("{what} {text:?}: expected NAME:VALUE").into())
}

fn config(args: &Args) -> Result<FleetConfig, Box<dyn Error>> {
    let mut packages = Vec::new();
    for n in 0..args.packages as usize {
        let mut spec = PackageSpec::new(
            format!("package-{}", n + 1),
            args.fragment_size * u64::from(args.fragments),
            args.fragments,
        );
        spec.priority = Priority::new(args.priority[n % args.priority.len()])?;
        spec.action = match args.action[n % args.action.len()] {
            ActionKind::Launch => Action::Launch {
                command: "install.sh".into(),
            },
            ActionKind::Execute => Action::Execute {
                command: "sh install.sh".into(),
            },
            ActionKind::Store => Action::Store {
                path: "INSTALL_PATH/store".into(),
            },
        };
        spec.script = Script::exit(args.exit_code)
            .taking(Duration::from_secs(args.install_time))
            .failing(args.failure_rate, InstallOutcome::StartFailed);
        spec.info_missing = args.missing_info.contains(&(n + 1));
        packages.push(spec);
    }
    let mut servers = Vec::new();
    for s in &args.servers {
        let mut parts = s.split(':');
        let name = parts.next().unwrap_or_default();
        let bandwidth = parts
            .next()
            .ok_or_else(|| format!("--server {s:?}: expected NAME:BYTES_PER_SECOND[:WEIGHT]"))?
            .parse()?;
        let mut server = DownloadServer::new(name, bandwidth);
        if let Some(w) = parts.next() {
            server.weight = w.parse()?;
        }
        servers.push(server);
    }
    let start = FleetConfig::default().start;
    let mut faults = Faults {
        fragment_loss: args.loss,
        fragment_corruption: args.corruption,
        ..Faults::default()
    };
    for d in &args.down {
        let (host, window) = match d.split_once('@') {
            Some((h, w)) => (Some(h.to_owned()), w),
            None => (None, d.as_str()),
        };
        let (from, until) = window
            .split_once('-')
            .ok_or_else(|| format!("--down {d:?}: expected [HOST@]FROM-UNTIL"))?;
        faults.down.push(DownWindow {
            host,
            from: start + Duration::from_secs(from.parse()?),
            until: start + Duration::from_secs(until.parse()?),
        });
    }
    let mut slow = BTreeMap::new();
    for s in &args.slow {
        let (host, factor) = split_pair(s, "--slow")?;
        slow.insert(host.to_owned(), factor.parse()?);
    }
    faults.slow_servers = slow;
    Ok(FleetConfig {
        agents: args.agents,
        seed: args.seed,
        start,
        contact_every: Duration::from_secs(args.contact_every),
        contact_jitter: Duration::from_secs(args.contact_jitter),
        first_contact_within: Duration::from_secs(
            args.first_contact_within.unwrap_or(args.contact_every),
        ),
        packages,
        download: DownloadConfig {
            fragment_latency: Duration::from_secs(args.frag_latency),
            cycle_latency: Duration::from_secs(args.cycle_latency),
            period_latency: Duration::from_secs(args.period_latency),
            period_length: args.period_length,
            timeout_days: args.timeout_days,
            ..DownloadConfig::default()
        },
        servers,
        faults,
        result_style: match args.style {
            Style::Documented => ResultStyle::Documented,
            Style::Unix => ResultStyle::UnixAgent,
            Style::Windows => ResultStyle::WindowsAgent,
        },
        horizon: Duration::from_secs(args.horizon_days * 86_400),
        trace_agent: None,
    })
}

async fn run(args: Args) -> Result<bool, Box<dyn Error>> {
    let config = config(&args)?;
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn Store> = match args.store {
        StoreKind::Memory => Arc::new(MemoryStore::new()),
        StoreKind::Sqlite => {
            let path = args
                .sqlite_path
                .clone()
                .unwrap_or_else(|| dir.path().join("fleet.db"));
            Arc::new(SqlStore::connect(&format!("sqlite://{}", path.display())).await?)
        }
    };
    let service = Arc::new(DeploymentService::new(
        store,
        Arc::new(MemoryFiles::new()),
        ServiceConfig {
            inventory_every: (args.inventory_every_hours > 0)
                .then(|| Duration::from_secs(args.inventory_every_hours * 3600)),
            ..ServiceConfig::default()
        },
    ));
    let began = Instant::now();
    let fleet = Fleet::setup(config, service).await?;
    let set_up = began.elapsed();
    let clock = VirtualClock::new(fleet.config().start);
    let transport = fleet.loopback(&clock);
    let executor = fleet.scripted_executor(&clock);
    let report = fleet.run(&transport, &executor, &clock).await?;
    let ran = began.elapsed();
    println!("{report}");
    eprintln!(
        "wall time: {:.2} s (setup {:.2} s, simulation {:.2} s)",
        ran.as_secs_f64(),
        set_up.as_secs_f64(),
        ran.saturating_sub(set_up).as_secs_f64()
    );
    if let Some(path) = &args.csv {
        std::fs::write(path, report.to_csv())?;
    }
    if let Some(path) = &args.plot {
        std::fs::write(path, report.to_svg())?;
    }
    Ok(report.all_finished())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("some computers did not finish before the horizon");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

//! PROLOG handling under load: a fleet of N computers with P packages affected to every
//! one of them, then a sample of contacts timed one by one (median and p99), and the stats
//! of one package over the whole fleet.
//!
//! ```text
//! cargo run --release -p ocs-deploy-benches --bin prolog-load -- --store sqlite --computers 1000,10000,100000
//! cargo run --release -p ocs-deploy-benches --bin prolog-load -- --store postgres://postgres@127.0.0.1/test
//! ```
//!
//! Each contact is the first PROLOG after the affectation (every package goes from waiting
//! to notified: the most writes a contact can cause), then a second one (every package sent
//! again as notified, nothing written but the contact time).

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use ocs_deploy_benches::{affect_packages, device, register_computers};
use ocs_deploy_core::service::{DeploymentService, ServiceConfig};
use ocs_deploy_core::store::Store;
use ocs_deploy_core::testkit::{MemoryFiles, MemoryStore};
use ocs_deploy_core::{PackageId, StatusCode, Timestamp};
use ocs_deploy_store_sql::{Backend, SqlStore};

#[derive(Parser)]
#[command(about = "PROLOG handling cost against fleet size")]
struct Args {
    /// `memory`, `sqlite` (a temporary file per fleet size), or the URL of an empty
    /// database (`sqlite:`, `postgres:`, `mysql:`): one URL per fleet size,
    /// comma-separated, in the order of `--computers`.
    #[arg(long, value_delimiter = ',', default_value = "sqlite")]
    store: Vec<String>,
    /// Fleet sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    computers: Vec<u32>,
    /// Packages affected to every computer.
    #[arg(long, default_value_t = 50)]
    packages: u32,
    /// Contacts timed per fleet size.
    #[arg(long, default_value_t = 1000)]
    samples: u32,
}

struct Row {
    computers: u32,
    first: Summary,
    again: Summary,
    stats: Duration,
}

struct Summary {
    median: Duration,
    p99: Duration,
}

fn summarize(mut times: Vec<Duration>) -> Summary {
    times.sort_unstable();
    let pick = |q: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((times.len() as f64 - 1.0) * q).round() as usize;
        times.get(i).copied().unwrap_or_default()
    };
    Summary {
        median: pick(0.5),
        p99: pick(0.99),
    }
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>24} [{bar:30}] {pos}/{len} ({eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// The fleet: `computers` computers with `args.packages` packages affected to each.
/// Returns the first package.
async fn fill(
    store: &Arc<dyn Store>,
    service: &DeploymentService,
    args: &Args,
    computers: u32,
    now: Timestamp,
) -> Result<PackageId, Box<dyn Error>> {
    let fill = bar(u64::from(computers), "computers");
    let ids = register_computers(store, computers, now, || fill.inc(1)).await?;
    fill.finish_and_clear();
    let affect = bar(u64::from(args.packages), "affectations");
    let packages =
        affect_packages(service, store, &ids, args.packages, now, || affect.inc(1)).await?;
    affect.finish_and_clear();
    packages.first().copied().ok_or_else(|| "no package".into())
}

/// One fleet, filled and ready to be contacted.
struct Fleet {
    computers: u32,
    service: DeploymentService,
    package: PackageId,
    sample: Vec<u32>,
    first: Vec<Duration>,
    again: Vec<Duration>,
    _store: OpenStore,
}

async fn prepare(opened: OpenStore, args: &Args, computers: u32) -> Result<Fleet, Box<dyn Error>> {
    let service = DeploymentService::new(
        opened.store.clone(),
        Arc::new(MemoryFiles::new()),
        ServiceConfig::default(),
    );
    let package = fill(&opened.store, &service, args, computers, START).await?;
    // The sample: computers spread over the whole fleet.
    let samples = args.samples.min(computers);
    let step = computers / samples;
    let sample: Vec<u32> = (0..samples).map(|i| i * step).collect();
    Ok(Fleet {
        computers,
        service,
        package,
        first: Vec::with_capacity(sample.len()),
        again: Vec::with_capacity(sample.len()),
        sample,
        _store: opened,
    })
}

/// The time every fleet is filled at; contacts come a few seconds later.
const START: Timestamp = Timestamp::from_secs(1_700_000_000);

/// Times the contacts of every fleet, interleaved: the i-th contact of each fleet runs
/// one right after the other, so whatever else the machine does at that moment weighs on
/// every fleet size alike, and what differs between them is the fleet size alone.
async fn contact_all(fleets: &mut [Fleet], args: &Args) -> Result<(), Box<dyn Error>> {
    let longest = fleets.iter().map(|f| f.sample.len()).max().unwrap_or(0);
    for round in [1u64, 2] {
        let what = if round == 1 {
            "first contacts"
        } else {
            "second contacts"
        };
        let contact = bar((longest * fleets.len()) as u64, what);
        for i in 0..longest {
            for fleet in fleets.iter_mut() {
                let Some(&n) = fleet.sample.get(i) else {
                    continue;
                };
                let id = device(n);
                let started = Instant::now();
                let outcome = fleet
                    .service
                    .handle_prolog(id.as_str(), START + Duration::from_secs(round))
                    .await?;
                let took = started.elapsed();
                if round == 1 {
                    fleet.first.push(took);
                } else {
                    fleet.again.push(took);
                }
                let offered = outcome.reply.download.map_or(0, |d| d.packages.len());
                assert_eq!(offered, args.packages as usize, "every package offered");
                contact.inc(1);
            }
        }
        contact.finish_and_clear();
    }
    Ok(())
}

/// Results for the sample, so the stats count several statuses; then the stats, timed.
async fn finish(fleet: Fleet) -> Result<Row, Box<dyn Error>> {
    for (i, &n) in fleet.sample.iter().enumerate() {
        let status = match i % 4 {
            0 | 1 => StatusCode::from_wire("SUCCESS"),
            2 => StatusCode::from_wire("ERR_BAD_DIGEST"),
            _ => StatusCode::from_wire("EXIT_CODE_1"),
        };
        fleet
            .service
            .record_result(
                device(n).as_str(),
                fleet.package,
                &status,
                START + Duration::from_secs(3),
            )
            .await?;
    }
    let started = Instant::now();
    let stats = fleet.service.stats(fleet.package).await?;
    let stats_time = started.elapsed();
    assert_eq!(stats.total, u64::from(fleet.computers));
    Ok(Row {
        computers: fleet.computers,
        first: summarize(fleet.first),
        again: summarize(fleet.again),
        stats: stats_time,
    })
}

/// Lets the bulk load's writes reach the disk before contacts are timed: what is measured
/// is a contact on a fleet at rest, not one competing with the kernel's write-back of the
/// gigabyte the set-up just wrote.
async fn settle() {
    let synced = tokio::process::Command::new("sync").status().await;
    if let Err(e) = synced {
        eprintln!("sync did not run ({e}); measuring anyway");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let stores: Vec<&str> = match args.store.as_slice() {
        [one] if one == "memory" || one == "sqlite" => vec![one.as_str(); args.computers.len()],
        many if many.len() == args.computers.len() => many.iter().map(String::as_str).collect(),
        _ => {
            return Err("a database URL holds one fleet: give one URL per --computers size".into());
        }
    };
    let mut fleets = Vec::new();
    for (&computers, store) in args.computers.iter().zip(stores) {
        let opened = open_store(store).await?;
        eprintln!(
            "{computers} computers x {} packages on {store}",
            args.packages
        );
        fleets.push(prepare(opened, &args, computers).await?);
    }
    settle().await;
    contact_all(&mut fleets, &args).await?;
    let mut rows = Vec::new();
    for fleet in fleets {
        rows.push(finish(fleet).await?);
    }
    println!(
        "store: {}, {} packages affected to every computer, {} contacts timed per size, \
         interleaved across sizes",
        args.store.join(","),
        args.packages,
        args.samples
    );
    println!(
        "| computers | first PROLOG median (ms) | first PROLOG p99 (ms) | repeat PROLOG median (ms) | repeat PROLOG p99 (ms) | stats of one package (ms) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.computers,
            ms(r.first.median),
            ms(r.first.p99),
            ms(r.again.median),
            ms(r.again.p99),
            ms(r.stats)
        );
    }
    if let (Some(small), Some(large)) = (rows.first(), rows.last()) {
        #[allow(clippy::cast_precision_loss)]
        let ratio = large.first.p99.as_secs_f64() / small.first.p99.as_secs_f64().max(1e-9);
        println!(
            "p99 of the first PROLOG at {} vs {} computers: {ratio:.2}x",
            large.computers, small.computers
        );
    }
    Ok(())
}

/// A store opened for one run, and whatever must live as long as it.
struct OpenStore {
    store: Arc<dyn Store>,
    _keep: Option<tempfile::TempDir>,
}

/// The store named on the command line.
async fn open_store(name: &str) -> Result<OpenStore, Box<dyn Error>> {
    match name {
        "memory" => Ok(OpenStore {
            store: Arc::new(MemoryStore::new()),
            _keep: None,
        }),
        "sqlite" => {
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}", dir.path().join("store.db").display());
            Ok(OpenStore {
                store: Arc::new(SqlStore::connect(&url).await?),
                _keep: Some(dir),
            })
        }
        url if Backend::of_url(url).is_some() => {
            let store = SqlStore::connect(url).await?;
            if !store.packages().await?.is_empty() {
                return Err(format!("{url} is not empty: give an empty database").into());
            }
            Ok(OpenStore {
                store: Arc::new(store),
                _keep: None,
            })
        }
        other => Err(format!("unknown store {other}").into()),
    }
}

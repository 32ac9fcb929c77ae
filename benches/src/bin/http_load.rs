//! An HTTP load generator for the server benchmarks: N keep-alive connections, each
//! sending one request after another for a fixed time (or until a request budget or the
//! device list is used up), then requests per second, median and p99 latency, errors and
//! bytes.
//!
//! ```text
//! # GET: fragments, one URL per line in a file (taken in turn)
//! http-load --connections 256 --duration 10 get --urls-file urls.txt --expect-len 1048576
//! # POST: PROLOG contacts, one DEVICEID per request from a list
//! http-load --connections 16 --duration 10 prolog --url http://127.0.0.1:8080/ocsinventory \
//!     --devices-file devices.txt --expect-packages 50 --once
//! ```
//!
//! Every response is checked, so a broken server cannot look fast: a GET must answer 200
//! or 206 with a body as long as its `Content-Length` (and `--expect-len`, if given); a
//! PROLOG must answer 200 with a zlib body that inflates to a `REPLY` holding a `RESPONSE`
//! (and `--expect-packages` package offers, if given). A failed check counts as an error,
//! is not timed, and makes the exit status 1.
//!
//! Each connection is its own `reqwest` client (HTTP/1.1 only, no proxy), so there are
//! exactly `--connections` TCP connections, each reused for all of its requests.

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Parser, Subcommand};
use ocs_deploy_core::protocol::compression;

#[derive(Parser)]
#[command(about = "HTTP load generator: keep-alive connections, validated responses")]
struct Args {
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Seconds to run (timing starts after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of requests before timing starts (not counted).
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// Stop after this many timed requests in all.
    #[arg(long)]
    requests: Option<u64>,
    /// A label printed with the results.
    #[arg(long, default_value = "run")]
    label: String,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// GET URLs, taken in turn from a list.
    Get {
        /// A URL (repeatable).
        #[arg(long = "url")]
        urls: Vec<String>,
        /// A file of URLs, one a line.
        #[arg(long)]
        urls_file: Option<PathBuf>,
        /// Every body must be this long.
        #[arg(long)]
        expect_len: Option<u64>,
    },
    /// POST zlib-compressed PROLOG requests, one DEVICEID per request from a list.
    Prolog {
        /// The OCS endpoint, e.g. `http://127.0.0.1:18180/ocsinventory`.
        #[arg(long)]
        url: String,
        /// A file of DEVICEIDs, one a line, taken in turn.
        #[arg(long)]
        devices_file: PathBuf,
        /// Stop when every device has been contacted once (first contacts only).
        #[arg(long)]
        once: bool,
        /// Every reply must offer this many packages.
        #[arg(long)]
        expect_packages: Option<usize>,
        /// The User-Agent (the real server refuses unknown agents' PROLOG).
        #[arg(long, default_value = "OCS-NG_unified_unix_agent_v2.10.0")]
        user_agent: String,
    },
}

/// What one connection does per request.
enum Work {
    Get {
        urls: Vec<String>,
        expect_len: Option<u64>,
    },
    Prolog {
        url: String,
        devices: Vec<String>,
        once: bool,
        expect_packages: Option<usize>,
    },
}

/// Counters shared by the connections.
struct Shared {
    work: Work,
    /// Next URL or device to use.
    next: AtomicU64,
    /// Timed requests started (for `--requests`).
    started: AtomicU64,
    budget: Option<u64>,
    timing: AtomicBool,
    stop: AtomicBool,
}

#[derive(Default)]
struct Tally {
    /// Latencies of the good timed requests, in microseconds.
    latencies: Vec<u32>,
    errors: u64,
    bytes: u64,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }
}

fn prolog_body(device: &str) -> Vec<u8> {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<REQUEST>\n  <DEVICEID>{device}</DEVICEID>\n  <QUERY>PROLOG</QUERY>\n</REQUEST>\n"
    );
    compression::encode_zlib(xml.as_bytes())
}

/// Checks a PROLOG reply; returns why it is not a good one.
fn check_prolog(body: &[u8], expect_packages: Option<usize>) -> Result<(), String> {
    let (xml, _) = compression::decode(body, 16 << 20).map_err(|e| format!("reply: {e}"))?;
    let xml = String::from_utf8_lossy(&xml);
    if !xml.contains("<REPLY") || !xml.contains("<RESPONSE>") {
        return Err(format!(
            "reply without REPLY/RESPONSE: {}",
            xml.chars().take(200).collect::<String>()
        ));
    }
    if let Some(want) = expect_packages {
        let got = xml.matches("TYPE=\"PACK\"").count() + xml.matches("TYPE='PACK'").count();
        if got != want {
            return Err(format!("{got} packages offered, {want} expected"));
        }
    }
    Ok(())
}

/// One request; `Ok(bytes)` when the response passed the checks.
async fn one(client: &reqwest::Client, shared: &Shared) -> Result<Option<u64>, String> {
    let n = shared.next.fetch_add(1, Ordering::Relaxed);
    match &shared.work {
        Work::Get { urls, expect_len } => {
            #[allow(clippy::cast_possible_truncation)]
            let url = &urls[(n % urls.len() as u64) as usize];
            let mut response = client.get(url).send().await.map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            if status != 200 && status != 206 {
                return Err(format!("GET {url}: status {status}"));
            }
            let declared = response.content_length();
            let mut got = 0u64;
            while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
                got += chunk.len() as u64;
            }
            if declared.is_some_and(|d| d != got) {
                return Err(format!(
                    "GET {url}: {got} bytes, Content-Length {declared:?}"
                ));
            }
            if expect_len.is_some_and(|e| e != got) {
                return Err(format!("GET {url}: {got} bytes, {expect_len:?} expected"));
            }
            Ok(Some(got))
        }
        Work::Prolog {
            url,
            devices,
            once,
            expect_packages,
        } => {
            let count = devices.len() as u64;
            if *once && n >= count {
                return Ok(None);
            }
            #[allow(clippy::cast_possible_truncation)]
            let device = &devices[(n % count) as usize];
            let response = client
                .post(url)
                .header("Content-Type", "application/x-compress")
                .header("Pragma", "no-cache")
                .body(Bytes::from(prolog_body(device)))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            if status != 200 {
                return Err(format!("PROLOG {device}: status {status}"));
            }
            let body = response.bytes().await.map_err(|e| e.to_string())?;
            check_prolog(&body, *expect_packages).map_err(|e| format!("PROLOG {device}: {e}"))?;
            Ok(Some(body.len() as u64))
        }
    }
}

async fn connection(client: reqwest::Client, shared: Arc<Shared>) -> Tally {
    let mut tally = Tally::default();
    while !shared.stop.load(Ordering::Relaxed) {
        let timed = shared.timing.load(Ordering::Relaxed);
        if timed
            && let Some(budget) = shared.budget
            && shared.started.fetch_add(1, Ordering::Relaxed) >= budget
        {
            break;
        }
        let started = Instant::now();
        match one(&client, &shared).await {
            Ok(None) => break,
            Ok(Some(bytes)) if timed => {
                let micros = started.elapsed().as_micros();
                tally
                    .latencies
                    .push(u32::try_from(micros).unwrap_or(u32::MAX));
                tally.bytes += bytes;
            }
            Ok(Some(_)) => {}
            Err(e) if timed => tally.error(e),
            Err(e) => {
                // A failing warm-up is as bad as a failing run.
                tally.error(format!("(warm-up) {e}"));
            }
        }
    }
    tally
}

fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = (((sorted.len() - 1) as f64) * q).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

fn lines(path: &PathBuf) -> Result<Vec<String>, Box<dyn Error>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// What each connection does, and the User-Agent it sends.
fn work(mode: Mode) -> Result<(Work, String), Box<dyn Error>> {
    let mut user_agent = "ocs-deploy-http-load".to_owned();
    let work = match mode {
        Mode::Get {
            mut urls,
            urls_file,
            expect_len,
        } => {
            if let Some(file) = urls_file {
                urls.extend(lines(&file)?);
            }
            if urls.is_empty() {
                return Err("give --url or --urls-file".into());
            }
            Work::Get { urls, expect_len }
        }
        Mode::Prolog {
            url,
            devices_file,
            once,
            expect_packages,
            user_agent: agent,
        } => {
            user_agent = agent;
            let devices = lines(&devices_file)?;
            if devices.is_empty() {
                return Err(format!("no device in {}", devices_file.display()).into());
            }
            Work::Prolog {
                url,
                devices,
                once,
                expect_packages,
            }
        }
    };
    Ok((work, user_agent))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    // reqwest is built with rustls but no provider; these runs are plain HTTP, yet the
    // client needs one installed to build.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (work, user_agent) = work(args.mode)?;
    if args.connections == 0 {
        return Err("--connections must be at least 1".into());
    }
    let shared = Arc::new(Shared {
        work,
        next: AtomicU64::new(0),
        started: AtomicU64::new(0),
        budget: args.requests,
        timing: AtomicBool::new(args.warmup <= 0.0),
        stop: AtomicBool::new(false),
    });
    let mut tasks = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let client = reqwest::Client::builder()
            .http1_only()
            .no_proxy()
            .user_agent(user_agent.clone())
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(60))
            .build()?;
        tasks.push(tokio::spawn(connection(client, Arc::clone(&shared))));
    }
    if args.warmup > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
        shared.timing.store(true, Ordering::Relaxed);
    }
    let started = Instant::now();
    let deadline = Duration::from_secs_f64(args.duration);
    // Stop at the deadline, or earlier when every connection has finished on its own
    // (request budget or device list used up).
    let watcher = {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            tokio::time::sleep(deadline).await;
            shared.stop.store(true, Ordering::Relaxed);
        })
    };
    let mut total = Tally::default();
    let mut last_done = started;
    for task in tasks {
        let tally = task.await?;
        last_done = last_done.max(Instant::now());
        total.latencies.extend(tally.latencies);
        total.errors += tally.errors;
        total.bytes += tally.bytes;
        if total.first_error.is_none() {
            total.first_error = tally.first_error;
        }
    }
    watcher.abort();
    // Requests in flight at the deadline finish and are counted: the elapsed time runs
    // to the last one.
    let elapsed = last_done.duration_since(started).as_secs_f64();
    total.latencies.sort_unstable();
    let ok = total.latencies.len();
    #[allow(clippy::cast_precision_loss)]
    let rps = ok as f64 / elapsed.max(1e-9);
    #[allow(clippy::cast_precision_loss)]
    let mib_s = total.bytes as f64 / elapsed.max(1e-9) / f64::from(1u32 << 20);
    println!(
        "{} connections={} elapsed_s={elapsed:.2} requests={ok} errors={} rps={rps:.1} median_ms={:.3} p99_ms={:.3} max_ms={:.3} bytes={} mib_per_s={mib_s:.1}",
        args.label,
        args.connections,
        total.errors,
        percentile(&total.latencies, 0.5),
        percentile(&total.latencies, 0.99),
        percentile(&total.latencies, 1.0),
        total.bytes,
    );
    if let Some(e) = total.first_error {
        eprintln!("first error: {e}");
    }
    if total.errors > 0 || ok == 0 {
        std::process::exit(1);
    }
    Ok(())
}

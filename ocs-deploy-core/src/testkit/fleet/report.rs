//! [`FleetReport`]: what a simulation measured, as a table, CSV and an SVG plot.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::time::Duration;

use super::Fleet;
use crate::schedule::Latency;
use crate::{PackageId, Priority, Timestamp};

/// One event of the traced agent ([`FleetConfig::trace_agent`](super::FleetConfig::trace_agent)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceEvent {
    /// A contact began.
    Contact,
    /// The PROLOG failed (server down or bad reply).
    ContactFailed,
    /// A PROLOG offered this package (new to the agent).
    Offered(PackageId),
    /// A new period began (its number).
    NewPeriod(u64),
    /// A pause began.
    Sleep(Latency),
    /// A fragment download began.
    Fetch {
        /// The package.
        package: PackageId,
        /// The fragment, from 1.
        fragment: u32,
    },
    /// The package was built.
    Build(PackageId),
    /// The package was installed.
    Install(PackageId),
    /// A result was sent.
    Report {
        /// The package.
        package: PackageId,
        /// The status sent.
        status: String,
        /// Whether the server took it.
        delivered: bool,
    },
    /// The schedule went idle.
    Idle,
}

/// One package's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageReport {
    /// The package.
    pub id: PackageId,
    /// Its name.
    pub name: String,
    /// Its priority.
    pub priority: Priority,
    /// Its fragments.
    pub fragments: u32,
    /// Its size in bytes.
    pub size: u64,
    /// The computers it was affected to.
    pub computers: u32,
    /// Results delivered, per status text (as the agents sent them).
    pub statuses: BTreeMap<String, u64>,
    /// When each computer's result was delivered, in milliseconds from the start, sorted.
    pub(super) completions: Vec<u64>,
}

impl PackageReport {
    /// How many computers delivered a result.
    pub fn done(&self) -> u64 {
        self.completions.len() as u64
    }

    /// How many delivered `status`.
    pub fn status_count(&self, status: &str) -> u64 {
        self.statuses.get(status).copied().unwrap_or(0)
    }

    /// The delivery times of results, from the start, sorted.
    pub fn completion_times(&self) -> impl Iterator<Item = Duration> + '_ {
        self.completions.iter().map(|&ms| Duration::from_millis(ms))
    }

    /// The time from the start until `percent` % of the computers had delivered a result
    /// (of any status); `None` if they never did.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use ocs_deploy_core::service::{DeploymentService, ServiceConfig};
    /// # use ocs_deploy_core::testkit::fleet::{Fleet, FleetConfig, PackageSpec};
    /// # use ocs_deploy_core::testkit::{MemoryFiles, MemoryStore};
    /// # futures::executor::block_on(async {
    /// # let service = Arc::new(DeploymentService::new(Arc::new(MemoryStore::new()), Arc::new(MemoryFiles::new()), ServiceConfig::default()));
    /// let config = FleetConfig { agents: 20, packages: vec![PackageSpec::new("p", 100, 2)], ..FleetConfig::default() };
    /// let report = Fleet::simulate(config, service).await?;
    /// let p = &report.packages[0];
    /// assert!(p.time_to(50) <= p.time_to(90) && p.time_to(90) <= p.time_to(100));
    /// assert_eq!(p.time_to(100), p.completion_times().last());
    /// # Ok::<(), ocs_deploy_core::testkit::fleet::FleetError>(())
    /// # }).unwrap();
    /// ```
    pub fn time_to(&self, percent: u32) -> Option<Duration> {
        let needed = (u64::from(self.computers) * u64::from(percent.min(100))).div_ceil(100);
        let index = usize::try_from(needed.max(1) - 1).ok()?;
        self.completions
            .get(index)
            .map(|&ms| Duration::from_millis(ms))
    }
}

/// One download server's load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReport {
    /// Its host name.
    pub name: String,
    /// Its bandwidth in bytes per second (0: unlimited).
    pub bandwidth: u64,
    /// Bytes of fragments it served.
    pub bytes_served: u64,
    /// Fragments it served.
    pub fragments_served: u64,
    /// The most transfers in progress at once (1 when transfers take no time).
    pub peak_concurrent: u32,
}

/// What a simulation measured. [`Display`](fmt::Display) prints the summary table;
/// [`to_csv`](Self::to_csv) and [`to_svg`](Self::to_svg) give the same figures for
/// programs and people. Everything is deterministic: the same inputs and seed give the
/// same bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetReport {
    /// Agents simulated.
    pub agents: u32,
    /// The seed.
    pub seed: u64,
    /// The virtual start.
    pub start: Timestamp,
    /// The virtual time of the last event handled.
    pub end: Timestamp,
    /// Agents that delivered a result for every package.
    pub finished_agents: u32,
    /// Per package, in the order of the configuration.
    pub packages: Vec<PackageReport>,
    /// Per download server, by name.
    pub servers: Vec<ServerReport>,
    /// Events handled by the loop.
    pub events: u64,
    /// Contacts whose PROLOG failed.
    pub failed_contacts: u64,
    /// Fragment downloads that failed (before any bandwidth was used).
    pub failed_fetches: u64,
    /// Result posts the server did not take (sent again later).
    pub undelivered_results: u64,
    /// The traced agent's events.
    pub trace: Vec<(Timestamp, TraceEvent)>,
}

// The plot's geometry.
const W: f64 = 800.0;
const H: f64 = 450.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// `1h02m03.5s`-style durations for people.
fn human(d: Duration) -> String {
    let ms = d.as_millis();
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, frac) = (rest / 1000, rest % 1000);
    let frac = if frac == 0 {
        String::new()
    } else {
        format!(".{}", frac / 100)
    };
    match (h, m) {
        (0, 0) => format!("{s}{frac}s"),
        (0, m) => format!("{m}m{s:02}{frac}s"),
        (h, m) => format!("{h}h{m:02}m{s:02}{frac}s"),
    }
}

/// Seconds with millisecond precision, for CSV.
fn secs(d: Duration) -> String {
    let ms = d.as_millis();
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

fn opt_human(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".to_owned(), human)
}

impl FleetReport {
    pub(super) fn new(fleet: &Fleet) -> Self {
        let config = &fleet.config;
        Self {
            agents: config.agents,
            seed: config.seed,
            start: config.start,
            end: config.start,
            finished_agents: 0,
            packages: config
                .packages
                .iter()
                .zip(&fleet.packages)
                .map(|(spec, &id)| PackageReport {
                    id,
                    name: spec.name.clone(),
                    priority: spec.priority,
                    fragments: spec.fragments,
                    size: spec.size,
                    computers: config.agents,
                    statuses: BTreeMap::new(),
                    completions: Vec::new(),
                })
                .collect(),
            servers: Vec::new(),
            events: 0,
            failed_contacts: 0,
            failed_fetches: 0,
            undelivered_results: 0,
            trace: Vec::new(),
        }
    }

    /// Whether every agent delivered a result for every package.
    pub fn all_finished(&self) -> bool {
        self.finished_agents == self.agents
    }

    /// The virtual time the simulation covered.
    pub fn elapsed(&self) -> Duration {
        self.end.duration_since(self.start)
    }

    /// The figures as CSV, one `section,key,metric,value` row per figure: `run` (`agents`,
    /// `seed`, `finished_agents`, `elapsed_s`, `events`, failures), `package` (per package
    /// id: `name`, `priority`, `fragments`, `size`, `computers`, `done`, `t50_s`, `t90_s`,
    /// `t100_s`), `status` (per package id and status: the count) and `server` (per name:
    /// `bandwidth`, `bytes_served`, `fragments_served`, `peak_concurrent`). Times are
    /// seconds with milliseconds; a time never reached is empty.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use ocs_deploy_core::service::{DeploymentService, ServiceConfig};
    /// # use ocs_deploy_core::testkit::fleet::{Fleet, FleetConfig, PackageSpec};
    /// # use ocs_deploy_core::testkit::{MemoryFiles, MemoryStore};
    /// # futures::executor::block_on(async {
    /// # let service = Arc::new(DeploymentService::new(Arc::new(MemoryStore::new()), Arc::new(MemoryFiles::new()), ServiceConfig::default()));
    /// let config = FleetConfig { agents: 3, packages: vec![PackageSpec::new("p", 100, 2)], ..FleetConfig::default() };
    /// let csv = Fleet::simulate(config, service).await?.to_csv();
    /// assert!(csv.starts_with("section,key,metric,value\n"));
    /// assert!(csv.contains(",SUCCESS,3\n"));
    /// # Ok::<(), ocs_deploy_core::testkit::fleet::FleetError>(())
    /// # }).unwrap();
    /// ```
    pub fn to_csv(&self) -> String {
        let mut out = String::from("section,key,metric,value\n");
        let mut row = |section: &str, key: &str, metric: &str, value: String| {
            let _ = writeln!(
                out,
                "{section},{},{metric},{}",
                csv_field(key),
                csv_field(&value)
            );
        };
        row("run", "", "agents", self.agents.to_string());
        row("run", "", "seed", self.seed.to_string());
        row(
            "run",
            "",
            "finished_agents",
            self.finished_agents.to_string(),
        );
        row("run", "", "elapsed_s", secs(self.elapsed()));
        row("run", "", "events", self.events.to_string());
        row(
            "run",
            "",
            "failed_contacts",
            self.failed_contacts.to_string(),
        );
        row("run", "", "failed_fetches", self.failed_fetches.to_string());
        row(
            "run",
            "",
            "undelivered_results",
            self.undelivered_results.to_string(),
        );
        for p in &self.packages {
            let key = p.id.to_string();
            row("package", &key, "name", p.name.clone());
            row("package", &key, "priority", p.priority.get().to_string());
            row("package", &key, "fragments", p.fragments.to_string());
            row("package", &key, "size", p.size.to_string());
            row("package", &key, "computers", p.computers.to_string());
            row("package", &key, "done", p.done().to_string());
            for pct in [50, 90, 100] {
                row(
                    "package",
                    &key,
                    &format!("t{pct}_s"),
                    p.time_to(pct).map(secs).unwrap_or_default(),
                );
            }
        }
        for p in &self.packages {
            for (status, count) in &p.statuses {
                row("status", &p.id.to_string(), status, count.to_string());
            }
        }
        for s in &self.servers {
            row("server", &s.name, "bandwidth", s.bandwidth.to_string());
            row(
                "server",
                &s.name,
                "bytes_served",
                s.bytes_served.to_string(),
            );
            row(
                "server",
                &s.name,
                "fragments_served",
                s.fragments_served.to_string(),
            );
            row(
                "server",
                &s.name,
                "peak_concurrent",
                s.peak_concurrent.to_string(),
            );
        }
        out
    }

    /// A line plot of the share of computers done over virtual time, one line per
    /// package, as a standalone SVG document (no dependency, fixed number formatting).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use ocs_deploy_core::service::{DeploymentService, ServiceConfig};
    /// # use ocs_deploy_core::testkit::fleet::{Fleet, FleetConfig, PackageSpec};
    /// # use ocs_deploy_core::testkit::{MemoryFiles, MemoryStore};
    /// # futures::executor::block_on(async {
    /// # let service = Arc::new(DeploymentService::new(Arc::new(MemoryStore::new()), Arc::new(MemoryFiles::new()), ServiceConfig::default()));
    /// let config = FleetConfig { agents: 20, packages: vec![PackageSpec::new("p", 100, 2)], ..FleetConfig::default() };
    /// let svg = Fleet::simulate(config, service).await?.to_svg();
    /// assert!(svg.starts_with("<svg") && svg.contains("<polyline"));
    /// # Ok::<(), ocs_deploy_core::testkit::fleet::FleetError>(())
    /// # }).unwrap();
    /// ```
    pub fn to_svg(&self) -> String {
        let plot_w = W - LEFT - RIGHT;
        let plot_h = H - TOP - BOTTOM;
        let latest = self
            .packages
            .iter()
            .filter_map(|p| p.completions.last().copied())
            .max()
            .unwrap_or(0)
            .max(1);
        let (unit, unit_ms) = if latest >= 2 * 3_600_000 {
            ("h", 3_600_000)
        } else if latest >= 2 * 60_000 {
            ("min", 60_000)
        } else {
            ("s", 1000)
        };
        // A round tick step (1, 2 or 5 times a power of ten units) giving at most 6
        // intervals; the axis ends on a tick.
        let step = nice_step(latest, unit_ms);
        let ticks = latest.div_ceil(step);
        let last = step * ticks;
        #[allow(clippy::cast_precision_loss)] // virtual times far below 2^52 ms
        let x_of = |ms: u64| LEFT + ms as f64 / last as f64 * plot_w;
        let y_of = |pct: f64| TOP + (100.0 - pct) / 100.0 * plot_h;
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{LEFT}" y="22" font-size="15">Computers done over time ({} agents, seed {})</text>"#,
            self.agents, self.seed
        );
        // Grid and axes.
        for k in 0..=4 {
            let pct = f64::from(k) * 25.0;
            let y = y_of(pct);
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{pct:.0}%</text>"##,
                LEFT + plot_w,
                LEFT - 6.0,
                y + 4.0
            );
        }
        for k in 0..=ticks {
            let ms = step * k;
            let x = x_of(ms);
            #[allow(clippy::cast_precision_loss)]
            let label = ms as f64 / unit_ms as f64;
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#eee"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
                TOP + plot_h,
                TOP + plot_h + 16.0
            );
        }
        let _ = writeln!(
            s,
            r#"<rect x="{LEFT}" y="{TOP}" width="{plot_w:.1}" height="{plot_h:.1}" fill="none" stroke="black"/>"#
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">virtual time ({unit})</text>"#,
            LEFT + plot_w / 2.0,
            H - 18.0
        );
        let _ = writeln!(
            s,
            r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">computers with a result</text>"#,
            TOP + plot_h / 2.0,
            TOP + plot_h / 2.0
        );
        for (n, p) in self.packages.iter().enumerate() {
            svg_series(&mut s, n, p, &x_of, &y_of);
        }
        s.push_str("</svg>\n");
        s
    }
}

/// A tick step in milliseconds: 1, 2 or 5 times a power of ten `unit_ms`, the smallest
/// that covers `latest` in at most 6 steps.
fn nice_step(latest: u64, unit_ms: u64) -> u64 {
    let mut power = unit_ms.max(1);
    loop {
        for m in [1, 2, 5] {
            let step = power.saturating_mul(m);
            if latest.div_ceil(step) <= 6 {
                return step;
            }
        }
        power = power.saturating_mul(10);
    }
}

/// One package's line and legend entry.
fn svg_series(
    s: &mut String,
    n: usize,
    p: &PackageReport,
    x_of: &dyn Fn(u64) -> f64,
    y_of: &dyn Fn(f64) -> f64,
) {
    let plot_w = W - LEFT - RIGHT;
    let color = COLORS[n % COLORS.len()];
    let total = f64::from(p.computers.max(1));
    let count = p.completions.len();
    let every = count.div_ceil(400).max(1);
    let mut points = format!("{:.1},{:.1}", x_of(0), y_of(0.0));
    for (i, &ms) in p.completions.iter().enumerate() {
        if (i + 1) % every == 0 || i + 1 == count {
            #[allow(clippy::cast_precision_loss)]
            let pct = (i + 1) as f64 / total * 100.0;
            let _ = write!(points, " {:.1},{:.1}", x_of(ms), y_of(pct));
        }
    }
    let _ = writeln!(
        s,
        r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{points}"/>"#
    );
    let ly = TOP + 10.0 + 20.0 * f64::from(u32::try_from(n).unwrap_or(0));
    let lx = LEFT + plot_w + 12.0;
    let _ = writeln!(
        s,
        r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{} (pri {})</text>"#,
        lx + 18.0,
        lx + 24.0,
        ly + 4.0,
        xml_escape(&p.name),
        p.priority.get()
    );
}

fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_owned()
    }
}

fn xml_escape(v: &str) -> String {
    v.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl fmt::Display for FleetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Fleet simulation: {} agents, {} packages, seed {}: {}/{} agents finished in {} of virtual time ({} events)",
            self.agents,
            self.packages.len(),
            self.seed,
            self.finished_agents,
            self.agents,
            human(self.elapsed()),
            self.events
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "{:<12} {:<16} {:>3} {:>5} {:>15} {:>12} {:>12} {:>12}",
            "package", "name", "pri", "frags", "done", "t50", "t90", "t100"
        )?;
        for p in &self.packages {
            writeln!(
                f,
                "{:<12} {:<16} {:>3} {:>5} {:>15} {:>12} {:>12} {:>12}",
                p.id.to_string(),
                p.name,
                p.priority.get(),
                p.fragments,
                format!("{}/{}", p.done(), p.computers),
                opt_human(p.time_to(50)),
                opt_human(p.time_to(90)),
                opt_human(p.time_to(100)),
            )?;
        }
        writeln!(f)?;
        writeln!(f, "{:<12} {:<28} {:>10}", "package", "status", "computers")?;
        for p in &self.packages {
            for (status, count) in &p.statuses {
                writeln!(f, "{:<12} {:<28} {:>10}", p.id.to_string(), status, count)?;
            }
            let missing = u64::from(p.computers).saturating_sub(p.done());
            if missing > 0 {
                writeln!(
                    f,
                    "{:<12} {:<28} {:>10}",
                    p.id.to_string(),
                    "(no result)",
                    missing
                )?;
            }
        }
        writeln!(f)?;
        writeln!(
            f,
            "{:<20} {:>14} {:>16} {:>10} {:>8}",
            "download server", "bandwidth B/s", "bytes served", "fragments", "peak"
        )?;
        for s in &self.servers {
            let bandwidth = if s.bandwidth == 0 {
                "unlimited".to_owned()
            } else {
                s.bandwidth.to_string()
            };
            writeln!(
                f,
                "{:<20} {:>14} {:>16} {:>10} {:>8}",
                s.name, bandwidth, s.bytes_served, s.fragments_served, s.peak_concurrent
            )?;
        }
        if self.failed_contacts + self.failed_fetches + self.undelivered_results > 0 {
            writeln!(f)?;
            writeln!(
                f,
                "failed contacts: {}, failed fragment downloads: {}, results sent again: {}",
                self.failed_contacts, self.failed_fetches, self.undelivered_results
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::human;
    use std::time::Duration;

    #[test]
    fn tick_steps_are_round() {
        assert_eq!(super::nice_step(5 * 3_600_000 + 1, 3_600_000), 3_600_000);
        assert_eq!(super::nice_step(90 * 60_000, 60_000), 20 * 60_000);
        assert_eq!(super::nice_step(500, 1000), 1000);
        assert_eq!(super::nice_step(u64::MAX, 1000), 5_000_000_000_000_000_000);
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human(Duration::from_secs(62)), "1m02s");
        assert_eq!(human(Duration::from_secs(3723)), "1h02m03s");
    }
}

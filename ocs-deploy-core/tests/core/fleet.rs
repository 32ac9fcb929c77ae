//! The fleet simulator: one agent against the real Unix agent's trace and the closed form
//! of the schedule, the statuses against the store, determinism, faults, executors and
//! download servers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::executor::block_on;
use ocs_deploy_core::agent::{InstallOutcome, ResultStyle};
use ocs_deploy_core::schedule::Latency;
use ocs_deploy_core::service::{DeploymentService, ServiceConfig};
use ocs_deploy_core::testkit::fleet::{
    DownloadServer, Fleet, FleetConfig, FleetReport, PackageSpec, TraceEvent,
};
use ocs_deploy_core::testkit::{
    DownWindow, Faults, MemoryFiles, MemoryStore, Script, VirtualClock,
};
use ocs_deploy_core::{Priority, Timestamp};
use proptest::prelude::*;

use crate::schedule::{closed_form, config as latencies};

fn service() -> Arc<DeploymentService> {
    Arc::new(DeploymentService::new(
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryFiles::new()),
        ServiceConfig::default(),
    ))
}

/// `agents` agents and `packages`, contacting at the start, without jitter.
fn base(agents: u32, packages: Vec<PackageSpec>) -> FleetConfig {
    FleetConfig {
        agents,
        packages,
        first_contact_within: Duration::ZERO,
        contact_jitter: Duration::ZERO,
        ..FleetConfig::default()
    }
}

fn simulate(config: FleetConfig) -> FleetReport {
    block_on(Fleet::simulate(config, service())).expect("the simulation runs")
}

/// The real agent's trace vocabulary (see `schedule.rs`), from the simulator's trace.
fn trace_events(report: &FleetReport) -> Vec<String> {
    let mut events = Vec::new();
    let mut begun = false;
    for (_, event) in &report.trace {
        match event {
            TraceEvent::Offered(_) => begun = true,
            _ if !begun => {}
            TraceEvent::NewPeriod(_) => {
                events.push("check timeout".to_owned());
                events.push("new period".to_owned());
            }
            TraceEvent::Sleep(Latency::Cycle) => events.push("cycle latency".to_owned()),
            TraceEvent::Sleep(Latency::Fragment) => events.push("fragment latency".to_owned()),
            TraceEvent::Fetch { package, fragment } => {
                events.push(format!("download {package}-{fragment}"));
            }
            TraceEvent::Build(_) => events.push("build and run".to_owned()),
            TraceEvent::Idle => {
                events.push("done".to_owned());
                break;
            }
            _ => {}
        }
    }
    events
}

/// The real agent's log, in the same vocabulary (as `schedule.rs` reads it).
fn real_agent_events() -> Vec<String> {
    let log = String::from_utf8(crate::reference::read("real-agent/download-log.txt")).unwrap();
    let mut events = Vec::new();
    for line in log
        .lines()
        .skip_while(|l| !l.contains("Beginning work"))
        .skip(1)
    {
        if line.contains("Checking timeout for") {
            events.push("check timeout".to_owned());
        } else if line.contains("New period") {
            events.push("new period".to_owned());
        } else if line.contains("pausing for a cycle latency") {
            events.push("cycle latency".to_owned());
        } else if line.contains("pausing for a fragment latency") {
            events.push("fragment latency".to_owned());
        } else if let Some(rest) = line.split("Downloading ").nth(1) {
            events.push(format!("download {}", rest.trim()));
        } else if line.contains("Execute orders for package") {
            events.push("build and run".to_owned());
        } else if line.contains("No more package to download") {
            events.push("done".to_owned());
        }
    }
    events
}

/// The attribute `name` of the real agent's DOWNLOAD result.
fn reference_result(name: &str) -> String {
    let xml = String::from_utf8(crate::reference::read("real-agent/download-result.xml")).unwrap();
    let start = xml.find(&format!(" {name}=\"")).expect("attribute") + name.len() + 3;
    xml[start..].split('"').next().unwrap().to_owned()
}

#[test]
fn one_agent_reproduces_the_real_unix_agents_trace_and_result() {
    // As in the real agent's PROLOG reply: latencies 0, ten cycles, one Launch package of
    // priority 5 in two fragments, id 1700000000 (the service numbers packages from the
    // build time).
    let id: u64 = reference_result("ID").parse().unwrap();
    let mut config = base(1, vec![PackageSpec::new("real", 64, 2)]);
    config.start = Timestamp::from_secs(id);
    config.download = latencies(0, 0, 0, 10);
    config.result_style = ResultStyle::UnixAgent;
    config.trace_agent = Some(0);
    let report = simulate(config);
    assert_eq!(report.packages[0].id.get(), id);
    let real = real_agent_events();
    assert!(real.len() > 30, "the log was read: {real:?}");
    assert_eq!(trace_events(&report), real);
    // The real agent posted SUCCESS_0; so did the simulated one.
    let status = reference_result("ERR");
    assert_eq!(report.packages[0].status_count(&status), 1, "{report}");
    assert!(report.all_finished());
}

fn one_agent_completion(
    p: u8,
    length: u32,
    fragments: u32,
    frag: u64,
    cycle: u64,
    period: u64,
) -> (FleetReport, u64) {
    let mut spec = PackageSpec::new("one", u64::from(fragments) * 10, fragments);
    spec.priority = Priority::new(p).unwrap();
    let mut config = base(1, vec![spec]);
    config.download = latencies(frag, cycle, period, length);
    let report = simulate(config);
    // Fragments, then the build and install: one step more.
    let expected = closed_form(u32::from(p), length, fragments + 1, frag, cycle, period);
    (report, expected)
}

#[test]
fn one_agent_completes_at_the_closed_form_time_with_ocs_defaults() {
    // Priority 5, ten fragments, the OCS defaults (10 s, 60 s, 1 s, ten cycles).
    let (report, expected) = one_agent_completion(5, 10, 10, 10, 60, 1);
    assert_eq!(
        report.packages[0].time_to(100),
        Some(Duration::from_secs(expected))
    );
    assert!(expected > 3_000, "several periods: {expected}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn one_agent_completes_at_the_closed_form_time(
        p in 1u8..=10,
        length in 1u32..=12,
        fragments in 1u32..=8,
        frag in 0u64..=30,
        cycle in 0u64..=90,
        period in 0u64..=30,
    ) {
        prop_assume!(u32::from(p) <= length);
        let (report, expected) = one_agent_completion(p, length, fragments, frag, cycle, period);
        prop_assert_eq!(report.packages[0].time_to(100), Some(Duration::from_secs(expected)));
    }
}

/// A fleet with faults and failing installs, on the given service; returns the report.
fn eventful(service: &Arc<DeploymentService>, seed: u64) -> FleetReport {
    let mut failing = PackageSpec::new("failing", 2_000, 5);
    failing.script = Script::exit(0).failing(0.3, InstallOutcome::Exited(3));
    let mut exclusive = PackageSpec::new("urgent", 900, 3);
    exclusive.priority = Priority::new(0).unwrap();
    let mut config = base(
        300,
        vec![PackageSpec::new("tools", 5_000, 10), failing, exclusive],
    );
    config.seed = seed;
    config.first_contact_within = Duration::from_secs(1800);
    config.contact_jitter = Duration::from_secs(120);
    config.servers = vec![
        DownloadServer::new("paris", 20_000),
        DownloadServer::new("lyon", 5_000),
    ];
    config.faults = Faults {
        fragment_loss: 0.05,
        fragment_corruption: 0.05,
        ..Faults::default()
    };
    block_on(Fleet::simulate(config, Arc::clone(service))).unwrap()
}

#[test]
fn the_statuses_reported_are_those_the_store_holds() {
    let service = service();
    let report = eventful(&service, 11);
    assert!(report.all_finished(), "{report}");
    for p in &report.packages {
        let stats = block_on(service.stats(p.id)).unwrap();
        assert_eq!(stats.total, u64::from(p.computers));
        let stored: BTreeMap<String, u64> = stats
            .statuses
            .iter()
            .map(|s| {
                (
                    s.status.clone().unwrap_or_else(|| "(waiting)".into()),
                    s.count,
                )
            })
            .collect();
        assert_eq!(stored, p.statuses, "package {}", p.name);
    }
    // The failing package really has both kinds of results.
    let failing = &report.packages[1];
    assert!(failing.status_count("ERR_EXIT_CODE_3") > 0, "{report}");
    assert!(failing.status_count("SUCCESS") > 0, "{report}");
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_does_not() {
    let a = eventful(&service(), 5);
    let b = eventful(&service(), 5);
    let c = eventful(&service(), 6);
    assert_eq!(a.to_csv(), b.to_csv());
    assert_eq!(a.to_svg(), b.to_svg());
    assert_eq!(a.to_string(), b.to_string());
    assert_ne!(a.to_csv(), c.to_csv());
    assert_ne!(a.to_svg(), c.to_svg());
}

#[test]
fn lost_and_corrupted_fragments_are_fetched_again_and_the_fleet_completes() {
    let mut config = base(200, vec![PackageSpec::new("p", 2_000, 10)]);
    config.faults = Faults {
        fragment_loss: 0.05,
        fragment_corruption: 0.05,
        ..Faults::default()
    };
    let fleet = block_on(Fleet::setup(config, service())).unwrap();
    let clock = VirtualClock::new(fleet.config().start);
    let transport = fleet.loopback(&clock);
    let executor = fleet.scripted_executor(&clock);
    let report = block_on(fleet.run(&transport, &executor, &clock)).unwrap();
    let counts = transport.counts();
    assert!(counts.lost > 0 && counts.corrupted > 0, "{counts:?}");
    assert!(report.all_finished(), "{report}");
    let p = &report.packages[0];
    // Five failures in a row of one fragment give ERR_DOWNLOAD_PACK: rare at these rates.
    assert_eq!(
        p.status_count("SUCCESS") + p.status_count("ERR_DOWNLOAD_PACK"),
        200,
        "{report}"
    );
    assert!(p.status_count("SUCCESS") >= 195, "{report}");
    // Every fragment a computer kept was served once, and the corrupted ones again.
    let served: u64 = report.servers.iter().map(|s| s.fragments_served).sum();
    assert!(
        served >= 10 * p.status_count("SUCCESS") + counts.corrupted,
        "{report}"
    );
    assert_eq!(report.failed_fetches, counts.lost);
}

#[test]
fn a_server_down_window_delays_the_deployment() {
    let config = || {
        let mut c = base(50, vec![PackageSpec::new("p", 1_000, 4)]);
        c.first_contact_within = Duration::from_secs(600);
        c
    };
    let normal = simulate(config());
    let mut down = config();
    let until = down.start + Duration::from_secs(7200);
    down.faults.down.push(DownWindow {
        host: None,
        from: down.start,
        until,
    });
    let delayed = simulate(down);
    assert!(normal.all_finished() && delayed.all_finished());
    assert!(delayed.failed_contacts >= 50, "{delayed}");
    let first = delayed.packages[0].completion_times().next().unwrap();
    assert!(
        first >= Duration::from_secs(7200),
        "no result before the server is back: {first:?}"
    );
    assert!(delayed.packages[0].time_to(100) > normal.packages[0].time_to(100));
}

#[test]
fn a_missing_info_file_ends_err_download_info() {
    let mut missing = PackageSpec::new("missing", 1_000, 4);
    missing.info_missing = true;
    let report = simulate(base(20, vec![PackageSpec::new("fine", 1_000, 4), missing]));
    assert!(report.all_finished());
    assert_eq!(
        report.packages[0].statuses,
        BTreeMap::from([("SUCCESS".into(), 20)])
    );
    assert_eq!(
        report.packages[1].statuses,
        BTreeMap::from([("ERR_DOWNLOAD_INFO".into(), 20)])
    );
}

#[test]
fn scripted_install_failures_give_the_scripted_status() {
    let mut exit = PackageSpec::new("exit", 1_000, 2);
    exit.script = Script::exit(7);
    let mut start = PackageSpec::new("start", 1_000, 2);
    start.script = Script::outcome(InstallOutcome::StartFailed);
    let mut slow = PackageSpec::new("slow", 1_000, 2);
    slow.script = Script::exit(0).taking(Duration::from_secs(900));
    let report = simulate(base(10, vec![exit, start, slow]));
    assert_eq!(
        report.packages[0].statuses,
        BTreeMap::from([("ERR_EXIT_CODE_7".into(), 10)])
    );
    assert_eq!(
        report.packages[1].statuses,
        BTreeMap::from([("ERR_EXECUTE".into(), 10)])
    );
    assert_eq!(
        report.packages[2].statuses,
        BTreeMap::from([("SUCCESS".into(), 10)])
    );
}

#[test]
fn an_install_duration_moves_the_completion_by_as_much() {
    let run = |secs| {
        let mut spec = PackageSpec::new("p", 1_000, 2);
        spec.script = Script::exit(0).taking(Duration::from_secs(secs));
        simulate(base(1, vec![spec])).packages[0]
            .time_to(100)
            .unwrap()
    };
    assert_eq!(run(900).checked_sub(run(0)), Some(Duration::from_secs(900)));
}

#[test]
fn sites_share_the_load_by_weight_and_bandwidth_is_shared() {
    let mut config = base(400, vec![PackageSpec::new("p", 10_000, 10)]);
    config.servers = vec![
        DownloadServer {
            name: "big".into(),
            bandwidth: 50_000,
            weight: 3,
        },
        DownloadServer::new("small", 50_000),
    ];
    let report = simulate(config);
    assert!(report.all_finished(), "{report}");
    let by_name: BTreeMap<&str, _> = report
        .servers
        .iter()
        .map(|s| (s.name.as_str(), s))
        .collect();
    assert_eq!(by_name["big"].bytes_served, 300 * 10_000);
    assert_eq!(by_name["small"].bytes_served, 100 * 10_000);
    // 400 computers starting together: downloads overlap.
    assert!(by_name["big"].peak_concurrent > 1, "{report}");
    assert!(by_name["big"].peak_concurrent <= 300);
}

#[test]
fn a_slow_server_slows_its_site() {
    let config = |slow: bool| {
        let mut c = base(100, vec![PackageSpec::new("p", 100_000, 10)]);
        c.servers = vec![DownloadServer::new("mirror", 10_000)];
        if slow {
            c.faults.slow_servers.insert("mirror".into(), 4.0);
        }
        c
    };
    let normal = simulate(config(false));
    let slow = simulate(config(true));
    assert!(slow.packages[0].time_to(100) > normal.packages[0].time_to(100));
    assert_eq!(slow.servers[0].bytes_served, normal.servers[0].bytes_served);
}

#[test]
fn bad_configurations_are_refused_with_a_reason() {
    let err = block_on(Fleet::setup(
        base(0, vec![PackageSpec::new("p", 10, 1)]),
        service(),
    ))
    .unwrap_err();
    assert!(err.to_string().contains("no agent"), "{err}");
    let err = block_on(Fleet::setup(
        base(1, vec![PackageSpec::new("p", 2, 5)]),
        service(),
    ))
    .unwrap_err();
    assert!(err.to_string().contains("cannot make 5 fragments"), "{err}");
    let mut never = PackageSpec::new("never", 10, 1);
    never.priority = Priority::new(9).unwrap();
    let mut config = base(1, vec![never]);
    config.download = latencies(0, 0, 0, 5);
    let err = block_on(Fleet::setup(config, service())).unwrap_err();
    assert!(err.to_string().contains("never served"), "{err}");
    let mut config = base(1, vec![PackageSpec::new("p", 10, 1)]);
    config.contact_every = Duration::ZERO;
    assert!(block_on(Fleet::setup(config, service())).is_err());
}

#[test]
fn the_outputs_carry_the_figures() {
    let report = eventful(&service(), 3);
    let csv = report.to_csv();
    for p in &report.packages {
        let t90 = p.time_to(90).unwrap();
        let ms = t90.as_millis();
        assert!(
            csv.contains(&format!(
                "package,{},t90_s,{}.{:03}\n",
                p.id,
                ms / 1000,
                ms % 1000
            )),
            "{csv}"
        );
    }
    let svg = report.to_svg();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<polyline").count(), 3);
    let table = report.to_string();
    assert!(
        table.contains("paris") && table.contains("ERR_EXIT_CODE_3"),
        "{table}"
    );
}

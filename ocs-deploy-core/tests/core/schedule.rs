//! The download schedule: the real Unix agent's trace, the closed form of a package's
//! completion time, and properties over random package sets.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ocs_deploy_core::protocol::DownloadConfig;
use ocs_deploy_core::schedule::{Latency, Next, Scheduler};
use ocs_deploy_core::{PackageId, Priority, Timestamp};
use proptest::prelude::*;

/// A download configuration with these latencies (seconds) and period length.
pub(crate) fn config(frag: u64, cycle: u64, period: u64, length: u32) -> DownloadConfig {
    DownloadConfig {
        fragment_latency: Duration::from_secs(frag),
        cycle_latency: Duration::from_secs(cycle),
        period_latency: Duration::from_secs(period),
        period_length: length,
        ..DownloadConfig::default()
    }
}

fn id(n: u64) -> PackageId {
    PackageId::new(1_700_000_000 + n).unwrap()
}

fn pri(p: u8) -> Priority {
    Priority::new(p).unwrap()
}

/// One step of a package, as a driver saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StepSeen {
    package: PackageId,
    period: u64,
    cycle: u32,
    at: Timestamp,
}

/// What a run did.
#[derive(Debug, Default)]
struct Run {
    steps: Vec<StepSeen>,
    /// When each package's last step ended.
    finished: BTreeMap<PackageId, Timestamp>,
    timed_out: Vec<PackageId>,
    /// Packages blocked while each step ran.
    blocked_during: Vec<(PackageId, Vec<PackageId>)>,
    end: Timestamp,
}

/// Drives a scheduler to the end in virtual time; each package needs `steps[id]` steps,
/// each taking `step_time`. Stops after `limit` polls.
fn drive(
    scheduler: &mut Scheduler,
    mut steps: BTreeMap<PackageId, u32>,
    step_time: Duration,
    limit: usize,
) -> Run {
    let mut now = Timestamp::from_secs(0);
    let mut run = Run::default();
    for _ in 0..limit {
        match scheduler.poll(now) {
            Next::Step(package) => {
                run.steps.push(StepSeen {
                    package,
                    period: scheduler.period(),
                    cycle: scheduler.cycle(),
                    at: now,
                });
                run.blocked_during
                    .push((package, scheduler.blocked().to_vec()));
                now = now + step_time;
                let left = steps.get_mut(&package).expect("a known package");
                *left -= 1;
                if *left == 0 {
                    scheduler.remove(package);
                    run.finished.insert(package, now);
                }
                scheduler.step_done(package, now);
            }
            Next::Sleep { until, .. } => {
                assert!(until >= now, "sleeps never go back in time");
                now = until;
            }
            Next::TimedOut(package) => run.timed_out.push(package),
            Next::InProgress(package) => panic!("{package} reported in progress"),
            Next::Idle => {
                run.end = now;
                return run;
            }
        }
    }
    run.end = now;
    run
}

/// The real Unix agent's download log, reduced to the lines the schedule explains.
fn real_agent_events() -> Vec<String> {
    let log = String::from_utf8(crate::reference::read("real-agent/download-log.txt"))
        .expect("the real agent's log is text");
    let begun = log
        .lines()
        .skip_while(|l| !l.contains("Beginning work"))
        .skip(1);
    let mut events = Vec::new();
    for line in begun {
        let line = line.trim();
        if line.contains("Checking timeout for") {
            events.push("check timeout".to_owned());
        } else if line.contains("New period") {
            events.push("new period".to_owned());
        } else if line.contains("pausing for a cycle latency") {
            events.push("cycle latency".to_owned());
        } else if line.contains("pausing for a fragment latency") {
            events.push("fragment latency".to_owned());
        } else if let Some(rest) = line.split("Downloading ").nth(1) {
            events.push(format!("download {rest}"));
        } else if line.contains("Execute orders for package") {
            events.push("build and run".to_owned());
        } else if line.contains("No more package to download") {
            events.push("done".to_owned());
        }
    }
    events
}

/// The same vocabulary, from our scheduler: a package of priority 5 with two fragments,
/// as in the real agent's PROLOG reply (latencies 0, period length 10).
fn our_events() -> Vec<String> {
    let package = PackageId::new(1_700_000_000).unwrap();
    let mut scheduler = Scheduler::new(&config(0, 0, 0, 10));
    let now = Timestamp::from_secs(1_000);
    scheduler.add(package, pri(5), now);
    let mut fragments_left = 2;
    let mut period = 0;
    let mut events = Vec::new();
    for _ in 0..1_000 {
        let next = scheduler.poll(now);
        if scheduler.period() != period {
            period = scheduler.period();
            events.push("check timeout".to_owned());
            events.push("new period".to_owned());
        }
        match next {
            Next::Step(p) => {
                if fragments_left > 0 {
                    events.push(format!("download {p}-{}", 3 - fragments_left));
                    fragments_left -= 1;
                } else {
                    events.push("build and run".to_owned());
                    scheduler.remove(p);
                }
                scheduler.step_done(p, now);
            }
            Next::Sleep {
                latency: Latency::Cycle,
                ..
            } => events.push("cycle latency".to_owned()),
            Next::Sleep {
                latency: Latency::Fragment,
                ..
            } => events.push("fragment latency".to_owned()),
            // The Unix agent does not log its period latency.
            Next::Sleep {
                latency: Latency::Period,
                ..
            } => {}
            Next::Idle => {
                events.push("done".to_owned());
                return events;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    panic!("the schedule did not end");
}

#[test]
fn reproduces_the_real_unix_agents_trace_step_by_step() {
    let real = real_agent_events();
    assert!(real.len() > 30, "the log was read: {real:?}");
    assert_eq!(our_events(), real);
}

#[test]
fn the_real_agents_package_steps_in_cycles_5_10_and_5() {
    let mut scheduler = Scheduler::new(&config(10, 60, 1, 10));
    scheduler.add(id(0), pri(5), Timestamp::from_secs(0));
    let run = drive(
        &mut scheduler,
        BTreeMap::from([(id(0), 3)]),
        Duration::ZERO,
        1_000,
    );
    let cycles: Vec<(u64, u32)> = run.steps.iter().map(|s| (s.period, s.cycle)).collect();
    assert_eq!(cycles, vec![(1, 5), (1, 10), (2, 5)]);
    // Closed form: one period is 10 cycle latencies, 2 fragment latencies and the period
    // latency; the third step starts after 4 more cycle latencies.
    let period = 10 * 60 + 2 * 10 + 1;
    assert_eq!(
        run.steps[2].at,
        Timestamp::from_secs(period + 4 * 60),
        "{run:?}"
    );
}

/// When the last of `steps` steps of a lone package of priority `p` ends, with zero-time
/// steps: the closed form of the schedule.
pub(crate) fn closed_form(
    p: u32,
    length: u32,
    steps: u32,
    frag: u64,
    cycle: u64,
    period: u64,
) -> u64 {
    let per_period = length / p; // steps a period
    let period_time = u64::from(length) * cycle + u64::from(per_period) * frag + period;
    let last = steps - 1; // 0-based index of the last step
    let periods_before = u64::from(last / per_period);
    let index_in_period = last % per_period; // steps before it in its period
    let its_cycle = (index_in_period + 1) * p;
    periods_before * period_time
        + u64::from(its_cycle - 1) * cycle
        + u64::from(index_in_period) * frag
}

proptest! {
    #[test]
    fn a_lone_package_completes_at_the_closed_form_time(
        p in 1u8..=10,
        length in 1u32..=12,
        steps in 1u32..=12,
        frag in 0u64..=30,
        cycle in 0u64..=90,
        period in 0u64..=30,
    ) {
        prop_assume!(u32::from(p) <= length);
        let mut scheduler = Scheduler::new(&config(frag, cycle, period, length));
        scheduler.add(id(1), pri(p), Timestamp::from_secs(0));
        let run = drive(&mut scheduler, BTreeMap::from([(id(1), steps)]), Duration::ZERO, 100_000);
        let expected = closed_form(u32::from(p), length, steps, frag, cycle, period);
        prop_assert_eq!(run.finished.get(&id(1)).copied(), Some(Timestamp::from_secs(expected)));
    }

    #[test]
    fn one_step_per_package_per_cycle_and_nothing_starves(
        packages in prop::collection::btree_map(0u64..40, (1u8..=10, 1u32..=6), 1..8),
        length in 1u32..=12,
        frag in 0u64..=5,
        cycle in 0u64..=5,
    ) {
        let mut scheduler = Scheduler::new(&config(frag, cycle, 1, length));
        let mut steps = BTreeMap::new();
        for (&n, &(p, k)) in &packages {
            scheduler.add(id(n), pri(p), Timestamp::from_secs(0));
            steps.insert(id(n), k);
        }
        let servable: BTreeSet<PackageId> = packages
            .iter()
            .filter(|(_, (p, _))| u32::from(*p) <= length)
            .map(|(&n, _)| id(n))
            .collect();
        let run = drive(&mut scheduler, steps, Duration::from_secs(1), 50_000);
        // At most one step per package per cycle, and only in the cycles its priority names.
        let mut seen = BTreeSet::new();
        for s in &run.steps {
            prop_assert!(seen.insert((s.package, s.period, s.cycle)), "two steps of {} in one cycle", s.package);
            let p = u32::from(packages[&(s.package.get() - 1_700_000_000)].0);
            prop_assert_eq!(s.cycle % p, 0);
        }
        // Everything servable completes; a priority above the period length is never served
        // and ends by timing out.
        let finished: BTreeSet<PackageId> = run.finished.keys().copied().collect();
        prop_assert_eq!(&finished, &servable);
        for s in &run.steps {
            prop_assert!(servable.contains(&s.package));
        }
        if servable.len() == packages.len() {
            prop_assert!(run.timed_out.is_empty());
        }
    }

    #[test]
    fn priority_zero_is_served_alone_and_first(
        zero in prop::collection::btree_map(0u64..10, 1u32..=5, 1..3),
        others in prop::collection::btree_map(10u64..20, (1u8..=10, 1u32..=5), 1..4),
    ) {
        let mut scheduler = Scheduler::new(&config(1, 5, 1, 10));
        let mut steps = BTreeMap::new();
        for (&n, &k) in &zero {
            scheduler.add(id(n), pri(0), Timestamp::from_secs(0));
            steps.insert(id(n), k);
        }
        for (&n, &(p, k)) in &others {
            scheduler.add(id(n), pri(p), Timestamp::from_secs(0));
            steps.insert(id(n), k);
        }
        let run = drive(&mut scheduler, steps, Duration::ZERO, 100_000);
        let last_zero = run
            .steps
            .iter()
            .rposition(|s| zero.contains_key(&(s.package.get() - 1_700_000_000)))
            .unwrap();
        let first_other = run
            .steps
            .iter()
            .position(|s| others.contains_key(&(s.package.get() - 1_700_000_000)))
            .unwrap();
        prop_assert!(last_zero < first_other, "nothing else is served while priority 0 is pending");
        // While priority 0 ran, the others were reported blocked.
        for (package, blocked) in &run.blocked_during[..=last_zero] {
            prop_assert!(zero.contains_key(&(package.get() - 1_700_000_000)));
            prop_assert_eq!(blocked.len(), others.len());
        }
        prop_assert_eq!(run.finished.len(), zero.len() + others.len());
    }
}

#[test]
fn a_priority_above_the_period_length_is_never_served_and_times_out() {
    let mut config = config(10, 60, 1, 3);
    config.timeout_days = 1;
    let mut scheduler = Scheduler::new(&config);
    scheduler.add(id(1), pri(5), Timestamp::from_secs(0));
    assert_eq!(scheduler.never_served(), vec![id(1)]);
    let run = drive(
        &mut scheduler,
        BTreeMap::from([(id(1), 1)]),
        Duration::ZERO,
        100_000,
    );
    assert!(run.steps.is_empty());
    assert_eq!(run.timed_out, vec![id(1)]);
    // Checked at a period start, strictly after one day.
    let period = 3 * 60 + 1;
    let first_after_a_day = (86_400 / period + 1) * period;
    assert_eq!(run.end, Timestamp::from_secs(first_after_a_day));
}

#[test]
fn timeout_counts_whole_days_strictly() {
    let mut config = config(0, 0, 3_600, 1);
    config.timeout_days = 1;
    let mut scheduler = Scheduler::new(&config);
    // Never ready: held back until far in the future.
    scheduler.add(id(1), pri(1), Timestamp::from_secs(0));
    scheduler.hold_until(id(1), Some(Timestamp::from_secs(10 * 86_400)));
    let mut now = Timestamp::from_secs(0);
    loop {
        match scheduler.poll(now) {
            Next::Sleep { until, .. } => now = until,
            Next::TimedOut(p) => {
                assert_eq!(p, id(1));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Periods of one hour: at 24 h exactly it is not expired yet (OCS compares with `>`).
    assert_eq!(now, Timestamp::from_secs(25 * 3_600));
    assert_eq!(scheduler.poll(now), Next::Idle);
}

#[test]
fn a_held_package_waits_for_its_schedule_and_does_not_block_others() {
    let mut scheduler = Scheduler::new(&config(0, 60, 0, 10));
    scheduler.add(id(1), pri(0), Timestamp::from_secs(0));
    scheduler.hold_until(id(1), Some(Timestamp::from_secs(3_000)));
    scheduler.add(id(2), pri(1), Timestamp::from_secs(0));
    let run = drive(
        &mut scheduler,
        BTreeMap::from([(id(1), 1), (id(2), 2)]),
        Duration::ZERO,
        10_000,
    );
    let order: Vec<(PackageId, Timestamp)> = run.steps.iter().map(|s| (s.package, s.at)).collect();
    assert_eq!(
        order,
        vec![
            (id(2), Timestamp::from_secs(0)),
            (id(2), Timestamp::from_secs(60)),
            // The first cycle that starts at or after 3000 s.
            (id(1), Timestamp::from_secs(3_000)),
        ]
    );
}

#[test]
fn a_step_must_be_reported_before_the_next() {
    let mut scheduler = Scheduler::new(&config(0, 0, 0, 1));
    scheduler.add(id(1), pri(1), Timestamp::from_secs(0));
    let now = Timestamp::from_secs(0);
    assert_eq!(scheduler.poll(now), Next::Step(id(1)));
    assert_eq!(scheduler.poll(now), Next::InProgress(id(1)));
    scheduler.step_done(id(2), now); // not the one asked: ignored
    assert_eq!(scheduler.poll(now), Next::InProgress(id(1)));
    scheduler.step_done(id(1), now);
    assert!(matches!(
        scheduler.poll(now),
        Next::Sleep {
            latency: Latency::Fragment,
            ..
        }
    ));
}

#[test]
fn a_package_added_mid_period_is_served_from_the_next_cycle() {
    let mut scheduler = Scheduler::new(&config(0, 10, 0, 4));
    let zero = Timestamp::from_secs(0);
    scheduler.add(id(1), pri(4), zero);
    // Cycle 1: nothing due, cycle latency.
    assert!(matches!(scheduler.poll(zero), Next::Sleep { .. }));
    scheduler.add(id(2), pri(1), zero);
    assert_eq!(scheduler.poll(Timestamp::from_secs(10)), Next::Step(id(2)));
    assert_eq!(scheduler.cycle(), 2);
}

#[test]
fn zero_cycles_a_period_never_serves_and_never_spins() {
    let mut config = config(0, 0, 0, 0);
    config.timeout_days = 1;
    let mut scheduler = Scheduler::new(&config);
    scheduler.add(id(1), pri(1), Timestamp::from_secs(0));
    let run = drive(
        &mut scheduler,
        BTreeMap::from([(id(1), 1)]),
        Duration::ZERO,
        1_000_000,
    );
    assert!(run.steps.is_empty());
    assert_eq!(run.timed_out, vec![id(1)]);
}

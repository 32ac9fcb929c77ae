//! Two deployment services sharing one database under 1,000 concurrent contacts and
//! results: every affectation is notified exactly once, no result is lost and no status
//! goes backwards.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ocs_deploy_core::protocol::DeviceId;
use ocs_deploy_core::service::{AffectTarget, BuildRequest, DeploymentService, ServiceConfig};
use ocs_deploy_core::store::{ActivationId, AffectOptions, ResultOutcome, Store};
use ocs_deploy_core::testkit::MemoryFiles;
use ocs_deploy_core::{Action, PackageId, StatusCode, Timestamp};
use ocs_deploy_store_sql::{Backend, SqlStore};

use crate::common;

const COMPUTERS: u32 = 200;
const PACKAGES: usize = 3;
const PROLOGS_PER_COMPUTER: u32 = 3;
const RESULTS: u32 = 400;
const T0: Timestamp = Timestamp::from_secs(1_700_000_000);

fn device(n: u32) -> String {
    format!("pc{n:03}-2026-01-01-00-00-00")
}

/// A small deterministic generator (xorshift64*), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

enum Task {
    Prolog {
        computer: u32,
    },
    Result {
        computer: u32,
        package: usize,
        status: &'static str,
    },
}

enum Done {
    Prolog { notified: usize },
    Result,
}

async fn two_services_share_one_database(backend: Backend) {
    let Some(url) = common::fresh_url(backend).await else {
        return;
    };
    let config = ServiceConfig {
        allow_loopback: true,
        ..ServiceConfig::default()
    };
    let files = MemoryFiles::new();
    let mut services = Vec::new();
    for _ in 0..2 {
        let store = SqlStore::connect(&url).await.expect("connect");
        services.push(Arc::new(DeploymentService::new(
            Arc::new(store),
            Arc::new(files.clone()),
            config.clone(),
        )));
    }

    let (devices, packages) = fleet(&services[0]).await;
    let (tasks, expected) = tasks();
    let notified_by_prologs = run(&services, tasks, &packages).await;
    check(
        services[1].store().as_ref(),
        &devices,
        &packages,
        &expected,
        notified_by_prologs,
    )
    .await;
}

type Packages = Vec<(PackageId, ActivationId)>;
type Expected = BTreeMap<(u32, usize), &'static str>;

/// The fleet, and three packages each affected to every computer.
async fn fleet(first: &DeploymentService) -> (Vec<DeviceId>, Packages) {
    for n in 0..COMPUTERS {
        let request = ocs_deploy_core::protocol::Request::Inventory {
            device_id: device(n),
            hardware: ocs_deploy_core::protocol::Hardware::default(),
            history: Some(Vec::new()),
        };
        first.handle(&request, T0).await.expect("inventory");
    }
    let devices: Vec<DeviceId> = (0..COMPUTERS)
        .map(|n| DeviceId::parse(&device(n)).unwrap())
        .collect();
    let mut packages: Packages = Vec::new();
    for p in 0..PACKAGES {
        let request = BuildRequest::new(
            format!("package {p}"),
            Action::Execute {
                command: format!("echo {p}"),
            },
        );
        let record = first
            .build(
                request,
                None::<futures::stream::Empty<Result<bytes::Bytes, std::io::Error>>>,
                T0,
            )
            .await
            .expect("build");
        let activation = first
            .activate(
                record.id,
                "127.0.0.1:443/download",
                "127.0.0.1:80/download",
                T0,
            )
            .await
            .expect("activate");
        first
            .affect(
                activation,
                &AffectTarget::Computers(devices.clone()),
                &AffectOptions::default(),
                T0,
            )
            .await
            .expect("affect");
        packages.push((record.id, activation));
    }

    (devices, packages)
}

/// 1,000 contacts and results in a shuffled order, and the final status of each
/// (computer, package) pair that gets a result.
fn tasks() -> (Vec<Task>, Expected) {
    // 1,000 contacts and results in a shuffled order, each computer contacting at least
    // three times, a result for some (computer, package) pairs, sent twice to one service
    // or to both. Each pair gets at most one distinct result, so its final status is known.
    let mut rng = Rng(0x0C5D_E910_7000_0001);
    let mut tasks = Vec::new();
    for computer in 0..COMPUTERS {
        for _ in 0..PROLOGS_PER_COMPUTER {
            tasks.push(Task::Prolog { computer });
        }
    }
    let statuses = ["SUCCESS", "ERR_BAD_DIGEST", "EXIT_CODE_3", "ERR_TIMEOUT"];
    let mut expected: Expected = BTreeMap::new();
    while tasks.len() < (PROLOGS_PER_COMPUTER * COMPUTERS + RESULTS) as usize {
        let computer = u32::try_from(rng.below(u64::from(COMPUTERS))).unwrap();
        let package = usize::try_from(rng.below(PACKAGES as u64)).unwrap();
        let status = *expected
            .entry((computer, package))
            .or_insert(statuses[usize::try_from(rng.below(4)).unwrap()]);
        tasks.push(Task::Result {
            computer,
            package,
            status,
        });
    }
    for i in (1..tasks.len()).rev() {
        tasks.swap(i, usize::try_from(rng.below(i as u64 + 1)).unwrap());
    }
    assert_eq!(tasks.len(), 1000);

    (tasks, expected)
}

/// Runs the tasks at once, alternating the services; returns how many notifications the
/// PROLOG replies reported.
async fn run(services: &[Arc<DeploymentService>], tasks: Vec<Task>, packages: &Packages) -> usize {
    let mut handles = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        let service = Arc::clone(&services[i % 2]);
        let package_ids: Vec<PackageId> = packages.iter().map(|p| p.0).collect();
        let now = Timestamp::from_secs(T0.as_secs() + 60 + i as u64);
        handles.push(tokio::spawn(async move {
            match task {
                Task::Prolog { computer } => {
                    let outcome = service
                        .handle_prolog(&device(computer), now)
                        .await
                        .expect("PROLOG");
                    Done::Prolog {
                        notified: outcome.notified.len(),
                    }
                }
                Task::Result {
                    computer,
                    package,
                    status,
                } => {
                    let outcome = service
                        .record_result(
                            &device(computer),
                            package_ids[package],
                            &StatusCode::from_wire(status),
                            now,
                        )
                        .await
                        .expect("result");
                    assert!(
                        !matches!(outcome, ResultOutcome::NotAffected),
                        "a result for an affected package was refused"
                    );
                    Done::Result
                }
            }
        }));
    }
    let mut notified_by_prologs = 0;
    for handle in handles {
        if let Done::Prolog { notified } = handle.await.expect("task") {
            notified_by_prologs += notified;
        }
    }

    notified_by_prologs
}

/// Every affectation's trail, read back through one store.
async fn check(
    store: &dyn Store,
    devices: &[DeviceId],
    packages: &Packages,
    expected: &Expected,
    notified_by_prologs: usize,
) {
    let mut notified_events = 0;
    let mut by_status: HashMap<Option<String>, u64> = HashMap::new();
    for n in 0..COMPUTERS {
        let computer = store
            .computer_by_device(&devices[n as usize])
            .await
            .unwrap()
            .expect("computer");
        for (p, &(_, activation)) in packages.iter().enumerate() {
            let row = store
                .affectation(computer.id, activation)
                .await
                .unwrap()
                .expect("affectation kept");
            let trail = store.status_events(computer.id, activation).await.unwrap();
            let statuses: Vec<Option<&str>> = trail.iter().map(|e| e.status.as_deref()).collect();
            let notified = statuses.iter().filter(|s| **s == Some("NOTIFIED")).count();
            notified_events += notified;
            assert!(
                notified <= 1,
                "{}: notified {notified} times: {statuses:?}",
                device(n)
            );
            assert_eq!(
                statuses.first(),
                Some(&None),
                "trail starts waiting: {statuses:?}"
            );
            // No status goes backwards: after a result, never notified or waiting again.
            if let Some(first_result) = statuses
                .iter()
                .position(|s| matches!(s, Some(s) if *s != "NOTIFIED"))
            {
                assert!(
                    statuses[first_result..]
                        .iter()
                        .all(|s| matches!(s, Some(s) if *s != "NOTIFIED")),
                    "{}: status went backwards: {statuses:?}",
                    device(n)
                );
            }
            if let Some(result) = expected.get(&(n, p)) {
                assert_eq!(
                    row.status.as_deref(),
                    Some(*result),
                    "{}: result lost",
                    device(n)
                );
                let recorded = statuses.iter().filter(|s| **s == Some(*result)).count();
                assert_eq!(
                    recorded,
                    1,
                    "{}: result recorded {recorded} times",
                    device(n)
                );
            } else {
                // Contacted three times, told once.
                assert_eq!(row.status.as_deref(), Some("NOTIFIED"), "{}", device(n));
                assert_eq!(notified, 1, "{}: {statuses:?}", device(n));
            }
            *by_status.entry(row.status).or_default() += 1;
        }
    }
    assert_eq!(
        notified_by_prologs, notified_events,
        "each notification is reported by exactly the PROLOG that made it"
    );
    // The store's own counts agree with the rows.
    for &(package, _) in packages {
        let counts = store.status_counts(package).await.unwrap();
        let total: u64 = counts.iter().map(|c| c.count).sum();
        assert_eq!(total, u64::from(COMPUTERS));
    }
    let total: u64 = by_status.values().sum();
    assert_eq!(total, u64::from(COMPUTERS) * PACKAGES as u64);
    assert!(!expected.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_services_on_one_postgresql() {
    two_services_share_one_database(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_services_on_one_mariadb() {
    two_services_share_one_database(Backend::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_services_on_one_sqlite_file() {
    two_services_share_one_database(Backend::Sqlite).await;
}

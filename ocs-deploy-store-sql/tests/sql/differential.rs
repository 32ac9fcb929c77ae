//! The same pseudo-random operations on `MemoryStore` and `SqlStore` give the same answers.

use ocs_deploy_core::protocol::DeviceId;
use ocs_deploy_core::store::{
    ActivationId, AffectOptions, ComputerId, ComputerUpdate, GroupAffectation, GroupId,
    NewActivation, PackageRecord, Page, StatusSelector, Store,
};
use ocs_deploy_core::testkit::MemoryStore;
use ocs_deploy_core::{PackageId, Priority, StatusClass, Timestamp};

use crate::common::Target;

/// A small deterministic generator (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const STATUSES: [&str; 6] = [
    "SUCCESS",
    "ERR_BAD_DIGEST",
    "NOTIFIED",
    "EXIT_CODE_1",
    "UNKNOWN_CODE",
    "success_already_in_history",
];

/// Builds the same fleet in both stores; returns packages, activations, computers.
async fn fleet(
    stores: &[&dyn Store],
) -> (Vec<PackageId>, Vec<ActivationId>, Vec<ComputerId>, GroupId) {
    let t0 = Timestamp::from_secs(1_700_000_000);
    let mut out = (Vec::new(), Vec::new(), Vec::new(), GroupId(0));
    for store in stores {
        let (mut ps, mut acts, mut cs) = (Vec::new(), Vec::new(), Vec::new());
        for n in 0..4 {
            let id = PackageId::new(1_700_000_000 + n).unwrap();
            let record = PackageRecord {
                id,
                name: format!("p{n}"),
                priority: Priority::DEFAULT,
                fragments: 1,
                size: 1,
                info: "x".into(),
                created: t0,
            };
            store.insert_package(&record).await.unwrap();
            ps.push(id);
            for site in ["a", "b"] {
                let new = NewActivation {
                    package: id,
                    info_location: format!("{site}/d"),
                    pack_location: format!("{site}/d"),
                    cert_path: None,
                    cert_file: None,
                };
                acts.push(store.insert_activation(&new, t0).await.unwrap());
            }
        }
        for n in 0..12 {
            let device = DeviceId::parse(&format!("pc{n}-2026-01-01-00-00-00")).unwrap();
            cs.push(
                store
                    .upsert_computer(&ComputerUpdate::new(device), t0)
                    .await
                    .unwrap(),
            );
        }
        let g = store.create_group("g", false).await.unwrap();
        store.add_members(g, &cs[..6]).await.unwrap();
        out = (ps, acts, cs, g);
    }
    out
}

// One table of operations reads best in one place; indices are below 12.
#[allow(clippy::too_many_lines, clippy::cast_possible_truncation)]
async fn answers_as_the_memory_store(target: Target) {
    let Some(sql) = target.fresh_store().await else {
        return;
    };
    let memory = MemoryStore::new();
    let stores: [&dyn Store; 2] = [&memory, &sql];
    let (ps, acts, cs, g) = fleet(&stores).await;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for step in 0..600u64 {
        let now = Timestamp::from_secs(1_700_000_000 + step * 97);
        let c = cs[rng.below(cs.len() as u64) as usize];
        let a = acts[rng.below(acts.len() as u64) as usize];
        let p = ps[rng.below(ps.len() as u64) as usize];
        let op = rng.below(10);
        let status = STATUSES[rng.below(STATUSES.len() as u64) as usize];
        let mut some: Vec<ComputerId> = cs.iter().copied().filter(|_| rng.below(3) == 0).collect();
        if rng.below(8) == 0 {
            // A computer named twice.
            some.push(c);
            some.push(c);
        }
        let selector = match rng.below(3) {
            0 => StatusSelector::Class(StatusClass::of_stored(Some(status))),
            1 => StatusSelector::Exact(status.to_owned()),
            _ => StatusSelector::Class(StatusClass::Waiting),
        };
        let delete = rng.below(4) == 0;
        let mut answers = Vec::new();
        for store in stores {
            let answer = match op {
                0 => format!(
                    "{:?} {:?}",
                    store
                        .affect(a, &some, &AffectOptions::default(), now)
                        .await
                        .map_err(|e| e.is_conflict()),
                    store.status_events(c, a).await.unwrap()
                ),
                1 => format!("{:?}", store.notify(c, &acts, now).await.unwrap()),
                2 => format!("{:?}", store.mark_in_history(c, a, now).await.unwrap()),
                3 => format!(
                    "{:?}",
                    store
                        .record_result(c, p, status, StatusClass::of_stored(Some(status)), now)
                        .await
                        .unwrap()
                ),
                4 => format!("{:?}", store.unaffect(a, &some).await.unwrap()),
                5 => {
                    if delete {
                        format!(
                            "{:?}",
                            store.delete_affectations(p, &selector).await.unwrap()
                        )
                    } else {
                        format!(
                            "{:?}",
                            store
                                .computers_with_status(
                                    p,
                                    &selector,
                                    Page {
                                        offset: 1,
                                        limit: 5
                                    }
                                )
                                .await
                                .unwrap()
                        )
                    }
                }
                6 => {
                    let offered = [GroupAffectation {
                        group: g,
                        activation: a,
                        options: AffectOptions::default(),
                    }];
                    format!("{:?}", store.adopt(c, &offered, now).await.unwrap())
                }
                7 => format!(
                    "{:?} {:?}",
                    store.status_counts(p).await.unwrap(),
                    store.status_timeline(p).await.unwrap()
                ),
                8 => format!(
                    "{:?} {:?}",
                    store.affectations_of(c).await.unwrap(),
                    store.status_events(c, a).await.unwrap()
                ),
                _ => {
                    let device =
                        DeviceId::parse(&format!("pc{}-2026-01-01-00-00-00", c.0 - 1)).unwrap();
                    format!("{:?}", store.contact(&device, now).await.unwrap())
                }
            };
            answers.push(answer);
        }
        assert_eq!(
            answers[0], answers[1],
            "{target:?} step {step}, operation {op}"
        );
    }
    let total: u64 = sql
        .status_counts(ps[0])
        .await
        .unwrap()
        .iter()
        .map(|c| c.count)
        .sum();
    assert!(total > 0, "the operations left rows to compare");
    sql.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_answers_as_the_memory_store() {
    answers_as_the_memory_store(Target::SqliteMemory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_answers_as_the_memory_store() {
    answers_as_the_memory_store(Target::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_answers_as_the_memory_store() {
    answers_as_the_memory_store(Target::MySql).await;
}

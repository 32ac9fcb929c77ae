//! The deployment service over `MemoryStore` and `MemoryFiles`: every operation and the
//! bad inputs.
#![allow(
    clippy::many_single_char_names, // h(arness), p(ackage), a(ctivation)
    clippy::needless_pass_by_value,
    clippy::option_option // status(): None = no row, Some(None) = waiting
)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::executor::block_on;
use futures::future::join_all;
use ocs_deploy_core::fragment::{Assembler, FragmentPlan};
use ocs_deploy_core::protocol::{
    DeviceId, Hardware, HistoryEntry, PackageNotice, PrologResponse, Request,
};
use ocs_deploy_core::service::{
    AffectTarget, BuildRequest, Deferred, DeploymentService, LocationError, PrologOutcome, Reply,
    ResultRefusal, ServiceConfig, ServiceError,
};
use ocs_deploy_core::store::{
    ActivationId, AffectOptions, ComputerFilter, FileName, PackageFiles, PackageRecord, Page,
    ResultOutcome, Setting, SettingScope, StatusSelector, Store, TextMatch,
};
use ocs_deploy_core::testkit::{MemoryFiles, MemoryStore};
use ocs_deploy_core::{Action, PackageId, StatusClass, StatusCode, Timestamp, info};

const T0: Timestamp = Timestamp::from_secs(1_700_000_000);

fn at(secs: u64) -> Timestamp {
    Timestamp::from_secs(1_700_000_000 + secs)
}

struct Harness {
    service: DeploymentService,
    store: Arc<MemoryStore>,
    files: MemoryFiles,
}

fn harness() -> Harness {
    harness_with(ServiceConfig::default())
}

fn harness_with(config: ServiceConfig) -> Harness {
    let store = Arc::new(MemoryStore::new());
    let files = MemoryFiles::new();
    let service = DeploymentService::new(store.clone(), Arc::new(files.clone()), config);
    Harness {
        service,
        store,
        files,
    }
}

fn device(n: u32) -> DeviceId {
    DeviceId::parse(&format!("pc{n}-2026-01-01-00-00-00")).unwrap()
}

type Chunks = futures::stream::Iter<std::vec::IntoIter<Result<Bytes, std::io::Error>>>;

fn stream(data: &[u8], chunk: usize) -> Chunks {
    let chunks: Vec<Result<Bytes, std::io::Error>> = data
        .chunks(chunk.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures::stream::iter(chunks)
}

impl Harness {
    fn launch(&self, data: &[u8]) -> PackageRecord {
        let request = BuildRequest::new(
            "launch",
            Action::Launch {
                command: "install.sh".into(),
            },
        );
        block_on(self.service.build(request, Some(stream(data, 4096)), T0)).unwrap()
    }

    fn execute(&self) -> PackageId {
        let request = BuildRequest::new(
            "exec",
            Action::Execute {
                command: "echo hi".into(),
            },
        );
        block_on(self.service.build(request, None::<Chunks>, T0))
            .unwrap()
            .id
    }

    fn activate(&self, package: PackageId) -> ActivationId {
        block_on(self.service.activate(
            package,
            "ocs.example.com/download",
            "ocs.example.com/download",
            T0,
        ))
        .unwrap()
    }

    fn inventory(&self, n: u32, history: Option<Vec<PackageId>>) {
        self.inventory_with(n, Hardware::default(), history);
    }

    fn inventory_with(&self, n: u32, hardware: Hardware, history: Option<Vec<PackageId>>) {
        let request = Request::Inventory {
            device_id: device(n).to_string(),
            hardware,
            history: history.map(|h| h.into_iter().map(HistoryEntry::Package).collect()),
        };
        let reply = block_on(self.service.handle(&request, T0)).unwrap();
        assert!(matches!(reply, Reply::Inventory(_)));
    }

    fn affect(&self, activation: ActivationId, n: u32, options: AffectOptions) {
        block_on(self.service.affect(
            activation,
            &AffectTarget::Computers(vec![device(n)]),
            &options,
            T0,
        ))
        .unwrap();
    }

    fn prolog_at(&self, n: u32, now: Timestamp) -> PrologOutcome {
        block_on(self.service.handle_prolog(device(n).as_str(), now)).unwrap()
    }

    fn prolog(&self, n: u32) -> PrologOutcome {
        self.prolog_at(n, at(10))
    }

    fn offered(&self, n: u32) -> Vec<PackageNotice> {
        self.prolog(n).reply.download.unwrap().packages
    }

    fn result(
        &self,
        n: u32,
        package: PackageId,
        status: &str,
    ) -> Result<ResultOutcome, ServiceError> {
        block_on(self.service.record_result(
            device(n).as_str(),
            package,
            &StatusCode::from_wire(status),
            at(20),
        ))
    }

    fn status(&self, n: u32, activation: ActivationId) -> Option<Option<String>> {
        let computer = block_on(self.store.computer_by_device(&device(n))).unwrap()?;
        block_on(self.store.affectation(computer.id, activation))
            .unwrap()
            .map(|a| a.status)
    }
}

#[test]
fn build_writes_fragments_and_info_in_the_ocs_layout() {
    let h = harness();
    let data: Vec<u8> = (0..2_500_000u32).map(|i| (i % 251) as u8).collect();
    let record = h.launch(&data);
    assert_eq!(record.fragments, 3);
    assert_eq!(record.size, data.len() as u64);
    assert_eq!(
        h.files.list(record.id),
        vec![
            FileName::Info,
            FileName::Fragment(1),
            FileName::Fragment(2),
            FileName::Fragment(3)
        ]
    );
    let info_bytes = block_on(h.files.read(record.id, FileName::Info)).unwrap();
    assert_eq!(info_bytes, record.info.as_bytes());
    let info = info::read(&info_bytes).unwrap();
    assert_eq!(info.id, record.id);
    let payload = info.payload().expect("a file");
    let mut assembler = Assembler::new(payload).unwrap();
    let mut joined = Vec::new();
    for n in 1..=payload.fragments {
        let bytes = block_on(h.files.read(record.id, FileName::Fragment(n))).unwrap();
        assembler.begin_fragment(n).unwrap();
        assembler.push(&bytes).unwrap();
        assembler.end_fragment().unwrap();
        joined.extend_from_slice(&bytes);
    }
    assembler.finish().unwrap();
    assert_eq!(joined, data);
    assert_eq!(block_on(h.store.package(record.id)).unwrap(), Some(record));
}

#[test]
fn package_ids_never_collide() {
    let h = harness();
    let ids: Vec<PackageId> = (0..5).map(|_| h.execute()).collect();
    let expected: Vec<u64> = (0..5).map(|i| 1_700_000_000 + i).collect();
    assert_eq!(ids.iter().map(|i| i.get()).collect::<Vec<_>>(), expected);
    // Concurrent builds in the same second too.
    let builds = (0..8).map(|_| {
        h.service.build(
            BuildRequest::new(
                "x",
                Action::Execute {
                    command: "true".into(),
                },
            ),
            None::<Chunks>,
            T0,
        )
    });
    let mut more: Vec<u64> = block_on(join_all(builds))
        .into_iter()
        .map(|r| r.unwrap().id.get())
        .collect();
    more.sort_unstable();
    more.dedup();
    assert_eq!(more.len(), 8);
    assert!(more.iter().all(|id| !expected.contains(id)));
}

#[test]
fn build_refuses_bad_requests_and_leaves_nothing_behind() {
    let h = harness();
    let launch = BuildRequest::new(
        "l",
        Action::Launch {
            command: "x".into(),
        },
    );
    let err = block_on(h.service.build(launch.clone(), None::<Chunks>, T0)).unwrap_err();
    assert!(matches!(err, ServiceError::BadBuild(_)), "{err}");
    let mut zero = launch.clone();
    zero.fragment_size = 0;
    let err = block_on(h.service.build(zero, Some(stream(b"abc", 1)), T0)).unwrap_err();
    assert!(matches!(err, ServiceError::BadBuild(_)), "{err}");

    let failing = futures::stream::iter(vec![
        Ok(Bytes::from_static(b"first chunk")),
        Err(std::io::Error::other("disk gone")),
    ]);
    let mut small = launch;
    small.fragment_size = 4;
    let err = block_on(h.service.build(small, Some(failing), T0)).unwrap_err();
    assert!(matches!(err, ServiceError::Archive { .. }), "{err}");
    assert!(
        block_on(h.store.packages()).unwrap().is_empty(),
        "no row left"
    );
    assert!(
        h.files
            .list(PackageId::new(1_700_000_000).unwrap())
            .is_empty(),
        "no file left"
    );
}

#[test]
fn a_plan_by_count_splits_as_the_console_does() {
    let h = harness();
    let archive = crate::reference::read("console-packages/archives/install-sh.tar.gz");
    let mut request = BuildRequest::new(
        "console split",
        Action::Launch {
            command: "install.sh".into(),
        },
    );
    request.plan = Some(FragmentPlan::by_count(archive.len() as u64, 2).unwrap());
    let record = block_on(
        h.service
            .build(request.clone(), Some(stream(&archive, 50)), T0),
    )
    .unwrap();
    assert_eq!(record.fragments, 2);
    let sizes: Vec<usize> = [1, 2]
        .iter()
        .map(|&n| {
            block_on(h.files.read(record.id, FileName::Fragment(n)))
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(
        sizes,
        vec![92, 93],
        "n-1 parts of floor(size/n), the rest last"
    );
    // An archive of another size than the plan's is refused, and nothing is left.
    request.plan = Some(FragmentPlan::by_count(archive.len() as u64 + 1, 2).unwrap());
    let error = block_on(h.service.build(request, Some(stream(&archive, 50)), T0)).unwrap_err();
    assert!(
        error.is_bad_input() || matches!(error, ServiceError::Split { .. }),
        "{error}"
    );
    assert_eq!(block_on(h.store.packages()).unwrap().len(), 1);
}

#[test]
fn empty_archive_is_one_empty_fragment() {
    let h = harness();
    let record = h.launch(b"");
    assert_eq!(record.fragments, 1);
    assert_eq!(
        block_on(h.files.read(record.id, FileName::Fragment(1)))
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn execute_without_file_has_no_fragment() {
    let h = harness();
    let id = h.execute();
    assert_eq!(h.files.list(id), vec![FileName::Info]);
    let record = block_on(h.store.package(id)).unwrap().unwrap();
    assert_eq!(
        info::read(record.info.as_bytes()).unwrap().fragment_count(),
        0
    );
}

#[test]
fn activation_checks_locations() {
    let h = harness();
    let id = h.execute();
    let activate = |info: &str, pack: &str| block_on(h.service.activate(id, info, pack, T0));
    let err = activate("localhost/download", "ocs.example.com/download").unwrap_err();
    assert!(
        matches!(
            &err,
            ServiceError::BadLocation {
                which: "info",
                source: LocationError::Loopback { .. }
            }
        ),
        "{err}"
    );
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(chain.contains("resolve it to itself"), "{chain}");
    let err = activate("ocs.example.com/download", "127.0.0.1:8080/download").unwrap_err();
    assert!(
        matches!(
            err,
            ServiceError::BadLocation {
                which: "fragment",
                ..
            }
        ),
        "{err}"
    );
    let err = activate(
        "https://ocs.example.com/download",
        "ocs.example.com/download",
    )
    .unwrap_err();
    assert!(matches!(
        err,
        ServiceError::BadLocation {
            source: LocationError::HasScheme { .. },
            ..
        }
    ));
    let err = activate("$IP$/download", "ocs.example.com/download").unwrap_err();
    assert!(matches!(
        err,
        ServiceError::BadLocation {
            source: LocationError::PlaceholderInInfo { .. },
            ..
        }
    ));
    let first = activate("ocs.example.com/download/", "ocs.example.com/download").unwrap();
    let err = activate("ocs.example.com/download", "ocs.example.com/download").unwrap_err();
    assert!(
        matches!(err, ServiceError::DuplicateActivation { .. }),
        "{err}"
    );
    let second = activate("ocs.example.com/download", "$IP$/local").unwrap();
    assert_ne!(first, second);
    let unknown = PackageId::new(42).unwrap();
    let err = block_on(
        h.service
            .activate(unknown, "a.example/d", "a.example/d", T0),
    )
    .unwrap_err();
    assert!(matches!(err, ServiceError::UnknownPackage(p) if p == unknown));

    let loopback_ok = harness_with(ServiceConfig {
        allow_loopback: true,
        ..ServiceConfig::default()
    });
    let id = loopback_ok.execute();
    block_on(loopback_ok.service.activate(
        id,
        "127.0.0.1:8443/download",
        "localhost:8080/download",
        T0,
    ))
    .unwrap();
}

#[test]
fn a_package_goes_waiting_notified_result_and_is_sent_until_then() {
    let h = harness();
    let p = h.launch(b"payload").id;
    let a = h.activate(p);
    h.inventory(1, Some(vec![]));
    h.affect(a, 1, AffectOptions::default());
    assert_eq!(h.status(1, a), Some(None));
    let first = h.prolog(1);
    assert_eq!(first.notified, vec![p]);
    let download = first.reply.download.unwrap();
    assert!(download.config.enabled);
    assert_eq!(download.packages.len(), 1);
    let notice = &download.packages[0];
    assert_eq!(notice.id, p);
    assert_eq!(notice.info_location, "ocs.example.com/download");
    assert_eq!(notice.pack_location, "ocs.example.com/download");
    assert_eq!(notice.cert_file, "INSTALL_PATH/cacert.pem");
    assert!(!notice.force);
    assert_eq!(h.status(1, a), Some(Some("NOTIFIED".into())));
    // Sent again while notified, but notified only once.
    let second = h.prolog(1);
    assert!(second.notified.is_empty());
    assert_eq!(second.reply.download.unwrap().packages.len(), 1);
    assert_eq!(
        h.result(1, p, "SUCCESS").unwrap(),
        ResultOutcome::Recorded {
            activation: a,
            previous: Some("NOTIFIED".into())
        }
    );
    assert!(h.offered(1).is_empty());
    assert_eq!(
        h.result(1, p, "SUCCESS").unwrap(),
        ResultOutcome::Unchanged { activation: a }
    );
    let computer = block_on(h.store.computer_by_device(&device(1)))
        .unwrap()
        .unwrap();
    let trail: Vec<_> = block_on(h.store.status_events(computer.id, a))
        .unwrap()
        .into_iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(
        trail,
        vec![None, Some("NOTIFIED".into()), Some("SUCCESS".into())]
    );
}

#[test]
fn history_short_cut_unless_forced() {
    let h = harness();
    let p = h.execute();
    let a = h.activate(p);
    h.inventory(1, Some(vec![p]));
    h.inventory(2, Some(vec![p]));
    h.affect(a, 1, AffectOptions::default());
    h.affect(
        a,
        2,
        AffectOptions {
            force: true,
            ..AffectOptions::default()
        },
    );
    let one = h.prolog(1);
    assert_eq!(one.in_history, vec![p]);
    assert!(one.reply.download.unwrap().packages.is_empty());
    assert_eq!(
        h.status(1, a),
        Some(Some("SUCCESS_ALREADY_IN_HISTORY".into()))
    );
    let two = h.offered(2);
    assert_eq!(two.len(), 1);
    assert!(two[0].force);
    assert_eq!(h.status(2, a), Some(Some("NOTIFIED".into())));
}

#[test]
fn schedule_holds_a_package_back_until_its_time() {
    let h = harness();
    let p = h.execute();
    let a = h.activate(p);
    h.inventory(1, None);
    let when = at(3600);
    h.affect(
        a,
        1,
        AffectOptions {
            schedule: Some(when),
            post_command: Some("REBOOT".into()),
            ..AffectOptions::default()
        },
    );
    let early = h.prolog_at(1, at(60));
    assert_eq!(early.deferred, vec![(p, Deferred::Scheduled(when))]);
    assert!(early.reply.download.unwrap().packages.is_empty());
    assert_eq!(h.status(1, a), Some(None));
    let late = h.prolog_at(1, at(3600));
    let notice = &late.reply.download.unwrap().packages[0];
    assert_eq!(notice.schedule.as_deref(), Some("2023/11/14 23:13"));
    assert_eq!(notice.post_command.as_deref(), Some("REBOOT"));
    assert_eq!(late.notified, vec![p]);
}

#[test]
fn per_site_locations_use_the_computers_download_server() {
    let h = harness();
    let p = h.execute();
    let a = block_on(
        h.service
            .activate(p, "ocs.example.com/download", "$IP$/local/$NAME$", T0),
    )
    .unwrap();
    h.inventory(1, None);
    h.inventory_with(
        9,
        Hardware {
            name: Some("relay-paris".into()),
            ip_address: Some("10.9.0.1".into()),
            ..Hardware::default()
        },
        None,
    );
    h.affect(a, 1, AffectOptions::default());
    let without = h.prolog(1);
    assert_eq!(without.deferred, vec![(p, Deferred::NoDownloadServer)]);
    assert_eq!(h.status(1, a), Some(None), "still waiting");
    block_on(h.service.set_download_server(&device(1), Some(&device(9)))).unwrap();
    let offered = h.offered(1);
    assert_eq!(offered[0].pack_location, "10.9.0.1/local/relay-paris");
    assert_eq!(offered[0].info_location, "ocs.example.com/download");
}

#[test]
fn groups_deliver_to_members_at_their_next_prolog() {
    let h = harness();
    let p = h.execute();
    let q = h.execute();
    let a = h.activate(p);
    let b = h.activate(q);
    for n in 1..=4 {
        h.inventory(n, Some(if n == 2 { vec![p] } else { vec![] }));
    }
    block_on(h.service.create_group("servers", false)).unwrap();
    block_on(h.service.create_group("volunteers", true)).unwrap();
    let err = block_on(h.service.create_group("servers", true)).unwrap_err();
    assert!(matches!(err, ServiceError::GroupExists(_)));
    block_on(h.service.add_to_group("servers", &[device(1), device(2)])).unwrap();
    let options = AffectOptions {
        force: true,
        schedule: None,
        post_command: Some("SHUTDOWN".into()),
    };
    block_on(h.service.affect_group("servers", a, &options)).unwrap();
    let one = h.offered(1);
    assert_eq!(one.len(), 1);
    assert!(!one[0].force, "groups are never forced");
    assert_eq!(one[0].post_command.as_deref(), Some("SHUTDOWN"));
    assert!(h.offered(2).is_empty(), "in its history");
    assert!(h.offered(3).is_empty(), "not a member");
    // A member added later gets it too.
    block_on(h.service.add_to_group("servers", &[device(3)])).unwrap();
    assert_eq!(h.offered(3).len(), 1);
    // Users put their own computers in visible groups only.
    let err = block_on(h.service.join_visible_group("servers", &device(4))).unwrap_err();
    assert!(matches!(err, ServiceError::GroupNotVisible(_)), "{err}");
    block_on(h.service.join_visible_group("volunteers", &device(4))).unwrap();
    block_on(
        h.service
            .affect_group("volunteers", b, &AffectOptions::default()),
    )
    .unwrap();
    assert_eq!(
        h.offered(4).iter().map(|n| n.id).collect::<Vec<_>>(),
        vec![q]
    );
    assert_eq!(h.status(4, b), Some(Some("NOTIFIED".into())));
    // Results of group packages are recorded on the member's row.
    assert!(matches!(
        h.result(4, q, "SUCCESS"),
        Ok(ResultOutcome::Recorded { .. })
    ));
    let err = block_on(
        h.service
            .affect_group("nobody", a, &AffectOptions::default()),
    )
    .unwrap_err();
    assert!(matches!(err, ServiceError::UnknownGroup(_)));
    assert_eq!(
        block_on(h.service.remove_from_group("servers", &[device(1)])).unwrap(),
        1
    );
}

#[test]
fn affect_by_inventory_criteria() {
    let h = harness();
    let p = h.execute();
    let a = h.activate(p);
    for (n, tag, os) in [
        (1, "paris", "Windows 11"),
        (2, "paris", "Debian"),
        (3, "lyon", "Windows 10"),
    ] {
        h.inventory_with(
            n,
            Hardware {
                tag: Some(tag.into()),
                os_name: Some(os.into()),
                ..Hardware::default()
            },
            None,
        );
    }
    let filter = ComputerFilter {
        tag: Some(TextMatch::Equals("Paris".into())),
        os_name: Some(TextMatch::StartsWith("windows".into())),
        ..ComputerFilter::default()
    };
    let chosen = block_on(h.service.affect(
        a,
        &AffectTarget::Matching(filter),
        &AffectOptions::default(),
        T0,
    ))
    .unwrap();
    assert_eq!(chosen.len(), 1);
    assert_eq!(h.offered(1).len(), 1);
    assert!(h.offered(2).is_empty());
    assert!(h.offered(3).is_empty());
}

#[test]
fn affect_refuses_unknowns_and_a_second_activation() {
    let h = harness();
    let p = h.execute();
    let a = h.activate(p);
    let b = block_on(
        h.service
            .activate(p, "lyon.example/download", "lyon.example/download", T0),
    )
    .unwrap();
    h.inventory(1, None);
    let err = block_on(h.service.affect(
        a,
        &AffectTarget::Computers(vec![device(1), device(7)]),
        &AffectOptions::default(),
        T0,
    ))
    .unwrap_err();
    assert!(
        matches!(&err, ServiceError::UnknownComputer(d) if d == device(7).as_str()),
        "{err}"
    );
    assert_eq!(h.status(1, a), None, "nothing affected");
    let err = block_on(h.service.affect(
        ActivationId(999),
        &AffectTarget::Computers(vec![device(1)]),
        &AffectOptions::default(),
        T0,
    ))
    .unwrap_err();
    assert!(matches!(err, ServiceError::UnknownActivation(_)));
    h.affect(a, 1, AffectOptions::default());
    let err = block_on(h.service.affect(
        b,
        &AffectTarget::Computers(vec![device(1)]),
        &AffectOptions::default(),
        T0,
    ))
    .unwrap_err();
    assert!(
        matches!(&err, ServiceError::AlreadyAffected { computer, package } if computer == device(1).as_str() && *package == p),
        "{err}"
    );
}

#[test]
fn settings_are_merged_into_the_prolog_reply() {
    let h = harness();
    let p = h.execute();
    let a = h.activate(p);
    h.inventory(1, None);
    h.inventory(2, None);
    h.affect(a, 1, AffectOptions::default());
    h.affect(a, 2, AffectOptions::default());
    let g = block_on(h.service.create_group("slow", false)).unwrap();
    block_on(h.service.add_to_group("slow", &[device(1)])).unwrap();
    block_on(
        h.service
            .set_setting(SettingScope::Group(g), Setting::FragLatency, Some(45)),
    )
    .unwrap();
    block_on(
        h.service
            .set_setting(SettingScope::Global, Setting::PrologFreq, Some(6)),
    )
    .unwrap();
    let one = h.prolog(1);
    let config = one.reply.download.clone().unwrap().config;
    assert_eq!(config.fragment_latency, Duration::from_secs(45));
    assert_eq!(config.cycle_latency, Duration::from_secs(60));
    assert_eq!(one.reply.prolog_freq, Some(6));
    // A computer switched off gets ON=0 and nothing, and stays waiting.
    let two = block_on(h.store.computer_by_device(&device(2)))
        .unwrap()
        .unwrap();
    block_on(
        h.service
            .set_setting(SettingScope::Computer(two.id), Setting::Switch, Some(0)),
    )
    .unwrap();
    let off = h.prolog(2);
    let download = off.reply.download.unwrap();
    assert!(!download.config.enabled);
    assert!(download.packages.is_empty());
    assert_eq!(h.status(2, a), Some(None));
    // Switched off globally: nobody gets anything.
    block_on(
        h.service
            .set_setting(SettingScope::Global, Setting::Switch, Some(0)),
    )
    .unwrap();
    assert!(!h.prolog(1).reply.download.unwrap().config.enabled);
}

#[test]
fn inventory_without_history_keeps_it() {
    let h = harness();
    let p = h.execute();
    let a = h.activate(p);
    h.inventory(1, Some(vec![p]));
    h.inventory(1, None);
    let computer = block_on(h.store.computer_by_device(&device(1)))
        .unwrap()
        .unwrap();
    assert_eq!(block_on(h.store.history(computer.id)).unwrap(), vec![p]);
    h.affect(a, 1, AffectOptions::default());
    assert!(h.offered(1).is_empty(), "still in history");
    h.inventory(1, Some(vec![]));
    assert!(block_on(h.store.history(computer.id)).unwrap().is_empty());
}

#[test]
fn results_are_refused_with_a_typed_reason() {
    let h = harness();
    let p = h.execute();
    let q = h.execute();
    let a = h.activate(p);
    h.activate(q);
    h.inventory(1, None);
    h.affect(a, 1, AffectOptions::default());
    let refusal = |r: Result<ResultOutcome, ServiceError>| match r {
        Err(ServiceError::ResultRefused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(matches!(
        refusal(h.result(2, p, "SUCCESS")),
        ResultRefusal::UnknownComputer { .. }
    ));
    assert!(matches!(
        refusal(h.result(1, q, "SUCCESS")),
        ResultRefusal::NotAffected { .. }
    ));
    let unknown = PackageId::new(5).unwrap();
    assert!(matches!(
        refusal(h.result(1, unknown, "SUCCESS")),
        ResultRefusal::UnknownPackage { .. }
    ));
    let err = block_on(
        h.service
            .record_result("not a device id", p, &StatusCode::Success, T0),
    )
    .unwrap_err();
    assert!(matches!(err, ServiceError::BadDeviceId(_)));
    // Control characters and length are cleaned before storing.
    let hostile = format!("ERR_X\r\n{}", "A".repeat(400));
    h.result(1, p, &hostile).unwrap();
    let stored = h.status(1, a).unwrap().unwrap();
    assert!(stored.starts_with("ERR_X  AAA"));
    assert_eq!(stored.len(), 255);
    assert!(!stored.chars().any(char::is_control));
}

#[test]
fn reaffect_after_an_error_only() {
    let h = harness();
    let p = h.execute();
    let a = h.activate(p);
    h.inventory(1, None);
    h.affect(
        a,
        1,
        AffectOptions {
            post_command: Some("REBOOT".into()),
            ..AffectOptions::default()
        },
    );
    h.prolog(1);
    h.result(1, p, "SUCCESS").unwrap();
    let err = block_on(h.service.reaffect(&device(1), p, at(30))).unwrap_err();
    assert!(
        matches!(
            err,
            ServiceError::NotInError {
                class: StatusClass::Success,
                ..
            }
        ),
        "{err}"
    );
    h.result(1, p, "EXIT_CODE_1603").unwrap();
    block_on(h.service.reaffect(&device(1), p, at(30))).unwrap();
    assert_eq!(h.status(1, a), Some(None));
    let offered = h.offered(1);
    assert_eq!(
        offered[0].post_command.as_deref(),
        Some("REBOOT"),
        "options kept"
    );
}

#[test]
fn stats_count_every_status_with_percentages() {
    let h = harness();
    let p = h.execute();
    let a = h.activate(p);
    for n in 1..=8 {
        h.inventory(n, None);
        h.affect(a, n, AffectOptions::default());
    }
    for n in 1..=6 {
        h.prolog(n);
    }
    for (n, status) in [
        (1, "SUCCESS"),
        (2, "SUCCESS"),
        (3, "SUCCESS_1"),
        (4, "ERR_BAD_DIGEST"),
    ] {
        h.result(n, p, status).unwrap();
    }
    let stats = block_on(h.service.stats(p)).unwrap();
    assert_eq!(stats.total, 8);
    assert_eq!(stats.count(StatusClass::Success), 3);
    assert_eq!(stats.count(StatusClass::Error), 1);
    assert_eq!(stats.count(StatusClass::Notified), 2);
    assert_eq!(stats.count(StatusClass::Waiting), 2);
    assert!((stats.percent(StatusClass::Success) - 37.5).abs() < 1e-9);
    // Largest first, ties by status (waiting first).
    let order: Vec<_> = stats
        .statuses
        .iter()
        .map(|s| (s.status.as_deref(), s.count))
        .collect();
    assert_eq!(
        order,
        vec![
            (None, 2),
            (Some("NOTIFIED"), 2),
            (Some("SUCCESS"), 2),
            (Some("ERR_BAD_DIGEST"), 1),
            (Some("SUCCESS_1"), 1)
        ]
    );
    let exact: Vec<_> = stats
        .statuses
        .iter()
        .map(|s| (s.status.clone(), s.count))
        .collect();
    assert!(exact.contains(&(Some("SUCCESS_1".into()), 1)));
    let errors = block_on(h.service.computers_with_status(
        p,
        &StatusSelector::Class(StatusClass::Error),
        Page::first(10),
    ))
    .unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].device_id, device(4));
    let timeline = block_on(h.service.timeline(p)).unwrap();
    let last = timeline.last().unwrap();
    let total: u64 = last.cumulative.iter().map(|(_, n, _)| n).sum();
    assert_eq!(total, 8, "the last point covers every affectation");
    let percents: f64 = last.cumulative.iter().map(|(_, _, pc)| pc).sum();
    assert!((percents - 100.0).abs() < 1e-9);
}

#[test]
fn validation_keeps_notified_and_failed_rows() {
    let h = harness();
    let p = h.execute();
    let a = h.activate(p);
    for n in 1..=4 {
        h.inventory(n, None);
        h.affect(a, n, AffectOptions::default());
    }
    h.prolog(2);
    h.prolog(3);
    h.prolog(4);
    h.result(3, p, "SUCCESS").unwrap();
    h.result(4, p, "ERR_BUILD").unwrap();
    assert_eq!(block_on(h.service.validate_all(p)).unwrap(), 2);
    assert_eq!(h.status(1, a), None, "waiting one unaffected");
    assert_eq!(h.status(3, a), None, "success validated");
    assert_eq!(
        h.status(2, a),
        Some(Some("NOTIFIED".into())),
        "a late result can still arrive"
    );
    assert_eq!(h.status(4, a), Some(Some("ERR_BUILD".into())));
    assert!(matches!(
        h.result(2, p, "SUCCESS"),
        Ok(ResultOutcome::Recorded { .. })
    ));
    assert_eq!(block_on(h.service.validate_success(p)).unwrap(), 1);
    assert_eq!(block_on(h.service.unaffect_not_notified(p)).unwrap(), 0);
}

#[test]
fn deleting_a_package_while_agents_download_it() {
    let h = harness();
    let record = h.launch(&[7u8; 3000]);
    let p = record.id;
    let a = h.activate(p);
    h.inventory(1, None);
    h.affect(a, 1, AffectOptions::default());
    assert_eq!(h.offered(1).len(), 1);
    block_on(h.service.delete_package(p)).unwrap();
    assert!(h.files.list(p).is_empty(), "files removed");
    assert!(h.offered(1).is_empty(), "no longer offered");
    assert_eq!(h.status(1, a), None);
    assert!(block_on(h.store.activation(a)).unwrap().is_none());
    // The agent that was downloading reports a failure: refused, the package is gone.
    assert!(matches!(
        h.result(1, p, "ERR_DOWNLOAD_PACK"),
        Err(ServiceError::ResultRefused(
            ResultRefusal::UnknownPackage { .. }
        ))
    ));
    let err = block_on(h.service.delete_package(p)).unwrap_err();
    assert!(matches!(err, ServiceError::UnknownPackage(_)));
}

#[test]
fn deactivating_removes_the_affectations_of_that_activation() {
    let h = harness();
    let p = h.execute();
    let a = h.activate(p);
    h.inventory(1, None);
    h.affect(a, 1, AffectOptions::default());
    assert!(block_on(h.service.deactivate(a)).unwrap());
    assert!(!block_on(h.service.deactivate(a)).unwrap());
    assert!(h.offered(1).is_empty());
    assert!(matches!(
        h.result(1, p, "SUCCESS"),
        Err(ServiceError::ResultRefused(
            ResultRefusal::NotAffected { .. }
        ))
    ));
    assert_eq!(block_on(h.service.unaffect(a, &[device(1)])).unwrap(), 0);
}

#[test]
fn unknown_computer_gets_the_global_settings_and_is_asked_for_an_inventory() {
    let h = harness();
    let outcome = h.prolog(1);
    assert_eq!(outcome.computer, None);
    assert_eq!(outcome.reply.response, PrologResponse::Send);
    let download = outcome.reply.download.unwrap();
    assert!(download.config.enabled);
    assert!(download.packages.is_empty());
    let err = block_on(h.service.handle_prolog("no-date", T0)).unwrap_err();
    assert!(matches!(err, ServiceError::BadDeviceId(_)) && err.is_bad_input());
}

#[test]
fn inventory_is_asked_only_when_due() {
    let h = harness_with(ServiceConfig {
        inventory_every: Some(Duration::from_secs(86_400)),
        ..ServiceConfig::default()
    });
    h.inventory(1, None);
    assert_eq!(
        h.prolog_at(1, at(3600)).reply.response,
        PrologResponse::Stop
    );
    assert_eq!(
        h.prolog_at(1, at(86_400)).reply.response,
        PrologResponse::Send
    );
    let always = harness();
    always.inventory(1, None);
    assert_eq!(
        always.prolog_at(1, at(1)).reply.response,
        PrologResponse::Send
    );
}

#[test]
fn other_queries_are_unsupported() {
    let h = harness();
    let request = Request::Other {
        device_id: device(1).to_string(),
        query: "SYSTEM".into(),
    };
    assert_eq!(
        block_on(h.service.handle(&request, T0)).unwrap(),
        Reply::Unsupported {
            query: "SYSTEM".into()
        }
    );
}

#[test]
fn concurrent_prologs_notify_once() {
    let h = harness();
    let p = h.execute();
    let a = h.activate(p);
    h.inventory(1, None);
    h.affect(a, 1, AffectOptions::default());
    let id = device(1);
    let prologs = (0..20).map(|_| h.service.handle_prolog(id.as_str(), at(5)));
    let notified: usize = block_on(join_all(prologs))
        .into_iter()
        .map(|o| o.unwrap().notified.len())
        .sum();
    assert_eq!(notified, 1);
}

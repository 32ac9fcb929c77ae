//! The agent end to end against the real deployment service, in process (the testkit's
//! loopback transport): real files, real extraction, real processes, zero latencies.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ocs_deploy_agent::notify::Terminal;
use ocs_deploy_agent::progress::{Event, Progress};
use ocs_deploy_agent::runtime::{Agent, AgentConfig, now};
use ocs_deploy_agent::state::StateDir;
use ocs_deploy_core::agent::{BodyStream, Transport, TransportError};
use ocs_deploy_core::package::{DoneAction, Notification};
use ocs_deploy_core::protocol::{Hardware, Request};
use ocs_deploy_core::service::{AffectTarget, BuildRequest, DeploymentService, ServiceConfig};
use ocs_deploy_core::store::{AffectOptions, PackageRecord, Setting, SettingScope};
use ocs_deploy_core::testkit::{LoopbackTransport, MemoryFiles, MemoryStore};
use ocs_deploy_core::{Action, PackageId};

use crate::archives::{TarEntry, tar_gz};

struct Fixture {
    service: Arc<DeploymentService>,
    transport: LoopbackTransport,
    dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let service = Arc::new(DeploymentService::new(
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryFiles::new()),
        ServiceConfig {
            allow_loopback: true,
            ..ServiceConfig::default()
        },
    ));
    for (setting, value) in [
        (Setting::FragLatency, 0),
        (Setting::CycleLatency, 0),
        (Setting::PeriodLatency, 0),
    ] {
        service
            .set_setting(SettingScope::Global, setting, Some(value))
            .await
            .unwrap();
    }
    let transport = LoopbackTransport::new(service.clone(), now);
    Fixture {
        service,
        transport,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Fixture {
    fn agent_with(&self, transport: Arc<dyn Transport>) -> Agent {
        self.agent_configured(transport, |_| {})
    }

    fn agent_configured(
        &self,
        transport: Arc<dyn Transport>,
        configure: impl FnOnce(&mut AgentConfig),
    ) -> Agent {
        let state = StateDir::open(self.dir.path().join("state")).unwrap();
        let hardware = Hardware {
            name: Some("testpc".into()),
            os_name: Some("Debian GNU/Linux".into()),
            ip_address: Some("10.0.0.7".into()),
            tag: None,
        };
        let mut config = AgentConfig::new(self.dir.path().join("install"), hardware);
        configure(&mut config);
        Agent::open(transport, state, config).unwrap()
    }

    fn agent(&self) -> Agent {
        self.agent_with(Arc::new(self.transport.clone()))
    }

    /// Builds, activates and affects a package to the agent's computer.
    async fn deploy(
        &self,
        agent: &Agent,
        action: Action,
        archive: Option<Vec<u8>>,
        fragment_size: u64,
    ) -> PackageId {
        self.deploy_record(agent, action, archive, fragment_size)
            .await
            .id
    }

    /// [`Fixture::deploy`], returning the package's record.
    async fn deploy_record(
        &self,
        agent: &Agent,
        action: Action,
        archive: Option<Vec<u8>>,
        fragment_size: u64,
    ) -> PackageRecord {
        let mut request = BuildRequest::new("test", action);
        request.fragment_size = fragment_size;
        self.deploy_request(agent, request, archive).await
    }

    /// Builds `request`, activates and affects it to the agent's computer.
    async fn deploy_request(
        &self,
        agent: &Agent,
        request: BuildRequest,
        archive: Option<Vec<u8>>,
    ) -> PackageRecord {
        let stream =
            archive.map(|a| futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(a))]));
        let record = self.service.build(request, stream, now()).await.unwrap();
        let activation = self
            .service
            .activate(
                record.id,
                "127.0.0.1:443/download",
                "127.0.0.1:80/download",
                now(),
            )
            .await
            .unwrap();
        self.service
            .affect(
                activation,
                &AffectTarget::Computers(vec![agent.device_id().clone()]),
                &AffectOptions::default(),
                now(),
            )
            .await
            .unwrap();
        record
    }

    /// A Launch package whose `install.sh` writes where it ran into `marker`.
    async fn deploy_script(&self, agent: &Agent, marker: &Path, fragment_size: u64) -> PackageId {
        let text = script(marker);
        let archive = tar_gz(&[TarEntry {
            mode: 0o755,
            ..TarEntry::file("install.sh", text.as_bytes())
        }])
        .await;
        let launch = Action::Launch {
            command: "./install.sh".into(),
        };
        self.deploy(agent, launch, Some(archive), fragment_size)
            .await
    }

    async fn status(&self, agent: &Agent, package: PackageId) -> Option<String> {
        let store = self.service.store();
        let computer = store
            .computer_by_device(agent.device_id())
            .await
            .unwrap()
            .unwrap();
        let activation = store.activations(package).await.unwrap()[0].id;
        store
            .affectation(computer.id, activation)
            .await
            .unwrap()
            .unwrap()
            .status
    }
}

fn script(marker: &Path) -> String {
    format!(
        "#!/bin/sh\necho \"$0 ran in $(pwd)\" > '{}'\n",
        marker.display()
    )
}

#[tokio::test]
async fn a_launch_package_is_downloaded_built_run_and_reported() {
    let f = fixture().await;
    let mut agent = f.agent();
    // The first contact makes the computer known.
    agent.contact().await.unwrap();
    let marker = f.dir.path().join("launch-ran");
    // Small fragments: several are fetched, one per step.
    let package = f.deploy_script(&agent, &marker, 64).await;
    agent.run(true, Duration::from_secs(3600)).await.unwrap();
    assert_eq!(f.status(&agent, package).await.as_deref(), Some("SUCCESS"));
    let ran = std::fs::read_to_string(&marker).unwrap();
    assert!(ran.contains(&format!("packages/{package}/run")), "{ran}");
    assert!(!agent.has_pending());
    let state = StateDir::open(f.dir.path().join("state")).unwrap();
    assert_eq!(state.history().unwrap(), vec![package]);
    assert!(
        state.jobs().unwrap().is_empty(),
        "the package's files are removed"
    );

    // Affected again: the agent has it in its history and answers so without running it
    // (the server learns the history from the inventory after each PROLOG).
    std::fs::remove_file(&marker).unwrap();
    let activation = f.service.store().activations(package).await.unwrap()[0].id;
    f.service
        .affect(
            activation,
            &AffectTarget::Computers(vec![agent.device_id().clone()]),
            &AffectOptions::default(),
            now(),
        )
        .await
        .unwrap();
    agent.run(true, Duration::from_secs(3600)).await.unwrap();
    assert_eq!(
        f.status(&agent, package).await.as_deref(),
        Some("SUCCESS_ALREADY_SETUP")
    );
    assert!(!marker.exists(), "not run again");
    // Once more: now the server has the history from the last inventory.
    f.service
        .affect(
            activation,
            &AffectTarget::Computers(vec![agent.device_id().clone()]),
            &AffectOptions::default(),
            now(),
        )
        .await
        .unwrap();
    agent.run(true, Duration::from_secs(3600)).await.unwrap();
    assert_eq!(
        f.status(&agent, package).await.as_deref(),
        Some("SUCCESS_ALREADY_IN_HISTORY")
    );
    assert!(!marker.exists(), "not run again");

    // FORCE: sent again, run again.
    let options = AffectOptions {
        force: true,
        ..AffectOptions::default()
    };
    f.service
        .affect(
            activation,
            &AffectTarget::Computers(vec![agent.device_id().clone()]),
            &options,
            now(),
        )
        .await
        .unwrap();
    agent.run(true, Duration::from_secs(3600)).await.unwrap();
    assert_eq!(f.status(&agent, package).await.as_deref(), Some("SUCCESS"));
    assert!(marker.exists(), "run again when forced");
}

#[tokio::test]
async fn a_launch_command_written_as_the_console_writes_it_runs_the_packages_file() {
    // `install.sh hello world`: the file of the package, run from its folder (as the Unix
    // agent runs `./NAME`), even when the archive did not keep it executable.
    let f = fixture().await;
    let mut agent = f.agent();
    agent.contact().await.unwrap();
    let marker = f.dir.path().join("console-launch-ran");
    let text = format!("#!/bin/sh\necho \"ran with $*\" > '{}'\n", marker.display());
    let archive = tar_gz(&[TarEntry {
        mode: 0o644,
        ..TarEntry::file("install.sh", text.as_bytes())
    }])
    .await;
    let launch = Action::Launch {
        command: "install.sh hello world".into(),
    };
    let package = f.deploy(&agent, launch, Some(archive), 1024).await;
    agent.run(true, Duration::from_secs(3600)).await.unwrap();
    assert_eq!(f.status(&agent, package).await.as_deref(), Some("SUCCESS"));
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap().trim(),
        "ran with hello world"
    );
}

#[tokio::test]
async fn execute_without_a_file_and_store_into_a_new_nested_folder() {
    let f = fixture().await;
    let mut agent = f.agent();
    agent.contact().await.unwrap();
    let marker = f.dir.path().join("execute-ran");
    let execute = f
        .deploy(
            &agent,
            Action::Execute {
                command: format!("echo %OCSD_NONE% > '{}'; exit 4", marker.display()),
            },
            None,
            1024,
        )
        .await;
    let target = f.dir.path().join("stored/deep/er");
    let archive = tar_gz(&[
        TarEntry::dir("conf/"),
        TarEntry::file("conf/app.ini", b"key=value\n"),
    ])
    .await;
    let store = f
        .deploy(
            &agent,
            Action::Store {
                path: target.display().to_string(),
            },
            Some(archive),
            1024,
        )
        .await;
    agent.run(true, Duration::from_secs(3600)).await.unwrap();
    assert_eq!(
        f.status(&agent, execute).await.as_deref(),
        Some("ERR_EXIT_CODE_4")
    );
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "%OCSD_NONE%\n");
    assert_eq!(f.status(&agent, store).await.as_deref(), Some("SUCCESS"));
    assert_eq!(
        std::fs::read(target.join("conf/app.ini")).unwrap(),
        b"key=value\n"
    );
    let history = StateDir::open(f.dir.path().join("state"))
        .unwrap()
        .history()
        .unwrap();
    assert_eq!(history, vec![store], "only successes join the history");
}

#[tokio::test]
async fn a_hostile_archive_ends_err_unzip_and_writes_nothing_outside() {
    let f = fixture().await;
    let mut agent = f.agent();
    agent.contact().await.unwrap();
    let archive = tar_gz(&[TarEntry::file("../../../escaped", b"x")]).await;
    let package = f
        .deploy(
            &agent,
            Action::Launch {
                command: "true".into(),
            },
            Some(archive),
            1024,
        )
        .await;
    agent.run(true, Duration::from_secs(3600)).await.unwrap();
    assert_eq!(
        f.status(&agent, package).await.as_deref(),
        Some("ERR_UNZIP")
    );
    assert!(!f.dir.path().join("escaped").exists());
    assert!(!f.dir.path().join("state/escaped").exists());
}

/// A transport whose fragment downloads fail or come back corrupted now and then.
#[derive(Debug)]
struct Flaky {
    inner: LoopbackTransport,
    calls: std::sync::atomic::AtomicU64,
    fragment_urls: std::sync::Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl Transport for Flaky {
    async fn post(&self, request: &Request) -> Result<Vec<u8>, TransportError> {
        self.inner.post(request).await
    }

    async fn get(&self, url: &str) -> Result<BodyStream, TransportError> {
        if url.ends_with("/info") {
            return self.inner.get(url).await;
        }
        self.fragment_urls.lock().unwrap().push(url.to_owned());
        let n = self
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match n % 3 {
            0 => Err(TransportError::Unreachable("flaky".into())),
            1 => Ok(Box::pin(futures::stream::iter([Ok(Bytes::from_static(
                b"corrupted bytes",
            ))]))),
            _ => self.inner.get(url).await,
        }
    }
}

#[tokio::test]
async fn failed_and_corrupt_fragments_are_fetched_again_alone() {
    let f = fixture().await;
    let flaky = Arc::new(Flaky {
        inner: f.transport.clone(),
        calls: 0.into(),
        fragment_urls: std::sync::Mutex::new(Vec::new()),
    });
    let mut agent = f.agent_with(flaky.clone());
    agent.contact().await.unwrap();
    let marker = f.dir.path().join("flaky-ran");
    let package = f.deploy_script(&agent, &marker, 40).await;
    agent.run(true, Duration::from_secs(3600)).await.unwrap();
    assert_eq!(f.status(&agent, package).await.as_deref(), Some("SUCCESS"));
    assert!(marker.exists());
    // Each fragment was asked for until it came whole: three attempts each, in order.
    let urls = flaky.fragment_urls.lock().unwrap().clone();
    let fragments = urls.len() / 3;
    assert!(fragments >= 2, "{urls:?}");
    for (i, url) in urls.iter().enumerate() {
        assert!(
            url.ends_with(&format!("{package}-{}", i / 3 + 1)),
            "{i}: {url}"
        );
    }
}

/// xorshift64*: a small seeded generator, so the faults are the same at every run.
#[derive(Debug)]
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// What [`Lossy`] answered to one fragment request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Good,
    /// No answer at all.
    Refused,
    /// The first half of the bytes, then an error.
    BrokenMidway,
    /// Right length, one byte changed.
    Flipped,
    /// Cut short by one byte.
    Truncated,
    /// One byte too many.
    Extended,
}

/// A transport where each fragment request, independently with probability 1/5, fails or
/// comes back with corrupted bytes; it logs every fragment request and its answer.
#[derive(Debug)]
struct Lossy {
    inner: LoopbackTransport,
    rng: std::sync::Mutex<XorShift>,
    log: std::sync::Mutex<Vec<(String, Answer)>>,
}

#[async_trait::async_trait]
impl Transport for Lossy {
    async fn post(&self, request: &Request) -> Result<Vec<u8>, TransportError> {
        self.inner.post(request).await
    }

    async fn get(&self, url: &str) -> Result<BodyStream, TransportError> {
        use futures::StreamExt as _;
        if url.ends_with("/info") {
            return self.inner.get(url).await;
        }
        let answer = {
            let mut rng = self.rng.lock().unwrap();
            if rng.next() % 100 < 20 {
                [
                    Answer::Refused,
                    Answer::BrokenMidway,
                    Answer::Flipped,
                    Answer::Truncated,
                    Answer::Extended,
                ][(rng.next() % 5) as usize]
            } else {
                Answer::Good
            }
        };
        self.log.lock().unwrap().push((url.to_owned(), answer));
        if answer == Answer::Refused {
            return Err(TransportError::Unreachable("lossy".into()));
        }
        let mut body = Vec::new();
        let mut stream = self.inner.get(url).await?;
        while let Some(chunk) = stream.next().await {
            body.extend_from_slice(&chunk?);
        }
        assert!(body.len() >= 2, "fragments of at least two bytes");
        let half = body.len() / 2;
        let chunks: Vec<Result<Bytes, TransportError>> = match answer {
            Answer::Good => vec![Ok(body.into())],
            Answer::Refused => unreachable!(),
            Answer::BrokenMidway => vec![
                Ok(body[..half].to_vec().into()),
                Err(TransportError::Unreachable("connection reset".into())),
            ],
            Answer::Flipped => {
                body[half] ^= 0x5a;
                vec![Ok(body.into())]
            }
            Answer::Truncated => {
                body.pop();
                vec![Ok(body.into())]
            }
            Answer::Extended => {
                body.push(b'!');
                vec![Ok(body.into())]
            }
        };
        Ok(Box::pin(futures::stream::iter(chunks)))
    }
}

#[tokio::test]
async fn with_one_fragment_request_in_five_failing_or_corrupted_every_package_succeeds() {
    // The fault test: 20% of fragment requests fail (refused, or cut midway) or
    // return corrupted bytes (changed, truncated, extended). Every deployment still ends in
    // SUCCESS, and only bad fragments are fetched again: each fragment is requested once
    // per bad answer plus once, and the fragments of a package are requested in order.
    let f = fixture().await;
    let lossy = Arc::new(Lossy {
        inner: f.transport.clone(),
        rng: std::sync::Mutex::new(XorShift(0x0c5d_e910_7a11_2026)),
        log: std::sync::Mutex::new(Vec::new()),
    });
    let mut agent = f.agent_with(lossy.clone());
    agent.contact().await.unwrap();
    let mut packages = Vec::new();
    let mut seed = XorShift(42);
    for p in 0..6usize {
        // Incompressible content: the archive is split into 9 to 15 fragments.
        let len = 2000 + 256 * p;
        let content: Vec<u8> = (0..len).map(|_| seed.next().to_le_bytes()[0]).collect();
        let archive = tar_gz(&[TarEntry::file("payload.bin", &content)]).await;
        let target = f.dir.path().join(format!("stored/{p}"));
        let record = f
            .deploy_record(
                &agent,
                Action::Store {
                    path: target.display().to_string(),
                },
                Some(archive),
                256,
            )
            .await;
        assert!(record.fragments >= 8, "{}", record.fragments);
        packages.push((record, target, content));
    }
    agent.run(true, Duration::from_secs(3600)).await.unwrap();

    let log = lossy.log.lock().unwrap().clone();
    let bad = log.iter().filter(|(_, a)| *a != Answer::Good).count();
    // The seed gives a fair share of every kind of fault (a test that saw none would
    // prove nothing).
    for kind in [
        Answer::Refused,
        Answer::BrokenMidway,
        Answer::Flipped,
        Answer::Truncated,
        Answer::Extended,
    ] {
        assert!(
            log.iter().any(|(_, a)| *a == kind),
            "no {kind:?} in {log:?}"
        );
    }
    assert!(bad * 100 >= log.len() * 10, "{bad} bad of {}", log.len());
    for (record, target, content) in &packages {
        let id = record.id;
        assert_eq!(
            f.status(&agent, id).await.as_deref(),
            Some("SUCCESS"),
            "package {id}"
        );
        assert_eq!(&std::fs::read(target.join("payload.bin")).unwrap(), content);
        // This package's requests, as fragment numbers, in the order made.
        let prefix = format!("/{id}/{id}-");
        let requests: Vec<(u32, Answer)> = log
            .iter()
            .filter_map(|(url, answer)| {
                let (_, n) = url.rsplit_once(&prefix)?;
                Some((n.parse().unwrap(), *answer))
            })
            .collect();
        let order: Vec<u32> = requests.iter().map(|(n, _)| *n).collect();
        assert!(order.is_sorted(), "package {id}: out of order {order:?}");
        for n in 1..=record.fragments {
            let answers: Vec<Answer> = requests
                .iter()
                .filter(|(m, _)| *m == n)
                .map(|(_, a)| *a)
                .collect();
            let bad = answers.iter().filter(|a| **a != Answer::Good).count();
            assert_eq!(
                answers.len(),
                bad + 1,
                "package {id} fragment {n}: {answers:?}"
            );
            assert_eq!(
                answers.last(),
                Some(&Answer::Good),
                "package {id} fragment {n}"
            );
        }
        assert_eq!(order.last(), Some(&record.fragments), "package {id}");
    }
}

/// A server that is down.
#[derive(Debug)]
struct Down;
#[async_trait::async_trait]
impl Transport for Down {
    async fn post(&self, _: &Request) -> Result<Vec<u8>, TransportError> {
        Err(TransportError::Unreachable("down".into()))
    }
    async fn get(&self, _: &str) -> Result<BodyStream, TransportError> {
        Err(TransportError::Unreachable("down".into()))
    }
}

#[tokio::test]
async fn a_result_the_server_did_not_take_is_sent_at_the_next_run() {
    let f = fixture().await;
    let mut agent = f.agent();
    agent.contact().await.unwrap();
    let package = f
        .deploy(
            &agent,
            Action::Execute {
                command: "true".into(),
            },
            None,
            1024,
        )
        .await;
    agent.contact().await.unwrap();
    // The server goes away before the result: the agent keeps it.
    drop(agent);
    let mut down = f.agent_with(Arc::new(Down));
    down.run_schedule().await.unwrap();
    assert_eq!(f.status(&down, package).await.as_deref(), Some("NOTIFIED"));
    assert!(down.has_pending(), "the result is kept");
    drop(down);
    // A new process (same state directory) delivers it, without running the command again.
    let mut agent = f.agent();
    agent.contact().await.unwrap();
    assert_eq!(f.status(&agent, package).await.as_deref(), Some("SUCCESS"));
    assert!(!agent.has_pending());
}

/// Records the agent's progress events.
#[derive(Debug, Default)]
struct Recorder(std::sync::Mutex<Vec<Event>>);

impl Progress for Recorder {
    fn event(&self, event: &Event) {
        self.0.lock().unwrap().push(event.clone());
    }
}

#[tokio::test]
async fn the_notification_is_asked_the_done_action_shown_and_progress_reported() {
    let f = fixture().await;
    let recorder = Arc::new(Recorder::default());
    // The user answers "abort" to the first package and accepts the second.
    let terminal = Arc::new(Terminal::new(&b"abort\n\n"[..], Vec::new()));
    let mut agent = f.agent_configured(Arc::new(f.transport.clone()), |config| {
        config.progress = recorder.clone();
        config.notifier = terminal.clone();
    });
    agent.contact().await.unwrap();
    let mut packages = Vec::new();
    for name in ["first", "second"] {
        let archive = tar_gz(&[TarEntry::file("a.txt", name.as_bytes())]).await;
        let target = f.dir.path().join(name);
        let mut request = BuildRequest::new(
            name,
            Action::Store {
                path: target.display().to_string(),
            },
        );
        request.fragment_size = 50;
        request.notification = Notification {
            enabled: true,
            text: format!("About to store {name}"),
            countdown_secs: Some(600),
            can_abort: true,
            can_delay: true,
        };
        request.done_action = DoneAction {
            enabled: true,
            text: format!("{name} stored"),
        };
        packages.push((
            f.deploy_request(&agent, request, Some(archive)).await,
            target,
        ));
        // One after the other: the answers come in the packages' order.
        agent.run(true, Duration::from_secs(3600)).await.unwrap();
    }
    let [(first, first_dir), (second, second_dir)] = &packages[..] else {
        unreachable!()
    };
    assert_eq!(
        f.status(&agent, first.id).await.as_deref(),
        Some("ERR_ABORTED")
    );
    assert!(!first_dir.join("a.txt").exists());
    assert_eq!(
        f.status(&agent, second.id).await.as_deref(),
        Some("SUCCESS")
    );
    assert_eq!(std::fs::read(second_dir.join("a.txt")).unwrap(), b"second");
    drop(agent);
    let terminal = Arc::into_inner(terminal).unwrap();
    let shown = String::from_utf8(terminal.into_parts().1).unwrap();
    assert!(shown.contains("About to store first"), "{shown}");
    assert!(shown.contains("About to store second"), "{shown}");
    assert!(!shown.contains("first stored"), "{shown}");
    assert!(shown.contains("second stored"), "{shown}");

    let events = recorder.0.lock().unwrap().clone();
    check_events(&events, first, "ERR_ABORTED");
    check_events(&events, second, "SUCCESS");
}

/// A package's events: each fragment started in order with the right count and size, all
/// its bytes, each fragment kept, then installing and the delivered result.
fn check_events(events: &[Event], record: &PackageRecord, status: &str) {
    let id = record.id;
    assert!(record.fragments >= 2, "{}", record.fragments);
    let mine: Vec<&Event> = events
        .iter()
        .filter(|e| match e {
            Event::Fragment { package, .. }
            | Event::Bytes { package, .. }
            | Event::FragmentDone { package, .. }
            | Event::Installing { package }
            | Event::Ended { package, .. } => *package == id,
            _ => false,
        })
        .collect();
    let started: Vec<u32> = mine
        .iter()
        .filter_map(|e| match e {
            Event::Fragment {
                fragment,
                fragments,
                size,
                ..
            } => {
                assert_eq!(*fragments, record.fragments);
                assert_eq!(*size, Some(record.size));
                Some(*fragment)
            }
            _ => None,
        })
        .collect();
    assert_eq!(started, (1..=record.fragments).collect::<Vec<_>>());
    let bytes: u64 = mine
        .iter()
        .filter_map(|e| match e {
            Event::Bytes { bytes, .. } => Some(*bytes),
            _ => None,
        })
        .sum();
    assert_eq!(bytes, record.size);
    let done = mine
        .iter()
        .filter(|e| matches!(e, Event::FragmentDone { kept: true, .. }))
        .count();
    assert_eq!(done, record.fragments as usize);
    assert!(matches!(mine[mine.len() - 2], Event::Installing { .. }));
    assert_eq!(
        mine.last().unwrap(),
        &&Event::Ended {
            package: id,
            status: status.parse().unwrap(),
            delivered: true,
        }
    );
}

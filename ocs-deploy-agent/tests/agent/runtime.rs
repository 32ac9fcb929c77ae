//! The agent end to end against the real deployment service, in process (the testkit's
//! loopback transport): real files, real extraction, real processes, zero latencies.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ocs_deploy_agent::runtime::{Agent, AgentConfig, now};
use ocs_deploy_agent::state::StateDir;
use ocs_deploy_core::agent::{BodyStream, Transport, TransportError};
use ocs_deploy_core::protocol::{Hardware, Request};
use ocs_deploy_core::service::{AffectTarget, BuildRequest, DeploymentService, ServiceConfig};
use ocs_deploy_core::store::{AffectOptions, Setting, SettingScope};
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
        let state = StateDir::open(self.dir.path().join("state")).unwrap();
        let hardware = Hardware {
            name: Some("testpc".into()),
            os_name: Some("Debian GNU/Linux".into()),
            ip_address: Some("10.0.0.7".into()),
            tag: None,
        };
        Agent::open(
            transport,
            state,
            AgentConfig::new(self.dir.path().join("install"), hardware),
        )
        .unwrap()
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
        let mut request = BuildRequest::new("test", action);
        request.fragment_size = fragment_size;
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
        record.id
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

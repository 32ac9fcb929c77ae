//! Crash test: the agent binary killed with SIGKILL at random moments of its deployments
//! (fragment writes, build, extraction, execution, result post) never runs a package twice
//! and never loses a result.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ocs_deploy_agent::runtime::now;
use ocs_deploy_core::Action;
use ocs_deploy_core::protocol::DeviceId;
use ocs_deploy_core::service::{AffectTarget, BuildRequest, DeploymentService};
use ocs_deploy_core::store::{AffectOptions, Page, StatusSelector};

use crate::archives::{TarEntry, tar_gz};

/// Packages are deployed one after another until at least this many kills have landed
/// (and at least `MIN_PACKAGES` packages ended); a slow or loaded machine just deploys
/// more packages. Each package takes at most `KILLS_PER_PACKAGE` kills, so it ends.
const KILLS: usize = 100;
const MIN_PACKAGES: usize = 8;
const MAX_PACKAGES: usize = 80;
const KILLS_PER_PACKAGE: usize = 20;

/// A small deterministic generator (xorshift64*), so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

async fn status(
    service: &DeploymentService,
    package: ocs_deploy_core::PackageId,
) -> Option<String> {
    service
        .computers_with_status(package, &StatusSelector::All, Page::first(1))
        .await
        .unwrap()
        .into_iter()
        .next()
        .and_then(|row| row.status)
}

#[allow(clippy::too_many_lines)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_never_runs_twice_nor_loses_a_result() {
    let dir = tempfile::tempdir().unwrap();
    let (service, server, certs) = crate::binary::serve(dir.path()).await;
    let (http, https) = (server.http_addr().unwrap(), server.https_addr().unwrap());
    let state = dir.path().join("state");
    let ledger = dir.path().join("ledger.txt");
    let agent = |state: &Path| {
        Command::new(env!("CARGO_BIN_EXE_ocs-deploy-agent"))
            .arg("--server")
            .arg(format!("https://{https}/ocsinventory"))
            .arg("--ca")
            .arg(&certs.ca_cert)
            .arg("--state-dir")
            .arg(state)
            .arg("--once")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // Register the computer.
    let first = agent(&state).wait().unwrap();
    assert!(first.success());
    let device = DeviceId::parse(
        std::fs::read_to_string(state.join("device-id"))
            .unwrap()
            .trim(),
    )
    .unwrap();

    let mut rng = Rng(0x00C5_DEAD_BEEF_0001);
    let mut kills = 0;
    // The longest random wait before a kill: it shrinks each time a run ended before its
    // kill, so that kills keep landing however fast the agent deploys.
    let mut window: u64 = 400;
    let mut results = BTreeMap::new();
    let mut p = 0;
    while p < MIN_PACKAGES || kills < KILLS {
        assert!(
            p < MAX_PACKAGES,
            "only {kills} kills landed in {p} packages"
        );
        // Each run appends its package to the ledger, slowly enough to be killed in it.
        let script = format!(
            "#!/bin/sh\necho start {p} >> '{ledger}'\nsleep 0.05\necho end {p} >> '{ledger}'\n",
            ledger = ledger.display()
        );
        // Incompressible, so the package has many fragments (and many moments to die in).
        let payload: Vec<u8> = (0..6000 + p * 100)
            .map(|_| rng.below(256).to_le_bytes()[0])
            .collect();
        let archive = tar_gz(&[
            TarEntry {
                mode: 0o755,
                ..TarEntry::file("install.sh", script.as_bytes())
            },
            TarEntry::file("payload.bin", &payload),
        ])
        .await;
        let mut request = BuildRequest::new(
            format!("crash {p}"),
            Action::Launch {
                command: "./install.sh".into(),
            },
        );
        request.fragment_size = 200;
        let chunks = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(archive))]);
        let package = service.build(request, Some(chunks), now()).await.unwrap();
        let activation = service
            .activate(
                package.id,
                &format!("{https}/download"),
                &format!("{http}/download"),
                now(),
            )
            .await
            .unwrap();
        service
            .affect(
                activation,
                &AffectTarget::Computers(vec![device.clone()]),
                &AffectOptions::default(),
                now(),
            )
            .await
            .unwrap();
        // Kill the agent at random moments until the server holds the result.
        let deadline = Instant::now() + Duration::from_secs(120);
        // At most this many kills per package, so every deployment ends.
        let budget = KILLS_PER_PACKAGE;
        let mut killed_here = 0;
        loop {
            let current = status(&service, package.id).await;
            if current.as_deref().is_some_and(|s| s != "NOTIFIED") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "package {p} never ended: {current:?}"
            );
            let mut child = agent(&state);
            if killed_here < budget {
                let wait = Duration::from_millis(rng.below(window));
                tokio::time::sleep(wait).await;
                if child.try_wait().unwrap().is_none() {
                    child.kill().unwrap();
                    kills += 1;
                    killed_here += 1;
                } else {
                    window = (window * 2 / 3).max(5);
                }
                let _ = child.wait();
            } else {
                let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
                    .await
                    .unwrap();
                assert!(exit.success() || killed_here > 0, "{exit:?}");
            }
        }
        results.insert(p, status(&service, package.id).await.unwrap());
        p += 1;
    }
    // Whatever the last kills left (a result made but not sent) is delivered now.
    let done = agent(&state).wait().unwrap();
    assert!(done.success());

    // Give killed runs' scripts (in their own process groups) time to finish.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ledger = std::fs::read_to_string(&ledger).unwrap_or_default();
    for p in 0..results.len() {
        let starts = ledger
            .lines()
            .filter(|l| *l == format!("start {p}"))
            .count();
        assert!(starts <= 1, "package {p} ran {starts} times:\n{ledger}");
        let result = &results[&p];
        // Ran and reported, or interrupted while running and reported as such.
        assert!(
            result == "SUCCESS" || result == "ERR_EXECUTE_NO_EXIT_CODE",
            "package {p}: {result}"
        );
        if result == "SUCCESS" {
            assert_eq!(starts, 1, "package {p} succeeded without running");
        }
    }
    println!(
        "{kills} kills in {} packages; results: {:?}",
        results.len(),
        results
            .values()
            .fold(BTreeMap::<&str, usize>::new(), |mut m, r| {
                *m.entry(r.as_str()).or_default() += 1;
                m
            })
    );
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

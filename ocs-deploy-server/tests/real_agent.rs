//! Interop: the real OCS Unix agent (Debian's `ocsinventory-agent`) deploys packages from
//! `ocs-deploy-server` on loopback. Its download work continues in a forked child after
//! the command returns, so the test waits for the result the server records.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use common::Serving;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const AGENT: &str = "ocsinventory-agent";

/// Whether the real agent is installed; in CI its absence fails the test.
fn agent_available() -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {AGENT}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{AGENT} is required when CI=true (apt-get install ocsinventory-agent)"
        );
        println!("skipping: {AGENT} is not installed");
    }
    found
}

fn server(data: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ocs-deploy-server"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .expect("the server binary runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A package folder made into a TAR.GZ with `tar`, as the OCS packager does.
fn tar_gz(dir: &Path, files: &[(&str, &str, u32)]) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    for (name, content, mode) in files {
        let path = src.join(name);
        std::fs::write(&path, content).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
        }
    }
    let archive = dir.join("package.tar.gz");
    let status = Command::new("tar")
        .arg("czf")
        .arg(&archive)
        .arg("-C")
        .arg(&src)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    archive
}

/// Runs the real agent once against the server (HTTPS, our generated CA).
fn run_agent(work: &Path, data: &Path, https: &str) {
    let vardir = work.join("agent-var");
    std::fs::create_dir_all(&vardir).unwrap();
    let out = Command::new(AGENT)
        .args(["--nolocal", "--server"])
        .arg(format!("https://{https}/ocsinventory"))
        .arg("--basevardir")
        .arg(&vardir)
        .arg("--ca")
        .arg(data.join("cacert.pem"))
        .args(["--ssl", "1", "--nosoftware", "--logfile"])
        .arg(work.join("agent.log"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "agent: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(work.join("agent.log")).unwrap_or_default()
    );
}

/// Waits until the server holds a result for the package (not waiting, not notified).
fn wait_for_result(work: &Path, data: &Path, id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = server(data, &["package", "status", id]);
        let result = status
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(_, s)| s.to_owned()))
            .find(|s| s != "WAITING_NOTIFICATION" && s != "NOTIFIED");
        if let Some(result) = result {
            return result;
        }
        assert!(
            Instant::now() < deadline,
            "no result for {id}: {status}\n{}",
            std::fs::read_to_string(work.join("agent.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// One server and one real agent, packages built and affected one after another.
struct Scenario {
    work: tempfile::TempDir,
    data: PathBuf,
    serving: Serving,
}

impl Scenario {
    fn new() -> Self {
        let work = tempfile::tempdir().unwrap();
        let data = work.path().join("data");
        // A first command creates the database and the settings.
        for key in ["FRAG_LATENCY", "CYCLE_LATENCY", "PERIOD_LATENCY"] {
            server(&data, &["config", "set", key, "0"]);
        }
        let serving = Serving::start(&data);
        let scenario = Self {
            work,
            data,
            serving,
        };
        // The server learns the computer from the agent's first inventory.
        scenario.run_agent();
        scenario
    }

    fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// Builds and activates a package; `archive` is `None` for an Execute without file.
    fn package(&self, archive: Option<&Path>, action: &str, command: &str, priority: u8) -> String {
        let mut args: Vec<String> = vec!["package".into(), "build".into()];
        if let Some(a) = archive {
            args.push(a.display().to_string());
        }
        let priority = priority.to_string();
        for a in [
            "--name",
            "interop",
            "--priority",
            priority.as_str(),
            "--action",
            action,
            "--command",
            command,
        ] {
            args.push(a.into());
        }
        if archive.is_some() {
            args.extend(["--fragments".into(), "2".into()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let id = server(&self.data, &args);
        server(
            &self.data,
            &[
                "package",
                "activate",
                &id,
                "--info-url",
                &format!("{}/download", self.serving.https),
                "--pack-url",
                &format!("{}/download", self.serving.http),
                "--allow-loopback",
            ],
        );
        id
    }

    fn affect(&self, id: &str, force: bool) {
        let mut args = vec!["package", "affect", id, "--all"];
        if force {
            args.push("--force");
        }
        assert_eq!(server(&self.data, &args), "1");
    }

    fn run_agent(&self) {
        run_agent(self.work.path(), &self.data, &self.serving.https);
    }

    fn result(&self, id: &str) -> String {
        wait_for_result(self.work.path(), &self.data, id)
    }
}

fn launch_script(scenario: &Scenario, marker: &Path, sub: &str) -> PathBuf {
    let dir = scenario.path(sub);
    std::fs::create_dir_all(&dir).unwrap();
    tar_gz(
        &dir,
        &[(
            "install.sh",
            &format!(
                "#!/bin/sh\necho \"ran with $*\" > '{}'\nexit 0\n",
                marker.display()
            ),
            0o755,
        )],
    )
}

/// History, FORCE, an Execute without file, a Store into a new nested folder, a wrong
/// digest, and a priority-0 package next to another: each as the real agent ends it.
#[test]
fn the_real_unix_agent_follows_every_kind_of_package() {
    if !agent_available() {
        return;
    }
    let s = Scenario::new();

    // Launch, then again (in the agent's history: not run), then forced (run again).
    let marker = s.path("launch.txt");
    let launch = s.package(
        Some(&launch_script(&s, &marker, "launch")),
        "launch",
        "install.sh",
        5,
    );
    s.affect(&launch, false);
    s.run_agent();
    assert_eq!(s.result(&launch), "SUCCESS_0");
    std::fs::remove_file(&marker).unwrap();
    s.affect(&launch, false);
    s.run_agent();
    let again = s.result(&launch);
    assert!(
        again == "SUCCESS_ALREADY_IN_HISTORY" || again == "SUCCESS_ALREADY_SETUP",
        "{again}"
    );
    assert!(
        !marker.exists(),
        "a package in the history is not run again"
    );
    s.affect(&launch, true);
    s.run_agent();
    assert_eq!(s.result(&launch), "SUCCESS_0");
    assert!(marker.exists(), "FORCE runs it again");

    // Execute without a file.
    let executed = s.path("executed.txt");
    let execute = s.package(
        None,
        "execute",
        &format!("echo done > '{}'", executed.display()),
        5,
    );
    s.affect(&execute, false);
    s.run_agent();
    assert_eq!(s.result(&execute), "SUCCESS");
    assert_eq!(std::fs::read_to_string(&executed).unwrap(), "done\n");

    // Store into a folder that does not exist yet.
    let target = s.path("stored/deep/folder");
    let dir = s.path("store");
    std::fs::create_dir_all(&dir).unwrap();
    let archive = tar_gz(&dir, &[("app.conf", "key=value\n", 0o644)]);
    let store = s.package(Some(&archive), "store", target.to_str().unwrap(), 5);
    s.affect(&store, false);
    s.run_agent();
    assert_eq!(s.result(&store), "SUCCESS");
    assert_eq!(
        std::fs::read_to_string(target.join("app.conf")).unwrap(),
        "key=value\n"
    );

    // A fragment altered on the download server: the digest does not match.
    let bad_marker = s.path("bad.txt");
    let bad = s.package(
        Some(&launch_script(&s, &bad_marker, "bad")),
        "launch",
        "install.sh",
        5,
    );
    let fragment = s.data.join("packages").join(&bad).join(format!("{bad}-1"));
    let mut bytes = std::fs::read(&fragment).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&fragment, bytes).unwrap();
    s.affect(&bad, false);
    s.run_agent();
    assert_eq!(s.result(&bad), "ERR_BAD_DIGEST");
    assert!(!bad_marker.exists());

    // Priority 0 next to priority 5: both deployed.
    let first = s.path("first.txt");
    let second = s.path("second.txt");
    let urgent = s.package(
        Some(&launch_script(&s, &first, "urgent")),
        "launch",
        "install.sh",
        0,
    );
    let normal = s.package(
        Some(&launch_script(&s, &second, "normal")),
        "launch",
        "install.sh",
        5,
    );
    s.affect(&urgent, false);
    s.affect(&normal, false);
    s.run_agent();
    assert_eq!(s.result(&urgent), "SUCCESS_0");
    assert_eq!(s.result(&normal), "SUCCESS_0");
    assert!(first.exists() && second.exists());
}

#[test]
fn the_real_unix_agent_deploys_a_launch_package_from_our_server() {
    if !agent_available() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let marker = work.path().join("ran.txt");
    let archive = tar_gz(
        work.path(),
        &[(
            "install.sh",
            &format!(
                "#!/bin/sh\necho \"ran with $*\" > '{}'\nexit 0\n",
                marker.display()
            ),
            0o755,
        )],
    );
    let id = server(
        &data,
        &[
            "package",
            "build",
            archive.to_str().unwrap(),
            "--name",
            "real agent",
            "--priority",
            "5",
            "--action",
            "launch",
            "--command",
            "install.sh",
            "--fragments",
            "2",
        ],
    );
    for key in ["FRAG_LATENCY", "CYCLE_LATENCY", "PERIOD_LATENCY"] {
        server(&data, &["config", "set", key, "0"]);
    }
    let serving = Serving::start(&data);
    server(
        &data,
        &[
            "package",
            "activate",
            &id,
            "--info-url",
            &format!("{}/download", serving.https),
            "--pack-url",
            &format!("{}/download", serving.http),
            "--allow-loopback",
        ],
    );
    // First run: the server learns the computer from its inventory.
    run_agent(work.path(), &data, &serving.https);
    assert_eq!(server(&data, &["package", "affect", &id, "--all"]), "1");
    // Second run: the package is offered, fetched, built, run; the result posted.
    run_agent(work.path(), &data, &serving.https);
    let result = wait_for_result(work.path(), &data, &id);
    assert_eq!(result, "SUCCESS_0");
    let ran = std::fs::read_to_string(&marker).unwrap();
    assert!(ran.starts_with("ran with"), "{ran}");
    drop(serving);
}

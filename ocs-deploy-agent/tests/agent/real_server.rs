//! The `ocs-deploy-agent` binary against the REAL OCS Inventory NG communication server
//! (Debian's `ocsinventory-server`: Perl under Apache `mod_perl`, `MariaDB`), on loopback,
//! driven with `real-ocs-server.sh` (`make-package`, `add-package`, `affect`, `status`).
//!
//! Each test registers a fresh device (a first `--once` run: PROLOG, then the inventory
//! that makes the server's `hardware` row), affects packages to it, runs the agent again
//! with `--once` and reads the result the server stored (`devices.TVALUE`).
//!
//! Where the server is found (environment, defaults of the script):
//! - `OCS_REAL_SERVER_SCRIPT`: the script (default `../shared/tools/real-ocs-server.sh`
//!   next to the workspace);
//! - `OCS_WORK` (`/tmp/real-ocs`): its work folder, whose `ssl/cert.pem` (the server's
//!   self-signed certificate) is the agent's `--ca`;
//! - `OCS_REAL_SERVER_URL` (`https://127.0.0.1:$OCS_HTTPS_PORT/ocsinventory`,
//!   port 18543).
//!
//! A missing server fails the tests when `CI=true`, else they print `skipping: ...`.
//! `bash scripts/test` brings the server up when it can (root, apt).

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The real server, found and answering.
struct RealServer {
    script: PathBuf,
    url: String,
    ca: PathBuf,
    work: PathBuf,
}

/// Registrations one at a time: the agent makes its device id from the host name and the
/// second it first runs, so two first runs in one second would be one device.
static REGISTER: Mutex<()> = Mutex::new(());

/// Package ids unique to this run: the start time in seconds, then a counter.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// The real server, or `None` (after printing why) when it is missing outside CI.
///
/// # Panics
/// When it is missing and `CI=true`.
fn real_server(test: &str) -> Option<RealServer> {
    let default_script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/tools/real-ocs-server.sh")
        .to_string_lossy()
        .into_owned();
    let script = PathBuf::from(env_or("OCS_REAL_SERVER_SCRIPT", &default_script));
    let work = PathBuf::from(env_or("OCS_WORK", "/tmp/real-ocs"));
    let https_port: u16 = env_or("OCS_HTTPS_PORT", "18543").parse().unwrap_or(18543);
    let url = env_or(
        "OCS_REAL_SERVER_URL",
        &format!("https://127.0.0.1:{https_port}/ocsinventory"),
    );
    let ca = work.join("ssl/cert.pem");
    let missing = if !script.is_file() {
        Some(format!("no script at {}", script.display()))
    } else if !ca.is_file() {
        Some(format!(
            "no server certificate at {} (the server was never brought up)",
            ca.display()
        ))
    } else if TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], https_port)),
        Duration::from_secs(2),
    )
    .is_err()
    {
        Some(format!("nothing answers on 127.0.0.1:{https_port}"))
    } else {
        // The script drives the server's database: it needs root and the database.
        match Command::new(&script)
            .args(["sql", "SELECT 1"])
            .env("OCS_WORK", &work)
            .output()
        {
            Ok(out) if out.status.success() => None,
            Ok(out) => Some(format!(
                "`{} sql` fails: {}",
                script.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => Some(format!("{} does not run: {e}", script.display())),
        }
    };
    match missing {
        None => Some(RealServer {
            script,
            url,
            ca,
            work,
        }),
        Some(why) => {
            let how = format!(
                "start it with `{} up` as root (or run `bash scripts/test`, which does it); \
                 set OCS_REAL_SERVER_SCRIPT / OCS_WORK / OCS_REAL_SERVER_URL if it lives elsewhere",
                script.display()
            );
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "the real OCS server is required when CI=true: {why}; {how}"
            );
            eprintln!("skipping {test}: the real OCS server is missing ({why}); {how}");
            None
        }
    }
}

impl RealServer {
    /// Runs the script; its stdout when it succeeds.
    fn script(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let out = Command::new(&self.script)
            .args(args)
            .env("OCS_WORK", &self.work)
            .envs(env.iter().copied())
            .output()
            .expect("the script runs");
        assert!(
            out.status.success(),
            "{} {args:?} failed:\n{}{}",
            self.script.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A package id never used before on this server.
    fn new_package_id() -> u64 {
        let base = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            * 100;
        let _ = NEXT_ID.compare_exchange(0, base, Ordering::SeqCst, Ordering::SeqCst);
        NEXT_ID.fetch_add(1, Ordering::SeqCst)
    }

    /// Packs `src` (`make-package`) and activates it (`add-package`); returns its id and
    /// the folder the server serves its files from.
    fn add_package(
        &self,
        src: &Path,
        command: &str,
        fragments: u32,
        env: &[(&str, &str)],
    ) -> (u64, PathBuf) {
        let id = Self::new_package_id();
        let made = self.script(
            &[
                "make-package",
                src.to_str().unwrap(),
                &id.to_string(),
                command,
                &fragments.to_string(),
            ],
            env,
        );
        let dir = made
            .lines()
            .last()
            .expect("make-package prints the package dir");
        self.script(&["add-package", dir, &id.to_string()], &[]);
        (id, self.work.join("download").join(id.to_string()))
    }

    fn affect(&self, package: u64, device: &str) {
        self.script(&["affect", &package.to_string(), device], &[]);
    }

    /// What the server stored as the package's result for the device (`devices.TVALUE`).
    fn status(&self, package: u64, device: &str) -> String {
        let table = self.script(&["status", &package.to_string()], &[]);
        table
            .lines()
            .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
            .find(|cells| cells.get(3) == Some(&device))
            .and_then(|cells| cells.get(6).map(|v| (*v).to_owned()))
            .unwrap_or_else(|| panic!("no status row for {package} and {device}:\n{table}"))
    }

    /// Asserts the server stored `expected` for the package, showing the agent's log if not.
    fn assert_status(&self, package: u64, device: &str, expected: &str, run: &Output) {
        let status = self.status(package, device);
        let log = String::from_utf8_lossy(&run.stderr);
        assert!(
            !log.contains("inventory not sent"),
            "the real server refused the inventory:\n{log}"
        );
        assert_eq!(
            status,
            expected,
            "package {package} on {device}; the agent said:\n{}\n(server logs: `{} logs`)",
            String::from_utf8_lossy(&run.stderr),
            self.script.display()
        );
    }

    /// Runs the agent binary once (`--once`) with its state in `state`.
    fn run_agent(&self, state: &Path, extra: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_ocs-deploy-agent"))
            .args([
                "--server",
                &self.url,
                "--ca",
                self.ca.to_str().unwrap(),
                "--state-dir",
                state.to_str().unwrap(),
                "--once",
            ])
            .args(extra)
            .env("RUST_LOG", "info")
            .output()
            .expect("the agent binary runs");
        assert!(
            out.status.success(),
            "the agent failed against the real server:\n{}\n(server logs: `{} logs`)",
            String::from_utf8_lossy(&out.stderr),
            self.script.display()
        );
        out
    }

    /// A first run: the server now has the device. Returns its id.
    fn register(&self, state: &Path) -> String {
        let _one_at_a_time = REGISTER
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.run_agent(state, &[]);
        let device = std::fs::read_to_string(state.join("device-id")).unwrap();
        let device = device.trim().to_owned();
        // The next registration makes its id in a later second.
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_millis();
        std::thread::sleep(Duration::from_millis(u64::from(1000 - ms) + 10));
        let hardware = self.script(
            &[
                "sql",
                &format!("SELECT COUNT(*) AS N FROM hardware WHERE DEVICEID='{device}'"),
            ],
            &[],
        );
        assert!(
            hardware
                .lines()
                .any(|l| l.trim_matches(|c| c == '|' || c == ' ') == "1"),
            "the real server has no hardware row for {device} after the first run:\n{hardware}"
        );
        device
    }
}

/// A folder holding `install.sh`, which writes its arguments into `marker`.
fn script_package(dir: &Path, marker: &Path) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let script = src.join("install.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"ran with $*\" > '{}'\n", marker.display()),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    src
}

/// A Launch package in two fragments, its command written as the console writes it
/// (`install.sh hello world`), in each result spelling.
fn launch(style: &[&str], expected: &str) {
    let Some(server) = real_server("launch") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let device = server.register(&state);
    let marker = dir.path().join("ran.txt");
    let src = script_package(dir.path(), &marker);
    let (package, _) = server.add_package(&src, "install.sh hello world", 2, &[]);
    server.affect(package, &device);
    let run = server.run_agent(&state, style);
    server.assert_status(package, &device, expected, &run);
    let ran = std::fs::read_to_string(&marker).expect("the Launch script ran");
    assert_eq!(ran.trim(), "ran with hello world");
}

#[test]
fn a_launch_package_of_two_fragments_reports_success() {
    launch(&[], "SUCCESS");
}

#[test]
fn a_launch_package_reports_success_0_in_the_unix_spelling() {
    launch(&["--result-style", "unix"], "SUCCESS_0");
}

#[test]
fn an_execute_package_runs_its_command() {
    let Some(server) = real_server("execute") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let device = server.register(&state);
    // make-package always packs a folder: an empty one here, the command is the package.
    let src = dir.path().join("empty");
    std::fs::create_dir_all(&src).unwrap();
    let marker = dir.path().join("executed.txt");
    // No `<`, `>`, `&` or `"`: make-package's XML escaping turns `>` into `>gt;` under
    // bash 5.2 (`patsub_replacement`), which breaks the command.
    let command = format!("touch '{}'", marker.display());
    let (package, _) = server.add_package(&src, &command, 1, &[("OCS_PKG_ACT", "EXECUTE")]);
    server.affect(package, &device);
    let run = server.run_agent(&state, &[]);
    server.assert_status(package, &device, "SUCCESS", &run);
    assert!(marker.exists(), "the Execute command ran");
}

#[test]
fn an_execute_package_without_a_file_runs_its_command() {
    let Some(server) = real_server("execute without a file") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let device = server.register(&state);
    // make-package always packs a folder; the console writes a package without a file as
    // `FRAGS="0"` and an empty digest, and add-package takes that as it is.
    let package = RealServer::new_package_id();
    let pkg = dir.path().join("nofile");
    std::fs::create_dir_all(&pkg).unwrap();
    let marker = dir.path().join("executed.txt");
    std::fs::write(
        pkg.join("info"),
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DOWNLOAD ID=\"{package}\" PRI=\"5\" ACT=\"EXECUTE\" DIGEST=\"\" PROTO=\"HTTP\" FRAGS=\"0\" DIGEST_ALGO=\"MD5\" DIGEST_ENCODE=\"Hexa\" COMMAND=\"touch &apos;{}&apos;\" NOTIFY_USER=\"0\" NOTIFY_TEXT=\"\" NOTIFY_COUNTDOWN=\"\" NOTIFY_CAN_ABORT=\"0\" NOTIFY_CAN_DELAY=\"0\" NEED_DONE_ACTION=\"0\" NEED_DONE_ACTION_TEXT=\"\" GARDEFOU=\"rien\" />\n",
            marker.display()
        ),
    )
    .unwrap();
    server.script(
        &["add-package", pkg.to_str().unwrap(), &package.to_string()],
        &[],
    );
    server.affect(package, &device);
    let run = server.run_agent(&state, &[]);
    server.assert_status(package, &device, "SUCCESS", &run);
    assert!(marker.exists(), "the Execute command ran");
}

#[test]
fn a_store_package_lands_in_a_new_nested_folder() {
    let Some(server) = real_server("store") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let device = server.register(&state);
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("conf")).unwrap();
    std::fs::write(src.join("conf/app.ini"), "key=value\n").unwrap();
    std::fs::write(src.join("readme.txt"), "stored by the real server test\n").unwrap();
    let target = dir.path().join("store/new/nested");
    let (package, _) = server.add_package(
        &src,
        target.to_str().unwrap(),
        2,
        &[("OCS_PKG_ACT", "STORE")],
    );
    server.affect(package, &device);
    let run = server.run_agent(&state, &[]);
    server.assert_status(package, &device, "SUCCESS", &run);
    assert_eq!(
        std::fs::read_to_string(target.join("conf/app.ini")).unwrap(),
        "key=value\n"
    );
    assert_eq!(
        std::fs::read_to_string(target.join("readme.txt")).unwrap(),
        "stored by the real server test\n"
    );
}

#[test]
fn a_corrupted_fragment_reports_err_bad_digest_and_nothing_runs() {
    let Some(server) = real_server("bad digest") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let device = server.register(&state);
    let marker = dir.path().join("ran.txt");
    let src = script_package(dir.path(), &marker);
    let (package, download_dir) = server.add_package(&src, "install.sh", 2, &[]);
    // One byte of the second fragment changed where the server serves it from.
    let fragment = download_dir.join(format!("{package}-2"));
    let mut bytes = std::fs::read(&fragment).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&fragment, bytes).unwrap();
    server.affect(package, &device);
    let run = server.run_agent(&state, &[]);
    server.assert_status(package, &device, "ERR_BAD_DIGEST", &run);
    assert!(!marker.exists(), "a package that failed its digest ran");
}

#[test]
fn a_priority_0_package_and_another_both_succeed() {
    let Some(server) = real_server("priority 0") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let device = server.register(&state);
    let urgent_marker = dir.path().join("urgent.txt");
    let urgent_src = script_package(&dir.path().join("urgent"), &urgent_marker);
    let (urgent, _) = server.add_package(&urgent_src, "install.sh", 2, &[("OCS_PKG_PRI", "0")]);
    let normal_marker = dir.path().join("normal.txt");
    let normal_src = script_package(&dir.path().join("normal"), &normal_marker);
    let (normal, _) = server.add_package(&normal_src, "install.sh", 2, &[]);
    server.affect(urgent, &device);
    server.affect(normal, &device);
    let run = server.run_agent(&state, &[]);
    server.assert_status(urgent, &device, "SUCCESS", &run);
    server.assert_status(normal, &device, "SUCCESS", &run);
    assert!(urgent_marker.exists() && normal_marker.exists());
}

#[test]
fn the_real_server_answers_our_user_agent_and_refuses_others() {
    let Some(server) = real_server("user agent") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Ours (`OCS-NG_unified_unix_agent_v2.10.0 (ocs-deploy/…)`) passes: every other test
    // registers with it. The server reads `<name>_v<version>` and keeps `d.d` of the
    // version, so `2.10.0` is 2.1, at most its own 2.8; `2.9.0` is not, and a name it
    // does not know is refused whatever the version.
    for refused in ["ocs-deploy/0.1.0", "OCS-NG_unified_unix_agent_v2.9.0"] {
        let out = Command::new(env!("CARGO_BIN_EXE_ocs-deploy-agent"))
            .args([
                "--server",
                &server.url,
                "--ca",
                server.ca.to_str().unwrap(),
                "--state-dir",
                dir.path().join("state").to_str().unwrap(),
                "--once",
                "--user-agent",
                refused,
            ])
            .output()
            .expect("the agent binary runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{refused} accepted:\n{err}");
        assert!(err.contains("HTTP status 400"), "{refused}:\n{err}");
    }
}

//! The OS executor: exit codes, the folder, expansion, and the time limit that kills the
//! whole process group.

use std::path::Path;
use std::time::{Duration, Instant};

use ocs_deploy_agent::exec::{RunOutcome, ShellCommand, expand, run};

fn command(text: &str, dir: &Path, timeout: Duration) -> ShellCommand {
    ShellCommand {
        command: text.to_owned(),
        dir: dir.to_owned(),
        timeout,
    }
}

#[tokio::test]
async fn exit_codes_and_output_are_captured() {
    let dir = tempfile::tempdir().unwrap();
    for code in [0, 1, 3, 255] {
        let outcome = run(&command(
            &format!("echo out; echo err >&2; exit {code}"),
            dir.path(),
            Duration::from_secs(10),
        ))
        .await;
        let RunOutcome::Exited { code: got, output } = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(got, code);
        assert!(output.contains("out") && output.contains("err"), "{output}");
    }
    // Killed by a signal: 128 + n, as shells say.
    let outcome = run(&command(
        "kill -TERM $$",
        dir.path(),
        Duration::from_secs(10),
    ))
    .await;
    assert!(
        matches!(outcome, RunOutcome::Exited { code: 143, .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn the_command_runs_in_its_folder_with_variables_expanded() {
    let dir = tempfile::tempdir().unwrap();
    let text = expand(
        "pwd > where.txt; echo %OCSD_TEST_VAR% $OCSD_TEST_SHELL INSTALL_PATH > what.txt",
        Path::new("/opt/ocs-agent"),
        |name| (name == "OCSD_TEST_VAR").then(|| "from-percent".to_owned()),
    );
    let mut cmd = command(&text, dir.path(), Duration::from_secs(10));
    cmd.command = format!("OCSD_TEST_SHELL=from-shell; {}", cmd.command);
    let outcome = run(&cmd).await;
    assert!(
        matches!(outcome, RunOutcome::Exited { code: 0, .. }),
        "{outcome:?}"
    );
    let here = std::fs::read_to_string(dir.path().join("where.txt")).unwrap();
    assert_eq!(
        Path::new(here.trim()).canonicalize().unwrap(),
        dir.path().canonicalize().unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("what.txt")).unwrap(),
        "from-percent from-shell /opt/ocs-agent\n"
    );
}

#[tokio::test]
async fn a_command_that_cannot_start_is_reported() {
    let outcome = run(&command(
        "true",
        Path::new("/nonexistent/ocsd/folder"),
        Duration::from_secs(5),
    ))
    .await;
    assert!(matches!(outcome, RunOutcome::StartFailed(_)), "{outcome:?}");
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_time_limit_kills_the_whole_process_tree() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let outcome = run(&command(
        "sleep 60 & echo $! > child.pid; sh -c 'sleep 60' & echo $! > grandchild.pid; wait",
        dir.path(),
        Duration::from_millis(500),
    ))
    .await;
    assert_eq!(outcome, RunOutcome::TimedOut);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "it did not wait for the sleeps"
    );
    for file in ["child.pid", "grandchild.pid"] {
        let pid = std::fs::read_to_string(dir.path().join(file)).unwrap();
        let proc_dir = Path::new("/proc").join(pid.trim());
        // Killed processes may linger as zombies until reaped by init: check the state.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let state = std::fs::read_to_string(proc_dir.join("stat")).unwrap_or_default();
            let alive = state
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next())
                .is_some_and(|s| s != "Z" && s != "X");
            if !alive {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{file} ({}) still runs: {state}",
                pid.trim()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn background_processes_do_not_hold_up_a_command_that_exited() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let outcome = run(&command(
        "sleep 30 & echo started; exit 0",
        dir.path(),
        Duration::from_secs(60),
    ))
    .await;
    assert!(
        matches!(outcome, RunOutcome::Exited { code: 0, ref output } if output.contains("started")),
        "{outcome:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

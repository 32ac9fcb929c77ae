//! Running a package's command: through the shell, in the package's own folder, with a
//! time limit that kills the whole process tree.
//!
//! As the OCS agents do, `%VAR%` is replaced by the environment variable's value (the
//! Windows agent's `ExpandEnvironmentStrings`; an unknown variable stays as written) and
//! then `INSTALL_PATH` by the agent's install folder; the shell (`sh -c`) expands `$VAR`
//! and `${VAR}`. The command runs in its own process group: when the time limit passes,
//! the group is killed (`SIGKILL`), so children started in the background die with it.
//! A process that leaves the group on purpose (`setsid`) is not followed. A command that
//! exits in time may leave background processes running (a package may start a service).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _};
use tokio::process::Command;

/// The most output kept (and logged) from each of stdout and stderr.
const OUTPUT_KEPT: usize = 16 * 1024;

/// How long output is still read after the command exits.
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// A command to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellCommand {
    /// The command line, as the package gives it.
    pub command: String,
    /// The folder it runs in (the package's extracted archive, or its own empty folder).
    pub dir: PathBuf,
    /// How long it may run (`EXECUTION_TIMEOUT`).
    pub timeout: Duration,
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// It exited with this code (a signal `n` gives `128 + n`, as shells report it).
    Exited {
        /// The exit code.
        code: i32,
        /// The end of its standard output and error, for the logs.
        output: String,
    },
    /// It ran longer than its time limit; its process group was killed.
    TimedOut,
    /// It could not be started.
    StartFailed(String),
}

/// Replaces `%VAR%` by `lookup(VAR)` where it is defined, then `INSTALL_PATH` by
/// `install_path`.
///
/// ```
/// use std::path::Path;
/// use ocs_deploy_agent::exec::expand;
///
/// let env = |name: &str| (name == "TEMP").then(|| "/var/tmp".to_owned());
/// assert_eq!(
///     expand("cp %TEMP%/a INSTALL_PATH/b %UNSET% 100%", Path::new("/opt/ocs"), env),
///     "cp /var/tmp/a /opt/ocs/b %UNSET% 100%"
/// );
/// ```
pub fn expand(
    command: &str,
    install_path: &Path,
    lookup: impl Fn(&str) -> Option<String>,
) -> String {
    let mut out = String::with_capacity(command.len());
    let mut rest = command;
    while let Some(start) = rest.find('%') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('%') {
            Some(end)
                if end > 0
                    && after[..end]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '(' || c == ')') =>
            {
                let name = &after[..end];
                if let Some(value) = lookup(name) {
                    out.push_str(&value);
                } else {
                    out.push('%');
                    out.push_str(name);
                    out.push('%');
                }
                rest = &after[end + 1..];
            }
            _ => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.replace("INSTALL_PATH", &install_path.to_string_lossy())
}

/// Runs a command through `sh -c` in its folder, in a process group of its own, and waits
/// for it at most its time limit.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use ocs_deploy_agent::exec::{run, RunOutcome, ShellCommand};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let outcome = run(&ShellCommand {
///     command: "echo hello; exit 3".into(),
///     dir: std::env::temp_dir(),
///     timeout: Duration::from_secs(10),
/// })
/// .await;
/// assert!(matches!(outcome, RunOutcome::Exited { code: 3, ref output } if output.contains("hello")));
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn run(command: &ShellCommand) -> RunOutcome {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(&command.command)
        .current_dir(&command.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            tracing::warn!(command = %command.command, dir = %command.dir.display(), error = %e, "command could not start");
            return RunOutcome::StartFailed(e.to_string());
        }
    };
    let pid = child.id();
    let (out_kept, err_kept) = (Kept::default(), Kept::default());
    let stdout = child
        .stdout
        .take()
        .map(|s| tokio::spawn(tail(s, out_kept.clone())));
    let stderr = child
        .stderr
        .take()
        .map(|s| tokio::spawn(tail(s, err_kept.clone())));
    let status = match tokio::time::timeout(command.timeout, child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return RunOutcome::StartFailed(e.to_string()),
        Err(_elapsed) => {
            kill_group(pid);
            let _ = child.wait().await;
            tracing::warn!(command = %command.command, timeout = ?command.timeout, "command timed out; its process group was killed");
            return RunOutcome::TimedOut;
        }
    };
    // Background children the command left running may hold the pipes open: they keep
    // running (a package may start a service), and their output is no longer read after
    // a short grace period.
    for task in [stdout, stderr].into_iter().flatten() {
        let abort = task.abort_handle();
        if tokio::time::timeout(OUTPUT_GRACE, task).await.is_err() {
            abort.abort();
        }
    }
    let output = kept_text(&out_kept) + &kept_text(&err_kept);
    let code = exit_code(status);
    tracing::info!(command = %command.command, code, "command exited");
    tracing::debug!(output = %output, "command output");
    RunOutcome::Exited { code, output }
}

#[cfg(unix)]
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt as _;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

#[cfg(not(unix))]
fn exit_code(status: std::process::ExitStatus) -> i32 {
    status.code().unwrap_or(-1)
}

#[cfg(unix)]
fn kill_group(pid: Option<u32>) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        // ESRCH (the group is gone already) is the usual answer and not an error.
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

#[cfg(not(unix))]
fn kill_group(_pid: Option<u32>) {}

/// The output kept from one stream, shared with the task that reads it, so that what was
/// read survives when that task is given up on.
type Kept = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;

/// Reads a stream to its end, keeping its last [`OUTPUT_KEPT`] bytes.
async fn tail(mut stream: impl AsyncRead + Unpin, kept: Kept) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let Ok(mut kept) = kept.lock() else { break };
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > 2 * OUTPUT_KEPT {
            let cut = kept.len() - OUTPUT_KEPT;
            kept.drain(..cut);
        }
    }
}

/// The text of what was kept.
fn kept_text(kept: &Kept) -> String {
    let Ok(kept) = kept.lock() else {
        return String::new();
    };
    let start = kept.len().saturating_sub(OUTPUT_KEPT);
    String::from_utf8_lossy(&kept[start..]).into_owned()
}

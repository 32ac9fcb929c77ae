//! Notifications on a terminal: the package's text, a countdown, and the answers the
//! package allows (accept, abort, delay), read a line at a time.
//!
//! [`Terminal`] is generic over its input (any [`AsyncBufRead`]) and its output (any
//! [`Write`]), so it runs the same on a real terminal and on scripted bytes in tests.

use std::io::Write;
use std::time::Duration;

use async_trait::async_trait;
use ocs_deploy_core::PackageId;
use ocs_deploy_core::package::{DoneAction, Notification};
use tokio::io::{AsyncBufRead, AsyncBufReadExt as _};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::runtime::{Answer, Notifier};

/// The countdown when the info file leaves `NOTIFY_COUNTDOWN` empty (as the Windows agent).
pub const DEFAULT_COUNTDOWN: Duration = Duration::from_secs(120);

/// Asks on a terminal: shows the text and the answers allowed, counts down, and accepts
/// when the countdown ends (or at once with a countdown of 0).
///
/// Answers, one per line, case-insensitive: an empty line, `a`, `accept`, `y` or `yes`
/// installs now; `b`, `abort`, `n` or `no` aborts when `NOTIFY_CAN_ABORT` allows it;
/// `d`, `delay` or `later` delays when `NOTIFY_CAN_DELAY` allows it. Anything else, or an
/// answer the package does not allow, is refused with a hint and the countdown goes on.
/// When the input ends (no one can answer), the countdown runs out and the package installs.
///
/// ```
/// use ocs_deploy_agent::notify::Terminal;
/// use ocs_deploy_agent::runtime::{Answer, Notifier as _};
/// use ocs_deploy_core::package::Notification;
/// use ocs_deploy_core::PackageId;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let notification = Notification {
///     enabled: true,
///     text: "Closing your browser".into(),
///     countdown_secs: Some(30),
///     can_abort: true,
///     can_delay: false,
/// };
/// let terminal = Terminal::new(&b"abort\n"[..], Vec::new());
/// let id: PackageId = "1700000000".parse().unwrap();
/// assert_eq!(terminal.notify(id, &notification).await, Answer::Abort);
/// let shown = String::from_utf8(terminal.into_parts().1).unwrap();
/// assert!(shown.contains("Closing your browser"));
/// # });
/// ```
#[derive(Debug)]
pub struct Terminal<R, W> {
    input: Mutex<R>,
    output: std::sync::Mutex<W>,
}

impl<R, W> Terminal<R, W> {
    /// A notifier reading answers from `input` and writing to `output` (stdin and stderr
    /// in the `ocs-deploy-agent` binary).
    pub fn new(input: R, output: W) -> Self {
        Self {
            input: Mutex::new(input),
            output: std::sync::Mutex::new(output),
        }
    }

    /// Gives back the input and the output.
    pub fn into_parts(self) -> (R, W) {
        let output = match self.output.into_inner() {
            Ok(o) => o,
            Err(poisoned) => poisoned.into_inner(),
        };
        (self.input.into_inner(), output)
    }
}

impl<R, W: Write> Terminal<R, W> {
    /// Writes a line; a terminal that cannot be written to is logged, not fatal.
    fn say(&self, text: &str) {
        let mut output = match self.output.lock() {
            Ok(o) => o,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Err(e) = writeln!(output, "{text}").and_then(|()| output.flush()) {
            tracing::warn!(error = %e, "cannot write the notification");
        }
    }
}

/// An answer as typed, or why it was refused.
fn parse(line: &str, notification: &Notification) -> Result<Answer, &'static str> {
    match line.trim().to_ascii_lowercase().as_str() {
        "" | "a" | "accept" | "y" | "yes" => Ok(Answer::Accept),
        "b" | "abort" | "n" | "no" if notification.can_abort => Ok(Answer::Abort),
        "b" | "abort" | "n" | "no" => Err("this package cannot be aborted"),
        "d" | "delay" | "later" if notification.can_delay => Ok(Answer::Delay),
        "d" | "delay" | "later" => Err("this package cannot be delayed"),
        _ => Err("unknown answer"),
    }
}

/// What the user may type.
fn choices(notification: &Notification) -> String {
    let mut choices = vec!["[Enter] or a: install now"];
    if notification.can_abort {
        choices.push("b: abort");
    }
    if notification.can_delay {
        choices.push("d: delay");
    }
    choices.join(", ")
}

#[async_trait]
impl<R, W> Notifier for Terminal<R, W>
where
    R: AsyncBufRead + Unpin + Send + std::fmt::Debug,
    W: Write + Send + std::fmt::Debug,
{
    async fn notify(&self, package: PackageId, notification: &Notification) -> Answer {
        let countdown = notification
            .countdown_secs
            .map_or(DEFAULT_COUNTDOWN, |s| Duration::from_secs(u64::from(s)));
        self.say(&format!("Package {package}: {}", notification.text));
        if countdown.is_zero() {
            self.say("Installing now.");
            return Answer::Accept;
        }
        self.say(&format!(
            "{} (installs by itself in {} s)",
            choices(notification),
            countdown.as_secs()
        ));
        let deadline = Instant::now() + countdown;
        let mut input = self.input.lock().await;
        let mut input_open = true;
        let mut next_tick = Instant::now() + Duration::from_secs(1);
        loop {
            let mut line = String::new();
            // One line, or the deadline; the countdown is shown on its way.
            let read = {
                let read = input.read_line(&mut line);
                tokio::pin!(read);
                loop {
                    let wake = next_tick.min(deadline);
                    tokio::select! {
                        r = &mut read, if input_open => break Some(r),
                        () = tokio::time::sleep_until(wake) => {
                            let now = Instant::now();
                            if now >= deadline {
                                break None;
                            }
                            // Whole seconds left, rounded.
                            let left = (deadline - now + Duration::from_millis(500)).as_secs();
                            if left.is_multiple_of(10) || left <= 5 {
                                self.say(&format!("Installing in {left} s"));
                            }
                            next_tick += Duration::from_secs(1);
                        }
                    }
                }
            };
            match read {
                None => {
                    self.say("No answer: installing now.");
                    tracing::info!(package_id = %package, "notification: accepted at the end of the countdown");
                    return Answer::Accept;
                }
                Some(Ok(0) | Err(_)) => {
                    // Nobody can answer any more: the countdown decides.
                    input_open = false;
                }
                Some(Ok(_)) => match parse(&line, notification) {
                    Ok(answer) => {
                        tracing::info!(package_id = %package, ?answer, "notification answered");
                        self.say(match answer {
                            Answer::Accept => "Installing now.",
                            Answer::Abort => "Aborted.",
                            Answer::Delay => "Delayed.",
                        });
                        return answer;
                    }
                    Err(why) => self.say(&format!("{why}; {}", choices(notification))),
                },
            }
        }
    }

    async fn done(&self, package: PackageId, done: &DoneAction) {
        tracing::info!(package_id = %package, text = %done.text, "done action");
        self.say(&format!("Package {package} done: {}", done.text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(countdown: Option<u32>, can_abort: bool, can_delay: bool) -> Notification {
        Notification {
            enabled: true,
            text: "Save your work".into(),
            countdown_secs: countdown,
            can_abort,
            can_delay,
        }
    }

    fn id() -> PackageId {
        "1700000000".parse().unwrap()
    }

    async fn ask(input: &'static [u8], n: &Notification) -> (Answer, String) {
        let terminal = Terminal::new(input, Vec::new());
        let answer = terminal.notify(id(), n).await;
        (answer, String::from_utf8(terminal.into_parts().1).unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn each_allowed_answer_is_taken() {
        let n = notification(Some(60), true, true);
        for (typed, want) in [
            (&b"\n"[..], Answer::Accept),
            (b"a\n", Answer::Accept),
            (b"YES\n", Answer::Accept),
            (b"abort\n", Answer::Abort),
            (b" b \n", Answer::Abort),
            (b"d\n", Answer::Delay),
            (b"later\n", Answer::Delay),
        ] {
            let (answer, shown) = ask(typed, &n).await;
            assert_eq!(answer, want, "{typed:?}");
            assert!(
                shown.starts_with("Package 1700000000: Save your work\n"),
                "{shown}"
            );
            assert!(shown.contains("b: abort, d: delay"), "{shown}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn answers_the_package_does_not_allow_are_refused_and_the_countdown_accepts() {
        let n = notification(Some(12), false, false);
        let started = Instant::now();
        let (answer, shown) = ask(b"abort\ndelay\nmaybe\n", &n).await;
        assert_eq!(answer, Answer::Accept);
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(12),
            "the whole countdown"
        );
        assert!(shown.contains("this package cannot be aborted"), "{shown}");
        assert!(shown.contains("this package cannot be delayed"), "{shown}");
        assert!(shown.contains("unknown answer"), "{shown}");
        assert!(!shown.contains("b: abort"), "{shown}");
        // Shown at 10 s left and each of the last five seconds.
        for left in [10, 5, 4, 3, 2, 1] {
            assert!(
                shown.contains(&format!("Installing in {left} s\n")),
                "{shown}"
            );
        }
        assert!(!shown.contains("Installing in 11 s"), "{shown}");
        assert!(shown.ends_with("No answer: installing now.\n"), "{shown}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_answer_still_counts() {
        // An answer after some seconds (the input is a stream that waits).
        let (mut tx, rx) = tokio::io::duplex(64);
        let n = notification(Some(30), true, false);
        let terminal = Terminal::new(tokio::io::BufReader::new(rx), Vec::new());
        let typing = async {
            tokio::time::sleep(Duration::from_secs(7)).await;
            tokio::io::AsyncWriteExt::write_all(&mut tx, b"b\n")
                .await
                .unwrap();
        };
        let started = Instant::now();
        let (answer, ()) = tokio::join!(terminal.notify(id(), &n), typing);
        assert_eq!(answer, Answer::Abort);
        assert_eq!(started.elapsed(), Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn without_input_or_countdown() {
        // Closed input: the countdown runs out.
        let started = Instant::now();
        let (answer, _) = ask(b"", &notification(Some(3), true, true)).await;
        assert_eq!(answer, Answer::Accept);
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        // An empty NOTIFY_COUNTDOWN: 120 s, as the Windows agent.
        let started = Instant::now();
        let (answer, _) = ask(b"", &notification(None, true, true)).await;
        assert_eq!(answer, Answer::Accept);
        assert_eq!(started.elapsed(), DEFAULT_COUNTDOWN);
        // A countdown of 0: at once, without reading.
        let started = Instant::now();
        let (answer, shown) = ask(b"abort\n", &notification(Some(0), true, true)).await;
        assert_eq!(answer, Answer::Accept);
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert!(shown.ends_with("Installing now.\n"), "{shown}");
    }

    #[tokio::test]
    async fn the_done_action_is_shown() {
        let terminal = Terminal::new(&b""[..], Vec::new());
        let done = DoneAction {
            enabled: true,
            text: "Please reboot".into(),
        };
        terminal.done(id(), &done).await;
        assert_eq!(
            String::from_utf8(terminal.into_parts().1).unwrap(),
            "Package 1700000000 done: Please reboot\n"
        );
    }
}

//! Status codes: what an agent reports for a package, as the exact wire strings.

use core::fmt;
use core::str::FromStr;

/// A deployment result, as agents post it in `ERR` and as the server stores it.
///
/// Every code the OCS agents, server and documentation use has its own variant; exit
/// codes are carried as numbers. Anything else is kept verbatim in [`StatusCode::Other`]
/// and printed back unchanged, so no result is ever dropped or rewritten: for every
/// string `s`, `s.parse::<StatusCode>()?.to_string() == s`.
///
/// ```
/// use ocs_deploy_core::{StatusClass, StatusCode};
///
/// let code: StatusCode = "SUCCESS_0".parse().unwrap();
/// assert_eq!(code, StatusCode::SuccessExitCode(0));
/// assert_eq!(code.class(), StatusClass::Success);
///
/// let win: StatusCode = "EXIT_CODE_1603".parse().unwrap();
/// assert_eq!(win, StatusCode::ExitCode(1603));
/// assert_eq!(win.class(), StatusClass::Error);
///
/// let odd: StatusCode = "SUCCESS_007".parse().unwrap(); // not canonical: kept verbatim
/// assert_eq!(odd.to_string(), "SUCCESS_007");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum StatusCode {
    /// `SUCCESS`: the package ran and succeeded (Windows agent, Execute and Store on Unix).
    Success,
    /// `SUCCESS_<n>`: the Unix agent's Launch result, whatever the exit code `n`.
    SuccessExitCode(i32),
    /// `SUCCESS_REBOOT_INITIATED`: Windows exit code 1641.
    SuccessRebootInitiated,
    /// `SUCCESS_REBOOT_REQUIRED`: Windows exit code 3010.
    SuccessRebootRequired,
    /// `SUCCESS_RESTART_REQUIRED`: Windows exit code 3011.
    SuccessRestartRequired,
    /// `SUCCESS_ALREADY_SETUP`: the agent found the package in its history.
    SuccessAlreadySetup,
    /// `SUCCESS_ALREADY_IN_HISTORY`: set by the server, which found the package in the
    /// history of the computer's last inventory.
    SuccessAlreadyInHistory,
    /// `EXIT_CODE_<n>`: the Windows agent's result for a non-zero exit code.
    ExitCode(i32),
    /// `ERR_EXIT_CODE_<n>`: a non-zero exit code, as the OCS documentation spells it.
    ErrExitCode(i32),
    /// `ERR_ALREADY_SETUP`: listed by the OCS documentation; no current agent sends it.
    ErrAlreadySetup,
    /// `ERR_BAD_ID`: the info file's id is not the package's id.
    ErrBadId,
    /// `ERR_BAD_DIGEST`: the assembled archive does not match the digest.
    ErrBadDigest,
    /// `ERR_DOWNLOAD_INFO`: the info file could not be downloaded.
    ErrDownloadInfo,
    /// `ERR_DOWNLOAD_PACK`: a fragment could not be downloaded.
    ErrDownloadPack,
    /// `ERR_BUILD`: the fragments could not be assembled.
    ErrBuild,
    /// `ERR_UNZIP`: the archive could not be extracted.
    ErrUnzip,
    /// `ERR_OUT_OF_SPACE`: not enough free disk space.
    ErrOutOfSpace,
    /// `ERR_BAD_PARAM`: the info file holds unusable values.
    ErrBadParam,
    /// `ERR_EXECUTE_PACK`: older Windows agents, waiting for the command failed.
    ErrExecutePack,
    /// `ERR_EXECUTE`: the command could not be started (or failed, on Unix).
    ErrExecute,
    /// `ERR_EXECUTE_NO_EXIT_CODE`: the command's exit code could not be read.
    ErrExecuteNoExitCode,
    /// `ERR_EXECUTE_TIMEOUT`: the command ran longer than `EXECUTION_TIMEOUT`.
    ErrExecuteTimeout,
    /// `ERR_EXECUTE_TOO_MANY_TRY`: execution was attempted too often (crash loops).
    ErrExecuteTooManyTry,
    /// `ERR_CLEAN`: the package's files could not be removed.
    ErrClean,
    /// `ERR_DONE_FAILED`: a kept result could not be read back.
    ErrDoneFailed,
    /// `ERR_TIMEOUT`: the package stayed pending longer than TIMEOUT days.
    ErrTimeout,
    /// `ERR_ABORTED`: the user cancelled the installation.
    ErrAborted,
    /// `UNKNOWN_CODE`: what the server stores for an empty or `0` result.
    UnknownCode,
    /// Any other text, kept verbatim.
    Other(String),
}

/// How the OCS console counts a status in its package list.
///
/// The console's columns are SQL `LIKE` patterns on the stored text, run under `MySQL`'s
/// default case-insensitive collation, where `_` matches any one character:
///
/// | class | console test |
/// |---|---|
/// | [`Waiting`](Self::Waiting) | `tvalue IS NULL` |
/// | [`Notified`](Self::Notified) | `LIKE 'NOTI%'` |
/// | [`Success`](Self::Success) | `LIKE 'SUCCESS%'`: also `SUCCESS_1` (a failed Unix Launch), `SUCCESS_ALREADY_*` and the Unix agent's bare `SUCCESS_` |
/// | [`Error`](Self::Error) | `LIKE 'ERR_%' OR LIKE 'EXIT_CODE%'` |
/// | [`Unclassified`](Self::Unclassified) | none of these (`UNKNOWN_CODE`, free text): shown in the per-package page only |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatusClass {
    /// Affected, not yet told.
    Waiting,
    /// Told in a PROLOG reply, no result yet.
    Notified,
    /// A result the console counts as success.
    Success,
    /// A result the console counts as an error.
    Error,
    /// A result the console counts in neither column.
    Unclassified,
}

impl StatusClass {
    /// Classifies a stored status text (`None` = SQL `NULL`) exactly as the console does.
    ///
    /// ```
    /// use ocs_deploy_core::StatusClass;
    ///
    /// assert_eq!(StatusClass::of_stored(None), StatusClass::Waiting);
    /// assert_eq!(StatusClass::of_stored(Some("NOTIFIED")), StatusClass::Notified);
    /// assert_eq!(StatusClass::of_stored(Some("success_1")), StatusClass::Success);
    /// assert_eq!(StatusClass::of_stored(Some("ERRX")), StatusClass::Error); // `_` is a wildcard
    /// assert_eq!(StatusClass::of_stored(Some("UNKNOWN_CODE")), StatusClass::Unclassified);
    /// ```
    pub fn of_stored(tvalue: Option<&str>) -> Self {
        let Some(t) = tvalue else {
            return Self::Waiting;
        };
        if sql_like_prefix(t, "NOTI") {
            Self::Notified
        } else if sql_like_prefix(t, "SUCCESS") {
            Self::Success
        } else if sql_like_prefix(t, "ERR_") || sql_like_prefix(t, "EXIT_CODE") {
            Self::Error
        } else {
            Self::Unclassified
        }
    }
}

/// `text LIKE 'pattern%'` under a case-insensitive collation, `_` matching one character.
fn sql_like_prefix(text: &str, pattern: &str) -> bool {
    let mut chars = text.chars();
    pattern.chars().all(|p| match chars.next() {
        Some(c) => p == '_' || c.eq_ignore_ascii_case(&p),
        None => false,
    })
}

const FIXED: &[(&str, StatusCode)] = &[
    ("SUCCESS", StatusCode::Success),
    (
        "SUCCESS_REBOOT_INITIATED",
        StatusCode::SuccessRebootInitiated,
    ),
    ("SUCCESS_REBOOT_REQUIRED", StatusCode::SuccessRebootRequired),
    (
        "SUCCESS_RESTART_REQUIRED",
        StatusCode::SuccessRestartRequired,
    ),
    ("SUCCESS_ALREADY_SETUP", StatusCode::SuccessAlreadySetup),
    (
        "SUCCESS_ALREADY_IN_HISTORY",
        StatusCode::SuccessAlreadyInHistory,
    ),
    ("ERR_ALREADY_SETUP", StatusCode::ErrAlreadySetup),
    ("ERR_BAD_ID", StatusCode::ErrBadId),
    ("ERR_BAD_DIGEST", StatusCode::ErrBadDigest),
    ("ERR_DOWNLOAD_INFO", StatusCode::ErrDownloadInfo),
    ("ERR_DOWNLOAD_PACK", StatusCode::ErrDownloadPack),
    ("ERR_BUILD", StatusCode::ErrBuild),
    ("ERR_UNZIP", StatusCode::ErrUnzip),
    ("ERR_OUT_OF_SPACE", StatusCode::ErrOutOfSpace),
    ("ERR_BAD_PARAM", StatusCode::ErrBadParam),
    ("ERR_EXECUTE_PACK", StatusCode::ErrExecutePack),
    ("ERR_EXECUTE", StatusCode::ErrExecute),
    ("ERR_EXECUTE_NO_EXIT_CODE", StatusCode::ErrExecuteNoExitCode),
    ("ERR_EXECUTE_TIMEOUT", StatusCode::ErrExecuteTimeout),
    ("ERR_EXECUTE_TOO_MANY_TRY", StatusCode::ErrExecuteTooManyTry),
    ("ERR_CLEAN", StatusCode::ErrClean),
    ("ERR_DONE_FAILED", StatusCode::ErrDoneFailed),
    ("ERR_TIMEOUT", StatusCode::ErrTimeout),
    ("ERR_ABORTED", StatusCode::ErrAborted),
    ("UNKNOWN_CODE", StatusCode::UnknownCode),
];

/// Builds a numbered code from its number.
type NumberedCode = fn(i32) -> StatusCode;

/// A canonical signed decimal (`-?[1-9][0-9]*` or `0`) that fits an `i32`.
fn canonical_i32(s: &str) -> Option<i32> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let canonical = match digits.as_bytes() {
        [] => false,
        [b'0'] => digits.len() == s.len(), // "0" but not "-0"
        [first, rest @ ..] => (b'1'..=b'9').contains(first) && rest.iter().all(u8::is_ascii_digit),
    };
    if canonical { s.parse().ok() } else { None }
}

impl StatusCode {
    /// Parses a wire string. Never fails: unknown text becomes [`StatusCode::Other`].
    pub fn from_wire(s: &str) -> Self {
        if let Some((_, code)) = FIXED.iter().find(|(wire, _)| *wire == s) {
            return code.clone();
        }
        let numbered: [(&str, NumberedCode); 3] = [
            ("ERR_EXIT_CODE_", Self::ErrExitCode),
            ("EXIT_CODE_", Self::ExitCode),
            ("SUCCESS_", Self::SuccessExitCode),
        ];
        for (prefix, make) in numbered {
            if let Some(n) = s.strip_prefix(prefix).and_then(canonical_i32) {
                return make(n);
            }
        }
        Self::Other(s.to_owned())
    }

    /// How the console counts this result.
    pub fn class(&self) -> StatusClass {
        StatusClass::of_stored(Some(&self.to_string()))
    }

    /// True for every result the console counts as a success.
    pub fn is_success(&self) -> bool {
        self.class() == StatusClass::Success
    }

    /// The Windows agent's result for a Launch or Execute exit code.
    ///
    /// ```
    /// use ocs_deploy_core::StatusCode;
    /// assert_eq!(StatusCode::windows_exit(0), StatusCode::Success);
    /// assert_eq!(StatusCode::windows_exit(3010), StatusCode::SuccessRebootRequired);
    /// assert_eq!(StatusCode::windows_exit(1603).to_string(), "EXIT_CODE_1603");
    /// ```
    pub fn windows_exit(code: i32) -> Self {
        match code {
            0 => Self::Success,
            1641 => Self::SuccessRebootInitiated,
            3010 => Self::SuccessRebootRequired,
            3011 => Self::SuccessRestartRequired,
            n => Self::ExitCode(n),
        }
    }

    /// The Unix agent's result for a Launch exit code: `SUCCESS_<n>` whatever `n`.
    pub fn unix_launch_exit(code: i32) -> Self {
        Self::SuccessExitCode(code)
    }

    /// The result the OCS documentation lists for an exit code: `SUCCESS` for 0, else
    /// `ERR_EXIT_CODE_<n>`.
    pub fn documented_exit(code: i32) -> Self {
        if code == 0 {
            Self::Success
        } else {
            Self::ErrExitCode(code)
        }
    }
}

impl FromStr for StatusCode {
    type Err = core::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::from_wire(s))
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SuccessExitCode(n) => write!(f, "SUCCESS_{n}"),
            Self::ExitCode(n) => write!(f, "EXIT_CODE_{n}"),
            Self::ErrExitCode(n) => write!(f, "ERR_EXIT_CODE_{n}"),
            Self::Other(s) => f.write_str(s),
            fixed => {
                let wire = FIXED
                    .iter()
                    .find(|(_, code)| code == fixed)
                    .map_or("UNKNOWN_CODE", |(wire, _)| *wire);
                f.write_str(wire)
            }
        }
    }
}

/// Where a computer stands with one affected package, on the server.
///
/// ```
/// use ocs_deploy_core::{DeploymentStatus, StatusCode};
///
/// assert_eq!(DeploymentStatus::from_stored(None), DeploymentStatus::WaitingNotification);
/// assert_eq!(DeploymentStatus::from_stored(Some("NOTIFIED")), DeploymentStatus::Notified);
/// assert_eq!(
///     DeploymentStatus::from_stored(Some("ERR_BAD_DIGEST")),
///     DeploymentStatus::Done(StatusCode::ErrBadDigest)
/// );
/// assert_eq!(DeploymentStatus::WaitingNotification.to_string(), "WAITING_NOTIFICATION");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DeploymentStatus {
    /// Affected, not yet told (`NULL` in OCS, "WAITING NOTIFICATION" in the console).
    WaitingNotification,
    /// A PROLOG reply carried the package; no result yet.
    Notified,
    /// The result the agent posted (or the server set).
    Done(StatusCode),
}

impl DeploymentStatus {
    /// The wire text of `NOTIFIED`.
    pub const NOTIFIED: &'static str = "NOTIFIED";

    /// From the text OCS stores (`None` = `NULL`).
    pub fn from_stored(tvalue: Option<&str>) -> Self {
        match tvalue {
            None => Self::WaitingNotification,
            Some(Self::NOTIFIED) => Self::Notified,
            Some(s) => Self::Done(StatusCode::from_wire(s)),
        }
    }

    /// The text OCS stores (`None` = `NULL`).
    pub fn to_stored(&self) -> Option<String> {
        match self {
            Self::WaitingNotification => None,
            Self::Notified => Some(Self::NOTIFIED.to_owned()),
            Self::Done(code) => Some(code.to_string()),
        }
    }

    /// How the console counts it.
    pub fn class(&self) -> StatusClass {
        StatusClass::of_stored(self.to_stored().as_deref())
    }
}

impl fmt::Display for DeploymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WaitingNotification => f.write_str("WAITING_NOTIFICATION"),
            Self::Notified => f.write_str(Self::NOTIFIED),
            Self::Done(code) => fmt::Display::fmt(code, f),
        }
    }
}

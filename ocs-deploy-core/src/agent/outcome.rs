//! How an install's outcome becomes the status code an agent reports.

use crate::StatusCode;

/// Which spelling of results an agent uses.
///
/// The OCS agents disagree: the documentation lists `SUCCESS` and `ERR_EXIT_CODE_<n>`, the
/// Unix agent reports `SUCCESS_<n>` for a Launch whatever the exit code, and the Windows
/// agent reports `EXIT_CODE_<n>` and three reboot codes. A server that classifies
/// results by their text (as the OCS console does) counts them differently, so the
/// spelling is a setting.
///
/// ```
/// use ocs_deploy_core::agent::ResultStyle;
/// use ocs_deploy_core::StatusCode;
///
/// assert_eq!(ResultStyle::Documented.exit_code(0).to_string(), "SUCCESS");
/// assert_eq!(ResultStyle::Documented.exit_code(2).to_string(), "ERR_EXIT_CODE_2");
/// assert_eq!(ResultStyle::UnixAgent.exit_code(2).to_string(), "SUCCESS_2");
/// assert_eq!(ResultStyle::WindowsAgent.exit_code(3010), StatusCode::SuccessRebootRequired);
/// assert_eq!(ResultStyle::WindowsAgent.exit_code(-1).to_string(), "EXIT_CODE_-1");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ResultStyle {
    /// The OCS documentation: `SUCCESS` for exit code 0, `ERR_EXIT_CODE_<n>` otherwise.
    #[default]
    Documented,
    /// The Unix agent: a Launch reports `SUCCESS_<n>` whatever the exit code; an Execute
    /// reports `SUCCESS`, or `ERR_EXECUTE` when the command fails.
    UnixAgent,
    /// The Windows agent: `SUCCESS`, `SUCCESS_REBOOT_INITIATED` (1641),
    /// `SUCCESS_REBOOT_REQUIRED` (3010), `SUCCESS_RESTART_REQUIRED` (3011), otherwise
    /// `EXIT_CODE_<n>`.
    WindowsAgent,
}

impl ResultStyle {
    /// The result of a Launch that exited with `code`.
    pub fn exit_code(self, code: i32) -> StatusCode {
        match self {
            Self::Documented => StatusCode::documented_exit(code),
            Self::UnixAgent => StatusCode::unix_launch_exit(code),
            Self::WindowsAgent => StatusCode::windows_exit(code),
        }
    }

    /// The result of an Execute whose command exited with `code`.
    ///
    /// ```
    /// use ocs_deploy_core::agent::ResultStyle;
    ///
    /// assert_eq!(ResultStyle::UnixAgent.command_exit_code(0).to_string(), "SUCCESS");
    /// assert_eq!(ResultStyle::UnixAgent.command_exit_code(1).to_string(), "ERR_EXECUTE");
    /// assert_eq!(ResultStyle::Documented.command_exit_code(1).to_string(), "ERR_EXIT_CODE_1");
    /// ```
    pub fn command_exit_code(self, code: i32) -> StatusCode {
        match self {
            Self::UnixAgent if code == 0 => StatusCode::Success,
            Self::UnixAgent => StatusCode::ErrExecute,
            other => other.exit_code(code),
        }
    }
}

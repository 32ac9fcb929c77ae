//! What an agent does with a package once it is downloaded and verified.

/// The package action (`ACT`) with its argument.
///
/// ```
/// use ocs_deploy_core::Action;
///
/// let a = Action::Launch { command: "install.sh --quiet".into() };
/// assert_eq!(a.wire_name(), "LAUNCH");
/// assert_eq!(a.argument(), "install.sh --quiet");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// `LAUNCH`: extract the archive and run `command` (`NAME`), whose first word is a
    /// file of the archive.
    Launch {
        /// The command line (`NAME`).
        command: String,
    },
    /// `EXECUTE`: run `command` (`COMMAND`), in the extracted archive if there is one.
    Execute {
        /// The command line (`COMMAND`).
        command: String,
    },
    /// `STORE`: extract the archive into `path` (`PATH`), created recursively.
    Store {
        /// The target directory (`PATH`); `INSTALL_PATH` is replaced by the agent.
        path: String,
    },
}

impl Action {
    /// The wire name: `LAUNCH`, `EXECUTE` or `STORE`.
    pub const fn wire_name(&self) -> &'static str {
        match self {
            Self::Launch { .. } => "LAUNCH",
            Self::Execute { .. } => "EXECUTE",
            Self::Store { .. } => "STORE",
        }
    }

    /// The info-file attribute that holds the argument: `NAME`, `COMMAND` or `PATH`.
    pub const fn argument_attribute(&self) -> &'static str {
        match self {
            Self::Launch { .. } => "NAME",
            Self::Execute { .. } => "COMMAND",
            Self::Store { .. } => "PATH",
        }
    }

    /// The command line or path.
    pub fn argument(&self) -> &str {
        match self {
            Self::Launch { command } | Self::Execute { command } => command,
            Self::Store { path } => path,
        }
    }

    /// Whether this action needs a file (Launch and Store do; Execute may run alone).
    pub const fn needs_file(&self) -> bool {
        !matches!(self, Self::Execute { .. })
    }
}

/// How fragments are fetched (`PROTO`): the info file itself is always fetched over HTTPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    /// Plain HTTP, the console's default.
    #[default]
    Http,
    /// HTTPS.
    Https,
}

impl Protocol {
    /// `HTTP` or `HTTPS`.
    pub const fn as_wire(self) -> &'static str {
        match self {
            Self::Http => "HTTP",
            Self::Https => "HTTPS",
        }
    }

    /// The URL scheme, lowercase (as the Unix agent writes it).
    pub const fn scheme(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    /// Reads `PROTO` case-insensitively.
    pub fn from_wire(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("http") {
            Some(Self::Http)
        } else if s.eq_ignore_ascii_case("https") {
            Some(Self::Https)
        } else {
            None
        }
    }
}

/// The kind of archive a package carries.
///
/// OCS does not record it (the Unix agent tries `tar -xzf`, then `unzip`); ocs-deploy
/// detects it when building and carries it in an info-file extension.
///
/// ```
/// use ocs_deploy_core::ArchiveKind;
/// assert_eq!(ArchiveKind::detect(b"PK\x03\x04rest"), Some(ArchiveKind::Zip));
/// assert_eq!(ArchiveKind::detect(&[0x1f, 0x8b, 8, 0]), Some(ArchiveKind::TarGz));
/// assert_eq!(ArchiveKind::detect(b"#!/bin/sh"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchiveKind {
    /// A ZIP archive (the Windows agent's format).
    Zip,
    /// A gzip-compressed TAR archive (the Unix agent's format).
    TarGz,
    /// No file at all (an Execute package with `FRAGS="0"`).
    None,
}

impl ArchiveKind {
    /// The name used in the info-file extension: `zip`, `tar.gz` or `none`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Zip => "zip",
            Self::TarGz => "tar.gz",
            Self::None => "none",
        }
    }

    /// Parses [`Self::as_str`]'s output.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "zip" => Some(Self::Zip),
            "tar.gz" => Some(Self::TarGz),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    /// Recognises a ZIP or gzip archive from its first bytes.
    pub fn detect(head: &[u8]) -> Option<Self> {
        match head {
            [b'P', b'K', 3, 4, ..] | [b'P', b'K', 5, 6, ..] => Some(Self::Zip),
            [0x1f, 0x8b, ..] => Some(Self::TarGz),
            _ => None,
        }
    }
}

/// The dialog shown to the user before installing (Windows agent).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Notification {
    /// `NOTIFY_USER`: ask the user first.
    pub enabled: bool,
    /// `NOTIFY_TEXT`: the message.
    pub text: String,
    /// `NOTIFY_COUNTDOWN`: seconds before the dialog answers itself with OK; `None`
    /// when empty (the Windows agent then waits 120 s).
    pub countdown_secs: Option<u32>,
    /// `NOTIFY_CAN_ABORT`: the user may cancel (result `ERR_ABORTED`).
    pub can_abort: bool,
    /// `NOTIFY_CAN_DELAY`: the user may postpone to a later run.
    pub can_delay: bool,
}

/// The dialog shown after installing (Windows agent).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct DoneAction {
    /// `NEED_DONE_ACTION`: show it.
    pub enabled: bool,
    /// `NEED_DONE_ACTION_TEXT`: the message.
    pub text: String,
}

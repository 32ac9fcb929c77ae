//! The package model: what an OCS package is, checked.
//!
//! [`PackageInfo`] is the content of a package's `info` file as validated values;
//! [`Package`] adds what only the server knows (the name). The newtypes refuse values
//! the agents could not use: [`PackageId`] is canonical decimal, [`Priority`] is `0..=10`.

mod action;
mod digest;
mod id;
mod priority;

pub use action::{Action, ArchiveKind, DoneAction, Notification, Protocol};
pub use digest::{
    AgentSupport, DigestAlgorithm, DigestEncoding, DigestError, DigestForm, DigestHasher,
    DigestValue, ExpectedDigest,
};
pub use id::{PackageId, PackageIdError};
pub use priority::{Priority, PriorityError};

/// The downloadable part of a package: the archive, cut into fragments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Payload {
    /// Number of fragments (`FRAGS`), at least 1.
    pub fragments: u32,
    /// Digest of the whole archive (`DIGEST`, `DIGEST_ALGO`, `DIGEST_ENCODE`).
    pub digest: ExpectedDigest,
    /// Our extension: the SHA-256 of each fragment, so that a bad fragment is fetched
    /// again alone. Absent in files written by OCS.
    pub fragment_sha256: Option<Vec<[u8; 32]>>,
    /// Our extension: the archive size in bytes.
    pub size: Option<u64>,
    /// Our extension: the archive kind.
    pub archive: Option<ArchiveKind>,
}

/// Whether a package has a file, and if so its fragments and digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PackageFile {
    /// `FRAGS="0"`: no file (an Execute package that only runs a command). The digest
    /// attributes are kept as written so the file reads back the same; agents ignore them.
    None {
        /// `DIGEST_ALGO` as written.
        digest_algorithm: DigestAlgorithm,
        /// `DIGEST_ENCODE` as written.
        digest_encoding: DigestEncoding,
    },
    /// The archive, in `FRAGS` fragments.
    Fragments(Payload),
}

impl PackageFile {
    /// No file, with the console's digest attributes (MD5, Hexa).
    pub const NONE: Self = Self::None {
        digest_algorithm: DigestAlgorithm::Md5,
        digest_encoding: DigestEncoding::Hexa,
    };
}

/// A package as its `info` file describes it.
///
/// Read one with [`crate::info::read`], write one with [`crate::info::write`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PackageInfo {
    /// `ID`: must equal the directory the file was fetched from.
    pub id: PackageId,
    /// `PRI`.
    pub priority: Priority,
    /// `ACT` with `NAME`, `COMMAND` or `PATH`.
    pub action: Action,
    /// `PROTO`: how fragments are fetched.
    pub protocol: Protocol,
    /// The archive and its digest, or no file (`FRAGS="0"`).
    pub file: PackageFile,
    /// `NOTIFY_*`.
    pub notification: Notification,
    /// `NEED_DONE_ACTION*`.
    pub done_action: DoneAction,
    /// `GARDEFOU`: unused by agents; the current console writes `rien`.
    pub gardefou: String,
    /// Attributes this crate does not know, in file order, kept so nothing is lost
    /// (the Windows agent adds `LOC`, `SCHEDULE` and `POSTCMD` to its copy).
    pub extra: Vec<(String, String)>,
}

impl PackageInfo {
    /// A package with the console's defaults: priority 5, HTTP, MD5 in Hexa, no file,
    /// no dialogs, `GARDEFOU="rien"`.
    ///
    /// ```
    /// use ocs_deploy_core::{Action, PackageId, PackageInfo};
    ///
    /// let id = PackageId::new(1_700_000_000)?;
    /// let info = PackageInfo::new(id, Action::Execute { command: "echo hi".into() });
    /// assert_eq!(info.fragment_count(), 0);
    /// # Ok::<(), ocs_deploy_core::package::PackageIdError>(())
    /// ```
    pub fn new(id: PackageId, action: Action) -> Self {
        Self {
            id,
            priority: Priority::DEFAULT,
            action,
            protocol: Protocol::Http,
            file: PackageFile::NONE,
            notification: Notification::default(),
            done_action: DoneAction::default(),
            gardefou: "rien".to_owned(),
            extra: Vec::new(),
        }
    }

    /// The archive, if the package has one.
    pub fn payload(&self) -> Option<&Payload> {
        match &self.file {
            PackageFile::None { .. } => None,
            PackageFile::Fragments(p) => Some(p),
        }
    }

    /// `FRAGS`: 0 when there is no file.
    pub fn fragment_count(&self) -> u32 {
        self.payload().map_or(0, |p| p.fragments)
    }

    /// The archive kind: [`ArchiveKind::None`] without a file, `None` when unknown
    /// (files written by OCS do not say).
    pub fn archive_kind(&self) -> Option<ArchiveKind> {
        match &self.file {
            PackageFile::None { .. } => Some(ArchiveKind::None),
            PackageFile::Fragments(p) => p.archive,
        }
    }
}

/// A package as the server knows it: its info file and its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Package {
    /// The name shown to administrators (not in the info file).
    pub name: String,
    /// The info file's content.
    pub info: PackageInfo,
}

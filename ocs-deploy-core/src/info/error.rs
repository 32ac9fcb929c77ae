//! Why an info file cannot be used.

use crate::StatusCode;
use crate::package::{
    Action, DigestAlgorithm, DigestEncoding, DigestError, PackageId, PackageIdError, PriorityError,
};

/// Why an `info` file cannot be read into a [`crate::PackageInfo`].
///
/// Every variant but [`InfoError::IdMismatch`] is reported by the agent as
/// `ERR_BAD_PARAM` (see [`InfoError::status`]). Messages name the console bug behind a
/// value where one is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InfoError {
    /// The file is not UTF-8.
    #[error("info file is not UTF-8 (invalid byte at offset {offset})")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The XML is broken beyond what the console's own files need.
    #[error("info file is not readable XML at byte {position}: {message}")]
    Xml {
        /// Byte offset where reading stopped.
        position: u64,
        /// What the XML reader said.
        message: String,
    },
    /// A value holds a NUL character, raw or as `&#0;`, which agents would cut short.
    #[error("info file {attribute} holds a NUL character")]
    NulCharacter {
        /// The attribute.
        attribute: String,
    },
    /// There is no `DOWNLOAD` element.
    #[error("info file has no DOWNLOAD element")]
    NoDownloadElement,
    /// An attribute appears twice.
    #[error("info file has attribute {name} twice")]
    DuplicateAttribute {
        /// The attribute.
        name: String,
    },
    /// An attribute name holds characters OCS names never have.
    #[error("info file has an attribute named {name:?}, which is not a plain XML name")]
    BadAttributeName {
        /// The name.
        name: String,
    },
    /// A required attribute is missing.
    #[error("info file has no {name} attribute")]
    MissingAttribute {
        /// The attribute.
        name: &'static str,
    },
    /// `ID` is not a package id.
    #[error("info file ID is unusable")]
    BadId(#[source] PackageIdError),
    /// `ID` differs from the package the agent asked for.
    #[error("info file ID is {found} but package {expected} was requested")]
    IdMismatch {
        /// The id the agent was notified of.
        expected: PackageId,
        /// The id in the file.
        found: PackageId,
    },
    /// `PRI` is not 0 to 10.
    #[error("info file PRI is unusable")]
    BadPriority(#[source] PriorityError),
    /// `ACT` is not `LAUNCH`, `EXECUTE` or `STORE`.
    #[error("info file ACT {text:?} is not LAUNCH, EXECUTE or STORE")]
    UnknownAction {
        /// The offending text.
        text: String,
    },
    /// The command (`NAME`, `COMMAND`) or path (`PATH`) is empty.
    #[error("info file {attribute} is empty, so the {action} package has nothing to run")]
    EmptyArgument {
        /// `LAUNCH`, `EXECUTE` or `STORE`.
        action: &'static str,
        /// `NAME`, `COMMAND` or `PATH`.
        attribute: &'static str,
    },
    /// A Launch or Store package without a file.
    #[error("info file has FRAGS=\"0\" but a {action} package needs a file")]
    MissingFile {
        /// `LAUNCH` or `STORE`.
        action: &'static str,
    },
    /// `FRAGS` is not a number.
    #[error("info file FRAGS {text:?} is not a fragment count")]
    BadFragmentCount {
        /// The offending text.
        text: String,
    },
    /// `PROTO` is not `HTTP` or `HTTPS`.
    #[error("info file PROTO {text:?} is not HTTP or HTTPS")]
    UnknownProtocol {
        /// The offending text.
        text: String,
    },
    /// `DIGEST_ALGO` is unknown.
    #[error("info file DIGEST_ALGO {text:?} is not MD5, SHA1 or SHA256")]
    UnknownDigestAlgorithm {
        /// The offending text.
        text: String,
    },
    /// `DIGEST_ENCODE` is unknown.
    #[error("info file DIGEST_ENCODE {text:?} is not Hexa or Base64")]
    UnknownDigestEncoding {
        /// The offending text.
        text: String,
    },
    /// `DIGEST` cannot be decoded.
    #[error("info file DIGEST is unusable for {algorithm} + {encoding}{}", console_digest_hint(*algorithm, *encoding))]
    BadDigest {
        /// Stated algorithm.
        algorithm: DigestAlgorithm,
        /// Stated encoding.
        encoding: DigestEncoding,
        /// What is wrong with it.
        #[source]
        source: DigestError,
    },
    /// A yes/no attribute holds something else.
    #[error("info file {name} {text:?} is not 0 or 1")]
    BadFlag {
        /// The attribute.
        name: &'static str,
        /// The offending text.
        text: String,
    },
    /// A number attribute holds something else.
    #[error("info file {name} {text:?} is not a number")]
    BadNumber {
        /// The attribute.
        name: &'static str,
        /// The offending text.
        text: String,
    },
    /// One of our extension attributes is unusable.
    #[error("info file extension {name} is unusable: {reason}")]
    BadExtension {
        /// The attribute.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

/// The known console bugs behind an unusable digest of this kind.
fn console_digest_hint(algorithm: DigestAlgorithm, encoding: DigestEncoding) -> &'static str {
    match (algorithm, encoding) {
        (DigestAlgorithm::Sha1, DigestEncoding::Hexa) => {
            " (the OCS console's create_pack cannot write SHA1 + Hexa: it writes raw bytes or an empty DIGEST; rebuild with MD5 + Hexa)"
        }
        (DigestAlgorithm::Md5, DigestEncoding::Base64) => {
            " (the OCS console's create_pack writes MD5 + Base64 as the Base64 of the hex string; rebuild with MD5 + Hexa)"
        }
        _ => "",
    }
}

impl InfoError {
    /// The status code an agent reports when this error ends a package.
    ///
    /// ```
    /// use ocs_deploy_core::{StatusCode, info::InfoError};
    /// assert_eq!(InfoError::NoDownloadElement.status(), StatusCode::ErrBadParam);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Self::IdMismatch { .. } => StatusCode::ErrBadId,
            Self::NotUtf8 { .. }
            | Self::Xml { .. }
            | Self::NulCharacter { .. }
            | Self::NoDownloadElement
            | Self::DuplicateAttribute { .. }
            | Self::BadAttributeName { .. }
            | Self::MissingAttribute { .. }
            | Self::BadId(_)
            | Self::BadPriority(_)
            | Self::UnknownAction { .. }
            | Self::EmptyArgument { .. }
            | Self::MissingFile { .. }
            | Self::BadFragmentCount { .. }
            | Self::UnknownProtocol { .. }
            | Self::UnknownDigestAlgorithm { .. }
            | Self::UnknownDigestEncoding { .. }
            | Self::BadDigest { .. }
            | Self::BadFlag { .. }
            | Self::BadNumber { .. }
            | Self::BadExtension { .. } => StatusCode::ErrBadParam,
        }
    }

    pub(crate) fn empty_argument(action: &Action) -> Self {
        Self::EmptyArgument {
            action: action.wire_name(),
            attribute: action.argument_attribute(),
        }
    }
}

//! The protocol error.

use super::CompressionError;
use crate::package::PackageIdError;

/// Why a message cannot be decoded, or a device id is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The body could not be decompressed.
    #[error(transparent)]
    Compression(#[from] CompressionError),
    /// The XML is not UTF-8.
    #[error("message is not UTF-8 (valid up to byte {offset})")]
    NotUtf8 {
        /// Length of the valid prefix.
        offset: usize,
    },
    /// The XML is malformed.
    #[error("malformed XML at byte {position}: {message}")]
    Xml {
        /// Byte offset of the error.
        position: u64,
        /// What the parser said.
        message: String,
    },
    /// The document holds no element.
    #[error("message has no root element")]
    NoRoot,
    /// Elements are nested deeper than we accept.
    #[error("message nests elements deeper than {max} levels")]
    TooDeep {
        /// The maximum depth.
        max: usize,
    },
    /// The root element is not the expected one.
    #[error("expected root element {expected}, found {found:?}")]
    WrongRoot {
        /// The expected root (`REQUEST` or `REPLY`).
        expected: &'static str,
        /// The root found.
        found: String,
    },
    /// A request has no (or an empty) `DEVICEID`.
    #[error("request has no DEVICEID")]
    MissingDeviceId,
    /// A request has no (or an empty) `QUERY`.
    #[error("request from {device_id:?} has no QUERY")]
    MissingQuery {
        /// The device that sent it.
        device_id: String,
    },
    /// A DOWNLOAD result has no (or an empty) package `ID`.
    #[error("DOWNLOAD result from {device_id:?} has no package ID")]
    MissingPackageId {
        /// The device that sent it.
        device_id: String,
    },
    /// A package id is not a valid [`PackageId`](crate::PackageId).
    #[error("bad package id {text:?} in {context}: {reason}")]
    BadPackageId {
        /// Where it was (`DOWNLOAD result from <device>`, `PACK PARAM`).
        context: String,
        /// The text.
        text: String,
        /// Why it was refused.
        reason: PackageIdError,
    },
    /// A reply has no (or an empty) `RESPONSE`.
    #[error("reply has no RESPONSE")]
    MissingResponse,
    /// A value is not one the field may take.
    #[error("bad value {value:?} for {field}")]
    BadValue {
        /// The wire name of the field.
        field: &'static str,
        /// The value.
        value: String,
    },
    /// A device id does not match `^.+-\d{4}(-\d{2}){5}$` (the OCS server answers 400).
    #[error("bad device id {text:?}: expected <name>-YYYY-MM-DD-hh-mm-ss")]
    BadDeviceId {
        /// The text.
        text: String,
    },
}

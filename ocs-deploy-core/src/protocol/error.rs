//! The protocol error.

use super::CompressionError;
use crate::package::PackageIdError;

/// Why a message cannot be decoded, or a device id is refused.
///
/// Texts copied from a message into an error are cut to [`EXCERPT_CHARS`] characters, so
/// that an error never holds (or logs) a hostile megabyte.
///
/// ```
/// use ocs_deploy_core::protocol::{ProtocolError, Request};
///
/// let err = Request::decode(b"<REQUEST><DEVICEID>pc-2026-11-24-06-35-53</DEVICEID></REQUEST>")
///     .unwrap_err();
/// assert_eq!(err, ProtocolError::MissingQuery { device_id: "pc-2026-11-24-06-35-53".into() });
/// assert_eq!(err.to_string(), r#"request from device "pc-2026-11-24-06-35-53" has no QUERY"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The body could not be decompressed.
    #[error("cannot decode the message body")]
    Compression(#[from] CompressionError),
    /// The XML is malformed.
    #[error("malformed XML at byte {position}: {message}")]
    Xml {
        /// Byte offset of the error in the (decompressed) document.
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
    /// The message holds more elements of interest than we accept.
    #[error("message holds more than {max} elements")]
    TooManyElements {
        /// The maximum count.
        max: usize,
    },
    /// A list in the message (history, packages, account info) is longer than we accept.
    #[error("message lists more than {max} {list}")]
    TooManyEntries {
        /// What the list holds.
        list: &'static str,
        /// The maximum length.
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
    /// A request has no (or a blank) `DEVICEID`.
    #[error("request has no DEVICEID")]
    MissingDeviceId,
    /// A request has no (or a blank) `QUERY`.
    #[error("request from device {device_id:?} has no QUERY")]
    MissingQuery {
        /// The device that sent it.
        device_id: String,
    },
    /// A DOWNLOAD result has no (or a blank) package `ID`.
    #[error("DOWNLOAD result from device {device_id:?} has no package ID")]
    MissingPackageId {
        /// The device that sent it.
        device_id: String,
    },
    /// A DOWNLOAD result's package `ID` is not a valid [`PackageId`](crate::PackageId).
    /// (The OCS server answers 200 and drops such a result.)
    #[error("DOWNLOAD result from device {device_id:?} names bad package id {text:?}")]
    BadResultPackageId {
        /// The device that sent it.
        device_id: String,
        /// The id as sent.
        text: String,
        /// Why it was refused.
        #[source]
        reason: PackageIdError,
    },
    /// A package offered in a PROLOG reply (`PARAM TYPE="PACK"`) has a bad `ID`; agents
    /// use the id as a directory name, so it is never passed on.
    #[error("PROLOG reply offers bad package id {text:?}")]
    BadNoticePackageId {
        /// The id as sent.
        text: String,
        /// Why it was refused.
        #[source]
        reason: PackageIdError,
    },
    /// A reply has no (or a blank) `RESPONSE`.
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

/// The most characters of a message's text that an error keeps; longer texts are cut and
/// end with `…`.
pub const EXCERPT_CHARS: usize = 120;

/// The text an error keeps of `text`.
pub(crate) fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        None => text.to_owned(),
        Some((cut, _)) => {
            let mut short = text.get(..cut).unwrap_or_default().to_owned();
            short.push('…');
            short
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_cut_on_char_boundaries() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(EXCERPT_CHARS + 5);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt(&"x".repeat(EXCERPT_CHARS)).len(), EXCERPT_CHARS);
    }
}

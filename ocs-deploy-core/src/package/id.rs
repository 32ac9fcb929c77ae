//! The package id: the integer that names a package's directory.

use core::fmt;
use core::str::FromStr;

/// A package id, as OCS writes it: a decimal integer (the console uses the 10-digit
/// `time()` of the build) that names the package's directory, its fragments
/// (`<id>-<n>`), the agents' history entries and the server's `FILEID`.
///
/// Only canonical decimal text is accepted (ASCII digits, no sign, no leading zero, not
/// zero, at most 20 digits): the id is used as a path component by every agent, so
/// anything else could escape the download directory, and `FILEID` is compared as a
/// string by the server, so `0170` and `170` must not be the same id.
///
/// ```
/// use ocs_deploy_core::PackageId;
///
/// let id: PackageId = "1700000101".parse()?;
/// assert_eq!(id.get(), 1_700_000_101);
/// assert_eq!(id.fragment_name(2), "1700000101-2");
/// assert!("../etc".parse::<PackageId>().is_err());
/// assert!("0170".parse::<PackageId>().is_err());
/// # Ok::<(), ocs_deploy_core::package::PackageIdError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageId(u64);

/// Why a text is not a package id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PackageIdError {
    /// The text is empty.
    #[error("package id is empty")]
    Empty,
    /// The text holds something other than ASCII digits.
    #[error("package id {text:?} is not a decimal number")]
    NotDecimal {
        /// The offending text.
        text: String,
    },
    /// The text has a leading zero or is zero.
    #[error("package id {text:?} is not canonical (leading zero or zero)")]
    NotCanonical {
        /// The offending text.
        text: String,
    },
    /// The number does not fit in 64 bits.
    #[error("package id {text:?} is too large")]
    TooLarge {
        /// The offending text.
        text: String,
    },
}

impl PackageId {
    /// A package id from its number.
    ///
    /// # Errors
    /// [`PackageIdError::NotCanonical`] for zero.
    pub fn new(id: u64) -> Result<Self, PackageIdError> {
        if id == 0 {
            return Err(PackageIdError::NotCanonical { text: "0".into() });
        }
        Ok(Self(id))
    }

    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The file name of fragment `n` (counted from 1): `<id>-<n>`.
    pub fn fragment_name(self, n: u32) -> String {
        format!("{}-{n}", self.0)
    }
}

impl FromStr for PackageId {
    type Err = PackageIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(PackageIdError::Empty);
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PackageIdError::NotDecimal { text: s.into() });
        }
        if s.starts_with('0') {
            return Err(PackageIdError::NotCanonical { text: s.into() });
        }
        s.parse::<u64>()
            .map(Self)
            .map_err(|_| PackageIdError::TooLarge { text: s.into() })
    }
}

impl fmt::Display for PackageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

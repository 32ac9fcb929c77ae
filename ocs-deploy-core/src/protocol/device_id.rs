//! The computer's id.

use core::fmt;
use core::str::FromStr;

use super::ProtocolError;
use super::error::excerpt;

/// A device id: `<name>-YYYY-MM-DD-hh-mm-ss`, the id an agent makes from its host name
/// and the time of its first run, checked as the OCS server checks it
/// (`^.+-\d{4}(-\d{2}){5}$`; the server answers 400 otherwise, for every query but
/// `UPDATE`).
///
/// Slightly stricter than the server's Perl pattern, on purpose: the digits must be ASCII
/// (Perl's `\d` takes any Unicode digit), and the id may hold no line break at all (Perl's
/// `.` takes a carriage return and its `$` a final line feed), since device ids end up in
/// logs. The date is not checked to be a real date, as OCS does not check it.
///
/// [`Request`](super::Request) keeps the device id as the text sent; the server checks it
/// with [`DeviceId::parse`] and answers 400 for a bad one.
///
/// ```
/// use ocs_deploy_core::protocol::DeviceId;
///
/// let id = DeviceId::parse("vm-2026-11-24-06-35-53")?;
/// assert_eq!(id.as_str(), "vm-2026-11-24-06-35-53");
/// assert_eq!(DeviceId::new("vm", 2026, 11, 24, 6, 35, 53)?, id);
/// assert!(DeviceId::parse("vm-2026-11-24").is_err());
/// # Ok::<(), ocs_deploy_core::protocol::ProtocolError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceId(String);

/// `-dddd-dd-dd-dd-dd-dd`: the length of the date suffix.
const SUFFIX_LEN: usize = 20;

impl DeviceId {
    /// Checks a device id.
    ///
    /// # Errors
    /// [`ProtocolError::BadDeviceId`] unless the text matches `^.+-\d{4}(-\d{2}){5}$`
    /// with ASCII digits and without line breaks.
    pub fn parse(text: &str) -> Result<Self, ProtocolError> {
        let bad = || ProtocolError::BadDeviceId {
            text: excerpt(text),
        };
        if text.contains(['\n', '\r']) {
            return Err(bad());
        }
        let Some(split) = text.len().checked_sub(SUFFIX_LEN) else {
            return Err(bad());
        };
        let (Some(name), Some(suffix)) = (text.get(..split), text.get(split..)) else {
            return Err(bad());
        };
        let suffix_ok = suffix.bytes().enumerate().all(|(i, b)| {
            if matches!(i, 0 | 5 | 8 | 11 | 14 | 17) {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
        if name.is_empty() || !suffix_ok {
            return Err(bad());
        }
        Ok(Self(text.to_owned()))
    }

    /// The id an agent makes from its host name and the time of its first run.
    ///
    /// # Errors
    /// [`ProtocolError::BadDeviceId`] when the host name is empty or holds a line break,
    /// or a part does not fit its width (year 4 digits, the others 2).
    ///
    /// ```
    /// use ocs_deploy_core::protocol::DeviceId;
    ///
    /// let id = DeviceId::new("HOST", 2024, 1, 31, 12, 0, 0)?;
    /// assert_eq!(id.to_string(), "HOST-2024-01-31-12-00-00");
    /// assert!(DeviceId::new("", 2024, 1, 31, 12, 0, 0).is_err());
    /// assert!(DeviceId::new("HOST", 2024, 100, 31, 12, 0, 0).is_err());
    /// # Ok::<(), ocs_deploy_core::protocol::ProtocolError>(())
    /// ```
    pub fn new(
        hostname: &str,
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
    ) -> Result<Self, ProtocolError> {
        let text =
            format!("{hostname}-{year:04}-{month:02}-{day:02}-{hour:02}-{minute:02}-{second:02}");
        if year > 9999 || [month, day, hour, minute, second].iter().any(|&p| p > 99) {
            return Err(ProtocolError::BadDeviceId {
                text: excerpt(&text),
            });
        }
        Self::parse(&text)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl FromStr for DeviceId {
    type Err = ProtocolError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for DeviceId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<DeviceId> for String {
    fn from(id: DeviceId) -> Self {
        id.0
    }
}

//! Download priority, 0 to 10.

use core::fmt;
use core::str::FromStr;

/// A package's download priority (`PRI`), validated to `0..=10`.
///
/// In cycle `i` of a period the agent serves a package of priority `p > 0` when
/// `i % p == 0`, so 1 is served every cycle and 10 once a period. Priority 0 is
/// exclusive: while a priority-0 package is pending, no other package is served.
///
/// ```
/// use ocs_deploy_core::Priority;
///
/// assert_eq!(Priority::new(5)?.get(), 5);
/// assert!(Priority::new(11).is_err());
/// assert!(Priority::new(0)?.is_exclusive());
/// # Ok::<(), ocs_deploy_core::package::PriorityError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority(u8);

/// Why a value is not a priority.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("priority {text:?} is not a whole number from 0 to 10")]
pub struct PriorityError {
    /// The offending text.
    pub text: String,
}

impl Priority {
    /// The highest priority the console offers.
    pub const MAX: u8 = 10;

    /// The console's default, 5.
    pub const DEFAULT: Self = Self(5);

    /// A priority from its number.
    ///
    /// # Errors
    /// [`PriorityError`] above 10.
    pub fn new(p: u8) -> Result<Self, PriorityError> {
        if p > Self::MAX {
            return Err(PriorityError {
                text: p.to_string(),
            });
        }
        Ok(Self(p))
    }

    /// The number.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// Priority 0: served first and alone while pending.
    pub const fn is_exclusive(self) -> bool {
        self.0 == 0
    }
}

impl FromStr for Priority {
    type Err = PriorityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PriorityError { text: s.into() };
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 2 {
            return Err(err());
        }
        let p: u8 = s.parse().map_err(|_| err())?;
        Self::new(p).map_err(|_| err())
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

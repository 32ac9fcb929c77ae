//! Time as the core sees it: a value handed in by the caller, never read from a clock.

use core::fmt;
use core::time::Duration;

/// A point in time, in milliseconds since the Unix epoch.
///
/// The core never reads a clock: drivers pass `Timestamp`s in. A `Timestamp` is not an
/// `Instant` because agents persist it across reboots (TIMEOUT is counted in days) and the
/// fleet simulator starts its virtual clock anywhere. Arithmetic saturates, so a wall clock
/// that steps backwards never panics.
///
/// ```
/// use core::time::Duration;
/// use ocs_deploy_core::Timestamp;
///
/// let t = Timestamp::from_secs(1_700_000_000);
/// let later = t + Duration::from_secs(90);
/// assert_eq!(later.duration_since(t), Duration::from_secs(90));
/// assert_eq!(t.duration_since(later), Duration::ZERO); // saturates
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Self = Self(0);

    /// A timestamp `millis` milliseconds after the Unix epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// A timestamp `secs` seconds after the Unix epoch (saturating).
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Whole seconds since the Unix epoch.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    #[must_use]
    pub fn duration_since(self, earlier: Self) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// `self + d`, saturating at the largest timestamp.
    #[must_use]
    pub fn saturating_add(self, d: Duration) -> Self {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Self(self.0.saturating_add(ms))
    }

    /// The UTC calendar date and time: (year, month, day, hour, minute, second).
    ///
    /// ```
    /// use ocs_deploy_core::Timestamp;
    ///
    /// assert_eq!(Timestamp::from_secs(0).utc(), (1970, 1, 1, 0, 0, 0));
    /// assert_eq!(Timestamp::from_secs(1_700_000_000).utc(), (2023, 11, 14, 22, 13, 20));
    /// assert_eq!(Timestamp::from_secs(951_782_400).utc(), (2000, 2, 29, 0, 0, 0));
    /// ```
    pub fn utc(self) -> (u64, u8, u8, u8, u8, u8) {
        // Howard Hinnant's days-to-civil algorithm, on unsigned days since 1970-01-01.
        let secs = self.as_secs();
        let (days, rest) = (secs / 86_400, secs % 86_400);
        let z = days + 719_468;
        let era = z / 146_097;
        let doe = z % 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + u64::from(month <= 2);
        let narrow = |v: u64| u8::try_from(v).unwrap_or(u8::MAX);
        (
            year,
            narrow(month),
            narrow(day),
            narrow(rest / 3600),
            narrow(rest % 3600 / 60),
            narrow(rest % 60),
        )
    }
}

impl Timestamp {
    /// The timestamp of a UTC calendar date and time; `None` for an impossible date
    /// (month 13, February 30, hour 24, …) or one before 1970.
    ///
    /// ```
    /// use ocs_deploy_core::Timestamp;
    ///
    /// assert_eq!(Timestamp::from_utc(2023, 11, 14, 22, 13, 20), Some(Timestamp::from_secs(1_700_000_000)));
    /// assert_eq!(Timestamp::from_utc(2000, 2, 29, 0, 0, 0), Some(Timestamp::from_secs(951_782_400)));
    /// assert_eq!(Timestamp::from_utc(2001, 2, 29, 0, 0, 0), None);
    /// ```
    pub fn from_utc(
        year: u64,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
    ) -> Option<Self> {
        let leap =
            (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        if year < 1970 || day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 59
        {
            return None;
        }
        // Howard Hinnant's days-from-civil algorithm.
        let (y, m) = if month <= 2 {
            (year - 1, u64::from(month) + 9)
        } else {
            (year, u64::from(month) - 3)
        };
        let era = y / 400;
        let yoe = y % 400;
        let doy = (153 * m + 2) / 5 + u64::from(day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = (era * 146_097 + doe).checked_sub(719_468)?;
        let secs = days
            .checked_mul(86_400)?
            .checked_add(u64::from(hour) * 3600 + u64::from(minute) * 60 + u64::from(second))?;
        secs.checked_mul(1000).map(Self)
    }
}

impl core::ops::Add<Duration> for Timestamp {
    type Output = Self;
    fn add(self, rhs: Duration) -> Self {
        self.saturating_add(rhs)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

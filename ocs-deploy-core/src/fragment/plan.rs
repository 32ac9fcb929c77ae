//! [`FragmentPlan`]: how an archive of a known size is cut into fragments.

use core::ops::Range;

use super::FragmentError;

/// How an archive of `total` bytes is cut into `count` fragments `<id>-1..=<id>-count`.
///
/// Every fragment but the last has [`Self::fragment_size`] bytes; the last has the rest.
/// An empty archive has one empty fragment, so that `FRAGS` stays at least 1 (0 means "no
/// file") and the agent still checks the empty archive's digest.
///
/// ```
/// use ocs_deploy_core::fragment::FragmentPlan;
///
/// // The OCS console's split: n - 1 fragments of floor(total / n) bytes, the rest last.
/// let plan = FragmentPlan::by_count(185, 2)?;
/// assert_eq!((plan.fragment_len(1), plan.fragment_len(2)), (Some(92), Some(93)));
///
/// // Fixed-size fragments: the last one is the remainder.
/// let plan = FragmentPlan::by_size(10, 4)?;
/// let ranges: Vec<_> = plan.fragments().collect();
/// assert_eq!(ranges, [(1, 0..4), (2, 4..8), (3, 8..10)]);
/// # Ok::<(), ocs_deploy_core::fragment::FragmentError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentPlan {
    total: u64,
    count: u32,
    /// The size of every fragment but the last.
    fragment_size: u64,
    /// The size of the last fragment.
    last: u64,
}

impl FragmentPlan {
    /// Fragments of `fragment_size` bytes, the last one holding the remainder:
    /// `ceil(total / fragment_size)` fragments, or one empty fragment when `total` is 0.
    ///
    /// ```
    /// use ocs_deploy_core::fragment::FragmentPlan;
    ///
    /// let five_gib = 5 << 30;
    /// let plan = FragmentPlan::by_size(five_gib, 1 << 20)?;
    /// assert_eq!(plan.count(), 5 * 1024);
    /// assert_eq!(FragmentPlan::by_size(0, 1 << 20)?.fragment_len(1), Some(0));
    /// # Ok::<(), ocs_deploy_core::fragment::FragmentError>(())
    /// ```
    ///
    /// # Errors
    /// [`FragmentError::ZeroFragmentSize`], or [`FragmentError::TooManyFragments`] when
    /// the count does not fit in `u32`.
    pub fn by_size(total: u64, fragment_size: u64) -> Result<Self, FragmentError> {
        if fragment_size == 0 {
            return Err(FragmentError::ZeroFragmentSize);
        }
        let count = total.div_ceil(fragment_size).max(1);
        let count = u32::try_from(count).map_err(|_| FragmentError::TooManyFragments {
            total,
            fragment_size,
        })?;
        Self::with_equal_parts(total, count, fragment_size)
    }

    /// `count` fragments exactly as the OCS console cuts them (`PackageBuilder.php`
    /// `fragmentPackage`): `count - 1` fragments of `floor(total / count)` bytes, the
    /// remainder in the last one.
    ///
    /// When `count` exceeds `total`, the console would write `count - 1` empty fragments;
    /// this is refused. The empty archive with `count == 1` gives one empty fragment.
    ///
    /// ```
    /// use ocs_deploy_core::fragment::{FragmentError, FragmentPlan};
    ///
    /// let plan = FragmentPlan::by_count(10, 3)?;
    /// assert_eq!(plan.fragments().collect::<Vec<_>>(), [(1, 0..3), (2, 3..6), (3, 6..10)]);
    /// assert_eq!(
    ///     FragmentPlan::by_count(2, 3),
    ///     Err(FragmentError::MoreFragmentsThanBytes { total: 2, count: 3 })
    /// );
    /// # Ok::<(), FragmentError>(())
    /// ```
    ///
    /// # Errors
    /// [`FragmentError::ZeroFragmentCount`], or [`FragmentError::MoreFragmentsThanBytes`]
    /// when `count > total` (except one fragment for an empty archive).
    pub fn by_count(total: u64, count: u32) -> Result<Self, FragmentError> {
        if count == 0 {
            return Err(FragmentError::ZeroFragmentCount);
        }
        if u64::from(count) > total.max(1) {
            return Err(FragmentError::MoreFragmentsThanBytes { total, count });
        }
        let fragment_size = total / u64::from(count);
        Self::with_equal_parts(total, count, fragment_size)
    }

    /// `count - 1` fragments of `fragment_size` bytes and the remainder of `total` last.
    fn with_equal_parts(total: u64, count: u32, fragment_size: u64) -> Result<Self, FragmentError> {
        let before_last = u64::from(count.saturating_sub(1))
            .checked_mul(fragment_size)
            .ok_or(FragmentError::Overflow)?;
        let last = total
            .checked_sub(before_last)
            .ok_or(FragmentError::Overflow)?;
        Ok(Self {
            total,
            count,
            fragment_size,
            last,
        })
    }

    /// The number of fragments (`FRAGS`), at least 1.
    pub const fn count(&self) -> u32 {
        self.count
    }

    /// The archive size in bytes.
    pub const fn total(&self) -> u64 {
        self.total
    }

    /// The size of every fragment but the last.
    pub const fn fragment_size(&self) -> u64 {
        self.fragment_size
    }

    /// The size of fragment `n` (from 1), or `None` outside `1..=count`.
    pub fn fragment_len(&self, n: u32) -> Option<u64> {
        if n == 0 || n > self.count {
            None
        } else if n == self.count {
            Some(self.last)
        } else {
            Some(self.fragment_size)
        }
    }

    /// Where fragment `n` (from 1) starts in the archive, or `None` outside `1..=count`.
    pub fn offset(&self, n: u32) -> Option<u64> {
        if n == 0 || n > self.count {
            return None;
        }
        u64::from(n - 1).checked_mul(self.fragment_size)
    }

    /// The byte range of fragment `n` (from 1) in the archive, or `None` outside
    /// `1..=count`.
    pub fn range(&self, n: u32) -> Option<Range<u64>> {
        let start = self.offset(n)?;
        let end = start.checked_add(self.fragment_len(n)?)?;
        Some(start..end)
    }

    /// Every fragment with its byte range, in order.
    pub fn fragments(&self) -> impl Iterator<Item = (u32, Range<u64>)> + '_ {
        (1..=self.count).map(move |n| {
            // In range by construction; the fallback is never taken.
            let range = self.range(n).unwrap_or(self.total..self.total);
            (n, range)
        })
    }
}

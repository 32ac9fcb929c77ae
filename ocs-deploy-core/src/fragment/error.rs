//! [`FragmentError`]: why a plan, a split or an assembly failed, and the status code the
//! agent reports for it.

use crate::package::DigestError;
use crate::status::StatusCode;

/// Why a fragment plan, a split or an assembly failed.
///
/// Errors name the fragment (numbered from 1, as in `<id>-<n>`) when one is at fault, so
/// that only that fragment is fetched again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FragmentError {
    /// A plan was asked for fragments of 0 bytes.
    #[error("the fragment size is 0")]
    ZeroFragmentSize,
    /// A plan was asked for 0 fragments (`FRAGS="0"` means no file, not an empty one).
    #[error("the fragment count is 0")]
    ZeroFragmentCount,
    /// More fragments than bytes: the OCS console would write empty fragments.
    #[error("{count} fragments for {total} bytes: every fragment but the last would be empty")]
    MoreFragmentsThanBytes {
        /// The archive size in bytes.
        total: u64,
        /// The fragment count asked for.
        count: u32,
    },
    /// The plan needs more fragments than `FRAGS` can count (`u32`).
    #[error(
        "{total} bytes in fragments of {fragment_size} bytes need more than {} fragments",
        u32::MAX
    )]
    TooManyFragments {
        /// The archive size in bytes (so far, for a streaming split).
        total: u64,
        /// The fragment size asked for.
        fragment_size: u64,
    },
    /// A byte count does not fit in `u64`.
    #[error("the byte count overflows")]
    Overflow,
    /// More bytes than the plan or the payload's size allow.
    #[error("{received} bytes received but the archive has {expected}")]
    TooManyBytes {
        /// The archive size.
        expected: u64,
        /// The bytes received, counting the refused ones.
        received: u64,
    },
    /// Fewer bytes than the plan or the payload's size say.
    #[error("only {received} bytes received but the archive has {expected}")]
    TooFewBytes {
        /// The archive size.
        expected: u64,
        /// The bytes received.
        received: u64,
    },
    /// A fragment number outside `1..=count`.
    #[error("fragment {fragment} does not exist: the package has {count} fragments")]
    NoSuchFragment {
        /// The fragment asked for.
        fragment: u32,
        /// The fragment count.
        count: u32,
    },
    /// Fragments must be fed in order, each once.
    #[error("fragment {found} given while fragment {expected} was expected")]
    OutOfOrder {
        /// The fragment that must come next.
        expected: u32,
        /// The fragment given.
        found: u32,
    },
    /// Bytes were pushed, or a fragment ended, with no fragment begun.
    #[error("no fragment is open")]
    NoOpenFragment,
    /// A fragment was begun, or the assembly finished, while fragment `open` was not ended.
    #[error("fragment {open} is still open")]
    FragmentStillOpen {
        /// The open fragment.
        open: u32,
    },
    /// The assembly finished before every fragment was given.
    #[error("only {received} of {count} fragments were given")]
    MissingFragments {
        /// Fragments given and ended.
        received: u32,
        /// The fragment count.
        count: u32,
    },
    /// The payload lists a number of fragment SHA-256 digests other than its fragment count.
    #[error("the payload has {count} fragments but {listed} fragment digests")]
    FragmentDigestCount {
        /// `FRAGS`.
        count: u32,
        /// The number of SHA-256 digests listed.
        listed: usize,
    },
    /// A fragment's SHA-256 is not the one the payload lists: fetch this fragment again.
    #[error("fragment {fragment}: SHA-256 mismatch: expected {expected}, computed {computed}")]
    FragmentDigestMismatch {
        /// The corrupted fragment.
        fragment: u32,
        /// The expected SHA-256, lowercase hex.
        expected: String,
        /// The computed SHA-256, lowercase hex.
        computed: String,
    },
    /// The assembled archive does not have the package digest.
    #[error("the assembled archive does not have the package digest")]
    PackageDigest(#[source] DigestError),
}

impl FragmentError {
    /// The status code the agent reports when this error ends a package.
    ///
    /// ```
    /// use ocs_deploy_core::fragment::FragmentError;
    /// use ocs_deploy_core::StatusCode;
    ///
    /// let e = FragmentError::OutOfOrder { expected: 1, found: 2 };
    /// assert_eq!(e.status(), StatusCode::ErrBuild);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            // The info file asks for something no archive can have.
            Self::ZeroFragmentSize
            | Self::ZeroFragmentCount
            | Self::MoreFragmentsThanBytes { .. }
            | Self::TooManyFragments { .. }
            | Self::FragmentDigestCount { .. } => StatusCode::ErrBadParam,
            // The fragments do not build the archive the info file describes.
            Self::Overflow
            | Self::TooManyBytes { .. }
            | Self::TooFewBytes { .. }
            | Self::NoSuchFragment { .. }
            | Self::OutOfOrder { .. }
            | Self::NoOpenFragment
            | Self::FragmentStillOpen { .. }
            | Self::MissingFragments { .. } => StatusCode::ErrBuild,
            Self::FragmentDigestMismatch { .. } | Self::PackageDigest(_) => {
                StatusCode::ErrBadDigest
            }
        }
    }

    /// The fragment to fetch again, when the error is that fragment's fault alone.
    pub const fn fragment(&self) -> Option<u32> {
        match self {
            Self::FragmentDigestMismatch { fragment, .. } => Some(*fragment),
            _ => None,
        }
    }
}

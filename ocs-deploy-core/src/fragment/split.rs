//! [`Splitter`]: cut an archive into fragments while computing, in the same pass, the
//! package digest and each fragment's SHA-256.

use sha2::{Digest as _, Sha256};

use super::{FragmentError, FragmentPlan};
use crate::package::{
    ArchiveKind, DigestAlgorithm, DigestForm, DigestHasher, ExpectedDigest, PackageId, Payload,
};

/// How many bytes [`ArchiveKind::detect`] looks at.
const HEAD_LEN: usize = 4;

/// Do not reserve room for more fragment digests than this up front (a plan may announce
/// `u32::MAX` fragments; the list then grows as fragments are done).
const MAX_PREALLOCATED_DIGESTS: u32 = 4096;

/// What [`Splitter::push`] tells the caller to do with the bytes it was given.
///
/// The bytes are borrowed from the pushed chunk: nothing is copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitEvent<'a> {
    /// Append `bytes` to fragment `fragment` (the file `<id>-<fragment>`).
    FragmentBytes {
        /// The fragment, from 1.
        fragment: u32,
        /// The bytes, in archive order.
        bytes: &'a [u8],
    },
    /// Fragment `fragment` is complete; this is its SHA-256.
    FragmentDone {
        /// The fragment, from 1.
        fragment: u32,
        /// The SHA-256 of the fragment's bytes.
        sha256: [u8; 32],
    },
}

/// The fragment layout a [`Splitter`] follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// A known archive size.
    Planned(FragmentPlan),
    /// An unknown archive size, cut every `fragment_size` bytes.
    Streaming { fragment_size: u64 },
}

/// Cuts an archive into fragments, sans-IO: the caller reads the archive, pushes the
/// bytes in chunks of any size, and writes each fragment itself as it is told.
///
/// One pass over the bytes computes the package digest (any [`DigestAlgorithm`]; the
/// console writes MD5, which both agent families check) and the SHA-256 of every fragment;
/// [`Self::finish`] turns them into the [`Payload`] of the info file.
///
/// # Why an iterator of events
/// [`Self::push`] returns an iterator of [`SplitEvent`]s borrowing the pushed chunk rather
/// than calling a sink trait: nothing is copied, the core needs no trait object or
/// generic I/O error type, and the caller handles its own write errors with `?` in a plain
/// `for` loop. Each slice is hashed just before it is handed out, while it is in cache.
/// Dropping the iterator early still hashes the remaining bytes, so the splitter's state
/// always counts the whole chunk (but the caller has then lost those bytes).
///
/// # Example
/// ```
/// use ocs_deploy_core::fragment::{FragmentPlan, SplitEvent, Splitter};
/// use ocs_deploy_core::package::{DigestAlgorithm, DigestForm};
/// use ocs_deploy_core::PackageId;
///
/// let archive = b"0123456789";
/// let id = PackageId::new(1_700_000_000)?;
/// let mut splitter = Splitter::new(FragmentPlan::by_count(10, 3)?, DigestAlgorithm::Md5, id);
/// let mut files: Vec<(String, Vec<u8>)> = Vec::new();
/// for chunk in archive.chunks(4) {
///     for event in splitter.push(chunk)? {
///         if let SplitEvent::FragmentBytes { fragment, bytes } = event {
///             let name = id.fragment_name(fragment);
///             match files.last_mut() {
///                 Some((last, data)) if *last == name => data.extend_from_slice(bytes),
///                 _ => files.push((name, bytes.to_vec())),
///             }
///         }
///     }
/// }
/// let payload = splitter.finish(DigestForm::HexLowercase)?;
/// assert_eq!(payload.fragments, 3);
/// assert_eq!(files[2], ("1700000000-3".to_owned(), b"6789".to_vec()));
/// assert_eq!(payload.digest.to_text(), "781e5e245d69b566979b86e28d23f2c7");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Splitter {
    id: PackageId,
    layout: Layout,
    package: DigestHasher,
    fragment: Sha256,
    /// The fragment being filled, from 1.
    current: u32,
    /// Bytes already in the current fragment.
    in_fragment: u64,
    /// Bytes pushed so far.
    received: u64,
    /// SHA-256 of every completed fragment.
    digests: Vec<[u8; 32]>,
    head: [u8; HEAD_LEN],
    head_len: usize,
}

impl Splitter {
    /// A splitter following `plan`, computing the package digest with `algorithm`.
    pub fn new(plan: FragmentPlan, algorithm: DigestAlgorithm, id: PackageId) -> Self {
        let reserve = plan.count().min(MAX_PREALLOCATED_DIGESTS);
        Self::with_layout(Layout::Planned(plan), algorithm, id, reserve)
    }

    /// A splitter for an archive of unknown size, cut every `fragment_size` bytes (the
    /// last fragment holds the remainder; an empty archive gives one empty fragment).
    ///
    /// # Errors
    /// [`FragmentError::ZeroFragmentSize`].
    pub fn by_size_streaming(
        fragment_size: u64,
        algorithm: DigestAlgorithm,
        id: PackageId,
    ) -> Result<Self, FragmentError> {
        if fragment_size == 0 {
            return Err(FragmentError::ZeroFragmentSize);
        }
        Ok(Self::with_layout(
            Layout::Streaming { fragment_size },
            algorithm,
            id,
            16,
        ))
    }

    fn with_layout(
        layout: Layout,
        algorithm: DigestAlgorithm,
        id: PackageId,
        reserve: u32,
    ) -> Self {
        Self {
            id,
            layout,
            package: DigestHasher::new(algorithm),
            fragment: Sha256::new(),
            current: 1,
            in_fragment: 0,
            received: 0,
            digests: Vec::with_capacity(usize::try_from(reserve).unwrap_or(0)),
            head: [0; HEAD_LEN],
            head_len: 0,
        }
    }

    /// The package.
    pub const fn id(&self) -> PackageId {
        self.id
    }

    /// The plan, when the archive size is known.
    pub const fn plan(&self) -> Option<&FragmentPlan> {
        match &self.layout {
            Layout::Planned(plan) => Some(plan),
            Layout::Streaming { .. } => None,
        }
    }

    /// Bytes pushed so far.
    pub const fn received(&self) -> u64 {
        self.received
    }

    /// The SHA-256 of each fragment completed so far, in order.
    pub fn fragment_digests(&self) -> &[[u8; 32]] {
        &self.digests
    }

    /// Takes the next chunk of the archive and says, through the returned iterator, which
    /// bytes go to which fragment and when each fragment is done.
    ///
    /// A chunk is refused whole, before anything is hashed, so an error leaves the
    /// splitter as it was.
    ///
    /// # Errors
    /// [`FragmentError::TooManyBytes`] past the plan's size,
    /// [`FragmentError::TooManyFragments`] when a streaming split would need more than
    /// `u32::MAX` fragments, [`FragmentError::Overflow`] past `u64::MAX` bytes.
    pub fn push<'a>(&mut self, data: &'a [u8]) -> Result<Push<'_, 'a>, FragmentError> {
        let len = u64::try_from(data.len()).map_err(|_| FragmentError::Overflow)?;
        let received = self
            .received
            .checked_add(len)
            .ok_or(FragmentError::Overflow)?;
        match self.layout {
            Layout::Planned(plan) => {
                if received > plan.total() {
                    return Err(FragmentError::TooManyBytes {
                        expected: plan.total(),
                        received,
                    });
                }
            }
            Layout::Streaming { fragment_size } => {
                if received.div_ceil(fragment_size) > u64::from(u32::MAX) {
                    return Err(FragmentError::TooManyFragments {
                        total: received,
                        fragment_size,
                    });
                }
            }
        }
        if self.head_len < HEAD_LEN {
            let take = (HEAD_LEN - self.head_len).min(data.len());
            if let (Some(dst), Some(src)) = (
                self.head.get_mut(self.head_len..self.head_len + take),
                data.get(..take),
            ) {
                dst.copy_from_slice(src);
                self.head_len += take;
            }
        }
        self.received = received;
        Ok(Push {
            splitter: self,
            data,
            done: None,
        })
    }

    /// The size of the fragment being filled.
    fn current_len(&self) -> u64 {
        match self.layout {
            Layout::Planned(plan) => plan.fragment_len(self.current).unwrap_or(0),
            Layout::Streaming { fragment_size } => fragment_size,
        }
    }

    /// Hashes `bytes` into the current fragment; returns the fragment's digest when
    /// `bytes` completes it.
    fn absorb(&mut self, bytes: &[u8]) -> Option<(u32, [u8; 32])> {
        self.package.update(bytes);
        self.fragment.update(bytes);
        // `bytes` never crosses the fragment's end (see `Push::next`).
        self.in_fragment = self
            .in_fragment
            .saturating_add(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
        if self.in_fragment >= self.current_len() {
            Some(self.close_fragment())
        } else {
            None
        }
    }

    fn close_fragment(&mut self) -> (u32, [u8; 32]) {
        let sha256: [u8; 32] = core::mem::take(&mut self.fragment).finalize().into();
        self.digests.push(sha256);
        let n = self.current;
        self.current = self.current.saturating_add(1);
        self.in_fragment = 0;
        (n, sha256)
    }

    /// Ends the split and gives the payload for the info file, with the package digest
    /// written in `form`.
    ///
    /// The fragments not yet reported done (the last one of a streaming split, the empty
    /// fragment of an empty archive) are done here; their digests are in the payload.
    /// For an empty archive no [`SplitEvent::FragmentBytes`] was ever given: the caller
    /// creates `<id>-1` empty. [`Payload::fragments`] is the number of files to write.
    ///
    /// # Errors
    /// [`FragmentError::TooFewBytes`] when fewer bytes than the plan's size were pushed.
    pub fn finish(mut self, form: DigestForm) -> Result<Payload, FragmentError> {
        match self.layout {
            Layout::Planned(plan) => {
                if self.received != plan.total() {
                    return Err(FragmentError::TooFewBytes {
                        expected: plan.total(),
                        received: self.received,
                    });
                }
                if self.received == 0 {
                    // The one empty fragment of an empty archive.
                    self.close_fragment();
                }
            }
            Layout::Streaming { .. } => {
                if self.in_fragment > 0 || self.received == 0 {
                    self.close_fragment();
                }
            }
        }
        let fragments = u32::try_from(self.digests.len()).map_err(|_| FragmentError::Overflow)?;
        let archive = self.head.get(..self.head_len).and_then(ArchiveKind::detect);
        Ok(Payload {
            fragments,
            digest: ExpectedDigest::new(self.package.finalize(), form),
            fragment_sha256: Some(self.digests),
            size: Some(self.received),
            archive,
        })
    }
}

/// The events of one [`Splitter::push`], borrowing the pushed chunk.
///
/// Dropping it before the end still hashes the rest of the chunk.
#[derive(Debug)]
#[must_use = "the events say where the bytes go"]
pub struct Push<'s, 'a> {
    splitter: &'s mut Splitter,
    data: &'a [u8],
    done: Option<(u32, [u8; 32])>,
}

impl<'a> Iterator for Push<'_, 'a> {
    type Item = SplitEvent<'a>;

    fn next(&mut self) -> Option<SplitEvent<'a>> {
        if let Some((fragment, sha256)) = self.done.take() {
            return Some(SplitEvent::FragmentDone { fragment, sha256 });
        }
        if self.data.is_empty() {
            return None;
        }
        let room = self
            .splitter
            .current_len()
            .saturating_sub(self.splitter.in_fragment);
        let take = usize::try_from(room).map_or(self.data.len(), |r| r.min(self.data.len()));
        if take == 0 {
            // Unreachable: `push` refuses bytes past the plan. Never loop on it.
            self.data = &[];
            return None;
        }
        let (bytes, rest) = self.data.split_at(take);
        self.data = rest;
        let fragment = self.splitter.current;
        self.done = self.splitter.absorb(bytes);
        Some(SplitEvent::FragmentBytes { fragment, bytes })
    }
}

impl Drop for Push<'_, '_> {
    fn drop(&mut self) {
        for _ in self.by_ref() {}
    }
}

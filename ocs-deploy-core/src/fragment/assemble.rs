//! [`Assembler`]: the agent side. Fragments come in order; each is checked against its
//! SHA-256 when the payload lists them, and the whole archive against the package digest.

use sha2::{Digest as _, Sha256};

use super::FragmentError;
use crate::package::{DigestForm, DigestHasher, Payload};

/// Whether [`verify_fragment`] could check a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FragmentCheck {
    /// The fragment has the SHA-256 the payload lists.
    Verified,
    /// The payload lists no fragment digests (files written by OCS): only the package
    /// digest, at the end, can tell.
    Unchecked,
}

/// Checks one fragment against the SHA-256 the payload lists for it.
///
/// ```
/// use ocs_deploy_core::fragment::{verify_fragment, FragmentCheck, FragmentError, FragmentPlan, Splitter};
/// use ocs_deploy_core::package::{DigestAlgorithm, DigestForm};
/// use ocs_deploy_core::PackageId;
///
/// let mut splitter = Splitter::new(FragmentPlan::by_count(4, 2)?, DigestAlgorithm::Md5, PackageId::new(1)?);
/// splitter.push(b"abcd")?.for_each(drop);
/// let payload = splitter.finish(DigestForm::HexLowercase)?;
/// assert_eq!(verify_fragment(&payload, 2, b"cd")?, FragmentCheck::Verified);
/// assert_eq!(verify_fragment(&payload, 2, b"cD").unwrap_err().fragment(), Some(2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`FragmentError::NoSuchFragment`], [`FragmentError::FragmentDigestCount`] for a payload
/// whose digest list does not match its count, [`FragmentError::FragmentDigestMismatch`].
pub fn verify_fragment(
    payload: &Payload,
    n: u32,
    bytes: &[u8],
) -> Result<FragmentCheck, FragmentError> {
    check_payload(payload)?;
    let expected = expected_sha256(payload, n)?;
    match expected {
        None => Ok(FragmentCheck::Unchecked),
        Some(expected) => {
            let computed: [u8; 32] = Sha256::digest(bytes).into();
            compare(n, expected, &computed)?;
            Ok(FragmentCheck::Verified)
        }
    }
}

/// Checks that the payload can be assembled at all.
fn check_payload(payload: &Payload) -> Result<(), FragmentError> {
    if payload.fragments == 0 {
        return Err(FragmentError::ZeroFragmentCount);
    }
    if let Some(list) = &payload.fragment_sha256
        && u32::try_from(list.len()).ok() != Some(payload.fragments)
    {
        return Err(FragmentError::FragmentDigestCount {
            count: payload.fragments,
            listed: list.len(),
        });
    }
    Ok(())
}

/// The SHA-256 listed for fragment `n`, `None` when the payload lists none.
fn expected_sha256(payload: &Payload, n: u32) -> Result<Option<&[u8; 32]>, FragmentError> {
    let no_such = FragmentError::NoSuchFragment {
        fragment: n,
        count: payload.fragments,
    };
    if n == 0 || n > payload.fragments {
        return Err(no_such);
    }
    match &payload.fragment_sha256 {
        None => Ok(None),
        Some(list) => {
            let index = usize::try_from(n - 1).map_err(|_| no_such.clone())?;
            list.get(index).map(Some).ok_or(no_such)
        }
    }
}

fn compare(n: u32, expected: &[u8; 32], computed: &[u8; 32]) -> Result<(), FragmentError> {
    if expected == computed {
        Ok(())
    } else {
        Err(FragmentError::FragmentDigestMismatch {
            fragment: n,
            expected: hex::encode(expected),
            computed: hex::encode(computed),
        })
    }
}

/// The fragment being fed.
#[derive(Debug, Clone)]
struct OpenFragment {
    n: u32,
    sha256: Option<Sha256>,
    /// The package hasher and byte count before this fragment, to roll back to.
    package_before: DigestHasher,
    received_before: u64,
}

/// Rebuilds an archive from its fragments, sans-IO: the agent downloads `<id>-1..=<id>-n`,
/// writes the bytes where it likes, and feeds them here in order to have them checked.
///
/// Each fragment is checked against its SHA-256 at [`Self::end_fragment`] when the payload
/// lists them (our servers do; OCS servers do not). An error inside a fragment rolls the
/// assembler back to that fragment's start: the agent truncates its output to
/// [`Self::received`], fetches the fragment named in the error again and feeds it anew.
/// [`Self::finish`] checks the size (when known) and the package digest.
///
/// ```
/// use ocs_deploy_core::fragment::{Assembler, FragmentError, FragmentPlan, Splitter};
/// use ocs_deploy_core::package::{DigestAlgorithm, DigestForm};
/// use ocs_deploy_core::PackageId;
///
/// let mut splitter = Splitter::new(FragmentPlan::by_count(6, 2)?, DigestAlgorithm::Md5, PackageId::new(1)?);
/// splitter.push(b"abcdef")?.for_each(drop);
/// let payload = splitter.finish(DigestForm::HexLowercase)?;
///
/// let mut assembler = Assembler::new(&payload)?;
/// assembler.begin_fragment(1)?;
/// assembler.push(b"abc")?;
/// assembler.end_fragment()?;
/// assembler.begin_fragment(2)?;
/// assembler.push(b"dXf")?;
/// let error = assembler.end_fragment().unwrap_err();
/// assert_eq!(error.fragment(), Some(2)); // fetch fragment 2 again
/// assembler.begin_fragment(2)?;
/// assembler.push(b"def")?;
/// assembler.end_fragment()?;
/// assert_eq!(assembler.finish()?, DigestForm::HexLowercase);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Assembler<'p> {
    payload: &'p Payload,
    package: DigestHasher,
    /// The next fragment to begin, from 1.
    next: u32,
    open: Option<OpenFragment>,
    received: u64,
}

impl<'p> Assembler<'p> {
    /// An assembler for `payload`.
    ///
    /// # Errors
    /// [`FragmentError::ZeroFragmentCount`] for a payload without fragments,
    /// [`FragmentError::FragmentDigestCount`] when its SHA-256 list does not have one
    /// digest per fragment.
    pub fn new(payload: &'p Payload) -> Result<Self, FragmentError> {
        check_payload(payload)?;
        Ok(Self {
            payload,
            package: DigestHasher::new(payload.digest.algorithm()),
            next: 1,
            open: None,
            received: 0,
        })
    }

    /// Bytes of the fragments ended so far plus those pushed into the open one: where the
    /// next byte goes in the archive.
    pub const fn received(&self) -> u64 {
        self.received
    }

    /// The next fragment to begin (`count + 1` when all are done).
    pub const fn next_fragment(&self) -> u32 {
        self.next
    }

    /// Starts fragment `n`, which must be the next one.
    ///
    /// # Errors
    /// [`FragmentError::FragmentStillOpen`], [`FragmentError::NoSuchFragment`],
    /// [`FragmentError::OutOfOrder`]; the assembler is unchanged.
    pub fn begin_fragment(&mut self, n: u32) -> Result<(), FragmentError> {
        if let Some(open) = &self.open {
            return Err(FragmentError::FragmentStillOpen { open: open.n });
        }
        if n == 0 || n > self.payload.fragments {
            return Err(FragmentError::NoSuchFragment {
                fragment: n,
                count: self.payload.fragments,
            });
        }
        if n != self.next {
            return Err(FragmentError::OutOfOrder {
                expected: self.next,
                found: n,
            });
        }
        let sha256 = self.payload.fragment_sha256.as_ref().map(|_| Sha256::new());
        self.open = Some(OpenFragment {
            n,
            sha256,
            package_before: self.package.clone(),
            received_before: self.received,
        });
        Ok(())
    }

    /// Feeds the next bytes of the open fragment.
    ///
    /// # Errors
    /// [`FragmentError::NoOpenFragment`]; [`FragmentError::TooManyBytes`] past the
    /// payload's size, which also rolls back the open fragment.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), FragmentError> {
        let Some(open) = &mut self.open else {
            return Err(FragmentError::NoOpenFragment);
        };
        let received = u64::try_from(bytes.len())
            .ok()
            .and_then(|len| self.received.checked_add(len));
        let Some(received) = received else {
            self.rollback();
            return Err(FragmentError::Overflow);
        };
        if let Some(size) = self.payload.size
            && received > size
        {
            self.rollback();
            return Err(FragmentError::TooManyBytes {
                expected: size,
                received,
            });
        }
        if let Some(sha) = &mut open.sha256 {
            sha.update(bytes);
        }
        self.package.update(bytes);
        self.received = received;
        Ok(())
    }

    /// Ends the open fragment, checking its SHA-256 when the payload lists them.
    ///
    /// # Errors
    /// [`FragmentError::NoOpenFragment`]; [`FragmentError::FragmentDigestMismatch`] naming
    /// the fragment, after which the assembler is back at that fragment's start.
    pub fn end_fragment(&mut self) -> Result<(), FragmentError> {
        let Some(open) = self.open.take() else {
            return Err(FragmentError::NoOpenFragment);
        };
        if let Some(sha) = open.sha256 {
            let computed: [u8; 32] = sha.finalize().into();
            if let Some(expected) = expected_sha256(self.payload, open.n)?
                && let Err(e) = compare(open.n, expected, &computed)
            {
                self.package = open.package_before;
                self.received = open.received_before;
                return Err(e);
            }
        }
        self.next = self.next.saturating_add(1);
        Ok(())
    }

    /// Drops the open fragment's bytes (a failed download): the assembler is back at its
    /// start. Does nothing when no fragment is open.
    pub fn abort_fragment(&mut self) {
        self.rollback();
    }

    fn rollback(&mut self) {
        if let Some(open) = self.open.take() {
            self.package = open.package_before;
            self.received = open.received_before;
        }
    }

    /// Checks that every fragment came, the size, and the package digest; says which
    /// digest spelling matched.
    ///
    /// # Errors
    /// [`FragmentError::FragmentStillOpen`], [`FragmentError::MissingFragments`],
    /// [`FragmentError::TooFewBytes`] against the payload's size,
    /// [`FragmentError::PackageDigest`] on a digest mismatch.
    pub fn finish(self) -> Result<DigestForm, FragmentError> {
        if let Some(open) = &self.open {
            return Err(FragmentError::FragmentStillOpen { open: open.n });
        }
        if self.next <= self.payload.fragments {
            return Err(FragmentError::MissingFragments {
                received: self.next.saturating_sub(1),
                count: self.payload.fragments,
            });
        }
        if let Some(size) = self.payload.size
            && self.received != size
        {
            return Err(FragmentError::TooFewBytes {
                expected: size,
                received: self.received,
            });
        }
        self.payload
            .digest
            .verify(&self.package.finalize())
            .map_err(FragmentError::PackageDigest)
    }
}

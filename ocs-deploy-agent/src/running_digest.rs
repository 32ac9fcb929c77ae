//! The package digest computed while the fragments arrive, on a thread of its own, so the
//! build need not read the whole archive again (MD5 of 1 GiB is seconds of CPU).
//!
//! It follows the fragments of one run in order: a fragment fetched again after a bad
//! answer is rolled back and hashed again. When it cannot follow (the agent restarted
//! mid-download, or anything unexpected), the build reads the fragments back instead, and
//! that read is also what reports an error: this one only ever says "verified".

use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use bytes::Bytes;
use ocs_deploy_core::fragment::Assembler;
use ocs_deploy_core::package::Payload;

/// Chunks waiting for the hashing thread; when it lags, the download waits (a few MiB at
/// most in memory).
const QUEUE: usize = 16;

#[derive(Debug)]
enum Message {
    Begin(u32),
    Bytes(Bytes),
    /// The fragment was kept.
    End,
    /// The fragment was bad: its bytes are forgotten.
    Abort,
}

/// The digest of one package, fed as its fragments stream in.
#[derive(Debug)]
pub(crate) struct RunningDigest {
    tx: Option<SyncSender<Message>>,
    thread: Option<JoinHandle<bool>>,
    /// The fragment expected next.
    next: u32,
    fragments: u32,
}

impl RunningDigest {
    /// Starts hashing `payload`'s archive from its first fragment (the per-fragment
    /// SHA-256 is not checked here: the job checks each fragment as it arrives).
    pub(crate) fn start(payload: &Payload) -> Option<Self> {
        let payload = Payload {
            fragment_sha256: None,
            ..payload.clone()
        };
        let fragments = payload.fragments;
        let (tx, rx) = sync_channel::<Message>(QUEUE);
        let thread = std::thread::Builder::new()
            .name("package-digest".into())
            .spawn(move || {
                let Ok(mut assembler) = Assembler::new(&payload) else {
                    return false;
                };
                let mut broken = false;
                let mut bad_fragment = false;
                for message in rx {
                    if broken {
                        continue;
                    }
                    match message {
                        Message::Begin(n) => {
                            bad_fragment = false;
                            broken = assembler.begin_fragment(n).is_err();
                        }
                        Message::Bytes(bytes) => {
                            // Too many bytes: the fragment is bad (and already rolled back).
                            if !bad_fragment && assembler.push(&bytes).is_err() {
                                bad_fragment = true;
                            }
                        }
                        Message::End => {
                            broken = bad_fragment || assembler.end_fragment().is_err();
                        }
                        Message::Abort => {
                            if !bad_fragment {
                                assembler.abort_fragment();
                            }
                        }
                    }
                }
                !broken && assembler.finish().is_ok()
            })
            .ok()?;
        Some(Self {
            tx: Some(tx),
            thread: Some(thread),
            next: 1,
            fragments,
        })
    }

    /// The fragment it can take next.
    pub(crate) fn expects(&self) -> u32 {
        self.next
    }

    fn send(&mut self, message: Message) {
        if let Some(tx) = &self.tx
            && tx.send(message).is_err()
        {
            self.tx = None;
        }
    }

    /// Fragment `n` starts (it must be [`expects`](Self::expects)).
    pub(crate) fn begin(&mut self, n: u32) {
        if n == self.next {
            self.send(Message::Begin(n));
        } else {
            self.tx = None;
        }
    }

    /// Bytes of the fragment begun.
    pub(crate) fn bytes(&mut self, bytes: Bytes) {
        self.send(Message::Bytes(bytes));
    }

    /// The fragment begun ended: kept, or to be fetched again.
    pub(crate) fn end(&mut self, kept: bool) {
        if kept {
            self.send(Message::End);
            self.next = self.next.saturating_add(1);
        } else {
            self.send(Message::Abort);
        }
    }

    /// Whether every fragment went through it.
    pub(crate) fn complete(&self) -> bool {
        self.tx.is_some() && self.next > self.fragments
    }

    /// Whether the archive is verified: every fragment went through and the package
    /// digest matched. `false` means "read the fragments back to know".
    pub(crate) async fn verified(mut self) -> bool {
        if !self.complete() {
            return false;
        }
        self.tx = None;
        let Some(thread) = self.thread.take() else {
            return false;
        };
        tokio::task::spawn_blocking(move || thread.join().unwrap_or(false))
            .await
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocs_deploy_core::PackageId;
    use ocs_deploy_core::fragment::{FragmentPlan, SplitEvent, Splitter};
    use ocs_deploy_core::package::{DigestAlgorithm, DigestForm};

    fn split(archive: &[u8]) -> (Payload, Vec<Vec<u8>>) {
        let id = PackageId::new(1_700_000_000).unwrap();
        let plan = FragmentPlan::by_size(archive.len() as u64, 100).unwrap();
        let mut fragments = vec![Vec::new(); plan.count() as usize];
        let mut splitter = Splitter::new(plan, DigestAlgorithm::Md5, id);
        for event in splitter.push(archive).unwrap() {
            if let SplitEvent::FragmentBytes { fragment, bytes } = event {
                fragments[fragment as usize - 1].extend_from_slice(bytes);
            }
        }
        (
            splitter.finish(DigestForm::HexLowercase).unwrap(),
            fragments,
        )
    }

    fn feed(digest: &mut RunningDigest, n: u32, bytes: &[u8], kept: bool) {
        digest.begin(n);
        for chunk in bytes.chunks(37) {
            digest.bytes(Bytes::copy_from_slice(chunk));
        }
        digest.end(kept);
    }

    #[tokio::test]
    async fn follows_the_fragments_kept_and_forgets_the_bad_ones() {
        let archive: Vec<u8> = (0..1000u32).map(|i| (i % 253) as u8).collect();
        let (payload, fragments) = split(&archive);
        assert_eq!(fragments.len(), 10);
        let mut digest = RunningDigest::start(&payload).unwrap();
        for (n, bytes) in (1..).zip(&fragments) {
            // Every other fragment first comes back wrong: changed, then too long.
            if n % 2 == 0 {
                let mut bad = bytes.clone();
                bad[3] ^= 1;
                feed(&mut digest, n, &bad, false);
                bad.extend_from_slice(&[0; 500]);
                feed(&mut digest, n, &bad, false);
            }
            assert_eq!(digest.expects(), n);
            feed(&mut digest, n, bytes, true);
        }
        assert!(digest.complete());
        assert!(digest.verified().await);
    }

    #[tokio::test]
    async fn says_verified_only_when_it_is() {
        let archive: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let (payload, fragments) = split(&archive);
        // A wrong byte kept (no per-fragment check here): the package digest fails.
        let mut digest = RunningDigest::start(&payload).unwrap();
        for (n, bytes) in (1..).zip(&fragments) {
            let mut bytes = bytes.clone();
            if n == 5 {
                bytes[0] ^= 1;
            }
            feed(&mut digest, n, &bytes, true);
        }
        assert!(!digest.verified().await);
        // Not every fragment went through.
        let mut digest = RunningDigest::start(&payload).unwrap();
        feed(&mut digest, 1, &fragments[0], true);
        assert!(!digest.complete());
        assert!(!digest.verified().await);
        // A fragment out of order: it cannot follow any more.
        let mut digest = RunningDigest::start(&payload).unwrap();
        digest.begin(2);
        assert!(!digest.complete());
        for (n, bytes) in (1..).zip(&fragments) {
            feed(&mut digest, n, bytes, true);
        }
        assert!(!digest.verified().await);
    }
}

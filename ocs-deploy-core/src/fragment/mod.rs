//! Fragments: plan, split and reassemble an archive as `<id>-1..=<id>-n`.
//!
//! # Overview
//! - [`FragmentPlan`]: the layout, by fragment size or by count exactly as the OCS
//!   console cuts (`n - 1` fragments of `floor(total / n)` bytes, the rest last).
//! - [`Splitter`] (server side): the caller pushes the archive in chunks and is told which
//!   bytes go to which fragment; one pass computes the package digest and each fragment's
//!   SHA-256, and [`Splitter::finish`] gives the [`Payload`](crate::Payload).
//! - [`Assembler`] (agent side): fragments fed in order, each checked against its SHA-256
//!   when listed, the whole archive against the package digest; [`verify_fragment`]
//!   checks one fragment alone.
//! - [`FragmentError`]: every failure, with [`FragmentError::status`] giving the status
//!   code the agent reports.
//!
//! Everything here is sans-IO: bytes come in as arguments, and the caller reads and
//! writes files.
//!
//! # Example
//! ```
//! use ocs_deploy_core::fragment::{Assembler, FragmentPlan, SplitEvent, Splitter};
//! use ocs_deploy_core::package::{DigestAlgorithm, DigestForm};
//! use ocs_deploy_core::PackageId;
//!
//! let archive: Vec<u8> = (0..=255).collect();
//! let id = PackageId::new(1_700_000_000)?;
//! let mut splitter = Splitter::new(FragmentPlan::by_size(256, 100)?, DigestAlgorithm::Md5, id);
//! let mut fragments = vec![Vec::new(); 3];
//! for event in splitter.push(&archive)? {
//!     if let SplitEvent::FragmentBytes { fragment, bytes } = event {
//!         fragments[fragment as usize - 1].extend_from_slice(bytes);
//!     }
//! }
//! let payload = splitter.finish(DigestForm::HexLowercase)?;
//!
//! let mut assembler = Assembler::new(&payload)?;
//! for (n, bytes) in (1..).zip(&fragments) {
//!     assembler.begin_fragment(n)?;
//!     assembler.push(bytes)?;
//!     assembler.end_fragment()?;
//! }
//! assembler.finish()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod assemble;
mod error;
mod plan;
mod split;

pub use assemble::{Assembler, FragmentCheck, verify_fragment};
pub use error::FragmentError;
pub use plan::FragmentPlan;
pub use split::{Push, SplitEvent, Splitter};

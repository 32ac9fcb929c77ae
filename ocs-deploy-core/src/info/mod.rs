//! The package `info` file: read every file the OCS console writes, write its exact layout.
//!
//! An info file is one XML element, `<DOWNLOAD .../>`, whose attributes describe the
//! package (see the notes in `shared/reference/ocs-protocol-notes.md` §2.2):
//!
//! ```text
//! <?xml version="1.0" encoding="UTF-8"?>
//! <DOWNLOAD ID="1700000101" PRI="5" ACT="LAUNCH" DIGEST="1e1f…" PROTO="HTTP" FRAGS="1" DIGEST_ALGO="MD5" DIGEST_ENCODE="Hexa" NAME="install.sh hello world" NOTIFY_USER="0" NOTIFY_TEXT="" NOTIFY_COUNTDOWN="" NOTIFY_CAN_ABORT="0" NOTIFY_CAN_DELAY="0" NEED_DONE_ACTION="0" NEED_DONE_ACTION_TEXT="" GARDEFOU="rien" />
//! ```
//!
//! - [`read`] is lenient where the console is broken and strict where an agent would
//!   fail: unescaped `&`, `<` and `>` in values (the current console's `PackageBuilder`)
//!   are taken literally, entities are decoded once (so the legacy `create_pack`'s
//!   double-escaped `NOTIFY_TEXT` reads as the agents show it), unknown attributes are
//!   kept in [`PackageInfo::extra`](crate::PackageInfo::extra), and unusable values give an
//!   [`InfoError`] that the agent reports as `ERR_BAD_PARAM`.
//! - [`read_with_notes`] also says which console quirks it saw ([`InfoNote`]).
//! - [`write()`] produces the console's layout byte for byte for plain values, and escapes
//!   `& " ' < >` as PHP's `htmlspecialchars` does otherwise.
//!
//! # Our extension
//! Packages built by ocs-deploy carry three more attributes after `GARDEFOU`, which the
//! real agents ignore (both read only the attributes they know): [`extension::SIZE`],
//! [`extension::ARCHIVE`] and [`extension::FRAGMENT_SHA256`].

mod error;
mod read;
mod write;

pub use error::InfoError;
pub use read::{InfoNote, read, read_attributes, read_with_notes};
pub use write::write;

/// Names of the attributes ocs-deploy adds to info files. Real agents ignore them.
pub mod extension {
    /// The archive size in bytes, as a decimal number.
    pub const SIZE: &str = "OCSD_SIZE";
    /// The archive kind: `zip`, `tar.gz` or `none`.
    pub const ARCHIVE: &str = "OCSD_ARCHIVE";
    /// The SHA-256 of each fragment in order, lowercase hex, separated by commas.
    pub const FRAGMENT_SHA256: &str = "OCSD_FRAG_SHA256";
}

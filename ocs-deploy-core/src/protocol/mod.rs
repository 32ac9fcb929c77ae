//! The OCS wire messages and their framing.
//!
//! - [`compression`]: the body framing: zlib (complete, or sync-flushed as the Windows
//!   agent sends it), gzip or plain XML, decoded under a size limit.
//! - [`Request`]: any agent request (PROLOG, INVENTORY, DOWNLOAD result, anything else).
//! - [`PrologReply`] and [`InventoryReply`]: the server's answers.
//! - [`DeviceId`]: the computer's id, checked as the OCS server checks it.
//!
//! Decoding follows the OCS server's `XML::Simple` reading: element and attribute order
//! never matter, unknown elements and attributes are ignored, and an attribute of an
//! element is the same as a child element holding text (`<REQUEST ID="1"/>` is
//! `<REQUEST><ID>1</ID></REQUEST>`). An empty value counts as absent. Values are decoded
//! leniently (a bare `&` stays a `&`), DTD entities are never expanded and element depth
//! is bounded. Encoding writes the layout of the real agents and server.
//!
//! ```
//! use ocs_deploy_core::protocol::{compression, Encoding, Request};
//!
//! let body = compression::encode(
//!     br#"<REQUEST DEVICEID="pc-2026-11-24-06-35-53" ERR="SUCCESS_0" ID="1700000000" QUERY="DOWNLOAD" />"#,
//!     Encoding::Zlib,
//! );
//! let (xml, encoding) = compression::decode(&body, 1 << 20)?;
//! assert_eq!(encoding, Encoding::Zlib);
//! let Request::DownloadResult { package_id, .. } = Request::decode(&xml)? else {
//!     panic!("not a download result")
//! };
//! assert_eq!(package_id.get(), 1_700_000_000);
//! # Ok::<(), ocs_deploy_core::protocol::ProtocolError>(())
//! ```

pub mod compression;
mod device_id;
mod error;
mod inventory;
mod prolog;
mod request;
mod xml;

pub use compression::{CompressionError, Encoding};
pub use device_id::DeviceId;
pub use error::ProtocolError;
pub use inventory::{InventoryReply, InventoryResponse};
pub use prolog::{DownloadConfig, DownloadOption, PackageNotice, PrologReply, PrologResponse};
pub use request::{Hardware, Request};

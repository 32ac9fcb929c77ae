//! The OCS communication messages and their framing.
//!
//! Agents POST XML messages to the server's `/ocsinventory` URL, compressed; the server
//! answers in the same framing. This module turns bodies into typed values and back:
//!
//! - [`compression`]: the framing: zlib (complete, or sync-flushed as the Windows agent
//!   sends it), gzip or plain XML ([`Encoding`]), decoded under a size limit.
//! - [`Request`]: any agent request: PROLOG, INVENTORY (its [`Hardware`] and deployment
//!   history of [`HistoryEntry`]s), DOWNLOAD result, or another query.
//! - [`PrologReply`] (with its [`DownloadOption`]: [`DownloadConfig`] and
//!   [`PackageNotice`]s) and [`InventoryReply`]: the server's answers.
//! - [`DeviceId`]: the computer's id, checked as the OCS server checks it.
//! - [`ProtocolError`] and [`CompressionError`]: why a body is refused.
//!
//! Decoding reads XML the way the OCS server's `XML::Simple` does: element and attribute
//! order never matter, unknown elements and attributes are ignored, an attribute is the
//! same as a child element holding text (`<REQUEST ID="1"/>` is
//! `<REQUEST><ID>1</ID></REQUEST>`), and a blank value counts as absent. Values are
//! decoded leniently (a bare `&` stays a `&`; bytes that are not UTF-8 become U+FFFD).
//! DTD entities are never expanded, element depth and the number of elements kept are
//! bounded, and only the elements a message needs are kept in memory. Encoding writes the
//! layout of the real agents and server.
//!
//! ```
//! use ocs_deploy_core::StatusCode;
//! use ocs_deploy_core::protocol::{compression, DeviceId, Encoding, ProtocolError, Request};
//!
//! // An agent posts its result, zlib-compressed.
//! let body = compression::encode_zlib(
//!     br#"<REQUEST DEVICEID="pc-2026-11-24-06-35-53" ERR="SUCCESS_0" ID="1700000000" QUERY="DOWNLOAD" />"#,
//! );
//!
//! // The server inflates it under a limit, decodes it and checks the device id.
//! let (xml, encoding) = compression::decode(&body, 1 << 20)?;
//! assert_eq!(encoding, Encoding::Zlib);
//! let request = Request::decode(&xml)?;
//! let device = DeviceId::parse(request.device_id())?;
//! assert_eq!(device.as_str(), "pc-2026-11-24-06-35-53");
//! let Request::DownloadResult { package_id, status, .. } = request else {
//!     panic!("not a DOWNLOAD result");
//! };
//! assert_eq!(package_id.get(), 1_700_000_000);
//! assert_eq!(status, StatusCode::SuccessExitCode(0));
//! # Ok::<(), ProtocolError>(())
//! ```

pub mod compression;
mod device_id;
mod download;
mod error;
mod inventory;
mod prolog;
mod request;
mod result;
mod xml;

pub use compression::{CompressionError, Encoding};
pub use device_id::DeviceId;
pub use download::{DownloadConfig, DownloadOption, PackageNotice};
pub use error::{EXCERPT_CHARS, ProtocolError};
pub use inventory::{Hardware, HistoryEntry, InventoryReply, InventoryResponse};
pub use prolog::{PrologReply, PrologResponse};
pub use request::Request;

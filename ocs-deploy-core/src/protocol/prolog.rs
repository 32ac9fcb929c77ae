//! The PROLOG reply: what the server tells an agent that asked what to do.

use core::fmt::Write as _;

use super::ProtocolError;
use super::download::{self, DownloadOption, bad_value, flag, number};
use super::xml::{self, Shape};

/// The server's decision in a PROLOG reply (`RESPONSE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrologResponse {
    /// `SEND`: send an inventory now.
    Send,
    /// `STOP`: no inventory now (the reply may still offer packages).
    Stop,
}

impl PrologResponse {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Send => "SEND",
            Self::Stop => "STOP",
        }
    }
}

/// The reply to a PROLOG request (root `REPLY`).
///
/// Decoding reads `RESPONSE`, `PROLOG_FREQ`, `INVENTORY_ON_STARTUP` and the `DOWNLOAD`
/// option; other options (`REGISTRY`, `IPDISCOVER`, `SNMP`…) are ignored. Encoding writes
/// the layout of the real OCS server's reply.
///
/// ```
/// use std::time::Duration;
/// use ocs_deploy_core::protocol::{DownloadConfig, DownloadOption, PrologReply, PrologResponse};
///
/// let reply = PrologReply {
///     response: PrologResponse::Send,
///     prolog_freq: Some(24),
///     inventory_on_startup: None,
///     download: Some(DownloadOption { config: DownloadConfig::default(), packages: vec![] }),
/// };
/// let xml = reply.encode();
/// assert!(xml.contains(r#"<PARAM TYPE="CONF" ON="1" FRAG_LATENCY="10" CYCLE_LATENCY="60""#));
/// let back = PrologReply::decode(xml.as_bytes())?;
/// assert_eq!(back, reply);
/// # Ok::<(), ocs_deploy_core::protocol::ProtocolError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrologReply {
    /// Whether to send an inventory (`RESPONSE`).
    pub response: PrologResponse,
    /// Hours between two PROLOGs (`PROLOG_FREQ`).
    pub prolog_freq: Option<u32>,
    /// Whether to send an inventory when the agent starts (`INVENTORY_ON_STARTUP`).
    pub inventory_on_startup: Option<bool>,
    /// The `DOWNLOAD` option: `None` when the server sent none (its download module is
    /// off, or it answered `STOP` before the modules ran).
    pub download: Option<DownloadOption>,
}

static REPLY: Shape = Shape {
    name: "REPLY",
    children: &[
        Shape::leaf("RESPONSE"),
        Shape::leaf("PROLOG_FREQ"),
        Shape::leaf("INVENTORY_ON_STARTUP"),
        download::OPTION,
    ],
};

impl PrologReply {
    /// Decodes a PROLOG reply from its (decompressed) XML, in any element and attribute
    /// order.
    ///
    /// # Errors
    /// [`ProtocolError`] for malformed XML, another root, a missing or unknown
    /// `RESPONSE`, a bad number or flag, or a bad package id.
    ///
    /// ```
    /// use ocs_deploy_core::protocol::{PrologReply, PrologResponse};
    ///
    /// let reply = PrologReply::decode(b"<REPLY><PROLOG_FREQ>12</PROLOG_FREQ><RESPONSE>STOP</RESPONSE></REPLY>")?;
    /// assert_eq!(reply.response, PrologResponse::Stop);
    /// assert_eq!(reply.prolog_freq, Some(12));
    /// assert_eq!(reply.download, None);
    /// # Ok::<(), ocs_deploy_core::protocol::ProtocolError>(())
    /// ```
    pub fn decode(xml: &[u8]) -> Result<Self, ProtocolError> {
        let root = xml::parse(xml, &REPLY)?;
        let response = match root.field("RESPONSE") {
            None => return Err(ProtocolError::MissingResponse),
            Some("SEND") => PrologResponse::Send,
            Some("STOP") => PrologResponse::Stop,
            Some(other) => return Err(bad_value("RESPONSE", other)),
        };
        let prolog_freq = root
            .field("PROLOG_FREQ")
            .map(|v| number::<u32>("PROLOG_FREQ", v))
            .transpose()?;
        let inventory_on_startup = root
            .field("INVENTORY_ON_STARTUP")
            .map(|v| flag("INVENTORY_ON_STARTUP", v))
            .transpose()?;
        Ok(Self {
            response,
            prolog_freq,
            inventory_on_startup,
            download: download::decode(&root)?,
        })
    }

    /// Encodes the reply as the real OCS server lays it out (see
    /// `shared/reference/real-agent/prolog-reply-given.xml`): an XML declaration, no
    /// line breaks, `RESPONSE`, `PROLOG_FREQ` and `INVENTORY_ON_STARTUP` as elements,
    /// the option's `NAME` as an element and its parameters as attributes, `CONF`
    /// first with `ON` always written. A missing schedule or post command is written as
    /// an empty attribute, as the OCS server writes it; the Windows agent reads an empty
    /// attribute as absent.
    pub fn encode(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><REPLY><RESPONSE>");
        out.push_str(self.response.as_str());
        out.push_str("</RESPONSE>");
        if let Some(freq) = self.prolog_freq {
            let _ = write!(out, "<PROLOG_FREQ>{freq}</PROLOG_FREQ>");
        }
        if let Some(on) = self.inventory_on_startup {
            let _ = write!(
                out,
                "<INVENTORY_ON_STARTUP>{}</INVENTORY_ON_STARTUP>",
                u8::from(on)
            );
        }
        if let Some(option) = &self.download {
            download::encode(option, &mut out);
        }
        out.push_str("</REPLY>\n");
        out
    }
}

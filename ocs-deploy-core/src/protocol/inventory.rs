//! The INVENTORY request's content that deployment needs, and the server's reply.

use core::fmt;
use core::fmt::Write as _;

use super::ProtocolError;
use super::download::bad_value;
use super::xml::{self, Element, Shape};
use crate::PackageId;
use crate::xml_text::escape_markup;

/// What an inventory says about the computer (`CONTENT/HARDWARE`): the few values the
/// deployment server shows. The rest of an inventory is skipped while reading.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Hardware {
    /// The host name (`NAME`).
    pub name: Option<String>,
    /// The operating system's name (`OSNAME`).
    pub os_name: Option<String>,
    /// The IP address(es), as the agent wrote them (`IPADDR`).
    pub ip_address: Option<String>,
    /// The `TAG` account field (`CONTENT/ACCOUNTINFO` with `KEYNAME` `TAG`), which OCS
    /// uses to sort computers by site or owner.
    pub tag: Option<String>,
}

/// One entry of an agent's deployment history (`CONTENT/DOWNLOAD/HISTORY/PACKAGE`): the
/// packages it has already deployed.
///
/// Ids that are not [`PackageId`]s are kept as sent rather than dropped, so the server can
/// decide what to do with them (the OCS server stores them in an integer column).
///
/// ```
/// use ocs_deploy_core::protocol::HistoryEntry;
///
/// let entry = HistoryEntry::parse("1700000000");
/// assert_eq!(entry.package_id().map(|id| id.get()), Some(1_700_000_000));
/// assert_eq!(HistoryEntry::parse("0170"), HistoryEntry::Unrecognized("0170".into()));
/// assert_eq!(HistoryEntry::parse("0170").to_string(), "0170");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HistoryEntry {
    /// A valid package id.
    Package(PackageId),
    /// Any other text (never a valid package id; never blank), kept verbatim.
    Unrecognized(String),
}

impl HistoryEntry {
    /// Reads an entry's `ID`: a [`PackageId`] if it is one, else the text.
    pub fn parse(text: &str) -> Self {
        text.parse()
            .map_or_else(|_| Self::Unrecognized(text.to_owned()), Self::Package)
    }

    /// The package id, if the entry is a valid one.
    pub fn package_id(&self) -> Option<PackageId> {
        match self {
            Self::Package(id) => Some(*id),
            Self::Unrecognized(_) => None,
        }
    }
}

impl From<PackageId> for HistoryEntry {
    fn from(id: PackageId) -> Self {
        Self::Package(id)
    }
}

impl fmt::Display for HistoryEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Package(id) => fmt::Display::fmt(id, f),
            Self::Unrecognized(text) => f.write_str(text),
        }
    }
}

/// The `CONTENT` element of an inventory, as the request decoder reads it.
pub(crate) const CONTENT: Shape = Shape {
    name: "CONTENT",
    children: &[
        Shape {
            name: "ACCOUNTINFO",
            children: &[Shape::leaf("KEYNAME"), Shape::leaf("KEYVALUE")],
        },
        Shape {
            name: "HARDWARE",
            children: &[
                Shape::leaf("NAME"),
                Shape::leaf("OSNAME"),
                Shape::leaf("IPADDR"),
            ],
        },
        Shape {
            name: "DOWNLOAD",
            children: &[Shape {
                name: "HISTORY",
                children: &[Shape {
                    name: "PACKAGE",
                    children: &[Shape::leaf("ID")],
                }],
            }],
        },
    ],
};

/// Reads the hardware and the history from a request's root.
pub(crate) fn decode_content(
    root: &Element,
) -> Result<(Hardware, Option<Vec<HistoryEntry>>), ProtocolError> {
    let content = root.child("CONTENT");
    let mut hardware = content
        .and_then(|c| c.child("HARDWARE"))
        .map(|h| Hardware {
            name: h.field("NAME").map(str::to_owned),
            os_name: h.field("OSNAME").map(str::to_owned),
            ip_address: h.field("IPADDR").map(str::to_owned),
            tag: None,
        })
        .unwrap_or_default();
    hardware.tag = content.and_then(|c| {
        c.children_named("ACCOUNTINFO")
            .find(|a| a.field("KEYNAME") == Some("TAG"))
            .and_then(|a| a.field("KEYVALUE"))
            .map(str::to_owned)
    });
    // Entries without an ID are skipped; the OCS server could not store them either.
    let history = content
        .and_then(|c| c.child("DOWNLOAD"))
        .and_then(|d| d.child("HISTORY"))
        .map(|h| {
            h.children_named("PACKAGE")
                .filter_map(|p| p.field("ID"))
                .map(HistoryEntry::parse)
                .collect()
        })
        .map(|h| xml::check_entries(h, "history entries"))
        .transpose()?;
    Ok((hardware, history))
}

/// Writes the inventory request as the Unix agent does (`XMLout` with sorted keys and
/// 2-space indentation): `CONTENT` (with `DOWNLOAD` before `HARDWARE`), `DEVICEID`,
/// `QUERY`.
pub(crate) fn encode_request(
    device_id: &str,
    hardware: &Hardware,
    history: Option<&[HistoryEntry]>,
) -> String {
    let mut out =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<REQUEST>\n  <CONTENT>\n");
    if let Some(tag) = &hardware.tag {
        let _ = writeln!(
            out,
            "    <ACCOUNTINFO>\n      <KEYNAME>TAG</KEYNAME>\n      <KEYVALUE>{}</KEYVALUE>\n    </ACCOUNTINFO>",
            escape_markup(tag)
        );
    }
    match history {
        None => {}
        Some([]) => out.push_str("    <DOWNLOAD>\n      <HISTORY />\n    </DOWNLOAD>\n"),
        Some(entries) => {
            out.push_str("    <DOWNLOAD>\n      <HISTORY>\n");
            for entry in entries {
                let _ = writeln!(
                    out,
                    "        <PACKAGE ID=\"{}\" />",
                    escape_markup(&entry.to_string())
                );
            }
            out.push_str("      </HISTORY>\n    </DOWNLOAD>\n");
        }
    }
    let fields = [
        ("IPADDR", &hardware.ip_address),
        ("NAME", &hardware.name),
        ("OSNAME", &hardware.os_name),
    ];
    // `CHECKSUM`: the Unix agent's mask of the inventory sections that changed; `1` is
    // HARDWARE alone, the only section sent, so the server keeps the others. The OCS
    // server (2.8) needs it: without it, updating a known computer's row is an SQL
    // error (`CHECKSUM=(|CHECKSUM|1)`) and the inventory is answered with HTTP 500.
    out.push_str("    <HARDWARE>\n      <CHECKSUM>1</CHECKSUM>\n");
    for (name, value) in fields {
        if let Some(value) = value {
            let _ = writeln!(out, "      <{name}>{}</{name}>", escape_markup(value));
        }
    }
    out.push_str("    </HARDWARE>\n");
    let _ = write!(
        out,
        "  </CONTENT>\n  <DEVICEID>{}</DEVICEID>\n  <QUERY>INVENTORY</QUERY>\n</REQUEST>\n",
        escape_markup(device_id)
    );
    out
}

/// The server's answer to an inventory (`RESPONSE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InventoryResponse {
    /// `ACCOUNT_UPDATE`: the agent should replace its account info with the one sent.
    AccountUpdate,
    /// `NO_ACCOUNT_UPDATE`.
    NoAccountUpdate,
}

impl InventoryResponse {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AccountUpdate => "ACCOUNT_UPDATE",
            Self::NoAccountUpdate => "NO_ACCOUNT_UPDATE",
        }
    }
}

/// The reply to an INVENTORY request (root `REPLY`).
///
/// ```
/// use ocs_deploy_core::protocol::{InventoryReply, InventoryResponse};
///
/// let reply = InventoryReply::decode(b"<REPLY><ACCOUNTINFO><KEYNAME>TAG</KEYNAME><KEYVALUE>NA</KEYVALUE></ACCOUNTINFO><RESPONSE>ACCOUNT_UPDATE</RESPONSE></REPLY>")?;
/// assert_eq!(reply.response, InventoryResponse::AccountUpdate);
/// assert_eq!(reply.account_info, [("TAG".to_string(), "NA".to_string())]);
/// assert_eq!(InventoryReply::decode(reply.encode().as_bytes())?, reply);
/// # Ok::<(), ocs_deploy_core::protocol::ProtocolError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryReply {
    /// Whether the account info changed (`RESPONSE`).
    pub response: InventoryResponse,
    /// The account info (`ACCOUNTINFO`) as (`KEYNAME`, `KEYVALUE`) pairs, in document
    /// order; a missing or blank name or value is empty.
    pub account_info: Vec<(String, String)>,
}

static REPLY: Shape = Shape {
    name: "REPLY",
    children: &[
        Shape::leaf("RESPONSE"),
        Shape {
            name: "ACCOUNTINFO",
            children: &[Shape::leaf("KEYNAME"), Shape::leaf("KEYVALUE")],
        },
    ],
};

impl InventoryReply {
    /// Decodes an INVENTORY reply from its (decompressed) XML, in any element order.
    ///
    /// # Errors
    /// [`ProtocolError`] for malformed XML, another root, or a missing or unknown
    /// `RESPONSE`.
    pub fn decode(xml: &[u8]) -> Result<Self, ProtocolError> {
        let root = xml::parse(xml, &REPLY)?;
        let response = match root.field("RESPONSE") {
            None => return Err(ProtocolError::MissingResponse),
            Some("ACCOUNT_UPDATE") => InventoryResponse::AccountUpdate,
            Some("NO_ACCOUNT_UPDATE") => InventoryResponse::NoAccountUpdate,
            Some(other) => return Err(bad_value("RESPONSE", other)),
        };
        let account_info = root
            .children_named("ACCOUNTINFO")
            .map(|a| {
                (
                    a.field("KEYNAME").unwrap_or_default().to_owned(),
                    a.field("KEYVALUE").unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let account_info = xml::check_entries(account_info, "account info entries")?;
        Ok(Self {
            response,
            account_info,
        })
    }

    /// Encodes the reply as the real OCS server lays it out (`XMLout`: single-quoted
    /// declaration, 2-space indentation, account info before the response).
    pub fn encode(&self) -> String {
        let mut out = String::from("<?xml version='1.0' encoding='UTF-8'?>\n<REPLY>\n");
        for (name, value) in &self.account_info {
            let _ = write!(
                out,
                "  <ACCOUNTINFO>\n    <KEYNAME>{}</KEYNAME>\n    <KEYVALUE>{}</KEYVALUE>\n  </ACCOUNTINFO>\n",
                escape_markup(name),
                escape_markup(value)
            );
        }
        let _ = write!(
            out,
            "  <RESPONSE>{}</RESPONSE>\n</REPLY>\n",
            self.response.as_str()
        );
        out
    }
}

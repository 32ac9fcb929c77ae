//! Agent requests.

use core::fmt::Write as _;

use super::ProtocolError;
use super::xml::{self, Element, escape};
use crate::{PackageId, StatusCode};

/// What an inventory says about the computer, from `CONTENT/HARDWARE`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Hardware {
    /// The host name (`NAME`).
    pub name: Option<String>,
    /// The operating system's name (`OSNAME`).
    pub os_name: Option<String>,
    /// The IP address(es) (`IPADDR`).
    pub ip_address: Option<String>,
}

/// A request from an agent (root `REQUEST`), by its `QUERY`.
///
/// The device id is kept as the text sent, non-empty but unchecked: the server decides
/// what to answer to a bad one ([`DeviceId::parse`](super::DeviceId::parse) checks it as
/// OCS does, which answers 400), and an agent may log it.
///
/// ```
/// use ocs_deploy_core::protocol::Request;
///
/// let windows = br#"<?xml version="1.0" encoding="UTF-8" ?>
/// <REQUEST ID="1700000000" ERR="EXIT_CODE_1603">
///     <DEVICEID>HOST-2024-01-01-00-00-00</DEVICEID>
///     <CONTENT />
///     <QUERY>DOWNLOAD</QUERY>
/// </REQUEST>"#;
/// let request = Request::decode(windows)?;
/// assert_eq!(request.device_id(), "HOST-2024-01-01-00-00-00");
/// assert_eq!(Request::decode(request.encode().as_bytes())?, request);
/// # Ok::<(), ocs_deploy_core::protocol::ProtocolError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// `QUERY=PROLOG`: the agent asks what to do.
    Prolog {
        /// The device id, as sent.
        device_id: String,
    },
    /// `QUERY=INVENTORY`.
    Inventory {
        /// The device id, as sent.
        device_id: String,
        /// `CONTENT/HARDWARE`.
        hardware: Hardware,
        /// `CONTENT/DOWNLOAD/HISTORY`: `None` when the section is missing (the OCS server
        /// then deletes the device's history, as for an empty one). Entries whose `ID` is
        /// not a valid package id are skipped.
        history: Option<Vec<PackageId>>,
    },
    /// `QUERY=DOWNLOAD`: the result of one package.
    DownloadResult {
        /// The device id, as sent.
        device_id: String,
        /// The package (`ID`).
        package_id: PackageId,
        /// The result (`ERR`); empty or `0` is [`StatusCode::UnknownCode`], as the server
        /// stores it.
        status: StatusCode,
    },
    /// Any other query (`SYSTEM`, `UPDATE`, a module's).
    Other {
        /// The device id, as sent.
        device_id: String,
        /// The query.
        query: String,
    },
}

impl Request {
    /// The device id, as sent.
    pub fn device_id(&self) -> &str {
        match self {
            Self::Prolog { device_id }
            | Self::Inventory { device_id, .. }
            | Self::DownloadResult { device_id, .. }
            | Self::Other { device_id, .. } => device_id,
        }
    }

    /// Decodes a request from its (decompressed) XML.
    ///
    /// # Errors
    /// [`ProtocolError`] for malformed XML, another root, a missing `DEVICEID`, `QUERY`
    /// or (DOWNLOAD) `ID`, or a bad package id.
    pub fn decode(xml: &[u8]) -> Result<Self, ProtocolError> {
        let root = xml::parse(xml, "REQUEST")?;
        let device_id = root
            .field("DEVICEID")
            .ok_or(ProtocolError::MissingDeviceId)?
            .to_owned();
        let Some(query) = root.field("QUERY") else {
            return Err(ProtocolError::MissingQuery { device_id });
        };
        match query {
            "PROLOG" => Ok(Self::Prolog { device_id }),
            "INVENTORY" => {
                let content = root.child("CONTENT");
                let hardware = content
                    .and_then(|c| c.child("HARDWARE"))
                    .map(|h| Hardware {
                        name: h.field("NAME").map(str::to_owned),
                        os_name: h.field("OSNAME").map(str::to_owned),
                        ip_address: h.field("IPADDR").map(str::to_owned),
                    })
                    .unwrap_or_default();
                let history = content
                    .and_then(|c| c.child("DOWNLOAD"))
                    .and_then(|d| d.child("HISTORY"))
                    .map(history);
                Ok(Self::Inventory {
                    device_id,
                    hardware,
                    history,
                })
            }
            "DOWNLOAD" => {
                let Some(id) = root.field("ID") else {
                    return Err(ProtocolError::MissingPackageId { device_id });
                };
                let package_id = id.parse().map_err(|reason| ProtocolError::BadPackageId {
                    context: format!("DOWNLOAD result from {device_id:?}"),
                    text: id.into(),
                    reason,
                })?;
                let status = match root.field("ERR") {
                    None | Some("0") => StatusCode::UnknownCode,
                    Some(err) => StatusCode::from_wire(err),
                };
                Ok(Self::DownloadResult {
                    device_id,
                    package_id,
                    status,
                })
            }
            other => Ok(Self::Other {
                device_id,
                query: other.to_owned(),
            }),
        }
    }

    /// Encodes the request as the Unix agent writes it: PROLOG and INVENTORY as elements
    /// with an XML declaration, the DOWNLOAD result as attributes of one empty `REQUEST`.
    pub fn encode(&self) -> String {
        const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
        match self {
            Self::Prolog { device_id } => format!(
                "{DECL}<REQUEST>\n  <DEVICEID>{}</DEVICEID>\n  <QUERY>PROLOG</QUERY>\n</REQUEST>\n",
                escape(device_id)
            ),
            Self::Inventory {
                device_id,
                hardware,
                history,
            } => {
                let mut out = format!("{DECL}<REQUEST>\n  <CONTENT>\n    <HARDWARE>\n");
                for (name, value) in [
                    ("NAME", &hardware.name),
                    ("OSNAME", &hardware.os_name),
                    ("IPADDR", &hardware.ip_address),
                ] {
                    if let Some(value) = value {
                        let _ = writeln!(out, "      <{name}>{}</{name}>", escape(value));
                    }
                }
                out.push_str("    </HARDWARE>\n");
                if let Some(history) = history {
                    out.push_str("    <DOWNLOAD>\n      <HISTORY>\n");
                    for id in history {
                        let _ = writeln!(out, "        <PACKAGE ID=\"{id}\" />");
                    }
                    out.push_str("      </HISTORY>\n    </DOWNLOAD>\n");
                }
                let _ = write!(
                    out,
                    "  </CONTENT>\n  <DEVICEID>{}</DEVICEID>\n  <QUERY>INVENTORY</QUERY>\n</REQUEST>\n",
                    escape(device_id)
                );
                out
            }
            Self::DownloadResult {
                device_id,
                package_id,
                status,
            } => format!(
                "<REQUEST DEVICEID=\"{}\" ERR=\"{}\" ID=\"{package_id}\" QUERY=\"DOWNLOAD\" />\n",
                escape(device_id),
                escape(&status.to_string())
            ),
            Self::Other { device_id, query } => format!(
                "{DECL}<REQUEST>\n  <DEVICEID>{}</DEVICEID>\n  <QUERY>{}</QUERY>\n</REQUEST>\n",
                escape(device_id),
                escape(query)
            ),
        }
    }
}

fn history(section: &Element) -> Vec<PackageId> {
    section
        .children_named("PACKAGE")
        .filter_map(|p| p.field("ID"))
        .filter_map(|id| id.parse().ok())
        .collect()
}

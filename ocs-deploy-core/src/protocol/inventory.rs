//! The INVENTORY reply.

use core::fmt::Write as _;

use super::ProtocolError;
use super::xml::{self, escape};

/// The server's answer to an inventory (`RESPONSE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InventoryResponse {
    /// `ACCOUNT_UPDATE`: the agent should store the account info sent.
    AccountUpdate,
    /// `NO_ACCOUNT_UPDATE`.
    NoAccountUpdate,
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
    /// `RESPONSE`.
    pub response: InventoryResponse,
    /// The `ACCOUNTINFO` entries as (`KEYNAME`, `KEYVALUE`), in document order; a missing
    /// name or value is empty.
    pub account_info: Vec<(String, String)>,
}

impl InventoryReply {
    /// Decodes an INVENTORY reply from its (decompressed) XML.
    ///
    /// # Errors
    /// [`ProtocolError`] for malformed XML, another root, or a missing or unknown
    /// `RESPONSE`.
    pub fn decode(xml: &[u8]) -> Result<Self, ProtocolError> {
        let root = xml::parse(xml, "REPLY")?;
        let response = match root.field("RESPONSE") {
            None => return Err(ProtocolError::MissingResponse),
            Some("ACCOUNT_UPDATE") => InventoryResponse::AccountUpdate,
            Some("NO_ACCOUNT_UPDATE") => InventoryResponse::NoAccountUpdate,
            Some(other) => {
                return Err(ProtocolError::BadValue {
                    field: "RESPONSE",
                    value: other.into(),
                });
            }
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
        Ok(Self {
            response,
            account_info,
        })
    }

    /// Encodes the reply in the layout of a real OCS server.
    pub fn encode(&self) -> String {
        let mut out = String::from("<?xml version='1.0' encoding='UTF-8'?>\n<REPLY>\n");
        for (name, value) in &self.account_info {
            let _ = write!(
                out,
                "  <ACCOUNTINFO>\n    <KEYNAME>{}</KEYNAME>\n    <KEYVALUE>{}</KEYVALUE>\n  </ACCOUNTINFO>\n",
                escape(name),
                escape(value)
            );
        }
        let _ = write!(
            out,
            "  <RESPONSE>{}</RESPONSE>\n</REPLY>\n",
            match self.response {
                InventoryResponse::AccountUpdate => "ACCOUNT_UPDATE",
                InventoryResponse::NoAccountUpdate => "NO_ACCOUNT_UPDATE",
            }
        );
        out
    }
}

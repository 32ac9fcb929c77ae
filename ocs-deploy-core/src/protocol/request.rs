//! Agent requests: one enum for everything an agent POSTs, dispatched on `QUERY`.

use super::ProtocolError;
use super::error::excerpt;
use super::inventory::{self, Hardware, HistoryEntry};
use super::result;
use super::xml::{self, Shape};
use crate::xml_text::escape_markup;
use crate::{PackageId, StatusCode};

/// A request from an agent (root `REQUEST`), by its `QUERY`.
///
/// Every value may come as an attribute of `REQUEST` or as a child element, as the OCS
/// server reads them; a blank value counts as absent. The device id is kept as the text
/// sent (non-blank, unchecked): the OCS server answers 400 to a bad one for every query
/// but `UPDATE`, so the server checks it with [`DeviceId::parse`](super::DeviceId::parse).
///
/// ```
/// use ocs_deploy_core::StatusCode;
/// use ocs_deploy_core::protocol::Request;
///
/// // The Windows agent's DOWNLOAD result: ID and ERR as attributes, the rest elements.
/// let windows = br#"<?xml version="1.0" encoding="UTF-8" ?>
/// <REQUEST ID="1700000000" ERR="EXIT_CODE_1603">
///     <DEVICEID>HOST-2024-01-01-00-00-00</DEVICEID>
///     <CONTENT />
///     <QUERY>DOWNLOAD</QUERY>
/// </REQUEST>"#;
/// let request = Request::decode(windows)?;
/// let Request::DownloadResult { device_id, package_id, status } = &request else {
///     panic!("not a DOWNLOAD result: {request:?}");
/// };
/// assert_eq!(device_id, "HOST-2024-01-01-00-00-00");
/// assert_eq!(package_id.get(), 1_700_000_000);
/// assert_eq!(*status, StatusCode::ExitCode(1603));
/// // Encoded the Unix agent's way, all attributes.
/// assert_eq!(
///     request.encode(),
///     "<REQUEST DEVICEID=\"HOST-2024-01-01-00-00-00\" ERR=\"EXIT_CODE_1603\" ID=\"1700000000\" QUERY=\"DOWNLOAD\" />\n"
/// );
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
    /// `QUERY=INVENTORY`: the computer's inventory, of which we keep what deployment
    /// needs.
    Inventory {
        /// The device id, as sent.
        device_id: String,
        /// A few values of `CONTENT/HARDWARE`.
        hardware: Hardware,
        /// The packages the agent has deployed (`CONTENT/DOWNLOAD/HISTORY`), in the
        /// order sent. `None` when the section is missing: the OCS server then deletes the
        /// computer's history, as for an empty one, which may not be what you want.
        history: Option<Vec<HistoryEntry>>,
    },
    /// `QUERY=DOWNLOAD`: the result of one package.
    DownloadResult {
        /// The device id, as sent.
        device_id: String,
        /// The package (`ID`).
        package_id: PackageId,
        /// The result (`ERR`). A missing, empty or `0` one is
        /// [`StatusCode::UnknownCode`], as the OCS server stores it.
        status: StatusCode,
    },
    /// Any other query (`SYSTEM`, `UPDATE`, a server module's), as sent.
    Other {
        /// The device id, as sent.
        device_id: String,
        /// The query: never `PROLOG`, `INVENTORY` or `DOWNLOAD`, never blank.
        query: String,
    },
}

static REQUEST: Shape = Shape {
    name: "REQUEST",
    children: &[
        Shape::leaf("DEVICEID"),
        Shape::leaf("QUERY"),
        Shape::leaf("ID"),
        Shape::leaf("ERR"),
        inventory::CONTENT,
    ],
};

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

    /// The query, as on the wire (`PROLOG`, `INVENTORY`, `DOWNLOAD` or another).
    ///
    /// ```
    /// use ocs_deploy_core::protocol::Request;
    ///
    /// let request = Request::Prolog { device_id: "pc-2026-11-24-06-35-53".into() };
    /// assert_eq!(request.query(), "PROLOG");
    /// ```
    pub fn query(&self) -> &str {
        match self {
            Self::Prolog { .. } => "PROLOG",
            Self::Inventory { .. } => "INVENTORY",
            Self::DownloadResult { .. } => "DOWNLOAD",
            Self::Other { query, .. } => query,
        }
    }

    /// Decodes a request from its (decompressed) XML.
    ///
    /// # Errors
    /// [`ProtocolError`] for malformed XML, another root, a missing `DEVICEID` or
    /// `QUERY`, or a DOWNLOAD result without a valid package `ID`.
    ///
    /// ```
    /// use ocs_deploy_core::protocol::Request;
    ///
    /// // As the Unix agent sends it.
    /// let unix = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>
    /// <REQUEST>
    ///   <DEVICEID>vm-2026-11-24-06-35-53</DEVICEID>
    ///   <QUERY>PROLOG</QUERY>
    /// </REQUEST>
    /// ";
    /// let request = Request::decode(unix)?;
    /// assert_eq!(request, Request::Prolog { device_id: "vm-2026-11-24-06-35-53".into() });
    /// assert_eq!(request.encode().as_bytes(), unix);
    /// # Ok::<(), ocs_deploy_core::protocol::ProtocolError>(())
    /// ```
    pub fn decode(xml: &[u8]) -> Result<Self, ProtocolError> {
        let root = xml::parse(xml, &REQUEST)?;
        let device_id = root
            .field("DEVICEID")
            .ok_or(ProtocolError::MissingDeviceId)?
            .to_owned();
        let Some(query) = root.field("QUERY") else {
            return Err(ProtocolError::MissingQuery {
                device_id: excerpt(&device_id),
            });
        };
        match query {
            "PROLOG" => Ok(Self::Prolog { device_id }),
            "INVENTORY" => {
                let (hardware, history) = inventory::decode_content(&root)?;
                Ok(Self::Inventory {
                    device_id,
                    hardware,
                    history,
                })
            }
            "DOWNLOAD" => {
                let (package_id, status) = result::decode(&root, &device_id)?;
                Ok(Self::DownloadResult {
                    device_id,
                    package_id,
                    status,
                })
            }
            other => Ok(Self::Other {
                query: other.to_owned(),
                device_id,
            }),
        }
    }

    /// Encodes the request as the Unix agent writes it: PROLOG, INVENTORY and other
    /// queries as elements after an XML declaration, the DOWNLOAD result as attributes
    /// of one empty `REQUEST` without a declaration.
    ///
    /// A blank device id, query, hardware value or history entry cannot be told from a
    /// missing one, so it does not survive decoding.
    pub fn encode(&self) -> String {
        match self {
            Self::Prolog { device_id } => simple_request(device_id, "PROLOG"),
            Self::Inventory {
                device_id,
                hardware,
                history,
            } => inventory::encode_request(device_id, hardware, history.as_deref()),
            Self::DownloadResult {
                device_id,
                package_id,
                status,
            } => result::encode(device_id, *package_id, status),
            Self::Other { device_id, query } => simple_request(device_id, query),
        }
    }
}

/// A request holding only a device id and a query, as the Unix agent's PROLOG.
fn simple_request(device_id: &str, query: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<REQUEST>\n  <DEVICEID>{}</DEVICEID>\n  <QUERY>{}</QUERY>\n</REQUEST>\n",
        escape_markup(device_id),
        escape_markup(query)
    )
}

//! The DOWNLOAD result request (`QUERY=DOWNLOAD`): the outcome of one package.

use super::ProtocolError;
use super::error::excerpt;
use super::xml::Element;
use crate::xml_text::escape_markup;
use crate::{PackageId, StatusCode};

/// Reads the package and the status of a DOWNLOAD result, in either form: the Unix
/// agent's (every value an attribute of `REQUEST`) or the Windows agent's (`ID` and
/// `ERR` attributes, the rest child elements).
pub(crate) fn decode(
    root: &Element,
    device_id: &str,
) -> Result<(PackageId, StatusCode), ProtocolError> {
    let Some(text) = root.field("ID") else {
        return Err(ProtocolError::MissingPackageId {
            device_id: excerpt(device_id),
        });
    };
    let package_id = text
        .parse()
        .map_err(|reason| ProtocolError::BadResultPackageId {
            device_id: excerpt(device_id),
            text: excerpt(text),
            reason,
        })?;
    Ok((package_id, status(root.field("ERR"))))
}

/// The status a result's `ERR` stands for. The OCS server stores `UNKNOWN_CODE` for an
/// empty or `0` one (Perl's false values) and any other text verbatim.
pub(crate) fn status(err: Option<&str>) -> StatusCode {
    match err {
        None | Some("0") => StatusCode::UnknownCode,
        Some(err) => StatusCode::from_wire(err),
    }
}

/// Writes a result as the Unix agent does (`XMLout` of one hash: no declaration, every
/// value an attribute, sorted).
pub(crate) fn encode(device_id: &str, package_id: PackageId, status: &StatusCode) -> String {
    format!(
        "<REQUEST DEVICEID=\"{}\" ERR=\"{}\" ID=\"{package_id}\" QUERY=\"DOWNLOAD\" />\n",
        escape_markup(device_id),
        escape_markup(&status.to_string())
    )
}

//! The `DOWNLOAD` option of a PROLOG reply: the download settings and the packages
//! offered.

use core::fmt::Write as _;
use core::time::Duration;

use super::ProtocolError;
use super::error::excerpt;
use super::xml::{self, Element, Shape};
use crate::PackageId;
use crate::xml_text::escape_markup;

/// The `DOWNLOAD` option of a PROLOG reply.
///
/// ```
/// use ocs_deploy_core::PackageId;
/// use ocs_deploy_core::protocol::{DownloadConfig, DownloadOption, PackageNotice};
///
/// let option = DownloadOption {
///     config: DownloadConfig::default(),
///     packages: vec![PackageNotice::new(
///         PackageId::new(1_700_000_000)?,
///         "ocs.example.com/download",
///         "ocs.example.com/download",
///     )],
/// };
/// assert_eq!(option.packages[0].cert_file, "INSTALL_PATH/cacert.pem");
/// # Ok::<(), ocs_deploy_core::package::PackageIdError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownloadOption {
    /// The settings (`PARAM TYPE="CONF"`); the OCS defaults when the server sent none.
    pub config: DownloadConfig,
    /// The packages to deploy (`PARAM TYPE="PACK"`), in the order sent.
    pub packages: Vec<PackageNotice>,
}

/// The download settings (`PARAM TYPE="CONF"`).
///
/// On the wire the latencies are whole seconds and the execution timeout whole minutes:
/// encoding drops any smaller part.
///
/// ```
/// use std::time::Duration;
/// use ocs_deploy_core::protocol::DownloadConfig;
///
/// let defaults = DownloadConfig::default();
/// assert_eq!(defaults.fragment_latency, Duration::from_secs(10));
/// assert_eq!(defaults.execution_timeout, Duration::from_secs(120 * 60));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadConfig {
    /// Whether deployment is on (`ON`); when off, agents stop downloading.
    pub enabled: bool,
    /// The pause after each download step (`FRAG_LATENCY`).
    pub fragment_latency: Duration,
    /// The pause after each cycle (`CYCLE_LATENCY`).
    pub cycle_latency: Duration,
    /// The pause after each period (`PERIOD_LATENCY`).
    pub period_latency: Duration,
    /// Cycles per period (`PERIOD_LENGTH`).
    pub period_length: u32,
    /// Days a package may stay pending before it fails with `ERR_TIMEOUT` (`TIMEOUT`).
    pub timeout_days: u32,
    /// How long a package's command may run (`EXECUTION_TIMEOUT`; the Windows agent
    /// ignores it and always allows 120 minutes).
    pub execution_timeout: Duration,
}

impl Default for DownloadConfig {
    /// The OCS server defaults: on, fragment latency 10 s, cycle latency 60 s, period
    /// latency 1 s, 10 cycles a period, 30 days, 120 minutes.
    fn default() -> Self {
        Self {
            enabled: true,
            fragment_latency: Duration::from_secs(10),
            cycle_latency: Duration::from_secs(60),
            period_latency: Duration::from_secs(1),
            period_length: 10,
            timeout_days: 30,
            execution_timeout: Duration::from_secs(120 * 60),
        }
    }
}

/// A package offered for deployment (`PARAM TYPE="PACK"`).
///
/// Agents fetch `https://<info_location>/<id>/info`, then the fragments from
/// `<pack_location>/<id>/<id>-<n>` with the protocol the info file names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageNotice {
    /// The package (`ID`).
    pub id: PackageId,
    /// Where the info file is (`INFO_LOC`): `host[:port]/path`, without a scheme.
    pub info_location: String,
    /// Where the fragments are (`PACK_LOC`): `host[:port]/path`, without a scheme.
    pub pack_location: String,
    /// `CERT_PATH`: [`DEFAULT_CERT_PATH`](Self::DEFAULT_CERT_PATH) unless the activation
    /// names one; no agent uses it.
    pub cert_path: String,
    /// `CERT_FILE`: [`DEFAULT_CERT_FILE`](Self::DEFAULT_CERT_FILE) unless the activation
    /// names one; no agent uses it.
    pub cert_file: String,
    /// When to deploy (`SCHEDULE`, e.g. `2016/06/30 02:15`); only the Windows agent
    /// reads it.
    pub schedule: Option<String>,
    /// What to run after the package (`POSTCMD`: `REBOOT`, `SHUTDOWN` or a command);
    /// only the Windows agent reads it.
    pub post_command: Option<String>,
    /// Deploy even if the package is in the agent's history (`FORCE`).
    pub force: bool,
}

impl PackageNotice {
    /// What the OCS server sends as `CERT_PATH` when the activation names none.
    pub const DEFAULT_CERT_PATH: &'static str = "INSTALL_PATH";
    /// What the OCS server sends as `CERT_FILE` when the activation names none.
    pub const DEFAULT_CERT_FILE: &'static str = "INSTALL_PATH/cacert.pem";

    /// A notice as the OCS server writes one for a plain activation: default certificate
    /// names, no schedule, no post command, not forced.
    pub fn new(
        id: PackageId,
        info_location: impl Into<String>,
        pack_location: impl Into<String>,
    ) -> Self {
        Self {
            id,
            info_location: info_location.into(),
            pack_location: pack_location.into(),
            cert_path: Self::DEFAULT_CERT_PATH.into(),
            cert_file: Self::DEFAULT_CERT_FILE.into(),
            schedule: None,
            post_command: None,
            force: false,
        }
    }
}

/// The `OPTION` element, as the PROLOG reply decoder reads it.
pub(crate) const OPTION: Shape = Shape {
    name: "OPTION",
    children: &[
        Shape::leaf("NAME"),
        Shape {
            name: "PARAM",
            children: &[
                Shape::leaf("TYPE"),
                Shape::leaf("ON"),
                Shape::leaf("FRAG_LATENCY"),
                Shape::leaf("CYCLE_LATENCY"),
                Shape::leaf("PERIOD_LATENCY"),
                Shape::leaf("PERIOD_LENGTH"),
                Shape::leaf("TIMEOUT"),
                Shape::leaf("EXECUTION_TIMEOUT"),
                Shape::leaf("ID"),
                Shape::leaf("INFO_LOC"),
                Shape::leaf("PACK_LOC"),
                Shape::leaf("CERT_PATH"),
                Shape::leaf("CERT_FILE"),
                Shape::leaf("SCHEDULE"),
                Shape::leaf("POSTCMD"),
                Shape::leaf("FORCE"),
            ],
        },
    ],
};

/// The first `DOWNLOAD` option among a reply's `OPTION` elements, if any.
pub(crate) fn decode(reply: &Element) -> Result<Option<DownloadOption>, ProtocolError> {
    let Some(option) = reply
        .children_named("OPTION")
        .find(|o| o.field("NAME") == Some("DOWNLOAD"))
    else {
        return Ok(None);
    };
    let mut config = None;
    let mut packages = Vec::new();
    for param in option.children_named("PARAM") {
        match param.field("TYPE") {
            Some("CONF") if config.is_none() => config = Some(decode_config(param)?),
            Some("PACK") => packages.push(decode_notice(param)?),
            _ => {}
        }
    }
    Ok(Some(DownloadOption {
        config: config.unwrap_or_default(),
        packages: xml::check_entries(packages, "packages")?,
    }))
}

/// Writes the option as the OCS server does: `NAME` as an element, `CONF` first with
/// `ON` always written, every value an attribute.
pub(crate) fn encode(option: &DownloadOption, out: &mut String) {
    let c = &option.config;
    let _ = write!(
        out,
        "<OPTION><NAME>DOWNLOAD</NAME><PARAM TYPE=\"CONF\" ON=\"{}\" FRAG_LATENCY=\"{}\" \
         CYCLE_LATENCY=\"{}\" PERIOD_LATENCY=\"{}\" PERIOD_LENGTH=\"{}\" TIMEOUT=\"{}\" \
         EXECUTION_TIMEOUT=\"{}\" />",
        u8::from(c.enabled),
        c.fragment_latency.as_secs(),
        c.cycle_latency.as_secs(),
        c.period_latency.as_secs(),
        c.period_length,
        c.timeout_days,
        c.execution_timeout.as_secs() / 60,
    );
    for p in &option.packages {
        let _ = write!(
            out,
            "<PARAM TYPE=\"PACK\" ID=\"{}\" INFO_LOC=\"{}\" PACK_LOC=\"{}\" CERT_PATH=\"{}\" \
             CERT_FILE=\"{}\" SCHEDULE=\"{}\" POSTCMD=\"{}\" FORCE=\"{}\" />",
            p.id,
            escape_markup(&p.info_location),
            escape_markup(&p.pack_location),
            escape_markup(&p.cert_path),
            escape_markup(&p.cert_file),
            escape_markup(p.schedule.as_deref().unwrap_or_default()),
            escape_markup(p.post_command.as_deref().unwrap_or_default()),
            u8::from(p.force),
        );
    }
    out.push_str("</OPTION>");
}

fn decode_config(param: &Element) -> Result<DownloadConfig, ProtocolError> {
    let defaults = DownloadConfig::default();
    let seconds = |field: &'static str, default: Duration| {
        param.field(field).map_or(Ok(default), |v| {
            number::<u64>(field, v).map(Duration::from_secs)
        })
    };
    let count = |field: &'static str, default: u32| {
        param
            .field(field)
            .map_or(Ok(default), |v| number::<u32>(field, v))
    };
    let execution_timeout = match param.field("EXECUTION_TIMEOUT") {
        None => defaults.execution_timeout,
        Some(v) => number::<u64>("EXECUTION_TIMEOUT", v)?
            .checked_mul(60)
            .map(Duration::from_secs)
            .ok_or_else(|| bad_value("EXECUTION_TIMEOUT", v))?,
    };
    Ok(DownloadConfig {
        enabled: param
            .field("ON")
            .map_or(Ok(defaults.enabled), |v| flag("ON", v))?,
        fragment_latency: seconds("FRAG_LATENCY", defaults.fragment_latency)?,
        cycle_latency: seconds("CYCLE_LATENCY", defaults.cycle_latency)?,
        period_latency: seconds("PERIOD_LATENCY", defaults.period_latency)?,
        period_length: count("PERIOD_LENGTH", defaults.period_length)?,
        timeout_days: count("TIMEOUT", defaults.timeout_days)?,
        execution_timeout,
    })
}

fn decode_notice(param: &Element) -> Result<PackageNotice, ProtocolError> {
    let text = param.field("ID").unwrap_or_default();
    let id = text
        .parse()
        .map_err(|reason| ProtocolError::BadNoticePackageId {
            text: excerpt(text),
            reason,
        })?;
    let string = |field: &str| param.field(field).unwrap_or_default().to_owned();
    Ok(PackageNotice {
        id,
        info_location: string("INFO_LOC"),
        pack_location: string("PACK_LOC"),
        cert_path: string("CERT_PATH"),
        cert_file: string("CERT_FILE"),
        schedule: param.field("SCHEDULE").map(str::to_owned),
        post_command: param.field("POSTCMD").map(str::to_owned),
        force: param
            .field("FORCE")
            .map_or(Ok(false), |v| flag("FORCE", v))?,
    })
}

pub(crate) fn bad_value(field: &'static str, value: &str) -> ProtocolError {
    ProtocolError::BadValue {
        field,
        value: excerpt(value),
    }
}

/// A decimal number: ASCII digits only (no sign, no spaces).
pub(crate) fn number<T: core::str::FromStr>(
    field: &'static str,
    value: &str,
) -> Result<T, ProtocolError> {
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_value(field, value));
    }
    value.parse().map_err(|_| bad_value(field, value))
}

/// A flag as the agents read one: an integer, true unless zero.
pub(crate) fn flag(field: &'static str, value: &str) -> Result<bool, ProtocolError> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_value(field, value));
    }
    Ok(digits.bytes().any(|b| b != b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_integers_true_unless_zero() {
        for (text, value) in [
            ("0", false),
            ("1", true),
            ("2", true),
            ("-0", false),
            ("00", false),
        ] {
            assert_eq!(flag("ON", text), Ok(value), "{text}");
        }
        for text in ["", "-", "yes", " 1", "1.0"] {
            assert!(flag("ON", text).is_err(), "{text}");
        }
    }

    #[test]
    fn numbers_are_plain_decimals() {
        assert_eq!(number::<u32>("TIMEOUT", "30"), Ok(30));
        assert!(number::<u32>("TIMEOUT", "+30").is_err());
        assert!(number::<u32>("TIMEOUT", "-1").is_err());
        assert!(number::<u32>("TIMEOUT", "4294967296").is_err());
    }
}

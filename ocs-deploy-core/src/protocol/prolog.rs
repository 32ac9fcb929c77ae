//! The PROLOG reply and its DOWNLOAD option.

use core::fmt::Write as _;
use core::time::Duration;

use super::ProtocolError;
use super::xml::{self, Element, escape};
use crate::PackageId;

/// The server's decision in a PROLOG reply (`RESPONSE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrologResponse {
    /// `SEND`: send an inventory.
    Send,
    /// `STOP`: no inventory now.
    Stop,
}

/// The reply to a PROLOG request (root `REPLY`).
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
/// assert_eq!(back.download.unwrap().config.fragment_latency, Duration::from_secs(10));
/// # Ok::<(), ocs_deploy_core::protocol::ProtocolError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrologReply {
    /// `RESPONSE`.
    pub response: PrologResponse,
    /// `PROLOG_FREQ`: hours between two PROLOGs.
    pub prolog_freq: Option<u32>,
    /// `INVENTORY_ON_STARTUP`.
    pub inventory_on_startup: Option<bool>,
    /// The `DOWNLOAD` option; `None` when the server sent none (other options are ignored).
    pub download: Option<DownloadOption>,
}

/// The `DOWNLOAD` option of a PROLOG reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownloadOption {
    /// The `CONF` parameter (defaults when absent).
    pub config: DownloadConfig,
    /// The `PACK` parameters: packages to deploy.
    pub packages: Vec<PackageNotice>,
}

/// The download settings (`PARAM TYPE="CONF"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadConfig {
    /// `ON`: whether deployment is on.
    pub enabled: bool,
    /// `FRAG_LATENCY`: pause after each fragment (seconds on the wire).
    pub fragment_latency: Duration,
    /// `CYCLE_LATENCY`: pause after each cycle (seconds on the wire).
    pub cycle_latency: Duration,
    /// `PERIOD_LATENCY`: pause after each period (seconds on the wire).
    pub period_latency: Duration,
    /// `PERIOD_LENGTH`: cycles per period.
    pub period_length: u32,
    /// `TIMEOUT`: days a package may stay pending.
    pub timeout_days: u32,
    /// `EXECUTION_TIMEOUT`: how long a command may run (minutes on the wire).
    pub execution_timeout: Duration,
}

impl Default for DownloadConfig {
    /// The OCS server defaults: fragment 10 s, cycle 60 s, period 1 s, 10 cycles a
    /// period, 30 days, 120 minutes, on.
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

/// A package to deploy (`PARAM TYPE="PACK"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageNotice {
    /// `ID`.
    pub id: PackageId,
    /// `INFO_LOC`: where the info file is, `host[:port]/path` (no scheme; HTTPS).
    pub info_location: String,
    /// `PACK_LOC`: where the fragments are, `host[:port]/path` (no scheme; HTTP).
    pub pack_location: String,
    /// `CERT_PATH` (`INSTALL_PATH` by default).
    pub cert_path: String,
    /// `CERT_FILE` (`INSTALL_PATH/cacert.pem` by default).
    pub cert_file: String,
    /// `SCHEDULE`, e.g. `2016/06/30 02:15`; `None` when empty.
    pub schedule: Option<String>,
    /// `POSTCMD` (`REBOOT`, `SHUTDOWN` or a command); `None` when empty.
    pub post_command: Option<String>,
    /// `FORCE`: deploy even if the package is in the agent's history.
    pub force: bool,
}

impl PrologReply {
    /// Decodes a PROLOG reply from its (decompressed) XML.
    ///
    /// # Errors
    /// [`ProtocolError`] for malformed XML, another root, a missing or unknown
    /// `RESPONSE`, a bad number or flag, or a bad package id.
    pub fn decode(xml: &[u8]) -> Result<Self, ProtocolError> {
        let root = xml::parse(xml, "REPLY")?;
        let response = match root.field("RESPONSE") {
            None => return Err(ProtocolError::MissingResponse),
            Some("SEND") => PrologResponse::Send,
            Some("STOP") => PrologResponse::Stop,
            Some(other) => return Err(bad("RESPONSE", other)),
        };
        let prolog_freq = root
            .field("PROLOG_FREQ")
            .map(|v| number::<u32>("PROLOG_FREQ", v))
            .transpose()?;
        let inventory_on_startup = root
            .field("INVENTORY_ON_STARTUP")
            .map(|v| flag("INVENTORY_ON_STARTUP", v))
            .transpose()?;
        let download = root
            .children_named("OPTION")
            .find(|o| o.field("NAME") == Some("DOWNLOAD"))
            .map(download_option)
            .transpose()?;
        Ok(Self {
            response,
            prolog_freq,
            inventory_on_startup,
            download,
        })
    }

    /// Encodes the reply in the layout of a real OCS server (declaration, no line
    /// breaks; `CONF` first, `ON` always written).
    pub fn encode(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><REPLY><RESPONSE>");
        out.push_str(match self.response {
            PrologResponse::Send => "SEND",
            PrologResponse::Stop => "STOP",
        });
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
        if let Some(download) = &self.download {
            let c = &download.config;
            let _ = write!(
                out,
                "<OPTION><NAME>DOWNLOAD</NAME><PARAM TYPE=\"CONF\" ON=\"{}\" FRAG_LATENCY=\"{}\" CYCLE_LATENCY=\"{}\" PERIOD_LATENCY=\"{}\" PERIOD_LENGTH=\"{}\" TIMEOUT=\"{}\" EXECUTION_TIMEOUT=\"{}\" />",
                u8::from(c.enabled),
                c.fragment_latency.as_secs(),
                c.cycle_latency.as_secs(),
                c.period_latency.as_secs(),
                c.period_length,
                c.timeout_days,
                c.execution_timeout.as_secs() / 60,
            );
            for p in &download.packages {
                let _ = write!(
                    out,
                    "<PARAM TYPE=\"PACK\" ID=\"{}\" INFO_LOC=\"{}\" PACK_LOC=\"{}\" CERT_PATH=\"{}\" CERT_FILE=\"{}\" SCHEDULE=\"{}\" POSTCMD=\"{}\" FORCE=\"{}\" />",
                    p.id,
                    escape(&p.info_location),
                    escape(&p.pack_location),
                    escape(&p.cert_path),
                    escape(&p.cert_file),
                    escape(p.schedule.as_deref().unwrap_or_default()),
                    escape(p.post_command.as_deref().unwrap_or_default()),
                    u8::from(p.force),
                );
            }
            out.push_str("</OPTION>");
        }
        out.push_str("</REPLY>\n");
        out
    }
}

fn bad(field: &'static str, value: &str) -> ProtocolError {
    ProtocolError::BadValue {
        field,
        value: value.into(),
    }
}

fn number<T: core::str::FromStr>(field: &'static str, value: &str) -> Result<T, ProtocolError> {
    value.parse().map_err(|_| bad(field, value))
}

fn flag(field: &'static str, value: &str) -> Result<bool, ProtocolError> {
    match value {
        "0" => Ok(false),
        "1" => Ok(true),
        other => Err(bad(field, other)),
    }
}

fn download_option(option: &Element) -> Result<DownloadOption, ProtocolError> {
    let mut config = None;
    let mut packages = Vec::new();
    for param in option.children_named("PARAM") {
        match param.field("TYPE") {
            Some("CONF") if config.is_none() => config = Some(download_config(param)?),
            Some("PACK") => packages.push(package_notice(param)?),
            _ => {}
        }
    }
    Ok(DownloadOption {
        config: config.unwrap_or_default(),
        packages,
    })
}

fn download_config(param: &Element) -> Result<DownloadConfig, ProtocolError> {
    let defaults = DownloadConfig::default();
    let seconds = |field: &'static str, default: Duration| {
        param
            .field(field)
            .map_or(Ok(default), |v| number::<u64>(field, v).map(Duration::from_secs))
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
            .ok_or_else(|| bad("EXECUTION_TIMEOUT", v))?,
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

fn package_notice(param: &Element) -> Result<PackageNotice, ProtocolError> {
    let text = param.field("ID").unwrap_or_default();
    let id = text.parse().map_err(|reason| ProtocolError::BadPackageId {
        context: "PACK PARAM".into(),
        text: text.into(),
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
        force: param.field("FORCE").map_or(Ok(false), |v| flag("FORCE", v))?,
    })
}

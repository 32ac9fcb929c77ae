//! The JSON bodies and query strings of the admin API, with serde.
//!
//! Requests refuse unknown fields (a typo is a 400, not an ignored option). Times are
//! Unix seconds; package ids are the OCS ids (Unix seconds of the build, unique);
//! activation, group and computer ids are the store's keys. A status of
//! `WAITING_NOTIFICATION` stands for an affectation nobody was told about yet.
//!
//! ```
//! use ocs_deploy_http::server::admin::api::{AffectRequest, TextMatch};
//!
//! let request: AffectRequest = serde_json::from_str(
//!     r#"{"criteria": {"ip_address": {"starts_with": "10.1."}}, "post_command": "REBOOT"}"#,
//! )?;
//! let criteria = request.criteria.unwrap();
//! assert_eq!(criteria.ip_address, Some(TextMatch::StartsWith("10.1.".into())));
//! assert!(serde_json::from_str::<AffectRequest>(r#"{"all": true, "forse": true}"#).is_err());
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::collections::BTreeMap;

use ocs_deploy_core::StatusClass;
use serde::{Deserialize, Serialize};

/// The status text standing for "affected, not yet told" (no status stored).
pub const WAITING_NOTIFICATION: &str = "WAITING_NOTIFICATION";

/// The body of every error: `{"error": "package 1700000000 does not exist"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong (a generic text for server errors).
    pub error: String,
}

/// What the agent does with a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// Extract the archive and run the command (a file of the archive).
    Launch,
    /// Run the command, in the extracted archive if there is one.
    Execute,
    /// Extract the archive into the folder given as command.
    Store,
}

/// The query string of `POST /admin/v1/packages` (the body is the archive).
///
/// `?name=tools&action=execute&command=apt-get%20install%20-y%20htop` builds an Execute
/// without file (empty body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildParams {
    /// A name for people.
    pub name: String,
    /// What the agent does.
    pub action: ActionKind,
    /// The command to launch or execute, or the folder to store into.
    pub command: String,
    /// Priority, 0 (exclusive) to 10; 5 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    /// Fragment size in bytes (1 MiB by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fragment_size: Option<u64>,
    /// A number of fragments instead, split as the OCS console does; needs a
    /// `Content-Length`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fragments: Option<u32>,
}

/// A package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// Its id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Its priority.
    pub priority: u8,
    /// Its number of fragments (0 without file).
    pub fragments: u32,
    /// The archive's size in bytes.
    pub size: u64,
    /// Whether its build finished.
    pub built: bool,
    /// When its build started.
    pub created: u64,
    /// Where agents find it.
    pub activations: Vec<Activation>,
    /// The info file (only when one package is asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
}

/// The body of `POST /admin/v1/packages/{id}/activations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    /// `host[:port]/path` of the info file (fetched over HTTPS), without a scheme.
    pub info_location: String,
    /// `host[:port]/path` of the fragments, without a scheme; may hold `$IP$` and
    /// `$NAME$`.
    pub pack_location: String,
}

/// An activation: where agents find a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activation {
    /// Its key.
    pub id: i64,
    /// The package.
    pub package: u64,
    /// Where the info file is.
    pub info_location: String,
    /// Where the fragments are.
    pub pack_location: String,
    /// When it was made.
    pub created: u64,
}

/// How a text criterion matches, ignoring ASCII case: `{"equals": "debian"}`,
/// `{"starts_with": "10.1."}`, `{"contains": "srv"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextMatch {
    /// The whole value.
    Equals(String),
    /// The value's start.
    StartsWith(String),
    /// Anywhere in the value.
    Contains(String),
}

/// Inventory criteria; every criterion given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criteria {
    /// Host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<TextMatch>,
    /// Operating system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_name: Option<TextMatch>,
    /// IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<TextMatch>,
    /// The `TAG` account field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<TextMatch>,
}

/// The body of `POST /admin/v1/packages/{id}/affectations`: exactly one target of
/// `devices`, `all`, `group` or `criteria`, and options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AffectRequest {
    /// Computers by device id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    /// Every computer known.
    #[serde(default, skip_serializing_if = "core::ops::Not::not")]
    pub all: bool,
    /// A static group, by name: its members get it at their next contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Every computer whose inventory matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criteria: Option<Criteria>,
    /// The activation to affect, required when the package has several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<i64>,
    /// Send it even to computers that have it in their history (not for groups).
    #[serde(default, skip_serializing_if = "core::ops::Not::not")]
    pub force: bool,
    /// Not before this time (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<u64>,
    /// What the Windows agent runs after the package (`REBOOT`, `SHUTDOWN` or a command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_command: Option<String>,
}

/// What an affectation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectResponse {
    /// The activation affected.
    pub activation: i64,
    /// The computers affected (keys), for devices, `all` and criteria.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computers: Option<Vec<i64>>,
    /// The group affected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// How the console counts a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusClassName {
    /// Affected, not yet told.
    Waiting,
    /// Told, no result yet.
    Notified,
    /// A success.
    Success,
    /// An error.
    Error,
    /// Neither.
    Unclassified,
}

impl From<StatusClass> for StatusClassName {
    fn from(class: StatusClass) -> Self {
        match class {
            StatusClass::Waiting => Self::Waiting,
            StatusClass::Notified => Self::Notified,
            StatusClass::Success => Self::Success,
            StatusClass::Error => Self::Error,
            StatusClass::Unclassified => Self::Unclassified,
        }
    }
}

impl From<StatusClassName> for StatusClass {
    fn from(class: StatusClassName) -> Self {
        match class {
            StatusClassName::Waiting => Self::Waiting,
            StatusClassName::Notified => Self::Notified,
            StatusClassName::Success => Self::Success,
            StatusClassName::Error => Self::Error,
            StatusClassName::Unclassified => Self::Unclassified,
        }
    }
}

/// `GET /admin/v1/packages/{id}/stats`: counts per status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// The package.
    pub package: u64,
    /// All its affectations.
    pub total: u64,
    /// Per exact status, largest first.
    pub statuses: Vec<StatusShare>,
}

/// One exact status and its share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusShare {
    /// The status text (`WAITING_NOTIFICATION`, `NOTIFIED`, `SUCCESS`, `ERR_…`, …).
    pub status: String,
    /// How the console counts it.
    pub class: StatusClassName,
    /// How many computers.
    pub count: u64,
    /// `count` in percent of `total`.
    pub percent: f64,
}

/// The query string of `GET /admin/v1/packages/{id}/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusQuery {
    /// Only computers in this class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<StatusClassName>,
    /// Only computers with exactly this status (not with `class`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Rows to skip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Rows at most (1000 by default, 10000 at most).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// `GET /admin/v1/packages/{id}/status`: one page of computers and their status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusPage {
    /// The package.
    pub package: u64,
    /// The rows skipped.
    pub offset: u64,
    /// The computers, by key.
    pub computers: Vec<ComputerStatus>,
}

/// One computer's status for a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputerStatus {
    /// Its device id.
    pub device_id: String,
    /// Its host name.
    pub name: Option<String>,
    /// Its status.
    pub status: String,
    /// When the status last changed.
    pub changed: u64,
}

/// What `POST /admin/v1/packages/{id}/validate?scope=…` removes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ValidateScope {
    /// The affectations that succeeded (the history keeps the package from being sent
    /// again).
    Success,
    /// The affectations nobody was told about yet.
    NotNotified,
    /// Both (the default).
    #[default]
    All,
}

/// The query string of `POST /admin/v1/packages/{id}/validate`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateQuery {
    /// What to remove.
    #[serde(default)]
    pub scope: ValidateScope,
}

/// A count of rows removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    /// How many.
    pub removed: u64,
}

/// The body of `PUT /admin/v1/config/{KEY}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingValue {
    /// The value (a whole number).
    pub value: i64,
}

/// A global setting, by its OCS name (`DOWNLOAD_FRAG_LATENCY`, `PROLOG_FREQ`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    /// The OCS name.
    pub key: String,
    /// The value.
    pub value: i64,
}

/// `GET /admin/v1/config`: the global settings set, by OCS name.
pub type Settings = BTreeMap<String, i64>;

/// The body of `POST /admin/v1/groups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    /// Its unique name.
    pub name: String,
    /// Whether users may put their own computers in it.
    #[serde(default)]
    pub visible: bool,
}

/// A static group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Its key.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Whether users may put their own computers in it.
    pub visible: bool,
    /// Its members' device ids (only when one group is asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<String>>,
}

/// The body of `POST /admin/v1/groups/{name}/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Members {
    /// Computers by device id.
    pub devices: Vec<String>,
}

/// `GET /admin/v1/packages/{id}/timeline`: one point per hour in which statuses changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelinePoint {
    /// The hour's start (Unix seconds).
    pub start: u64,
    /// Every status seen up to the end of that hour, with how many affectations reached
    /// it so far and that in percent of all of them.
    pub statuses: Vec<TimelineStatus>,
}

/// One status in a [`TimelinePoint`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineStatus {
    /// The status text.
    pub status: String,
    /// How many affectations reached it so far.
    pub count: u64,
    /// `count` in percent of all the package's affectations.
    pub percent: f64,
}

/// The body of `PUT /admin/v1/computers/{device}/download-server`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadServer {
    /// The device id of the computer whose name and address replace `$NAME$` and `$IP$`
    /// in fragment locations for this computer; `null` removes it.
    pub server: Option<String>,
}

//! The rows a [`Store`](super::Store) keeps, as typed values.

use core::fmt;
use core::time::Duration;

use crate::protocol::DeviceId;
use crate::{PackageId, Priority, StatusClass, Timestamp};

macro_rules! row_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

row_id!(
    /// A computer's key in the store (OCS `hardware.ID`), given by the store.
    ///
    /// ```
    /// use ocs_deploy_core::store::ComputerId;
    /// assert_eq!(ComputerId(7).to_string(), "7");
    /// ```
    ComputerId
);
row_id!(
    /// A static group's key in the store, given by the store.
    ///
    /// ```
    /// use ocs_deploy_core::store::GroupId;
    /// assert_eq!(GroupId(3).to_string(), "3");
    /// ```
    GroupId
);
row_id!(
    /// An activation's key (OCS `download_enable.ID`), given by the store.
    ///
    /// ```
    /// use ocs_deploy_core::store::ActivationId;
    /// assert_eq!(ActivationId(12).to_string(), "12");
    /// ```
    ActivationId
);

/// A built package as the store keeps it (OCS `download_available`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRecord {
    /// The package id; also its directory name.
    pub id: PackageId,
    /// A name for people.
    pub name: String,
    /// Its priority (also in the info file).
    pub priority: Priority,
    /// The number of fragments (0 for an Execute without file).
    pub fragments: u32,
    /// The archive's size in bytes (0 without file).
    pub size: u64,
    /// The info file, exactly as written beside the fragments; empty while the package is
    /// being built.
    pub info: String,
    /// When the build started.
    pub created: Timestamp,
}

impl PackageRecord {
    /// Whether the build finished (the info file is written).
    ///
    /// ```
    /// use ocs_deploy_core::store::PackageRecord;
    /// use ocs_deploy_core::{PackageId, Priority, Timestamp};
    ///
    /// let mut record = PackageRecord {
    ///     id: PackageId::new(1_700_000_000)?,
    ///     name: "firefox".into(),
    ///     priority: Priority::DEFAULT,
    ///     fragments: 0,
    ///     size: 0,
    ///     info: String::new(),
    ///     created: Timestamp::EPOCH,
    /// };
    /// assert!(!record.is_built());
    /// record.info = "<DOWNLOAD ... />".into();
    /// assert!(record.is_built());
    /// # Ok::<(), ocs_deploy_core::package::PackageIdError>(())
    /// ```
    pub fn is_built(&self) -> bool {
        !self.info.is_empty()
    }
}

/// What the build learnt, stored when it finishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltPackage {
    /// The number of fragments.
    pub fragments: u32,
    /// The archive's size in bytes.
    pub size: u64,
    /// The info file as written.
    pub info: String,
}

/// A new activation: where agents find the package (OCS `download_enable`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewActivation {
    /// The package.
    pub package: PackageId,
    /// `INFO_LOC`: `host[:port]/path` of the info file, fetched over HTTPS.
    pub info_location: String,
    /// `PACK_LOC`: `host[:port]/path` of the fragments; may hold `$IP$` and `$NAME$`.
    pub pack_location: String,
    /// `CERT_PATH`, when not the OCS default.
    pub cert_path: Option<String>,
    /// `CERT_FILE`, when not the OCS default.
    pub cert_file: Option<String>,
}

/// An activation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    /// Its key.
    pub id: ActivationId,
    /// The package.
    pub package: PackageId,
    /// `INFO_LOC`.
    pub info_location: String,
    /// `PACK_LOC`.
    pub pack_location: String,
    /// `CERT_PATH`, when not the OCS default.
    pub cert_path: Option<String>,
    /// `CERT_FILE`, when not the OCS default.
    pub cert_file: Option<String>,
    /// When it was made.
    pub created: Timestamp,
}

/// What an inventory says of a computer; written by
/// [`Store::upsert_computer`](super::Store::upsert_computer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputerUpdate {
    /// The agent's device id (the key).
    pub device_id: DeviceId,
    /// Host name.
    pub name: Option<String>,
    /// Operating system.
    pub os_name: Option<String>,
    /// IP address(es) as the agent wrote them.
    pub ip_address: Option<String>,
    /// The `TAG` account field.
    pub tag: Option<String>,
}

impl ComputerUpdate {
    /// An update that names only the device.
    ///
    /// ```
    /// use ocs_deploy_core::protocol::DeviceId;
    /// use ocs_deploy_core::store::ComputerUpdate;
    ///
    /// let update = ComputerUpdate::new(DeviceId::parse("pc-2026-01-01-00-00-00")?);
    /// assert!(update.name.is_none());
    /// # Ok::<(), ocs_deploy_core::protocol::ProtocolError>(())
    /// ```
    pub fn new(device_id: DeviceId) -> Self {
        Self {
            device_id,
            name: None,
            os_name: None,
            ip_address: None,
            tag: None,
        }
    }
}

/// A computer as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Computer {
    /// Its key.
    pub id: ComputerId,
    /// The agent's device id.
    pub device_id: DeviceId,
    /// Host name.
    pub name: Option<String>,
    /// Operating system.
    pub os_name: Option<String>,
    /// IP address(es).
    pub ip_address: Option<String>,
    /// The `TAG` account field.
    pub tag: Option<String>,
    /// The computer whose name and address replace `$NAME$` and `$IP$` in fragment
    /// locations for this computer (its site's download server).
    pub download_server: Option<ComputerId>,
    /// The last PROLOG.
    pub last_contact: Option<Timestamp>,
    /// The last inventory.
    pub last_inventory: Option<Timestamp>,
}

/// How a text criterion matches, ASCII-case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextMatch {
    /// The whole value.
    Equals(String),
    /// The value's start (an IP prefix such as `10.1.` selects a subnet).
    StartsWith(String),
    /// Anywhere in the value.
    Contains(String),
}

impl TextMatch {
    /// Whether `value` matches, with the semantics every store implements.
    ///
    /// ```
    /// use ocs_deploy_core::store::TextMatch;
    ///
    /// assert!(TextMatch::StartsWith("10.1.".into()).matches(Some("10.1.2.3")));
    /// assert!(TextMatch::Equals("debian".into()).matches(Some("Debian")));
    /// assert!(!TextMatch::Contains("x".into()).matches(None));
    /// ```
    pub fn matches(&self, value: Option<&str>) -> bool {
        let Some(value) = value else { return false };
        let value = value.to_ascii_lowercase();
        match self {
            Self::Equals(p) => value == p.to_ascii_lowercase(),
            Self::StartsWith(p) => value.starts_with(&p.to_ascii_lowercase()),
            Self::Contains(p) => value.contains(&p.to_ascii_lowercase()),
        }
    }
}

/// Inventory criteria that choose computers; every criterion given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComputerFilter {
    /// Host name.
    pub name: Option<TextMatch>,
    /// Operating system.
    pub os_name: Option<TextMatch>,
    /// IP address.
    pub ip_address: Option<TextMatch>,
    /// `TAG`.
    pub tag: Option<TextMatch>,
}

impl ComputerFilter {
    /// Whether `computer` matches every criterion given.
    ///
    /// ```
    /// use ocs_deploy_core::store::{ComputerFilter, TextMatch};
    ///
    /// let filter = ComputerFilter { tag: Some(TextMatch::Equals("paris".into())), ..Default::default() };
    /// assert!(!filter.is_empty());
    /// assert!(ComputerFilter::default().is_empty());
    /// ```
    pub fn matches(&self, computer: &Computer) -> bool {
        let check = |m: &Option<TextMatch>, v: &Option<String>| {
            m.as_ref().is_none_or(|m| m.matches(v.as_deref()))
        };
        check(&self.name, &computer.name)
            && check(&self.os_name, &computer.os_name)
            && check(&self.ip_address, &computer.ip_address)
            && check(&self.tag, &computer.tag)
    }

    /// Whether no criterion is given (which selects every computer).
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.os_name.is_none()
            && self.ip_address.is_none()
            && self.tag.is_none()
    }
}

/// A static group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Its key.
    pub id: GroupId,
    /// Its unique name.
    pub name: String,
    /// Whether users may put their own computers in it (an OCS "visible" static group).
    pub visible: bool,
}

/// Options of one affectation (OCS `DOWNLOAD_FORCE`, `DOWNLOAD_SCHEDULE`,
/// `DOWNLOAD_POSTCMD`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AffectOptions {
    /// Send the package even if the computer has it in its history.
    pub force: bool,
    /// Not before this time.
    pub schedule: Option<Timestamp>,
    /// What the Windows agent runs after the package (`REBOOT`, `SHUTDOWN` or a command).
    pub post_command: Option<String>,
}

/// A computer's affectation with its current status (an OCS `devices` `DOWNLOAD` row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Affectation {
    /// The computer.
    pub computer: ComputerId,
    /// The activation it was affected through.
    pub activation: ActivationId,
    /// The status text as stored (`None` = waiting notification).
    pub status: Option<String>,
    /// Its options.
    pub options: AffectOptions,
    /// When the status last changed.
    pub changed: Timestamp,
}

impl Affectation {
    /// How the console counts the status.
    pub fn class(&self) -> StatusClass {
        StatusClass::of_stored(self.status.as_deref())
    }
}

/// A group's affectation: every member gets the package at its next PROLOG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupAffectation {
    /// The group.
    pub group: GroupId,
    /// The activation.
    pub activation: ActivationId,
    /// Schedule and post command for the members (`force` is not offered for groups, as
    /// in OCS).
    pub options: AffectOptions,
}

/// A download setting that groups and computers may override (OCS `devices` rows
/// `DOWNLOAD_SWITCH`, `DOWNLOAD_*_LATENCY`, …, `PROLOG_FREQ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Setting {
    /// `DOWNLOAD_SWITCH` (0 or 1); globally, OCS `DOWNLOAD`.
    Switch,
    /// `DOWNLOAD_FRAG_LATENCY`, seconds.
    FragLatency,
    /// `DOWNLOAD_CYCLE_LATENCY`, seconds.
    CycleLatency,
    /// `DOWNLOAD_PERIOD_LATENCY`, seconds.
    PeriodLatency,
    /// `DOWNLOAD_PERIOD_LENGTH`, cycles.
    PeriodLength,
    /// `DOWNLOAD_TIMEOUT`, days.
    Timeout,
    /// `DOWNLOAD_EXECUTION_TIMEOUT`, minutes.
    ExecutionTimeout,
    /// `PROLOG_FREQ`, hours.
    PrologFreq,
}

impl Setting {
    /// Every setting.
    pub const ALL: [Self; 8] = [
        Self::Switch,
        Self::FragLatency,
        Self::CycleLatency,
        Self::PeriodLatency,
        Self::PeriodLength,
        Self::Timeout,
        Self::ExecutionTimeout,
        Self::PrologFreq,
    ];

    /// The name OCS stores in `devices.NAME`.
    ///
    /// ```
    /// use ocs_deploy_core::store::Setting;
    /// assert_eq!(Setting::FragLatency.ocs_name(), "DOWNLOAD_FRAG_LATENCY");
    /// assert_eq!(Setting::from_ocs_name("PROLOG_FREQ"), Some(Setting::PrologFreq));
    /// ```
    pub const fn ocs_name(self) -> &'static str {
        match self {
            Self::Switch => "DOWNLOAD_SWITCH",
            Self::FragLatency => "DOWNLOAD_FRAG_LATENCY",
            Self::CycleLatency => "DOWNLOAD_CYCLE_LATENCY",
            Self::PeriodLatency => "DOWNLOAD_PERIOD_LATENCY",
            Self::PeriodLength => "DOWNLOAD_PERIOD_LENGTH",
            Self::Timeout => "DOWNLOAD_TIMEOUT",
            Self::ExecutionTimeout => "DOWNLOAD_EXECUTION_TIMEOUT",
            Self::PrologFreq => "PROLOG_FREQ",
        }
    }

    /// The setting OCS stores under `name`.
    pub fn from_ocs_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.ocs_name() == name)
    }
}

/// Where a setting applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SettingScope {
    /// The whole server (OCS `config` table).
    Global,
    /// A group's members.
    Group(GroupId),
    /// One computer.
    Computer(ComputerId),
}

/// One stored setting value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingValue {
    /// Where it applies.
    pub scope: SettingScope,
    /// Which setting.
    pub setting: Setting,
    /// The value (0 means "not set" when merged, as in OCS).
    pub value: i64,
}

/// Everything a PROLOG needs to know about a computer, read in one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactContext {
    /// The computer.
    pub computer: Computer,
    /// The computer's download server, when it has one.
    pub download_server: Option<Computer>,
    /// Package ids in its history (last inventory).
    pub history: Vec<PackageId>,
    /// Its groups.
    pub groups: Vec<GroupId>,
    /// Its affectations that are waiting or notified, with their activations.
    pub pending: Vec<(Affectation, Activation)>,
    /// Affectations of its groups, with their activations, for which it has no
    /// affectation of its own yet.
    pub group_affectations: Vec<(GroupAffectation, Activation)>,
    /// Settings at every scope that applies to it: global, its groups, itself.
    pub settings: Vec<SettingValue>,
}

/// What a result did to the stored status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultOutcome {
    /// The status changed; the previous one is given (`None` = waiting).
    Recorded {
        /// The activation whose row changed.
        activation: ActivationId,
        /// The status before.
        previous: Option<String>,
    },
    /// The same status was already stored (an agent that sent its result twice).
    Unchanged {
        /// The activation whose row was found.
        activation: ActivationId,
    },
    /// The package is not affected to this computer (no row).
    NotAffected,
}

/// A status change, as kept in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEvent {
    /// The computer.
    pub computer: ComputerId,
    /// The activation.
    pub activation: ActivationId,
    /// The new status (`None` = (re)affected, waiting).
    pub status: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// Which affectations of a package to select, for stats, listing or deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusSelector {
    /// Every one.
    All,
    /// Those in one class (waiting, notified, success, error, unclassified).
    Class(StatusClass),
    /// Those with exactly this status text.
    Exact(String),
}

impl StatusSelector {
    /// Whether a stored status is selected.
    ///
    /// ```
    /// use ocs_deploy_core::StatusClass;
    /// use ocs_deploy_core::store::StatusSelector;
    ///
    /// assert!(StatusSelector::Class(StatusClass::Success).selects(Some("SUCCESS_0")));
    /// assert!(StatusSelector::Class(StatusClass::Waiting).selects(None));
    /// assert!(!StatusSelector::Exact("ERR_BUILD".into()).selects(None));
    /// ```
    pub fn selects(&self, status: Option<&str>) -> bool {
        match self {
            Self::All => true,
            Self::Class(c) => StatusClass::of_stored(status) == *c,
            Self::Exact(s) => status == Some(s.as_str()),
        }
    }
}

/// How many affectations of a package have one exact status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCount {
    /// The status text (`None` = waiting).
    pub status: Option<String>,
    /// How the console counts it.
    pub class: StatusClass,
    /// How many computers.
    pub count: u64,
}

/// One computer behind a count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputerStatus {
    /// The computer.
    pub computer: ComputerId,
    /// Its device id.
    pub device_id: DeviceId,
    /// Its host name.
    pub name: Option<String>,
    /// Its status (`None` = waiting).
    pub status: Option<String>,
    /// When the status last changed.
    pub changed: Timestamp,
}

/// A page of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows to skip.
    pub offset: u64,
    /// Rows at most.
    pub limit: u64,
}

impl Page {
    /// The first `limit` rows.
    ///
    /// ```
    /// use ocs_deploy_core::store::Page;
    /// assert_eq!(Page::first(10).offset, 0);
    /// ```
    pub const fn first(limit: u64) -> Self {
        Self { offset: 0, limit }
    }
}

/// How many affectations reached a status in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineBucket {
    /// The status text (`None` = waiting).
    pub status: Option<String>,
    /// The bucket's start.
    pub start: Timestamp,
    /// How many affectations have this status and last changed in the bucket.
    pub count: u64,
}

/// The width of the time buckets of a status timeline: one hour, as the OCS console's
/// speed statistics.
pub const TIMELINE_BUCKET: Duration = Duration::from_secs(3600);

//! Persistence of the deployment service: the [`Store`] trait and the rows it keeps.
//!
//! A store keeps packages, their activations, computers, static groups, affectations with
//! their status, the audit trail of every status change and the download settings. It
//! holds no deployment rules: the [`DeploymentService`](crate::service::DeploymentService)
//! decides, the store keeps, with a few operations that must be atomic (a status changes
//! only from the states the operation names, and each change is written to the audit trail
//! in the same transaction). Stats are computed by the store (indexed queries), never by
//! loading every row.
//!
//! Implementations: `MemoryStore` (core's `testkit` feature) and `ocs-deploy-store-sql`
//! (`SQLite`, `PostgreSQL`, `MariaDB`/`MySQL`). Every implementation must pass
//! `ocs_deploy_core::testkit::conformance::store`.

mod error;
mod files;
mod model;

use async_trait::async_trait;

pub use error::{BackendError, StoreError};
pub use files::{FileName, FileWriter, FilesError, PackageFiles};
pub use model::{
    Activation, ActivationId, AffectOptions, Affectation, BuiltPackage, Computer, ComputerFilter,
    ComputerId, ComputerStatus, ComputerUpdate, ContactContext, Group, GroupAffectation, GroupId,
    NewActivation, PackageRecord, Page, ResultOutcome, Setting, SettingScope, SettingValue,
    StatusCount, StatusEvent, StatusSelector, TIMELINE_BUCKET, TextMatch, TimelineBucket,
};

use crate::protocol::DeviceId;
use crate::{PackageId, StatusClass, Timestamp};

/// The longest status text a store must keep (OCS `devices.TVALUE` is `varchar(255)`).
pub const MAX_STATUS_LEN: usize = 255;

/// Persistence for the deployment service.
///
/// Every method is one atomic operation. Rows that belong to something deleted are deleted
/// with it: deleting a package deletes its activations, their affectations (of computers
/// and groups), the audit trail and the history rows naming it; deleting an activation
/// deletes its affectations and their audit trail; deleting a group deletes its members and
/// affectations.
///
/// Status changes are guarded: [`notify`](Self::notify) changes only waiting rows,
/// [`mark_in_history`](Self::mark_in_history) only waiting or notified ones,
/// [`record_result`](Self::record_result) any row whose status differs. Each change
/// appends a [`StatusEvent`] in the same transaction, so two servers sharing a store notify
/// each affectation exactly once and never lose a result.
///
/// `class` arguments are [`StatusClass::of_stored`] of the status written: stores keep
/// them so stats and validation select by class with an index.
///
/// # Example
/// ```
/// # #[cfg(feature = "testkit")] {
/// use ocs_deploy_core::store::{ComputerUpdate, Store};
/// use ocs_deploy_core::protocol::DeviceId;
/// use ocs_deploy_core::testkit::MemoryStore;
/// use ocs_deploy_core::Timestamp;
///
/// # futures::executor::block_on(async {
/// let store = MemoryStore::new();
/// let device = DeviceId::parse("pc-2026-01-01-00-00-00")?;
/// let id = store.upsert_computer(&ComputerUpdate::new(device.clone()), Timestamp::EPOCH).await?;
/// assert_eq!(store.computer_by_device(&device).await?.map(|c| c.id), Some(id));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// # }
/// ```
#[async_trait]
pub trait Store: Send + Sync + core::fmt::Debug + 'static {
    // --- packages ---

    /// Adds a package record (being built: `info` empty).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the id is taken.
    async fn insert_package(&self, package: &PackageRecord) -> Result<(), StoreError>;

    /// Stores what the build learnt.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown package.
    async fn finish_package(&self, id: PackageId, built: &BuiltPackage) -> Result<(), StoreError>;

    /// One package.
    ///
    /// # Errors
    /// Backend failures only.
    async fn package(&self, id: PackageId) -> Result<Option<PackageRecord>, StoreError>;

    /// Every package, by id.
    ///
    /// # Errors
    /// Backend failures only.
    async fn packages(&self) -> Result<Vec<PackageRecord>, StoreError>;

    /// The largest package id in use.
    ///
    /// # Errors
    /// Backend failures only.
    async fn max_package_id(&self) -> Result<Option<PackageId>, StoreError>;

    /// Deletes a package and every row that belongs to it. Returns whether it existed.
    ///
    /// # Errors
    /// Backend failures only.
    async fn delete_package(&self, id: PackageId) -> Result<bool, StoreError>;

    // --- activations ---

    /// Adds an activation.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown package; [`StoreError::Conflict`] if the
    /// package already has an activation with both locations.
    async fn insert_activation(
        &self,
        activation: &NewActivation,
        now: Timestamp,
    ) -> Result<ActivationId, StoreError>;

    /// One activation.
    ///
    /// # Errors
    /// Backend failures only.
    async fn activation(&self, id: ActivationId) -> Result<Option<Activation>, StoreError>;

    /// A package's activations, by id.
    ///
    /// # Errors
    /// Backend failures only.
    async fn activations(&self, package: PackageId) -> Result<Vec<Activation>, StoreError>;

    /// Deletes an activation with its affectations. Returns whether it existed.
    ///
    /// # Errors
    /// Backend failures only.
    async fn delete_activation(&self, id: ActivationId) -> Result<bool, StoreError>;

    // --- computers ---

    /// Creates or updates a computer from an inventory; `now` is its last inventory.
    ///
    /// # Errors
    /// Backend failures only.
    async fn upsert_computer(
        &self,
        update: &ComputerUpdate,
        now: Timestamp,
    ) -> Result<ComputerId, StoreError>;

    /// One computer by key.
    ///
    /// # Errors
    /// Backend failures only.
    async fn computer(&self, id: ComputerId) -> Result<Option<Computer>, StoreError>;

    /// One computer by device id.
    ///
    /// # Errors
    /// Backend failures only.
    async fn computer_by_device(&self, device: &DeviceId) -> Result<Option<Computer>, StoreError>;

    /// The computers matching every criterion, by key.
    ///
    /// # Errors
    /// Backend failures only.
    async fn find_computers(&self, filter: &ComputerFilter) -> Result<Vec<ComputerId>, StoreError>;

    /// Sets (or clears) a computer's download server.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown computer or server.
    async fn set_download_server(
        &self,
        computer: ComputerId,
        server: Option<ComputerId>,
    ) -> Result<(), StoreError>;

    /// Replaces a computer's deployment history.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown computer.
    async fn replace_history(
        &self,
        computer: ComputerId,
        packages: &[PackageId],
    ) -> Result<(), StoreError>;

    /// A computer's deployment history, by id.
    ///
    /// # Errors
    /// Backend failures only.
    async fn history(&self, computer: ComputerId) -> Result<Vec<PackageId>, StoreError>;

    // --- groups ---

    /// Creates a static group.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the name is taken.
    async fn create_group(&self, name: &str, visible: bool) -> Result<GroupId, StoreError>;

    /// A group by name.
    ///
    /// # Errors
    /// Backend failures only.
    async fn group_by_name(&self, name: &str) -> Result<Option<Group>, StoreError>;

    /// Every group, by key.
    ///
    /// # Errors
    /// Backend failures only.
    async fn groups(&self) -> Result<Vec<Group>, StoreError>;

    /// Adds members (already members are left as they are).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown group or computer.
    async fn add_members(&self, group: GroupId, computers: &[ComputerId])
    -> Result<(), StoreError>;

    /// Removes members; returns how many were members.
    ///
    /// # Errors
    /// Backend failures only.
    async fn remove_members(
        &self,
        group: GroupId,
        computers: &[ComputerId],
    ) -> Result<u64, StoreError>;

    /// A group's members, by key.
    ///
    /// # Errors
    /// Backend failures only.
    async fn members(&self, group: GroupId) -> Result<Vec<ComputerId>, StoreError>;

    /// Deletes a group with its members and affectations. Returns whether it existed.
    ///
    /// # Errors
    /// Backend failures only.
    async fn delete_group(&self, group: GroupId) -> Result<bool, StoreError>;

    // --- affectations ---

    /// Affects an activation to computers: a new row, or an existing one reset to waiting
    /// with the new options (re-affect). Each row written gets a waiting event.
    ///
    /// A computer has at most one affectation per package.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown activation or computer;
    /// [`StoreError::Conflict`] if a computer is affected to the same package through
    /// another activation. Nothing is written on error.
    async fn affect(
        &self,
        activation: ActivationId,
        computers: &[ComputerId],
        options: &AffectOptions,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Affects an activation to a group (replacing the options of an existing one).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown activation or group.
    async fn affect_group(
        &self,
        group: GroupId,
        activation: ActivationId,
        options: &AffectOptions,
    ) -> Result<(), StoreError>;

    /// Removes a group's affectation. Members' own rows stay. Returns whether it existed.
    ///
    /// # Errors
    /// Backend failures only.
    async fn unaffect_group(
        &self,
        group: GroupId,
        activation: ActivationId,
    ) -> Result<bool, StoreError>;

    /// Adopts group affectations as the computer's own, waiting, unless it already has an
    /// affectation of that package. Returns the activations adopted.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown computer.
    async fn adopt(
        &self,
        computer: ComputerId,
        affectations: &[GroupAffectation],
        now: Timestamp,
    ) -> Result<Vec<ActivationId>, StoreError>;

    /// Removes affectations of an activation from computers; returns how many.
    ///
    /// # Errors
    /// Backend failures only.
    async fn unaffect(
        &self,
        activation: ActivationId,
        computers: &[ComputerId],
    ) -> Result<u64, StoreError>;

    /// One affectation.
    ///
    /// # Errors
    /// Backend failures only.
    async fn affectation(
        &self,
        computer: ComputerId,
        activation: ActivationId,
    ) -> Result<Option<Affectation>, StoreError>;

    /// A computer's affectations (every status), by activation.
    ///
    /// # Errors
    /// Backend failures only.
    async fn affectations_of(&self, computer: ComputerId) -> Result<Vec<Affectation>, StoreError>;

    /// A group's affectations, by activation.
    ///
    /// # Errors
    /// Backend failures only.
    async fn group_affectations(&self, group: GroupId)
    -> Result<Vec<GroupAffectation>, StoreError>;

    // --- contact ---

    /// What a PROLOG needs, in one call; records `now` as the computer's last contact.
    /// `None` for an unknown device.
    ///
    /// # Errors
    /// Backend failures only.
    async fn contact(
        &self,
        device: &DeviceId,
        now: Timestamp,
    ) -> Result<Option<ContactContext>, StoreError>;

    /// Marks waiting affectations notified. Returns those this call changed (each
    /// affectation is notified by exactly one call, however many run at once).
    ///
    /// # Errors
    /// Backend failures only.
    async fn notify(
        &self,
        computer: ComputerId,
        activations: &[ActivationId],
        now: Timestamp,
    ) -> Result<Vec<ActivationId>, StoreError>;

    /// Sets `SUCCESS_ALREADY_IN_HISTORY` on a waiting or notified affectation. Returns
    /// whether it changed.
    ///
    /// # Errors
    /// Backend failures only.
    async fn mark_in_history(
        &self,
        computer: ComputerId,
        activation: ActivationId,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Records a result on the computer's affectation of the package (through whichever
    /// activation). `status` is at most [`MAX_STATUS_LEN`] bytes.
    ///
    /// # Errors
    /// Backend failures only.
    async fn record_result(
        &self,
        computer: ComputerId,
        package: PackageId,
        status: &str,
        class: StatusClass,
        now: Timestamp,
    ) -> Result<ResultOutcome, StoreError>;

    /// The audit trail of one affectation, oldest first.
    ///
    /// # Errors
    /// Backend failures only.
    async fn status_events(
        &self,
        computer: ComputerId,
        activation: ActivationId,
    ) -> Result<Vec<StatusEvent>, StoreError>;

    // --- stats and validation ---

    /// Counts of a package's affectations per exact status (through every activation).
    ///
    /// # Errors
    /// Backend failures only.
    async fn status_counts(&self, package: PackageId) -> Result<Vec<StatusCount>, StoreError>;

    /// The computers behind a count, by computer key.
    ///
    /// # Errors
    /// Backend failures only.
    async fn computers_with_status(
        &self,
        package: PackageId,
        selector: &StatusSelector,
        page: Page,
    ) -> Result<Vec<ComputerStatus>, StoreError>;

    /// Affectations per current status and time bucket ([`TIMELINE_BUCKET`]) of their last
    /// change, by bucket then status.
    ///
    /// # Errors
    /// Backend failures only.
    async fn status_timeline(&self, package: PackageId) -> Result<Vec<TimelineBucket>, StoreError>;

    /// Deletes a package's affectations selected by `selector`; returns how many.
    ///
    /// # Errors
    /// Backend failures only.
    async fn delete_affectations(
        &self,
        package: PackageId,
        selector: &StatusSelector,
    ) -> Result<u64, StoreError>;

    // --- settings ---

    /// Sets a setting (`None` removes it).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown group or computer.
    async fn set_setting(
        &self,
        scope: SettingScope,
        setting: Setting,
        value: Option<i64>,
    ) -> Result<(), StoreError>;

    /// The settings stored at one scope.
    ///
    /// # Errors
    /// Backend failures only.
    async fn settings(&self, scope: SettingScope) -> Result<Vec<SettingValue>, StoreError>;
}

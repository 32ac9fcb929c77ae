//! The [`Store`] implementation: each method is one transaction (or one read), in the
//! module of its concern.

mod affectations;
mod computers;
mod contact;
mod packages;
mod stats;

use async_trait::async_trait;
use ocs_deploy_core::protocol::DeviceId;
use ocs_deploy_core::store::{
    Activation, ActivationId, AffectOptions, Affectation, BuiltPackage, Computer, ComputerFilter,
    ComputerId, ComputerStatus, ComputerUpdate, ContactContext, Group, GroupAffectation, GroupId,
    NewActivation, PackageRecord, Page, ResultOutcome, Setting, SettingScope, SettingValue,
    StatusCount, StatusEvent, StatusSelector, Store, StoreError, TimelineBucket,
};
use ocs_deploy_core::{PackageId, StatusClass, Timestamp};

use crate::SqlStore;

#[async_trait]
impl Store for SqlStore {
    async fn insert_package(&self, package: &PackageRecord) -> Result<(), StoreError> {
        self.insert_package_row(package).await
    }

    async fn finish_package(&self, id: PackageId, built: &BuiltPackage) -> Result<(), StoreError> {
        self.finish_package_row(id, built).await
    }

    async fn package(&self, id: PackageId) -> Result<Option<PackageRecord>, StoreError> {
        self.package_by_id(id).await
    }

    async fn packages(&self) -> Result<Vec<PackageRecord>, StoreError> {
        self.all_packages().await
    }

    async fn max_package_id(&self) -> Result<Option<PackageId>, StoreError> {
        self.largest_package_id().await
    }

    async fn delete_package(&self, id: PackageId) -> Result<bool, StoreError> {
        self.delete_package_rows(id).await
    }

    async fn insert_activation(
        &self,
        activation: &NewActivation,
        now: Timestamp,
    ) -> Result<ActivationId, StoreError> {
        self.insert_activation_row(activation, now).await
    }

    async fn activation(&self, id: ActivationId) -> Result<Option<Activation>, StoreError> {
        self.activation_by_id(id).await
    }

    async fn activations(&self, package: PackageId) -> Result<Vec<Activation>, StoreError> {
        self.activations_of_package(package).await
    }

    async fn delete_activation(&self, id: ActivationId) -> Result<bool, StoreError> {
        self.delete_activation_row(id).await
    }

    async fn upsert_computer(
        &self,
        update: &ComputerUpdate,
        now: Timestamp,
    ) -> Result<ComputerId, StoreError> {
        self.upsert_computer_row(update, now).await
    }

    async fn computer(&self, id: ComputerId) -> Result<Option<Computer>, StoreError> {
        self.computer_by_id(id).await
    }

    async fn computer_by_device(&self, device: &DeviceId) -> Result<Option<Computer>, StoreError> {
        self.computer_by_device_id(device).await
    }

    async fn find_computers(&self, filter: &ComputerFilter) -> Result<Vec<ComputerId>, StoreError> {
        self.find_computer_ids(filter).await
    }

    async fn set_download_server(
        &self,
        computer: ComputerId,
        server: Option<ComputerId>,
    ) -> Result<(), StoreError> {
        self.set_server(computer, server).await
    }

    async fn replace_history(
        &self,
        computer: ComputerId,
        packages: &[PackageId],
    ) -> Result<(), StoreError> {
        self.replace_history_rows(computer, packages).await
    }

    async fn history(&self, computer: ComputerId) -> Result<Vec<PackageId>, StoreError> {
        self.history_of(computer).await
    }

    async fn create_group(&self, name: &str, visible: bool) -> Result<GroupId, StoreError> {
        self.create_group_row(name, visible).await
    }

    async fn group_by_name(&self, name: &str) -> Result<Option<Group>, StoreError> {
        self.group_named(name).await
    }

    async fn groups(&self) -> Result<Vec<Group>, StoreError> {
        self.all_groups().await
    }

    async fn add_members(
        &self,
        group: GroupId,
        computers: &[ComputerId],
    ) -> Result<(), StoreError> {
        self.add_member_rows(group, computers).await
    }

    async fn remove_members(
        &self,
        group: GroupId,
        computers: &[ComputerId],
    ) -> Result<u64, StoreError> {
        self.remove_member_rows(group, computers).await
    }

    async fn members(&self, group: GroupId) -> Result<Vec<ComputerId>, StoreError> {
        self.members_of(group).await
    }

    async fn delete_group(&self, group: GroupId) -> Result<bool, StoreError> {
        self.delete_group_rows(group).await
    }

    async fn affect(
        &self,
        activation: ActivationId,
        computers: &[ComputerId],
        options: &AffectOptions,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.affect_rows(activation, computers, options, now).await
    }

    async fn affect_group(
        &self,
        group: GroupId,
        activation: ActivationId,
        options: &AffectOptions,
    ) -> Result<(), StoreError> {
        self.affect_group_row(group, activation, options).await
    }

    async fn unaffect_group(
        &self,
        group: GroupId,
        activation: ActivationId,
    ) -> Result<bool, StoreError> {
        self.unaffect_group_row(group, activation).await
    }

    async fn adopt(
        &self,
        computer: ComputerId,
        affectations: &[GroupAffectation],
        now: Timestamp,
    ) -> Result<Vec<ActivationId>, StoreError> {
        self.adopt_rows(computer, affectations, now).await
    }

    async fn unaffect(
        &self,
        activation: ActivationId,
        computers: &[ComputerId],
    ) -> Result<u64, StoreError> {
        self.unaffect_rows(activation, computers).await
    }

    async fn affectation(
        &self,
        computer: ComputerId,
        activation: ActivationId,
    ) -> Result<Option<Affectation>, StoreError> {
        self.affectation_row_of(computer, activation).await
    }

    async fn affectations_of(&self, computer: ComputerId) -> Result<Vec<Affectation>, StoreError> {
        self.affectation_rows_of(computer).await
    }

    async fn group_affectations(
        &self,
        group: GroupId,
    ) -> Result<Vec<GroupAffectation>, StoreError> {
        self.group_affectation_rows(group).await
    }

    async fn contact(
        &self,
        device: &DeviceId,
        now: Timestamp,
    ) -> Result<Option<ContactContext>, StoreError> {
        self.contact_context(device, now).await
    }

    async fn notify(
        &self,
        computer: ComputerId,
        activations: &[ActivationId],
        now: Timestamp,
    ) -> Result<Vec<ActivationId>, StoreError> {
        self.notify_rows(computer, activations, now).await
    }

    async fn mark_in_history(
        &self,
        computer: ComputerId,
        activation: ActivationId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.mark_in_history_row(computer, activation, now).await
    }

    /// The class stored is recomputed from `status` (the trait asks callers to pass
    /// exactly that), so stats never disagree with the text.
    async fn record_result(
        &self,
        computer: ComputerId,
        package: PackageId,
        status: &str,
        _class: StatusClass,
        now: Timestamp,
    ) -> Result<ResultOutcome, StoreError> {
        self.record_result_row(computer, package, status, now).await
    }

    async fn status_events(
        &self,
        computer: ComputerId,
        activation: ActivationId,
    ) -> Result<Vec<StatusEvent>, StoreError> {
        self.status_event_rows(computer, activation).await
    }

    async fn status_counts(&self, package: PackageId) -> Result<Vec<StatusCount>, StoreError> {
        self.status_count_rows(package).await
    }

    async fn computers_with_status(
        &self,
        package: PackageId,
        selector: &StatusSelector,
        page: Page,
    ) -> Result<Vec<ComputerStatus>, StoreError> {
        self.computer_status_rows(package, selector, page).await
    }

    async fn status_timeline(&self, package: PackageId) -> Result<Vec<TimelineBucket>, StoreError> {
        self.timeline_rows(package).await
    }

    async fn delete_affectations(
        &self,
        package: PackageId,
        selector: &StatusSelector,
    ) -> Result<u64, StoreError> {
        self.delete_selected(package, selector).await
    }

    async fn set_setting(
        &self,
        scope: SettingScope,
        setting: Setting,
        value: Option<i64>,
    ) -> Result<(), StoreError> {
        self.set_setting_row(scope, setting, value).await
    }

    async fn settings(&self, scope: SettingScope) -> Result<Vec<SettingValue>, StoreError> {
        self.settings_at(scope).await
    }
}

//! [`MemoryStore`]: the [`Store`] twin that keeps everything in memory.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::protocol::DeviceId;
use crate::status::DeploymentStatus;
use crate::store::{
    Activation, ActivationId, AffectOptions, Affectation, BuiltPackage, Computer, ComputerFilter,
    ComputerId, ComputerStatus, ComputerUpdate, ContactContext, Group, GroupAffectation, GroupId,
    NewActivation, PackageRecord, Page, ResultOutcome, Setting, SettingScope, SettingValue,
    StatusCount, StatusEvent, StatusSelector, Store, StoreError, TIMELINE_BUCKET, TimelineBucket,
};
use crate::{PackageId, StatusClass, Timestamp};

/// A [`Store`] in memory: fast, deterministic, gone when dropped. Every operation takes one
/// lock, so each is atomic as the trait requires.
///
/// ```
/// use ocs_deploy_core::testkit::MemoryStore;
/// use ocs_deploy_core::store::Store;
///
/// # futures::executor::block_on(async {
/// let store = MemoryStore::new();
/// assert!(store.packages().await?.is_empty());
/// # Ok::<(), ocs_deploy_core::store::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

/// An affectation's key.
type RowKey = (ComputerId, ActivationId);

#[derive(Debug, Default)]
struct State {
    packages: BTreeMap<PackageId, PackageRecord>,
    activations: BTreeMap<ActivationId, Activation>,
    next_activation: i64,
    computers: BTreeMap<ComputerId, Computer>,
    by_device: BTreeMap<DeviceId, ComputerId>,
    next_computer: i64,
    history: BTreeMap<ComputerId, BTreeSet<PackageId>>,
    groups: BTreeMap<GroupId, Group>,
    next_group: i64,
    members: BTreeSet<(GroupId, ComputerId)>,
    /// `members` the other way round, so a contact finds its groups without a scan.
    groups_of: BTreeSet<(ComputerId, GroupId)>,
    affectations: BTreeMap<(ComputerId, ActivationId), Affectation>,
    /// The keys of `affectations` per package, so stats read only that package's rows.
    by_package: BTreeMap<PackageId, BTreeSet<(ComputerId, ActivationId)>>,
    group_affectations: BTreeMap<(GroupId, ActivationId), GroupAffectation>,
    events: BTreeMap<RowKey, Vec<(Option<String>, Timestamp)>>,
    settings: BTreeMap<(SettingScope, Setting), i64>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-done operation behind: every
        // operation checks before it writes. So a poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl State {
    fn package_of(&self, activation: ActivationId) -> Option<PackageId> {
        self.activations.get(&activation).map(|a| a.package)
    }

    fn event(
        &mut self,
        computer: ComputerId,
        activation: ActivationId,
        status: Option<String>,
        at: Timestamp,
    ) {
        self.events
            .entry((computer, activation))
            .or_default()
            .push((status, at));
    }

    /// A computer's rows.
    fn rows_of(&self, computer: ComputerId) -> impl Iterator<Item = &Affectation> {
        self.affectations
            .range((computer, ActivationId(i64::MIN))..=(computer, ActivationId(i64::MAX)))
            .map(|(_, a)| a)
    }

    fn affectation_of_package(
        &self,
        computer: ComputerId,
        package: PackageId,
    ) -> Option<ActivationId> {
        self.rows_of(computer)
            .map(|a| a.activation)
            .find(|&a| self.package_of(a) == Some(package))
    }

    /// Writes a row (new or replacing one) and keeps the package index.
    fn put_affectation(&mut self, row: Affectation) {
        if let Some(package) = self.package_of(row.activation) {
            self.by_package
                .entry(package)
                .or_default()
                .insert((row.computer, row.activation));
        }
        self.affectations
            .insert((row.computer, row.activation), row);
    }

    /// Removes rows with their audit trail; returns how many existed.
    fn remove_keys(&mut self, keys: &[(ComputerId, ActivationId)]) -> u64 {
        let mut removed = 0;
        for key in keys {
            if self.affectations.remove(key).is_some() {
                removed += 1;
            }
            self.events.remove(key);
            if let Some(package) = self.package_of(key.1)
                && let Some(rows) = self.by_package.get_mut(&package)
            {
                rows.remove(key);
            }
        }
        removed
    }

    /// The rows of one package.
    fn affectations_of_package(&self, package: PackageId) -> impl Iterator<Item = &Affectation> {
        self.by_package
            .get(&package)
            .into_iter()
            .flatten()
            .filter_map(|key| self.affectations.get(key))
    }

    /// The keys of one package's rows that `select` picks.
    fn keys_of_package(
        &self,
        package: PackageId,
        select: impl Fn(&Affectation) -> bool,
    ) -> Vec<(ComputerId, ActivationId)> {
        self.affectations_of_package(package)
            .filter(|a| select(a))
            .map(|a| (a.computer, a.activation))
            .collect()
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn insert_package(&self, package: &PackageRecord) -> Result<(), StoreError> {
        let mut s = self.lock();
        if s.packages.contains_key(&package.id) {
            return Err(StoreError::conflict("package", package.id));
        }
        s.packages.insert(package.id, package.clone());
        Ok(())
    }

    async fn finish_package(&self, id: PackageId, built: &BuiltPackage) -> Result<(), StoreError> {
        let mut s = self.lock();
        let p = s
            .packages
            .get_mut(&id)
            .ok_or_else(|| StoreError::not_found("package", id))?;
        p.fragments = built.fragments;
        p.size = built.size;
        p.info.clone_from(&built.info);
        Ok(())
    }

    async fn package(&self, id: PackageId) -> Result<Option<PackageRecord>, StoreError> {
        Ok(self.lock().packages.get(&id).cloned())
    }

    async fn packages(&self) -> Result<Vec<PackageRecord>, StoreError> {
        Ok(self.lock().packages.values().cloned().collect())
    }

    async fn max_package_id(&self) -> Result<Option<PackageId>, StoreError> {
        Ok(self.lock().packages.keys().next_back().copied())
    }

    async fn delete_package(&self, id: PackageId) -> Result<bool, StoreError> {
        let mut s = self.lock();
        if s.packages.remove(&id).is_none() {
            return Ok(false);
        }
        let gone: BTreeSet<ActivationId> = s
            .activations
            .values()
            .filter(|a| a.package == id)
            .map(|a| a.id)
            .collect();
        let keys = s.keys_of_package(id, |_| true);
        s.remove_keys(&keys);
        s.by_package.remove(&id);
        s.activations.retain(|k, _| !gone.contains(k));
        s.group_affectations.retain(|(_, a), _| !gone.contains(a));
        for h in s.history.values_mut() {
            h.remove(&id);
        }
        Ok(true)
    }

    async fn insert_activation(
        &self,
        activation: &NewActivation,
        now: Timestamp,
    ) -> Result<ActivationId, StoreError> {
        let mut s = self.lock();
        if !s.packages.contains_key(&activation.package) {
            return Err(StoreError::not_found("package", activation.package));
        }
        if s.activations.values().any(|a| {
            a.package == activation.package
                && a.info_location == activation.info_location
                && a.pack_location == activation.pack_location
        }) {
            return Err(StoreError::conflict(
                "activation",
                format!(
                    "{} {} {}",
                    activation.package, activation.info_location, activation.pack_location
                ),
            ));
        }
        s.next_activation += 1;
        let id = ActivationId(s.next_activation);
        s.activations.insert(
            id,
            Activation {
                id,
                package: activation.package,
                info_location: activation.info_location.clone(),
                pack_location: activation.pack_location.clone(),
                cert_path: activation.cert_path.clone(),
                cert_file: activation.cert_file.clone(),
                created: now,
            },
        );
        Ok(id)
    }

    async fn activation(&self, id: ActivationId) -> Result<Option<Activation>, StoreError> {
        Ok(self.lock().activations.get(&id).cloned())
    }

    async fn activations(&self, package: PackageId) -> Result<Vec<Activation>, StoreError> {
        Ok(self
            .lock()
            .activations
            .values()
            .filter(|a| a.package == package)
            .cloned()
            .collect())
    }

    async fn delete_activation(&self, id: ActivationId) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let Some(package) = s.package_of(id) else {
            return Ok(false);
        };
        let keys = s.keys_of_package(package, |a| a.activation == id);
        s.remove_keys(&keys);
        s.activations.remove(&id);
        s.group_affectations.retain(|(_, a), _| *a != id);
        Ok(true)
    }

    async fn upsert_computer(
        &self,
        update: &ComputerUpdate,
        now: Timestamp,
    ) -> Result<ComputerId, StoreError> {
        let mut s = self.lock();
        let id = if let Some(&id) = s.by_device.get(&update.device_id) {
            id
        } else {
            s.next_computer += 1;
            let id = ComputerId(s.next_computer);
            s.by_device.insert(update.device_id.clone(), id);
            s.computers.insert(
                id,
                Computer {
                    id,
                    device_id: update.device_id.clone(),
                    name: None,
                    os_name: None,
                    ip_address: None,
                    tag: None,
                    download_server: None,
                    last_contact: None,
                    last_inventory: None,
                },
            );
            id
        };
        if let Some(c) = s.computers.get_mut(&id) {
            c.name.clone_from(&update.name);
            c.os_name.clone_from(&update.os_name);
            c.ip_address.clone_from(&update.ip_address);
            c.tag.clone_from(&update.tag);
            c.last_inventory = Some(now);
        }
        Ok(id)
    }

    async fn computer(&self, id: ComputerId) -> Result<Option<Computer>, StoreError> {
        Ok(self.lock().computers.get(&id).cloned())
    }

    async fn computer_by_device(&self, device: &DeviceId) -> Result<Option<Computer>, StoreError> {
        let s = self.lock();
        Ok(s.by_device
            .get(device)
            .and_then(|id| s.computers.get(id))
            .cloned())
    }

    async fn find_computers(&self, filter: &ComputerFilter) -> Result<Vec<ComputerId>, StoreError> {
        Ok(self
            .lock()
            .computers
            .values()
            .filter(|c| filter.matches(c))
            .map(|c| c.id)
            .collect())
    }

    async fn set_download_server(
        &self,
        computer: ComputerId,
        server: Option<ComputerId>,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        if let Some(server) = server
            && !s.computers.contains_key(&server)
        {
            return Err(StoreError::not_found("computer", server));
        }
        let c = s
            .computers
            .get_mut(&computer)
            .ok_or_else(|| StoreError::not_found("computer", computer))?;
        c.download_server = server;
        Ok(())
    }

    async fn replace_history(
        &self,
        computer: ComputerId,
        packages: &[PackageId],
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        if !s.computers.contains_key(&computer) {
            return Err(StoreError::not_found("computer", computer));
        }
        s.history
            .insert(computer, packages.iter().copied().collect());
        Ok(())
    }

    async fn history(&self, computer: ComputerId) -> Result<Vec<PackageId>, StoreError> {
        Ok(self
            .lock()
            .history
            .get(&computer)
            .map(|h| h.iter().copied().collect())
            .unwrap_or_default())
    }

    async fn create_group(&self, name: &str, visible: bool) -> Result<GroupId, StoreError> {
        let mut s = self.lock();
        if s.groups.values().any(|g| g.name == name) {
            return Err(StoreError::conflict("group", name));
        }
        s.next_group += 1;
        let id = GroupId(s.next_group);
        s.groups.insert(
            id,
            Group {
                id,
                name: name.to_owned(),
                visible,
            },
        );
        Ok(id)
    }

    async fn group_by_name(&self, name: &str) -> Result<Option<Group>, StoreError> {
        Ok(self
            .lock()
            .groups
            .values()
            .find(|g| g.name == name)
            .cloned())
    }

    async fn groups(&self) -> Result<Vec<Group>, StoreError> {
        Ok(self.lock().groups.values().cloned().collect())
    }

    async fn add_members(
        &self,
        group: GroupId,
        computers: &[ComputerId],
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        if !s.groups.contains_key(&group) {
            return Err(StoreError::not_found("group", group));
        }
        if let Some(c) = computers.iter().find(|c| !s.computers.contains_key(c)) {
            return Err(StoreError::not_found("computer", c));
        }
        for &c in computers {
            s.members.insert((group, c));
            s.groups_of.insert((c, group));
        }
        Ok(())
    }

    async fn remove_members(
        &self,
        group: GroupId,
        computers: &[ComputerId],
    ) -> Result<u64, StoreError> {
        let mut s = self.lock();
        Ok(computers
            .iter()
            .filter(|&&c| s.groups_of.remove(&(c, group)) & s.members.remove(&(group, c)))
            .count() as u64)
    }

    async fn members(&self, group: GroupId) -> Result<Vec<ComputerId>, StoreError> {
        Ok(self
            .lock()
            .members
            .range((group, ComputerId(i64::MIN))..=(group, ComputerId(i64::MAX)))
            .map(|&(_, c)| c)
            .collect())
    }

    async fn delete_group(&self, group: GroupId) -> Result<bool, StoreError> {
        let mut s = self.lock();
        if s.groups.remove(&group).is_none() {
            return Ok(false);
        }
        s.members.retain(|(g, _)| *g != group);
        s.groups_of.retain(|(_, g)| *g != group);
        s.group_affectations.retain(|(g, _), _| *g != group);
        s.settings
            .retain(|(scope, _), _| *scope != SettingScope::Group(group));
        Ok(true)
    }

    async fn affect(
        &self,
        activation: ActivationId,
        computers: &[ComputerId],
        options: &AffectOptions,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        let package = s
            .package_of(activation)
            .ok_or_else(|| StoreError::not_found("activation", activation))?;
        for &c in computers {
            if !s.computers.contains_key(&c) {
                return Err(StoreError::not_found("computer", c));
            }
            if let Some(other) = s.affectation_of_package(c, package)
                && other != activation
            {
                return Err(StoreError::conflict(
                    "affectation",
                    format!("of package {package} to computer {c} (activation {other})"),
                ));
            }
        }
        for &c in computers {
            s.put_affectation(Affectation {
                computer: c,
                activation,
                status: None,
                options: options.clone(),
                changed: now,
            });
            s.event(c, activation, None, now);
        }
        Ok(())
    }

    async fn affect_group(
        &self,
        group: GroupId,
        activation: ActivationId,
        options: &AffectOptions,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        if !s.groups.contains_key(&group) {
            return Err(StoreError::not_found("group", group));
        }
        if !s.activations.contains_key(&activation) {
            return Err(StoreError::not_found("activation", activation));
        }
        s.group_affectations.insert(
            (group, activation),
            GroupAffectation {
                group,
                activation,
                options: options.clone(),
            },
        );
        Ok(())
    }

    async fn unaffect_group(
        &self,
        group: GroupId,
        activation: ActivationId,
    ) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .group_affectations
            .remove(&(group, activation))
            .is_some())
    }

    async fn adopt(
        &self,
        computer: ComputerId,
        affectations: &[GroupAffectation],
        now: Timestamp,
    ) -> Result<Vec<ActivationId>, StoreError> {
        let mut s = self.lock();
        if !s.computers.contains_key(&computer) {
            return Err(StoreError::not_found("computer", computer));
        }
        let mut adopted = Vec::new();
        for g in affectations {
            let Some(package) = s.package_of(g.activation) else {
                continue;
            };
            if s.affectation_of_package(computer, package).is_some() {
                continue;
            }
            s.put_affectation(Affectation {
                computer,
                activation: g.activation,
                status: None,
                options: g.options.clone(),
                changed: now,
            });
            s.event(computer, g.activation, None, now);
            adopted.push(g.activation);
        }
        Ok(adopted)
    }

    async fn unaffect(
        &self,
        activation: ActivationId,
        computers: &[ComputerId],
    ) -> Result<u64, StoreError> {
        let keys: Vec<_> = computers.iter().map(|&c| (c, activation)).collect();
        Ok(self.lock().remove_keys(&keys))
    }

    async fn affectation(
        &self,
        computer: ComputerId,
        activation: ActivationId,
    ) -> Result<Option<Affectation>, StoreError> {
        Ok(self
            .lock()
            .affectations
            .get(&(computer, activation))
            .cloned())
    }

    async fn affectations_of(&self, computer: ComputerId) -> Result<Vec<Affectation>, StoreError> {
        Ok(self.lock().rows_of(computer).cloned().collect())
    }

    async fn group_affectations(
        &self,
        group: GroupId,
    ) -> Result<Vec<GroupAffectation>, StoreError> {
        Ok(self
            .lock()
            .group_affectations
            .values()
            .filter(|a| a.group == group)
            .cloned()
            .collect())
    }

    async fn contact(
        &self,
        device: &DeviceId,
        now: Timestamp,
    ) -> Result<Option<ContactContext>, StoreError> {
        let mut s = self.lock();
        let Some(&id) = s.by_device.get(device) else {
            return Ok(None);
        };
        let Some(computer) = s.computers.get_mut(&id) else {
            return Ok(None);
        };
        computer.last_contact = Some(now);
        let computer = computer.clone();
        let download_server = computer
            .download_server
            .and_then(|d| s.computers.get(&d))
            .cloned();
        let history = s
            .history
            .get(&id)
            .map(|h| h.iter().copied().collect())
            .unwrap_or_default();
        let groups: Vec<GroupId> = s
            .groups_of
            .range((id, GroupId(i64::MIN))..=(id, GroupId(i64::MAX)))
            .map(|&(_, g)| g)
            .collect();
        let pending = s
            .rows_of(id)
            .filter(|a| {
                a.status.is_none() || a.status.as_deref() == Some(DeploymentStatus::NOTIFIED)
            })
            .filter_map(|a| Some((a.clone(), s.activations.get(&a.activation)?.clone())))
            .collect();
        let group_affectations = groups
            .iter()
            .flat_map(|&g| {
                s.group_affectations
                    .range((g, ActivationId(i64::MIN))..=(g, ActivationId(i64::MAX)))
                    .map(|(_, ga)| ga)
            })
            .filter_map(|g| {
                let activation = s.activations.get(&g.activation)?;
                s.affectation_of_package(id, activation.package)
                    .is_none()
                    .then(|| (g.clone(), activation.clone()))
            })
            .collect();
        let settings = s
            .settings
            .iter()
            .filter(|((scope, _), _)| match scope {
                SettingScope::Global => true,
                SettingScope::Group(g) => groups.contains(g),
                SettingScope::Computer(c) => *c == id,
            })
            .map(|(&(scope, setting), &value)| SettingValue {
                scope,
                setting,
                value,
            })
            .collect();
        Ok(Some(ContactContext {
            computer,
            download_server,
            history,
            groups,
            pending,
            group_affectations,
            settings,
        }))
    }

    async fn notify(
        &self,
        computer: ComputerId,
        activations: &[ActivationId],
        now: Timestamp,
    ) -> Result<Vec<ActivationId>, StoreError> {
        let mut s = self.lock();
        let mut changed = Vec::new();
        for &activation in activations {
            if let Some(a) = s.affectations.get_mut(&(computer, activation))
                && a.status.is_none()
            {
                a.status = Some(DeploymentStatus::NOTIFIED.to_owned());
                a.changed = now;
                changed.push(activation);
                s.event(
                    computer,
                    activation,
                    Some(DeploymentStatus::NOTIFIED.to_owned()),
                    now,
                );
            }
        }
        Ok(changed)
    }

    async fn mark_in_history(
        &self,
        computer: ComputerId,
        activation: ActivationId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let Some(a) = s.affectations.get_mut(&(computer, activation)) else {
            return Ok(false);
        };
        if a.status.is_some() && a.status.as_deref() != Some(DeploymentStatus::NOTIFIED) {
            return Ok(false);
        }
        let status = crate::StatusCode::SuccessAlreadyInHistory.to_string();
        a.status = Some(status.clone());
        a.changed = now;
        s.event(computer, activation, Some(status), now);
        Ok(true)
    }

    async fn record_result(
        &self,
        computer: ComputerId,
        package: PackageId,
        status: &str,
        _class: StatusClass,
        now: Timestamp,
    ) -> Result<ResultOutcome, StoreError> {
        let mut s = self.lock();
        let Some(activation) = s.affectation_of_package(computer, package) else {
            return Ok(ResultOutcome::NotAffected);
        };
        let Some(a) = s.affectations.get_mut(&(computer, activation)) else {
            return Ok(ResultOutcome::NotAffected);
        };
        if a.status.as_deref() == Some(status) {
            return Ok(ResultOutcome::Unchanged { activation });
        }
        let previous = a.status.replace(status.to_owned());
        a.changed = now;
        s.event(computer, activation, Some(status.to_owned()), now);
        Ok(ResultOutcome::Recorded {
            activation,
            previous,
        })
    }

    async fn status_events(
        &self,
        computer: ComputerId,
        activation: ActivationId,
    ) -> Result<Vec<StatusEvent>, StoreError> {
        Ok(self
            .lock()
            .events
            .get(&(computer, activation))
            .into_iter()
            .flatten()
            .map(|(status, at)| StatusEvent {
                computer,
                activation,
                status: status.clone(),
                at: *at,
            })
            .collect())
    }

    async fn status_counts(&self, package: PackageId) -> Result<Vec<StatusCount>, StoreError> {
        let s = self.lock();
        let mut counts: BTreeMap<Option<String>, u64> = BTreeMap::new();
        for a in s.affectations_of_package(package) {
            *counts.entry(a.status.clone()).or_default() += 1;
        }
        Ok(counts
            .into_iter()
            .map(|(status, count)| StatusCount {
                class: StatusClass::of_stored(status.as_deref()),
                status,
                count,
            })
            .collect())
    }

    async fn computers_with_status(
        &self,
        package: PackageId,
        selector: &StatusSelector,
        page: Page,
    ) -> Result<Vec<ComputerStatus>, StoreError> {
        let s = self.lock();
        let mut rows: Vec<ComputerStatus> = s
            .affectations_of_package(package)
            .filter(|a| selector.selects(a.status.as_deref()))
            .filter_map(|a| {
                let c = s.computers.get(&a.computer)?;
                Some(ComputerStatus {
                    computer: c.id,
                    device_id: c.device_id.clone(),
                    name: c.name.clone(),
                    status: a.status.clone(),
                    changed: a.changed,
                })
            })
            .collect();
        rows.sort_by_key(|r| r.computer);
        let offset = usize::try_from(page.offset).unwrap_or(usize::MAX);
        let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
        Ok(rows.into_iter().skip(offset).take(limit).collect())
    }

    async fn status_timeline(&self, package: PackageId) -> Result<Vec<TimelineBucket>, StoreError> {
        let s = self.lock();
        let width = u64::try_from(TIMELINE_BUCKET.as_millis()).unwrap_or(u64::MAX);
        let mut buckets: BTreeMap<(u64, Option<String>), u64> = BTreeMap::new();
        for a in s.affectations_of_package(package) {
            let start = a.changed.as_millis() / width * width;
            *buckets.entry((start, a.status.clone())).or_default() += 1;
        }
        Ok(buckets
            .into_iter()
            .map(|((start, status), count)| TimelineBucket {
                status,
                start: Timestamp::from_millis(start),
                count,
            })
            .collect())
    }

    async fn delete_affectations(
        &self,
        package: PackageId,
        selector: &StatusSelector,
    ) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let keys = s.keys_of_package(package, |a| selector.selects(a.status.as_deref()));
        Ok(s.remove_keys(&keys))
    }

    async fn set_setting(
        &self,
        scope: SettingScope,
        setting: Setting,
        value: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        match scope {
            SettingScope::Group(g) if !s.groups.contains_key(&g) => {
                return Err(StoreError::not_found("group", g));
            }
            SettingScope::Computer(c) if !s.computers.contains_key(&c) => {
                return Err(StoreError::not_found("computer", c));
            }
            SettingScope::Global | SettingScope::Group(_) | SettingScope::Computer(_) => {}
        }
        match value {
            Some(v) => s.settings.insert((scope, setting), v),
            None => s.settings.remove(&(scope, setting)),
        };
        Ok(())
    }

    async fn settings(&self, scope: SettingScope) -> Result<Vec<SettingValue>, StoreError> {
        Ok(self
            .lock()
            .settings
            .iter()
            .filter(|((s, _), _)| *s == scope)
            .map(|(&(scope, setting), &value)| SettingValue {
                scope,
                setting,
                value,
            })
            .collect())
    }
}

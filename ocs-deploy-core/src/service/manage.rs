//! The console's operations: activate, affect, groups, settings, validate, delete.

use super::location::Location;
use super::{DeploymentService, ServiceError};
use crate::protocol::DeviceId;
use crate::store::{
    Activation, ActivationId, AffectOptions, ComputerFilter, ComputerId, GroupId, NewActivation,
    Setting, SettingScope, StatusSelector, StoreError,
};
use crate::{PackageId, StatusClass, Timestamp};

/// Which computers an affectation is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AffectTarget {
    /// These computers, by device id.
    Computers(Vec<DeviceId>),
    /// Every computer whose inventory matches.
    Matching(ComputerFilter),
}

impl DeploymentService {
    /// Activates a package: agents will fetch its info file from
    /// `https://<info_location>/<id>/info` and its fragments from
    /// `<pack_location>/<id>/<id>-<n>`. Locations are `host[:port]/path` without a
    /// scheme; the fragment location may hold `$IP$` and `$NAME$` (per-site download
    /// servers). A package may have several activations (one per site).
    ///
    /// # Errors
    /// [`ServiceError::BadLocation`] (including loopback hosts unless
    /// [`allow_loopback`](super::ServiceConfig::allow_loopback)),
    /// [`ServiceError::UnknownPackage`], [`ServiceError::PackageNotBuilt`],
    /// [`ServiceError::DuplicateActivation`], [`ServiceError::Store`].
    pub async fn activate(
        &self,
        package: PackageId,
        info_location: &str,
        pack_location: &str,
        now: Timestamp,
    ) -> Result<ActivationId, ServiceError> {
        let allow = self.config.allow_loopback;
        let info =
            Location::parse(info_location, allow).map_err(|source| ServiceError::BadLocation {
                which: "info",
                source,
            })?;
        if info.is_per_site() {
            return Err(ServiceError::BadLocation {
                which: "info",
                source: super::LocationError::PlaceholderInInfo {
                    location: info.to_string(),
                },
            });
        }
        let pack =
            Location::parse(pack_location, allow).map_err(|source| ServiceError::BadLocation {
                which: "fragment",
                source,
            })?;
        let record = self
            .store
            .package(package)
            .await?
            .ok_or(ServiceError::UnknownPackage(package))?;
        if !record.is_built() {
            return Err(ServiceError::PackageNotBuilt(package));
        }
        let new = NewActivation {
            package,
            info_location: info.to_string(),
            pack_location: pack.to_string(),
            cert_path: None,
            cert_file: None,
        };
        match self.store.insert_activation(&new, now).await {
            Ok(id) => {
                tracing::info!(package_id = %package, activation = %id, info = %info, pack = %pack, "activated");
                Ok(id)
            }
            Err(StoreError::Conflict { .. }) => Err(ServiceError::DuplicateActivation {
                package,
                info_location: new.info_location,
                pack_location: new.pack_location,
            }),
            Err(StoreError::NotFound { .. }) => Err(ServiceError::UnknownPackage(package)),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes one activation and its affectations. Returns whether it existed.
    ///
    /// # Errors
    /// [`ServiceError::Store`].
    pub async fn deactivate(&self, activation: ActivationId) -> Result<bool, ServiceError> {
        Ok(self.store.delete_activation(activation).await?)
    }

    /// Deletes a package: every row that belongs to it (activations, affectations of
    /// computers and groups, audit trail, history entries) and its files. Agents still
    /// downloading it fail to fetch the next fragment (`ERR_DOWNLOAD_PACK`), and their
    /// result is then refused as not affected.
    ///
    /// # Errors
    /// [`ServiceError::UnknownPackage`], [`ServiceError::Store`], [`ServiceError::Files`].
    pub async fn delete_package(&self, package: PackageId) -> Result<(), ServiceError> {
        // Rows first: once they are gone no PROLOG offers the package any more.
        let existed = self.store.delete_package(package).await?;
        let had_files = self.files.remove_package(package).await?;
        if !existed && !had_files {
            return Err(ServiceError::UnknownPackage(package));
        }
        tracing::info!(package_id = %package, "package deleted");
        Ok(())
    }

    /// The activation, or [`ServiceError::UnknownActivation`].
    async fn known_activation(&self, id: ActivationId) -> Result<Activation, ServiceError> {
        self.store
            .activation(id)
            .await?
            .ok_or(ServiceError::UnknownActivation(id))
    }

    /// The computer's key, or [`ServiceError::UnknownComputer`].
    async fn computer_id(&self, device: &DeviceId) -> Result<ComputerId, ServiceError> {
        self.store
            .computer_by_device(device)
            .await?
            .map(|c| c.id)
            .ok_or_else(|| ServiceError::UnknownComputer(device.to_string()))
    }

    /// The group's key, or [`ServiceError::UnknownGroup`].
    async fn group_id(&self, name: &str) -> Result<GroupId, ServiceError> {
        self.store
            .group_by_name(name)
            .await?
            .map(|g| g.id)
            .ok_or_else(|| ServiceError::UnknownGroup(name.to_owned()))
    }

    /// Affects an activation to computers. A computer that already has it is affected
    /// again: its status goes back to waiting and it will be sent again. Returns the
    /// computers affected.
    ///
    /// # Errors
    /// [`ServiceError::UnknownActivation`], [`ServiceError::UnknownComputer`] (nothing is
    /// affected then), [`ServiceError::AlreadyAffected`] when a computer has the package
    /// through another activation, [`ServiceError::Store`].
    pub async fn affect(
        &self,
        activation: ActivationId,
        target: &AffectTarget,
        options: &AffectOptions,
        now: Timestamp,
    ) -> Result<Vec<ComputerId>, ServiceError> {
        let act = self.known_activation(activation).await?;
        let computers = match target {
            AffectTarget::Computers(devices) => {
                let mut ids = Vec::with_capacity(devices.len());
                for d in devices {
                    ids.push(self.computer_id(d).await?);
                }
                ids
            }
            AffectTarget::Matching(filter) => self.store.find_computers(filter).await?,
        };
        match self
            .store
            .affect(activation, &computers, options, now)
            .await
        {
            Ok(()) => {
                tracing::info!(package_id = %act.package, activation = %activation, computers = computers.len(), "affected");
                Ok(computers)
            }
            Err(StoreError::Conflict { .. }) => {
                let mut culprit = String::new();
                for &c in &computers {
                    let taken = self
                        .store
                        .affectations_of(c)
                        .await?
                        .into_iter()
                        .any(|a| a.activation != activation);
                    if taken && let Some(computer) = self.store.computer(c).await? {
                        culprit = computer.device_id.to_string();
                        break;
                    }
                }
                Err(ServiceError::AlreadyAffected {
                    computer: culprit,
                    package: act.package,
                })
            }
            Err(StoreError::NotFound { .. }) => Err(ServiceError::UnknownActivation(activation)),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the package from computers (the console's "remove from this computer").
    /// Returns how many had it.
    ///
    /// # Errors
    /// [`ServiceError::UnknownComputer`], [`ServiceError::Store`].
    pub async fn unaffect(
        &self,
        activation: ActivationId,
        devices: &[DeviceId],
    ) -> Result<u64, ServiceError> {
        let mut ids = Vec::with_capacity(devices.len());
        for d in devices {
            ids.push(self.computer_id(d).await?);
        }
        Ok(self.store.unaffect(activation, &ids).await?)
    }

    /// Affects a package again to a computer whose deployment failed (the console's
    /// "affect again", offered for `ERR_*` and `EXIT_CODE*`): back to waiting, same
    /// options.
    ///
    /// # Errors
    /// [`ServiceError::UnknownComputer`], [`ServiceError::NotInError`] when the package is
    /// not affected or did not fail, [`ServiceError::Store`].
    pub async fn reaffect(
        &self,
        device: &DeviceId,
        package: PackageId,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        let computer = self.computer_id(device).await?;
        let mut found = None;
        for a in self.store.affectations_of(computer).await? {
            if let Some(act) = self.store.activation(a.activation).await?
                && act.package == package
            {
                found = Some(a);
                break;
            }
        }
        let not_in_error = |class| ServiceError::NotInError {
            computer: device.to_string(),
            package,
            class,
        };
        let row = found.ok_or_else(|| not_in_error(StatusClass::Unclassified))?;
        if row.class() != StatusClass::Error {
            return Err(not_in_error(row.class()));
        }
        self.store
            .affect(row.activation, &[computer], &row.options, now)
            .await?;
        Ok(())
    }

    /// Creates a static group; `visible` groups are those users may put their own
    /// computers in ([`join_visible_group`](Self::join_visible_group)).
    ///
    /// # Errors
    /// [`ServiceError::GroupExists`], [`ServiceError::Store`].
    pub async fn create_group(&self, name: &str, visible: bool) -> Result<GroupId, ServiceError> {
        match self.store.create_group(name, visible).await {
            Ok(id) => Ok(id),
            Err(StoreError::Conflict { .. }) => Err(ServiceError::GroupExists(name.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    /// Puts computers in a group (an administrator's operation).
    ///
    /// # Errors
    /// [`ServiceError::UnknownGroup`], [`ServiceError::UnknownComputer`],
    /// [`ServiceError::Store`].
    pub async fn add_to_group(
        &self,
        group: &str,
        devices: &[DeviceId],
    ) -> Result<(), ServiceError> {
        let g = self.group_id(group).await?;
        let mut ids = Vec::with_capacity(devices.len());
        for d in devices {
            ids.push(self.computer_id(d).await?);
        }
        Ok(self.store.add_members(g, &ids).await?)
    }

    /// A user puts their own computer in a visible group.
    ///
    /// # Errors
    /// [`ServiceError::UnknownGroup`], [`ServiceError::GroupNotVisible`],
    /// [`ServiceError::UnknownComputer`], [`ServiceError::Store`].
    pub async fn join_visible_group(
        &self,
        group: &str,
        device: &DeviceId,
    ) -> Result<(), ServiceError> {
        let g = self
            .store
            .group_by_name(group)
            .await?
            .ok_or_else(|| ServiceError::UnknownGroup(group.to_owned()))?;
        if !g.visible {
            return Err(ServiceError::GroupNotVisible(group.to_owned()));
        }
        let c = self.computer_id(device).await?;
        Ok(self.store.add_members(g.id, &[c]).await?)
    }

    /// Takes computers out of a group. Returns how many were members. Affectations they
    /// already adopted from the group stay theirs, as in OCS.
    ///
    /// # Errors
    /// [`ServiceError::UnknownGroup`], [`ServiceError::UnknownComputer`],
    /// [`ServiceError::Store`].
    pub async fn remove_from_group(
        &self,
        group: &str,
        devices: &[DeviceId],
    ) -> Result<u64, ServiceError> {
        let g = self.group_id(group).await?;
        let mut ids = Vec::with_capacity(devices.len());
        for d in devices {
            ids.push(self.computer_id(d).await?);
        }
        Ok(self.store.remove_members(g, &ids).await?)
    }

    /// Affects an activation to a group: each member gets the package at its next
    /// PROLOG (members added later too), unless it is in its history. `force` is not
    /// offered for groups (as in OCS): affect a computer directly to force.
    ///
    /// # Errors
    /// [`ServiceError::UnknownGroup`], [`ServiceError::UnknownActivation`],
    /// [`ServiceError::Store`].
    pub async fn affect_group(
        &self,
        group: &str,
        activation: ActivationId,
        options: &AffectOptions,
    ) -> Result<(), ServiceError> {
        let g = self.group_id(group).await?;
        self.known_activation(activation).await?;
        let options = AffectOptions {
            force: false,
            ..options.clone()
        };
        Ok(self.store.affect_group(g, activation, &options).await?)
    }

    /// Removes a group's affectation; members that already adopted it keep their row.
    ///
    /// # Errors
    /// [`ServiceError::UnknownGroup`], [`ServiceError::Store`].
    pub async fn unaffect_group(
        &self,
        group: &str,
        activation: ActivationId,
    ) -> Result<bool, ServiceError> {
        let g = self.group_id(group).await?;
        Ok(self.store.unaffect_group(g, activation).await?)
    }

    /// Sets a download setting globally (`None` scope), for a group or a computer;
    /// `None` value removes it.
    ///
    /// # Errors
    /// [`ServiceError::Store`] (including an unknown group or computer key).
    pub async fn set_setting(
        &self,
        scope: SettingScope,
        setting: Setting,
        value: Option<i64>,
    ) -> Result<(), ServiceError> {
        Ok(self.store.set_setting(scope, setting, value).await?)
    }

    /// Gives a computer its site's download server: `$IP$` and `$NAME$` in fragment
    /// locations become that server's address and name for this computer.
    ///
    /// # Errors
    /// [`ServiceError::UnknownComputer`], [`ServiceError::Store`].
    pub async fn set_download_server(
        &self,
        device: &DeviceId,
        server: Option<&DeviceId>,
    ) -> Result<(), ServiceError> {
        let c = self.computer_id(device).await?;
        let s = match server {
            Some(s) => Some(self.computer_id(s).await?),
            None => None,
        };
        Ok(self.store.set_download_server(c, s).await?)
    }

    /// "Validate successes": removes the affectations that succeeded (the history keeps
    /// the package from being sent again). Returns how many.
    ///
    /// # Errors
    /// [`ServiceError::Store`].
    pub async fn validate_success(&self, package: PackageId) -> Result<u64, ServiceError> {
        Ok(self
            .store
            .delete_affectations(package, &StatusSelector::Class(StatusClass::Success))
            .await?)
    }

    /// "Unaffect not notified": removes the affectations nobody was told about yet.
    /// Returns how many.
    ///
    /// # Errors
    /// [`ServiceError::Store`].
    pub async fn unaffect_not_notified(&self, package: PackageId) -> Result<u64, ServiceError> {
        Ok(self
            .store
            .delete_affectations(package, &StatusSelector::Class(StatusClass::Waiting))
            .await?)
    }

    /// "Validate all": exactly [`validate_success`](Self::validate_success) and
    /// [`unaffect_not_notified`](Self::unaffect_not_notified). Unlike the OCS console, it
    /// keeps notified affectations, whose results are still to come, and failed ones.
    /// Returns how many were removed.
    ///
    /// # Errors
    /// [`ServiceError::Store`].
    pub async fn validate_all(&self, package: PackageId) -> Result<u64, ServiceError> {
        Ok(self.validate_success(package).await? + self.unaffect_not_notified(package).await?)
    }
}

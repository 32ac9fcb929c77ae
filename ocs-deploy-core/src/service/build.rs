//! Building a package: archive stream → fragments + info file.

use bytes::Bytes;
use futures::{Stream, StreamExt};

use super::{DeploymentService, ServiceError};
use crate::fragment::{FragmentPlan, SplitEvent, Splitter};
use crate::package::{DigestAlgorithm, DigestForm, DoneAction, Notification, Protocol};
use crate::store::{BuiltPackage, FileName, FileWriter, PackageRecord, StoreError};
use crate::{Action, PackageFile, PackageId, PackageInfo, Priority, Timestamp, info};

/// How many ids after a taken one the service tries before giving up.
const ID_ATTEMPTS: u32 = 1000;

/// What to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest {
    /// A name for people.
    pub name: String,
    /// The action (Launch and Store need an archive; Execute may have none).
    pub action: Action,
    /// The priority (0 is exclusive: see the scheduler).
    pub priority: Priority,
    /// How agents fetch the fragments.
    pub protocol: Protocol,
    /// What the user is told before.
    pub notification: Notification,
    /// What the user is told after.
    pub done_action: DoneAction,
    /// The package digest's algorithm (MD5 by default: every OCS agent checks it).
    pub digest_algorithm: DigestAlgorithm,
    /// How the digest is written (lowercase hex by default: every OCS agent reads it).
    pub digest_form: DigestForm,
    /// The size of each fragment but the last, in bytes.
    pub fragment_size: u64,
    /// An exact plan instead of [`fragment_size`](Self::fragment_size), for an archive
    /// whose size is known: [`FragmentPlan::by_count`] splits as the OCS console does.
    /// The archive must then have exactly [`FragmentPlan::total`] bytes.
    pub plan: Option<FragmentPlan>,
}

impl BuildRequest {
    /// The default fragment size: 1 MiB.
    pub const DEFAULT_FRAGMENT_SIZE: u64 = 1024 * 1024;

    /// A request with the defaults: priority 5, HTTP, no notification, MD5 in lowercase
    /// hex, 1 MiB fragments.
    ///
    /// ```
    /// use ocs_deploy_core::Action;
    /// use ocs_deploy_core::service::BuildRequest;
    ///
    /// let r = BuildRequest::new("tools", Action::Execute { command: "apt-get install -y htop".into() });
    /// assert_eq!(r.priority.get(), 5);
    /// ```
    pub fn new(name: impl Into<String>, action: Action) -> Self {
        Self {
            name: name.into(),
            action,
            priority: Priority::DEFAULT,
            protocol: Protocol::Http,
            notification: Notification::default(),
            done_action: DoneAction::default(),
            digest_algorithm: DigestAlgorithm::Md5,
            digest_form: DigestForm::HexLowercase,
            fragment_size: Self::DEFAULT_FRAGMENT_SIZE,
            plan: None,
        }
    }
}

impl DeploymentService {
    /// Builds a package: gives it a new id (never one in use, even for builds in the same
    /// second), splits `archive` into fragments written with the info file through the
    /// package files, and records it. `archive` is `None` for an Execute without file.
    ///
    /// A failed build leaves no file and no row behind.
    ///
    /// # Errors
    /// [`ServiceError::BadBuild`] (Launch/Store without archive, fragment size 0),
    /// [`ServiceError::Archive`] when the stream fails, [`ServiceError::Split`],
    /// [`ServiceError::Files`], [`ServiceError::Store`].
    pub async fn build<S, E>(
        &self,
        request: BuildRequest,
        archive: Option<S>,
        now: Timestamp,
    ) -> Result<PackageRecord, ServiceError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::error::Error + Send + Sync + 'static,
    {
        if archive.is_none() && request.action.needs_file() {
            return Err(ServiceError::BadBuild(format!(
                "a {} package needs an archive",
                request.action.wire_name()
            )));
        }
        if request.fragment_size == 0 {
            return Err(ServiceError::BadBuild("the fragment size is 0".into()));
        }
        let mut record = self.reserve_id(&request, now).await?;
        tracing::info!(package_id = %record.id, name = %record.name, "building package");
        match self.write_package(&request, record.id, archive).await {
            Ok(built) => {
                self.store.finish_package(record.id, &built).await?;
                record.fragments = built.fragments;
                record.size = built.size;
                record.info = built.info;
                Ok(record)
            }
            Err(e) => {
                tracing::warn!(package_id = %record.id, error = %e, "build failed; removing it");
                // Best effort: the error that ended the build is the one to report.
                let _ = self.files.remove_package(record.id).await;
                let _ = self.store.delete_package(record.id).await;
                Err(e)
            }
        }
    }

    /// Inserts the package row (not built yet) under the first free id from
    /// `max(now, largest + 1)`, and returns it.
    async fn reserve_id(
        &self,
        request: &BuildRequest,
        now: Timestamp,
    ) -> Result<PackageRecord, ServiceError> {
        let after_largest = self
            .store
            .max_package_id()
            .await?
            .map_or(0, |id| id.get().saturating_add(1));
        let mut candidate = now.as_secs().max(after_largest).max(1);
        for _ in 0..ID_ATTEMPTS {
            let id = PackageId::new(candidate).map_err(|_| {
                ServiceError::BadBuild(format!("no valid package id from {candidate}"))
            })?;
            let record = PackageRecord {
                id,
                name: request.name.clone(),
                priority: request.priority,
                fragments: 0,
                size: 0,
                info: String::new(),
                created: now,
            };
            match self.store.insert_package(&record).await {
                Ok(()) => return Ok(record),
                Err(StoreError::Conflict { .. }) => candidate = candidate.saturating_add(1),
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::NoFreePackageId(ID_ATTEMPTS))
    }

    async fn write_package<S, E>(
        &self,
        request: &BuildRequest,
        id: PackageId,
        archive: Option<S>,
    ) -> Result<BuiltPackage, ServiceError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::error::Error + Send + Sync + 'static,
    {
        let file = match archive {
            None => PackageFile::None {
                digest_algorithm: request.digest_algorithm,
                digest_encoding: request.digest_form.encoding(),
            },
            Some(archive) => {
                PackageFile::Fragments(self.write_fragments(request, id, archive).await?)
            }
        };
        let mut package = PackageInfo::new(id, request.action.clone());
        package.priority = request.priority;
        package.protocol = request.protocol;
        package.notification = request.notification.clone();
        package.done_action = request.done_action.clone();
        package.file = file;
        let text = info::write(&package);
        let mut writer = self.files.create(id, FileName::Info).await?;
        writer.write(Bytes::from(text.clone())).await?;
        writer.finish().await?;
        Ok(BuiltPackage {
            fragments: package.fragment_count(),
            size: package.payload().and_then(|p| p.size).unwrap_or(0),
            info: text,
        })
    }

    async fn write_fragments<S, E>(
        &self,
        request: &BuildRequest,
        id: PackageId,
        archive: S,
    ) -> Result<crate::Payload, ServiceError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::error::Error + Send + Sync + 'static,
    {
        let split_error = |source| ServiceError::Split {
            package: id,
            source,
        };
        let mut splitter = match request.plan {
            Some(plan) => Splitter::new(plan, request.digest_algorithm, id),
            None => {
                Splitter::by_size_streaming(request.fragment_size, request.digest_algorithm, id)
                    .map_err(split_error)?
            }
        };
        let mut open: Option<(u32, Box<dyn FileWriter>)> = None;
        let mut archive = std::pin::pin!(archive);
        while let Some(chunk) = archive.next().await {
            let chunk = chunk.map_err(|e| ServiceError::Archive {
                package: id,
                source: std::sync::Arc::new(e),
            })?;
            // Collect the events first: they borrow the splitter, the writes are async.
            let events: Vec<(u32, Option<Bytes>)> = splitter
                .push(&chunk)
                .map_err(split_error)?
                .map(|event| match event {
                    SplitEvent::FragmentBytes { fragment, bytes } => {
                        (fragment, Some(chunk.slice_ref(bytes)))
                    }
                    SplitEvent::FragmentDone { fragment, .. } => (fragment, None),
                })
                .collect();
            for (fragment, bytes) in events {
                match bytes {
                    Some(bytes) => {
                        let writer = match &mut open {
                            Some((n, w)) if *n == fragment => w,
                            _ => {
                                if let Some((_, w)) = open.take() {
                                    w.finish().await?;
                                }
                                let w = self.files.create(id, FileName::Fragment(fragment)).await?;
                                &mut open.insert((fragment, w)).1
                            }
                        };
                        writer.write(bytes).await?;
                    }
                    None => {
                        if let Some((n, w)) = open.take() {
                            debug_assert_eq!(n, fragment);
                            w.finish().await?;
                        }
                    }
                }
            }
        }
        let received_nothing = open.is_none() && splitter.fragment_digests().is_empty();
        if let Some((_, w)) = open.take() {
            w.finish().await?;
        }
        let payload = splitter.finish(request.digest_form).map_err(split_error)?;
        if received_nothing {
            // An empty archive is one empty fragment, so its digest is still checked.
            self.files
                .create(id, FileName::Fragment(1))
                .await?
                .finish()
                .await?;
        }
        tracing::debug!(package_id = %id, fragments = payload.fragments, "fragments written");
        Ok(payload)
    }
}

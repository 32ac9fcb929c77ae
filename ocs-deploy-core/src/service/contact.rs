//! Answering agents: PROLOG, INVENTORY and DOWNLOAD results.

use std::collections::BTreeSet;

use super::location::{IP_PLACEHOLDER, NAME_PLACEHOLDER, has_placeholder};
use super::{DeploymentService, ServiceError, merge_settings};
use crate::protocol::{
    DeviceId, DownloadOption, HistoryEntry, InventoryReply, InventoryResponse, PackageNotice,
    PrologReply, PrologResponse, Request,
};
use crate::store::{
    Activation, Affectation, ComputerId, ComputerUpdate, ContactContext, GroupAffectation,
    ResultOutcome, SettingScope,
};
use crate::{PackageId, Timestamp};

/// Why a waiting package was not offered at this PROLOG (it stays waiting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deferred {
    /// Its schedule is later.
    Scheduled(Timestamp),
    /// Its fragment location holds `$IP$` or `$NAME$` and the computer has no download
    /// server (or the server's address or name is unknown).
    NoDownloadServer,
}

/// The answer to a PROLOG, with what it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrologOutcome {
    /// The reply to send.
    pub reply: PrologReply,
    /// The computer, if known.
    pub computer: Option<ComputerId>,
    /// Packages this PROLOG moved from waiting to notified.
    pub notified: Vec<PackageId>,
    /// Packages marked `SUCCESS_ALREADY_IN_HISTORY`.
    pub in_history: Vec<PackageId>,
    /// Waiting packages not offered yet, and why.
    pub deferred: Vec<(PackageId, Deferred)>,
}

/// The service's answer to one agent request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// To a PROLOG.
    Prolog(PrologOutcome),
    /// To an INVENTORY.
    Inventory(InventoryReply),
    /// To a DOWNLOAD result (OCS answers with an empty body).
    Result(ResultOutcome),
    /// To a query the deployment service does not handle (`SYSTEM`, `UPDATE`, …).
    Unsupported {
        /// The query.
        query: String,
    },
}

impl DeploymentService {
    /// Answers one agent request.
    ///
    /// # Errors
    /// As [`handle_prolog`](Self::handle_prolog), [`handle_inventory`](Self::handle_inventory)
    /// and [`record_result`](Self::record_result).
    pub async fn handle(&self, request: &Request, now: Timestamp) -> Result<Reply, ServiceError> {
        match request {
            Request::Prolog { device_id } => {
                Ok(Reply::Prolog(self.handle_prolog(device_id, now).await?))
            }
            Request::Inventory {
                device_id,
                hardware,
                history,
            } => {
                let mut update = ComputerUpdate::new(
                    DeviceId::parse(device_id).map_err(ServiceError::BadDeviceId)?,
                );
                update.name.clone_from(&hardware.name);
                update.os_name.clone_from(&hardware.os_name);
                update.ip_address.clone_from(&hardware.ip_address);
                update.tag.clone_from(&hardware.tag);
                Ok(Reply::Inventory(
                    self.handle_inventory(&update, history.as_deref(), now)
                        .await?,
                ))
            }
            Request::DownloadResult {
                device_id,
                package_id,
                status,
            } => Ok(Reply::Result(
                self.record_result(device_id, *package_id, status, now)
                    .await?,
            )),
            Request::Other { query, .. } => Ok(Reply::Unsupported {
                query: query.clone(),
            }),
        }
    }

    /// Creates or updates the computer from an inventory, and replaces its deployment
    /// history when the inventory has a `DOWNLOAD/HISTORY` section.
    ///
    /// Departure from OCS: a missing section (`history` `None`: a third-party agent, or a
    /// Unix agent with the download module off) keeps the history; OCS deletes it, which
    /// makes group packages be sent again. An empty section empties it. History entries
    /// that are not package ids are ignored.
    ///
    /// # Errors
    /// [`ServiceError::Store`].
    pub async fn handle_inventory(
        &self,
        update: &ComputerUpdate,
        history: Option<&[HistoryEntry]>,
        now: Timestamp,
    ) -> Result<InventoryReply, ServiceError> {
        let computer = self.store.upsert_computer(update, now).await?;
        if let Some(history) = history {
            let ids: BTreeSet<PackageId> = history
                .iter()
                .filter_map(HistoryEntry::package_id)
                .collect();
            let ids: Vec<PackageId> = ids.into_iter().collect();
            self.store.replace_history(computer, &ids).await?;
        }
        tracing::debug!(device_id = %update.device_id, history = ?history.map(<[_]>::len), "inventory");
        Ok(InventoryReply {
            response: InventoryResponse::NoAccountUpdate,
            account_info: Vec::new(),
        })
    }

    /// Answers a PROLOG: the merged download settings, and one notice per package that is
    /// waiting or notified for this computer.
    ///
    /// - Group affectations the computer has not adopted yet become its own (waiting),
    ///   unless the package is in its history. Unlike OCS, they then follow the same path
    ///   as direct ones (`$IP$`/`$NAME$` replaced, nothing lost).
    /// - A package in the history is marked `SUCCESS_ALREADY_IN_HISTORY` unless forced.
    /// - A waiting package whose schedule is later, or whose per-site location cannot be
    ///   resolved, stays waiting ([`Deferred`]). The Unix agent ignores `SCHEDULE`, so the
    ///   server holds the package back for every agent.
    /// - Waiting packages sent become notified, exactly once however many servers share
    ///   the store. Notified ones are sent again at every PROLOG until a result arrives, as
    ///   OCS does; agents skip packages they already have.
    /// - With deployment off for this computer, the reply says `ON="0"` and offers nothing.
    ///
    /// An unknown computer gets the global settings and `SEND`, so it sends its inventory.
    ///
    /// # Errors
    /// [`ServiceError::BadDeviceId`], [`ServiceError::Store`].
    pub async fn handle_prolog(
        &self,
        device: &str,
        now: Timestamp,
    ) -> Result<PrologOutcome, ServiceError> {
        let device = DeviceId::parse(device).map_err(ServiceError::BadDeviceId)?;
        let Some(ctx) = self.store.contact(&device, now).await? else {
            let settings = merge_settings(&self.store.settings(SettingScope::Global).await?);
            tracing::debug!(device_id = %device, "PROLOG from unknown computer");
            return Ok(PrologOutcome {
                reply: PrologReply {
                    response: PrologResponse::Send,
                    prolog_freq: Some(settings.prolog_freq),
                    inventory_on_startup: None,
                    download: Some(DownloadOption {
                        config: settings.download,
                        packages: Vec::new(),
                    }),
                },
                computer: None,
                notified: Vec::new(),
                in_history: Vec::new(),
                deferred: Vec::new(),
            });
        };
        let settings = merge_settings(&ctx.settings);
        let mut outcome = PrologOutcome {
            reply: PrologReply {
                response: self.inventory_response(&ctx, now),
                prolog_freq: Some(settings.prolog_freq),
                inventory_on_startup: None,
                download: None,
            },
            computer: Some(ctx.computer.id),
            notified: Vec::new(),
            in_history: Vec::new(),
            deferred: Vec::new(),
        };
        let mut packages = Vec::new();
        if settings.download.enabled {
            packages = self.offer(&ctx, now, &mut outcome).await?;
        }
        outcome.reply.download = Some(DownloadOption {
            config: settings.download,
            packages,
        });
        tracing::debug!(
            device_id = %device,
            offered = outcome.reply.download.as_ref().map_or(0, |d| d.packages.len()),
            notified = outcome.notified.len(),
            "PROLOG"
        );
        Ok(outcome)
    }

    fn inventory_response(&self, ctx: &ContactContext, now: Timestamp) -> PrologResponse {
        let due = match (self.config.inventory_every, ctx.computer.last_inventory) {
            (None, _) | (_, None) => true,
            (Some(every), Some(last)) => now.duration_since(last) >= every,
        };
        if due {
            PrologResponse::Send
        } else {
            PrologResponse::Stop
        }
    }

    /// The notices for a known computer with deployment on; updates the statuses.
    async fn offer(
        &self,
        ctx: &ContactContext,
        now: Timestamp,
        outcome: &mut PrologOutcome,
    ) -> Result<Vec<PackageNotice>, ServiceError> {
        let computer = ctx.computer.id;
        let history: BTreeSet<PackageId> = ctx.history.iter().copied().collect();
        let mut rows: Vec<(Affectation, Activation)> = ctx.pending.clone();

        // Group affectations of packages not in the history become the computer's own.
        let mut seen = BTreeSet::new();
        let to_adopt: Vec<(GroupAffectation, Activation)> = ctx
            .group_affectations
            .iter()
            .filter(|(_, act)| !history.contains(&act.package) && seen.insert(act.package))
            .cloned()
            .collect();
        if !to_adopt.is_empty() {
            let offered: Vec<GroupAffectation> = to_adopt.iter().map(|(g, _)| g.clone()).collect();
            let adopted = self.store.adopt(computer, &offered, now).await?;
            for (g, act) in to_adopt {
                if adopted.contains(&act.id) {
                    rows.push((
                        Affectation {
                            computer,
                            activation: act.id,
                            status: None,
                            options: g.options,
                            changed: now,
                        },
                        act,
                    ));
                }
            }
        }
        rows.sort_by_key(|(_, act)| (act.package, act.id));

        let mut notices = Vec::with_capacity(rows.len());
        let mut to_notify = Vec::new();
        for (row, act) in rows {
            if !row.options.force && history.contains(&act.package) {
                if self.store.mark_in_history(computer, act.id, now).await? {
                    outcome.in_history.push(act.package);
                }
                continue;
            }
            let waiting = row.status.is_none();
            if waiting
                && let Some(at) = row.options.schedule
                && at > now
            {
                outcome
                    .deferred
                    .push((act.package, Deferred::Scheduled(at)));
                continue;
            }
            let Some(pack_location) = resolve_location(&act.pack_location, ctx) else {
                outcome
                    .deferred
                    .push((act.package, Deferred::NoDownloadServer));
                tracing::warn!(device_id = %ctx.computer.device_id, package_id = %act.package, "no download server for a per-site location; package held back");
                continue;
            };
            if waiting {
                to_notify.push((act.id, act.package));
            }
            notices.push(PackageNotice {
                id: act.package,
                info_location: act.info_location.clone(),
                pack_location,
                cert_path: act
                    .cert_path
                    .clone()
                    .unwrap_or_else(|| PackageNotice::DEFAULT_CERT_PATH.to_owned()),
                cert_file: act
                    .cert_file
                    .clone()
                    .unwrap_or_else(|| PackageNotice::DEFAULT_CERT_FILE.to_owned()),
                schedule: row.options.schedule.map(ocs_schedule),
                post_command: row.options.post_command.clone(),
                force: row.options.force,
            });
        }
        if !to_notify.is_empty() {
            let ids: Vec<_> = to_notify
                .iter()
                .map(|&(activation, _)| activation)
                .collect();
            let changed = self.store.notify(computer, &ids, now).await?;
            outcome.notified = to_notify
                .iter()
                .filter(|(activation, _)| changed.contains(activation))
                .map(|&(_, package)| package)
                .collect();
        }
        Ok(notices)
    }
}

/// `PACK_LOC` for this computer: `$IP$` and `$NAME$` replaced by its download server's
/// address and name; `None` when they cannot be.
fn resolve_location(location: &str, ctx: &ContactContext) -> Option<String> {
    if !has_placeholder(location) {
        return Some(location.to_owned());
    }
    let server = ctx.download_server.as_ref()?;
    let mut out = location.to_owned();
    if out.contains(IP_PLACEHOLDER) {
        // An inventory may list several addresses; the first is the server's main one.
        let ip = server
            .ip_address
            .as_deref()?
            .split([',', ' ', '/'])
            .find(|s| !s.is_empty())?;
        out = out.replace(IP_PLACEHOLDER, ip);
    }
    if out.contains(NAME_PLACEHOLDER) {
        out = out.replace(NAME_PLACEHOLDER, server.name.as_deref()?);
    }
    Some(out)
}

/// `SCHEDULE` as the OCS console writes it: `YYYY/MM/DD HH:MM` (UTC here).
fn ocs_schedule(at: Timestamp) -> String {
    let (y, mo, d, h, mi, _) = at.utc();
    format!("{y:04}/{mo:02}/{d:02} {h:02}:{mi:02}")
}

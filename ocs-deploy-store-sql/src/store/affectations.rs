//! Affectations of computers and groups, and the guarded status changes with their audit
//! trail.

use ocs_deploy_core::status::DeploymentStatus;
use ocs_deploy_core::store::{
    ActivationId, AffectOptions, Affectation, ComputerId, GroupAffectation, GroupId, ResultOutcome,
    StatusEvent, StoreError,
};
use ocs_deploy_core::{PackageId, StatusClass, StatusCode, Timestamp};
use sqlx::{AnyConnection, Row};

use crate::SqlStore;
use crate::direct::bind_all;
use crate::error::{Attempt, Failure};
use crate::sql::{CHUNK, affectation_columns, bind_ids, class_key, millis, package_key};

/// Appends one event to the audit trail.
const EVENT: &str =
    "INSERT INTO status_events (computer, activation, status, changed_at) VALUES (?, ?, ?, ?)";

/// The update that notifies a computer's waiting rows among a list of activations
/// (`list` from [`SqlStore::in_ids`]), bound with the status, its class, the time, the
/// computer and the list.
fn notify_update(list: &str) -> String {
    format!(
        "UPDATE affectations SET status = ?, status_class = ?, changed_at = ? \
         WHERE computer = ? AND activation {list} AND status IS NULL"
    )
}

/// Appends `n` events to the audit trail in one statement, bound with each one's computer,
/// activation, status and time.
fn events_insert(n: usize) -> String {
    let rows = vec!["(?, ?, ?, ?)"; n].join(", ");
    format!("INSERT INTO status_events (computer, activation, status, changed_at) VALUES {rows}")
}

/// How many times `record_result` re-reads a status that changed under it.
const CAS_ATTEMPTS: u32 = 64;

impl SqlStore {
    /// The package of an activation, if it exists.
    pub(super) async fn package_of_activation(
        &self,
        conn: &mut AnyConnection,
        activation: ActivationId,
    ) -> Attempt<Option<i64>> {
        Ok(
            sqlx::query_scalar(self.sql("SELECT package FROM activations WHERE id = ?"))
                .bind(activation.0)
                .fetch_optional(&mut *conn)
                .await?,
        )
    }

    /// Appends one event to the trail.
    async fn event(
        &self,
        conn: &mut AnyConnection,
        computer: ComputerId,
        activation: ActivationId,
        status: Option<&str>,
        now: Timestamp,
    ) -> Attempt<()> {
        sqlx::query(self.sql(EVENT))
            .bind(computer.0)
            .bind(activation.0)
            .bind(status)
            .bind(millis(now))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    pub(super) async fn affect_rows(
        &self,
        activation: ActivationId,
        computers: &[ComputerId],
        options: &AffectOptions,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut ids: Vec<i64> = computers.iter().map(|c| c.0).collect();
        ids.sort_unstable();
        // A computer named twice gets one row and, as in the memory store, two events.
        let repeated: Vec<i64> = ids
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect();
        ids.dedup();
        let (ids, repeated) = (&ids, &repeated);
        self.retry(|| async move {
            let mut tx = self.begin().await?;
            let package = self
                .package_of_activation(&mut tx, activation)
                .await?
                .ok_or_else(|| StoreError::not_found("activation", activation))?;
            let upsert = self.pick(
                " ON CONFLICT (computer, activation) DO UPDATE SET status = NULL, \
                 status_class = 0, forced = excluded.forced, schedule_at = excluded.schedule_at, \
                 post_command = excluded.post_command, changed_at = excluded.changed_at",
                " ON DUPLICATE KEY UPDATE status = NULL, status_class = 0, \
                 forced = VALUES(forced), schedule_at = VALUES(schedule_at), \
                 post_command = VALUES(post_command), changed_at = VALUES(changed_at)",
            );
            for chunk in ids.chunks(CHUNK) {
                self.computers_exist(&mut tx, chunk).await?;
                let list = self.in_ids(chunk.len());
                let sql = format!(
                    "SELECT computer, activation FROM affectations \
                     WHERE package = ? AND activation <> ? AND computer {list} LIMIT 1"
                );
                let query = sqlx::query(self.dynamic(&sql))
                    .bind(package)
                    .bind(activation.0);
                let other = bind_ids!(self, query, chunk)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(other) = other {
                    let computer: i64 = other.try_get(0)?;
                    let through: i64 = other.try_get(1)?;
                    return Err(StoreError::conflict(
                        "affectation",
                        format!(
                            "of package {package} to computer {computer} (activation {through})"
                        ),
                    )
                    .into());
                }
                let sql = format!(
                    "INSERT INTO affectations (computer, activation, package, status, \
                     status_class, forced, schedule_at, post_command, changed_at) \
                     SELECT id, ?, ?, NULL, 0, ?, ?, ?, ? FROM computers WHERE id {list}{upsert}"
                );
                let query = sqlx::query(self.dynamic(&sql))
                    .bind(activation.0)
                    .bind(package)
                    .bind(i64::from(options.force))
                    .bind(options.schedule.map(millis))
                    .bind(options.post_command.as_deref())
                    .bind(millis(now));
                bind_ids!(self, query, chunk).execute(&mut *tx).await?;
                let sql = format!(
                    "INSERT INTO status_events (computer, activation, status, changed_at) \
                     SELECT id, ?, NULL, ? FROM computers WHERE id {list} ORDER BY id"
                );
                let query = sqlx::query(self.dynamic(&sql))
                    .bind(activation.0)
                    .bind(millis(now));
                bind_ids!(self, query, chunk).execute(&mut *tx).await?;
            }
            for &c in repeated {
                self.event(&mut tx, ComputerId(c), activation, None, now)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    pub(super) async fn affect_group_row(
        &self,
        group: GroupId,
        activation: ActivationId,
        options: &AffectOptions,
    ) -> Result<(), StoreError> {
        self.retry(|| async move {
            let mut tx = self.begin().await?;
            let exists = sqlx::query(self.sql("SELECT 1 FROM static_groups WHERE id = ?"))
                .bind(group.0)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::not_found("group", group).into());
            }
            if self
                .package_of_activation(&mut tx, activation)
                .await?
                .is_none()
            {
                return Err(StoreError::not_found("activation", activation).into());
            }
            sqlx::query(self.sql(self.pick(
                "INSERT INTO group_affectations (grp, activation, forced, schedule_at, \
                 post_command) VALUES (?, ?, ?, ?, ?) ON CONFLICT (grp, activation) DO UPDATE \
                 SET forced = excluded.forced, schedule_at = excluded.schedule_at, \
                 post_command = excluded.post_command",
                "INSERT INTO group_affectations (grp, activation, forced, schedule_at, \
                 post_command) VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE \
                 forced = VALUES(forced), schedule_at = VALUES(schedule_at), \
                 post_command = VALUES(post_command)",
            )))
            .bind(group.0)
            .bind(activation.0)
            .bind(i64::from(options.force))
            .bind(options.schedule.map(millis))
            .bind(options.post_command.as_deref())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    pub(super) async fn unaffect_group_row(
        &self,
        group: GroupId,
        activation: ActivationId,
    ) -> Result<bool, StoreError> {
        self.retry(|| async move {
            let _turn = self.write_turn().await;
            let done = sqlx::query(
                self.sql("DELETE FROM group_affectations WHERE grp = ? AND activation = ?"),
            )
            .bind(group.0)
            .bind(activation.0)
            .execute(self.pool())
            .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    pub(super) async fn adopt_rows(
        &self,
        computer: ComputerId,
        offered: &[GroupAffectation],
        now: Timestamp,
    ) -> Result<Vec<ActivationId>, StoreError> {
        self.retry(|| async move {
            let mut tx = self.begin().await?;
            self.computer_exists(&mut tx, computer).await?;
            let mut adopted = Vec::new();
            for g in offered {
                let Some(package) = self.package_of_activation(&mut tx, g.activation).await? else {
                    continue;
                };
                let has = sqlx::query(
                    self.sql("SELECT 1 FROM affectations WHERE package = ? AND computer = ?"),
                )
                .bind(package)
                .bind(computer.0)
                .fetch_optional(&mut *tx)
                .await?;
                if has.is_some() {
                    continue;
                }
                sqlx::query(self.sql(
                    "INSERT INTO affectations (computer, activation, package, status, \
                     status_class, forced, schedule_at, post_command, changed_at) \
                     VALUES (?, ?, ?, NULL, 0, ?, ?, ?, ?)",
                ))
                .bind(computer.0)
                .bind(g.activation.0)
                .bind(package)
                .bind(i64::from(g.options.force))
                .bind(g.options.schedule.map(millis))
                .bind(g.options.post_command.as_deref())
                .bind(millis(now))
                .execute(&mut *tx)
                .await?;
                self.event(&mut tx, computer, g.activation, None, now)
                    .await?;
                adopted.push(g.activation);
            }
            tx.commit().await?;
            Ok(adopted)
        })
        .await
    }

    pub(super) async fn unaffect_rows(
        &self,
        activation: ActivationId,
        computers: &[ComputerId],
    ) -> Result<u64, StoreError> {
        self.delete_for_computers(
            "DELETE FROM affectations WHERE activation = ? AND computer",
            activation.0,
            computers,
        )
        .await
    }

    /// Runs `delete` (`DELETE … WHERE <key> = ? AND computer`, completed with `IN (…)`)
    /// for `key` and these computers, in chunks, in one transaction; returns the rows
    /// deleted.
    pub(super) async fn delete_for_computers(
        &self,
        delete: &'static str,
        key: i64,
        computers: &[ComputerId],
    ) -> Result<u64, StoreError> {
        let ids: Vec<i64> = computers.iter().map(|c| c.0).collect();
        let ids = &ids;
        self.retry(|| async move {
            let mut tx = self.begin().await?;
            let mut removed = 0;
            for chunk in ids.chunks(CHUNK) {
                let sql = format!("{delete} {}", self.in_ids(chunk.len()));
                let query = sqlx::query(self.dynamic(&sql)).bind(key);
                removed += bind_ids!(self, query, chunk)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
            Ok(removed)
        })
        .await
    }

    pub(super) async fn affectation_row_of(
        &self,
        computer: ComputerId,
        activation: ActivationId,
    ) -> Result<Option<Affectation>, StoreError> {
        self.read(async {
            let row = sqlx::query(self.sql(concat!(
                "SELECT ",
                affectation_columns!(),
                " FROM affectations a WHERE a.computer = ? AND a.activation = ?"
            )))
            .bind(computer.0)
            .bind(activation.0)
            .fetch_optional(self.pool())
            .await?;
            row.map(|r| self.affectation_row(&r)).transpose()
        })
        .await
    }

    pub(super) async fn affectation_rows_of(
        &self,
        computer: ComputerId,
    ) -> Result<Vec<Affectation>, StoreError> {
        self.read(async {
            let rows = sqlx::query(self.sql(concat!(
                "SELECT ",
                affectation_columns!(),
                " FROM affectations a WHERE a.computer = ? ORDER BY a.activation"
            )))
            .bind(computer.0)
            .fetch_all(self.pool())
            .await?;
            rows.iter().map(|r| self.affectation_row(r)).collect()
        })
        .await
    }

    pub(super) async fn group_affectation_rows(
        &self,
        group: GroupId,
    ) -> Result<Vec<GroupAffectation>, StoreError> {
        self.read(async {
            let rows = sqlx::query(self.sql(
                "SELECT grp, activation, forced, schedule_at, post_command \
                 FROM group_affectations WHERE grp = ? ORDER BY activation",
            ))
            .bind(group.0)
            .fetch_all(self.pool())
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(GroupAffectation {
                        group: GroupId(r.try_get("grp")?),
                        activation: ActivationId(r.try_get("activation")?),
                        options: self.options_row(r)?,
                    })
                })
                .collect()
        })
        .await
    }

    pub(super) async fn notify_rows(
        &self,
        computer: ComputerId,
        activations: &[ActivationId],
        now: Timestamp,
    ) -> Result<Vec<ActivationId>, StoreError> {
        let mut ids: Vec<i64> = activations.iter().map(|a| a.0).collect();
        ids.sort_unstable();
        ids.dedup();
        let changed = if let Some(direct) = self.direct() {
            let _turn = self.write_turn().await;
            self.retry(|| {
                let (store, ids) = (self.clone(), ids.clone());
                direct.run(move |conn| store.notify_direct(conn, computer, &ids, now))
            })
            .await?
        } else {
            self.notify_pooled(computer, &ids, now).await?
        };
        // In the caller's order, each once.
        let changed: std::collections::BTreeSet<i64> = changed.into_iter().collect();
        let mut seen = std::collections::BTreeSet::new();
        Ok(activations
            .iter()
            .copied()
            .filter(|a| changed.contains(&a.0) && seen.insert(a.0))
            .collect())
    }

    /// Notifies through the pool, in one transaction of [`notify_chunk`](Self::notify_chunk)s.
    async fn notify_pooled(
        &self,
        computer: ComputerId,
        ids: &[i64],
        now: Timestamp,
    ) -> Result<Vec<i64>, StoreError> {
        self.retry(|| async move {
            let mut tx = self.begin().await?;
            let mut changed = Vec::new();
            for chunk in ids.chunks(CHUNK) {
                changed.extend(self.notify_chunk(&mut tx, computer, chunk, now).await?);
            }
            tx.commit().await?;
            Ok(changed)
        })
        .await
    }

    /// [`notify_chunk`](Self::notify_chunk) on a direct `SQLite` connection, for every
    /// chunk in one transaction.
    fn notify_direct(
        &self,
        conn: &mut rusqlite::Connection,
        computer: ComputerId,
        ids: &[i64],
        now: Timestamp,
    ) -> Attempt<Vec<i64>> {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut changed = Vec::new();
        let class = class_key(StatusClass::Notified);
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "{} RETURNING activation",
                notify_update(&self.in_ids(chunk.len()))
            );
            let mut update = tx.prepare_cached(&sql)?;
            bind_all(
                &mut update,
                &[
                    &DeploymentStatus::NOTIFIED,
                    &class,
                    &millis(now),
                    &computer.0,
                ],
            )?;
            for (i, id) in chunk.iter().enumerate() {
                update.raw_bind_parameter(i + 5, id)?;
            }
            let mut rows = update.raw_query();
            let first = changed.len();
            while let Some(row) = rows.next()? {
                changed.push(row.get::<_, i64>(0)?);
            }
            let notified = &changed[first..];
            if !notified.is_empty() {
                let mut events = tx.prepare_cached(&events_insert(notified.len()))?;
                for (i, activation) in notified.iter().enumerate() {
                    let at = 4 * i;
                    events.raw_bind_parameter(at + 1, computer.0)?;
                    events.raw_bind_parameter(at + 2, activation)?;
                    events.raw_bind_parameter(at + 3, DeploymentStatus::NOTIFIED)?;
                    events.raw_bind_parameter(at + 4, millis(now))?;
                }
                events.raw_execute()?;
            }
        }
        tx.commit()?;
        Ok(changed)
    }

    /// Notifies the waiting rows among `activations` and audits them; returns those it
    /// changed. Only a waiting row changes, and a concurrent call that changed it first
    /// makes this one skip it: `UPDATE … RETURNING` is one atomic statement (`SQLite`
    /// under its write lock, `PostgreSQL` re-checking the condition after a row lock);
    /// `MySQL` locks the waiting rows first with `SELECT … FOR UPDATE`, a current read.
    async fn notify_chunk(
        &self,
        tx: &mut AnyConnection,
        computer: ComputerId,
        activations: &[i64],
        now: Timestamp,
    ) -> Attempt<Vec<i64>> {
        let update = |n: usize| notify_update(&self.in_ids(n));
        let changed: Vec<i64> = if self.is_mysql() {
            let sql = format!(
                "SELECT activation FROM affectations \
                 WHERE computer = ? AND activation {} AND status IS NULL FOR UPDATE",
                self.in_ids(activations.len())
            );
            let query = sqlx::query_scalar(self.dynamic(&sql)).bind(computer.0);
            let waiting: Vec<i64> = bind_ids!(self, query, activations)
                .fetch_all(&mut *tx)
                .await?;
            if !waiting.is_empty() {
                // Only the rows locked above: a row re-affected meanwhile waits for a later
                // call.
                let query = sqlx::query(self.dynamic(&update(waiting.len())))
                    .bind(DeploymentStatus::NOTIFIED)
                    .bind(class_key(StatusClass::Notified))
                    .bind(millis(now))
                    .bind(computer.0);
                bind_ids!(self, query, &waiting[..])
                    .execute(&mut *tx)
                    .await?;
            }
            waiting
        } else {
            let sql = format!("{} RETURNING activation", update(activations.len()));
            let query = sqlx::query_scalar(self.dynamic(&sql))
                .bind(DeploymentStatus::NOTIFIED)
                .bind(class_key(StatusClass::Notified))
                .bind(millis(now))
                .bind(computer.0);
            bind_ids!(self, query, activations)
                .fetch_all(&mut *tx)
                .await?
        };
        if !changed.is_empty() {
            let mut insert = sqlx::query(self.dynamic(&events_insert(changed.len())));
            for a in &changed {
                insert = insert
                    .bind(computer.0)
                    .bind(*a)
                    .bind(DeploymentStatus::NOTIFIED)
                    .bind(millis(now));
            }
            insert.execute(&mut *tx).await?;
        }
        Ok(changed)
    }

    pub(super) async fn mark_in_history_row(
        &self,
        computer: ComputerId,
        activation: ActivationId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let status = StatusCode::SuccessAlreadyInHistory.to_string();
        let status = status.as_str();
        self.retry(|| async move {
            let mut tx = self.begin().await?;
            let done = sqlx::query(self.sql(
                "UPDATE affectations SET status = ?, status_class = ?, changed_at = ? \
                 WHERE computer = ? AND activation = ? AND (status IS NULL OR status = ?)",
            ))
            .bind(status)
            .bind(class_key(StatusClass::of_stored(Some(status))))
            .bind(millis(now))
            .bind(computer.0)
            .bind(activation.0)
            .bind(DeploymentStatus::NOTIFIED)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            self.event(&mut tx, computer, activation, Some(status), now)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    pub(super) async fn record_result_row(
        &self,
        computer: ComputerId,
        package: PackageId,
        status: &str,
        now: Timestamp,
    ) -> Result<ResultOutcome, StoreError> {
        for _ in 0..CAS_ATTEMPTS {
            let outcome = self
                .retry(|| self.record_result_once(computer, package, status, now))
                .await?;
            if let Some(outcome) = outcome {
                return Ok(outcome);
            }
        }
        Err(StoreError::Unavailable {
            backend: self.backend().name(),
            source: std::sync::Arc::new(Contention),
        })
    }

    /// One compare-and-swap: `None` when the status changed between the read and the
    /// update.
    async fn record_result_once(
        &self,
        computer: ComputerId,
        package: PackageId,
        status: &str,
        now: Timestamp,
    ) -> Attempt<Option<ResultOutcome>> {
        let row =
            sqlx::query(self.sql(
                "SELECT activation, status FROM affectations WHERE package = ? AND computer = ?",
            ))
            .bind(package_key(package))
            .bind(computer.0)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else {
            return Ok(Some(ResultOutcome::NotAffected));
        };
        let activation = ActivationId(row.try_get("activation")?);
        let previous: Option<String> = row.try_get("status")?;
        if previous.as_deref() == Some(status) {
            return Ok(Some(ResultOutcome::Unchanged { activation }));
        }
        let mut tx = self.begin().await?;
        let update = sqlx::query(self.sql(match previous {
            None => {
                "UPDATE affectations SET status = ?, status_class = ?, changed_at = ? \
                 WHERE computer = ? AND activation = ? AND status IS NULL"
            }
            Some(_) => {
                "UPDATE affectations SET status = ?, status_class = ?, changed_at = ? \
                 WHERE computer = ? AND activation = ? AND status = ?"
            }
        }))
        .bind(status)
        .bind(class_key(StatusClass::of_stored(Some(status))))
        .bind(millis(now))
        .bind(computer.0)
        .bind(activation.0);
        let update = match previous.as_deref() {
            Some(p) => update.bind(p),
            None => update,
        };
        if update.execute(&mut *tx).await?.rows_affected() == 0 {
            return Ok(None);
        }
        self.event(&mut tx, computer, activation, Some(status), now)
            .await?;
        tx.commit().await?;
        Ok(Some(ResultOutcome::Recorded {
            activation,
            previous,
        }))
    }

    pub(super) async fn status_event_rows(
        &self,
        computer: ComputerId,
        activation: ActivationId,
    ) -> Result<Vec<StatusEvent>, StoreError> {
        self.read(async {
            let rows = sqlx::query(self.sql(
                "SELECT status, changed_at FROM status_events \
                 WHERE computer = ? AND activation = ? ORDER BY id",
            ))
            .bind(computer.0)
            .bind(activation.0)
            .fetch_all(self.pool())
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(StatusEvent {
                        computer,
                        activation,
                        status: r.try_get("status")?,
                        at: self.time(r.try_get("changed_at")?)?,
                    })
                })
                .collect::<Result<_, Failure>>()
        })
        .await
    }
}

/// A status kept changing under `record_result` more often than it retries.
#[derive(Debug, thiserror::Error)]
#[error("the affectation's status kept changing during the update")]
struct Contention;

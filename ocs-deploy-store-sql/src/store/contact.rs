//! What a PROLOG needs, in a handful of indexed queries on one connection.

use ocs_deploy_core::Timestamp;
use ocs_deploy_core::protocol::DeviceId;
use ocs_deploy_core::status::DeploymentStatus;
use ocs_deploy_core::store::{
    Activation, ContactContext, GroupAffectation, GroupId, SettingValue, StoreError,
};
use sqlx::AnyConnection;

use crate::SqlStore;
use crate::direct::ColumnNames;
use crate::error::Attempt;
use crate::sql::{COMPUTER_COLUMNS, Columns, activation_columns, affectation_columns, millis};

/// The computer's download history.
const HISTORY: &str = "SELECT package FROM history WHERE computer = ? ORDER BY package";
/// The computer's groups.
const GROUPS: &str = "SELECT grp FROM group_members WHERE computer = ? ORDER BY grp";
/// The computer's waiting and notified affectations, with their activations.
const PENDING: &str = concat!(
    "SELECT ",
    affectation_columns!(),
    ", ",
    activation_columns!(),
    " FROM affectations a JOIN activations v ON v.id = a.activation \
     WHERE a.computer = ? AND (a.status IS NULL OR a.status = ?) ORDER BY a.activation"
);
/// Affectations of the computer's groups (bound twice), with their activations, for
/// packages it has no affectation of yet.
const GROUP_PENDING: &str = concat!(
    "SELECT ga.grp, ga.forced, ga.schedule_at, ga.post_command, ",
    activation_columns!(),
    " FROM group_members m \
     JOIN group_affectations ga ON ga.grp = m.grp \
     JOIN activations v ON v.id = ga.activation \
     WHERE m.computer = ? AND NOT EXISTS (SELECT 1 FROM affectations x \
     WHERE x.package = v.package AND x.computer = ?) \
     ORDER BY ga.grp, ga.activation"
);
/// Settings at every scope that applies to the computer (bound twice).
const SETTINGS: &str = "SELECT scope_kind, scope_id, name, setting_value FROM settings \
     WHERE scope_kind = 0 OR (scope_kind = 2 AND scope_id = ?) \
     OR (scope_kind = 1 AND scope_id IN (SELECT grp FROM group_members WHERE computer = ?))";

/// [`SETTINGS`]' rows in the order a contact context gives them: by scope, then setting.
fn in_scope_order(settings: &mut [SettingValue]) {
    settings.sort_by_key(|s| (s.scope, s.setting));
}

impl SqlStore {
    pub(super) async fn contact_context(
        &self,
        device: &DeviceId,
        now: Timestamp,
    ) -> Result<Option<ContactContext>, StoreError> {
        if let Some(direct) = self.direct() {
            let _turn = self.write_turn().await;
            return self
                .retry(|| {
                    let (store, device) = (self.clone(), device.as_str().to_owned());
                    direct.run(move |conn| store.contact_direct(conn, &device, now))
                })
                .await;
        }
        self.retry(|| self.contact_once(device, now)).await
    }

    /// [`contact_once`](Self::contact_once) on a direct `SQLite` connection: the same
    /// statements, in one transaction that starts with the contact's write.
    fn contact_direct(
        &self,
        conn: &mut rusqlite::Connection,
        device: &str,
        now: Timestamp,
    ) -> Attempt<Option<ContactContext>> {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let computer = {
            let sql = format!(
                "UPDATE computers SET last_contact = ? WHERE device_id = ? RETURNING {COMPUTER_COLUMNS}"
            );
            let mut statement = tx.prepare_cached(&sql)?;
            let names = ColumnNames::of(&statement);
            let mut rows = statement.query(rusqlite::params![millis(now), device])?;
            match rows.next()? {
                Some(row) => self.computer_row(&names.row(row))?,
                None => return Ok(None),
            }
        };
        let id = computer.id.0;
        let download_server = match computer.download_server {
            Some(server) => {
                let sql = format!("SELECT {COMPUTER_COLUMNS} FROM computers WHERE id = ?");
                let mut statement = tx.prepare_cached(&sql)?;
                let names = ColumnNames::of(&statement);
                let mut rows = statement.query([server.0])?;
                rows.next()?
                    .map(|r| self.computer_row(&names.row(r)))
                    .transpose()?
            }
            None => None,
        };
        let history = tx
            .prepare_cached(HISTORY)?
            .query_map([id], |r| r.get::<_, i64>(0))?
            .map(|p| self.package_id(p?))
            .collect::<Attempt<Vec<_>>>()?;
        let groups = tx
            .prepare_cached(GROUPS)?
            .query_map([id], |r| r.get(0).map(GroupId))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut pending = Vec::new();
        {
            let mut statement = tx.prepare_cached(PENDING)?;
            let names = ColumnNames::of(&statement);
            let mut rows = statement.query(rusqlite::params![id, DeploymentStatus::NOTIFIED])?;
            while let Some(r) = rows.next()? {
                let r = names.row(r);
                pending.push((self.affectation_row(&r)?, self.activation_row(&r)?));
            }
        }
        let mut group_affectations = Vec::new();
        if !groups.is_empty() {
            let mut statement = tx.prepare_cached(GROUP_PENDING)?;
            let names = ColumnNames::of(&statement);
            let mut rows = statement.query([id, id])?;
            while let Some(r) = rows.next()? {
                group_affectations.push(self.group_affectation_row(&names.row(r))?);
            }
        }
        let mut settings = Vec::new();
        {
            let mut statement = tx.prepare_cached(SETTINGS)?;
            let names = ColumnNames::of(&statement);
            let mut rows = statement.query([id, id])?;
            while let Some(r) = rows.next()? {
                settings.push(self.setting_row(&names.row(r))?);
            }
        }
        in_scope_order(&mut settings);
        tx.commit()?;
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

    async fn contact_once(
        &self,
        device: &DeviceId,
        now: Timestamp,
    ) -> Attempt<Option<ContactContext>> {
        let turn = self.write_turn().await;
        let mut conn = self.pool().acquire().await?;
        let done =
            sqlx::query(self.sql("UPDATE computers SET last_contact = ? WHERE device_id = ?"))
                .bind(millis(now))
                .bind(device.as_str())
                .execute(&mut *conn)
                .await?;
        drop(turn);
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let sql = format!("SELECT {COMPUTER_COLUMNS} FROM computers WHERE device_id = ?");
        let Some(row) = sqlx::query(self.dynamic(&sql))
            .bind(device.as_str())
            .fetch_optional(&mut *conn)
            .await?
        else {
            return Ok(None);
        };
        let computer = self.computer_row(&row)?;
        let id = computer.id.0;
        let download_server = match computer.download_server {
            Some(server) => {
                let sql = format!("SELECT {COMPUTER_COLUMNS} FROM computers WHERE id = ?");
                sqlx::query(self.dynamic(&sql))
                    .bind(server.0)
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(|r| self.computer_row(&r))
                    .transpose()?
            }
            None => None,
        };
        let history: Vec<i64> = sqlx::query_scalar(self.sql(HISTORY))
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
        let history = history
            .into_iter()
            .map(|p| self.package_id(p))
            .collect::<Attempt<Vec<_>>>()?;
        let groups: Vec<i64> = sqlx::query_scalar(self.sql(GROUPS))
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
        let groups: Vec<GroupId> = groups.into_iter().map(GroupId).collect();
        let rows = sqlx::query(self.sql(PENDING))
            .bind(id)
            .bind(DeploymentStatus::NOTIFIED)
            .fetch_all(&mut *conn)
            .await?;
        let pending = rows
            .iter()
            .map(|r| Ok((self.affectation_row(r)?, self.activation_row(r)?)))
            .collect::<Attempt<Vec<_>>>()?;
        let group_affectations = if groups.is_empty() {
            Vec::new()
        } else {
            self.unadopted_group_affectations(&mut conn, id).await?
        };
        let settings = self.settings_applying(&mut conn, id).await?;
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

    /// Affectations of the computer's groups, with their activations, for packages it has
    /// no affectation of yet.
    async fn unadopted_group_affectations(
        &self,
        conn: &mut AnyConnection,
        id: i64,
    ) -> Attempt<Vec<(GroupAffectation, Activation)>> {
        let rows = sqlx::query(self.sql(GROUP_PENDING))
            .bind(id)
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
        rows.iter().map(|r| self.group_affectation_row(r)).collect()
    }

    /// A group affectation and its activation, from [`GROUP_PENDING`]'s columns.
    fn group_affectation_row(&self, row: &impl Columns) -> Attempt<(GroupAffectation, Activation)> {
        let activation = self.activation_row(row)?;
        Ok((
            GroupAffectation {
                group: GroupId(row.int("grp")?),
                activation: activation.id,
                options: self.options_row(row)?,
            },
            activation,
        ))
    }

    /// Settings at every scope that applies to the computer, in scope then setting order.
    async fn settings_applying(
        &self,
        conn: &mut AnyConnection,
        id: i64,
    ) -> Attempt<Vec<SettingValue>> {
        let rows = sqlx::query(self.sql(SETTINGS))
            .bind(id)
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
        let mut settings = rows
            .iter()
            .map(|r| self.setting_row(r))
            .collect::<Attempt<Vec<_>>>()?;
        in_scope_order(&mut settings);
        Ok(settings)
    }
}

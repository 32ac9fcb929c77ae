//! Computers, their history, static groups and settings.

use std::fmt::Write as _;

use ocs_deploy_core::PackageId;
use ocs_deploy_core::Timestamp;
use ocs_deploy_core::protocol::DeviceId;
use ocs_deploy_core::store::{
    Computer, ComputerFilter, ComputerId, ComputerUpdate, Group, GroupId, Setting, SettingScope,
    SettingValue, StoreError, TextMatch,
};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::SqlStore;
use crate::error::{Attempt, corrupt, is_unique_violation};
use crate::sql::{CHUNK, COMPUTER_COLUMNS, Columns, bind_ids, millis, package_key};

/// A setting scope as stored: `(scope_kind, scope_id)`.
pub(super) fn scope_key(scope: SettingScope) -> (i64, i64) {
    match scope {
        SettingScope::Global => (0, 0),
        SettingScope::Group(g) => (1, g.0),
        SettingScope::Computer(c) => (2, c.0),
    }
}

/// A `LIKE` pattern that matches `text` literally (escape character `!`).
fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for ch in text.chars() {
        if matches!(ch, '!' | '%' | '_') {
            out.push('!');
        }
        out.push(ch);
    }
    out
}

impl SqlStore {
    pub(super) fn setting_row(&self, row: &impl Columns) -> Attempt<SettingValue> {
        let kind = row.int("scope_kind")?;
        let id = row.int("scope_id")?;
        let name = row.text("name")?;
        let scope = match kind {
            0 => SettingScope::Global,
            1 => SettingScope::Group(GroupId(id)),
            2 => SettingScope::Computer(ComputerId(id)),
            _ => return Err(corrupt(self.backend(), "setting scope", kind)),
        };
        Ok(SettingValue {
            scope,
            setting: Setting::from_ocs_name(&name)
                .ok_or_else(|| corrupt(self.backend(), "setting name", name))?,
            value: row.int("setting_value")?,
        })
    }

    /// Fails with `NotFound` unless the computer exists.
    pub(super) async fn computer_exists(
        &self,
        conn: &mut AnyConnection,
        id: ComputerId,
    ) -> Attempt<()> {
        let row = sqlx::query(self.sql("SELECT 1 FROM computers WHERE id = ?"))
            .bind(id.0)
            .fetch_optional(&mut *conn)
            .await?;
        match row {
            Some(_) => Ok(()),
            None => Err(StoreError::not_found("computer", id).into()),
        }
    }

    /// Fails with `NotFound` naming the first missing computer, unless all exist.
    pub(super) async fn computers_exist(
        &self,
        conn: &mut AnyConnection,
        ids: &[i64],
    ) -> Attempt<()> {
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT id FROM computers WHERE id {}",
                self.in_ids(chunk.len())
            );
            let query = sqlx::query_scalar(self.dynamic(&sql));
            let found: Vec<i64> = bind_ids!(self, query, chunk).fetch_all(&mut *conn).await?;
            if found.len() != chunk.len() {
                let found: std::collections::BTreeSet<i64> = found.into_iter().collect();
                let missing = chunk
                    .iter()
                    .find(|c| !found.contains(c))
                    .copied()
                    .unwrap_or_default();
                return Err(StoreError::not_found("computer", missing).into());
            }
        }
        Ok(())
    }

    /// Fails with `NotFound` unless the group exists.
    async fn group_exists(&self, conn: &mut AnyConnection, id: GroupId) -> Attempt<()> {
        let row = sqlx::query(self.sql("SELECT 1 FROM static_groups WHERE id = ?"))
            .bind(id.0)
            .fetch_optional(&mut *conn)
            .await?;
        match row {
            Some(_) => Ok(()),
            None => Err(StoreError::not_found("group", id).into()),
        }
    }

    pub(super) async fn upsert_computer_row(
        &self,
        u: &ComputerUpdate,
        now: Timestamp,
    ) -> Result<ComputerId, StoreError> {
        for _ in 0..8 {
            // `None`: another server created the computer between our read and our insert;
            // run again, as an update.
            if let Some(id) = self.retry(|| self.upsert_computer_once(u, now)).await? {
                return Ok(id);
            }
        }
        Err(StoreError::conflict("computer", &u.device_id))
    }

    async fn upsert_computer_once(
        &self,
        u: &ComputerUpdate,
        now: Timestamp,
    ) -> Attempt<Option<ComputerId>> {
        let mut tx = self.begin().await?;
        let existing: Option<i64> =
            sqlx::query_scalar(self.sql("SELECT id FROM computers WHERE device_id = ?"))
                .bind(u.device_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let id = if let Some(id) = existing {
            sqlx::query(self.sql(
                "UPDATE computers SET name = ?, os_name = ?, ip_address = ?, tag = ?, \
                 last_inventory = ? WHERE id = ?",
            ))
            .bind(u.name.as_deref())
            .bind(u.os_name.as_deref())
            .bind(u.ip_address.as_deref())
            .bind(u.tag.as_deref())
            .bind(millis(now))
            .bind(id)
            .execute(&mut *tx)
            .await?;
            id
        } else {
            let query = sqlx::query(self.sql(self.pick(
                "INSERT INTO computers (device_id, name, os_name, ip_address, tag, \
                 last_inventory) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                "INSERT INTO computers (device_id, name, os_name, ip_address, tag, \
                 last_inventory) VALUES (?, ?, ?, ?, ?, ?)",
            )))
            .bind(u.device_id.as_str())
            .bind(u.name.as_deref())
            .bind(u.os_name.as_deref())
            .bind(u.ip_address.as_deref())
            .bind(u.tag.as_deref())
            .bind(millis(now));
            match self.insert_id(&mut tx, query).await {
                Err(crate::error::Failure::Sql(e)) if is_unique_violation(&e) => return Ok(None),
                other => other?,
            }
        };
        tx.commit().await?;
        Ok(Some(ComputerId(id)))
    }

    pub(super) async fn computer_by_id(
        &self,
        id: ComputerId,
    ) -> Result<Option<Computer>, StoreError> {
        self.read(async {
            let sql = format!("SELECT {COMPUTER_COLUMNS} FROM computers WHERE id = ?");
            let row = sqlx::query(self.dynamic(&sql))
                .bind(id.0)
                .fetch_optional(self.pool())
                .await?;
            row.map(|r| self.computer_row(&r)).transpose()
        })
        .await
    }

    pub(super) async fn computer_by_device_id(
        &self,
        device: &DeviceId,
    ) -> Result<Option<Computer>, StoreError> {
        self.read(async {
            let sql = format!("SELECT {COMPUTER_COLUMNS} FROM computers WHERE device_id = ?");
            let row = sqlx::query(self.dynamic(&sql))
                .bind(device.as_str())
                .fetch_optional(self.pool())
                .await?;
            row.map(|r| self.computer_row(&r)).transpose()
        })
        .await
    }

    pub(super) async fn find_computer_ids(
        &self,
        filter: &ComputerFilter,
    ) -> Result<Vec<ComputerId>, StoreError> {
        self.read(async {
            let mut sql = String::from("SELECT id FROM computers WHERE 1 = 1");
            let mut values = Vec::new();
            for (column, criterion) in [
                ("name", &filter.name),
                ("os_name", &filter.os_name),
                ("ip_address", &filter.ip_address),
                ("tag", &filter.tag),
            ] {
                let Some(criterion) = criterion else { continue };
                // ASCII-case-insensitive, as `TextMatch::matches`: both sides lowered.
                let (op, value) = match criterion {
                    TextMatch::Equals(v) => ("= ?", v.to_ascii_lowercase()),
                    TextMatch::StartsWith(v) => (
                        "LIKE ? ESCAPE '!'",
                        format!("{}%", like_literal(&v.to_ascii_lowercase())),
                    ),
                    TextMatch::Contains(v) => (
                        "LIKE ? ESCAPE '!'",
                        format!("%{}%", like_literal(&v.to_ascii_lowercase())),
                    ),
                };
                let _ = write!(sql, " AND {column} IS NOT NULL AND LOWER({column}) {op}");
                values.push(value);
            }
            sql.push_str(" ORDER BY id");
            let mut query = sqlx::query_scalar::<_, i64>(self.dynamic(&sql));
            for v in values {
                query = query.bind(v);
            }
            let ids = query.fetch_all(self.pool()).await?;
            Ok(ids.into_iter().map(ComputerId).collect())
        })
        .await
    }

    pub(super) async fn set_server(
        &self,
        computer: ComputerId,
        server: Option<ComputerId>,
    ) -> Result<(), StoreError> {
        self.retry(|| async move {
            let mut tx = self.begin().await?;
            if let Some(server) = server {
                self.computer_exists(&mut tx, server).await?;
            }
            let done =
                sqlx::query(self.sql("UPDATE computers SET download_server = ? WHERE id = ?"))
                    .bind(server.map(|s| s.0))
                    .bind(computer.0)
                    .execute(&mut *tx)
                    .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found("computer", computer).into());
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    pub(super) async fn replace_history_rows(
        &self,
        computer: ComputerId,
        packages: &[PackageId],
    ) -> Result<(), StoreError> {
        let mut keys: Vec<i64> = packages.iter().map(|&p| package_key(p)).collect();
        keys.sort_unstable();
        keys.dedup();
        let keys = &keys;
        self.retry(|| async move {
            let mut tx = self.begin().await?;
            self.computer_exists(&mut tx, computer).await?;
            sqlx::query(self.sql("DELETE FROM history WHERE computer = ?"))
                .bind(computer.0)
                .execute(&mut *tx)
                .await?;
            for chunk in keys.chunks(CHUNK) {
                let rows = vec!["(?, ?)"; chunk.len()].join(", ");
                let sql = format!("INSERT INTO history (computer, package) VALUES {rows}");
                let mut query = sqlx::query(self.dynamic(&sql));
                for p in chunk {
                    query = query.bind(computer.0).bind(*p);
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    pub(super) async fn history_of(
        &self,
        computer: ComputerId,
    ) -> Result<Vec<PackageId>, StoreError> {
        self.read(async {
            let rows: Vec<i64> = sqlx::query_scalar(
                self.sql("SELECT package FROM history WHERE computer = ? ORDER BY package"),
            )
            .bind(computer.0)
            .fetch_all(self.pool())
            .await?;
            rows.into_iter().map(|p| self.package_id(p)).collect()
        })
        .await
    }

    pub(super) async fn create_group_row(
        &self,
        name: &str,
        visible: bool,
    ) -> Result<GroupId, StoreError> {
        self.retry(|| async move {
            let _turn = self.write_turn().await;
            let mut conn = self.pool().acquire().await?;
            let query = sqlx::query(self.sql(self.pick(
                "INSERT INTO static_groups (name, is_visible) VALUES (?, ?) RETURNING id",
                "INSERT INTO static_groups (name, is_visible) VALUES (?, ?)",
            )))
            .bind(name)
            .bind(i64::from(visible));
            match self.insert_id(&mut conn, query).await {
                Err(crate::error::Failure::Sql(e)) if is_unique_violation(&e) => {
                    Err(StoreError::conflict("group", name).into())
                }
                other => other.map(GroupId),
            }
        })
        .await
    }

    fn group_row(row: &AnyRow) -> Attempt<Group> {
        Ok(Group {
            id: GroupId(row.try_get("id")?),
            name: row.try_get("name")?,
            visible: row.try_get::<i64, _>("is_visible")? != 0,
        })
    }

    pub(super) async fn group_named(&self, name: &str) -> Result<Option<Group>, StoreError> {
        self.read(async {
            let row = sqlx::query(
                self.sql("SELECT id, name, is_visible FROM static_groups WHERE name = ?"),
            )
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
            row.map(|r| Self::group_row(&r)).transpose()
        })
        .await
    }

    pub(super) async fn all_groups(&self) -> Result<Vec<Group>, StoreError> {
        self.read(async {
            let rows =
                sqlx::query(self.sql("SELECT id, name, is_visible FROM static_groups ORDER BY id"))
                    .fetch_all(self.pool())
                    .await?;
            rows.iter().map(Self::group_row).collect()
        })
        .await
    }

    pub(super) async fn add_member_rows(
        &self,
        group: GroupId,
        computers: &[ComputerId],
    ) -> Result<(), StoreError> {
        let mut ids: Vec<i64> = computers.iter().map(|c| c.0).collect();
        ids.sort_unstable();
        ids.dedup();
        let ids = &ids;
        self.retry(|| async move {
            let mut tx = self.begin().await?;
            self.group_exists(&mut tx, group).await?;
            self.computers_exist(&mut tx, ids).await?;
            for chunk in ids.chunks(CHUNK) {
                let rows = vec!["(?, ?)"; chunk.len()].join(", ");
                let sql = if self.is_mysql() {
                    format!("INSERT IGNORE INTO group_members (grp, computer) VALUES {rows}")
                } else {
                    format!(
                        "INSERT INTO group_members (grp, computer) VALUES {rows} \
                         ON CONFLICT DO NOTHING"
                    )
                };
                let mut query = sqlx::query(self.dynamic(&sql));
                for c in chunk {
                    query = query.bind(group.0).bind(*c);
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    pub(super) async fn remove_member_rows(
        &self,
        group: GroupId,
        computers: &[ComputerId],
    ) -> Result<u64, StoreError> {
        self.delete_for_computers(
            "DELETE FROM group_members WHERE grp = ? AND computer",
            group.0,
            computers,
        )
        .await
    }

    pub(super) async fn members_of(&self, group: GroupId) -> Result<Vec<ComputerId>, StoreError> {
        self.read(async {
            let rows: Vec<i64> = sqlx::query_scalar(
                self.sql("SELECT computer FROM group_members WHERE grp = ? ORDER BY computer"),
            )
            .bind(group.0)
            .fetch_all(self.pool())
            .await?;
            Ok(rows.into_iter().map(ComputerId).collect())
        })
        .await
    }

    pub(super) async fn delete_group_rows(&self, group: GroupId) -> Result<bool, StoreError> {
        self.retry(|| async move {
            let mut tx = self.begin().await?;
            // Members and group affectations go by cascade; settings by hand.
            let done = sqlx::query(self.sql("DELETE FROM static_groups WHERE id = ?"))
                .bind(group.0)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            sqlx::query(self.sql("DELETE FROM settings WHERE scope_kind = 1 AND scope_id = ?"))
                .bind(group.0)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    pub(super) async fn set_setting_row(
        &self,
        scope: SettingScope,
        setting: Setting,
        value: Option<i64>,
    ) -> Result<(), StoreError> {
        let (kind, id) = scope_key(scope);
        self.retry(|| async move {
            let mut tx = self.begin().await?;
            match scope {
                SettingScope::Global => {}
                SettingScope::Group(g) => self.group_exists(&mut tx, g).await?,
                SettingScope::Computer(c) => self.computer_exists(&mut tx, c).await?,
            }
            match value {
                Some(value) => {
                    sqlx::query(self.sql(self.pick(
                        "INSERT INTO settings (scope_kind, scope_id, name, setting_value) \
                         VALUES (?, ?, ?, ?) ON CONFLICT (scope_kind, scope_id, name) \
                         DO UPDATE SET setting_value = excluded.setting_value",
                        "INSERT INTO settings (scope_kind, scope_id, name, setting_value) \
                         VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE \
                         setting_value = VALUES(setting_value)",
                    )))
                    .bind(kind)
                    .bind(id)
                    .bind(setting.ocs_name())
                    .bind(value)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query(self.sql(
                        "DELETE FROM settings WHERE scope_kind = ? AND scope_id = ? AND name = ?",
                    ))
                    .bind(kind)
                    .bind(id)
                    .bind(setting.ocs_name())
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    pub(super) async fn settings_at(
        &self,
        scope: SettingScope,
    ) -> Result<Vec<SettingValue>, StoreError> {
        let (kind, id) = scope_key(scope);
        self.read(async {
            let rows = sqlx::query(self.sql(
                "SELECT scope_kind, scope_id, name, setting_value FROM settings \
                 WHERE scope_kind = ? AND scope_id = ?",
            ))
            .bind(kind)
            .bind(id)
            .fetch_all(self.pool())
            .await?;
            let mut out = rows
                .iter()
                .map(|r| self.setting_row(r))
                .collect::<Attempt<Vec<_>>>()?;
            out.sort_by_key(|s| (s.scope, s.setting));
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::like_literal;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_literal("50%_off!\\"), "50!%!_off!!\\");
    }
}

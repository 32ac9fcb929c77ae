//! Packages and their activations.

use ocs_deploy_core::store::{
    Activation, ActivationId, BuiltPackage, NewActivation, PackageRecord, StoreError,
};
use ocs_deploy_core::{PackageId, Priority};
use sqlx::any::AnyRow;
use sqlx::{Executor, Row};

use crate::SqlStore;
use crate::error::{Attempt, corrupt, is_unique_violation};
use crate::sql::{activation_columns, millis, package_key};

const PACKAGE_COLUMNS: &str = "id, name, priority, fragments, size, info, created";

impl SqlStore {
    fn package_row(&self, row: &AnyRow) -> Attempt<PackageRecord> {
        let priority: i64 = row.try_get("priority")?;
        let fragments: i64 = row.try_get("fragments")?;
        let size: i64 = row.try_get("size")?;
        Ok(PackageRecord {
            id: self.package_id(row.try_get("id")?)?,
            name: row.try_get("name")?,
            priority: u8::try_from(priority)
                .ok()
                .and_then(|p| Priority::new(p).ok())
                .ok_or_else(|| corrupt(self.backend(), "priority", priority))?,
            fragments: u32::try_from(fragments)
                .map_err(|_| corrupt(self.backend(), "fragment count", fragments))?,
            size: u64::try_from(size).map_err(|_| corrupt(self.backend(), "size", size))?,
            info: row.try_get("info")?,
            created: self.time(row.try_get("created")?)?,
        })
    }

    pub(super) async fn insert_package_row(&self, p: &PackageRecord) -> Result<(), StoreError> {
        self.retry(|| async move {
            let _turn = self.write_turn().await;
            let done = sqlx::query(self.sql(
                "INSERT INTO packages (id, name, priority, fragments, size, info, created) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            ))
            .bind(package_key(p.id))
            .bind(p.name.as_str())
            .bind(i64::from(p.priority.get()))
            .bind(i64::from(p.fragments))
            .bind(i64::try_from(p.size).unwrap_or(i64::MAX))
            .bind(p.info.as_str())
            .bind(millis(p.created))
            .execute(self.pool())
            .await;
            match done {
                Err(e) if is_unique_violation(&e) => {
                    Err(StoreError::conflict("package", p.id).into())
                }
                other => other.map(drop).map_err(Into::into),
            }
        })
        .await
    }

    pub(super) async fn finish_package_row(
        &self,
        id: PackageId,
        built: &BuiltPackage,
    ) -> Result<(), StoreError> {
        self.retry(|| async move {
            let _turn = self.write_turn().await;
            let done = sqlx::query(
                self.sql("UPDATE packages SET fragments = ?, size = ?, info = ? WHERE id = ?"),
            )
            .bind(i64::from(built.fragments))
            .bind(i64::try_from(built.size).unwrap_or(i64::MAX))
            .bind(built.info.as_str())
            .bind(package_key(id))
            .execute(self.pool())
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found("package", id).into());
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn package_by_id(
        &self,
        id: PackageId,
    ) -> Result<Option<PackageRecord>, StoreError> {
        self.read(async {
            let row = sqlx::query(self.sql(
                "SELECT id, name, priority, fragments, size, info, created FROM packages WHERE id = ?",
            ))
            .bind(package_key(id))
            .fetch_optional(self.pool())
            .await?;
            row.map(|r| self.package_row(&r)).transpose()
        })
        .await
    }

    pub(super) async fn all_packages(&self) -> Result<Vec<PackageRecord>, StoreError> {
        self.read(async {
            let sql = format!("SELECT {PACKAGE_COLUMNS} FROM packages ORDER BY id");
            let rows = self.pool().fetch_all(self.dynamic(&sql)).await?;
            rows.iter().map(|r| self.package_row(r)).collect()
        })
        .await
    }

    pub(super) async fn largest_package_id(&self) -> Result<Option<PackageId>, StoreError> {
        self.read(async {
            let max: Option<i64> = sqlx::query_scalar(self.sql("SELECT MAX(id) FROM packages"))
                .fetch_one(self.pool())
                .await?;
            max.map(|m| self.package_id(m)).transpose()
        })
        .await
    }

    pub(super) async fn delete_package_rows(&self, id: PackageId) -> Result<bool, StoreError> {
        self.retry(|| async move {
            let mut tx = self.begin().await?;
            // Affectations first: MySQL runs no trigger for rows a cascade deletes, and
            // the status counts are kept by triggers. Activations, the trail and group
            // affectations go by cascade.
            sqlx::query(self.sql("DELETE FROM affectations WHERE package = ?"))
                .bind(package_key(id))
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query(self.sql("DELETE FROM packages WHERE id = ?"))
                .bind(package_key(id))
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            sqlx::query(self.sql("DELETE FROM history WHERE package = ?"))
                .bind(package_key(id))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    pub(super) async fn insert_activation_row(
        &self,
        a: &NewActivation,
        now: ocs_deploy_core::Timestamp,
    ) -> Result<ActivationId, StoreError> {
        self.retry(|| async move {
            let mut tx = self.begin().await?;
            let exists = sqlx::query(self.sql("SELECT 1 FROM packages WHERE id = ?"))
                .bind(package_key(a.package))
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::not_found("package", a.package).into());
            }
            let query = sqlx::query(self.sql(self.pick(
                "INSERT INTO activations \
                 (package, info_location, pack_location, cert_path, cert_file, created) \
                 VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                "INSERT INTO activations \
                 (package, info_location, pack_location, cert_path, cert_file, created) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )))
            .bind(package_key(a.package))
            .bind(a.info_location.as_str())
            .bind(a.pack_location.as_str())
            .bind(a.cert_path.as_deref())
            .bind(a.cert_file.as_deref())
            .bind(millis(now));
            let id = match self.insert_id(&mut tx, query).await {
                Err(crate::error::Failure::Sql(e)) if is_unique_violation(&e) => {
                    return Err(StoreError::conflict(
                        "activation",
                        format!("{} {} {}", a.package, a.info_location, a.pack_location),
                    )
                    .into());
                }
                other => other?,
            };
            tx.commit().await?;
            Ok(ActivationId(id))
        })
        .await
    }

    pub(super) async fn activation_by_id(
        &self,
        id: ActivationId,
    ) -> Result<Option<Activation>, StoreError> {
        self.read(async {
            let row = sqlx::query(self.sql(concat!(
                "SELECT ",
                activation_columns!(),
                " FROM activations v WHERE v.id = ?"
            )))
            .bind(id.0)
            .fetch_optional(self.pool())
            .await?;
            row.map(|r| self.activation_row(&r)).transpose()
        })
        .await
    }

    pub(super) async fn activations_of_package(
        &self,
        package: PackageId,
    ) -> Result<Vec<Activation>, StoreError> {
        self.read(async {
            let rows = sqlx::query(self.sql(concat!(
                "SELECT ",
                activation_columns!(),
                " FROM activations v WHERE v.package = ? ORDER BY v.id"
            )))
            .bind(package_key(package))
            .fetch_all(self.pool())
            .await?;
            rows.iter().map(|r| self.activation_row(r)).collect()
        })
        .await
    }

    pub(super) async fn delete_activation_row(&self, id: ActivationId) -> Result<bool, StoreError> {
        self.retry(|| async move {
            let mut tx = self.begin().await?;
            // Affectations first, for MySQL's triggers (see `delete_package_rows`).
            sqlx::query(self.sql("DELETE FROM affectations WHERE activation = ?"))
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query(self.sql("DELETE FROM activations WHERE id = ?"))
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }
}

//! Stats of one package (grouped on the `(package, status…)` indexes) and validation.

use ocs_deploy_core::store::{
    ComputerId, ComputerStatus, Page, StatusCount, StatusSelector, StoreError, TIMELINE_BUCKET,
    TimelineBucket,
};
use ocs_deploy_core::{PackageId, StatusClass};
use sqlx::Row;

use crate::SqlStore;
use crate::error::Attempt;
use crate::sql::{class_key, package_key};

/// The `AND …` that selects rows of `affectations a`, and the value it binds.
enum Filter {
    None,
    Class(i64),
    /// The status, and its class (which lets the query use the index's prefix).
    Exact(String, i64),
}

impl Filter {
    fn of(selector: &StatusSelector) -> Self {
        match selector {
            StatusSelector::All => Self::None,
            StatusSelector::Class(c) => Self::Class(class_key(*c)),
            StatusSelector::Exact(s) => {
                Self::Exact(s.clone(), class_key(StatusClass::of_stored(Some(s))))
            }
        }
    }
}

impl SqlStore {
    pub(super) async fn status_count_rows(
        &self,
        package: PackageId,
    ) -> Result<Vec<StatusCount>, StoreError> {
        self.read(async {
            let rows = sqlx::query(self.sql(
                "SELECT status, COUNT(*) AS n FROM affectations WHERE package = ? \
                 GROUP BY status_class, status",
            ))
            .bind(package_key(package))
            .fetch_all(self.pool())
            .await?;
            let mut counts = rows
                .iter()
                .map(|r| {
                    let status: Option<String> = r.try_get("status")?;
                    let count: i64 = r.try_get("n")?;
                    Ok(StatusCount {
                        class: StatusClass::of_stored(status.as_deref()),
                        status,
                        count: u64::try_from(count).unwrap_or_default(),
                    })
                })
                .collect::<Attempt<Vec<_>>>()?;
            // The memory store's order, whatever the database's collation.
            counts.sort_by(|a, b| a.status.cmp(&b.status));
            Ok(counts)
        })
        .await
    }

    pub(super) async fn computer_status_rows(
        &self,
        package: PackageId,
        selector: &StatusSelector,
        page: Page,
    ) -> Result<Vec<ComputerStatus>, StoreError> {
        let filter = Filter::of(selector);
        let filter = &filter;
        self.read(async move {
            let head = "SELECT a.computer, c.device_id, c.name, a.status, a.changed_at \
                        FROM affectations a JOIN computers c ON c.id = a.computer \
                        WHERE a.package = ?";
            let tail = " ORDER BY a.computer LIMIT ? OFFSET ?";
            let sql = match filter {
                Filter::None => format!("{head}{tail}"),
                Filter::Class(_) => format!("{head} AND a.status_class = ?{tail}"),
                Filter::Exact(..) => {
                    format!("{head} AND a.status_class = ? AND a.status = ?{tail}")
                }
            };
            let query = sqlx::query(self.dynamic(&sql)).bind(package_key(package));
            let query = match filter {
                Filter::None => query,
                Filter::Class(c) => query.bind(*c),
                Filter::Exact(s, c) => query.bind(*c).bind(s.as_str()),
            };
            let rows = query
                .bind(i64::try_from(page.limit).unwrap_or(i64::MAX))
                .bind(i64::try_from(page.offset).unwrap_or(i64::MAX))
                .fetch_all(self.pool())
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(ComputerStatus {
                        computer: ComputerId(r.try_get("computer")?),
                        device_id: self.device(&r.try_get::<String, _>("device_id")?)?,
                        name: r.try_get("name")?,
                        status: r.try_get("status")?,
                        changed: self.time(r.try_get("changed_at")?)?,
                    })
                })
                .collect()
        })
        .await
    }

    pub(super) async fn timeline_rows(
        &self,
        package: PackageId,
    ) -> Result<Vec<TimelineBucket>, StoreError> {
        let width = i64::try_from(TIMELINE_BUCKET.as_millis()).unwrap_or(i64::MAX);
        self.read(async move {
            // `changed_at - changed_at % width`: integer arithmetic in every dialect (no
            // division, whose type differs on MySQL).
            let sql = format!(
                "SELECT changed_at - (changed_at % {width}) AS bucket, status, COUNT(*) AS n \
                 FROM affectations WHERE package = ? GROUP BY 1, 2"
            );
            let rows = sqlx::query(self.dynamic(&sql))
                .bind(package_key(package))
                .fetch_all(self.pool())
                .await?;
            let mut buckets = rows
                .iter()
                .map(|r| {
                    let start: i64 = r.try_get("bucket")?;
                    let count: i64 = r.try_get("n")?;
                    Ok(TimelineBucket {
                        status: r.try_get("status")?,
                        start: self.time(start)?,
                        count: u64::try_from(count).unwrap_or_default(),
                    })
                })
                .collect::<Attempt<Vec<_>>>()?;
            buckets.sort_by(|a, b| (a.start, &a.status).cmp(&(b.start, &b.status)));
            Ok(buckets)
        })
        .await
    }

    pub(super) async fn delete_selected(
        &self,
        package: PackageId,
        selector: &StatusSelector,
    ) -> Result<u64, StoreError> {
        let filter = Filter::of(selector);
        let filter = &filter;
        self.retry(|| async move {
            let query = match filter {
                Filter::None => sqlx::query(self.sql("DELETE FROM affectations WHERE package = ?"))
                    .bind(package_key(package)),
                Filter::Class(c) => sqlx::query(
                    self.sql("DELETE FROM affectations WHERE package = ? AND status_class = ?"),
                )
                .bind(package_key(package))
                .bind(*c),
                Filter::Exact(s, c) => sqlx::query(self.sql(
                    "DELETE FROM affectations WHERE package = ? AND status_class = ? \
                     AND status = ?",
                ))
                .bind(package_key(package))
                .bind(*c)
                .bind(s.as_str()),
            };
            Ok(query.execute(self.pool()).await?.rows_affected())
        })
        .await
    }
}

//! Stats of one package and validation. Counts and the timeline are sums over the
//! `status_counts` rows that triggers keep (see the migration `status_counts`); the lists
//! of computers read `affectations`, for a result class through an index of its status
//! (`SQLite`'s partial index of results, `MySQL`'s status index) or, on `PostgreSQL`, the
//! `affectation_results` table (see the migration `hot_status_updates`).

use ocs_deploy_core::store::{
    ComputerId, ComputerStatus, Page, StatusCount, StatusSelector, StoreError, TIMELINE_BUCKET,
    TimelineBucket,
};
use ocs_deploy_core::{PackageId, StatusClass};
use sqlx::Row;

use crate::error::Attempt;
use crate::sql::{class_key, package_key};
use crate::{Backend, SqlStore};

/// The `AND …` that selects rows of `affectations a`, and the value it binds.
///
/// The class is written into the SQL as a literal, not bound: a planner can only use the
/// partial index of results (`WHERE status_class >= 2`) for a query whose condition it can
/// see implies the index's.
enum Filter {
    None,
    Class(i64),
    /// The status, and its class (which lets the query use the index's prefix).
    Exact(String, i64),
}

/// The condition on the class of `<table>.status_class` = `class`, with the partial
/// index's own term when the class has a result: `SQLite` uses a partial index only when
/// the query repeats its condition (it does not prove `= 2` implies `>= 2`).
fn class_terms(table: &str, class: i64) -> String {
    if class >= 2 {
        format!(" AND {table}status_class >= 2 AND {table}status_class = {class}")
    } else {
        format!(" AND {table}status_class = {class}")
    }
}

/// What `status_counts` holds for a waiting row (`NULL` in `affectations`).
const WAITING: &str = "";

/// The SQL type a sum is cast to, so that every database returns a 64-bit integer
/// (`PostgreSQL` and `MySQL` sum integers into decimals).
fn sum_n(backend: Backend) -> &'static str {
    match backend {
        Backend::MySql => "CAST(SUM(n) AS SIGNED)",
        Backend::Sqlite | Backend::Postgres => "CAST(SUM(n) AS BIGINT)",
    }
}

impl Filter {
    /// The `AND …` that selects rows of `affectation_results r`: a result class, or one
    /// status of it (binding the status).
    fn result_terms(&self) -> String {
        match self {
            Self::None => String::new(),
            Self::Class(c) => format!(" AND r.status_class = {c}"),
            Self::Exact(_, c) => format!(" AND r.status_class = {c} AND r.status = ?"),
        }
    }

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
    /// Whether the computers of this class are read from `affectation_results`
    /// (`PostgreSQL`, result classes) rather than from `affectations` alone.
    fn results_table(&self, class: i64) -> bool {
        class >= 2 && self.backend() == Backend::Postgres
    }

    pub(super) async fn status_count_rows(
        &self,
        package: PackageId,
    ) -> Result<Vec<StatusCount>, StoreError> {
        self.read(async {
            let sql = format!(
                "SELECT status, {} AS n FROM status_counts WHERE package = ? \
                 GROUP BY status HAVING SUM(n) > 0",
                sum_n(self.backend())
            );
            let rows = sqlx::query(self.dynamic(&sql))
                .bind(package_key(package))
                .fetch_all(self.pool())
                .await?;
            let mut counts = rows
                .iter()
                .map(|r| {
                    let status: String = r.try_get("status")?;
                    let status = (status != WAITING).then_some(status);
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
                Filter::Class(c) | Filter::Exact(_, c) if self.results_table(*c) => format!(
                    "SELECT a.computer, c.device_id, c.name, a.status, a.changed_at \
                     FROM affectation_results r \
                     JOIN affectations a ON a.package = r.package AND a.computer = r.computer \
                     JOIN computers c ON c.id = a.computer \
                     WHERE r.package = ?{} ORDER BY r.computer LIMIT ? OFFSET ?",
                    filter.result_terms()
                ),
                Filter::Class(c) => format!("{head}{}{tail}", class_terms("a.", *c)),
                Filter::Exact(_, c) => {
                    format!("{head}{} AND a.status = ?{tail}", class_terms("a.", *c))
                }
            };
            let query = sqlx::query(self.dynamic(&sql)).bind(package_key(package));
            let query = match filter {
                Filter::None | Filter::Class(_) => query,
                Filter::Exact(s, _) => query.bind(s.as_str()),
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
        // The migration rounds to this width.
        const _: () = assert!(TIMELINE_BUCKET.as_millis() == 3_600_000);
        self.read(async move {
            let sql = format!(
                "SELECT bucket, status, {} AS n FROM status_counts WHERE package = ? \
                 GROUP BY bucket, status HAVING SUM(n) > 0",
                sum_n(self.backend())
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
                    let status: String = r.try_get("status")?;
                    Ok(TimelineBucket {
                        status: (status != WAITING).then_some(status),
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
            let _turn = self.write_turn().await;
            let head = "DELETE FROM affectations WHERE package = ?";
            let sql = match filter {
                Filter::None => head.to_owned(),
                Filter::Class(c) | Filter::Exact(_, c) if self.results_table(*c) => format!(
                    "DELETE FROM affectations a USING affectation_results r \
                     WHERE r.package = ?{} AND a.package = r.package AND a.computer = r.computer",
                    filter.result_terms()
                ),
                Filter::Class(c) => format!("{head}{}", class_terms("", *c)),
                Filter::Exact(_, c) => format!("{head}{} AND status = ?", class_terms("", *c)),
            };
            let query = sqlx::query(self.dynamic(&sql)).bind(package_key(package));
            let query = match filter {
                Filter::None | Filter::Class(_) => query,
                Filter::Exact(s, _) => query.bind(s.as_str()),
            };
            Ok(query.execute(self.pool()).await?.rows_affected())
        })
        .await
    }
}

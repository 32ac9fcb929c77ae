//! Per-package statistics, computed by the store.

use super::{DeploymentService, ServiceError};
use crate::store::{ComputerStatus, Page, StatusCount, StatusSelector};
use crate::{PackageId, StatusClass, Timestamp};

/// One exact status of a package and its share.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusShare {
    /// The status text (`None` = waiting notification).
    pub status: Option<String>,
    /// How the console counts it.
    pub class: StatusClass,
    /// How many computers.
    pub count: u64,
    /// `count` in percent of all the package's affectations.
    pub percent: f64,
}

/// The counts of one package's affectations.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageStats {
    /// The package.
    pub package: PackageId,
    /// All affectations.
    pub total: u64,
    /// Per exact status, largest first (then by status).
    pub statuses: Vec<StatusShare>,
}

impl PackageStats {
    /// How many are in one class (the console's columns).
    pub fn count(&self, class: StatusClass) -> u64 {
        self.statuses
            .iter()
            .filter(|s| s.class == class)
            .map(|s| s.count)
            .sum()
    }

    /// The share of one class, in percent (0 when nothing is affected).
    pub fn percent(&self, class: StatusClass) -> f64 {
        percent(self.count(class), self.total)
    }
}

/// The cumulative share of each status at the end of one time bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelinePoint {
    /// The bucket's start (an hour).
    pub start: Timestamp,
    /// Each status seen so far: how many affectations reached it up to this bucket, and
    /// that in percent of all the package's affectations.
    pub cumulative: Vec<(Option<String>, u64, f64)>,
}

#[allow(clippy::cast_precision_loss)] // counts far below 2^52
fn percent(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        part as f64 * 100.0 / total as f64
    }
}

impl DeploymentService {
    /// Counts of a package's affectations per status (waiting, notified, success, error,
    /// each exact code), with percentages. Computed by the store with indexed queries.
    ///
    /// # Errors
    /// [`ServiceError::Store`].
    pub async fn stats(&self, package: PackageId) -> Result<PackageStats, ServiceError> {
        let counts = self.store.status_counts(package).await?;
        let total: u64 = counts.iter().map(|c| c.count).sum();
        let mut statuses: Vec<StatusShare> = counts
            .into_iter()
            .map(
                |StatusCount {
                     status,
                     class,
                     count,
                 }| StatusShare {
                    status,
                    class,
                    count,
                    percent: percent(count, total),
                },
            )
            .collect();
        statuses.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.status.cmp(&b.status)));
        Ok(PackageStats {
            package,
            total,
            statuses,
        })
    }

    /// The computers behind a count, a page at a time.
    ///
    /// # Errors
    /// [`ServiceError::Store`].
    pub async fn computers_with_status(
        &self,
        package: PackageId,
        selector: &StatusSelector,
        page: Page,
    ) -> Result<Vec<ComputerStatus>, ServiceError> {
        Ok(self
            .store
            .computers_with_status(package, selector, page)
            .await?)
    }

    /// The cumulative share of each status over time, by hour of the last change (the
    /// console's speed statistics).
    ///
    /// # Errors
    /// [`ServiceError::Store`].
    pub async fn timeline(&self, package: PackageId) -> Result<Vec<TimelinePoint>, ServiceError> {
        let buckets = self.store.status_timeline(package).await?;
        let total: u64 = buckets.iter().map(|b| b.count).sum();
        let mut running: Vec<(Option<String>, u64)> = Vec::new();
        let mut points: Vec<TimelinePoint> = Vec::new();
        for b in buckets {
            match running.iter_mut().find(|(s, _)| *s == b.status) {
                Some((_, n)) => *n += b.count,
                None => running.push((b.status.clone(), b.count)),
            }
            let cumulative = running
                .iter()
                .map(|(s, n)| (s.clone(), *n, percent(*n, total)))
                .collect();
            match points.last_mut() {
                Some(p) if p.start == b.start => p.cumulative = cumulative,
                _ => points.push(TimelinePoint {
                    start: b.start,
                    cumulative,
                }),
            }
        }
        Ok(points)
    }
}

//! Recording the results agents post.

use super::{DeploymentService, ServiceError};
use crate::protocol::DeviceId;
use crate::store::{MAX_STATUS_LEN, ResultOutcome};
use crate::{PackageId, StatusClass, StatusCode, Timestamp};

/// Why a result was not recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResultRefusal {
    /// No computer with this device id (it never sent an inventory).
    #[error("result from unknown computer {device}")]
    UnknownComputer {
        /// The device id.
        device: String,
    },
    /// No package with this id.
    #[error("result of unknown package {package} from {device}")]
    UnknownPackage {
        /// The device id.
        device: String,
        /// The package.
        package: PackageId,
    },
    /// The package exists but is not affected to this computer (OCS logs this as 2501).
    #[error("result of package {package} that is not affected to {device}")]
    NotAffected {
        /// The device id.
        device: String,
        /// The package.
        package: PackageId,
    },
}

/// The text stored for a status: control characters become spaces, surrounding spaces
/// go, at most [`MAX_STATUS_LEN`] bytes (cut on a character boundary), and an empty or
/// `0` one is `UNKNOWN_CODE`, as the OCS server stores it.
///
/// ```
/// use ocs_deploy_core::StatusCode;
/// use ocs_deploy_core::service::sanitize_status;
///
/// assert_eq!(sanitize_status(&StatusCode::from_wire("ERR_X\n2501 forged log line")), "ERR_X 2501 forged log line");
/// assert_eq!(sanitize_status(&StatusCode::from_wire("\t")), "UNKNOWN_CODE");
/// assert_eq!(sanitize_status(&StatusCode::from_wire(&"E".repeat(1000))).len(), 255);
/// ```
pub fn sanitize_status(status: &StatusCode) -> String {
    let text = status.to_string();
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = cleaned.trim();
    let mut end = trimmed.len().min(MAX_STATUS_LEN);
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    let cut = trimmed.get(..end).unwrap_or_default().trim_end();
    if cut.is_empty() || cut == "0" {
        StatusCode::UnknownCode.to_string()
    } else {
        cut.to_owned()
    }
}

impl DeploymentService {
    /// Records the result an agent posted for a package. Only a package affected to that
    /// computer is recorded; the same result twice is recorded once; every change goes to
    /// the audit trail.
    ///
    /// # Errors
    /// [`ServiceError::BadDeviceId`], [`ServiceError::ResultRefused`] with the
    /// [`ResultRefusal`] (the HTTP layer logs it and still answers 200, as OCS does, so
    /// agents stop retrying), [`ServiceError::Store`].
    pub async fn record_result(
        &self,
        device: &str,
        package: PackageId,
        status: &StatusCode,
        now: Timestamp,
    ) -> Result<ResultOutcome, ServiceError> {
        let device = DeviceId::parse(device).map_err(ServiceError::BadDeviceId)?;
        let Some(computer) = self.store.computer_by_device(&device).await? else {
            return Err(ResultRefusal::UnknownComputer {
                device: device.to_string(),
            }
            .into());
        };
        let text = sanitize_status(status);
        let class = StatusClass::of_stored(Some(&text));
        let outcome = self
            .store
            .record_result(computer.id, package, &text, class, now)
            .await?;
        match &outcome {
            ResultOutcome::Recorded { previous, .. } => {
                tracing::info!(device_id = %device, package_id = %package, status = %text, previous = ?previous, "result recorded");
            }
            ResultOutcome::Unchanged { .. } => {
                tracing::debug!(device_id = %device, package_id = %package, status = %text, "result already recorded");
            }
            ResultOutcome::NotAffected => {
                let refusal = if self.store.package(package).await?.is_some() {
                    ResultRefusal::NotAffected {
                        device: device.to_string(),
                        package,
                    }
                } else {
                    ResultRefusal::UnknownPackage {
                        device: device.to_string(),
                        package,
                    }
                };
                return Err(refusal.into());
            }
        }
        Ok(outcome)
    }
}

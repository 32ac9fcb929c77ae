//! Global download settings: `GET /admin/v1/config`, `PUT`/`DELETE /admin/v1/config/{KEY}`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ocs_deploy_core::store::{Setting, SettingScope};

use super::api::{self, SettingValue, Settings};
use super::extract::{JsonBody, PathParams};
use super::{AdminError, AdminState};

/// A setting by the name the PROLOG reply uses (`FRAG_LATENCY`, `ON`, …) or the one
/// OCS stores (`DOWNLOAD_FRAG_LATENCY`, `DOWNLOAD_SWITCH`, …), in any case, as the
/// command line accepts them.
pub(super) fn setting(key: &str) -> Result<Setting, AdminError> {
    let upper = key.to_ascii_uppercase();
    let found = if upper == "ON" {
        Some(Setting::Switch)
    } else {
        Setting::from_ocs_name(&upper)
            .or_else(|| Setting::from_ocs_name(&format!("DOWNLOAD_{upper}")))
    };
    found.ok_or_else(|| {
        AdminError::NotFound(format!(
            "unknown setting {key:?}: one of ON, FRAG_LATENCY, CYCLE_LATENCY, PERIOD_LATENCY, PERIOD_LENGTH, TIMEOUT, EXECUTION_TIMEOUT, PROLOG_FREQ"
        ))
    })
}

/// `GET /admin/v1/config`.
pub(super) async fn list(
    State(state): State<Arc<AdminState>>,
) -> Result<Json<Settings>, AdminError> {
    let values = state.service.store().settings(SettingScope::Global).await?;
    Ok(Json(
        values
            .into_iter()
            .map(|v| (v.setting.ocs_name().to_owned(), v.value))
            .collect(),
    ))
}

/// `PUT /admin/v1/config/{KEY}` with `{"value": N}`.
pub(super) async fn set(
    State(state): State<Arc<AdminState>>,
    PathParams(key): PathParams<String>,
    JsonBody(body): JsonBody<SettingValue>,
) -> Result<Json<api::Setting>, AdminError> {
    let setting = setting(&key)?;
    state
        .service
        .set_setting(SettingScope::Global, setting, Some(body.value))
        .await?;
    Ok(Json(api::Setting {
        key: setting.ocs_name().to_owned(),
        value: body.value,
    }))
}

/// `DELETE /admin/v1/config/{KEY}`: back to the default.
pub(super) async fn remove(
    State(state): State<Arc<AdminState>>,
    PathParams(key): PathParams<String>,
) -> Result<StatusCode, AdminError> {
    let setting = setting(&key)?;
    state
        .service
        .set_setting(SettingScope::Global, setting, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Package routes: build, list, show, delete, activations, affectations, stats, status,
//! validation.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ocs_deploy_core::fragment::FragmentPlan;
use ocs_deploy_core::protocol::DeviceId;
use ocs_deploy_core::service::{AffectTarget, BuildRequest, ServiceError};
use ocs_deploy_core::store::{
    self, ActivationId, AffectOptions, ComputerFilter, PackageRecord, Page, StatusSelector,
};
use ocs_deploy_core::{Action, PackageId, Priority, Timestamp};

use super::api::{
    self, ActionKind, ActivateRequest, AffectRequest, AffectResponse, BuildParams, Removed,
    StatusPage, StatusQuery, ValidateQuery, ValidateScope, WAITING_NOTIFICATION,
};
use super::extract::{JsonBody, PathParams, QueryParams};
use super::upload;
use super::{AdminError, AdminState};

type AdminResult<T> = Result<T, AdminError>;

/// The default and largest page of `GET .../status`.
const DEFAULT_PAGE: u64 = 1000;
const MAX_PAGE: u64 = 10_000;

pub(super) fn package_id(text: &str) -> AdminResult<PackageId> {
    text.parse()
        .map_err(|e| AdminError::BadRequest(format!("bad package id {text:?}: {e}")))
}

pub(super) fn device_id(text: &str) -> AdminResult<DeviceId> {
    DeviceId::parse(text)
        .map_err(|e| AdminError::BadRequest(format!("bad device id {text:?}: {e}")))
}

fn activation_id(text: &str) -> AdminResult<ActivationId> {
    text.parse()
        .map(ActivationId)
        .map_err(|_| AdminError::BadRequest(format!("bad activation id {text:?}")))
}

fn activation_json(a: &store::Activation) -> api::Activation {
    api::Activation {
        id: a.id.0,
        package: a.package.get(),
        info_location: a.info_location.clone(),
        pack_location: a.pack_location.clone(),
        created: a.created.as_secs(),
    }
}

async fn package_json(
    state: &AdminState,
    record: &PackageRecord,
    with_info: bool,
) -> AdminResult<api::Package> {
    let activations = state.service.store().activations(record.id).await?;
    Ok(api::Package {
        id: record.id.get(),
        name: record.name.clone(),
        priority: record.priority.get(),
        fragments: record.fragments,
        size: record.size,
        built: record.is_built(),
        created: record.created.as_secs(),
        activations: activations.iter().map(activation_json).collect(),
        info: with_info.then(|| record.info.clone()),
    })
}

/// The package, or 404.
async fn known_package(state: &AdminState, id: PackageId) -> AdminResult<PackageRecord> {
    state
        .service
        .store()
        .package(id)
        .await?
        .ok_or(AdminError::Service(ServiceError::UnknownPackage(id)))
}

/// `GET /admin/v1/packages`.
pub(super) async fn list(
    State(state): State<Arc<AdminState>>,
) -> AdminResult<Json<Vec<api::Package>>> {
    let mut out = Vec::new();
    for record in state.service.store().packages().await? {
        out.push(package_json(&state, &record, false).await?);
    }
    Ok(Json(out))
}

/// `POST /admin/v1/packages?name=…&action=…&command=…`, the archive as body.
pub(super) async fn build(
    State(state): State<Arc<AdminState>>,
    QueryParams(params): QueryParams<BuildParams>,
    headers: HeaderMap,
    body: Body,
) -> AdminResult<Response> {
    if params.name.trim().is_empty() {
        return Err(AdminError::BadRequest("the name is empty".into()));
    }
    if params.command.trim().is_empty() {
        return Err(AdminError::BadRequest("the command is empty".into()));
    }
    let command = params.command.clone();
    let action = match params.action {
        ActionKind::Launch => Action::Launch { command },
        ActionKind::Execute => Action::Execute { command },
        ActionKind::Store => Action::Store { path: command },
    };
    let mut request = BuildRequest::new(params.name.clone(), action);
    if let Some(p) = params.priority {
        request.priority =
            Priority::new(p).map_err(|e| AdminError::BadRequest(format!("bad priority: {e}")))?;
    }
    if let Some(size) = params.fragment_size {
        request.fragment_size = size;
    }
    if let Some(count) = params.fragments {
        let len = upload::content_length(&headers).ok_or_else(|| {
            AdminError::BadRequest(
                "fragments needs a Content-Length (or give fragment_size)".into(),
            )
        })?;
        request.plan = Some(
            FragmentPlan::by_count(len, count)
                .map_err(|e| AdminError::BadRequest(format!("bad fragment count: {e}")))?,
        );
    }
    let archive = upload::archive(&headers, body, state.config.max_upload).await?;
    let now = state.config.clock.now();
    let record = state
        .service
        .build(request, archive, now)
        .await
        .map_err(upload::build_error)?;
    let json = package_json(&state, &record, true).await?;
    let mut response = (StatusCode::CREATED, Json(json)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/admin/v1/packages/{}", record.id)) {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

/// `GET /admin/v1/packages/{id}`.
pub(super) async fn show(
    State(state): State<Arc<AdminState>>,
    PathParams(id): PathParams<String>,
) -> AdminResult<Json<api::Package>> {
    let record = known_package(&state, package_id(&id)?).await?;
    Ok(Json(package_json(&state, &record, true).await?))
}

/// `DELETE /admin/v1/packages/{id}`.
pub(super) async fn delete(
    State(state): State<Arc<AdminState>>,
    PathParams(id): PathParams<String>,
) -> AdminResult<StatusCode> {
    state.service.delete_package(package_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /admin/v1/packages/{id}/activations`.
pub(super) async fn activations(
    State(state): State<Arc<AdminState>>,
    PathParams(id): PathParams<String>,
) -> AdminResult<Json<Vec<api::Activation>>> {
    let record = known_package(&state, package_id(&id)?).await?;
    let rows = state.service.store().activations(record.id).await?;
    Ok(Json(rows.iter().map(activation_json).collect()))
}

/// `POST /admin/v1/packages/{id}/activations`.
pub(super) async fn activate(
    State(state): State<Arc<AdminState>>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<ActivateRequest>,
) -> AdminResult<(StatusCode, Json<api::Activation>)> {
    let package = package_id(&id)?;
    let now = state.config.clock.now();
    let activation = state
        .service
        .activate(package, &body.info_location, &body.pack_location, now)
        .await?;
    let row = state
        .service
        .store()
        .activation(activation)
        .await?
        .ok_or(AdminError::Service(ServiceError::UnknownActivation(
            activation,
        )))?;
    Ok((StatusCode::CREATED, Json(activation_json(&row))))
}

/// `DELETE /admin/v1/activations/{id}`.
pub(super) async fn deactivate(
    State(state): State<Arc<AdminState>>,
    PathParams(id): PathParams<String>,
) -> AdminResult<StatusCode> {
    let activation = activation_id(&id)?;
    if state.service.deactivate(activation).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AdminError::Service(ServiceError::UnknownActivation(
            activation,
        )))
    }
}

/// The activation an affectation goes through: the one named (it must be the
/// package's), or the package's only one.
async fn chosen_activation(
    state: &AdminState,
    package: PackageId,
    named: Option<i64>,
) -> AdminResult<ActivationId> {
    let activations = state.service.store().activations(package).await?;
    if let Some(id) = named {
        return activations
            .iter()
            .find(|a| a.id.0 == id)
            .map(|a| a.id)
            .ok_or(AdminError::Service(ServiceError::UnknownActivation(
                ActivationId(id),
            )));
    }
    match activations.as_slice() {
        [one] => Ok(one.id),
        [] => Err(AdminError::Conflict(format!(
            "package {package} is not activated"
        ))),
        _ => Err(AdminError::Conflict(format!(
            "package {package} has several activations: name one with \"activation\""
        ))),
    }
}

fn text_match(m: Option<api::TextMatch>) -> Option<store::TextMatch> {
    m.map(|m| match m {
        api::TextMatch::Equals(s) => store::TextMatch::Equals(s),
        api::TextMatch::StartsWith(s) => store::TextMatch::StartsWith(s),
        api::TextMatch::Contains(s) => store::TextMatch::Contains(s),
    })
}

/// `POST /admin/v1/packages/{id}/affectations`.
pub(super) async fn affect(
    State(state): State<Arc<AdminState>>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<AffectRequest>,
) -> AdminResult<Json<AffectResponse>> {
    let package = package_id(&id)?;
    let targets = usize::from(!body.devices.is_empty())
        + usize::from(body.all)
        + usize::from(body.group.is_some())
        + usize::from(body.criteria.is_some());
    if targets != 1 {
        return Err(AdminError::BadRequest(
            "give exactly one of \"devices\", \"all\", \"group\" or \"criteria\"".into(),
        ));
    }
    known_package(&state, package).await?;
    let activation = chosen_activation(&state, package, body.activation).await?;
    let options = AffectOptions {
        force: body.force,
        schedule: body.schedule.map(Timestamp::from_secs),
        post_command: body.post_command,
    };
    if let Some(group) = body.group {
        if options.force {
            return Err(AdminError::BadRequest(
                "force is not offered for groups: affect the computers directly".into(),
            ));
        }
        state
            .service
            .affect_group(&group, activation, &options)
            .await?;
        return Ok(Json(AffectResponse {
            activation: activation.0,
            computers: None,
            group: Some(group),
        }));
    }
    let target = if let Some(criteria) = body.criteria {
        let filter = ComputerFilter {
            name: text_match(criteria.name),
            os_name: text_match(criteria.os_name),
            ip_address: text_match(criteria.ip_address),
            tag: text_match(criteria.tag),
        };
        if filter.is_empty() {
            return Err(AdminError::BadRequest(
                "empty criteria: use \"all\" to affect every computer".into(),
            ));
        }
        AffectTarget::Matching(filter)
    } else if body.all {
        AffectTarget::Matching(ComputerFilter::default())
    } else {
        AffectTarget::Computers(
            body.devices
                .iter()
                .map(|d| device_id(d))
                .collect::<AdminResult<_>>()?,
        )
    };
    let now = state.config.clock.now();
    let computers = state
        .service
        .affect(activation, &target, &options, now)
        .await?;
    Ok(Json(AffectResponse {
        activation: activation.0,
        computers: Some(computers.iter().map(|c| c.0).collect()),
        group: None,
    }))
}

/// `GET /admin/v1/packages/{id}/stats`.
pub(super) async fn stats(
    State(state): State<Arc<AdminState>>,
    PathParams(id): PathParams<String>,
) -> AdminResult<Json<api::Stats>> {
    let package = package_id(&id)?;
    known_package(&state, package).await?;
    let counts = state.service.stats(package).await?;
    Ok(Json(api::Stats {
        package: counts.package.get(),
        total: counts.total,
        statuses: counts
            .statuses
            .into_iter()
            .map(|s| api::StatusShare {
                status: s.status.unwrap_or_else(|| WAITING_NOTIFICATION.to_owned()),
                class: s.class.into(),
                count: s.count,
                percent: s.percent,
            })
            .collect(),
    }))
}

/// `GET /admin/v1/packages/{id}/status`.
pub(super) async fn status(
    State(state): State<Arc<AdminState>>,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<StatusQuery>,
) -> AdminResult<Json<StatusPage>> {
    let package = package_id(&id)?;
    let selector = match (query.class, query.status) {
        (Some(_), Some(_)) => {
            return Err(AdminError::BadRequest(
                "give \"class\" or \"status\", not both".into(),
            ));
        }
        (Some(class), None) => StatusSelector::Class(class.into()),
        (None, Some(status)) if status == WAITING_NOTIFICATION => {
            StatusSelector::Class(ocs_deploy_core::StatusClass::Waiting)
        }
        (None, Some(status)) => StatusSelector::Exact(status),
        (None, None) => StatusSelector::All,
    };
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(AdminError::BadRequest(format!(
            "limit must be 1 to {MAX_PAGE}"
        )));
    }
    let offset = query.offset.unwrap_or(0);
    known_package(&state, package).await?;
    let rows = state
        .service
        .computers_with_status(package, &selector, Page { offset, limit })
        .await?;
    Ok(Json(StatusPage {
        package: package.get(),
        offset,
        computers: rows
            .into_iter()
            .map(|r| api::ComputerStatus {
                device_id: r.device_id.to_string(),
                name: r.name,
                status: r.status.unwrap_or_else(|| WAITING_NOTIFICATION.to_owned()),
                changed: r.changed.as_secs(),
            })
            .collect(),
    }))
}

/// `POST /admin/v1/packages/{id}/validate?scope=success|not-notified|all`.
pub(super) async fn validate(
    State(state): State<Arc<AdminState>>,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<ValidateQuery>,
) -> AdminResult<Json<Removed>> {
    let package = package_id(&id)?;
    known_package(&state, package).await?;
    let removed = match query.scope {
        ValidateScope::Success => state.service.validate_success(package).await?,
        ValidateScope::NotNotified => state.service.unaffect_not_notified(package).await?,
        ValidateScope::All => state.service.validate_all(package).await?,
    };
    Ok(Json(Removed { removed }))
}

/// `DELETE /admin/v1/packages/{id}/affectations/{device}`: the package is no longer
/// for this computer (whichever activation it came through).
pub(super) async fn unaffect(
    State(state): State<Arc<AdminState>>,
    PathParams((id, device)): PathParams<(String, String)>,
) -> AdminResult<StatusCode> {
    let package = package_id(&id)?;
    let device = device_id(&device)?;
    known_package(&state, package).await?;
    let mut removed = 0;
    for activation in state.service.store().activations(package).await? {
        removed += state
            .service
            .unaffect(activation.id, std::slice::from_ref(&device))
            .await?;
    }
    if removed == 0 {
        return Err(AdminError::NotFound(format!(
            "package {package} is not affected to computer {device}"
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /admin/v1/packages/{id}/affectations/{device}/reaffect`: again, after a
/// failure.
pub(super) async fn reaffect(
    State(state): State<Arc<AdminState>>,
    PathParams((id, device)): PathParams<(String, String)>,
) -> AdminResult<StatusCode> {
    let package = package_id(&id)?;
    let device = device_id(&device)?;
    known_package(&state, package).await?;
    let now = state.config.clock.now();
    state.service.reaffect(&device, package, now).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /admin/v1/packages/{id}/timeline`.
pub(super) async fn timeline(
    State(state): State<Arc<AdminState>>,
    PathParams(id): PathParams<String>,
) -> AdminResult<Json<Vec<api::TimelinePoint>>> {
    let package = package_id(&id)?;
    known_package(&state, package).await?;
    let points = state.service.timeline(package).await?;
    Ok(Json(
        points
            .into_iter()
            .map(|p| api::TimelinePoint {
                start: p.start.as_secs(),
                statuses: p
                    .cumulative
                    .into_iter()
                    .map(|(status, count, percent)| api::TimelineStatus {
                        status: status.unwrap_or_else(|| WAITING_NOTIFICATION.to_owned()),
                        count,
                        percent,
                    })
                    .collect(),
            })
            .collect(),
    ))
}

/// `PUT /admin/v1/computers/{device}/download-server` with `{"server": "<device id>"}`
/// (or `null`).
pub(super) async fn set_download_server(
    State(state): State<Arc<AdminState>>,
    PathParams(device): PathParams<String>,
    JsonBody(body): JsonBody<api::DownloadServer>,
) -> AdminResult<StatusCode> {
    let device = device_id(&device)?;
    let server = body.server.as_deref().map(device_id).transpose()?;
    state
        .service
        .set_download_server(&device, server.as_ref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

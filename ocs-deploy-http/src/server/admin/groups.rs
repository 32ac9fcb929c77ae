//! Static groups: create, list, show, delete, members.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ocs_deploy_core::service::ServiceError;
use ocs_deploy_core::store;

use super::api::{self, CreateGroup, Members};
use super::extract::{JsonBody, PathParams};
use super::packages::device_id;
use super::{AdminError, AdminState};

type AdminResult<T> = Result<T, AdminError>;

fn group_json(g: &store::Group, members: Option<Vec<String>>) -> api::Group {
    api::Group {
        id: g.id.0,
        name: g.name.clone(),
        visible: g.visible,
        members,
    }
}

async fn known_group(state: &AdminState, name: &str) -> AdminResult<store::Group> {
    state
        .service
        .store()
        .group_by_name(name)
        .await?
        .ok_or_else(|| AdminError::Service(ServiceError::UnknownGroup(name.to_owned())))
}

/// `GET /admin/v1/groups`.
pub(super) async fn list(
    State(state): State<Arc<AdminState>>,
) -> AdminResult<Json<Vec<api::Group>>> {
    let groups = state.service.store().groups().await?;
    Ok(Json(groups.iter().map(|g| group_json(g, None)).collect()))
}

/// `POST /admin/v1/groups`.
pub(super) async fn create(
    State(state): State<Arc<AdminState>>,
    JsonBody(body): JsonBody<CreateGroup>,
) -> AdminResult<(StatusCode, Json<api::Group>)> {
    if body.name.trim().is_empty() {
        return Err(AdminError::BadRequest("the group name is empty".into()));
    }
    let id = state.service.create_group(&body.name, body.visible).await?;
    Ok((
        StatusCode::CREATED,
        Json(api::Group {
            id: id.0,
            name: body.name,
            visible: body.visible,
            members: Some(Vec::new()),
        }),
    ))
}

/// `GET /admin/v1/groups/{name}`, with its members.
pub(super) async fn show(
    State(state): State<Arc<AdminState>>,
    PathParams(name): PathParams<String>,
) -> AdminResult<Json<api::Group>> {
    let group = known_group(&state, &name).await?;
    let store = state.service.store();
    let mut members = Vec::new();
    for id in store.members(group.id).await? {
        if let Some(computer) = store.computer(id).await? {
            members.push(computer.device_id.to_string());
        }
    }
    Ok(Json(group_json(&group, Some(members))))
}

/// `DELETE /admin/v1/groups/{name}`, with its memberships and affectations.
pub(super) async fn delete(
    State(state): State<Arc<AdminState>>,
    PathParams(name): PathParams<String>,
) -> AdminResult<StatusCode> {
    let group = known_group(&state, &name).await?;
    if state.service.store().delete_group(group.id).await? {
        tracing::info!(group = %name, "group deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AdminError::Service(ServiceError::UnknownGroup(name)))
    }
}

/// `POST /admin/v1/groups/{name}/members` with `{"devices": [...]}`.
pub(super) async fn add_members(
    State(state): State<Arc<AdminState>>,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<Members>,
) -> AdminResult<StatusCode> {
    let devices = body
        .devices
        .iter()
        .map(|d| device_id(d))
        .collect::<AdminResult<Vec<_>>>()?;
    state.service.add_to_group(&name, &devices).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /admin/v1/groups/{name}/members/{device}`.
pub(super) async fn remove_member(
    State(state): State<Arc<AdminState>>,
    PathParams((name, device)): PathParams<(String, String)>,
) -> AdminResult<StatusCode> {
    let device = device_id(&device)?;
    let removed = state
        .service
        .remove_from_group(&name, std::slice::from_ref(&device))
        .await?;
    if removed == 0 {
        return Err(AdminError::NotFound(format!(
            "computer {device} is not a member of group {name}"
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /admin/v1/groups/{name}/affectations/{activation}`: members that already
/// adopted it keep their own affectation, as in OCS.
pub(super) async fn unaffect(
    State(state): State<Arc<AdminState>>,
    PathParams((name, activation)): PathParams<(String, String)>,
) -> AdminResult<StatusCode> {
    let activation = activation
        .parse()
        .map(store::ActivationId)
        .map_err(|_| AdminError::BadRequest(format!("bad activation id {activation:?}")))?;
    if state.service.unaffect_group(&name, activation).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AdminError::NotFound(format!(
            "activation {activation} is not affected to group {name}"
        )))
    }
}

//! Workspaces and their members.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use flowo_core::Workspace;
use flowo_core::account::Member;
use flowo_core::store::AuditAction;
use serde::Deserialize;
use serde_json::json;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::extract::{self, Path};
use crate::routes::audit;
use crate::state::AppState;

/// A new workspace.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateWorkspace {
    /// 1-64 letters, digits, `-`, `_`, `.`.
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,64}$")]
    pub name: String,
}

async fn workspace_named(
    state: &AppState,
    principal: &Principal,
    name: &str,
) -> ApiResult<Workspace> {
    state.config().limits.check_short("workspace name", name)?;
    let ws = state
        .store()
        .workspace_by_name(name)
        .await?
        .filter(|w| principal.can_read(w.id) || principal.is_admin())
        .ok_or_else(|| ApiError::not_found(format!("workspace {name:?} not found")))?;
    Ok(ws)
}

/// Workspaces the caller may read (all, for admins).
#[utoipa::path(get, path = "/api/v1/workspaces", tag = "workspaces",
    responses((status = 200, body = Vec<Workspace>)))]
pub async fn list_workspaces(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<Workspace>>> {
    let all = state.store().list_workspaces().await?;
    Ok(Json(
        all.into_iter()
            .filter(|w| principal.is_admin() || principal.can_read(w.id))
            .collect(),
    ))
}

/// Creates a workspace (admins).
#[utoipa::path(post, path = "/api/v1/workspaces", tag = "workspaces", request_body = CreateWorkspace,
    responses((status = 201, body = Workspace), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn create_workspace(
    State(state): State<AppState>,
    principal: Principal,
    extract::Json(req): extract::Json<CreateWorkspace>,
) -> ApiResult<(StatusCode, Json<Workspace>)> {
    principal.require_admin()?;
    state.config().limits.check_short("name", &req.name)?;
    let ws = state.store().create_workspace(req.name.trim()).await?;
    tracing::info!(admin = %principal.user.email, workspace = %ws.name, "workspace created");
    let details = json!({ "workspace_id": ws.id });
    audit::record(
        &state,
        &principal,
        AuditAction::WorkspaceCreated,
        &ws.name,
        details,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(ws)))
}

/// Members of a workspace (its members and admins may see them).
#[utoipa::path(get, path = "/api/v1/workspaces/{name}/members", tag = "workspaces",
    params(("name" = String, Path, description = "workspace name", max_length = 256)),
    responses((status = 200, body = Vec<Member>), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_members(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<Member>>> {
    let ws = workspace_named(&state, &principal, &name).await?;
    Ok(Json(state.store().members(ws.id).await?))
}

async fn user_by_email(state: &AppState, email: &str) -> ApiResult<flowo_core::account::User> {
    state.config().limits.check_email(email)?;
    Ok(state
        .store()
        .user_credentials(email)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("user {email:?} not found")))?
        .user)
}

/// Adds a user to a workspace (admins).
#[utoipa::path(put, path = "/api/v1/workspaces/{name}/members/{email}", tag = "workspaces",
    params(("name" = String, Path, description = "workspace name", max_length = 256), ("email" = String, Path, description = "user e-mail", max_length = 254)),
    responses((status = 204, description = "added"), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn add_member(
    State(state): State<AppState>,
    principal: Principal,
    Path((name, email)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    principal.require_admin()?;
    let ws = workspace_named(&state, &principal, &name).await?;
    let user = user_by_email(&state, &email).await?;
    state.store().add_member(ws.id, user.id).await?;
    tracing::info!(admin = %principal.user.email, workspace = %ws.name, member = %user.email, "member added");
    let details = json!({ "workspace": ws.name, "user_id": user.id });
    audit::record(
        &state,
        &principal,
        AuditAction::MemberAdded,
        &user.email,
        details,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a user from a workspace (admins).
#[utoipa::path(delete, path = "/api/v1/workspaces/{name}/members/{email}", tag = "workspaces",
    params(("name" = String, Path, description = "workspace name", max_length = 256), ("email" = String, Path, description = "user e-mail", max_length = 254)),
    responses((status = 204, description = "removed"), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn remove_member(
    State(state): State<AppState>,
    principal: Principal,
    Path((name, email)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    principal.require_admin()?;
    let ws = workspace_named(&state, &principal, &name).await?;
    let user = user_by_email(&state, &email).await?;
    if !state.store().remove_member(ws.id, user.id).await? {
        return Err(ApiError::not_found(format!(
            "{email:?} is not a member of {name:?}"
        )));
    }
    tracing::info!(admin = %principal.user.email, workspace = %ws.name, member = %user.email, "member removed");
    let details = json!({ "workspace": ws.name, "user_id": user.id });
    audit::record(
        &state,
        &principal,
        AuditAction::MemberRemoved,
        &user.email,
        details,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

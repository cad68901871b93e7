//! Users (admins only). Registration is closed: admins create users.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use flowo_core::account::{Role, User, UserId};
use flowo_core::store::AuditAction;
use flowo_core::store::UserUpdate;
use serde::Deserialize;
use serde_json::json;

use crate::auth::{self, Principal};
use crate::error::ApiResult;
use crate::extract::{self, Path};
use crate::routes::audit;
use crate::state::AppState;

/// A new user.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateUser {
    /// E-mail (the login name).
    #[schema(
        max_length = 254,
        pattern = r"^\s*[^@\s\x00-\x1f\x7f-\x9f]+@[^\s\x00-\x1f\x7f-\x9f]+\s*$"
    )]
    pub email: String,
    /// Role (default `member`).
    pub role: Option<Role>,
    /// Password (8 to `Limits::max_password`, by default 1024, characters); without one the
    /// user cannot log in with a password.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: Option<String>,
}

/// Changes to a user.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct UpdateUser {
    /// New role.
    pub role: Option<Role>,
    /// Disable or enable.
    pub disabled: Option<bool>,
    /// New password (8 to `Limits::max_password`, by default 1024, characters).
    #[schema(min_length = 8, max_length = 1024)]
    pub password: Option<String>,
}

/// All users.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = Vec<User>), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_users(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<User>>> {
    principal.require_admin()?;
    Ok(Json(state.store().list_users().await?))
}

/// Creates a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = User), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    principal: Principal,
    extract::Json(req): extract::Json<CreateUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    principal.require_admin()?;
    let limits = &state.config().limits;
    limits.check_email(&req.email)?;
    let hash = match &req.password {
        Some(p) => {
            limits.check_password(p)?;
            Some(auth::hash_password(p)?)
        }
        None => None,
    };
    let user = state
        .store()
        .create_user(
            &req.email,
            req.role.unwrap_or(Role::Member),
            hash.as_deref(),
        )
        .await?;
    tracing::info!(admin = %principal.user.email, user = %user.email, role = %user.role, "user created");
    let details = json!({ "user_id": user.id, "role": user.role, "password_set": hash.is_some() });
    audit::record(
        &state,
        &principal,
        AuditAction::UserCreated,
        &user.email,
        details,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Changes a user's role, status or password.
#[utoipa::path(patch, path = "/api/v1/users/{user_id}", tag = "users", request_body = UpdateUser,
    params(("user_id" = uuid::Uuid, Path, description = "user id")),
    responses((status = 200, body = User), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 409, description = "the change would leave no enabled administrator",
               body = crate::error::ErrorBody)))]
pub async fn update_user(
    State(state): State<AppState>,
    principal: Principal,
    Path(user_id): Path<uuid::Uuid>,
    extract::Json(req): extract::Json<UpdateUser>,
) -> ApiResult<Json<User>> {
    principal.require_admin()?;
    auth::check_keeps_an_admin(&**state.store(), UserId(user_id), req.role, req.disabled).await?;
    let password_hash = match &req.password {
        Some(p) => {
            state.config().limits.check_password(p)?;
            Some(Some(auth::hash_password(p)?))
        }
        None => None,
    };
    let before = state.store().user(UserId(user_id)).await?;
    let user = state
        .store()
        .update_user(
            UserId(user_id),
            UserUpdate {
                role: req.role,
                disabled: req.disabled,
                password_hash,
            },
        )
        .await?;
    tracing::info!(admin = %principal.user.email, user = %user.email, role = %user.role,
        disabled = user.disabled, password_changed = req.password.is_some(), "user changed");
    let changes = before.map_or_else(Vec::new, |before| {
        audit::user_update_entries(&before, &user, req.password.is_some())
    });
    for (action, details) in changes {
        audit::record(&state, &principal, action, &user.email, details).await?;
    }
    Ok(Json(user))
}

//! API tokens: created with a scope and optional expiry, shown once, revocable.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use flowo_core::account::{ApiToken, ApiTokenId, NewApiToken, TokenScope, User};
use flowo_core::store::AuditAction;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::{self, Principal};
use crate::error::{ApiError, ApiResult};
use crate::extract::{self, Path};
use crate::routes::audit;
use crate::state::AppState;

/// A new token.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateToken {
    /// A name for people (leading and trailing spaces are dropped).
    #[schema(min_length = 1, max_length = 256)]
    pub name: String,
    /// `ingest` (default), `read` or `admin`.
    pub scope: Option<TokenScope>,
    /// Limit to this workspace (by name).
    #[schema(max_length = 256)]
    pub workspace: Option<String>,
    /// Days until it expires (default: never).
    #[schema(minimum = 1, maximum = 36500)]
    pub expires_in_days: Option<u32>,
    /// Owner (admins only; default the caller), by e-mail.
    #[schema(max_length = 254)]
    pub user: Option<String>,
}

/// A created token: the only time its text is shown.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// The stored token.
    #[serde(flatten)]
    pub token: ApiToken,
    /// The token itself. Store it now: only its hash is kept.
    pub secret: String,
}

/// The caller's tokens (`?all=true`: everyone's, for admins).
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct TokenListParams {
    /// Every user's tokens (admins).
    pub all: bool,
}

/// Lists tokens (never their text).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", params(TokenListParams),
    responses((status = 200, body = Vec<ApiToken>), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    principal: Principal,
    crate::extract::Query(params): crate::extract::Query<TokenListParams>,
) -> ApiResult<Json<Vec<ApiToken>>> {
    if !principal.can_manage_self() {
        return Err(ApiError::forbidden("this credential may not manage tokens"));
    }
    let user = if params.all {
        principal.require_admin()?;
        None
    } else {
        Some(principal.user.id)
    };
    Ok(Json(state.store().list_tokens(user).await?))
}

/// Creates a token for the caller (or, for admins, another user).
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody),
              (status = 404, description = "no such owner or workspace", body = crate::error::ErrorBody),
              (status = 409, description = "an admin token for a non-administrator, or a workspace the owner is not a member of",
               body = crate::error::ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    extract::Json(req): extract::Json<CreateToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    if !principal.can_manage_self() {
        return Err(ApiError::forbidden("this credential may not manage tokens"));
    }
    let name = req.name.trim();
    let limits = &state.config().limits;
    let longest = limits.max_short_string;
    if name.is_empty() || name.chars().count() > longest {
        return Err(ApiError::bad_request(format!(
            "a token needs a name of 1-{longest} characters"
        )));
    }
    limits.check_short("name", name)?;
    limits.check_short_opt("workspace", req.workspace.as_deref())?;
    if let Some(email) = &req.user {
        limits.check_email(email)?;
    }
    let owner: User = match &req.user {
        Some(email) if !email.eq_ignore_ascii_case(&principal.user.email) => {
            principal.require_admin()?;
            state
                .store()
                .user_credentials(email)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("user {email:?} not found")))?
                .user
        }
        _ => principal.user.clone(),
    };
    let scope = req.scope.unwrap_or(TokenScope::Ingest);
    if scope == TokenScope::Admin && owner.role != flowo_core::account::Role::Admin {
        // A well-formed request that the owner's role refuses: a conflict with their state.
        return Err(ApiError::conflict(
            "only administrators can hold admin tokens",
        ));
    }
    let workspace_id = match &req.workspace {
        Some(name) => {
            let ws = state
                .store()
                .workspace_by_name(name)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("workspace {name:?} not found")))?;
            let member = owner.role == flowo_core::account::Role::Admin
                || state
                    .store()
                    .user_workspaces(owner.id)
                    .await?
                    .iter()
                    .any(|w| w.id == ws.id);
            if !member {
                return Err(ApiError::conflict(format!(
                    "{} is not a member of workspace {name:?}",
                    owner.email
                )));
            }
            Some(ws.id)
        }
        None => None,
    };
    let expires_at = match req.expires_in_days {
        Some(0) => return Err(ApiError::bad_request("expires_in_days must be at least 1")),
        Some(days) if days > 36_500 => {
            return Err(ApiError::bad_request(
                "expires_in_days must be at most 36500",
            ));
        }
        Some(days) => Some(chrono::Utc::now() + chrono::Duration::days(i64::from(days))),
        None => None,
    };
    let plain = auth::generate_token();
    let token = state
        .store()
        .create_token(NewApiToken {
            user_id: owner.id,
            name: name.to_owned(),
            scope,
            workspace_id,
            prefix: plain.prefix.clone(),
            hash: plain.hash.clone(),
            expires_at,
        })
        .await?;
    tracing::info!(by = %principal.user.email, owner = %owner.email, token = %token.prefix,
        scope = %token.scope, "token created");
    let details = json!({
        "name": token.name, "prefix": token.prefix, "scope": token.scope,
        "user_id": token.user_id, "owner": owner.email, "workspace_id": token.workspace_id,
        "expires_at": token.expires_at,
    });
    let target = token.id.to_string();
    audit::record(
        &state,
        &principal,
        AuditAction::TokenCreated,
        target,
        details,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token,
            secret: plain.token,
        }),
    ))
}

/// Revokes a token (its owner, or an admin).
#[utoipa::path(delete, path = "/api/v1/tokens/{token_id}", tag = "tokens",
    params(("token_id" = uuid::Uuid, Path, description = "token id")),
    responses((status = 204, description = "revoked"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    principal: Principal,
    Path(token_id): Path<uuid::Uuid>,
) -> ApiResult<StatusCode> {
    if !principal.can_manage_self() {
        return Err(ApiError::forbidden("this credential may not manage tokens"));
    }
    let id = ApiTokenId(token_id);
    let token = state
        .store()
        .token(id)
        .await?
        .filter(|t| t.user_id == principal.user.id || principal.is_admin())
        .ok_or_else(|| ApiError::not_found(format!("token {token_id} not found")))?;
    state.store().revoke_token(token.id).await?;
    tracing::info!(by = %principal.user.email, token = %token.prefix, "token revoked");
    let details = json!({ "name": token.name, "prefix": token.prefix, "user_id": token.user_id });
    let target = token.id.to_string();
    audit::record(
        &state,
        &principal,
        AuditAction::TokenRevoked,
        target,
        details,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

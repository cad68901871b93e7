//! The audit log of administrative actions (`GET /api/v1/audit`, admins only), and
//! `record`, which the handlers that create, change, revoke or delete something call after
//! the change.

use axum::Json;
use axum::extract::State;
use flowo_core::store::{AuditAction, AuditEntry, AuditQuery, NewAuditEntry, Page};
use serde::Deserialize;

use crate::auth::Principal;
use crate::error::ApiResult;
use crate::extract::Query;
use crate::state::AppState;

/// Records that `principal` did `action` to `target`. `details` must hold no secret (no
/// password, token text or hash). An entry that cannot be stored fails the request (the
/// change itself is already made): an administrative action is never left unrecorded
/// silently.
pub(crate) async fn record(
    state: &AppState,
    principal: &Principal,
    action: AuditAction,
    target: impl Into<String>,
    details: serde_json::Value,
) -> ApiResult<()> {
    state
        .store()
        .record_audit(NewAuditEntry {
            actor_id: Some(principal.user.id),
            actor: principal.user.email.clone(),
            action,
            target: target.into(),
            details,
        })
        .await?;
    Ok(())
}

/// Page of `GET /audit`.
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct AuditListParams {
    /// From the previous page's `next_cursor` (empty: the first page).
    pub cursor: Option<String>,
    /// Page size, 1 to `Limits::max_page_size` (default 100, at most 1000); a larger one is
    /// refused (400).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// The audit log, newest first (admins).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditListParams),
    responses((status = 200, body = Page<AuditEntry>), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_audit(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<AuditListParams>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    principal.require_admin()?;
    let query = AuditQuery {
        cursor: params.cursor.filter(|c| !c.is_empty()),
        limit: state.config().limits.page_size(params.limit, 100)?,
    };
    Ok(Json(state.store().list_audit(&query).await?))
}

/// The entries a change of a user makes, as (action, details): one per aspect that changed
/// (role, disabled, password). Shared with `flowo user`, which records the same.
pub fn user_update_entries(
    before: &flowo_core::account::User,
    after: &flowo_core::account::User,
    password_set: bool,
) -> Vec<(AuditAction, serde_json::Value)> {
    let mut entries = Vec::new();
    if before.role != after.role {
        entries.push((
            AuditAction::UserRoleChanged,
            serde_json::json!({ "user_id": after.id, "from": before.role, "to": after.role }),
        ));
    }
    if before.disabled != after.disabled {
        let action = if after.disabled {
            AuditAction::UserDisabled
        } else {
            AuditAction::UserEnabled
        };
        entries.push((action, serde_json::json!({ "user_id": after.id })));
    }
    if password_set {
        entries.push((
            AuditAction::UserPasswordSet,
            serde_json::json!({ "user_id": after.id }),
        ));
    }
    entries
}

//! Workspace statistics.

use axum::Json;
use axum::extract::State;
use flowo_core::store::{StatsQuery, WorkspaceStats};
use serde::Deserialize;

use crate::auth::Principal;
use crate::error::ApiResult;
use crate::extract::Query;
use crate::state::AppState;

/// Range and scope of `GET /stats`.
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct StatsParams {
    /// A workspace name (default: every workspace the caller may read).
    #[param(max_length = 256)]
    pub workspace: Option<String>,
    /// Runs started at or after (RFC 3339).
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Runs started before (RFC 3339).
    pub to: Option<chrono::DateTime<chrono::Utc>>,
}

/// Runs by status, jobs by status, per-rule failure rates and durations, runs per day.
#[utoipa::path(get, path = "/api/v1/stats", tag = "stats", params(StatsParams),
    responses((status = 200, body = WorkspaceStats), (status = 400, body = crate::error::ErrorBody)))]
pub async fn get_stats(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<StatsParams>,
) -> ApiResult<Json<WorkspaceStats>> {
    let limits = &state.config().limits;
    limits.check_short_opt("workspace", params.workspace.as_deref())?;
    let mut workspaces = principal.readable_workspaces();
    if let Some(name) = &params.workspace {
        let ws = state.store().workspace_by_name(name).await?;
        workspaces = Some(
            ws.map(|w| w.id)
                .filter(|id| principal.can_read(*id))
                .into_iter()
                .collect(),
        );
    }
    let query = StatsQuery {
        workspaces,
        from: params.from,
        to: params.to,
    };
    Ok(Json(state.store().workspace_stats(&query).await?))
}

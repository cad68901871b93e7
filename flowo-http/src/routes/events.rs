//! Ingest (`POST /events`) and reading a run's events (`GET /runs/{run_id}/events`).

use axum::Json;
use axum::extract::State;
use flowo_core::store::{AppendOutcome, RunEventQuery, StoredEvent};
use flowo_core::{EventEnvelope, RunId, WorkspaceId};
use serde::Deserialize;

use crate::auth::{Credential, Principal};
use crate::error::{ApiError, ApiResult};
use crate::extract::{self, Path, Query};
use crate::state::AppState;

/// A batch of events.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct IngestRequest {
    /// The events, of one run or several.
    pub events: Vec<EventEnvelope>,
}

/// Where a batch goes.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IngestParams {
    /// Workspace name for runs this batch creates (ignored for tokens limited to a workspace;
    /// default `default`).
    #[param(max_length = 256)]
    pub workspace: Option<String>,
}

/// `body_bytes` is the size of the JSON text the batch came in: an event's compact `data` is
/// never longer, so when the whole body is within the per-event limit no event is measured
/// (which would serialize it a second time on the ingest path).
fn check_batch(
    limits: &crate::state::Limits,
    events: &[EventEnvelope],
    body_bytes: usize,
) -> ApiResult<()> {
    if events.len() > limits.max_batch {
        return Err(ApiError::too_large(format!(
            "a batch may hold at most {} events, got {}",
            limits.max_batch,
            events.len()
        )));
    }
    for e in events {
        if e.kind.is_empty() || e.kind.chars().count() > 64 || e.kind.contains('\0') {
            return Err(ApiError::bad_request(format!(
                "event {} of run {}: kind must be 1-64 characters, without NUL",
                e.seq, e.run_id
            )));
        }
        if i64::try_from(e.seq).is_err() {
            return Err(ApiError::bad_request(format!("seq {} is too large", e.seq)));
        }
        let size = if body_bytes <= limits.max_event_bytes {
            0
        } else {
            serde_json::to_vec(&e.data).map_or(usize::MAX, |v| v.len())
        };
        if size > limits.max_event_bytes {
            return Err(ApiError::too_large(format!(
                "event {} of run {}: data is {size} bytes, the limit is {}",
                e.seq, e.run_id, limits.max_event_bytes
            )));
        }
        if e.kind == "run_labels" {
            check_labels(limits, e)?;
        }
    }
    Ok(())
}

fn check_labels(limits: &crate::state::Limits, e: &EventEnvelope) -> ApiResult<()> {
    let too_long = |s: &str| s.chars().count() > limits.max_short_string;
    if let Some(tags) = e.data.get("tags").and_then(|t| t.as_array()) {
        if tags.len() > limits.max_tags {
            return Err(ApiError::bad_request(format!(
                "a run may have at most {} tags",
                limits.max_tags
            )));
        }
        if tags.iter().filter_map(|t| t.as_str()).any(too_long) {
            return Err(ApiError::bad_request(format!(
                "tags may be at most {} characters",
                limits.max_short_string
            )));
        }
    }
    if e.data
        .get("name")
        .and_then(|n| n.as_str())
        .is_some_and(too_long)
    {
        return Err(ApiError::bad_request(format!(
            "a run name may be at most {} characters",
            limits.max_short_string
        )));
    }
    Ok(())
}

/// An ingest request body's JSON text read and checked as `POST /events` reads and checks it
/// (before the store's own checks): the events, or the error the endpoint answers.
pub fn parse_batch(limits: &crate::state::Limits, body: &[u8]) -> ApiResult<Vec<EventEnvelope>> {
    let body = extract::SizedJson::<IngestRequest>::parse(limits, body)?;
    check_batch(limits, &body.value.events, body.body_bytes)?;
    Ok(body.value.events)
}

async fn target_workspace(
    state: &AppState,
    principal: &Principal,
    name: Option<&str>,
) -> ApiResult<WorkspaceId> {
    if let Credential::Token {
        workspace: Some(ws),
        ..
    } = &principal.credential
    {
        return Ok(*ws);
    }
    let name = name.unwrap_or(flowo_core::model::DEFAULT_WORKSPACE);
    let ws = state
        .store()
        .workspace_by_name(name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("workspace {name:?} not found")))?;
    Ok(ws.id)
}

/// Stores a batch of events, idempotently by (run, seq). A run is created in the workspace of
/// the credential that first writes it (a token's workspace, else `?workspace=`, else
/// `default`); writing into a run of another workspace is refused.
#[utoipa::path(post, path = "/api/v1/events", tag = "events", params(IngestParams),
    request_body = IngestRequest,
    responses((status = 200, body = AppendOutcome), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody),
              (status = 404, description = "no such workspace", body = crate::error::ErrorBody),
              (status = 413, body = crate::error::ErrorBody)))]
pub async fn ingest_events(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<IngestParams>,
    body: extract::SizedJson<IngestRequest>,
) -> ApiResult<Json<AppendOutcome>> {
    let req = body.value;
    let limits = &state.config().limits;
    limits.check_short_opt("workspace", params.workspace.as_deref())?;
    check_batch(limits, &req.events, body.body_bytes)?;
    let ws = target_workspace(&state, &principal, params.workspace.as_deref()).await?;
    if !principal.can_ingest(ws) {
        return Err(ApiError::forbidden(
            "this credential may not send events to this workspace",
        ));
    }
    let outcome = state.store().append(ws, &req.events).await?;
    let metrics = state.metrics();
    metrics.events_ingested.inc_by(outcome.inserted);
    metrics.events_duplicate.inc_by(outcome.duplicates);
    Ok(Json(outcome))
}

/// Paging through a run's events.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunEventParams {
    /// Events after this sequence number.
    #[param(maximum = 9_223_372_036_854_775_807_u64)]
    pub after_seq: Option<u64>,
    /// Comma-separated kinds (`log,error`).
    #[param(max_length = 256)]
    pub kinds: Option<String>,
    /// Page size, 1 to `Limits::max_page_size` (default 500, at most 1000); a larger one is
    /// refused (400).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// A run's events in sequence order (its log).
#[utoipa::path(get, path = "/api/v1/runs/{run_id}/events", tag = "runs", params(
    ("run_id" = uuid::Uuid, Path, description = "run id"), RunEventParams),
    responses((status = 200, body = Vec<StoredEvent>), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_run_events(
    State(state): State<AppState>,
    principal: Principal,
    Path(run_id): Path<RunId>,
    Query(params): Query<RunEventParams>,
) -> ApiResult<Json<Vec<StoredEvent>>> {
    let limits = &state.config().limits;
    limits.check_short_opt("kinds", params.kinds.as_deref())?;
    let limit = limits.page_size(params.limit, 500)?;
    if params.after_seq.is_some_and(|s| i64::try_from(s).is_err()) {
        // Sequence numbers are stored as signed 64-bit integers: a larger one would wrap.
        return Err(ApiError::bad_request(format!(
            "after_seq must be at most {}",
            i64::MAX
        )));
    }
    super::runs::readable_run(&state, &principal, run_id).await?;
    let query = RunEventQuery {
        after_seq: params.after_seq,
        kinds: params
            .kinds
            .map(|k| {
                k.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        limit,
    };
    Ok(Json(state.store().run_events(run_id, &query).await?))
}

//! Runs and what belongs to them: jobs, rules, the rule graph, the timeline, errors.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use flowo_core::event::{RuleGraph, RunSource};
use flowo_core::store::{
    JobQuery, JobSort, Page, RunQuery, RunSort, RunView, SortOrder, TimelineBar,
};
use flowo_core::{Job, JobBrief, JobId, JobStatus, RuleSummary, Run, RunError, RunId, RunStatus};
use serde::Deserialize;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Path, Query};
use crate::state::AppState;

/// Filters, sort and page of `GET /runs`.
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct RunListParams {
    /// Comma-separated statuses (`running,failed`).
    #[param(value_type = Option<Vec<RunStatus>>, style = Form, explode = false, max_items = 20)]
    pub status: Option<String>,
    /// Text searched in name, tags, workdir and description.
    #[param(max_length = 256)]
    pub q: Option<String>,
    /// A tag.
    #[param(max_length = 256)]
    pub tag: Option<String>,
    /// A workspace name.
    #[param(max_length = 256)]
    pub workspace: Option<String>,
    /// A Snakemake user.
    #[param(max_length = 256)]
    pub user: Option<String>,
    /// Started at or after (RFC 3339).
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Started before (RFC 3339).
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    /// `started_at` (default), `last_event_at` or `name`.
    pub sort: Option<RunSort>,
    /// `desc` (default) or `asc`.
    pub order: Option<SortOrder>,
    /// From the previous page's `next_cursor` (empty: the first page).
    pub cursor: Option<String>,
    /// Page size, 1 to `Limits::max_page_size` (default 50, at most 1000); a larger one is
    /// refused (400).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Count all matches (default true).
    pub total: Option<bool>,
}

fn parse_list<T: std::str::FromStr>(text: Option<&str>, what: &str) -> ApiResult<Vec<T>>
where
    T::Err: std::fmt::Display,
{
    text.map(|t| {
        t.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<T>()
                    .map_err(|e| ApiError::bad_request(format!("{what}: {e}")))
            })
            .collect()
    })
    .unwrap_or_else(|| Ok(Vec::new()))
}

/// The run, if the caller may read it; 404 otherwise (existence is not revealed).
pub(crate) async fn readable_run(
    state: &AppState,
    principal: &Principal,
    run: RunId,
) -> ApiResult<RunView> {
    let view = state
        .store()
        .get_run(run)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("run {run} not found")))?;
    principal.require_read(view.run.workspace_id, &format!("run {run}"))?;
    Ok(view)
}

/// Searches runs the caller may read.
#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", params(RunListParams),
    responses((status = 200, body = Page<Run>), (status = 400, body = crate::error::ErrorBody)))]
pub async fn list_runs(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<RunListParams>,
) -> ApiResult<Json<Page<Run>>> {
    let limits = &state.config().limits;
    for (what, value) in [
        ("status", &params.status),
        ("q", &params.q),
        ("tag", &params.tag),
        ("workspace", &params.workspace),
        ("user", &params.user),
    ] {
        limits.check_short_opt(what, value.as_deref())?;
    }
    let limit = limits.page_size(params.limit, 50)?;
    let mut workspaces = principal.readable_workspaces();
    if let Some(name) = &params.workspace {
        let ws = state.store().workspace_by_name(name).await?;
        let id = ws.map(|w| w.id).filter(|id| principal.can_read(*id));
        workspaces = Some(id.into_iter().collect());
    }
    let query = RunQuery {
        workspaces,
        status: parse_list::<RunStatus>(params.status.as_deref(), "status")?,
        text: params.q,
        tag: params.tag,
        user: params.user,
        started_after: params.from,
        started_before: params.to,
        sort: params.sort.unwrap_or_default(),
        order: params.order.unwrap_or_default(),
        cursor: params.cursor.filter(|c| !c.is_empty()),
        limit,
        with_total: params.total.unwrap_or(true),
    };
    Ok(Json(state.store().list_runs(&query).await?))
}

/// One run: status, progress, job counts, timing and everything Snakemake said about it.
#[utoipa::path(get, path = "/api/v1/runs/{run_id}", tag = "runs",
    params(("run_id" = uuid::Uuid, Path, description = "run id")),
    responses((status = 200, body = RunView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_run(
    State(state): State<AppState>,
    principal: Principal,
    Path(run_id): Path<RunId>,
) -> ApiResult<Json<RunView>> {
    Ok(Json(readable_run(&state, &principal, run_id).await?))
}

/// Deletes a run and everything recorded about it (members and admins of its workspace).
#[utoipa::path(delete, path = "/api/v1/runs/{run_id}", tag = "runs",
    params(("run_id" = uuid::Uuid, Path, description = "run id")),
    responses((status = 204, description = "deleted"), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_run(
    State(state): State<AppState>,
    principal: Principal,
    Path(run_id): Path<RunId>,
) -> ApiResult<StatusCode> {
    let view = readable_run(&state, &principal, run_id).await?;
    if !principal.can_modify(view.run.workspace_id) {
        return Err(ApiError::forbidden(
            "this credential may not delete runs here",
        ));
    }
    if state.store().delete_run(run_id).await? {
        let details = serde_json::json!({
            "name": view.run.name, "workspace_id": view.run.workspace_id, "status": view.run.status,
        });
        let action = flowo_core::store::AuditAction::RunDeleted;
        crate::routes::audit::record(&state, &principal, action, run_id.to_string(), details)
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Filters, sort and page of `GET /runs/{run_id}/jobs`.
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct JobListParams {
    /// A rule.
    #[param(max_length = 256)]
    pub rule: Option<String>,
    /// Comma-separated statuses (`failed,running`).
    #[param(value_type = Option<Vec<JobStatus>>, style = Form, explode = false, max_items = 20)]
    pub status: Option<String>,
    /// `job_id` (default) or `started_at`.
    pub sort: Option<JobSort>,
    /// `asc` (default) or `desc`.
    pub order: Option<SortOrder>,
    /// From the previous page's `next_cursor` (empty: the first page).
    pub cursor: Option<String>,
    /// Page size, 1 to `Limits::max_page_size` (default 100, at most 1000); a larger one is
    /// refused (400).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Count all matches (default true).
    pub total: Option<bool>,
}

/// Jobs of a run.
#[utoipa::path(get, path = "/api/v1/runs/{run_id}/jobs", tag = "runs",
    params(("run_id" = uuid::Uuid, Path, description = "run id"), JobListParams),
    responses((status = 200, body = Page<Job>), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_jobs(
    State(state): State<AppState>,
    principal: Principal,
    Path(run_id): Path<RunId>,
    Query(params): Query<JobListParams>,
) -> ApiResult<Json<Page<Job>>> {
    let query = job_query(&state, params)?;
    readable_run(&state, &principal, run_id).await?;
    Ok(Json(state.store().list_jobs(run_id, &query).await?))
}

/// Jobs of a run as a list shows them ([`JobBrief`]: without the detail beyond wildcards and
/// threads), with the filters, sort and pages of `GET /runs/{run_id}/jobs`. The dashboard
/// loads a run's jobs this way (a real Snakemake job's brief is a quarter to two fifths of
/// its bytes).
#[utoipa::path(get, path = "/api/v1/runs/{run_id}/job-briefs", tag = "runs",
    params(("run_id" = uuid::Uuid, Path, description = "run id"), JobListParams),
    responses((status = 200, body = Page<JobBrief>), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_job_briefs(
    State(state): State<AppState>,
    principal: Principal,
    Path(run_id): Path<RunId>,
    Query(params): Query<JobListParams>,
) -> ApiResult<Json<Page<JobBrief>>> {
    let query = job_query(&state, params)?;
    readable_run(&state, &principal, run_id).await?;
    let page = state.store().list_jobs(run_id, &query).await?;
    Ok(Json(Page {
        items: page.items.into_iter().map(JobBrief::from).collect(),
        next_cursor: page.next_cursor,
        total: page.total,
    }))
}

/// The store's query for a jobs listing, its parameters checked.
fn job_query(state: &AppState, params: JobListParams) -> ApiResult<JobQuery> {
    let limits = &state.config().limits;
    limits.check_short_opt("rule", params.rule.as_deref())?;
    limits.check_short_opt("status", params.status.as_deref())?;
    let limit = limits.page_size(params.limit, 100)?;
    Ok(JobQuery {
        rule: params.rule,
        status: parse_list::<JobStatus>(params.status.as_deref(), "status")?,
        sort: params.sort.unwrap_or_default(),
        order: params.order.unwrap_or(SortOrder::Asc),
        cursor: params.cursor.filter(|c| !c.is_empty()),
        limit,
        with_total: params.total.unwrap_or(true),
    })
}

/// One job, with the tails of its log files when the producer sent them.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct JobView {
    /// The job.
    #[serde(flatten)]
    pub job: Job,
    /// Log tails the producer shipped (`job_logs` events), newest last.
    pub logs: Vec<serde_json::Value>,
}

/// One job.
#[utoipa::path(get, path = "/api/v1/runs/{run_id}/jobs/{job_id}", tag = "runs",
    params(("run_id" = uuid::Uuid, Path, description = "run id"), ("job_id" = u64, Path, description = "Snakemake job id")),
    responses((status = 200, body = JobView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_job(
    State(state): State<AppState>,
    principal: Principal,
    Path((run_id, job_id)): Path<(RunId, JobId)>,
) -> ApiResult<Json<JobView>> {
    readable_run(&state, &principal, run_id).await?;
    let job = state
        .store()
        .get_job(run_id, job_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("job {job_id} of run {run_id} not found")))?;
    let logs = job_logs(&state, run_id, job_id).await?;
    Ok(Json(JobView { job, logs }))
}

async fn job_logs(state: &AppState, run: RunId, job: JobId) -> ApiResult<Vec<serde_json::Value>> {
    let mut logs = events_of_kind(state, run, "job_logs").await?;
    logs.retain(|data| data.get("job_id").and_then(|v| v.as_u64()) == Some(job));
    Ok(logs)
}

/// The payloads of every event of one kind of a run, in sequence order.
async fn events_of_kind(
    state: &AppState,
    run: RunId,
    kind: &str,
) -> ApiResult<Vec<serde_json::Value>> {
    const PAGE: u32 = 1000;
    let mut out = Vec::new();
    let mut query = flowo_core::store::RunEventQuery {
        after_seq: None,
        kinds: vec![kind.to_owned()],
        limit: PAGE,
    };
    loop {
        let page = state.store().run_events(run, &query).await?;
        let n = page.len();
        for e in page {
            query.after_seq = Some(e.envelope.seq);
            out.push(e.envelope.data);
        }
        if n < PAGE as usize {
            return Ok(out);
        }
    }
}

/// The workflow's source files (Snakefile, includes, config files, scripts) as the plugin
/// captured them when the run started; empty when none were captured.
#[utoipa::path(get, path = "/api/v1/runs/{run_id}/sources", tag = "runs",
    params(("run_id" = uuid::Uuid, Path, description = "run id")),
    responses((status = 200, body = Vec<RunSource>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_sources(
    State(state): State<AppState>,
    principal: Principal,
    Path(run_id): Path<RunId>,
) -> ApiResult<Json<Vec<RunSource>>> {
    readable_run(&state, &principal, run_id).await?;
    let sources = events_of_kind(&state, run_id, "run_source")
        .await?
        .into_iter()
        .filter_map(|data| serde_json::from_value(data).ok())
        .collect();
    Ok(Json(sources))
}

/// Per-rule job counts by status and durations.
#[utoipa::path(get, path = "/api/v1/runs/{run_id}/rules", tag = "runs",
    params(("run_id" = uuid::Uuid, Path, description = "run id")),
    responses((status = 200, body = Vec<RuleSummary>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_rules(
    State(state): State<AppState>,
    principal: Principal,
    Path(run_id): Path<RunId>,
) -> ApiResult<Json<Vec<RuleSummary>>> {
    readable_run(&state, &principal, run_id).await?;
    Ok(Json(state.store().rule_summaries(run_id).await?))
}

/// The rule graph (empty when Snakemake sent none).
#[utoipa::path(get, path = "/api/v1/runs/{run_id}/graph", tag = "runs",
    params(("run_id" = uuid::Uuid, Path, description = "run id")),
    responses((status = 200, body = RuleGraph), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_rule_graph(
    State(state): State<AppState>,
    principal: Principal,
    Path(run_id): Path<RunId>,
) -> ApiResult<Json<RuleGraph>> {
    let view = readable_run(&state, &principal, run_id).await?;
    Ok(Json(view.detail.rulegraph.unwrap_or_default()))
}

/// One bar per job.
#[utoipa::path(get, path = "/api/v1/runs/{run_id}/timeline", tag = "runs",
    params(("run_id" = uuid::Uuid, Path, description = "run id")),
    responses((status = 200, body = Vec<TimelineBar>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_timeline(
    State(state): State<AppState>,
    principal: Principal,
    Path(run_id): Path<RunId>,
) -> ApiResult<Json<Vec<TimelineBar>>> {
    readable_run(&state, &principal, run_id).await?;
    Ok(Json(state.store().timeline(run_id).await?))
}

/// Run-level and job-level errors, message and traceback as Snakemake gave them.
#[utoipa::path(get, path = "/api/v1/runs/{run_id}/errors", tag = "runs",
    params(("run_id" = uuid::Uuid, Path, description = "run id")),
    responses((status = 200, body = Vec<RunError>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_errors(
    State(state): State<AppState>,
    principal: Principal,
    Path(run_id): Path<RunId>,
) -> ApiResult<Json<Vec<RunError>>> {
    readable_run(&state, &principal, run_id).await?;
    Ok(Json(state.store().run_errors(run_id).await?))
}

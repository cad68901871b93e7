//! Where the client commands (`flowo runs ...`) read runs: a FlowO server over its HTTP API, or
//! a database opened directly. Both answer with the same types; where a command prints JSON,
//! a server's answer is passed on as received and a database's is the same type serialized,
//! so `--json` prints what `GET /api/v1/...` would.
//!
//! A database target sees every workspace (as an administrator does over HTTP); a server
//! target sees what its token may read.

use std::sync::Arc;

use anyhow::{Context, bail};
use flowo_client::Target;
use flowo_client::api::{ApiClient, ApiError, RunListParams};
use flowo_core::store::{Page, RunQuery, RunSort, RunView, SortOrder};
use flowo_core::{RuleSummary, Run, RunError, RunId, RunStatus, Store};

use crate::config::{Global, mask_url, open_store};

/// Shortest run id prefix accepted, hex digits.
pub const MIN_PREFIX: usize = 8;

/// A server or a database, opened.
pub enum Reader {
    /// A FlowO server.
    Server(ApiClient),
    /// A database.
    Database {
        /// The store.
        store: Arc<dyn Store>,
    },
}

/// An answer with the JSON `--json` prints.
pub struct WithJson<T> {
    /// The answer.
    pub value: T,
    /// Its JSON, exactly as the HTTP API gives it.
    pub json: serde_json::Value,
}

impl Reader {
    /// Opens the target the global settings name.
    pub async fn open(global: &Global) -> anyhow::Result<Self> {
        let (target, _) = global.target()?;
        match target {
            Target::Server { url, token } => Ok(Reader::Server(ApiClient::new(&url, token)?)),
            Target::Database { url } => Ok(Reader::Database {
                store: open_store(&url, &global.client_store_options()).await?,
            }),
        }
    }

    /// Runs matching `params`, as `GET /api/v1/runs` answers. A database target builds the
    /// query the HTTP handler builds for an administrator (the HTTP defaults: 50 per page,
    /// with the total).
    pub async fn list_runs(&self, params: &RunListParams) -> anyhow::Result<WithJson<Page<Run>>> {
        match self {
            Reader::Server(api) => {
                let page = api.list_runs(params).await.map_err(explain)?;
                Ok(WithJson {
                    value: page.value,
                    json: page.json,
                })
            }
            Reader::Database { store } => {
                let mut workspaces = None;
                if let Some(name) = &params.workspace {
                    let ws = store.workspace_by_name(name).await?;
                    workspaces = Some(ws.map(|w| w.id).into_iter().collect());
                }
                let query = RunQuery {
                    workspaces,
                    status: parse_statuses(params.status.as_deref())?,
                    text: params.q.clone(),
                    tag: params.tag.clone(),
                    user: params.user.clone(),
                    started_after: None,
                    started_before: None,
                    sort: params.sort.unwrap_or_default(),
                    order: params.order.unwrap_or_default(),
                    cursor: params.cursor.clone(),
                    limit: params.limit.unwrap_or(50),
                    with_total: params.total.unwrap_or(true),
                };
                let page = store.list_runs(&query).await?;
                let json = serde_json::to_value(&page)?;
                Ok(WithJson { value: page, json })
            }
        }
    }

    /// One run, as `GET /api/v1/runs/{id}` answers.
    pub async fn get_run(&self, run: RunId) -> anyhow::Result<WithJson<RunView>> {
        match self {
            Reader::Server(api) => {
                let view = api.get_run(run).await.map_err(explain)?;
                Ok(WithJson {
                    value: view.value,
                    json: view.json,
                })
            }
            Reader::Database { store } => {
                let Some(view) = store.get_run(run).await? else {
                    bail!("run {run} not found");
                };
                let json = serde_json::to_value(&view)?;
                Ok(WithJson { value: view, json })
            }
        }
    }

    /// The run's per-rule summaries.
    pub async fn rules(&self, run: RunId) -> anyhow::Result<Vec<RuleSummary>> {
        match self {
            Reader::Server(api) => api.rules(run).await.map_err(explain),
            Reader::Database { store } => Ok(store.rule_summaries(run).await?),
        }
    }

    /// The run's errors.
    pub async fn errors(&self, run: RunId) -> anyhow::Result<Vec<RunError>> {
        match self {
            Reader::Server(api) => api.errors(run).await.map_err(explain),
            Reader::Database { store } => Ok(store.run_errors(run).await?),
        }
    }

    /// Deletes a run with its events, jobs and errors (`DELETE /api/v1/runs/{id}`); whether
    /// it existed.
    pub async fn delete_run(&self, run: RunId) -> anyhow::Result<bool> {
        match self {
            Reader::Server(api) => match api.delete_run(run).await {
                Ok(()) => Ok(true),
                Err(e) if e.status() == Some(404) => Ok(false),
                Err(e) => Err(explain(e)),
            },
            Reader::Database { store } => Ok(store.delete_run(run).await?),
        }
    }

    /// The names of the workspaces the caller may read: those of the token on a server (none
    /// for an ingest token), every one in a database.
    pub async fn readable_workspaces(&self) -> anyhow::Result<Vec<String>> {
        let workspaces = match self {
            Reader::Server(api) => api.me().await.map_err(explain)?.workspaces,
            Reader::Database { store } => store.list_workspaces().await?,
        };
        Ok(workspaces.into_iter().map(|w| w.name).collect())
    }

    /// The most recently started run, if any.
    pub async fn latest_run(&self) -> anyhow::Result<Option<Run>> {
        let params = RunListParams {
            sort: Some(RunSort::StartedAt),
            order: Some(SortOrder::Desc),
            limit: Some(1),
            total: Some(false),
            ..RunListParams::default()
        };
        Ok(self
            .list_runs(&params)
            .await?
            .value
            .items
            .into_iter()
            .next())
    }

    /// A run named by its full id or a unique prefix of at least [`MIN_PREFIX`] hex digits
    /// (dashes ignored).
    pub async fn resolve_run(&self, text: &str) -> anyhow::Result<RunId> {
        let text = text.trim();
        if let Ok(id) = text.parse::<RunId>() {
            return Ok(id);
        }
        let prefix: String = text
            .chars()
            .filter(|c| *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if prefix.len() < MIN_PREFIX || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
            bail!(
                "{text:?} is not a run id: give the full id or at least {MIN_PREFIX} of its \
                 first hex digits"
            );
        }
        // Ids are not searchable by prefix: page through every run (ids only matter here).
        let mut params = RunListParams {
            limit: Some(1000),
            total: Some(false),
            ..RunListParams::default()
        };
        let mut found: Vec<RunId> = Vec::new();
        loop {
            let page = self.list_runs(&params).await?.value;
            found.extend(
                page.items
                    .iter()
                    .map(|r| r.id)
                    .filter(|id| id.0.simple().to_string().starts_with(&prefix)),
            );
            if found.len() > 1 {
                bail!("{text:?} names more than one run: give more of the id");
            }
            match page.next_cursor {
                Some(cursor) => params.cursor = Some(cursor),
                None => break,
            }
        }
        found
            .pop()
            .with_context(|| format!("no run id starts with {text:?}"))
    }
}

/// The statuses of a comma-separated list, as the HTTP API parses them.
fn parse_statuses(text: Option<&str>) -> anyhow::Result<Vec<RunStatus>> {
    text.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<RunStatus>()
                .map_err(|e| anyhow::anyhow!("status: {e}"))
        })
        .collect()
}

/// An API error for people: a refused credential names `flowo login`; "not found" is the
/// server's sentence alone.
pub fn explain(err: ApiError) -> anyhow::Error {
    match err {
        ApiError::Status {
            status: 401,
            message,
            ..
        } => anyhow::anyhow!(
            "the server refused the token ({message}): log in with `flowo login --url URL` or \
             set FLOWO_TOKEN"
        ),
        ApiError::Status {
            status: 404,
            message,
            ..
        } => anyhow::anyhow!(message),
        other => anyhow::Error::new(other),
    }
}

/// The target for people, without secrets.
pub fn describe(target: &Target) -> String {
    mask_url(target.url())
}

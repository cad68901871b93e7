//! A small typed client of FlowO's HTTP API (`/api/v1`), as the `flowo` command's client
//! commands use it: who the token is for, health, runs, a run's rules and errors, and the live
//! stream (Server-Sent Events).
//!
//! Requests carry `Authorization: Bearer TOKEN` when a token is given. An error answer becomes
//! [`ApiError::Status`] with the message of the server's JSON envelope
//! (`{"error": {"code": ..., "message": ...}}`). Where a caller must print exactly what the
//! server said (`--json`), the answer comes as [`Fetched`]: typed, and the JSON as received.
//! Reconnecting a broken stream is the caller's choice: [`ApiClient::stream`] takes the last
//! position seen and sends it as `Last-Event-ID`.

use std::time::Duration;

use eventsource_stream::Eventsource as _;
use flowo_core::account::User;
use flowo_core::store::{Page, RunSort, RunView, SortOrder, StoredEvent};
use flowo_core::{Job, RuleSummary, Run, RunError, RunId, StreamPos, Workspace};
use futures::stream::BoxStream;
use futures::{StreamExt as _, TryStreamExt as _};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole request may take (not the live stream).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the live stream may stay silent: the server sends a keep-alive comment every 15 s
/// by default, so a longer silence means the connection is gone.
const STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The server could not be reached, or the connection broke.
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// The request's URL.
        url: String,
        /// What went wrong (the innermost cause).
        reason: String,
    },
    /// The server answered with an error status.
    #[error("{url} answered {status} {code}: {message}")]
    Status {
        /// The request's URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The envelope's code (`unauthorized`, `not_found`, ...), else the status's reason.
        code: String,
        /// The envelope's message, else the start of the body.
        message: String,
    },
    /// The answer was not what the API documents.
    #[error("unexpected answer from {url}: {reason}")]
    Invalid {
        /// The request's URL.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The URL cannot be used.
    #[error("invalid server URL {0:?}")]
    BadUrl(String),
}

impl ApiError {
    /// The HTTP status, when the server answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the server refused the credential (401).
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(401)
    }

    /// Whether the server could not be reached.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ApiError::Unreachable { .. })
    }
}

/// An answer both typed and as received, for callers that print the server's JSON verbatim.
#[derive(Clone, Debug)]
pub struct Fetched<T> {
    /// The answer, typed.
    pub value: T,
    /// The answer's JSON as the server sent it.
    pub json: serde_json::Value,
}

/// The caller, as `GET /api/v1/auth/me` describes them.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Me {
    /// The user.
    pub user: User,
    /// The workspaces the credential may read.
    pub workspaces: Vec<Workspace>,
    /// `session`, `bearer` or `token`.
    pub credential: String,
}

/// Filters, sort and page of `GET /api/v1/runs`; unset fields take the server's defaults.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunListParams {
    /// Comma-separated statuses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Text searched in name, tags, workdir and description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// A tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// A workspace name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// A Snakemake user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Sort key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort: Option<RunSort>,
    /// Direction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<SortOrder>,
    /// From the previous page's `next_cursor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Count all matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<bool>,
}

/// One message of the live stream (`GET /api/v1/stream`).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct LiveEvent {
    /// The event, with its stream position.
    pub event: StoredEvent,
    /// The run's summary after the event.
    pub run: Option<Run>,
    /// The job's state after the event (job events only).
    pub job: Option<Job>,
}

/// The live stream: messages in stream order until the server closes it (`None`) or the
/// connection breaks (an error).
pub type LiveEvents = BoxStream<'static, Result<LiveEvent, ApiError>>;

/// A client of one FlowO server.
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

impl ApiClient {
    /// A client of the server at `url` (`http(s)://HOST[:PORT]`, a trailing slash is ignored),
    /// sending `token` as a bearer when given.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, ApiError> {
        let base = url.trim().trim_end_matches('/').to_owned();
        let lower = base.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://"))
            || reqwest::Url::parse(&base).is_err()
        {
            return Err(ApiError::BadUrl(base));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(STREAM_IDLE_TIMEOUT)
            .user_agent(concat!("flowo/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Unreachable {
                url: base.clone(),
                reason: innermost(&e),
            })?;
        Ok(Self {
            base,
            token: token.filter(|t| !t.trim().is_empty()),
            http,
        })
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Whether a token is sent.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    fn get(&self, path: &str) -> (String, reqwest::RequestBuilder) {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.get(&url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        (url, request)
    }

    /// Sends a request; an error status becomes [`ApiError::Status`].
    async fn send(
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ApiError> {
        let response = request.send().await.map_err(|e| unreachable(url, &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        Err(status_error(url, status, &body))
    }

    async fn fetch<T: DeserializeOwned>(
        &self,
        path: &str,
        query: Option<&RunListParams>,
    ) -> Result<Fetched<T>, ApiError> {
        let (url, mut request) = self.get(path);
        if let Some(query) = query {
            request = request.query(query);
        }
        let response = Self::send(&url, request.timeout(REQUEST_TIMEOUT)).await?;
        let bytes = response.bytes().await.map_err(|e| unreachable(&url, &e))?;
        let invalid = |e: serde_json::Error| ApiError::Invalid {
            url: url.clone(),
            reason: e.to_string(),
        };
        let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(invalid)?;
        let value = T::deserialize(&json).map_err(invalid)?;
        Ok(Fetched { value, json })
    }

    /// `GET /healthz`: whether the server answers.
    pub async fn health(&self) -> Result<(), ApiError> {
        let (url, request) = self.get("/healthz");
        Self::send(&url, request.timeout(REQUEST_TIMEOUT))
            .await
            .map(drop)
    }

    /// `GET /readyz`: whether the server and its database answer.
    pub async fn ready(&self) -> Result<(), ApiError> {
        let (url, request) = self.get("/readyz");
        Self::send(&url, request.timeout(REQUEST_TIMEOUT))
            .await
            .map(drop)
    }

    /// `GET /api/v1/auth/me`: who the token belongs to.
    pub async fn me(&self) -> Result<Me, ApiError> {
        Ok(self.fetch("/api/v1/auth/me", None).await?.value)
    }

    /// `GET /api/v1/runs`: runs the credential may read.
    pub async fn list_runs(&self, params: &RunListParams) -> Result<Fetched<Page<Run>>, ApiError> {
        self.fetch("/api/v1/runs", Some(params)).await
    }

    /// `GET /api/v1/runs/{id}`: one run with its detail.
    pub async fn get_run(&self, run: RunId) -> Result<Fetched<RunView>, ApiError> {
        self.fetch(&format!("/api/v1/runs/{run}"), None).await
    }

    /// `DELETE /api/v1/runs/{id}`: deletes the run with its events, jobs and errors.
    pub async fn delete_run(&self, run: RunId) -> Result<(), ApiError> {
        let url = format!("{}/api/v1/runs/{run}", self.base);
        let mut request = self.http.delete(&url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        Self::send(&url, request.timeout(REQUEST_TIMEOUT))
            .await
            .map(drop)
    }

    /// `GET /api/v1/runs/{id}/rules`: per-rule job counts and durations.
    pub async fn rules(&self, run: RunId) -> Result<Vec<RuleSummary>, ApiError> {
        Ok(self
            .fetch(&format!("/api/v1/runs/{run}/rules"), None)
            .await?
            .value)
    }

    /// `GET /api/v1/runs/{id}/errors`: the run's errors.
    pub async fn errors(&self, run: RunId) -> Result<Vec<RunError>, ApiError> {
        Ok(self
            .fetch(&format!("/api/v1/runs/{run}/errors"), None)
            .await?
            .value)
    }

    /// `GET /api/v1/stream`: committed events (of one run, when given) after `last_event_id`
    /// (`None`: from now on), live. Returns once the server has accepted the subscription, so
    /// every event committed after this returns is in the stream.
    pub async fn stream(
        &self,
        run: Option<RunId>,
        last_event_id: Option<StreamPos>,
    ) -> Result<LiveEvents, ApiError> {
        let (url, mut request) = self.get("/api/v1/stream");
        if let Some(run) = run {
            request = request.query(&[("run", run.to_string())]);
        }
        if let Some(pos) = last_event_id {
            request = request.header("Last-Event-ID", pos.to_string());
        }
        let request = request.header(reqwest::header::ACCEPT, "text/event-stream");
        let response = Self::send(&url, request).await?;
        let messages = response
            .bytes_stream()
            .eventsource()
            .map_err({
                let url = url.clone();
                move |e| match e {
                    eventsource_stream::EventStreamError::Transport(e) => unreachable(&url, &e),
                    other => ApiError::Invalid {
                        url: url.clone(),
                        reason: other.to_string(),
                    },
                }
            })
            // The opening `ready` message carries only the starting position.
            .try_filter(|message| std::future::ready(message.event != "ready"))
            .and_then(move |message| {
                let parsed = serde_json::from_str::<LiveEvent>(&message.data).map_err(|e| {
                    ApiError::Invalid {
                        url: url.clone(),
                        reason: format!("stream message {}: {e}", message.id),
                    }
                });
                std::future::ready(parsed)
            });
        Ok(messages.boxed())
    }
}

fn unreachable(url: &str, err: &reqwest::Error) -> ApiError {
    let reason = if err.is_timeout() {
        "timed out".to_owned()
    } else {
        innermost(err)
    };
    ApiError::Unreachable {
        url: url.to_owned(),
        reason,
    }
}

/// The innermost cause of an error: "Connection refused (os error 111)" rather than reqwest's
/// "error sending request for url (...)".
fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The error of a non-success answer, with the message of FlowO's envelope when there is one.
fn status_error(url: &str, status: reqwest::StatusCode, body: &str) -> ApiError {
    #[derive(Deserialize)]
    struct Envelope {
        error: Detail,
    }
    #[derive(Deserialize)]
    struct Detail {
        code: String,
        message: String,
    }
    let reason = status.canonical_reason().unwrap_or("error");
    let (code, message) = match serde_json::from_str::<Envelope>(body) {
        Ok(envelope) => (envelope.error.code, envelope.error.message),
        Err(_) => {
            let text: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
            let text: String = text.chars().take(200).collect();
            let message = if text.is_empty() {
                reason.to_owned()
            } else {
                text
            };
            (reason.to_ascii_lowercase().replace(' ', "_"), message)
        }
    };
    ApiError::Status {
        url: url.to_owned(),
        status: status.as_u16(),
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_carry_the_servers_message() {
        let err = status_error(
            "http://x/api/v1/runs/1",
            reqwest::StatusCode::NOT_FOUND,
            r#"{"error":{"code":"not_found","message":"run 1 not found"}}"#,
        );
        assert_eq!(err.status(), Some(404));
        assert_eq!(
            err.to_string(),
            "http://x/api/v1/runs/1 answered 404 not_found: run 1 not found"
        );
        let err = status_error(
            "http://x/healthz",
            reqwest::StatusCode::BAD_GATEWAY,
            "<html>\n<b>Bad gateway</b></html>",
        );
        assert_eq!(
            err.to_string(),
            "http://x/healthz answered 502 bad_gateway: <html> <b>Bad gateway</b></html>"
        );
        let err = status_error("http://x/", reqwest::StatusCode::UNAUTHORIZED, "");
        assert!(err.is_unauthorized());
        assert!(
            err.to_string().ends_with("401 unauthorized: Unauthorized"),
            "{err}"
        );
    }

    #[test]
    fn only_http_urls_are_servers() {
        assert!(ApiClient::new("http://127.0.0.1:3100/", None).is_ok());
        assert_eq!(
            ApiClient::new("https://flowo.example/", None)
                .map(|c| c.url().to_owned())
                .ok()
                .as_deref(),
            Some("https://flowo.example")
        );
        assert!(ApiClient::new("sqlite:///tmp/x.db", None).is_err());
        assert!(ApiClient::new("http://", None).is_err());
        let client = ApiClient::new("http://h", Some("flowo_secret".into())).expect("client");
        assert!(!format!("{client:?}").contains("flowo_secret"));
    }

    #[test]
    fn list_parameters_leave_defaults_to_the_server() {
        let params = RunListParams {
            status: Some("running,failed".into()),
            limit: Some(5),
            order: Some(SortOrder::Asc),
            ..RunListParams::default()
        };
        let query = serde_json::to_value(&params).expect("serializes");
        assert_eq!(
            query,
            serde_json::json!({"status": "running,failed", "limit": 5, "order": "asc"})
        );
    }
}

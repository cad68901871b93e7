//! Writing a batch of events to a [`Target`]: `POST /api/v1/events` on a server, or an append
//! to a store opened directly.
//!
//! Delivery is idempotent at the other end (events are keyed by run and sequence number), so a
//! batch may always be sent again. Errors say whether trying again later can help.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use flowo_core::store::AppendOutcome;
use flowo_core::{EventEnvelope, Store, WorkspaceId};
use tokio::sync::Mutex;

use crate::target::Target;

/// Bodies larger than this are sent gzip-compressed.
const GZIP_ABOVE: usize = 16 * 1024;

/// Why a batch was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The server or database could not be reached, or did not answer in time.
    #[error("{target} is unreachable: {reason}")]
    Unreachable {
        /// Where.
        target: String,
        /// Why.
        reason: String,
    },
    /// The server failed (5xx, 429, 408); trying again later may work.
    #[error("{target} answered {status}: {message}")]
    Server {
        /// Where.
        target: String,
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// The server refused the credential (401, 403): nothing will get through until the token
    /// is fixed.
    #[error(
        "{target} refused the token ({status}): {message}; log in with `flowo login --url \
         {target}` or set FLOWO_TOKEN, then `flowo sync`"
    )]
    Unauthorized {
        /// Where.
        target: String,
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// The server refused the events themselves (400, 404, 413, ...): sending the same batch
    /// again will fail the same way.
    #[error("{target} refused the events ({status}): {message}")]
    Rejected {
        /// Where.
        target: String,
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// The store failed.
    #[error("{target}: {reason}")]
    Store {
        /// Where.
        target: String,
        /// Why.
        reason: String,
    },
}

impl DeliveryError {
    /// Whether the events themselves were refused (so splitting the batch may isolate the bad
    /// one), as opposed to the target being unavailable.
    pub fn is_rejection(&self) -> bool {
        matches!(self, DeliveryError::Rejected { .. })
    }
}

/// Somewhere batches of events can be written.
#[async_trait]
pub trait Destination: Send + Sync {
    /// Writes the events; duplicates of stored events are ignored by the other end.
    async fn deliver(&self, events: &[EventEnvelope]) -> Result<AppendOutcome, DeliveryError>;

    /// The target, for messages (no secrets).
    fn describe(&self) -> String;
}

/// Timeouts of a destination.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Connecting.
    pub connect: Duration,
    /// A whole request.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(3),
            request: Duration::from_secs(15),
        }
    }
}

/// A destination for `target`; new runs go to `workspace` (default `default`). Nothing is
/// contacted until the first delivery.
pub fn destination(
    target: &Target,
    workspace: Option<&str>,
    timeouts: Timeouts,
) -> Result<Box<dyn Destination>, DeliveryError> {
    match target {
        Target::Server { url, token } => Ok(Box::new(HttpDestination::new(
            url,
            token.clone(),
            workspace,
            timeouts,
        )?)),
        Target::Database { url } => Ok(Box::new(StoreDestination {
            url: url.clone(),
            workspace: workspace
                .unwrap_or(flowo_core::model::DEFAULT_WORKSPACE)
                .to_owned(),
            timeouts,
            opened: Mutex::new(None),
        })),
    }
}

/// `POST /api/v1/events`.
struct HttpDestination {
    client: reqwest::Client,
    endpoint: reqwest::Url,
    base: String,
    token: Option<String>,
}

impl HttpDestination {
    fn new(
        url: &str,
        token: Option<String>,
        workspace: Option<&str>,
        timeouts: Timeouts,
    ) -> Result<Self, DeliveryError> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.request)
            .user_agent(concat!("flowo-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DeliveryError::Unreachable {
                target: url.to_owned(),
                reason: e.to_string(),
            })?;
        let mut endpoint = reqwest::Url::parse(&format!("{url}/api/v1/events")).map_err(|e| {
            DeliveryError::Unreachable {
                target: url.to_owned(),
                reason: format!("not a valid URL: {e}"),
            }
        })?;
        if let Some(ws) = workspace {
            endpoint.query_pairs_mut().append_pair("workspace", ws);
        }
        Ok(Self {
            client,
            endpoint,
            base: url.to_owned(),
            token,
        })
    }
}

#[derive(serde::Serialize)]
struct IngestBody<'a> {
    events: &'a [EventEnvelope],
}

#[async_trait]
impl Destination for HttpDestination {
    async fn deliver(&self, events: &[EventEnvelope]) -> Result<AppendOutcome, DeliveryError> {
        let target = || self.base.clone();
        let body =
            serde_json::to_vec(&IngestBody { events }).map_err(|e| DeliveryError::Rejected {
                target: target(),
                status: 0,
                message: format!("cannot encode the batch: {e}"),
            })?;
        let mut request = self
            .client
            .post(self.endpoint.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request = if body.len() > GZIP_ABOVE {
            let mut gz = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4),
                flate2::Compression::fast(),
            );
            // Writing into a Vec cannot fail.
            let _ = gz.write_all(&body);
            let compressed = gz.finish().unwrap_or_default();
            request
                .header(reqwest::header::CONTENT_ENCODING, "gzip")
                .body(compressed)
        } else {
            request.body(body)
        };
        let response = request
            .send()
            .await
            .map_err(|e| DeliveryError::Unreachable {
                target: target(),
                reason: error_chain(&e),
            })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| DeliveryError::Unreachable {
                target: target(),
                reason: error_chain(&e),
            })?;
        if status.is_success() {
            return serde_json::from_str(&text).map_err(|e| DeliveryError::Server {
                target: target(),
                status: status.as_u16(),
                message: format!("unexpected answer: {e}"),
            });
        }
        let message = server_message(&text);
        let status = status.as_u16();
        Err(match status {
            401 | 403 => DeliveryError::Unauthorized {
                target: target(),
                status,
                message,
            },
            408 | 429 | 500..=599 => DeliveryError::Server {
                target: target(),
                status,
                message,
            },
            _ => DeliveryError::Rejected {
                target: target(),
                status,
                message,
            },
        })
    }

    fn describe(&self) -> String {
        self.base.clone()
    }
}

/// The `message` of the server's JSON error envelope, else the start of the body.
fn server_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    parsed
        .as_ref()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("message"))
                .and_then(|m| m.as_str())
        })
        .map(str::to_owned)
        .unwrap_or_else(|| body.chars().take(200).collect())
}

/// An error and its causes on one line (reqwest's own text hides the cause).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let cause = s.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = s.source();
    }
    text
}

/// A store opened directly (the embedded SQLite file, or PostgreSQL).
struct StoreDestination {
    url: String,
    workspace: String,
    timeouts: Timeouts,
    opened: Mutex<Option<(Arc<dyn Store>, WorkspaceId)>>,
}

impl StoreDestination {
    fn error(&self, reason: impl std::fmt::Display) -> DeliveryError {
        DeliveryError::Store {
            target: flowo_store::mask_password(&self.url),
            reason: reason.to_string(),
        }
    }

    async fn open(&self) -> Result<(Arc<dyn Store>, WorkspaceId), DeliveryError> {
        let mut opened = self.opened.lock().await;
        if let Some((store, ws)) = opened.as_ref() {
            return Ok((store.clone(), *ws));
        }
        let options = flowo_store::StoreOptions {
            max_connections: 2,
            ..flowo_store::StoreOptions::default()
        };
        let store = tokio::time::timeout(
            self.timeouts.request,
            flowo_store::open(&self.url, &options),
        )
        .await
        .map_err(|_| DeliveryError::Unreachable {
            target: flowo_store::mask_password(&self.url),
            reason: "timed out opening the database".into(),
        })?
        .map_err(|e| match e {
            flowo_store::StoreError::Backend(reason) => DeliveryError::Unreachable {
                target: flowo_store::mask_password(&self.url),
                reason: reason.to_string(),
            },
            other => self.error(other),
        })?;
        // Whoever can write the database directly may create workspaces in it.
        let ws = match store
            .workspace_by_name(&self.workspace)
            .await
            .map_err(|e| self.error(e))?
        {
            Some(ws) => ws,
            None => match store.create_workspace(&self.workspace).await {
                Ok(ws) => ws,
                Err(flowo_core::store::StoreError::Conflict(_)) => store
                    .workspace_by_name(&self.workspace)
                    .await
                    .map_err(|e| self.error(e))?
                    .ok_or_else(|| self.error("the workspace vanished"))?,
                Err(e) => return Err(self.error(e)),
            },
        };
        *opened = Some((store.clone(), ws.id));
        Ok((store, ws.id))
    }
}

#[async_trait]
impl Destination for StoreDestination {
    async fn deliver(&self, events: &[EventEnvelope]) -> Result<AppendOutcome, DeliveryError> {
        let (store, ws) = self.open().await?;
        match tokio::time::timeout(self.timeouts.request, store.append(ws, events)).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(flowo_core::store::StoreError::Invalid(why))) => Err(DeliveryError::Rejected {
                target: self.describe(),
                status: 400,
                message: why,
            }),
            Ok(Err(e)) => Err(self.error(e)),
            Err(_) => Err(DeliveryError::Unreachable {
                target: self.describe(),
                reason: "timed out writing to the database".into(),
            }),
        }
    }

    fn describe(&self) -> String {
        flowo_store::mask_password(&self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_names_are_encoded() {
        let target = Target::Server {
            url: "http://flowo.example:3100".into(),
            token: None,
        };
        let dest =
            HttpDestination::new(target.url(), None, Some("lab 1/ä&x=y"), Timeouts::default())
                .expect("destination");
        assert_eq!(
            dest.endpoint.as_str(),
            "http://flowo.example:3100/api/v1/events?workspace=lab+1%2F%C3%A4%26x%3Dy"
        );
    }

    #[test]
    fn server_messages_come_from_the_envelope() {
        assert_eq!(
            server_message(r#"{"error":{"code":"forbidden","message":"no"}}"#),
            "no"
        );
        assert_eq!(server_message("plain"), "plain");
    }
}

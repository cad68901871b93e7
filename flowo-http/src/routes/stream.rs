//! The live stream: Server-Sent Events of committed events, each with its position as `id`, so
//! that `Last-Event-ID` resumes exactly after it (replayed from the store, then live). Messages
//! carry the changed job's summary (job events) and the run's, so that clients can update
//! without refetching: the run's on the last message of each run in every write the server
//! makes (null on the others), which is as new as every event before it. Browsers authenticate
//! by cookie (EventSource sends no headers).
//!
//! A message is the same for every client that receives it, so it is made (summaries fetched,
//! JSON written, framed as SSE) once per event and shared: with many clients on one run, each
//! client's cost is writing out bytes that already exist. The messages a client has waiting go
//! out in one write (a batch of events reaches every client of a run at once): one write per
//! message made the server's per-client work, not the bytes, what limited a large fan-out.
//! Clients that take the same events at once (every client of a run, in step) share the write
//! itself too, made once. Then the bytes limited it, and the run's summary was half of them:
//! hence one summary per run per write.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use flowo_core::store::{StoredEvent, StreamFilter};
use flowo_core::{Job, JobId, Run, RunId, StreamPos};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::state::{AppState, StreamSlot};

/// What to follow.
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct StreamParams {
    /// One run.
    pub run: Option<RunId>,
    /// One workspace (by name); default every workspace the caller may read.
    #[param(max_length = 256)]
    pub workspace: Option<String>,
    /// Resume after this position (the `Last-Event-ID` header takes precedence).
    pub last_event_id: Option<StreamPos>,
}

/// One SSE message's data.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LiveEvent {
    /// The event, with its stream position.
    pub event: StoredEvent,
    /// The run's summary, as new as the event or newer: on the last message of each run in
    /// every write the server makes (the messages that arrive together), null on the others.
    /// A client that keeps the latest summary it received is as new as its latest event.
    pub run: Option<Run>,
    /// The job's state after the event (job events only).
    pub job: Option<Job>,
}

/// Summaries fetched once and shared by every client, tagged with the stream position they
/// are at least as new as.
#[derive(Default)]
pub(crate) struct SummaryCache {
    runs: Mutex<HashMap<RunId, (StreamPos, Run)>>,
    jobs: Mutex<HashMap<(RunId, JobId), (StreamPos, Job)>>,
    /// Held while a missing summary is fetched: the clients that wait for it then find it in
    /// the cache, so a burst of clients costs one query, not one each.
    fetching: tokio::sync::Mutex<()>,
    /// Each recent event's message as it goes on the wire (its [`frame`]), made by the first
    /// client that sends it.
    messages: Mutex<BTreeMap<StreamPos, SharedMessage>>,
    /// Recent writes, by the positions of their messages: clients that follow the same events
    /// in step (every client of one run) take the same events at once, and share the write.
    writes: Mutex<BTreeMap<Vec<StreamPos>, SharedWrite>>,
}

/// A message made once by whichever client needs it first.
type SharedMessage = Arc<tokio::sync::OnceCell<Arc<Message>>>;

/// A write made once by whichever client needs it first.
type SharedWrite = Arc<tokio::sync::OnceCell<Bytes>>;

/// One event's message in its two forms, as they go on the wire (each a whole [`frame`]).
///
/// The run's summary is most of a message (about half of its bytes), and every event of a run
/// changes it, so a client needs it only once per write: with the last message of each run in
/// it. The other messages go `lean`, their `run` null.
#[derive(Debug)]
pub(crate) struct Message {
    run_id: RunId,
    /// The frame with `"run":null`.
    lean: Bytes,
    /// Where the `null` of `"run":null` starts in `lean`.
    run_at: usize,
    /// The run's summary, when it could be read.
    run: Option<Run>,
    /// The frame with the run's summary, made when a client first needs it.
    full: std::sync::OnceLock<Bytes>,
}

impl Message {
    fn new(pos: StreamPos, live: LiveEvent) -> Self {
        let LiveEvent { event, run, job } = live;
        let run_id = event.envelope.run_id;
        // `{"event":E,"run":null,"job":J}`, the same keys and order as a `LiveEvent`.
        let head = format!("{{\"event\":{},\"run\":", json(&event));
        let data = format!("{head}null,\"job\":{}}}", json(&job));
        let lean = frame(None, pos, &data);
        // The frame's lines before the data (`id: …\ndata: `); compact JSON holds no line break.
        let run_at = lean.len() - data.len() - 2 + head.len();
        debug_assert_eq!(&lean[run_at..run_at + 4], b"null");
        Self {
            run_id,
            lean,
            run_at,
            run,
            full: std::sync::OnceLock::new(),
        }
    }

    /// The frame with the run's summary (the lean one when there is none).
    fn full(&self) -> Bytes {
        let Some(run) = &self.run else {
            return self.lean.clone();
        };
        self.full
            .get_or_init(|| {
                let summary = serde_json::to_vec(run).unwrap_or_else(|_| b"null".to_vec());
                let mut out = Vec::with_capacity(self.lean.len() + summary.len());
                out.extend_from_slice(&self.lean[..self.run_at]);
                out.extend_from_slice(&summary);
                out.extend_from_slice(&self.lean[self.run_at + 4..]);
                Bytes::from(out)
            })
            .clone()
    }
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// Summaries kept per kind. A summary serves the events of the same commit and those soon
/// after it, so a short memory is enough; past the limit the older half is dropped (a limit of
/// ten thousand jobs, cleared when full, made the server's memory climb through a long run and
/// fall back in a saw-tooth).
const CACHE_LIMIT: usize = 1_024;

/// Messages kept: clients further behind than this make their own again.
const MESSAGE_LIMIT: usize = 4_096;

/// Writes kept: the batches of the last moments, which clients in step share. A client out of
/// step (one replaying, one a few events behind) makes writes nobody shares, and its writes
/// are the largest (up to [`READY_CHUNK`] messages), so few are kept.
const WRITE_LIMIT: usize = 16;

/// The message of `event`: made once, then shared by every client that sends it.
async fn message(state: &AppState, event: Arc<StoredEvent>) -> Arc<Message> {
    let pos = event.pos;
    let make = || make_message(state, Arc::unwrap_or_clone(event));
    made_once(&state.summaries().messages, pos, MESSAGE_LIMIT, make).await
}

/// The value under `key` in `map`, made by `make` for the first caller that needs it and shared
/// with every other; the map keeps the `limit` greatest keys (the newest positions). A poisoned
/// lock only costs the sharing.
async fn made_once<K: Ord, V: Clone, F: Future<Output = V>>(
    map: &Mutex<BTreeMap<K, Arc<tokio::sync::OnceCell<V>>>>,
    key: K,
    limit: usize,
    make: impl FnOnce() -> F,
) -> V {
    let cell = {
        let Ok(mut map) = map.lock() else {
            return make().await;
        };
        let cell = map.entry(key).or_default().clone();
        while map.len() > limit {
            map.pop_first();
        }
        cell
    };
    cell.get_or_init(make).await.clone()
}

async fn make_message(state: &AppState, event: StoredEvent) -> Arc<Message> {
    let pos = event.pos;
    Arc::new(Message::new(pos, enrich(state, event).await))
}

/// What one write of a stream sends for `events` (in stream order): made once, then shared by
/// every client that takes the same events at once.
async fn write(state: &AppState, events: Vec<Arc<StoredEvent>>) -> Bytes {
    let key: Vec<StreamPos> = events.iter().map(|e| e.pos).collect();
    let make = || make_write(state, events);
    made_once(&state.summaries().writes, key, WRITE_LIMIT, make).await
}

async fn make_write(state: &AppState, events: Vec<Arc<StoredEvent>>) -> Bytes {
    // The summaries of every message still to be made, read together: made one message at a
    // time, a batch of events of new jobs read them one event after another.
    let unmade: Vec<&StoredEvent> = events
        .iter()
        .filter(|e| !made(state, e.pos))
        .map(|e| &**e)
        .collect();
    fetch_summaries(state, &unmade).await;
    let mut messages = Vec::with_capacity(events.len());
    for event in events {
        messages.push(message(state, event).await);
    }
    join(&messages)
}

/// Whether the message at `pos` has been made already.
fn made(state: &AppState, pos: StreamPos) -> bool {
    let messages = &state.summaries().messages;
    messages
        .lock()
        .is_ok_and(|m| m.get(&pos).is_some_and(|cell| cell.initialized()))
}

/// The bytes of one write of `messages` (in stream order): every message, the last of each run
/// with the run's summary and the others without it, so that a client that applies the
/// summaries it receives is as new as the last event it received.
fn join(messages: &[Arc<Message>]) -> Bytes {
    let last_of_run = |i: usize| {
        let run = messages[i].run_id;
        messages[i + 1..].iter().all(|m| m.run_id != run)
    };
    let frames: Vec<Bytes> = (0..messages.len())
        .map(|i| {
            if last_of_run(i) {
                messages[i].full()
            } else {
                messages[i].lean.clone()
            }
        })
        .collect();
    concat(frames)
}

/// One Server-Sent Events message: an optional `event:` name, the `id:`, and `data` with one
/// `data:` line per line of it (compact JSON has none, but a line break must not end the field).
fn frame(name: Option<&str>, id: StreamPos, data: &str) -> Bytes {
    use std::fmt::Write;
    let mut out = String::with_capacity(data.len() + 40);
    if let Some(name) = name {
        let _ = writeln!(out, "event: {name}");
    }
    let _ = writeln!(out, "id: {id}");
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

/// Messages a stream joins into one write at most.
const READY_CHUNK: usize = 256;

/// The messages as one piece of the body.
fn concat(mut messages: Vec<Bytes>) -> Bytes {
    if messages.len() == 1 {
        return messages.pop().unwrap_or_default();
    }
    let mut out = Vec::with_capacity(messages.iter().map(Bytes::len).sum());
    for m in &messages {
        out.extend_from_slice(m);
    }
    Bytes::from(out)
}

/// What a stream sends when it has been quiet for the keep-alive interval: an empty comment.
const KEEP_ALIVE: &[u8] = b":\n\n";

fn cached<K: std::hash::Hash + Eq + Copy, V: Clone>(
    map: &Mutex<HashMap<K, (StreamPos, V)>>,
    key: K,
    pos: StreamPos,
) -> Option<V> {
    let map = map.lock().ok()?;
    map.get(&key)
        .filter(|(at, _)| *at >= pos)
        .map(|(_, v)| v.clone())
}

fn remember<K: std::hash::Hash + Eq, V>(
    map: &Mutex<HashMap<K, (StreamPos, V)>>,
    key: K,
    at: StreamPos,
    v: V,
) {
    if let Ok(mut map) = map.lock() {
        if map.len() >= CACHE_LIMIT {
            let mut ats: Vec<StreamPos> = map.values().map(|(at, _)| *at).collect();
            let middle = ats.len() / 2;
            let (_, cutoff, _) = ats.select_nth_unstable(middle);
            let cutoff = *cutoff;
            map.retain(|_, (at, _)| *at > cutoff);
        }
        map.insert(key, (at, v));
    }
}

fn job_of(event: &StoredEvent) -> Option<JobId> {
    let data = &event.envelope.data;
    match event.envelope.kind.as_str() {
        "job_info" | "job_error" => data.get("jobid")?.as_u64(),
        "job_finished" | "job_logs" | "job_benchmark" => data.get("job_id")?.as_u64(),
        _ => None,
    }
}

/// The summaries the messages of `events` need that the cache lacks, by run: whether the
/// run's own is missing, and the jobs whose are.
fn missing(cache: &SummaryCache, events: &[&StoredEvent]) -> BTreeMap<RunId, (bool, Vec<JobId>)> {
    let mut out: BTreeMap<RunId, (bool, Vec<JobId>)> = BTreeMap::new();
    for event in events {
        let (run_id, pos) = (event.envelope.run_id, event.pos);
        if cached(&cache.runs, run_id, pos).is_none() {
            out.entry(run_id).or_default().0 = true;
        }
        if let Some(id) = job_of(event)
            && cached(&cache.jobs, (run_id, id), pos).is_none()
        {
            let jobs = &mut out.entry(run_id).or_default().1;
            if !jobs.contains(&id) {
                jobs.push(id);
            }
        }
    }
    out
}

/// Reads into the cache the summaries that the messages of `events` need and it lacks: the
/// store's head, then every run's summary and its jobs' in one read each, the runs at once.
/// One caller reads at a time, and the others then find what it read: a burst of clients, or
/// of messages, costs one read of each summary.
async fn fetch_summaries(state: &AppState, events: &[&StoredEvent]) {
    let cache = state.summaries();
    let Some(last) = events.iter().map(|e| e.pos).max() else {
        return;
    };
    if missing(cache, events).is_empty() {
        return;
    }
    let _turn = cache.fetching.lock().await;
    let wanted = missing(cache, events);
    if wanted.is_empty() {
        return;
    }
    let store = state.store();
    // The head is read first: summaries read after it include every event up to it.
    let at = store.head().await.unwrap_or(last).max(last);
    let reads = wanted.into_iter().map(|(run_id, (run, jobs))| async move {
        let run = async {
            if run && let Ok(Some(view)) = store.get_run(run_id).await {
                remember(&cache.runs, run_id, at, view.run);
            }
        };
        let jobs = async {
            if let Ok(jobs) = store.get_jobs(run_id, &jobs).await {
                for job in jobs {
                    remember(&cache.jobs, (run_id, job.job_id), at, job);
                }
            }
        };
        futures::join!(run, jobs);
    });
    futures::future::join_all(reads).await;
}

async fn enrich(state: &AppState, event: StoredEvent) -> LiveEvent {
    fetch_summaries(state, &[&event]).await;
    let cache = state.summaries();
    let (run_id, pos) = (event.envelope.run_id, event.pos);
    let run = cached(&cache.runs, run_id, pos);
    let job = job_of(&event).and_then(|id| cached(&cache.jobs, (run_id, id), pos));
    LiveEvent { event, run, job }
}

/// Decrements the client gauge and frees the user's stream slot when the stream is dropped
/// (the client went away, or the server is stopping).
struct ClientGuard {
    state: AppState,
    _slot: StreamSlot,
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.state.metrics().sse_clients.dec();
    }
}

/// The name of the stream's first message: `id` and `data.position` are the position the
/// stream starts after (the store's head for a new client), so a client that reconnects from it
/// misses nothing even when no event arrived in between. Every other message is a [`LiveEvent`].
pub const READY_EVENT: &str = "ready";

/// Follows committed events live (Server-Sent Events; `id` is the stream position). The first
/// message is `event: ready` with the starting position; the others are unnamed `LiveEvent`s.
#[utoipa::path(get, path = "/api/v1/stream", tag = "stream", params(StreamParams,
    ("Last-Event-ID" = Option<i64>, Header, description = "resume after this position")),
    responses((status = 200, description = "text/event-stream of LiveEvent", body = LiveEvent),
              (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 429, description = "the user has `Limits::max_streams_per_user` streams open already",
               body = crate::error::ErrorBody)))]
pub async fn get_stream(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Query(params): Query<StreamParams>,
) -> ApiResult<Response> {
    let limits = &state.config().limits;
    limits.check_short_opt("workspace", params.workspace.as_deref())?;
    let mut filter = StreamFilter {
        workspaces: principal.readable_workspaces(),
        run: None,
    };
    if let Some(run) = params.run {
        let view = super::runs::readable_run(&state, &principal, run).await?;
        filter = StreamFilter {
            workspaces: Some(vec![view.run.workspace_id]),
            run: Some(run),
        };
    } else if let Some(name) = &params.workspace {
        let ws = state
            .store()
            .workspace_by_name(name)
            .await?
            .filter(|w| principal.can_read(w.id))
            .ok_or_else(|| ApiError::not_found(format!("workspace {name:?} not found")))?;
        filter.workspaces = Some(vec![ws.id]);
    }
    let header_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim()
                .parse::<StreamPos>()
                .map_err(|_| ApiError::bad_request("Last-Event-ID must be a stream position"))
        })
        .transpose()?;
    // A new client starts at the store's head, which it is told in the `ready` message: a
    // reconnect from there (even before any event arrived) then misses nothing.
    let after = match header_id.or(params.last_event_id) {
        Some(pos) => pos,
        None => state.store().head().await?,
    };
    let keep_alive = state.config().keep_alive;
    let stopping = state.shutting_down();
    let slot = state.open_stream_slot(principal.user.id)?;
    let events = state.store().subscribe(filter, Some(after)).await?;
    state.metrics().sse_clients.inc();
    let guard = ClientGuard {
        state: state.clone(),
        _slot: slot,
    };
    let stream = events
        // The events already there go out as one piece: one write instead of one per message
        // (a batch of events reaches every client of a run at the same moment).
        .ready_chunks(READY_CHUNK)
        .then(move |items| {
            let state = state.clone();
            async move {
                let mut events = Vec::with_capacity(items.len());
                let mut failed = false;
                for item in items {
                    match item {
                        Ok(event) => events.push(event),
                        Err(e) => {
                            tracing::warn!(error = %e, "live stream read failed; closing the stream");
                            failed = true;
                            break;
                        }
                    }
                }
                if events.is_empty() {
                    return (Bytes::new(), failed);
                }
                (write(&state, events).await, failed)
            }
        })
        // What was read before a failure still goes out; the stream ends after it.
        .scan(false, |ended, (bytes, failed)| {
            let item = (!*ended).then_some(bytes);
            *ended |= failed;
            std::future::ready(item)
        })
        .take_until(stopping)
        .filter(|bytes| std::future::ready(!bytes.is_empty()))
        .map(move |bytes| {
            let _ = &guard;
            bytes
        });
    // `ready` first, so that clients (and proxies) see the stream open at once rather than at
    // the first event or keep-alive, and know the position they are at.
    let ready = frame(
        Some(READY_EVENT),
        after,
        &format!("{{\"position\":{after}}}"),
    );
    let opened = futures::stream::once(std::future::ready(ready));
    // A comment after every `keep_alive` without a message, so that proxies and browsers keep
    // a quiet stream open.
    let quiet = tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive);
    let body = tokio_stream::StreamExt::timeout_repeating(opened.chain(stream), quiet)
        .map(|item| Ok::<_, Infallible>(item.unwrap_or_else(|_| Bytes::from_static(KEEP_ALIVE))));
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_server_sent_events() {
        assert_eq!(
            &frame(Some(READY_EVENT), 7, "{\"position\":7}")[..],
            b"event: ready\nid: 7\ndata: {\"position\":7}\n\n"
        );
        assert_eq!(&frame(None, 12, "{}")[..], b"id: 12\ndata: {}\n\n");
        let joined = concat(vec![frame(None, 1, "{}"), frame(None, 2, "[]")]);
        assert_eq!(&joined[..], b"id: 1\ndata: {}\n\nid: 2\ndata: []\n\n");
        // A line break in the data would end the field: each line gets its own `data:`.
        assert_eq!(
            &frame(None, 3, "a\nb\r\nc")[..],
            b"id: 3\ndata: a\ndata: b\ndata: c\n\n"
        );
    }

    fn live(pos: StreamPos, run: RunId, with_summary: bool) -> Arc<Message> {
        let workspace = flowo_core::WorkspaceId(uuid::Uuid::nil());
        let event = StoredEvent {
            pos,
            workspace_id: workspace,
            envelope: flowo_core::EventEnvelope {
                run_id: run,
                seq: pos as u64,
                recorded_at: chrono::DateTime::UNIX_EPOCH,
                received_at: None,
                kind: "log".into(),
                data: serde_json::json!({"msg": "a\nb"}),
            },
        };
        let summary = with_summary.then(|| {
            let mut run = Run::new(run, workspace);
            run.event_count = pos as u64;
            run
        });
        Arc::new(Message::new(
            pos,
            LiveEvent {
                event,
                run: summary,
                job: None,
            },
        ))
    }

    /// The messages of a write, parsed back: (id, data) of each.
    fn parse(bytes: &[u8]) -> Vec<(i64, serde_json::Value)> {
        std::str::from_utf8(bytes)
            .expect("UTF-8")
            .split_terminator("\n\n")
            .map(|message| {
                let (id, data) = message.split_once("\ndata: ").expect("id and data");
                let id = id
                    .strip_prefix("id: ")
                    .expect("id")
                    .parse()
                    .expect("number");
                (id, serde_json::from_str(data).expect("JSON"))
            })
            .collect()
    }

    #[test]
    fn a_write_carries_each_runs_summary_once_on_its_last_message() {
        let (a, b) = (
            RunId(uuid::Uuid::from_u128(1)),
            RunId(uuid::Uuid::from_u128(2)),
        );
        let messages = vec![
            live(1, a, true),
            live(2, b, true),
            live(3, a, true),
            live(4, a, true),
            live(5, b, true),
            live(6, a, true),
        ];
        let sent = parse(&join(&messages));
        assert_eq!(
            sent.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5, 6]
        );
        for (id, data) in &sent {
            let mut keys: Vec<&String> = data.as_object().expect("object").keys().collect();
            keys.sort();
            assert_eq!(keys, ["event", "job", "run"], "message {id}");
            assert_eq!(data["event"]["pos"], *id);
            assert_eq!(data["event"]["data"]["msg"], "a\nb");
            assert_eq!(data["job"], serde_json::Value::Null);
            if [5, 6].contains(id) {
                // The run's summary, as its message made it.
                assert_eq!(data["run"]["event_count"], *id, "message {id}");
                let run = if *id == 5 { b } else { a };
                assert_eq!(data["run"]["id"], run.to_string());
            } else {
                assert_eq!(data["run"], serde_json::Value::Null, "message {id}");
            }
        }
        // Alone in a write, each message has its summary; without one it stays null.
        for m in &messages {
            let sent = parse(&join(std::slice::from_ref(m)));
            assert_eq!(sent[0].1["run"]["event_count"], sent[0].0);
        }
        let bare = live(7, a, false);
        assert_eq!(
            parse(&join(std::slice::from_ref(&bare)))[0].1["run"],
            serde_json::Value::Null
        );
        assert_eq!(bare.full(), bare.lean);
        assert!(join(&[]).is_empty());
    }

    #[test]
    fn the_summary_cache_stays_bounded_and_keeps_the_newest() {
        let map: Mutex<HashMap<i64, (StreamPos, i64)>> = Mutex::default();
        for i in 0..10 * CACHE_LIMIT as i64 {
            remember(&map, i, i, i);
            assert!(map.lock().expect("lock").len() <= CACHE_LIMIT);
            // Making room never drops the newest entries (clearing the whole cache would).
            if i > 0 {
                assert_eq!(
                    cached(&map, i - 1, i - 1),
                    Some(i - 1),
                    "entry {} dropped",
                    i - 1
                );
            }
        }
        let last = 10 * CACHE_LIMIT as i64 - 1;
        assert_eq!(cached(&map, last, last), Some(last));
        // The older half went when the cache was last full; the newer entries are still there.
        let kept = map.lock().expect("lock").len() as i64;
        assert!(kept > CACHE_LIMIT as i64 / 4, "kept {kept}");
        assert!((last + 1 - kept..=last).all(|i| cached(&map, i, i) == Some(i)));
        assert_eq!(cached(&map, 0, 0), None);
    }
}

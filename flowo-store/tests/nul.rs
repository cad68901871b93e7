//! NUL characters (U+0000) in event payloads: PostgreSQL `text` cannot hold them, SQLite can.
//! Both stores must accept such events and store the same thing: every NUL in the payload's
//! strings and keys is replaced by U+FFFD, so the run, its jobs, its rules, its errors and its
//! events read back the same on both backends. A NUL in an event's kind (a protocol word, not
//! free text) is refused on both, as the HTTP API refuses it.

#[allow(unused_imports)]
mod support;

use std::sync::Arc;

use flowo_core::store::{RunEventQuery, StoreError};
use flowo_core::{EventEnvelope, Job, RunId, Store, WorkspaceId};
use serde_json::{Value, json};

use crate::support::{load_capture, run_id_for};

const CAPTURE: &str = "job-failure/03-job-failure-keep-going.jsonl";

/// Puts a NUL into the `target`-th string leaf of `value` (counting from `*seen`); true when it
/// did.
fn poison_leaf(value: &mut Value, target: usize, seen: &mut usize) -> bool {
    match value {
        Value::String(s) => {
            if *seen == target {
                let mid = s
                    .char_indices()
                    .nth(s.chars().count() / 2)
                    .map_or(0, |c| c.0);
                s.insert(mid, '\0');
                s.push('\0');
                return true;
            }
            *seen += 1;
            false
        }
        Value::Array(items) => items.iter_mut().any(|v| poison_leaf(v, target, seen)),
        Value::Object(map) => map.values_mut().any(|v| poison_leaf(v, target, seen)),
        _ => false,
    }
}

/// What the event decodes to, by variant (`Malformed` when a NUL broke it).
fn variant(e: &EventEnvelope) -> std::mem::Discriminant<flowo_core::event::Event> {
    std::mem::discriminant(&e.event())
}

/// A NUL in every string of the payload that still decodes to the same kind of event with it.
fn poison(e: &EventEnvelope) -> EventEnvelope {
    let want = variant(e);
    let mut out = e.clone();
    let mut target = 0;
    loop {
        let mut candidate = out.clone();
        if !poison_leaf(&mut candidate.data, target, &mut 0) {
            return out;
        }
        if variant(&candidate) == want {
            out = candidate;
        }
        target += 1;
    }
}

/// The expected stored form: every NUL (strings, keys) replaced by U+FFFD.
fn replaced(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace('\0', "\u{FFFD}")),
        Value::Array(items) => Value::Array(items.iter().map(replaced).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.replace('\0', "\u{FFFD}"), replaced(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn raw(run: RunId, seq: u64, at: flowo_core::Timestamp, kind: &str, data: Value) -> EventEnvelope {
    EventEnvelope {
        run_id: run,
        seq,
        recorded_at: at,
        received_at: None,
        kind: kind.to_owned(),
        data,
    }
}

/// A real capture with a NUL in every string field that reaches a column, plus the producer's
/// own events (labels, context, sources, log tails, benchmarks) and an unknown kind, all with
/// NULs in strings and in map keys.
fn events_with_nul(run: RunId) -> Vec<EventEnvelope> {
    let mut events: Vec<EventEnvelope> = load_capture(CAPTURE, run).iter().map(poison).collect();
    let at = events.last().expect("events").recorded_at;
    let mut seq = events.len() as u64;
    let mut push = |kind: &str, data: Value| {
        events.push(raw(run, seq, at, kind, data));
        seq += 1;
    };
    push(
        "run_labels",
        json!({"name": "night\0ly", "tags": ["a\0", "\0b", "plain"], "description": "d\0"}),
    );
    push(
        "run_context",
        json!({"command_line": "snakemake\0 -j2", "host": "h\0", "user": "u\0",
               "workdir": "/w\0rk", "plugin_version": "1\0"}),
    );
    push(
        "run_source",
        json!({"role": "snakefile", "path": "Snake\0file", "size": 3, "truncated": false,
               "text": "rule \0a:"}),
    );
    push(
        "job_info",
        json!({"jobid": 99, "rule_name": "ru\0le", "input": ["in\0.txt"], "output": ["o\0"],
               "log": ["l\0.log"], "wildcards": {"sam\0ple": "x\0"},
               "resources": {"mem\0": "1\0G"}, "shellcmd": "echo \0"}),
    );
    push("job_started", json!({"jobs": [99]}));
    push(
        "shellcmd",
        json!({"jobid": 99, "shellcmd": "cat \0", "cmd": "cat \0"}),
    );
    push(
        "job_logs",
        json!({"job_id": 99, "files": [{"path": "l\0.log", "size": 4, "truncated": true,
                                        "text": "tail\0"}]}),
    );
    push(
        "job_benchmark",
        json!({"job_id": 99, "path": "b\0.tsv", "values": {"s\0": 1.5, "max_rss": "N\0A"}}),
    );
    push(
        "job_error",
        json!({"jobid": 99, "rule_name": "ru\0le", "message": "boom\0", "shellcmd": "cat \0",
               "aux": {"k\0": "v\0"}}),
    );
    push(
        "error",
        json!({"exception": "Value\0Error", "message": "bad\0", "rule": "ru\0le",
               "file": "S\0nakefile", "traceback": "t\0"}),
    );
    push("log", json!({"level": "warning", "message": "careful\0"}));
    push("custom", json!({"k\0": ["v\0", {"n\0": "\0"}]}));
    events
}

async fn all_jobs(store: &Arc<dyn Store>, run: RunId) -> Vec<Job> {
    flowo_testkit::pages::all_jobs(&**store, run, 50).await
}

/// Everything a reader sees of a run, as JSON (events without their arrival time).
async fn read_back(store: &Arc<dyn Store>, run: RunId) -> Value {
    let view = store.get_run(run).await.expect("get run").expect("run");
    let events: Vec<Value> = store
        .run_events(
            run,
            &RunEventQuery {
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .expect("events")
        .into_iter()
        .map(|e| {
            json!([
                e.envelope.seq,
                e.envelope.recorded_at,
                e.envelope.kind,
                e.envelope.data
            ])
        })
        .collect();
    let mut run_json = serde_json::to_value(&view.run).expect("run as JSON");
    // Each store has its own (random) workspace id.
    run_json["workspace_id"] = Value::Null;
    json!({
        "run": run_json,
        "detail": view.detail,
        "jobs": all_jobs(store, run).await,
        "errors": store.run_errors(run).await.expect("errors"),
        "rules": store.rule_summaries(run).await.expect("rules"),
        "graph": store.rule_graph(run).await.expect("graph"),
        "timeline": store.timeline(run).await.expect("timeline"),
        "events": events,
    })
}

/// Appends the NUL-laden run (most of it, then a late event that makes the store fold the run
/// again from its stored events) and checks what reads back.
async fn check(store: Arc<dyn Store>) -> Value {
    let ws: WorkspaceId = store.ensure_workspace("default").await.expect("ws").id;
    let run = run_id_for("nul");
    let events = events_with_nul(run);
    let late = 3;
    let (first, second): (Vec<_>, Vec<_>) = events.iter().cloned().partition(|e| e.seq != late);
    let out = store.append(ws, &first).await.expect("append with NULs");
    assert_eq!(out.inserted, first.len() as u64);
    let out = store
        .append(ws, &second)
        .await
        .expect("late append with NULs");
    assert_eq!(out.inserted, 1);
    let again = store.append(ws, &events).await.expect("repeated append");
    assert_eq!((again.inserted, again.duplicates), (0, events.len() as u64));
    let bad_kind = raw(run, 1000, chrono::Utc::now(), "cus\0tom", json!({}));
    assert!(matches!(
        store.append(ws, &[bad_kind]).await,
        Err(StoreError::Invalid(_))
    ));

    let expected: Vec<EventEnvelope> = events
        .iter()
        .map(|e| EventEnvelope {
            data: replaced(&e.data),
            ..e.clone()
        })
        .collect();
    let folded = flowo_core::fold_events(run, ws, &expected);
    let view = store.get_run(run).await.expect("get").expect("run");
    assert_eq!(view.run, folded.state.run, "run");
    assert_eq!(view.detail, folded.state.detail, "detail");
    let jobs = all_jobs(&store, run).await;
    assert_eq!(jobs, folded.jobs.into_values().collect::<Vec<_>>(), "jobs");
    assert_eq!(
        store.run_errors(run).await.expect("errors"),
        folded.errors,
        "errors"
    );

    let seen = read_back(&store, run).await;
    let text = seen.to_string();
    assert!(!text.contains("\\u0000"), "a NUL was stored: {text}");
    for stored in [
        "ru\u{FFFD}le",
        "night\u{FFFD}ly",
        "a\u{FFFD}",
        "d\u{FFFD}",
        "tail\u{FFFD}",
        "boom\u{FFFD}",
        "k\u{FFFD}",
        "n\u{FFFD}",
        "sam\u{FFFD}ple",
    ] {
        assert!(text.contains(stored), "{stored:?} is not stored");
    }
    // Something of the capture itself (a rule's shell command) carries the replacement too.
    let capture_job = jobs.iter().find(|j| j.job_id == 11).expect("job 11");
    assert!(capture_job.rule.contains('\u{FFFD}'), "{capture_job:?}");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_characters_are_stored_the_same_on_both_backends() {
    let (sqlite, sqlite_db) = support::sqlite(None).await;
    let from_sqlite = check(sqlite).await;
    sqlite_db.cleanup().await;
    let Some((pg, pg_db)) = support::postgres(None).await else {
        return;
    };
    let from_pg = check(pg).await;
    pg_db.cleanup().await;
    for (key, value) in from_sqlite.as_object().expect("object") {
        if let (Some(a), Some(b)) = (value.as_object(), from_pg[key].as_object()) {
            for (k, v) in a {
                assert_eq!(v, &b[k], "the backends disagree on {key}.{k}");
            }
        }
        assert_eq!(value, &from_pg[key], "the backends disagree on {key}");
    }
}

/// Names given to the account and workspace stores (`flowo user create`, `flowo token create`,
/// ...) with a NUL are refused with `Invalid` on both backends, and looking one up finds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_in_names_is_invalid_on_both_backends() {
    let (sqlite, sqlite_db) = support::sqlite(None).await;
    check_names(sqlite).await;
    sqlite_db.cleanup().await;
    let Some((pg, pg_db)) = support::postgres(None).await else {
        return;
    };
    check_names(pg).await;
    pg_db.cleanup().await;
}

async fn check_names(store: Arc<dyn Store>) {
    use flowo_core::account::{NewApiToken, Role, TokenScope};
    let invalid = |r: Result<_, StoreError>| matches!(r, Err(StoreError::Invalid(_)));
    assert!(invalid(store.create_workspace("w\0").await.map(|_| ())));
    assert!(invalid(store.ensure_workspace("w\0").await.map(|_| ())));
    assert!(invalid(
        store
            .create_user("a\0@example.org", Role::Member, None)
            .await
            .map(|_| ())
    ));
    assert!(
        store
            .workspace_by_name("w\0")
            .await
            .expect("lookup")
            .is_none()
    );
    assert!(
        store
            .user_credentials("a\0@example.org")
            .await
            .expect("lookup")
            .is_none()
    );
    assert!(store.token_by_hash("h\0").await.expect("lookup").is_none());
    assert!(store.setting("k\0").await.expect("lookup").is_none());
    assert!(invalid(store.init_setting("k\0", "v").await.map(|_| ())));
    assert!(invalid(store.init_setting("k", "v\0").await.map(|_| ())));
    let user = store
        .create_user("a@example.org", Role::Member, None)
        .await
        .expect("user");
    let token = NewApiToken {
        user_id: user.id,
        name: "n\0".into(),
        scope: TokenScope::Ingest,
        workspace_id: None,
        prefix: "flowo_x".into(),
        hash: "ab".into(),
        expires_at: None,
    };
    assert!(invalid(store.create_token(token).await.map(|_| ())));
}

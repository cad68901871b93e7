//! Bad input answers 4xx with the JSON error envelope `{"error": {"code", "message"}}`, never
//! a 500 and never a bare body: malformed or mistyped JSON, wrong content types and encodings,
//! bodies and batches over the limits, bad cursors, status words, ids and headers, too many
//! tags, unknown routes and methods. Nothing of a refused batch is stored.

use std::io::Write;

use flowo_core::RunId;
use flowo_core::event::{Event, RunLabels};
use flowo_http::{HttpConfig, Limits};
use serde_json::{Value, json};

use crate::support::{Backend, Cred, TestDb, World, batch, call, load_capture};

const BODY_LIMIT: usize = 64 * 1024;

async fn world() -> (World, TestDb) {
    let db = TestDb::create(Backend::Sqlite).await.expect("sqlite");
    let config = HttpConfig {
        limits: Limits {
            max_body_bytes: BODY_LIMIT,
            max_batch: 20,
            max_event_bytes: 4 * 1024,
            max_tags: 3,
            max_short_string: 16,
            ..Limits::default()
        },
        ..HttpConfig::default()
    };
    let world = World::with_config(db.open().await, config).await;
    (world, db)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn labels(run: RunId, labels: RunLabels) -> Value {
    let event =
        flowo_core::EventEnvelope::new(run, 0, chrono::Utc::now(), &Event::RunLabels(labels));
    batch(&[event])
}

/// One bad request and the answer it must get.
struct Case {
    what: &'static str,
    method: &'static str,
    uri: String,
    content_type: Option<&'static str>,
    encoding: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
}

fn case(what: &'static str, method: &'static str, uri: impl Into<String>) -> Case {
    Case {
        what,
        method,
        uri: uri.into(),
        content_type: None,
        encoding: None,
        body: Vec::new(),
        status: 400,
        code: "bad_request",
    }
}

impl Case {
    fn json(mut self, body: &Value) -> Self {
        self.content_type = Some("application/json");
        self.body = serde_json::to_vec(body).expect("JSON");
        self
    }

    fn raw(mut self, content_type: Option<&'static str>, body: impl Into<Vec<u8>>) -> Self {
        self.content_type = content_type;
        self.body = body.into();
        self
    }

    fn encoded(mut self, encoding: &'static str) -> Self {
        self.encoding = Some(encoding);
        self
    }

    fn answers(mut self, status: u16, code: &'static str) -> Self {
        self.status = status;
        self.code = code;
        self
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_4xx_envelope() {
    let (world, _db) = world().await;
    let run = crate::support::run_id_for("success/01-success.jsonl");
    let events = load_capture("success/01-success.jsonl", run);
    world
        .store()
        .append(world.lab.id, &events)
        .await
        .expect("append");
    let fresh = RunId::new_random();
    let fresh_events = load_capture("success/01-success.jsonl", fresh);
    let ingest = "/api/v1/events?workspace=lab";

    let too_big = {
        // Valid JSON over the body limit.
        let mut events = fresh_events[..1].to_vec();
        events[0].data = json!({ "padding": "x".repeat(BODY_LIMIT) });
        serde_json::to_vec(&batch(&events)).expect("JSON")
    };
    let bomb = {
        // Small on the wire, over the limit once decompressed.
        let mut events = fresh_events[..1].to_vec();
        events[0].data = json!({ "padding": "0".repeat(BODY_LIMIT * 4) });
        gzip(&serde_json::to_vec(&batch(&events)).expect("JSON"))
    };
    assert!(bomb.len() < BODY_LIMIT);
    let big_event = {
        let mut events = fresh_events[..2].to_vec();
        events[1].data = json!({ "message": "y".repeat(8 * 1024) });
        batch(&events)
    };
    let empty_kind = {
        let mut events = fresh_events[..2].to_vec();
        events[1].kind = String::new();
        batch(&events)
    };
    let long_kind = {
        let mut events = fresh_events[..2].to_vec();
        events[1].kind = "k".repeat(65);
        batch(&events)
    };
    let tags = |n: usize| RunLabels {
        tags: (0..n).map(|i| format!("t{i}")).collect(),
        ..RunLabels::default()
    };

    let cases = vec![
        // Ingest bodies.
        case("malformed JSON", "POST", ingest).raw(Some("application/json"), "{\"events\": [".as_bytes()),
        case("JSON of the wrong shape", "POST", ingest).json(&json!({ "events": { "a": 1 } })),
        case("an event without run_id", "POST", ingest).json(&json!({ "events": [{ "seq": 0, "kind": "log", "recorded_at": "2026-11-26T00:00:00Z" }] })),
        case("a seq that is not a number", "POST", ingest).json(&json!({ "events": [{ "run_id": fresh, "seq": "one", "kind": "log", "recorded_at": "2026-11-26T00:00:00Z" }] })),
        case("a bad recorded_at", "POST", ingest).json(&json!({ "events": [{ "run_id": fresh, "seq": 0, "kind": "log", "recorded_at": "yesterday" }] })),
        case("a seq beyond i64", "POST", ingest).json(&json!({ "events": [{ "run_id": fresh, "seq": u64::MAX, "kind": "log", "recorded_at": "2026-11-26T00:00:00Z", "data": {} }] })),
        case("text/plain", "POST", ingest).raw(Some("text/plain"), serde_json::to_vec(&batch(&fresh_events[..2])).expect("JSON")).answers(415, "unsupported_media_type"),
        case("no content type", "POST", ingest).raw(None, serde_json::to_vec(&batch(&fresh_events[..2])).expect("JSON")).answers(415, "unsupported_media_type"),
        case("a body over the limit", "POST", ingest).raw(Some("application/json"), too_big).answers(413, "payload_too_large"),
        case("a gzip body over the limit once inflated", "POST", ingest).raw(Some("application/json"), bomb).encoded("gzip").answers(413, "payload_too_large"),
        case("a body that is not gzip", "POST", ingest).raw(Some("application/json"), "{\"events\": []}".as_bytes()).encoded("gzip"),
        case("an unsupported content encoding", "POST", ingest).raw(Some("application/json"), "{\"events\": []}".as_bytes()).encoded("br").answers(415, "unsupported_media_type"),
        case("a batch over the limit", "POST", ingest).json(&batch(&fresh_events[..21])).answers(413, "payload_too_large"),
        case("an event over the size limit", "POST", ingest).json(&big_event).answers(413, "payload_too_large"),
        case("an empty kind", "POST", ingest).json(&empty_kind),
        case("a kind of 65 characters", "POST", ingest).json(&long_kind),
        case("too many tags", "POST", ingest).json(&labels(fresh, tags(4))),
        case("a tag too long", "POST", ingest).json(&labels(fresh, RunLabels { tags: vec!["x".repeat(17)], ..RunLabels::default() })),
        case("a run name too long", "POST", ingest).json(&labels(fresh, RunLabels { name: Some("n".repeat(17)), ..RunLabels::default() })),
        case("an unknown workspace", "POST", "/api/v1/events?workspace=nope").json(&batch(&fresh_events[..2])).answers(404, "not_found"),
        case("a bad workspace query", "POST", "/api/v1/events?workspace=a&workspace=b").json(&batch(&fresh_events[..2])),
        // Queries.
        case("a bad cursor", "GET", "/api/v1/runs?cursor=bogus"),
        case("a bad job cursor", "GET", format!("/api/v1/runs/{run}/jobs?cursor=bogus")),
        case("a bad job brief cursor", "GET", format!("/api/v1/runs/{run}/job-briefs?cursor=bogus")),
        case("a cursor of another sort", "GET", "/api/v1/runs?sort=name&cursor=eyJ4IjoxfQ"),
        case("a bad status word", "GET", "/api/v1/runs?status=running,bogus"),
        case("a bad job status word", "GET", format!("/api/v1/runs/{run}/jobs?status=done")),
        case("a bad job brief status word", "GET", format!("/api/v1/runs/{run}/job-briefs?status=done")),
        case("a bad sort", "GET", "/api/v1/runs?sort=size"),
        case("a bad order", "GET", "/api/v1/runs?order=up"),
        case("a zero limit", "GET", "/api/v1/runs?limit=0"),
        case("a huge limit", "GET", "/api/v1/runs?limit=100000"),
        case("a negative limit", "GET", "/api/v1/runs?limit=-1"),
        case("a bad job limit", "GET", format!("/api/v1/runs/{run}/jobs?limit=0")),
        case("a huge job brief limit", "GET", format!("/api/v1/runs/{run}/job-briefs?limit=1001")),
        case("a bad date", "GET", "/api/v1/runs?from=yesterday"),
        case("a bad total flag", "GET", "/api/v1/runs?total=maybe"),
        case("a bad stats date", "GET", "/api/v1/stats?to=soon"),
        case("a bad event limit", "GET", format!("/api/v1/runs/{run}/events?limit=0")),
        case("a bad after_seq", "GET", format!("/api/v1/runs/{run}/events?after_seq=-3")),
        case("a bad token list flag", "GET", "/api/v1/tokens?all=perhaps"),
        case("a bad stream run", "GET", "/api/v1/stream?run=nope"),
        case("a bad stream position", "GET", "/api/v1/stream?last_event_id=x"),
        // Path parameters.
        case("a bad run id", "GET", "/api/v1/runs/not-a-uuid"),
        case("a bad run id on delete", "DELETE", "/api/v1/runs/12345"),
        case("a bad job id", "GET", format!("/api/v1/runs/{run}/jobs/first")),
        case("a negative job id", "GET", format!("/api/v1/runs/{run}/jobs/-1")),
        case("a bad token id", "DELETE", "/api/v1/tokens/abc"),
        case("a bad user id", "PATCH", "/api/v1/users/abc").json(&json!({ "role": "viewer" })),
        case("a missing run", "GET", format!("/api/v1/runs/{}", RunId::new_random())).answers(404, "not_found"),
        case("a missing job", "GET", format!("/api/v1/runs/{run}/jobs/999")).answers(404, "not_found"),
        case("a missing token", "DELETE", format!("/api/v1/tokens/{}", uuid::Uuid::new_v4())).answers(404, "not_found"),
        case("a missing user", "PATCH", format!("/api/v1/users/{}", uuid::Uuid::new_v4())).json(&json!({ "role": "viewer" })).answers(404, "not_found"),
        case("a missing workspace", "GET", "/api/v1/workspaces/nope/members").answers(404, "not_found"),
        case("a missing member", "PUT", "/api/v1/workspaces/lab/members/nobody@example.org").answers(404, "not_found"),
        case("a non-member", "DELETE", "/api/v1/workspaces/lab/members/admin@example.org").answers(404, "not_found"),
        // Account bodies.
        case("a bad workspace name", "POST", "/api/v1/workspaces").json(&json!({ "name": "no spaces" })),
        case("a taken workspace name", "POST", "/api/v1/workspaces").json(&json!({ "name": "lab" })).answers(409, "conflict"),
        case("a workspace without name", "POST", "/api/v1/workspaces").json(&json!({})),
        case("a taken e-mail", "POST", "/api/v1/users").json(&json!({ "email": "Member@example.org" })).answers(409, "conflict"),
        case("a short password", "POST", "/api/v1/users").json(&json!({ "email": "new@example.org", "password": "short" })),
        case("a bad e-mail", "POST", "/api/v1/users").json(&json!({ "email": "not an e-mail" })),
        case("a bad role", "POST", "/api/v1/users").json(&json!({ "email": "new@example.org", "role": "owner" })),
        case("a body over axum's default limit elsewhere", "POST", "/api/v1/users").json(&json!({ "email": "x".repeat(3 * 1024 * 1024) })).answers(413, "payload_too_large"),
        case("a bad role change", "PATCH", format!("/api/v1/users/{}", world.member.user.id)).json(&json!({ "role": "root" })),
        case("a short new password", "PATCH", format!("/api/v1/users/{}", world.member.user.id)).json(&json!({ "password": "1234" })),
        case("a token without name", "POST", "/api/v1/tokens").json(&json!({ "name": "  " })),
        case("a token name too long", "POST", "/api/v1/tokens").json(&json!({ "name": "t".repeat(17) })),
        case("a bad token scope", "POST", "/api/v1/tokens").json(&json!({ "name": "t", "scope": "everything" })),
        case("a token expiring at once", "POST", "/api/v1/tokens").json(&json!({ "name": "t", "expires_in_days": 0 })),
        case("a token expiring in a century", "POST", "/api/v1/tokens").json(&json!({ "name": "t", "expires_in_days": 40000 })),
        case("a token for a missing workspace", "POST", "/api/v1/tokens").json(&json!({ "name": "t", "workspace": "nope" })).answers(404, "not_found"),
        case("a token for a missing user", "POST", "/api/v1/tokens").json(&json!({ "name": "t", "user": "nobody@example.org" })).answers(404, "not_found"),
        case("a login without password", "POST", "/api/v1/auth/login").json(&json!({ "email": "member@example.org" })),
        case("a login as text", "POST", "/api/v1/auth/login").raw(Some("text/plain"), "member".as_bytes()).answers(415, "unsupported_media_type"),
        case("a used first-login token", "POST", "/api/v1/auth/first-login").json(&json!({ "token": "whatever" })).answers(401, "unauthorized"),
        // Routing.
        case("an unknown route", "GET", "/api/v1/nope").answers(404, "not_found"),
        case("an unknown run route", "GET", format!("/api/v1/runs/{run}/nope")).answers(404, "not_found"),
        case("a wrong method", "PUT", "/api/v1/runs").answers(405, "method_not_allowed"),
        case("a wrong method on ingest", "GET", "/api/v1/events").answers(405, "method_not_allowed"),
    ];

    let admin = world.admin.bearer();
    let mut failures = Vec::new();
    for case in &cases {
        let mut request = call(case.method, &case.uri)
            .cred(&admin)
            .body(case.body.clone());
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(encoding) = case.encoding {
            request = request.header("content-encoding", encoding);
        }
        let reply = request.send(&world.app).await;
        let got = reply.status.as_u16();
        let envelope = reply.envelope();
        let ok = got == case.status && envelope.as_ref().is_some_and(|(c, _)| c == case.code);
        if !ok {
            failures.push(format!(
                "{} ({} {}): expected {} {}, got {got}: {:?}",
                case.what,
                case.method,
                case.uri,
                case.status,
                case.code,
                reply.text()
            ));
        }
        assert!(
            got < 500,
            "{}: never a 5xx, got {got}: {}",
            case.what,
            reply.text()
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    // Messages name the configured limits.
    let reply = call("POST", "/api/v1/tokens")
        .cred(&admin)
        .json(&json!({ "name": "t".repeat(17) }))
        .send(&world.app)
        .await;
    let (_, message) = reply.envelope().expect("envelope");
    assert!(message.contains("1-16 characters"), "{message}");
    let reply = call("POST", ingest)
        .cred(&admin)
        .json(&batch(&fresh_events[..21]))
        .send(&world.app)
        .await;
    let (_, message) = reply.envelope().expect("envelope");
    assert!(message.contains("at most 20 events"), "{message}");

    // Nothing of the refused batches was stored.
    assert!(world.store().get_run(fresh).await.expect("get").is_none());
    // And the server still works.
    call("POST", ingest)
        .cred(&Cred::Bearer(world.ingest_token.clone()))
        .json(&batch(&fresh_events[..20]))
        .send(&world.app)
        .await
        .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_last_event_id_header_is_a_400() {
    let (world, _db) = world().await;
    for bad in ["x", "1.5", "", "99999999999999999999"] {
        call("GET", "/api/v1/stream")
            .cred(&world.admin.bearer())
            .header("last-event-id", bad)
            .send(&world.app)
            .await
            .expect_error(400, "bad_request");
    }
}

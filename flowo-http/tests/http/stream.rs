//! The live stream over a real socket (`serve` on 127.0.0.1:0, reqwest reading the body):
//! events arrive live with `id` = stream position and data `{event, run, job}` (the run's
//! summary on the last message of each run in a write); a client
//! resumes with `Last-Event-ID` across a server restart (server 1 stopped through its shutdown
//! future while the stream is open, server 2 on a new store over the same database) with no
//! gap and no duplicate; keep-alive comments arrive; browsers authenticate by cookie; a caller
//! only sees events of workspaces it may read.

use std::time::Duration;

use flowo_core::{EventEnvelope, RunId};
use flowo_http::HttpConfig;
use serde_json::{Value, json};

use crate::support::{
    App, Backend, Cred, Server, Sse, SseReader, TestDb, World, all_events, batch, load_capture,
    open_stream, run_id_for, stream_request,
};

async fn post(server: &Server, cred: &Cred, workspace: &str, events: &[EventEnvelope]) {
    let mut request = reqwest::Client::new()
        .post(server.url(&format!("/api/v1/events?workspace={workspace}")))
        .json(&batch(events));
    if let Cred::Bearer(token) = cred {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("ingest request");
    assert_eq!(response.status().as_u16(), 200, "ingest");
    let outcome: Value = response.json().await.expect("JSON");
    assert_eq!(
        outcome,
        json!({ "inserted": events.len(), "duplicates": 0 })
    );
}

/// Checks one streamed message against the event that was sent; returns its position and
/// whether it carried the run's summary.
fn check_message(id: i64, data: &Value, sent: &EventEnvelope) -> (i64, bool) {
    let mut keys: Vec<&String> = data.as_object().expect("object").keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["event", "job", "run"],
        "payload is {{event, run, job}}"
    );
    let event = &data["event"];
    assert_eq!(event["pos"], json!(id), "the SSE id is the stream position");
    assert_eq!(event["run_id"], json!(sent.run_id));
    assert_eq!(event["seq"], json!(sent.seq));
    assert_eq!(event["kind"], json!(sent.kind));
    assert_eq!(event["data"], sent.data);
    // The run's summary goes with the last message of each run in a write, null on the others.
    let summary = !data["run"].is_null();
    if summary {
        assert_eq!(data["run"]["id"], json!(sent.run_id), "the run's summary");
        assert!(
            data["run"]["event_count"].as_u64().expect("count") > sent.seq,
            "the summary includes the event"
        );
    }
    let job_id = match sent.kind.as_str() {
        "job_info" | "job_error" => sent.data["jobid"].as_u64(),
        "job_finished" => sent.data["job_id"].as_u64(),
        _ => None,
    };
    match job_id {
        Some(job) => {
            assert_eq!(data["job"]["job_id"], json!(job), "the job's state");
            // As new as the event or newer: a finished job's state says so.
            if sent.kind == "job_finished" {
                assert_eq!(data["job"]["status"], "succeeded", "job {job} finished");
            }
        }
        None => assert_eq!(data["job"], Value::Null, "no job for {}", sent.kind),
    }
    (id, summary)
}

/// Reads `n` events and checks them against `sent`, returning their positions and whether
/// each carried its run's summary.
async fn read_some(client: &mut SseReader, sent: &[EventEnvelope]) -> Vec<(i64, bool)> {
    let mut read = Vec::new();
    for expected in sent {
        let (id, data) = client.next_event().await.expect("the stream goes on");
        read.push(check_message(id, &data, expected));
    }
    read
}

/// Reads the events `sent`, the last the stream has for now (nothing else was posted after
/// them), and checks them; returns their positions. The last message of each run carried the
/// run's summary: a client that keeps the latest summary it received is up to date.
async fn read_events(client: &mut SseReader, sent: &[EventEnvelope]) -> Vec<i64> {
    let read = read_some(client, sent).await;
    let mut runs = std::collections::HashSet::new();
    for ((id, summary), event) in read.iter().zip(sent).rev() {
        if runs.insert(event.run_id) {
            assert!(
                *summary,
                "message {id}, the last of run {}, has its summary",
                event.run_id
            );
        }
    }
    read.into_iter().map(|(id, _)| id).collect()
}

/// The positions the store gave a run's events, by seq.
async fn positions(app: &App, cred: &Cred, run: RunId) -> Vec<i64> {
    all_events(app, cred, run)
        .await
        .iter()
        .map(|e| e["pos"].as_i64().expect("pos"))
        .collect()
}

async fn stream_resumes_across_a_restart(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let world = World::new(db.open().await).await;
    let member = world.member.bearer();
    let token = Cred::Bearer(world.ingest_token.clone());
    let name = "success/01-success.jsonl";
    let run = run_id_for(name);
    let events = load_capture(name, run);
    assert!(events.len() > 60);

    let server1 = Server::start(world.app.state.clone()).await;
    let mut client = open_stream(&server1, "", &member, None).await;
    // Live: events posted after the client connected arrive, in order.
    post(&server1, &token, "lab", &events[..20]).await;
    let read = read_some(&mut client, &events[..20]).await;
    // One batch reaches a following client in one write: the run's summary goes once, with
    // the last message, not with all twenty.
    let summaries: Vec<bool> = read.iter().map(|(_, summary)| *summary).collect();
    assert_eq!(summaries.iter().filter(|s| **s).count(), 1, "{summaries:?}");
    assert!(summaries[19]);
    let mut ids: Vec<i64> = read.iter().map(|(id, _)| *id).collect();
    post(&server1, &token, "lab", &events[20..40]).await;
    ids.extend(
        read_some(&mut client, &events[20..30])
            .await
            .iter()
            .map(|(id, _)| *id),
    );
    let last_id = *ids.last().expect("ids");

    // Server 1 stops while the stream is open; the stream ends after what was already sent.
    server1.stop().await;
    let mut tail = 0;
    while let Some(item) = client.next().await {
        if let Sse::Event { .. } = item {
            tail += 1;
        }
    }
    assert!(tail <= 10, "nothing beyond what was posted");
    drop(client);
    drop(world);

    // Written while no server runs (by another process, say).
    let offline = db.open().await;
    let lab = offline
        .workspace_by_name("lab")
        .await
        .expect("lab")
        .expect("exists");
    offline
        .append(lab.id, &events[40..50])
        .await
        .expect("append");
    drop(offline);

    // Server 2, on a new store over the same database; the session is still valid (the signing
    // key is kept in the database).
    let app2 = App::new(db.open().await, HttpConfig::default()).await;
    let server2 = Server::start(app2.state.clone()).await;
    let mut client = open_stream(&server2, "", &member, Some(last_id)).await;
    post(&server2, &token, "lab", &events[50..]).await;
    ids.extend(read_events(&mut client, &events[30..]).await);

    // No gap, no duplicate: every event once, in seq order, ids being the stored positions.
    assert_eq!(ids, positions(&app2, &member, run).await);
    // Nothing after the last one but what comes next.
    let sentinel = load_capture("success/12-up-to-date.jsonl", RunId::new_random());
    post(&server2, &token, "lab", &sentinel[..1]).await;
    let (id, data) = client.next_event().await.expect("the sentinel");
    assert_eq!(check_message(id, &data, &sentinel[0]), (id, true));
    assert!(id > last_id);
    server2.stop().await;
    assert!(
        client.next_event().await.is_none(),
        "stopping ends the stream"
    );
}

/// `?last_event_id=` works like the header; `?run=` follows one run; the header wins over the
/// query.
async fn stream_filters_and_replays(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let world = World::new(db.open().await).await;
    let member = world.member.bearer();
    let a = load_capture("success/12-up-to-date.jsonl", RunId::new_random());
    let b = load_capture("missing-input/06-missing-input.jsonl", RunId::new_random());
    world
        .store()
        .append(world.lab.id, &a)
        .await
        .expect("append");
    world
        .store()
        .append(world.lab.id, &b)
        .await
        .expect("append");
    let server = Server::start(world.app.state.clone()).await;

    // Replay everything after position 0, only run b.
    let query = format!("?run={}&last_event_id=0", b[0].run_id);
    let mut client = open_stream(&server, &query, &member, None).await;
    read_events(&mut client, &b).await;
    // The header takes precedence over the query.
    let a_pos = positions(&world.app, &member, a[0].run_id).await;
    let mut client = open_stream(&server, "?last_event_id=0", &member, Some(a_pos[2])).await;
    read_events(&mut client, &a[3..]).await;
    read_events(&mut client, &b).await;
    server.stop().await;
}

crate::on_both_backends!(stream_resumes_across_a_restart, stream_filters_and_replays);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_comments_arrive() {
    let db = TestDb::create(Backend::Sqlite).await.expect("sqlite");
    let config = HttpConfig {
        keep_alive: Duration::from_millis(200),
        ..HttpConfig::default()
    };
    let world = World::with_config(db.open().await, config).await;
    let server = Server::start(world.app.state.clone()).await;
    let mut client = open_stream(&server, "", &world.member.bearer(), None).await;
    let mut comments = 0;
    while comments < 3 {
        match client.next().await.expect("the stream stays open") {
            Sse::Ready(_) => {}
            Sse::Comment(_) => comments += 1,
            Sse::Event { id, data } => panic!("no events were posted, got {id:?} {data}"),
        }
    }
    // Events still arrive between keep-alives.
    let events = load_capture("success/12-up-to-date.jsonl", RunId::new_random());
    post(
        &server,
        &Cred::Bearer(world.ingest_token.clone()),
        "lab",
        &events,
    )
    .await;
    read_events(&mut client, &events).await;
    server.stop().await;
}

/// A stream announces itself at once (before the first event or keep-alive, an hour here) with
/// the position it starts after: the head for a new client, so that events committed while it
/// is away are replayed when it reconnects from there, even if it received none before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_open_with_their_position() {
    let db = TestDb::create(Backend::Sqlite).await.expect("sqlite");
    let config = HttpConfig {
        keep_alive: Duration::from_secs(3600),
        ..HttpConfig::default()
    };
    let world = World::with_config(db.open().await, config).await;
    let server = Server::start(world.app.state.clone()).await;
    let ingest = Cred::Bearer(world.ingest_token.clone());
    let first = load_capture("success/12-up-to-date.jsonl", RunId::new_random());
    post(&server, &ingest, "lab", &first).await;
    let head = world.app.state.store().head().await.expect("head");

    let mut client = open_stream(&server, "", &world.member.bearer(), None).await;
    let opened = tokio::time::timeout(Duration::from_secs(60), client.next())
        .await
        .expect("something arrives long before the keep-alive")
        .expect("the stream stays open");
    assert!(
        matches!(opened, Sse::Ready(pos) if pos == head),
        "{opened:?}, head {head}"
    );
    drop(client);

    // Events committed while the client was away, after it had received nothing but `ready`.
    let second = load_capture("success/12-up-to-date.jsonl", RunId::new_random());
    post(&server, &ingest, "lab", &second).await;
    let mut client = open_stream(&server, "", &world.member.bearer(), Some(head)).await;
    assert!(matches!(client.next().await, Some(Sse::Ready(pos)) if pos == head));
    read_events(&mut client, &second).await;
    server.stop().await;
}

/// Browsers' EventSource sends cookies, not headers: the session cookie from a login over the
/// socket opens the stream. Without credentials: 401 with the envelope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_session_opens_the_stream() {
    let db = TestDb::create(Backend::Sqlite).await.expect("sqlite");
    let world = World::new(db.open().await).await;
    let server = Server::start(world.app.state.clone()).await;
    let login = reqwest::Client::new()
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({ "email": "viewer@example.org", "password": crate::support::PASSWORD }))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status().as_u16(), 200);
    let prefix = format!("{}=", flowo_http::auth::SESSION_COOKIE);
    let set_cookie = login
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&prefix))
        .expect("a session cookie")
        .to_owned();
    assert!(
        set_cookie.contains("HttpOnly"),
        "the session cookie is HttpOnly"
    );
    let session = set_cookie[prefix.len()..]
        .split(';')
        .next()
        .expect("a value")
        .to_owned();
    let cookie = Cred::Cookie {
        session,
        csrf: None,
    };
    let mut client = open_stream(&server, "?workspace=lab", &cookie, None).await;
    let events = load_capture("success/12-up-to-date.jsonl", RunId::new_random());
    post(
        &server,
        &Cred::Bearer(world.ingest_token.clone()),
        "lab",
        &events,
    )
    .await;
    read_events(&mut client, &events).await;

    for cred in [
        Cred::Anonymous,
        Cred::Cookie {
            session: "forged".to_owned(),
            csrf: None,
        },
        Cred::Bearer(world.revoked_token.clone()),
    ] {
        let response = stream_request(&server, "", &cred, None).await;
        assert_eq!(response.status().as_u16(), 401, "{cred:?}");
        let body: Value = response.json().await.expect("an error envelope");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    server.stop().await;
}

/// A caller sees live events of the workspaces it may read and nothing else; asking for a
/// workspace or run it may not read is a 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_show_only_readable_workspaces() {
    let db = TestDb::create(Backend::Sqlite).await.expect("sqlite");
    let world = World::new(db.open().await).await;
    let server = Server::start(world.app.state.clone()).await;
    let hidden = load_capture("success/12-up-to-date.jsonl", RunId::new_random());
    world
        .store()
        .append(world.lab.id, &hidden[..1])
        .await
        .expect("append");

    let mut outsider = open_stream(&server, "", &world.outsider.bearer(), None).await;
    let mut member = open_stream(&server, "", &world.member.bearer(), None).await;
    let mut admin = open_stream(&server, "", &world.admin.bearer(), None).await;
    let mut ingest_only =
        open_stream(&server, "", &Cred::Bearer(world.ingest_token.clone()), None).await;
    let in_lab = load_capture("success/12-up-to-date.jsonl", RunId::new_random());
    let in_other = load_capture("missing-input/06-missing-input.jsonl", RunId::new_random());
    post(&server, &world.admin.bearer(), "lab", &in_lab).await;
    post(&server, &world.admin.bearer(), "other", &in_other).await;
    read_events(&mut member, &in_lab).await;
    read_events(&mut outsider, &in_other).await;
    read_events(&mut admin, &in_lab).await;
    read_events(&mut admin, &in_other).await;
    // The member's next event is the next lab event, not other's.
    let more = load_capture("success/12-up-to-date.jsonl", RunId::new_random());
    post(&server, &world.admin.bearer(), "lab", &more[..1]).await;
    read_events(&mut member, &more[..1]).await;
    // An ingest token follows nothing: its stream, open through all of the above, ends at
    // shutdown without a single event (checked below).
    drop((outsider, member, admin));

    for (query, cred) in [
        ("?workspace=lab".to_owned(), world.outsider.bearer()),
        (
            format!("?run={}", hidden[0].run_id),
            world.outsider.bearer(),
        ),
        (
            format!("?run={}", hidden[0].run_id),
            Cred::Bearer(world.ingest_token.clone()),
        ),
        ("?workspace=nope".to_owned(), world.admin.bearer()),
    ] {
        let response = stream_request(&server, &query, &cred, None).await;
        assert_eq!(response.status().as_u16(), 404, "{query} as {cred:?}");
        let body: Value = response.json().await.expect("an error envelope");
        assert_eq!(body["error"]["code"], "not_found");
    }
    server.stop().await;
    while let Some(item) = ingest_only.next().await {
        assert!(
            matches!(item, Sse::Comment(_) | Sse::Ready(_)),
            "an ingest token's stream carries no events: {item:?}"
        );
    }
}

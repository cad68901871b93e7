//! Ingest over HTTP, on both backends: every capture of the fixtures, posted in batches (and
//! once gzip-compressed), reads back through the API exactly as the in-memory fold of the same
//! events; batches are idempotent and say how many events were new; a run stays in the
//! workspace of its first write.

use std::io::Write;

use flowo_core::account::TokenScope;
use flowo_core::store::RunView;
use flowo_core::{EventEnvelope, WorkspaceId};
use serde_json::{Value, json};

use crate::support::{
    Backend, Cred, TestDb, World, all_events, all_pages, batch, call, captures, ingest,
    load_capture, run_id_for,
};

/// What the API says about a run equals what folding its events in memory gives.
async fn assert_api_matches_fold(
    world: &World,
    ws: WorkspaceId,
    events: &[EventEnvelope],
    what: &str,
) {
    let app = &world.app;
    let cred = world.member.bearer();
    let run = events[0].run_id;
    let folded = flowo_core::fold_events(run, ws, events);

    let view = call("GET", &format!("/api/v1/runs/{run}"))
        .cred(&cred)
        .send(app)
        .await
        .json_with(200);
    let expected = serde_json::to_value(RunView {
        run: folded.state.run.clone(),
        detail: folded.state.detail.clone(),
    })
    .expect("JSON");
    assert_eq!(view, expected, "{what}: run");

    let jobs = all_pages(app, &cred, &format!("/api/v1/runs/{run}/jobs?limit=7")).await;
    let expected: Vec<Value> = folded
        .jobs
        .values()
        .map(|j| serde_json::to_value(j).expect("JSON"))
        .collect();
    assert_eq!(jobs, expected, "{what}: jobs");
    if let Some((id, job)) = folded.jobs.iter().next() {
        let mut one = call("GET", &format!("/api/v1/runs/{run}/jobs/{id}"))
            .cred(&cred)
            .send(app)
            .await
            .json_with(200);
        assert_eq!(
            one.as_object_mut().expect("object").remove("logs"),
            Some(json!([]))
        );
        assert_eq!(
            one,
            serde_json::to_value(job).expect("JSON"),
            "{what}: job {id}"
        );
    }

    let errors = call("GET", &format!("/api/v1/runs/{run}/errors"))
        .cred(&cred)
        .send(app)
        .await
        .json_with(200);
    assert_eq!(
        errors,
        serde_json::to_value(&folded.errors).expect("JSON"),
        "{what}: errors"
    );

    let graph = call("GET", &format!("/api/v1/runs/{run}/graph"))
        .cred(&cred)
        .send(app)
        .await
        .json_with(200);
    assert_eq!(
        graph,
        serde_json::to_value(folded.state.detail.rulegraph.clone().unwrap_or_default())
            .expect("JSON"),
        "{what}: rule graph"
    );

    // The events are kept exactly as sent, with a stream position and a receipt time.
    let stored = all_events(app, &cred, run).await;
    assert_eq!(stored.len(), events.len(), "{what}: events");
    let mut last_pos = 0;
    for (mut got, sent) in stored.into_iter().zip(events) {
        let got = got.as_object_mut().expect("object");
        let pos = got.remove("pos").and_then(|p| p.as_i64()).expect("pos");
        assert!(pos > last_pos, "{what}: positions grow with seq");
        last_pos = pos;
        assert_eq!(got.remove("workspace_id"), Some(json!(ws)));
        assert!(got.remove("received_at").is_some_and(|t| t.is_string()));
        assert_eq!(
            Value::Object(got.clone()),
            serde_json::to_value(sent).expect("JSON"),
            "{what}: event {}",
            sent.seq
        );
    }
}

async fn every_capture_matches_the_fold(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let world = World::new(db.open().await).await;
    let token = Cred::Bearer(world.ingest_token.clone());
    let names = captures();
    for name in &names {
        let events = load_capture(name, run_id_for(name));
        ingest(&world.app, &token, "lab", &events, 50).await;
        assert_api_matches_fold(&world, world.lab.id, &events, name).await;
    }
    let list = call("GET", "/api/v1/runs?limit=1")
        .cred(&world.member.bearer())
        .send(&world.app)
        .await
        .json_with(200);
    assert_eq!(list["total"], json!(names.len()), "every capture is a run");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

/// Gzip bodies (`Content-Encoding: gzip`), as the plugin sends them, and batches mixing
/// several runs.
async fn gzip_and_mixed_batches_match_the_fold(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let world = World::new(db.open().await).await;
    let name = "large/10-large.jsonl";
    let events = load_capture(name, run_id_for(name));
    for chunk in events.chunks(400) {
        let json = serde_json::to_vec(&batch(chunk)).expect("JSON");
        let body = gzip(&json);
        assert!(body.len() < json.len());
        let outcome = call("POST", "/api/v1/events?workspace=lab")
            .cred(&Cred::Bearer(world.ingest_token.clone()))
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(body)
            .send(&world.app)
            .await
            .json_with(200);
        assert_eq!(outcome, json!({ "inserted": chunk.len(), "duplicates": 0 }));
    }
    assert_api_matches_fold(&world, world.lab.id, &events, name).await;

    // Two runs interleaved in each batch.
    let (a, b) = (
        "job-failure/02-job-failure.jsonl",
        "incomplete/18-interrupted-sigint.jsonl",
    );
    let a_events = load_capture(a, run_id_for(a));
    let b_events = load_capture(b, run_id_for(b));
    let mut mixed: Vec<EventEnvelope> = Vec::new();
    let (mut ia, mut ib) = (a_events.iter(), b_events.iter());
    loop {
        let (x, y) = (ia.next(), ib.next());
        if x.is_none() && y.is_none() {
            break;
        }
        mixed.extend(x.cloned());
        mixed.extend(y.cloned());
    }
    ingest(&world.app, &world.member.bearer(), "lab", &mixed, 25).await;
    assert_api_matches_fold(&world, world.lab.id, &a_events, a).await;
    assert_api_matches_fold(&world, world.lab.id, &b_events, b).await;
}

async fn a_batch_sent_twice_is_stored_once(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let world = World::new(db.open().await).await;
    let token = Cred::Bearer(world.ingest_token.clone());
    let name = "job-failure/03-job-failure-keep-going.jsonl";
    let events = load_capture(name, run_id_for(name));
    let n = events.len();
    let post = |events: Vec<EventEnvelope>| {
        let token = token.clone();
        let app = &world.app;
        async move {
            call("POST", "/api/v1/events?workspace=lab")
                .cred(&token)
                .json(&batch(&events))
                .send(app)
                .await
                .json_with(200)
        }
    };
    // The first half, then everything: only the second half is new.
    let half = n / 2;
    assert_eq!(
        post(events[..half].to_vec()).await,
        json!({ "inserted": half, "duplicates": 0 })
    );
    assert_eq!(
        post(events.clone()).await,
        json!({ "inserted": n - half, "duplicates": half })
    );
    // The whole batch again.
    assert_eq!(
        post(events.clone()).await,
        json!({ "inserted": 0, "duplicates": n })
    );
    // A batch repeating events within itself.
    let mut repeated = events[10..20].to_vec();
    repeated.extend_from_slice(&events[10..12]);
    assert_eq!(
        post(repeated).await,
        json!({ "inserted": 0, "duplicates": 12 })
    );
    let view = call("GET", &format!("/api/v1/runs/{}", events[0].run_id))
        .cred(&world.member.bearer())
        .send(&world.app)
        .await
        .json_with(200);
    assert_eq!(view["event_count"], json!(n), "each event stored once");
    assert_api_matches_fold(&world, world.lab.id, &events, name).await;
}

async fn runs_stay_in_their_workspace(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let world = World::new(db.open().await).await;
    let name = "success/01-success.jsonl";
    let run = run_id_for(name);
    let events = load_capture(name, run);
    let member = Cred::Bearer(world.ingest_token.clone());
    ingest(&world.app, &member, "lab", &events[..10], 10).await;

    let event_count = || async {
        world
            .store()
            .get_run(run)
            .await
            .expect("get")
            .expect("run")
            .run
            .event_count
    };
    // A token of another workspace cannot write into the run, nor can anyone naming another
    // workspace; a batch that also holds a new run is refused whole.
    let outsider_token = Cred::Bearer(
        world
            .token(
                &world.outsider.user,
                TokenScope::Ingest,
                Some(world.other.id),
            )
            .await,
    );
    let newcomer = flowo_core::RunId::new_random();
    let mut with_new_run = load_capture(name, newcomer)[..5].to_vec();
    with_new_run.extend_from_slice(&events[10..]);
    for (who, cred, uri, body) in [
        (
            "outsider's token",
            &outsider_token,
            "/api/v1/events",
            &events[10..],
        ),
        (
            "outsider's token, mixed batch",
            &outsider_token,
            "/api/v1/events",
            &with_new_run[..],
        ),
        (
            "admin naming other",
            &world.admin.bearer(),
            "/api/v1/events?workspace=other",
            &events[10..],
        ),
    ] {
        let reply = call("POST", uri)
            .cred(cred)
            .json(&batch(body))
            .send(&world.app)
            .await
            .expect_error(403, "forbidden");
        let (_, message) = reply.envelope().expect("envelope");
        assert!(message.contains(&run.to_string()), "{who}: {message}");
        assert_eq!(event_count().await, 10, "{who}: nothing stored");
    }
    assert!(
        world
            .store()
            .get_run(newcomer)
            .await
            .expect("get")
            .is_none()
    );

    // A token limited to the run's workspace writes there whatever the query says.
    let lab_token = Cred::Bearer(
        world
            .token(&world.member.user, TokenScope::Ingest, Some(world.lab.id))
            .await,
    );
    let outcome = call("POST", "/api/v1/events?workspace=other")
        .cred(&lab_token)
        .json(&batch(&events[10..30]))
        .send(&world.app)
        .await
        .json_with(200);
    assert_eq!(outcome, json!({ "inserted": 20, "duplicates": 0 }));
    ingest(&world.app, &world.admin.bearer(), "lab", &events[30..], 100).await;
    assert_api_matches_fold(&world, world.lab.id, &events, name).await;
    // The outsider cannot even see it.
    call("GET", &format!("/api/v1/runs/{run}"))
        .cred(&world.outsider.bearer())
        .send(&world.app)
        .await
        .expect_error(404, "not_found");
}

crate::on_both_backends!(
    every_capture_matches_the_fold,
    gzip_and_mixed_batches_match_the_fold,
    a_batch_sent_twice_is_stored_once,
    runs_stay_in_their_workspace,
);

//! Operations: `/healthz`, `/readyz` (503 when the database is gone, while the API answers 503
//! `unavailable`, never 500), `/metrics` after some traffic (ingest counters, the request
//! histogram by route pattern, runs by status, SSE clients), and the OpenAPI document, whole,
//! as a snapshot.

use axum::http::header;
use flowo_core::RunId;
use serde_json::json;
use utoipa::OpenApi;

use crate::support::{Backend, Cred, TestDb, World, batch, call, ingest, load_capture, run_id_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness() {
    let db = TestDb::create(Backend::Sqlite).await.expect("sqlite");
    let world = World::new(db.open().await).await;
    let health = call("GET", "/healthz").send(&world.app).await.expect(200);
    assert_eq!(health.text(), "ok");
    let ready = call("GET", "/readyz").send(&world.app).await.expect(200);
    assert_eq!(ready.text(), "ready");

    // Draining before a stop: unready for the load balancer, while requests are still served.
    world.app.state.begin_draining();
    let ready = call("GET", "/readyz").send(&world.app).await.expect(503);
    assert_eq!(ready.text(), "draining");
    call("GET", "/healthz").send(&world.app).await.expect(200);
    call("GET", "/api/v1/runs")
        .cred(&world.member.bearer())
        .send(&world.app)
        .await
        .expect(200);
}

/// With its database gone, the server says it is not ready, and API calls answer 503 with the
/// envelope (the database error is logged, not sent). PostgreSQL only: an open SQLite file
/// cannot be taken away from under its connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_answers_503() {
    let Some(db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let world = World::new(db.open().await).await;
    call("GET", "/readyz").send(&world.app).await.expect(200);
    db.drop_now().await;
    let ready = call("GET", "/readyz").send(&world.app).await.expect(503);
    assert_eq!(ready.text(), "store unavailable");
    let run = RunId::new_random();
    for reply in [
        call("GET", "/api/v1/runs")
            .cred(&world.member.bearer())
            .send(&world.app)
            .await,
        call("POST", "/api/v1/events")
            .cred(&Cred::Bearer(world.ingest_token.clone()))
            .json(&batch(&load_capture("success/01-success.jsonl", run)[..3]))
            .send(&world.app)
            .await,
    ] {
        let reply = reply.expect_error(503, "unavailable");
        let (_, message) = reply.envelope().expect("envelope");
        assert!(
            !message.contains(&db_name(&db)),
            "no database detail: {message}"
        );
    }
}

fn db_name(db: &TestDb) -> String {
    match db {
        TestDb::Postgres(db) => db.name.clone(),
        TestDb::Sqlite { path, .. } => path.display().to_string(),
    }
}

/// The value of one sample in the text exposition, found by name and labels.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = match series.split_once('{') {
            Some((m, rest)) => (m, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let found: Vec<(&str, &str)> = rest
            .split(',')
            .filter_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                Some((k, v.trim_matches('"')))
            })
            .collect();
        (metric == name && labels.iter().all(|l| found.contains(l)))
            .then(|| value.parse().ok())
            .flatten()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_some_traffic() {
    let db = TestDb::create(Backend::Sqlite).await.expect("sqlite");
    let world = World::new(db.open().await).await;
    let name = "success/01-success.jsonl";
    let run = run_id_for(name);
    let events = load_capture(name, run);
    let token = Cred::Bearer(world.ingest_token.clone());
    ingest(&world.app, &token, "lab", &events, events.len()).await;
    call("POST", "/api/v1/events?workspace=lab")
        .cred(&token)
        .json(&batch(&events[..10]))
        .send(&world.app)
        .await
        .expect(200);
    for _ in 0..3 {
        call("GET", &format!("/api/v1/runs/{run}"))
            .cred(&world.member.bearer())
            .send(&world.app)
            .await
            .expect(200);
    }
    call("GET", &format!("/api/v1/runs/{}", RunId::new_random()))
        .cred(&world.member.bearer())
        .send(&world.app)
        .await
        .expect(404);
    call("GET", "/api/v1/no-such-route").send(&world.app).await;
    // A stream held open counts as a client.
    let stream = world
        .app
        .respond(
            call("GET", "/api/v1/stream")
                .cred(&world.member.bearer())
                .build(),
        )
        .await;
    assert_eq!(stream.status().as_u16(), 200);

    let reply = call("GET", "/metrics").send(&world.app).await.expect(200);
    let content_type = reply.headers[header::CONTENT_TYPE].to_str().expect("ASCII");
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = reply.text();
    assert!(text.contains("flowo_events_ingested"), "{text}");
    assert_eq!(
        sample(&text, "flowo_events_ingested_total", &[]),
        Some(events.len() as f64)
    );
    assert_eq!(
        sample(&text, "flowo_events_duplicate_total", &[]),
        Some(10.0)
    );
    assert_eq!(
        sample(&text, "flowo_runs", &[("status", "running")]),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "flowo_runs", &[("status", "succeeded")]),
        Some(1.0)
    );
    assert_eq!(sample(&text, "flowo_sse_clients", &[]), Some(1.0));
    let route = |route, method, status| {
        sample(
            &text,
            "flowo_http_request_duration_seconds_count",
            &[("route", route), ("method", method), ("status", status)],
        )
    };
    assert_eq!(route("/api/v1/runs/{run_id}", "GET", "2xx"), Some(3.0));
    assert_eq!(route("/api/v1/runs/{run_id}", "GET", "4xx"), Some(1.0));
    assert_eq!(route("/api/v1/events", "POST", "2xx"), Some(2.0));
    assert!(
        text.contains("flowo_http_request_duration_seconds_bucket{"),
        "the histogram has buckets"
    );
    assert!(
        !text.contains(&run.to_string()) && !text.contains("no-such-route"),
        "labels are route patterns, never raw paths"
    );
    drop(stream);
    let text = call("GET", "/metrics")
        .send(&world.app)
        .await
        .expect(200)
        .text();
    assert_eq!(sample(&text, "flowo_sse_clients", &[]), Some(0.0));
    assert_eq!(
        sample(
            &text,
            "flowo_http_request_duration_seconds_count",
            &[("route", "/metrics"), ("method", "GET"), ("status", "2xx")],
        ),
        Some(1.0),
        "the first /metrics request is counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document() {
    let db = TestDb::create(Backend::Sqlite).await.expect("sqlite");
    let world = World::new(db.open().await).await;
    let served = call("GET", "/api/v1/openapi.json")
        .send(&world.app)
        .await
        .json_with(200);
    let doc = serde_json::to_value(flowo_http::openapi::ApiDoc::openapi()).expect("JSON");
    assert_eq!(served, doc, "the served document is the generated one");
    // Operation ids are the handler names, each used once.
    let mut ids: Vec<&str> = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_object().expect("item").values())
        .filter_map(|op| op.get("operationId")?.as_str())
        .collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "unique operation ids");
    assert!(ids.contains(&"ingest_events") && ids.contains(&"get_stream"));
    assert_eq!(
        doc["components"]["securitySchemes"]["session"]["name"],
        json!("flowo_session")
    );
    // Parameters are where the route takes them: path parameters in the template, the rest in
    // the query string, optional unless the handler needs them.
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            for param in op["parameters"].as_array().into_iter().flatten() {
                let name = param["name"].as_str().expect("name");
                let in_path = path.contains(&format!("{{{name}}}"));
                let expected = match (in_path, name) {
                    (true, _) => "path",
                    (false, "Last-Event-ID") => "header",
                    (false, _) => "query",
                };
                assert_eq!(param["in"], json!(expected), "{method} {path}: {name}");
                if !in_path
                    && param["schema"]["type"]
                        .as_array()
                        .is_some_and(|t| t.contains(&json!("null")))
                {
                    assert_ne!(
                        param["required"],
                        json!(true),
                        "{method} {path}: {name} is optional"
                    );
                }
            }
        }
    }
    // Every reference resolves (code generators refuse a document with a dangling one).
    let text = doc.to_string();
    for reference in text.split("\"#/components/schemas/").skip(1) {
        let name = &reference[..reference.find('"').expect("closing quote")];
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling reference to schema {name}"
        );
    }
    insta::assert_json_snapshot!("openapi", served);
}

/// The dashboard's API types are generated from `frontend/openapi.json`; it must be this
/// server's document. `FLOWO_UPDATE_OPENAPI=1` rewrites it (then `npm run gen:api`).
#[test]
fn frontend_openapi_document_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../frontend/openapi.json");
    let doc = flowo_http::openapi::ApiDoc::openapi();
    let expected = format!("{}\n", serde_json::to_string_pretty(&doc).expect("JSON"));
    if std::env::var_os("FLOWO_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &expected).expect("write frontend/openapi.json");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == expected,
        "frontend/openapi.json is not the server's OpenAPI document; run \
         `FLOWO_UPDATE_OPENAPI=1 cargo test -p flowo-http --test http frontend_openapi` \
         and `npm run gen:api` in frontend/"
    );
}

//! Every input limit of [`flowo_http::Limits`], each at its bound and one past it, on both
//! backends: short strings in bodies, paths and query parameters (and NUL characters, which
//! PostgreSQL cannot store), passwords, JSON nesting depth, page sizes, body sizes (also gzip
//! bodies once inflated) and live streams per user. Past a limit the answer is a 4xx with the
//! error envelope, and nothing is stored.

use std::io::Write;

use axum::body::Body;
use flowo_core::RunId;
use flowo_http::{HttpConfig, Limits};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{
    Backend, PATIENCE, Server, TestDb, World, batch, call, load_capture, open_stream,
    stream_request,
};

/// The short-string limit the tests configure.
const SHORT: usize = 16;
/// The e-mail limit the tests configure (the world's addresses are shorter).
const EMAIL: usize = 30;

async fn world(backend: Backend, limits: Limits) -> Option<(World, TestDb)> {
    let db = TestDb::create(backend).await?;
    let config = HttpConfig {
        limits,
        keep_alive: std::time::Duration::from_millis(50),
        ..HttpConfig::default()
    };
    let world = World::with_config(db.open().await, config).await;
    Some((world, db))
}

fn short_limits() -> Limits {
    Limits {
        max_short_string: SHORT,
        max_email: EMAIL,
        ..Limits::default()
    }
}

/// `n` characters, none of them ASCII (the limit counts characters, not bytes).
fn chars(n: usize) -> String {
    "é".repeat(n)
}

/// A request and the status it must get.
struct Case {
    what: String,
    method: &'static str,
    uri: String,
    body: Option<Value>,
    status: u16,
    code: &'static str,
}

fn case(what: impl Into<String>, method: &'static str, uri: impl Into<String>) -> Case {
    Case {
        what: what.into(),
        method,
        uri: uri.into(),
        body: None,
        status: 400,
        code: "bad_request",
    }
}

impl Case {
    fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    fn answers(mut self, status: u16, code: &'static str) -> Self {
        self.status = status;
        self.code = code;
        self
    }
}

/// Sends every case as the admin; fails with the list of those answered otherwise.
async fn check_cases(world: &World, cases: Vec<Case>) {
    let admin = world.admin.bearer();
    let mut failures = Vec::new();
    for case in &cases {
        let mut request = call(case.method, &case.uri).cred(&admin);
        if let Some(body) = &case.body {
            request = request.json(body);
        }
        let reply = request.send(&world.app).await;
        let got = reply.status.as_u16();
        let ok = if case.status < 400 {
            got == case.status
        } else {
            got == case.status && reply.envelope().is_some_and(|(c, _)| c == case.code)
        };
        if !ok {
            failures.push(format!(
                "{} ({} {}): expected {} {}, got {got}: {}",
                case.what,
                case.method,
                case.uri,
                case.status,
                case.code,
                reply.text()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

async fn strings_are_bounded(backend: Backend) {
    let Some((world, _db)) = world(backend, short_limits()).await else {
        return;
    };
    let run = world.small_run(world.lab.id).await;
    let member = world.member.user.id;
    let long = chars(SHORT + 1);
    let fits = chars(SHORT);
    let long_email = format!("{}@x.org", "e".repeat(EMAIL - 5));
    assert_eq!(long_email.len(), EMAIL + 1);
    let password = "p".repeat(1025);
    let fresh = RunId::new_random();
    let events = load_capture("success/01-success.jsonl", fresh);
    let some = batch(&events[..2]);

    let mut cases = Vec::new();
    // Query parameters: every string one, one past the limit, then at it.
    let queries = [
        ("POST", "/api/v1/events".to_owned(), "workspace"),
        ("GET", "/api/v1/runs".to_owned(), "q"),
        ("GET", "/api/v1/runs".to_owned(), "tag"),
        ("GET", "/api/v1/runs".to_owned(), "workspace"),
        ("GET", "/api/v1/runs".to_owned(), "user"),
        ("GET", "/api/v1/runs".to_owned(), "status"),
        ("GET", format!("/api/v1/runs/{run}/jobs"), "rule"),
        ("GET", format!("/api/v1/runs/{run}/jobs"), "status"),
        ("GET", format!("/api/v1/runs/{run}/job-briefs"), "rule"),
        ("GET", format!("/api/v1/runs/{run}/job-briefs"), "status"),
        ("GET", format!("/api/v1/runs/{run}/events"), "kinds"),
        ("GET", "/api/v1/stats".to_owned(), "workspace"),
        ("GET", "/api/v1/stream".to_owned(), "workspace"),
    ];
    for (method, path, param) in &queries {
        let uri = format!("{path}?{param}={}", crate::support::percent_encode(&long));
        let mut c = case(format!("a long {param}"), method, uri);
        if *method == "POST" {
            c = c.json(some.clone());
        }
        cases.push(c);
        let uri = format!("{path}?{param}=a%00b");
        let mut c = case(format!("a NUL in {param}"), method, uri);
        if *method == "POST" {
            c = c.json(some.clone());
        }
        cases.push(c);
    }
    // At the limit the search works (and finds nothing).
    let q = crate::support::percent_encode(&fits);
    cases.push(
        case(
            "a search text at the limit",
            "GET",
            format!("/api/v1/runs?q={q}"),
        )
        .answers(200, ""),
    );
    cases.push(case("a tag at the limit", "GET", format!("/api/v1/runs?tag={q}")).answers(200, ""));
    cases.push(
        case(
            "a rule at the limit",
            "GET",
            format!("/api/v1/runs/{run}/jobs?rule={q}"),
        )
        .answers(200, ""),
    );
    cases.push(
        case(
            "kinds at the limit",
            "GET",
            format!("/api/v1/runs/{run}/events?kinds={q}"),
        )
        .answers(200, ""),
    );
    cases.push(
        case(
            "a workspace at the limit",
            "GET",
            format!("/api/v1/stats?workspace={q}"),
        )
        .answers(200, ""),
    );
    // Path parameters.
    let name = crate::support::percent_encode(&long);
    cases.push(case(
        "a long workspace in a path",
        "GET",
        format!("/api/v1/workspaces/{name}/members"),
    ));
    cases.push(case(
        "a long workspace in a member path",
        "PUT",
        format!("/api/v1/workspaces/{name}/members/member@example.org"),
    ));
    cases.push(case(
        "a long e-mail in a member path",
        "PUT",
        format!("/api/v1/workspaces/lab/members/{long_email}"),
    ));
    cases.push(case(
        "a long e-mail in a removal",
        "DELETE",
        format!("/api/v1/workspaces/lab/members/{long_email}"),
    ));
    cases.push(case(
        "a NUL in a workspace path",
        "GET",
        "/api/v1/workspaces/a%00b/members",
    ));
    cases.push(
        case(
            "a workspace path at the limit",
            "GET",
            format!("/api/v1/workspaces/{}/members", "v".repeat(SHORT)),
        )
        .answers(404, "not_found"),
    );
    // Bodies.
    cases.push(
        case("a long workspace name", "POST", "/api/v1/workspaces").json(json!({ "name": long })),
    );
    cases.push(
        case("a NUL in a workspace name", "POST", "/api/v1/workspaces")
            .json(json!({ "name": "a\u{0}b" })),
    );
    cases.push(
        case(
            "a workspace name at the limit",
            "POST",
            "/api/v1/workspaces",
        )
        .json(json!({ "name": "w".repeat(SHORT) }))
        .answers(201, ""),
    );
    cases.push(case("a long e-mail", "POST", "/api/v1/users").json(json!({ "email": long_email })));
    cases.push(
        case("a NUL in an e-mail", "POST", "/api/v1/users")
            .json(json!({ "email": "a\u{0}@x.org" })),
    );
    cases.push(
        case("an e-mail at the limit", "POST", "/api/v1/users")
            .json(json!({ "email": "e@x.org".to_owned() + &"o".repeat(EMAIL - 7) }))
            .answers(201, ""),
    );
    cases.push(
        case("a long password", "POST", "/api/v1/users")
            .json(json!({ "email": "p@x.org", "password": password })),
    );
    cases.push(
        case("a NUL in a password", "POST", "/api/v1/users")
            .json(json!({ "email": "p@x.org", "password": "12345678\u{0}" })),
    );
    cases.push(
        case(
            "a long new password",
            "PATCH",
            format!("/api/v1/users/{member}"),
        )
        .json(json!({ "password": password })),
    );
    cases.push(
        case(
            "a password at the limit",
            "PATCH",
            format!("/api/v1/users/{member}"),
        )
        .json(json!({ "password": "p".repeat(1024) }))
        .answers(200, ""),
    );
    cases.push(case("a long token name", "POST", "/api/v1/tokens").json(json!({ "name": long })));
    cases.push(
        case("a NUL in a token name", "POST", "/api/v1/tokens").json(json!({ "name": "a\u{0}b" })),
    );
    cases.push(
        case("a long token workspace", "POST", "/api/v1/tokens")
            .json(json!({ "name": "t", "workspace": long })),
    );
    cases.push(
        case("a long token owner", "POST", "/api/v1/tokens")
            .json(json!({ "name": "t", "user": long_email })),
    );
    cases.push(
        case("a token name at the limit", "POST", "/api/v1/tokens")
            .json(json!({ "name": fits }))
            .answers(201, ""),
    );
    cases.push(
        case("a long login e-mail", "POST", "/api/v1/auth/login")
            .json(json!({ "email": long_email, "password": "whatever1" })),
    );
    cases.push(
        case("a long login password", "POST", "/api/v1/auth/login")
            .json(json!({ "email": "member@example.org", "password": password })),
    );
    cases.push(
        case(
            "a long first-login token",
            "POST",
            "/api/v1/auth/first-login",
        )
        .json(json!({ "token": long })),
    );
    cases.push(
        case(
            "a NUL in an event kind",
            "POST",
            "/api/v1/events?workspace=lab",
        )
        .json({
            let mut events = events[..2].to_vec();
            events[1].kind = "a\u{0}b".to_owned();
            batch(&events)
        }),
    );
    check_cases(&world, cases).await;

    // The message names the limit and the input.
    let reply = call("GET", &format!("/api/v1/runs?q={name}"))
        .cred(&world.admin.bearer())
        .send(&world.app)
        .await;
    let (_, message) = reply.envelope().expect("envelope");
    assert!(
        message.contains("q may be at most 16 characters"),
        "{message}"
    );
    // Nothing of the refused ingest was stored, and no workspace, user or token was made by
    // a refused request.
    assert!(world.store().get_run(fresh).await.expect("get").is_none());
    let workspaces = world.store().list_workspaces().await.expect("list");
    assert_eq!(
        workspaces.len(),
        4,
        "default, lab, other and the one at the limit"
    );
    let users = world.store().list_users().await.expect("users");
    assert_eq!(users.len(), 5, "the world's four and the one at the limit");
}

/// JSON `{"a": {"a": … 1 …}}`, `levels` objects deep.
fn nested(levels: usize) -> Value {
    let mut value = json!(1);
    for _ in 0..levels {
        value = json!({ "a": value });
    }
    value
}

async fn json_depth_is_bounded(backend: Backend) {
    // The default limit, 64: an event's `data` sits at depth 3 of the body
    // (`{"events": [{"data": …}]}`), so it may nest 61 levels.
    let Some((world, _db)) = world(backend, Limits::default()).await else {
        return;
    };
    assert_eq!(Limits::default().max_json_depth, 64);
    let run = RunId::new_random();
    let events = load_capture("success/01-success.jsonl", run);
    let deep = |levels: usize| {
        let mut events = events[..1].to_vec();
        events[0].kind = "deep".to_owned();
        events[0].data = nested(levels);
        batch(&events)
    };
    let ingest = "/api/v1/events?workspace=lab";
    let admin = world.admin.bearer();
    let reply = call("POST", ingest)
        .cred(&admin)
        .json(&deep(62))
        .send(&world.app)
        .await
        .expect_error(400, "bad_request");
    let (_, message) = reply.envelope().expect("envelope");
    assert!(
        message.contains("nested deeper than 64 levels"),
        "{message}"
    );
    // Deeper than serde_json's own recursion limit (128): still this limit's answer.
    let reply = call("POST", ingest)
        .cred(&admin)
        .json(&deep(200))
        .send(&world.app)
        .await
        .expect_error(400, "bad_request");
    let (_, message) = reply.envelope().expect("envelope");
    assert!(
        message.contains("nested deeper than 64 levels"),
        "{message}"
    );
    assert!(world.store().get_run(run).await.expect("get").is_none());
    // Brackets inside strings do not count.
    let mut stringy = events[..1].to_vec();
    stringy[0].kind = "deep".to_owned();
    stringy[0].data = json!({ "text": "[".repeat(500) + &"{".repeat(500) });
    call("POST", ingest)
        .cred(&admin)
        .json(&batch(&stringy))
        .send(&world.app)
        .await
        .expect(200);
    // At the limit it is stored, and read back as sent.
    let mut at_limit = events[1..2].to_vec();
    at_limit[0].kind = "deep".to_owned();
    at_limit[0].data = nested(61);
    call("POST", ingest)
        .cred(&admin)
        .json(&batch(&at_limit))
        .send(&world.app)
        .await
        .expect(200);
    let stored = call("GET", &format!("/api/v1/runs/{run}/events?kinds=deep"))
        .cred(&admin)
        .send(&world.app)
        .await
        .json_with(200);
    assert_eq!(stored[1]["data"], nested(61));
    // Every other JSON body too.
    // The body object is the outermost of the levels.
    let mut body = nested(64);
    body["email"] = json!("deep@example.org");
    call("POST", "/api/v1/users")
        .cred(&admin)
        .json(&body)
        .send(&world.app)
        .await
        .expect(201);
    let mut body = nested(65);
    body["email"] = json!("deeper@example.org");
    call("POST", "/api/v1/users")
        .cred(&admin)
        .json(&body)
        .send(&world.app)
        .await
        .expect_error(400, "bad_request");
}

async fn page_sizes_are_bounded(backend: Backend) {
    let limits = Limits {
        max_page_size: 10,
        ..Limits::default()
    };
    let Some((world, _db)) = world(backend, limits).await else {
        return;
    };
    let run = world.small_run(world.lab.id).await;
    let admin = world.admin.bearer();
    for path in [
        "/api/v1/runs".to_owned(),
        format!("/api/v1/runs/{run}/jobs"),
        format!("/api/v1/runs/{run}/events"),
    ] {
        let reply = call("GET", &format!("{path}?limit=11"))
            .cred(&admin)
            .send(&world.app)
            .await
            .expect_error(400, "bad_request");
        let (_, message) = reply.envelope().expect("envelope");
        assert!(
            message.contains("between 1 and 10, got 11"),
            "{path}: {message}"
        );
        call("GET", &format!("{path}?limit=0"))
            .cred(&admin)
            .send(&world.app)
            .await
            .expect_error(400, "bad_request");
        call("GET", &format!("{path}?limit=10"))
            .cred(&admin)
            .send(&world.app)
            .await
            .expect(200);
    }
    // The run's 12 events: without `limit` the default page is held to the configured bound.
    let page = call("GET", &format!("/api/v1/runs/{run}/events"))
        .cred(&admin)
        .send(&world.app)
        .await
        .json_with(200);
    assert_eq!(page.as_array().expect("events").len(), 10);

    // The default bound is the stores' own, 1000.
    let Some((world, _db)) = self::world(backend, Limits::default()).await else {
        return;
    };
    for (limit, status) in [(1000, 200), (1001, 400), (u32::MAX, 400)] {
        let reply = call("GET", &format!("/api/v1/runs?limit={limit}"))
            .cred(&world.admin.bearer())
            .send(&world.app)
            .await;
        assert_eq!(
            reply.status.as_u16(),
            status,
            "limit={limit}: {}",
            reply.text()
        );
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

async fn bodies_are_bounded(backend: Backend) {
    let limits = Limits {
        max_body_bytes: 32 * 1024,
        max_small_body_bytes: 1024,
        ..Limits::default()
    };
    let Some((world, _db)) = world(backend, limits).await else {
        return;
    };
    let admin = world.admin.bearer();
    let run = RunId::new_random();
    let events = load_capture("success/01-success.jsonl", run);
    let padded = |bytes: usize| {
        let mut events = events[..1].to_vec();
        events[0].kind = "padding".to_owned();
        events[0].data = json!({ "padding": "x".repeat(bytes) });
        serde_json::to_vec(&batch(&events)).expect("JSON")
    };
    let send = |body: Vec<u8>, encoding: Option<&'static str>, path: &'static str| {
        let mut request = call("POST", path)
            .cred(&admin)
            .header("content-type", "application/json");
        if let Some(encoding) = encoding {
            request = request.header("content-encoding", encoding);
        }
        request.body(Body::from(body)).send(&world.app)
    };
    let ingest = "/api/v1/events?workspace=lab";
    // Ingest: the limit counts the JSON, compressed or not.
    let over = padded(32 * 1024);
    assert!(over.len() > 32 * 1024);
    send(over.clone(), None, ingest)
        .await
        .expect_error(413, "payload_too_large");
    let zipped = gzip(&over);
    assert!(zipped.len() < 1024, "small on the wire");
    send(zipped, Some("gzip"), ingest)
        .await
        .expect_error(413, "payload_too_large");
    let under = padded(30 * 1024);
    assert!(under.len() < 32 * 1024);
    send(gzip(&under), Some("gzip"), ingest).await.expect(200);
    // Every other body: the small limit.
    let user = |pad: usize| {
        serde_json::to_vec(
            &json!({ "email": "big@example.org", "role": "member", "pad": "x".repeat(pad) }),
        )
        .expect("JSON")
    };
    let over = user(1024);
    assert!(over.len() > 1024);
    send(over, None, "/api/v1/users")
        .await
        .expect_error(413, "payload_too_large");
    let under = user(900);
    assert!(under.len() <= 1024);
    send(under, None, "/api/v1/users").await.expect(201);
}

async fn streams_per_user_are_bounded(backend: Backend) {
    let limits = Limits {
        max_streams_per_user: 2,
        ..Limits::default()
    };
    let Some((world, _db)) = world(backend, limits).await else {
        return;
    };
    let admin = world.admin.user.id;
    let open = |cred: crate::support::Cred| {
        world
            .app
            .respond(call("GET", "/api/v1/stream").cred(&cred).build())
    };
    let first = open(world.admin.bearer()).await;
    assert_eq!(first.status().as_u16(), 200);
    let second = open(world.admin.bearer()).await;
    assert_eq!(second.status().as_u16(), 200);
    assert_eq!(world.app.state.open_streams(admin), 2);
    // A third of the same user, by any credential, is refused.
    for cred in [
        world.admin.bearer(),
        crate::support::Cred::Bearer(world.admin_token.clone()),
        world.admin.cookie(false),
    ] {
        let reply = crate::support::Reply::read(open(cred).await).await;
        let reply = reply.expect_error(429, "too_many_requests");
        let (_, message) = reply.envelope().expect("envelope");
        assert!(message.contains("at most 2 live streams"), "{message}");
    }
    // Another user has slots of their own.
    let member = open(world.member.bearer()).await;
    assert_eq!(member.status().as_u16(), 200);
    // A stream that ends frees its slot.
    drop(first);
    assert_eq!(world.app.state.open_streams(admin), 1);
    let again = open(world.admin.bearer()).await;
    assert_eq!(again.status().as_u16(), 200);
    drop((second, again, member));
    assert_eq!(world.app.state.open_streams(admin), 0);

    // On a socket: a client that disconnects frees its slot once the server notices (at the
    // next keep-alive at the latest).
    let server = Server::start(world.app.state.clone()).await;
    let cred = world.admin.bearer();
    let mut a = open_stream(&server, "", &cred, None).await;
    let _b = open_stream(&server, "", &cred, None).await;
    assert!(matches!(
        a.next().await,
        Some(crate::support::Sse::Ready(_))
    ));
    let refused = stream_request(&server, "", &cred, None).await;
    assert_eq!(refused.status().as_u16(), 429);
    let body: Value = refused.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "too_many_requests");
    drop(a);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while world.app.state.open_streams(admin) > 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed stream's slot was never freed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let _c = open_stream(&server, "", &cred, None).await;
    server.stop().await;
}

on_both_backends!(
    strings_are_bounded,
    json_depth_is_bounded,
    page_sizes_are_bounded,
    bodies_are_bounded,
    streams_per_user_are_bounded,
);

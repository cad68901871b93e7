//! Who may do what. The authorization matrix takes its list of operations from the OpenAPI
//! document, so an endpoint added there without an entry here fails the suite; every cell runs
//! a real request (path parameters filled with real ids: a run of workspace W = `lab`) and
//! checks the status, the error envelope, and that a refused write changed nothing. Then:
//! CSRF on cookie sessions for every write, bearer JWTs, replicas sharing the signing key,
//! login rate limiting, disabled users, and what lists show to whom.

use std::collections::BTreeSet;

use axum::http::header;
use flowo_core::account::{ApiTokenId, Role, TokenScope, UserId};
use flowo_core::{RunId, RunStatus};
use flowo_http::HttpConfig;
use serde_json::{Value, json};
use utoipa::OpenApi;

use crate::support::{
    Backend, Cred, PASSWORD, Reply, TestDb, World, batch, call, load_capture, run_id_for,
};

/// The kinds of caller, in the order of the matrix's columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    /// A viewer of W.
    Viewer,
    /// A member of another workspace only.
    Outsider,
    /// A member of W.
    Member,
    Admin,
    /// The member's tokens.
    IngestToken,
    ReadToken,
    /// The admin's token.
    AdminToken,
    /// The member's, expired or revoked.
    ExpiredToken,
    RevokedToken,
}

const CALLERS: [Who; 10] = [
    Who::Anonymous,
    Who::Viewer,
    Who::Outsider,
    Who::Member,
    Who::Admin,
    Who::IngestToken,
    Who::ReadToken,
    Who::AdminToken,
    Who::ExpiredToken,
    Who::RevokedToken,
];

/// Expected status per operation and caller. Users authenticate with their session JWT as a
/// bearer (cookies are covered by the CSRF test). 404 rather than 403 where the caller may not
/// read the workspace: existence is not revealed.
#[rustfmt::skip]
const MATRIX: &[(&str, &str, [u16; 10])] = &[
    // method   path                                               anon view outs memb admn ingt read atok expd revk
    ("POST",   "/api/v1/auth/login",                              [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("POST",   "/api/v1/auth/logout",                             [204, 204, 204, 204, 204, 204, 204, 204, 204, 204]),
    ("POST",   "/api/v1/auth/first-login",                        [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET",    "/api/v1/auth/me",                                 [401, 200, 200, 200, 200, 200, 200, 200, 401, 401]),
    ("POST",   "/api/v1/events",                                  [401, 403, 403, 200, 200, 200, 403, 200, 401, 401]),
    ("GET",    "/api/v1/runs",                                    [401, 200, 200, 200, 200, 200, 200, 200, 401, 401]),
    ("GET",    "/api/v1/runs/{run_id}",                           [401, 200, 404, 200, 200, 404, 200, 200, 401, 401]),
    ("DELETE", "/api/v1/runs/{run_id}",                           [401, 403, 404, 204, 204, 404, 403, 204, 401, 401]),
    ("GET",    "/api/v1/runs/{run_id}/events",                    [401, 200, 404, 200, 200, 404, 200, 200, 401, 401]),
    ("GET",    "/api/v1/runs/{run_id}/jobs",                      [401, 200, 404, 200, 200, 404, 200, 200, 401, 401]),
    ("GET",    "/api/v1/runs/{run_id}/jobs/{job_id}",             [401, 200, 404, 200, 200, 404, 200, 200, 401, 401]),
    ("GET",    "/api/v1/runs/{run_id}/job-briefs",                [401, 200, 404, 200, 200, 404, 200, 200, 401, 401]),
    ("GET",    "/api/v1/runs/{run_id}/rules",                     [401, 200, 404, 200, 200, 404, 200, 200, 401, 401]),
    ("GET",    "/api/v1/runs/{run_id}/graph",                     [401, 200, 404, 200, 200, 404, 200, 200, 401, 401]),
    ("GET",    "/api/v1/runs/{run_id}/timeline",                  [401, 200, 404, 200, 200, 404, 200, 200, 401, 401]),
    ("GET",    "/api/v1/runs/{run_id}/errors",                    [401, 200, 404, 200, 200, 404, 200, 200, 401, 401]),
    ("GET",    "/api/v1/runs/{run_id}/sources",                   [401, 200, 404, 200, 200, 404, 200, 200, 401, 401]),
    ("GET",    "/api/v1/stats",                                   [401, 200, 200, 200, 200, 200, 200, 200, 401, 401]),
    ("GET",    "/api/v1/stream",                                  [401, 200, 200, 200, 200, 200, 200, 200, 401, 401]),
    ("GET",    "/api/v1/workspaces",                              [401, 200, 200, 200, 200, 200, 200, 200, 401, 401]),
    ("POST",   "/api/v1/workspaces",                              [401, 403, 403, 403, 201, 403, 403, 201, 401, 401]),
    ("GET",    "/api/v1/workspaces/{name}/members",               [401, 200, 404, 200, 200, 404, 200, 200, 401, 401]),
    ("PUT",    "/api/v1/workspaces/{name}/members/{email}",       [401, 403, 403, 403, 204, 403, 403, 204, 401, 401]),
    ("DELETE", "/api/v1/workspaces/{name}/members/{email}",       [401, 403, 403, 403, 204, 403, 403, 204, 401, 401]),
    ("GET",    "/api/v1/users",                                   [401, 403, 403, 403, 200, 403, 403, 200, 401, 401]),
    ("POST",   "/api/v1/users",                                   [401, 403, 403, 403, 201, 403, 403, 201, 401, 401]),
    ("PATCH",  "/api/v1/users/{user_id}",                         [401, 403, 403, 403, 200, 403, 403, 200, 401, 401]),
    ("GET",    "/api/v1/tokens",                                  [401, 200, 200, 200, 200, 403, 403, 200, 401, 401]),
    ("POST",   "/api/v1/tokens",                                  [401, 201, 201, 201, 201, 403, 403, 201, 401, 401]),
    ("DELETE", "/api/v1/tokens/{token_id}",                       [401, 404, 404, 204, 204, 403, 403, 204, 401, 401]),
    ("GET",    "/api/v1/audit",                                   [401, 403, 403, 403, 200, 403, 403, 200, 401, 401]),
    ("GET",    "/api/v1/openapi.json",                            [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET",    "/healthz",                                        [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET",    "/readyz",                                         [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET",    "/metrics",                                        [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
];

/// Every operation of the OpenAPI document, as (METHOD, path), with whether it takes a body.
fn operations() -> Vec<(String, String, bool)> {
    let doc = serde_json::to_value(flowo_http::openapi::ApiDoc::openapi()).expect("OpenAPI");
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ] {
            if let Some(op) = item.get(method) {
                let body = op.get("requestBody").is_some();
                out.push((method.to_uppercase(), path.clone(), body));
            }
        }
    }
    assert!(out.len() >= 31, "the OpenAPI document lists the endpoints");
    out
}

fn expected(method: &str, path: &str) -> [u16; 10] {
    MATRIX
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, row)| *row)
        .unwrap_or_else(|| {
            panic!("the OpenAPI operation {method} {path} has no authorization matrix entry")
        })
}

#[test]
fn matrix_and_openapi_list_the_same_operations() {
    let ops: BTreeSet<(String, String)> =
        operations().into_iter().map(|(m, p, _)| (m, p)).collect();
    let matrix: BTreeSet<(String, String)> = MATRIX
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let missing: Vec<_> = ops.difference(&matrix).collect();
    let stale: Vec<_> = matrix.difference(&ops).collect();
    assert!(
        missing.is_empty(),
        "operations without a matrix entry: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "matrix entries for operations that do not exist: {stale:?}"
    );
    assert_eq!(MATRIX.len(), matrix.len(), "no operation listed twice");
}

fn cred(world: &World, who: Who) -> Cred {
    match who {
        Who::Anonymous => Cred::Anonymous,
        Who::Viewer => world.viewer.bearer(),
        Who::Outsider => world.outsider.bearer(),
        Who::Member => world.member.bearer(),
        Who::Admin => world.admin.bearer(),
        Who::IngestToken => Cred::Bearer(world.ingest_token.clone()),
        Who::ReadToken => Cred::Bearer(world.read_token.clone()),
        Who::AdminToken => Cred::Bearer(world.admin_token.clone()),
        Who::ExpiredToken => Cred::Bearer(world.expired_token.clone()),
        Who::RevokedToken => Cred::Bearer(world.revoked_token.clone()),
    }
}

/// What a write would change, to check that it happened exactly when it was allowed.
enum Effect {
    None,
    RunCreated(RunId),
    RunDeleted(RunId),
    WorkspaceCreated(String),
    MemberAdded(UserId),
    MemberRemoved(UserId),
    UserCreated(String),
    RoleChanged(UserId),
    TokenCreated(String),
    TokenRevoked(ApiTokenId),
    FirstLoginUsed(String),
}

impl Effect {
    /// Whether the change is visible in the store; `None` for operations that change nothing
    /// stored.
    async fn happened(&self, world: &World) -> Option<bool> {
        let store = world.store();
        let is_member = |user: UserId| async move {
            store
                .members(world.lab.id)
                .await
                .expect("members")
                .iter()
                .any(|m| m.user.id == user)
        };
        Some(match self {
            Effect::None => return None,
            Effect::RunCreated(run) => store.get_run(*run).await.expect("get").is_some(),
            Effect::RunDeleted(run) => store.get_run(*run).await.expect("get").is_none(),
            Effect::WorkspaceCreated(name) => store
                .workspace_by_name(name)
                .await
                .expect("workspace")
                .is_some(),
            Effect::MemberAdded(user) => is_member(*user).await,
            Effect::MemberRemoved(user) => !is_member(*user).await,
            Effect::UserCreated(email) => {
                store.user_credentials(email).await.expect("user").is_some()
            }
            Effect::RoleChanged(user) => {
                store.user(*user).await.expect("user").expect("exists").role == Role::Viewer
            }
            Effect::TokenRevoked(id) => store
                .token(*id)
                .await
                .expect("token")
                .expect("exists")
                .revoked_at
                .is_some(),
            Effect::TokenCreated(name) => store
                .list_tokens(None)
                .await
                .expect("tokens")
                .iter()
                .any(|t| t.name == *name),
            Effect::FirstLoginUsed(key) => store.setting(key).await.expect("setting").is_none(),
        })
    }
}

/// A fresh request for one cell: path parameters filled (fresh targets for writes that use
/// them up), a body where the operation takes one, and the effect to check.
async fn cell(
    world: &World,
    method: &str,
    template: &str,
    takes_body: bool,
    run: RunId,
    job: u64,
) -> (String, Option<Value>, Effect) {
    let store = world.store();
    let mut effect = Effect::None;
    let mut path = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').expect("a closed placeholder") + open;
        path.push_str(&rest[..open]);
        let value = match &rest[open + 1..close] {
            "run_id" if method == "DELETE" => {
                let fresh = world.small_run(world.lab.id).await;
                effect = Effect::RunDeleted(fresh);
                fresh.to_string()
            }
            "run_id" => run.to_string(),
            "job_id" => job.to_string(),
            "name" => world.lab.name.clone(),
            "email" => {
                let user = world.new_user(Role::Member).await;
                if method == "DELETE" {
                    store.add_member(world.lab.id, user.id).await.expect("add");
                    effect = Effect::MemberRemoved(user.id);
                } else {
                    effect = Effect::MemberAdded(user.id);
                }
                user.email
            }
            "user_id" => {
                let user = world.new_user(Role::Member).await;
                effect = Effect::RoleChanged(user.id);
                user.id.to_string()
            }
            "token_id" => {
                let token = world
                    .token(&world.member.user, TokenScope::Read, None)
                    .await;
                let token = store
                    .token_by_hash(&flowo_http::auth::token_hash(&token))
                    .await
                    .expect("token")
                    .expect("stored");
                effect = Effect::TokenRevoked(token.id);
                token.id.to_string()
            }
            other => panic!("no value for the path parameter {other:?} of {template}"),
        };
        path.push_str(&value);
        rest = &rest[close + 1..];
    }
    path.push_str(rest);
    let body = match (method, template) {
        ("POST", "/api/v1/auth/login") => Some(json!({
            "email": world.member.user.email, "password": PASSWORD
        })),
        ("POST", "/api/v1/auth/first-login") => {
            let token = world.unique("first-login");
            let key = format!(
                "{}{}",
                flowo_http::routes::auth::FIRST_LOGIN_SETTING,
                flowo_http::auth::token_hash(&token)
            );
            store
                .init_setting(&key, &world.member.user.id.to_string())
                .await
                .expect("setting");
            effect = Effect::FirstLoginUsed(key);
            Some(json!({ "token": token }))
        }
        ("POST", "/api/v1/events") => {
            path.push_str("?workspace=lab");
            let fresh = RunId::new_random();
            effect = Effect::RunCreated(fresh);
            Some(batch(&load_capture("success/01-success.jsonl", fresh)[..5]))
        }
        ("POST", "/api/v1/workspaces") => {
            let name = world.unique("ws");
            effect = Effect::WorkspaceCreated(name.clone());
            Some(json!({ "name": name }))
        }
        ("POST", "/api/v1/users") => {
            let email = format!("{}@example.org", world.unique("new"));
            effect = Effect::UserCreated(email.clone());
            Some(json!({ "email": email, "role": "viewer" }))
        }
        ("PATCH", "/api/v1/users/{user_id}") => Some(json!({ "role": "viewer" })),
        ("POST", "/api/v1/tokens") => {
            let name = world.unique("token");
            effect = Effect::TokenCreated(name.clone());
            Some(json!({ "name": name }))
        }
        _ => None,
    };
    assert_eq!(
        body.is_some(),
        takes_body,
        "{method} {template}: the OpenAPI request body and this test's disagree"
    );
    (path, body, effect)
}

async fn authorization_matrix(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let config = HttpConfig {
        // Every caller logs in as the member: stay under the rate limit.
        login_attempts: 10_000,
        ..HttpConfig::default()
    };
    let world = World::with_config(db.open().await, config).await;
    let run = run_id_for("job-failure/02-job-failure.jsonl");
    let events = load_capture("job-failure/02-job-failure.jsonl", run);
    world
        .store()
        .append(world.lab.id, &events)
        .await
        .expect("append");
    let job = 3;
    assert!(
        world
            .store()
            .get_job(run, job)
            .await
            .expect("job")
            .is_some(),
        "job {job} exists"
    );

    let mut failures = Vec::new();
    let mut cells = 0;
    for (method, template, takes_body) in operations() {
        let row = expected(&method, &template);
        for (who, want) in CALLERS.into_iter().zip(row) {
            cells += 1;
            let (path, body, effect) = cell(&world, &method, &template, takes_body, run, job).await;
            let mut request = call(&method, &path).cred(&cred(&world, who));
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = world.app.respond(request.build()).await;
            let status = response.status().as_u16();
            let streaming = response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
            let (text, envelope) = if streaming {
                (String::from("(event stream)"), None)
            } else {
                let reply = Reply::read(response).await;
                (reply.text(), reply.envelope())
            };
            let what = format!("{method} {path} as {who:?}");
            if status != want {
                failures.push(format!("{what}: expected {want}, got {status}: {text}"));
                continue;
            }
            if status >= 400 {
                let code = match status {
                    401 => "unauthorized",
                    403 => "forbidden",
                    404 => "not_found",
                    _ => "",
                };
                match envelope {
                    Some((got, _)) if got == code => {}
                    _ => failures.push(format!("{what}: no {code:?} error envelope: {text}")),
                }
            }
            let allowed = (200..300).contains(&status);
            if effect.happened(&world).await.is_some_and(|h| h != allowed) {
                failures.push(format!(
                    "{what}: answered {status} but the change {}",
                    if allowed {
                        "did not happen"
                    } else {
                        "happened"
                    }
                ));
            }
        }
    }
    assert_eq!(cells, MATRIX.len() * CALLERS.len());
    assert!(
        failures.is_empty(),
        "{} of {cells} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Cookie sessions: every authenticated write needs the session's `X-CSRF-Token`; reads do
/// not. Run as the admin, whose row in the matrix allows every write.
async fn cookie_writes_need_the_csrf_header(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let world = World::new(db.open().await).await;
    let run = world.small_run(world.lab.id).await;
    let mut checked = 0;
    for (method, template, takes_body) in operations() {
        let row = expected(&method, &template);
        // Only operations that authenticate (anonymous is refused) and write.
        if row[0] != 401 || method == "GET" {
            continue;
        }
        checked += 1;
        for (csrf, want) in [
            (None, 403),
            (Some("wrong".to_owned()), 403),
            (Some(world.admin.csrf.clone()), row[4]),
        ] {
            let (path, body, effect) = cell(&world, &method, &template, takes_body, run, 1).await;
            let cred = Cred::Cookie {
                session: world.admin.jwt.clone(),
                csrf: csrf.clone(),
            };
            let mut request = call(&method, &path).cred(&cred);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let reply = request.send(&world.app).await;
            assert_eq!(
                reply.status.as_u16(),
                want,
                "{method} {path} by cookie, CSRF {csrf:?}: {}",
                reply.text()
            );
            if want == 403 {
                let (code, _) = reply.envelope().expect("envelope");
                assert_eq!(code, "forbidden");
            }
            assert_eq!(
                effect.happened(&world).await,
                Some(want < 300),
                "{method} {path}, CSRF {csrf:?}: the change happened only if allowed"
            );
        }
    }
    assert!(checked >= 9, "every write was checked ({checked})");
    // Reads by cookie need no CSRF header.
    let me = call("GET", "/api/v1/auth/me")
        .cred(&world.member.cookie(false))
        .send(&world.app)
        .await
        .json_with(200);
    assert_eq!(me["credential"], "session");
    // A bearer JWT is not a cookie: no CSRF header needed for its writes.
    call("POST", "/api/v1/tokens")
        .cred(&world.member.bearer())
        .json(&json!({ "name": "script" }))
        .send(&world.app)
        .await
        .expect(201);
}

/// The JWT that `/auth/login` returns works as a bearer; a forged or foreign one does not;
/// a replica on the same database accepts it (the signing key is kept in the store).
async fn session_jwts_as_bearers(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let world = World::new(db.open().await).await;
    let login = call("POST", "/api/v1/auth/login")
        .json(&json!({ "email": "MEMBER@example.org ", "password": PASSWORD }))
        .send(&world.app)
        .await
        .json_with(200);
    let jwt = login["token"].as_str().expect("token").to_owned();
    let me = call("GET", "/api/v1/auth/me")
        .cred(&Cred::Bearer(jwt.clone()))
        .send(&world.app)
        .await
        .json_with(200);
    assert_eq!(me["credential"], "bearer");
    assert_eq!(me["user"]["email"], "member@example.org");
    let me = call("GET", "/api/v1/auth/me")
        .cred(&Cred::Bearer(world.read_token.clone()))
        .send(&world.app)
        .await
        .json_with(200);
    assert_eq!(me["credential"], "token");

    // Tampered: another user's id in the claims, with the original signature.
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    assert_eq!(parts.len(), 3, "a JWT");
    let other_claims = world
        .admin
        .jwt
        .split('.')
        .nth(1)
        .expect("claims")
        .to_owned();
    parts[1] = other_claims;
    let forged = parts.join(".");
    for bad in [forged, format!("{jwt}x"), "not-a-jwt".to_owned()] {
        call("GET", "/api/v1/auth/me")
            .cred(&Cred::Bearer(bad))
            .send(&world.app)
            .await
            .expect_error(401, "unauthorized");
    }

    // A replica on the same database signs and checks alike.
    let replica = crate::support::App::new(db.open().await, HttpConfig::default()).await;
    call("GET", "/api/v1/auth/me")
        .cred(&Cred::Bearer(jwt.clone()))
        .send(&replica)
        .await
        .expect(200);
    // A server with its own secret does not accept it.
    let foreign = crate::support::App::new(
        db.open().await,
        HttpConfig {
            jwt_secret: Some("another secret".to_owned()),
            ..HttpConfig::default()
        },
    )
    .await;
    call("GET", "/api/v1/auth/me")
        .cred(&Cred::Bearer(jwt))
        .send(&foreign)
        .await
        .expect_error(401, "unauthorized");
}

/// Login attempts are limited per e-mail (however it is spelled); then even the right password
/// answers 429, while other accounts are unaffected.
async fn login_is_rate_limited(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let config = HttpConfig {
        login_attempts: 3,
        ..HttpConfig::default()
    };
    let store = db.open().await;
    let world = World::with_config(store, config).await;
    // World::new logged each user in once; those count too. Two wrong attempts reach 3.
    for email in ["viewer@example.org", "Viewer@Example.org"] {
        call("POST", "/api/v1/auth/login")
            .json(&json!({ "email": email, "password": "wrong password" }))
            .send(&world.app)
            .await
            .expect_error(401, "unauthorized");
    }
    let limited = call("POST", "/api/v1/auth/login")
        .json(&json!({ "email": "viewer@example.org", "password": PASSWORD }))
        .send(&world.app)
        .await
        .expect_error(429, "too_many_requests");
    assert!(limited.cookie(flowo_http::auth::SESSION_COOKIE).is_none());
    // Someone else still logs in.
    call("POST", "/api/v1/auth/login")
        .json(&json!({ "email": "member@example.org", "password": PASSWORD }))
        .send(&world.app)
        .await
        .expect(200);
    // Unknown accounts are limited too (and never say whether they exist).
    for _ in 0..3 {
        call("POST", "/api/v1/auth/login")
            .json(&json!({ "email": "nobody@example.org", "password": PASSWORD }))
            .send(&world.app)
            .await
            .expect_error(401, "unauthorized");
    }
    call("POST", "/api/v1/auth/login")
        .json(&json!({ "email": "nobody@example.org", "password": PASSWORD }))
        .send(&world.app)
        .await
        .expect_error(429, "too_many_requests");
}

/// A disabled user's sessions, cookies and tokens stop working at once, and they cannot log
/// in; enabling them again restores access.
async fn disabled_users_are_refused(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let world = World::new(db.open().await).await;
    let uri = format!("/api/v1/users/{}", world.member.user.id);
    let creds = [
        world.member.bearer(),
        world.member.cookie(false),
        Cred::Bearer(world.read_token.clone()),
        Cred::Bearer(world.ingest_token.clone()),
    ];
    for cred in &creds {
        call("GET", "/api/v1/auth/me")
            .cred(cred)
            .send(&world.app)
            .await
            .expect(200);
    }
    let user = call("PATCH", &uri)
        .cred(&world.admin.bearer())
        .json(&json!({ "disabled": true }))
        .send(&world.app)
        .await
        .json_with(200);
    assert_eq!(user["disabled"], true);
    for cred in &creds {
        call("GET", "/api/v1/auth/me")
            .cred(cred)
            .send(&world.app)
            .await
            .expect_error(401, "unauthorized");
    }
    let run = RunId::new_random();
    call("POST", "/api/v1/events?workspace=lab")
        .cred(&Cred::Bearer(world.ingest_token.clone()))
        .json(&batch(&load_capture("success/01-success.jsonl", run)[..3]))
        .send(&world.app)
        .await
        .expect_error(401, "unauthorized");
    assert!(world.store().get_run(run).await.expect("get").is_none());
    call("POST", "/api/v1/auth/login")
        .json(&json!({ "email": "member@example.org", "password": PASSWORD }))
        .send(&world.app)
        .await
        .expect_error(401, "unauthorized");
    call("PATCH", &uri)
        .cred(&world.admin.bearer())
        .json(&json!({ "disabled": false }))
        .send(&world.app)
        .await
        .expect(200);
    for cred in &creds {
        call("GET", "/api/v1/auth/me")
            .cred(cred)
            .send(&world.app)
            .await
            .expect(200);
    }
    call("POST", "/api/v1/auth/login")
        .json(&json!({ "email": "member@example.org", "password": PASSWORD }))
        .send(&world.app)
        .await
        .expect(200);
}

/// What the lists show to whom: runs, statistics and workspaces of the workspaces the caller
/// may read, nothing else. Tokens limited to a workspace see at most that one.
async fn lists_show_only_readable_workspaces(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let world = World::new(db.open().await).await;
    let in_lab = world.small_run(world.lab.id).await;
    let in_other = world.small_run(world.other.id).await;
    let lab_limited = world
        .token(&world.admin.user, TokenScope::Read, Some(world.lab.id))
        .await;
    let other_limited_member = world
        .token(&world.member.user, TokenScope::Read, Some(world.other.id))
        .await;
    let (lab, other) = ("lab", "other");
    #[rustfmt::skip]
    let table: Vec<(&str, Cred, Vec<&str>, Vec<&str>)> = vec![
        // caller                      credential                                   runs in        workspaces listed
        ("viewer",                     world.viewer.bearer(),                       vec![lab],          vec![lab]),
        ("outsider",                   world.outsider.bearer(),                     vec![other],        vec![other]),
        ("member",                     world.member.bearer(),                       vec![lab],          vec![lab]),
        ("admin",                      world.admin.bearer(),                        vec![lab, other],   vec!["default", lab, other]),
        ("ingest token",               Cred::Bearer(world.ingest_token.clone()),    vec![],             vec![]),
        ("read token",                 Cred::Bearer(world.read_token.clone()),      vec![lab],          vec![lab]),
        ("admin token",                Cred::Bearer(world.admin_token.clone()),     vec![lab, other],   vec!["default", lab, other]),
        ("admin's token for lab",      Cred::Bearer(lab_limited),                   vec![lab],          vec![lab]),
        ("member's token for other",   Cred::Bearer(other_limited_member),          vec![],             vec![]),
    ];
    let run_of = |ws: &str| if ws == lab { in_lab } else { in_other };
    for (who, cred, runs_in, workspaces) in table {
        let runs = call("GET", "/api/v1/runs")
            .cred(&cred)
            .send(&world.app)
            .await
            .json_with(200);
        let got: BTreeSet<String> = runs["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_owned())
            .collect();
        let want: BTreeSet<String> = runs_in.iter().map(|ws| run_of(ws).to_string()).collect();
        assert_eq!(got, want, "runs {who} sees");
        assert_eq!(runs["total"], json!(want.len()), "total {who} sees");

        let stats = call("GET", "/api/v1/stats")
            .cred(&cred)
            .send(&world.app)
            .await
            .json_with(200);
        let counted: u64 = stats["runs_by_status"]
            .as_object()
            .expect("runs by status")
            .values()
            .map(|n| n.as_u64().expect("count"))
            .sum();
        assert_eq!(counted, want.len() as u64, "runs {who} counts in stats");

        let listed = call("GET", "/api/v1/workspaces")
            .cred(&cred)
            .send(&world.app)
            .await
            .json_with(200);
        let names: Vec<&str> = listed
            .as_array()
            .expect("list")
            .iter()
            .map(|w| w["name"].as_str().expect("name"))
            .collect();
        assert_eq!(names, workspaces, "workspaces {who} sees");

        // Asking for a workspace by name narrows, never widens.
        let narrowed = call("GET", "/api/v1/runs?workspace=other")
            .cred(&cred)
            .send(&world.app)
            .await
            .json_with(200);
        let expect_other = usize::from(runs_in.contains(&other));
        assert_eq!(
            narrowed["items"].as_array().expect("items").len(),
            expect_other,
            "{who} asking for workspace other"
        );
    }
    // Both runs are still running (no `run_finished` was sent).
    let view = world
        .store()
        .get_run(in_lab)
        .await
        .expect("get")
        .expect("run");
    assert_eq!(view.run.status, RunStatus::Running);
}

/// An admin-scope token limited to a workspace acts as an administrator of that workspace's
/// runs only: no user or workspace administration, no other workspace.
async fn workspace_limited_admin_tokens_stay_in_their_workspace(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let world = World::new(db.open().await).await;
    let limited = Cred::Bearer(
        world
            .token(&world.admin.user, TokenScope::Admin, Some(world.lab.id))
            .await,
    );
    let in_lab = world.small_run(world.lab.id).await;
    let in_other = world.small_run(world.other.id).await;
    let listed = call("GET", "/api/v1/workspaces")
        .cred(&limited)
        .send(&world.app)
        .await
        .json_with(200);
    let names: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .map(|w| w["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["lab"]);
    for (method, uri, body, status) in [
        ("GET", "/api/v1/users".to_owned(), None, 403),
        (
            "POST",
            "/api/v1/users".to_owned(),
            Some(json!({ "email": "x@example.org" })),
            403,
        ),
        (
            "POST",
            "/api/v1/workspaces".to_owned(),
            Some(json!({ "name": "mine" })),
            403,
        ),
        ("GET", "/api/v1/tokens?all=true".to_owned(), None, 403),
        (
            "GET",
            "/api/v1/workspaces/other/members".to_owned(),
            None,
            404,
        ),
        (
            "PUT",
            "/api/v1/workspaces/other/members/member@example.org".to_owned(),
            None,
            403,
        ),
        ("GET", format!("/api/v1/runs/{in_other}"), None, 404),
        ("DELETE", format!("/api/v1/runs/{in_other}"), None, 404),
        (
            "GET",
            "/api/v1/workspaces/lab/members".to_owned(),
            None,
            200,
        ),
        ("DELETE", format!("/api/v1/runs/{in_lab}"), None, 204),
    ] {
        let mut request = call(method, &uri).cred(&limited);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let reply = request.send(&world.app).await;
        assert_eq!(
            reply.status.as_u16(),
            status,
            "{method} {uri}: {}",
            reply.text()
        );
    }
    assert!(
        world
            .store()
            .get_run(in_other)
            .await
            .expect("get")
            .is_some()
    );
}

crate::on_both_backends!(
    workspace_limited_admin_tokens_stay_in_their_workspace,
    authorization_matrix,
    cookie_writes_need_the_csrf_header,
    session_jwts_as_bearers,
    login_is_rate_limited,
    disabled_users_are_refused,
    lists_show_only_readable_workspaces,
);

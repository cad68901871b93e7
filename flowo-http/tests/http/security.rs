//! Hardening: no file is read from a path a client sent (path traversal); the security headers
//! on every kind of response, `Strict-Transport-Security` only behind TLS; JSON answers with
//! their content type; the session cookies' attributes with and without `secure_cookies`;
//! cookie writes another site sends are refused though they carry the CSRF token; and the
//! audit log: every administrative action recorded with its actor, newest first, paged, for
//! admins only, with no secret in it (both backends).

use std::collections::BTreeSet;

use flowo_http::{Dashboard, HttpConfig};
use serde_json::{Value, json};

use crate::support::{App, Backend, Cred, PASSWORD, Reply, TestDb, World, all_pages, call};

const INDEX_HTML: &str = "<!doctype html><title>FlowO</title><div id=\"root\"></div>\n";

fn dashboard() -> Dashboard {
    Dashboard::from_files([
        ("index.html", INDEX_HTML),
        ("assets/index-3f2a9c1e.js", "console.log(1)\n"),
    ])
}

async fn app(config: HttpConfig) -> (TestDb, App) {
    let db = TestDb::create(Backend::Sqlite)
        .await
        .expect("a SQLite database");
    let app = App::new(db.open().await, config).await;
    (db, app)
}

fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply
        .headers
        .get(name)
        .map(|v| v.to_str().expect("an ASCII header"))
}

/// Requests for files outside the dashboard's build, plain and encoded, as a browser and as a
/// script: none answers with a file's content; each is a 404 or the dashboard's `index.html`
/// (a client-side route, for a browser). Files that exist on this machine are named, so that
/// serving from the file system would show.
#[tokio::test]
async fn no_path_reads_a_file_of_the_server() {
    let (_db, app) = app(HttpConfig {
        dashboard: dashboard(),
        ..HttpConfig::default()
    })
    .await;
    let cargo_toml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("this crate's Cargo.toml");
    let secrets = [
        "root:x:0:0",
        "[package]",
        "[workspace]",
        cargo_toml.lines().nth(1).expect("a line"),
    ];
    let paths = [
        "/..%2f..%2fetc/passwd",
        "/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/assets/../../Cargo.toml",
        "/assets/..%2f..%2fCargo.toml",
        "/assets/%2e%2e/%2e%2e/Cargo.toml",
        "/assets/%252e%252e%252fCargo.toml",
        "/assets/..%5c..%5cCargo.toml",
        "/../../../../etc/passwd",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
        "/etc/passwd",
        "/Cargo.toml",
        "/flowo-http/Cargo.toml",
        "/../Cargo.toml",
        "/src/lib.rs",
        "/assets/%00../Cargo.toml",
        "/index.html/../../Cargo.toml",
        "/api/v1/workspaces/..%2f..%2fetc/members",
        "/api/v1/runs/..%2f..%2fetc%2fpasswd",
    ];
    for path in paths {
        for accept in ["text/html,*/*;q=0.8", "application/json", "*/*"] {
            let reply = call("GET", path)
                .header("accept", accept)
                .cred(&Cred::Anonymous)
                .send(&app)
                .await;
            let text = reply.text();
            for secret in secrets {
                assert!(
                    !text.contains(secret),
                    "GET {path} ({accept}) answered a file's content: {text}"
                );
            }
            let status = reply.status.as_u16();
            assert!(
                status == 404 || status == 401 || (status == 200 && text == INDEX_HTML),
                "GET {path} ({accept}): {status} {text}"
            );
        }
    }
}

/// Every kind of response carries the security headers: dashboard pages (with their CSP),
/// assets, API JSON, API errors, unknown routes, health and metrics. Without TLS there is no
/// `Strict-Transport-Security`; with `secure_cookies` every response has it.
#[tokio::test]
async fn every_response_carries_the_security_headers() {
    for tls in [false, true] {
        let (_db, app) = app(HttpConfig {
            dashboard: dashboard(),
            secure_cookies: tls,
            ..HttpConfig::default()
        })
        .await;
        for (uri, status, dashboard_page) in [
            ("/", 200, true),
            ("/runs/123", 200, true),
            ("/assets/index-3f2a9c1e.js", 200, true),
            ("/assets/missing.js", 404, true),
            ("/api/v1/openapi.json", 200, false),
            ("/api/v1/runs", 401, false),
            // Unknown paths go through the dashboard's fallback (which leaves server paths to
            // the JSON envelope), so they carry its CSP; either policy refuses framing.
            ("/api/v1/nope", 404, true),
            ("/healthz", 200, false),
            ("/readyz", 200, false),
            ("/metrics", 200, false),
        ] {
            let reply = call("GET", uri)
                .header("accept", "text/html,*/*;q=0.8")
                .send(&app)
                .await
                .expect(status);
            let get = |name| header(&reply, name).unwrap_or_else(|| panic!("{uri}: no {name}"));
            assert_eq!(get("x-content-type-options"), "nosniff", "{uri}");
            assert_eq!(get("referrer-policy"), "same-origin", "{uri}");
            assert_eq!(get("x-frame-options"), "DENY", "{uri}");
            assert_eq!(get("cross-origin-opener-policy"), "same-origin", "{uri}");
            assert_eq!(get("cross-origin-resource-policy"), "same-origin", "{uri}");
            assert!(get("permissions-policy").contains("camera=()"), "{uri}");
            let csp = get("content-security-policy");
            assert!(csp.contains("frame-ancestors 'none'"), "{uri}: {csp}");
            if dashboard_page {
                assert_eq!(csp, flowo_http::dashboard::CONTENT_SECURITY_POLICY, "{uri}");
                assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-eval"));
            } else {
                assert_eq!(csp, flowo_http::security::API_CSP, "{uri}");
            }
            assert_eq!(
                header(&reply, "strict-transport-security"),
                tls.then_some(flowo_http::security::HSTS),
                "{uri} with secure_cookies = {tls}"
            );
        }
    }
}

/// API answers are JSON with their content type, errors included, so that event text in them
/// (a log line with `<script>`) is never taken for HTML.
#[tokio::test]
async fn api_answers_are_json() {
    let Some(db) = TestDb::create(Backend::Sqlite).await else {
        return;
    };
    let world = World::new(db.open().await).await;
    for (uri, cred, status) in [
        ("/api/v1/runs", world.member.bearer(), 200),
        ("/api/v1/auth/me", world.member.bearer(), 200),
        ("/api/v1/runs", Cred::Anonymous, 401),
        ("/api/v1/users", world.member.bearer(), 403),
        ("/api/v1/runs/nope", world.member.bearer(), 400),
        ("/api/v1/nope", Cred::Anonymous, 404),
    ] {
        let reply = call("GET", uri).cred(&cred).send(&world.app).await;
        assert_eq!(reply.status.as_u16(), status, "{uri}: {}", reply.text());
        assert_eq!(
            header(&reply, "content-type"),
            Some("application/json"),
            "{uri}"
        );
    }
}

/// The session cookie is HttpOnly, `SameSite=Lax`, path `/`; the CSRF cookie readable by the
/// dashboard's scripts and `SameSite=Strict`; both `Secure` exactly when `secure_cookies`.
/// Logging out clears both with the same attributes.
#[tokio::test]
async fn session_cookies_have_their_attributes() {
    for secure in [false, true] {
        let Some(db) = TestDb::create(Backend::Sqlite).await else {
            return;
        };
        let world = World::with_config(
            db.open().await,
            HttpConfig {
                secure_cookies: secure,
                ..HttpConfig::default()
            },
        )
        .await;
        let login = call("POST", "/api/v1/auth/login")
            .json(&json!({ "email": "member@example.org", "password": PASSWORD }))
            .send(&world.app)
            .await
            .expect(200);
        let logout = call("POST", "/api/v1/auth/logout")
            .header(
                "cookie",
                &format!(
                    "{}=x; {}=y",
                    flowo_http::auth::SESSION_COOKIE,
                    flowo_http::auth::CSRF_COOKIE
                ),
            )
            .send(&world.app)
            .await
            .expect(204);
        for (what, reply) in [("login", &login), ("logout", &logout)] {
            let cookies: Vec<String> = reply
                .headers
                .get_all("set-cookie")
                .iter()
                .map(|v| v.to_str().expect("ASCII").to_owned())
                .collect();
            let cookie = |name: &str| {
                let found = cookies
                    .iter()
                    .find(|c| c.starts_with(&format!("{name}=")))
                    .unwrap_or_else(|| panic!("{what}: no {name} cookie in {cookies:?}"));
                found
                    .split(';')
                    .skip(1)
                    .map(|a| a.trim().split('=').next().unwrap_or_default().to_owned())
                    .collect::<BTreeSet<String>>()
            };
            let session = cookie(flowo_http::auth::SESSION_COOKIE);
            let csrf = cookie(flowo_http::auth::CSRF_COOKIE);
            assert!(session.contains("HttpOnly"), "{what}: {session:?}");
            assert!(!csrf.contains("HttpOnly"), "{what}: {csrf:?}");
            assert_eq!(session.contains("Secure"), secure, "{what}: {session:?}");
            assert_eq!(csrf.contains("Secure"), secure, "{what}: {csrf:?}");
            assert!(session.contains("Path") && csrf.contains("Path"), "{what}");
            let same_site = |name: &str| {
                cookies
                    .iter()
                    .find(|c| c.starts_with(&format!("{name}=")))
                    .and_then(|c| c.split("SameSite=").nth(1))
                    .and_then(|rest| rest.split(';').next())
                    .map(str::to_owned)
            };
            assert_eq!(
                same_site(flowo_http::auth::SESSION_COOKIE).as_deref(),
                Some("Lax"),
                "{what}"
            );
            assert_eq!(
                same_site(flowo_http::auth::CSRF_COOKIE).as_deref(),
                Some("Strict"),
                "{what}"
            );
        }
    }
}

/// A cookie-authenticated write that the browser says another site sent
/// (`Sec-Fetch-Site: cross-site` or `same-site`) is refused with 403 and changes nothing, even
/// with the right CSRF token; from the dashboard's own origin (or a browser that does not say)
/// it passes. A bearer credential is not a cookie: the header does not matter to it. A forged
/// logout is refused too.
async fn cross_site_cookie_writes_are_refused(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let world = World::new(db.open().await).await;
    for (site, cred, want) in [
        (Some("cross-site"), world.admin.cookie(true), 403),
        (Some("same-site"), world.admin.cookie(true), 403),
        (Some("same-origin"), world.admin.cookie(true), 201),
        (Some("none"), world.admin.cookie(true), 201),
        (None, world.admin.cookie(true), 201),
        (None, world.admin.cookie(false), 403),
        (Some("cross-site"), world.admin.bearer(), 201),
    ] {
        let name = world.unique("ws");
        let mut request = call("POST", "/api/v1/workspaces")
            .cred(&cred)
            .json(&json!({ "name": name }));
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        let reply = request.send(&world.app).await;
        assert_eq!(
            reply.status.as_u16(),
            want,
            "{site:?} {cred:?}: {}",
            reply.text()
        );
        if want == 403 {
            reply.expect_error(403, "forbidden");
        }
        let exists = world
            .store()
            .workspace_by_name(&name)
            .await
            .expect("workspace")
            .is_some();
        assert_eq!(exists, want == 201, "{site:?}: created only when allowed");
    }
    call("POST", "/api/v1/auth/logout")
        .cred(&world.admin.cookie(false))
        .header("sec-fetch-site", "cross-site")
        .send(&world.app)
        .await
        .expect_error(403, "forbidden");
}

/// The audit entries after the first `skip` (oldest first), as `GET /api/v1/audit` pages them.
async fn audit_since(world: &World, skip: usize) -> Vec<Value> {
    let mut entries = all_pages(&world.app, &world.admin.bearer(), "/api/v1/audit?limit=2").await;
    entries.reverse();
    entries.split_off(skip)
}

/// Every administrative action over the API is recorded with its actor, action, target and
/// details; the log pages newest first; only admins read it; no password, token text, token
/// hash or session JWT is in it.
async fn admin_actions_are_audited(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let world = World::new(db.open().await).await;
    let before = audit_since(&world, 0).await.len();
    let admin = world.admin.bearer();
    let new_password = "a new password, secret";
    let user_password = "the user's first password";

    let user = call("POST", "/api/v1/users")
        .cred(&admin)
        .json(&json!({ "email": "Carol@example.org", "role": "viewer", "password": user_password }))
        .send(&world.app)
        .await
        .json_with(201);
    let user_id = user["id"].as_str().expect("id").to_owned();
    call("PATCH", &format!("/api/v1/users/{user_id}"))
        .cred(&admin)
        .json(&json!({ "role": "member", "disabled": true, "password": new_password }))
        .send(&world.app)
        .await
        .expect(200);
    // Nothing changes: nothing recorded.
    call("PATCH", &format!("/api/v1/users/{user_id}"))
        .cred(&admin)
        .json(&json!({ "role": "member" }))
        .send(&world.app)
        .await
        .expect(200);
    call("PATCH", &format!("/api/v1/users/{user_id}"))
        .cred(&world.admin.cookie(true))
        .json(&json!({ "disabled": false }))
        .send(&world.app)
        .await
        .expect(200);
    call("POST", "/api/v1/workspaces")
        .cred(&Cred::Bearer(world.admin_token.clone()))
        .json(&json!({ "name": "audited" }))
        .send(&world.app)
        .await
        .expect(201);
    call(
        "PUT",
        "/api/v1/workspaces/audited/members/carol@example.org",
    )
    .cred(&admin)
    .send(&world.app)
    .await
    .expect(204);
    call(
        "DELETE",
        "/api/v1/workspaces/audited/members/carol@example.org",
    )
    .cred(&admin)
    .send(&world.app)
    .await
    .expect(204);
    // A member's own token: the member is the actor.
    let token = call("POST", "/api/v1/tokens")
        .cred(&world.member.cookie(true))
        .json(&json!({ "name": "ci", "scope": "read" }))
        .send(&world.app)
        .await
        .json_with(201);
    let secret = token["secret"].as_str().expect("secret").to_owned();
    let token_id = token["id"].as_str().expect("id").to_owned();
    call("DELETE", &format!("/api/v1/tokens/{token_id}"))
        .cred(&admin)
        .send(&world.app)
        .await
        .expect(204);
    let run = world.small_run(world.lab.id).await;
    call("DELETE", &format!("/api/v1/runs/{run}"))
        .cred(&world.member.bearer())
        .send(&world.app)
        .await
        .expect(204);
    // Refused actions are not recorded.
    call("POST", "/api/v1/workspaces")
        .cred(&world.member.bearer())
        .json(&json!({ "name": "refused" }))
        .send(&world.app)
        .await
        .expect(403);

    let entries = audit_since(&world, before).await;
    let got: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().expect("actor").to_owned(),
                e["action"].as_str().expect("action").to_owned(),
                e["target"].as_str().expect("target").to_owned(),
            )
        })
        .collect();
    let (admin_email, member_email) = ("admin@example.org", "member@example.org");
    let carol = "carol@example.org";
    let want: Vec<(&str, &str, String)> = vec![
        (admin_email, "user_created", carol.to_owned()),
        (admin_email, "user_role_changed", carol.to_owned()),
        (admin_email, "user_disabled", carol.to_owned()),
        (admin_email, "user_password_set", carol.to_owned()),
        (admin_email, "user_enabled", carol.to_owned()),
        (admin_email, "workspace_created", "audited".to_owned()),
        (admin_email, "member_added", carol.to_owned()),
        (admin_email, "member_removed", carol.to_owned()),
        (member_email, "token_created", token_id.clone()),
        (admin_email, "token_revoked", token_id.clone()),
        (member_email, "run_deleted", run.to_string()),
    ];
    let want: Vec<(String, String, String)> = want
        .into_iter()
        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c))
        .collect();
    assert_eq!(got, want);
    let actor_ids: Vec<&str> = entries
        .iter()
        .map(|e| e["actor_id"].as_str().expect("actor id"))
        .collect();
    let (admin_id, member_id) = (
        world.admin.user.id.to_string(),
        world.member.user.id.to_string(),
    );
    for (entry, id) in entries.iter().zip(&actor_ids) {
        let want = if entry["actor"] == member_email {
            &member_id
        } else {
            &admin_id
        };
        assert_eq!(id, want, "{entry}");
    }
    assert_eq!(entries[1]["details"]["from"], "viewer");
    assert_eq!(entries[1]["details"]["to"], "member");
    assert_eq!(entries[6]["details"]["workspace"], "audited");
    assert_eq!(entries[8]["details"]["scope"], "read");
    assert_eq!(entries[8]["details"]["name"], "ci");
    assert_eq!(
        entries[10]["details"]["workspace_id"],
        world.lab.id.to_string()
    );

    // Newest first, and the ids increase with time.
    let page = call("GET", "/api/v1/audit?limit=3")
        .cred(&admin)
        .send(&world.app)
        .await
        .json_with(200);
    let ids: Vec<i64> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    assert_eq!(page["items"][0]["action"], "run_deleted");
    assert!(page["next_cursor"].is_string());
    call("GET", "/api/v1/audit?cursor=garbage")
        .cred(&admin)
        .send(&world.app)
        .await
        .expect_error(400, "bad_request");
    call("GET", "/api/v1/audit?limit=0")
        .cred(&admin)
        .send(&world.app)
        .await
        .expect_error(400, "bad_request");

    // Admins only.
    for cred in [
        world.member.bearer(),
        world.viewer.bearer(),
        Cred::Bearer(world.read_token.clone()),
        world.member.cookie(false),
    ] {
        call("GET", "/api/v1/audit")
            .cred(&cred)
            .send(&world.app)
            .await
            .expect_error(403, "forbidden");
    }
    call("GET", "/api/v1/audit")
        .send(&world.app)
        .await
        .expect_error(401, "unauthorized");

    // No secret anywhere in the log.
    let whole = serde_json::to_string(&audit_since(&world, 0).await).expect("JSON");
    let hash = flowo_http::auth::token_hash(&secret);
    for secret in [
        new_password,
        user_password,
        PASSWORD,
        secret.as_str(),
        hash.as_str(),
        world.admin.jwt.as_str(),
        world.member.jwt.as_str(),
        world.admin.csrf.as_str(),
        world.admin_token.as_str(),
        "$argon2",
    ] {
        assert!(!whole.contains(secret), "the audit log holds {secret:?}");
    }
}

crate::on_both_backends!(
    cross_site_cookie_writes_are_refused,
    admin_actions_are_audited,
);

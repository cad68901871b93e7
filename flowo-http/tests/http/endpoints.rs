//! Every endpoint's JSON as an insta snapshot, driven in-process on an SQLite store: two real
//! captures (a success and a job failure) ingested over HTTP into workspace `lab`, users and
//! tokens set up through the store. Ids, server-side times and secrets are redacted (see
//! `support::redact`); times from the events stay.

use flowo_core::RunId;
use flowo_core::account::Role;
use insta::assert_json_snapshot;
use serde_json::{Value, json};

use crate::support::{
    Backend, Cred, PASSWORD, Reply, TestDb, World, call, ingest, load_capture, redact, run_id_for,
};

const SUCCESS: &str = "success/01-success.jsonl";
const FAILURE: &str = "job-failure/02-job-failure.jsonl";

/// The world with both captures ingested.
async fn world() -> (World, TestDb, RunId, RunId) {
    let db = TestDb::create(Backend::Sqlite).await.expect("sqlite");
    let world = World::new(db.open().await).await;
    let token = Cred::Bearer(world.ingest_token.clone());
    let (a, b) = (run_id_for(SUCCESS), run_id_for(FAILURE));
    ingest(&world.app, &token, "lab", &load_capture(SUCCESS, a), 100).await;
    ingest(&world.app, &token, "lab", &load_capture(FAILURE, b), 100).await;
    (world, db, a, b)
}

async fn get(world: &World, cred: &Cred, uri: &str) -> Value {
    redact(
        &call("GET", uri)
            .cred(cred)
            .send(&world.app)
            .await
            .json_with(200),
    )
}

/// Status, body and cookies of a reply, for a snapshot.
fn whole(reply: &Reply) -> Value {
    let body = if reply.body.is_empty() {
        Value::Null
    } else {
        redact(&reply.json())
    };
    json!({
        "status": reply.status.as_u16(),
        "body": body,
        "set_cookie": reply.set_cookies(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth() {
    let (world, _db, _, _) = world().await;
    let login = call("POST", "/api/v1/auth/login")
        .json(&json!({ "email": "member@example.org", "password": PASSWORD }))
        .send(&world.app)
        .await;
    assert_json_snapshot!("login", whole(&login));
    let wrong = call("POST", "/api/v1/auth/login")
        .json(&json!({ "email": "member@example.org", "password": "nope" }))
        .send(&world.app)
        .await;
    assert_json_snapshot!("login_wrong_password", whole(&wrong));

    assert_json_snapshot!(
        "me_member_bearer",
        get(&world, &world.member.bearer(), "/api/v1/auth/me").await
    );
    assert_json_snapshot!(
        "me_member_cookie",
        get(&world, &world.member.cookie(false), "/api/v1/auth/me").await
    );
    assert_json_snapshot!(
        "me_admin_token",
        get(
            &world,
            &Cred::Bearer(world.admin_token.clone()),
            "/api/v1/auth/me"
        )
        .await
    );
    let anonymous = call("GET", "/api/v1/auth/me").send(&world.app).await;
    assert_json_snapshot!("me_anonymous", whole(&anonymous));

    let logout = call("POST", "/api/v1/auth/logout")
        .cred(&world.member.cookie(false))
        .send(&world.app)
        .await;
    assert_json_snapshot!("logout", whole(&logout));

    // The one-time login link that `flowo serve` prints on a fresh store.
    let key = format!(
        "{}{}",
        flowo_http::routes::auth::FIRST_LOGIN_SETTING,
        flowo_http::auth::token_hash("first-login-token")
    );
    world
        .store()
        .init_setting(&key, &world.admin.user.id.to_string())
        .await
        .expect("setting");
    let first = call("POST", "/api/v1/auth/first-login")
        .json(&json!({ "token": " first-login-token " }))
        .send(&world.app)
        .await;
    assert_json_snapshot!("first_login", whole(&first));
    let again = call("POST", "/api/v1/auth/first-login")
        .json(&json!({ "token": "first-login-token" }))
        .send(&world.app)
        .await;
    assert_json_snapshot!("first_login_used", whole(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs() {
    let (world, _db, a, b) = world().await;
    let cred = world.viewer.bearer();
    assert_json_snapshot!("runs", get(&world, &cred, "/api/v1/runs").await);
    assert_json_snapshot!(
        "runs_failed",
        get(
            &world,
            &cred,
            "/api/v1/runs?status=failed,interrupted&total=false"
        )
        .await
    );
    assert_json_snapshot!(
        "runs_search",
        get(
            &world,
            &cred,
            "/api/v1/runs?q=PROJ&user=root&from=2026-11-26T14:49:50Z"
        )
        .await
    );
    // Paging by name: the cursor of page one leads to page two.
    let first = call("GET", "/api/v1/runs?limit=1&sort=name&order=asc")
        .cred(&cred)
        .send(&world.app)
        .await
        .json_with(200);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = get(
        &world,
        &cred,
        &format!(
            "/api/v1/runs?limit=1&sort=name&order=asc&cursor={}",
            crate::support::percent_encode(cursor)
        ),
    )
    .await;
    assert_json_snapshot!("runs_page_1", redact(&first));
    assert_json_snapshot!("runs_page_2", second);
    assert_ne!(first["items"][0]["id"], second["items"][0]["id"]);

    assert_json_snapshot!(
        "run",
        get(&world, &cred, &format!("/api/v1/runs/{a}")).await
    );
    assert_json_snapshot!(
        "run_failed",
        get(&world, &cred, &format!("/api/v1/runs/{b}")).await
    );
    assert_json_snapshot!(
        "jobs",
        get(&world, &cred, &format!("/api/v1/runs/{a}/jobs?limit=3")).await
    );
    assert_json_snapshot!(
        "jobs_filtered",
        get(
            &world,
            &cred,
            &format!(
                "/api/v1/runs/{a}/jobs?rule=count&status=succeeded&sort=started_at&order=desc"
            )
        )
        .await
    );
    assert_json_snapshot!(
        "job_briefs",
        get(
            &world,
            &cred,
            &format!("/api/v1/runs/{a}/job-briefs?limit=3")
        )
        .await
    );
    // A brief is its job with only the wildcards and threads of its detail, page for page,
    // under the same filters, sort and cursors.
    for query in [
        "limit=3".to_owned(),
        "rule=count&status=succeeded&sort=started_at&order=desc".to_owned(),
    ] {
        let mut cursor = String::new();
        loop {
            // Unredacted: the cursors are followed.
            let page = |path: String| {
                let cred = &cred;
                let app = &world.app;
                async move { call("GET", &path).cred(cred).send(app).await.json_with(200) }
            };
            let jobs = page(format!("/api/v1/runs/{a}/jobs?{query}{cursor}")).await;
            let briefs = page(format!("/api/v1/runs/{a}/job-briefs?{query}{cursor}")).await;
            assert_eq!(briefs["total"], jobs["total"], "{query}{cursor}");
            assert_eq!(
                briefs["next_cursor"], jobs["next_cursor"],
                "{query}{cursor}"
            );
            let items = jobs["items"].as_array().expect("items");
            assert!(!items.is_empty(), "{query}{cursor}");
            let expected: Vec<Value> = items
                .iter()
                .map(|job| {
                    let mut brief = job.clone();
                    let detail = &job["detail"];
                    brief["detail"] =
                        json!({ "wildcards": detail["wildcards"], "threads": detail["threads"] });
                    brief
                })
                .collect();
            assert_eq!(briefs["items"], Value::Array(expected), "{query}{cursor}");
            match jobs["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => break,
            }
        }
    }
    assert_json_snapshot!(
        "job",
        get(&world, &cred, &format!("/api/v1/runs/{a}/jobs/4")).await
    );
    assert_json_snapshot!(
        "job_failed",
        get(&world, &cred, &format!("/api/v1/runs/{b}/jobs/5")).await
    );
    assert_json_snapshot!(
        "rules",
        get(&world, &cred, &format!("/api/v1/runs/{a}/rules")).await
    );
    assert_json_snapshot!(
        "graph",
        get(&world, &cred, &format!("/api/v1/runs/{a}/graph")).await
    );
    assert_json_snapshot!(
        "timeline",
        get(&world, &cred, &format!("/api/v1/runs/{a}/timeline")).await
    );
    assert_json_snapshot!(
        "errors",
        get(&world, &cred, &format!("/api/v1/runs/{b}/errors")).await
    );
    assert_json_snapshot!(
        "events",
        get(&world, &cred, &format!("/api/v1/runs/{a}/events?limit=4")).await
    );
    assert_json_snapshot!(
        "events_filtered",
        get(
            &world,
            &cred,
            &format!("/api/v1/runs/{b}/events?kinds=job_error,error&after_seq=2")
        )
        .await
    );
    assert_json_snapshot!("stats", get(&world, &cred, "/api/v1/stats").await);
    assert_json_snapshot!(
        "stats_range",
        get(
            &world,
            &cred,
            "/api/v1/stats?workspace=lab&from=2000-01-01T00:00:00Z&to=2001-01-01T00:00:00Z"
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_and_delete() {
    let (world, _db, a, _) = world().await;
    let fresh = RunId(uuid::Uuid::from_u128(7));
    let events = load_capture("success/12-up-to-date.jsonl", fresh);
    let reply = call("POST", "/api/v1/events?workspace=lab")
        .cred(&Cred::Bearer(world.ingest_token.clone()))
        .json(&crate::support::batch(&events))
        .send(&world.app)
        .await;
    assert_json_snapshot!("ingest", whole(&reply));
    let reply = call("POST", "/api/v1/events")
        .cred(&world.admin.bearer())
        .json(&crate::support::batch(&events))
        .send(&world.app)
        .await;
    assert_json_snapshot!("ingest_again_default_workspace", whole(&reply));

    let refused = call("DELETE", &format!("/api/v1/runs/{a}"))
        .cred(&world.viewer.bearer())
        .send(&world.app)
        .await;
    assert_json_snapshot!("delete_run_viewer", whole(&refused));
    let deleted = call("DELETE", &format!("/api/v1/runs/{a}"))
        .cred(&world.member.bearer())
        .send(&world.app)
        .await;
    assert_json_snapshot!("delete_run", whole(&deleted));
    let gone = call("GET", &format!("/api/v1/runs/{a}"))
        .cred(&world.member.bearer())
        .send(&world.app)
        .await;
    assert_json_snapshot!("run_deleted", whole(&gone));
    let gone = call("GET", &format!("/api/v1/runs/{a}/events"))
        .cred(&world.member.bearer())
        .send(&world.app)
        .await;
    assert_eq!(gone.status.as_u16(), 404, "its events went with it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspaces() {
    let (world, _db, _, _) = world().await;
    let admin = world.admin.bearer();
    assert_json_snapshot!(
        "workspaces_member",
        get(&world, &world.member.bearer(), "/api/v1/workspaces").await
    );
    assert_json_snapshot!(
        "workspaces_admin",
        get(&world, &admin, "/api/v1/workspaces").await
    );
    let created = call("POST", "/api/v1/workspaces")
        .cred(&admin)
        .json(&json!({ "name": " genomics " }))
        .send(&world.app)
        .await;
    assert_json_snapshot!("workspace_created", whole(&created));
    let taken = call("POST", "/api/v1/workspaces")
        .cred(&admin)
        .json(&json!({ "name": "genomics" }))
        .send(&world.app)
        .await;
    assert_json_snapshot!("workspace_taken", whole(&taken));
    assert_json_snapshot!(
        "members",
        get(
            &world,
            &world.viewer.bearer(),
            "/api/v1/workspaces/lab/members"
        )
        .await
    );
    let added = call(
        "PUT",
        "/api/v1/workspaces/genomics/members/outsider@example.org",
    )
    .cred(&admin)
    .send(&world.app)
    .await;
    assert_json_snapshot!("member_added", whole(&added));
    assert_json_snapshot!(
        "members_after_add",
        get(&world, &admin, "/api/v1/workspaces/genomics/members").await
    );
    assert_json_snapshot!(
        "workspaces_outsider",
        get(&world, &world.outsider.bearer(), "/api/v1/workspaces").await
    );
    let removed = call(
        "DELETE",
        "/api/v1/workspaces/genomics/members/outsider@example.org",
    )
    .cred(&admin)
    .send(&world.app)
    .await;
    assert_json_snapshot!("member_removed", whole(&removed));
    let again = call(
        "DELETE",
        "/api/v1/workspaces/genomics/members/outsider@example.org",
    )
    .cred(&admin)
    .send(&world.app)
    .await;
    assert_json_snapshot!("member_removed_again", whole(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users() {
    let (world, _db, _, _) = world().await;
    let admin = world.admin.bearer();
    assert_json_snapshot!("users", get(&world, &admin, "/api/v1/users").await);
    let created = call("POST", "/api/v1/users")
        .cred(&admin)
        .json(&json!({ "email": "New.User@Example.org", "password": "long enough" }))
        .send(&world.app)
        .await;
    assert_json_snapshot!("user_created", whole(&created));
    let id = created.json()["id"].as_str().expect("id").to_owned();
    let changed = call("PATCH", &format!("/api/v1/users/{id}"))
        .cred(&admin)
        .json(&json!({ "role": "admin", "password": "another password" }))
        .send(&world.app)
        .await;
    assert_json_snapshot!("user_changed", whole(&changed));
    // The new password works.
    call("POST", "/api/v1/auth/login")
        .json(&json!({ "email": "new.user@example.org", "password": "another password" }))
        .send(&world.app)
        .await
        .expect(200);
    let user = world
        .store()
        .user(flowo_core::account::UserId(id.parse().expect("uuid")))
        .await
        .expect("user")
        .expect("exists");
    assert_eq!(user.role, Role::Admin);
    let forbidden = call("GET", "/api/v1/users")
        .cred(&world.member.bearer())
        .send(&world.app)
        .await;
    assert_json_snapshot!("users_member", whole(&forbidden));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens() {
    let (world, _db, _, _) = world().await;
    let member = world.member.bearer();
    let created = call("POST", "/api/v1/tokens")
        .cred(&member)
        .json(&json!({
            "name": "laptop", "scope": "read", "workspace": "lab", "expires_in_days": 30
        }))
        .send(&world.app)
        .await;
    assert_json_snapshot!("token_created", whole(&created));
    let body = created.json();
    let secret = body["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with(flowo_http::auth::TOKEN_PREFIX));
    assert!(secret.starts_with(body["prefix"].as_str().expect("prefix")));
    let id = body["id"].as_str().expect("id").to_owned();
    // The new token works, and only its hash is kept.
    call("GET", "/api/v1/runs")
        .cred(&Cred::Bearer(secret.clone()))
        .send(&world.app)
        .await
        .expect(200);
    let listed = call("GET", "/api/v1/tokens")
        .cred(&member)
        .send(&world.app)
        .await
        .json_with(200);
    assert!(
        !listed.to_string().contains(&secret),
        "never the text again"
    );
    assert_json_snapshot!("tokens", redact(&listed));
    let for_other = call("POST", "/api/v1/tokens")
        .cred(&world.admin.bearer())
        .json(&json!({ "name": "ci", "user": "member@example.org", "scope": "ingest" }))
        .send(&world.app)
        .await;
    assert_json_snapshot!("token_created_for_member", whole(&for_other));
    let admin_scope = call("POST", "/api/v1/tokens")
        .cred(&member)
        .json(&json!({ "name": "root", "scope": "admin" }))
        .send(&world.app)
        .await;
    assert_json_snapshot!("token_admin_scope_refused", whole(&admin_scope));
    let not_member = call("POST", "/api/v1/tokens")
        .cred(&member)
        .json(&json!({ "name": "x", "workspace": "other" }))
        .send(&world.app)
        .await;
    assert_json_snapshot!("token_other_workspace_refused", whole(&not_member));
    assert_json_snapshot!(
        "tokens_all",
        get(&world, &world.admin.bearer(), "/api/v1/tokens?all=true").await
    );

    let revoked = call("DELETE", &format!("/api/v1/tokens/{id}"))
        .cred(&member)
        .send(&world.app)
        .await;
    assert_json_snapshot!("token_revoked", whole(&revoked));
    let used = call("GET", "/api/v1/runs")
        .cred(&Cred::Bearer(secret))
        .send(&world.app)
        .await;
    assert_json_snapshot!("token_revoked_used", whole(&used));
    let listed = call("GET", "/api/v1/tokens")
        .cred(&member)
        .send(&world.app)
        .await
        .json_with(200);
    let laptop = listed
        .as_array()
        .expect("list")
        .iter()
        .find(|t| t["name"] == "laptop")
        .expect("still listed");
    assert!(laptop["revoked_at"].is_string(), "marked revoked");
    assert!(laptop["last_used_at"].is_string(), "its use was recorded");
    let expired = call("GET", "/api/v1/runs")
        .cred(&Cred::Bearer(world.expired_token.clone()))
        .send(&world.app)
        .await;
    assert_json_snapshot!("token_expired_used", whole(&expired));
    let unknown = call("GET", "/api/v1/runs")
        .cred(&Cred::Bearer(format!(
            "{}0000",
            flowo_http::auth::TOKEN_PREFIX
        )))
        .send(&world.app)
        .await;
    assert_json_snapshot!("token_unknown_used", whole(&unknown));
}

/// What the plugin ships besides Snakemake's records: sources, log tails and benchmark values
/// reach the run's sources, the job (with its log tails) and the job's detail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_extras() {
    use flowo_core::event::{CapturedText, Event, JobBenchmark, JobLogs, RunSource, SourceRole};
    let (world, _db, a, _) = world().await;
    let token = Cred::Bearer(world.ingest_token.clone());
    let base = load_capture(SUCCESS, a);
    let at = base.last().expect("events").recorded_at;
    let next = base.len() as u64;
    let text = |path: &str, body: &str| CapturedText {
        path: path.into(),
        size: body.len() as u64,
        truncated: false,
        text: body.into(),
    };
    let extras = [
        Event::RunSource(RunSource {
            role: SourceRole::Snakefile,
            file: text("/data/project/Snakefile", "rule all:\n    input: 'x'\n"),
        }),
        Event::JobLogs(JobLogs {
            job_id: 4,
            files: vec![text(
                "/data/project/logs/make_ref.log",
                "<b>ref built</b>\n",
            )],
        }),
        Event::JobBenchmark(JobBenchmark {
            job_id: 4,
            path: Some("benchmarks/make_ref.tsv".into()),
            values: [
                ("s".to_owned(), json!(0.5)),
                ("max_rss".to_owned(), json!(3.5)),
            ]
            .into_iter()
            .collect(),
        }),
    ];
    let events: Vec<_> = extras
        .iter()
        .enumerate()
        .map(|(i, e)| flowo_core::EventEnvelope::new(a, next + i as u64, at, e))
        .collect();
    ingest(&world.app, &token, "lab", &events, 100).await;
    let cred = world.viewer.bearer();
    let sources = get(&world, &cred, &format!("/api/v1/runs/{a}/sources")).await;
    assert_eq!(sources[0]["role"], "snakefile");
    assert_eq!(sources[0]["text"], "rule all:\n    input: 'x'\n");
    let job = get(&world, &cred, &format!("/api/v1/runs/{a}/jobs/4")).await;
    assert_eq!(job["logs"][0]["files"][0]["text"], "<b>ref built</b>\n");
    assert_eq!(job["detail"]["benchmark_values"]["max_rss"], 3.5);
    let other = get(&world, &cred, &format!("/api/v1/runs/{a}/jobs/1")).await;
    assert_eq!(
        other["logs"],
        json!([]),
        "log tails belong to their job only"
    );
}

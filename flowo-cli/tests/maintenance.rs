//! End-to-end tests of the operator's commands: `flowo runs prune` (retention) on a database
//! and through a server, `flowo db backup` of an embedded store in use and the documented
//! PostgreSQL backup and restore (`pg_dump -Fc`, `pg_restore`), and `flowo health` for
//! container health checks. Runs are real Snakemake captures moved back in time.

mod common;

use std::process::Command;

use chrono::{Duration, Utc};
use common::*;
use flowo_core::store::{RunEventQuery, RunQuery};
use flowo_core::{EventEnvelope, RunId, Store};
use flowo_store::StoreOptions;
use flowo_testkit::fixtures::{load_capture, run_id_for};
use serde_json::Value;

const SUCCESS: &str = "success/01-success.jsonl";
const FAILURE: &str = "job-failure/02-job-failure.jsonl";
const KILLED: &str = "incomplete/14-killed.jsonl";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A capture's events moved so that its last event was `days_ago` days ago.
fn days_ago(name: &str, run: RunId, days_ago: i64) -> Vec<EventEnvelope> {
    let mut events = load_capture(name, run);
    let last = events.last().expect("events").recorded_at;
    let shift = (Utc::now() - Duration::days(days_ago)) - last;
    for e in &mut events {
        e.recorded_at += shift;
    }
    events
}

/// Appends runs into workspaces of the store at `url`.
fn fill(url: &str, runs: &[(&str, &[EventEnvelope])]) {
    runtime().block_on(async {
        let store = flowo_store::open(url, &StoreOptions::default())
            .await
            .expect("open store");
        for (workspace, events) in runs {
            let ws = store.ensure_workspace(workspace).await.expect("workspace");
            store.append(ws.id, events).await.expect("append");
        }
    });
}

/// The ids of the runs a `--json` prune report lists.
fn pruned(report: &Value) -> Vec<String> {
    let mut ids: Vec<String> = report["runs"]
        .as_array()
        .unwrap_or_else(|| panic!("no runs in {report}"))
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    ids
}

fn ids(runs: &[RunId]) -> Vec<String> {
    let mut ids: Vec<String> = runs.iter().map(ToString::to_string).collect();
    ids.sort();
    ids
}

/// The runs the store holds, and how many events in all.
fn stored(url: &str) -> (Vec<String>, usize) {
    runtime().block_on(async {
        let store = flowo_store::open(url, &StoreOptions::default())
            .await
            .expect("open store");
        let page = store
            .list_runs(&RunQuery {
                limit: 1000,
                ..RunQuery::default()
            })
            .await
            .expect("list runs");
        let mut events = 0;
        for run in &page.items {
            events += all_events(&*store, run.id).await.len();
        }
        let runs: Vec<RunId> = page.items.iter().map(|r| r.id).collect();
        (ids(&runs), events)
    })
}

async fn all_events(store: &dyn Store, run: RunId) -> Vec<flowo_core::store::StoredEvent> {
    let mut out = Vec::new();
    loop {
        let page = store
            .run_events(
                run,
                &RunEventQuery {
                    after_seq: out
                        .last()
                        .map(|e: &flowo_core::store::StoredEvent| e.envelope.seq),
                    kinds: Vec::new(),
                    limit: 1000,
                },
            )
            .await
            .expect("events");
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

#[test]
fn prune_deletes_old_runs_that_are_not_running_on_a_database() {
    let s = Sandbox::new();
    let db = s.sqlite("flowo.db");
    let old_success = run_id_for("old-success");
    let old_other = run_id_for("old-other-workspace");
    let old_killed = run_id_for("old-killed");
    let recent = run_id_for("recent-failure");
    fill(
        &db,
        &[
            ("default", &days_ago(SUCCESS, old_success, 100)),
            ("other", &days_ago(FAILURE, old_other, 40)),
            ("default", &days_ago(KILLED, old_killed, 200)),
            ("default", &days_ago(FAILURE, recent, 10)),
        ],
    );
    let (before, events_before) = stored(&db);
    assert_eq!(before.len(), 4);

    // Lost runs are old news: the killed run (no run_finished) is pruned like the others.
    let report: Value = serde_json::from_str(&s.ok(
        &db,
        &[
            "runs",
            "prune",
            "--older-than",
            "30d",
            "--dry-run",
            "--json",
        ],
    ))
    .expect("JSON report");
    assert_eq!(report["dry_run"], true);
    assert_eq!(pruned(&report), ids(&[old_success, old_other, old_killed]));
    assert_eq!(
        stored(&db),
        (before.clone(), events_before),
        "a dry run deletes nothing"
    );
    let table = s.ok(&db, &["runs", "prune", "--older-than", "30d", "--dry-run"]);
    assert!(table.contains(&old_killed.to_string()), "{table}");
    assert!(
        table
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("would prune 3 runs (")),
        "{table}"
    );

    // One workspace only.
    let report: Value = serde_json::from_str(&s.ok(
        &db,
        &[
            "runs",
            "prune",
            "--older-than",
            "30d",
            "--workspace",
            "other",
            "--json",
        ],
    ))
    .expect("JSON report");
    assert_eq!(pruned(&report), ids(&[old_other]));
    let events_of_other = report["events"].as_u64().expect("events");
    assert!(events_of_other > 0);
    let (after, events_after) = stored(&db);
    assert_eq!(after, ids(&[old_success, old_killed, recent]));
    assert_eq!(events_before - events_after, events_of_other as usize);

    // A run still running is kept however old its latest event: with a lost timeout longer
    // than its silence, the killed run reads as running.
    s.write_config("lost_after = 1000000000\n");
    let report: Value =
        serde_json::from_str(&s.ok(&db, &["runs", "prune", "--older-than", "30d", "--json"]))
            .expect("JSON report");
    assert_eq!(pruned(&report), ids(&[old_success]));
    s.write_config("");
    let out = s.ok(&db, &["runs", "prune", "--older-than", "150d"]);
    assert!(out.starts_with("pruned 1 runs ("), "{out}");
    let (after, _) = stored(&db);
    assert_eq!(after, ids(&[recent]), "the recent run stays");
    runtime().block_on(async {
        let store = flowo_store::open(&db, &StoreOptions::default())
            .await
            .expect("open");
        for run in [old_success, old_other, old_killed] {
            assert!(store.get_run(run).await.expect("get").is_none());
            assert!(
                all_events(&*store, run).await.is_empty(),
                "events of {run} left"
            );
            assert!(store.run_errors(run).await.expect("errors").is_empty());
        }
        assert!(!store.run_errors(recent).await.expect("errors").is_empty());
    });

    // Nothing more to prune is not an error.
    let out = s.ok(&db, &["runs", "prune", "--older-than", "30d"]);
    assert!(out.starts_with("pruned 0 runs (0 events)"), "{out}");

    // Each prune that deleted runs is one audit entry of the actor `cli` listing them; dry
    // runs and empty prunes record nothing.
    let audit = s.json(&db, &["audit", "list", "--json"]);
    let got: Vec<(&str, &str, &str, Vec<String>)> = audit
        .iter()
        .map(|e| {
            let runs = e["details"]["run_ids"]
                .as_array()
                .expect("run ids")
                .iter()
                .map(|r| r.as_str().expect("id").to_owned())
                .collect();
            (
                e["actor"].as_str().expect("actor"),
                e["action"].as_str().expect("action"),
                e["target"].as_str().expect("target"),
                runs,
            )
        })
        .collect();
    let one = |run: RunId| ids(&[run]);
    assert_eq!(
        got,
        vec![
            ("cli", "runs_pruned", "*", one(old_killed)),
            ("cli", "runs_pruned", "*", one(old_success)),
            ("cli", "runs_pruned", "other", one(old_other)),
        ]
    );
}

#[test]
fn prune_refuses_bad_ages_and_unknown_workspaces() {
    let s = Sandbox::new();
    let db = s.sqlite("flowo.db");
    fill(
        &db,
        &[("default", &days_ago(SUCCESS, run_id_for("kept"), 100))],
    );
    for (age, says) in [
        ("30m", "shortest is 1h"),
        ("ninety days", "such as 90d"),
        ("-3d", "such as 90d"),
    ] {
        let flag = format!("--older-than={age}");
        let out = s.run(&db, &["runs", "prune", &flag]);
        assert_eq!(out.status.code(), Some(2), "--older-than {age}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("error: ") && err.contains(says),
            "{age}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let err = s.fails(
        &db,
        &[
            "runs",
            "prune",
            "--older-than",
            "30d",
            "--workspace",
            "nope",
        ],
    );
    assert!(err.contains("workspace \"nope\" not found"), "{err}");
    assert_eq!(stored(&db).0.len(), 1, "nothing was deleted");
}

#[test]
fn prune_through_a_server_needs_a_token_that_may_delete() {
    let s = Sandbox::new();
    let db = s.sqlite("flowo.db");
    let old = run_id_for("old-over-http");
    let recent = run_id_for("recent-over-http");
    fill(
        &db,
        &[
            ("default", &days_ago(SUCCESS, old, 100)),
            ("default", &days_ago(FAILURE, recent, 1)),
        ],
    );
    s.ok(
        &db,
        &["user", "create", "admin@example.org", "--role", "admin"],
    );
    let token = |scope: &str| {
        last_line(&s.ok(
            &db,
            &[
                "token",
                "create",
                "--user",
                "admin@example.org",
                "--name",
                scope,
                "--scope",
                scope,
            ],
        ))
    };
    let (admin, read, ingest) = (token("admin"), token("read"), token("ingest"));
    let server = Server::start(&s, &db, free_port());
    let url = format!("http://127.0.0.1:{}", server.port);
    let prune = |token: &str, extra: &[&str]| {
        let mut args = vec![
            "--url",
            url.as_str(),
            "runs",
            "prune",
            "--older-than",
            "30d",
        ];
        args.extend(extra);
        s.run_with(&[("FLOWO_TOKEN", token)], &args, None)
    };

    let err = check_fails(&["runs", "prune"], prune(&read, &[]));
    assert!(err.contains("may not delete runs"), "{err}");
    let err = check_fails(&["runs", "prune"], prune(&ingest, &[]));
    assert!(err.contains("may not read runs"), "{err}");
    assert_eq!(stored(&db).0.len(), 2, "a read token deleted something");

    let out = check_ok(&["runs", "prune"], prune(&admin, &["--json"]));
    let report: Value = serde_json::from_str(&out).expect("JSON report");
    assert_eq!(pruned(&report), ids(&[old]));
    assert_eq!(stored(&db).0, ids(&[recent]));
    let (status, _) = http(
        server.port,
        "GET",
        &format!("/api/v1/runs/{old}"),
        Some(&admin),
        None,
    );
    assert_eq!(status, 404);
    let err = check_fails(
        &["runs", "prune"],
        prune(&admin, &["--workspace", "elsewhere"]),
    );
    assert!(err.contains("workspace \"elsewhere\" not found"), "{err}");
    assert!(server.terminate().success());
}

#[test]
fn db_backup_copies_an_embedded_store_in_use() {
    let s = Sandbox::new();
    let db = s.sqlite("flowo.db");
    fill(
        &db,
        &[
            ("default", &days_ago(SUCCESS, run_id_for("a"), 3)),
            ("lab", &days_ago(FAILURE, run_id_for("b"), 2)),
        ],
    );
    s.ok(
        &db,
        &["user", "create", "admin@example.org", "--role", "admin"],
    );
    let server = Server::start(&s, &db, free_port());
    // Written while the server holds the database open, with more runs arriving.
    let writer = {
        let db = db.clone();
        std::thread::spawn(move || {
            for i in 0..20 {
                let run = run_id_for(&format!("during-backup-{i}"));
                fill(&db, &[("default", &days_ago(SUCCESS, run, 1))]);
            }
        })
    };
    let copy = s.path("backup/flowo-copy.db");
    std::fs::create_dir_all(s.path("backup")).expect("dir");
    let out = s.ok(&db, &["db", "backup", copy.to_str().expect("utf-8")]);
    assert!(out.starts_with("backed up "), "{out}");
    writer.join().expect("writer");
    let copy_url = format!("sqlite://{}", copy.display());
    let (copied_runs, _) = stored(&copy_url);
    assert!(copied_runs.len() >= 2, "{copied_runs:?}");

    // The copy is a whole, consistent store: every run in it folds to what its own events
    // say, and its users came along.
    runtime().block_on(async {
        let original = flowo_store::open(&db, &StoreOptions::default())
            .await
            .expect("open");
        let backup = flowo_store::open(&copy_url, &StoreOptions::default())
            .await
            .expect("open");
        for id in &copied_runs {
            let run: RunId = id.parse().expect("id");
            let a = original
                .get_run(run)
                .await
                .expect("get")
                .expect("in original");
            let b = backup.get_run(run).await.expect("get").expect("in backup");
            assert_eq!(a, b, "run {run} differs in the backup");
            assert_eq!(
                all_events(&*original, run).await,
                all_events(&*backup, run).await
            );
        }
        assert_eq!(backup.count_users().await.expect("users"), 1);
    });
    assert!(server.terminate().success());

    let err = s.fails(&db, &["db", "backup", copy.to_str().expect("utf-8")]);
    assert!(err.contains("already exists"), "{err}");
    let missing = s.sqlite("missing.db");
    let err = s.fails(
        &missing,
        &["db", "backup", s.path("x.db").to_str().expect("utf-8")],
    );
    assert!(err.contains("not found"), "{err}");
    assert!(
        !s.path("missing.db").exists(),
        "backup created the database it was to copy"
    );
    let err = s.fails(
        "postgres://postgres@127.0.0.1:5432/postgres",
        &["db", "backup", s.path("pg.db").to_str().expect("utf-8")],
    );
    assert!(err.contains("pg_dump"), "{err}");
}

/// Runs a PostgreSQL client tool; its stdout.
fn pg_tool(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} (postgresql-client) is needed: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn postgres_backup_and_restore_as_documented() {
    let rt = runtime();
    let Some(source) = rt.block_on(flowo_testkit::postgres::TestDatabase::create(
        "flowo_backup_src",
    )) else {
        return;
    };
    let Some(target) = rt.block_on(flowo_testkit::postgres::TestDatabase::create(
        "flowo_backup_dst",
    )) else {
        return;
    };
    let s = Sandbox::new();
    fill(
        &source.url,
        &[
            ("default", &days_ago(SUCCESS, run_id_for("pg-a"), 3)),
            ("lab", &days_ago(FAILURE, run_id_for("pg-b"), 2)),
        ],
    );
    s.ok(
        &source.url,
        &["user", "create", "admin@example.org", "--role", "admin"],
    );
    let dump = s.path("flowo.dump");
    let dump = dump.to_str().expect("utf-8");
    // docs/operations.md: `pg_dump -Fc -f flowo.dump URL`, then into an empty database
    // `pg_restore --no-owner -d URL flowo.dump`.
    pg_tool("pg_dump", &["-Fc", "-f", dump, &source.url]);
    pg_tool("pg_restore", &["--no-owner", "-d", &target.url, dump]);

    let list = |url: &str| s.ok(url, &["runs", "list", "--json"]);
    assert_eq!(list(&source.url), list(&target.url));
    let users = s.json(&target.url, &["user", "list", "--json"]);
    assert_eq!(users.len(), 1);

    // The restored store goes on: new events take positions after the restored ones.
    let (head_before, head_after) = rt.block_on(async {
        let store = flowo_store::open(&target.url, &StoreOptions::default())
            .await
            .expect("open restored");
        let before = store.head().await.expect("head");
        let ws = store.ensure_workspace("default").await.expect("ws");
        store
            .append(ws.id, &days_ago(SUCCESS, run_id_for("pg-c"), 1))
            .await
            .expect("append after restore");
        (before, store.head().await.expect("head"))
    });
    assert!(head_before > 0 && head_after > head_before);
    assert_eq!(stored(&target.url).0.len(), 3);
    drop(source);
    drop(target);
}

#[test]
fn health_says_whether_the_target_is_ready() {
    let s = Sandbox::new();
    let db = s.sqlite("flowo.db");
    let server = Server::start(&s, &db, free_port());
    let url = format!("http://127.0.0.1:{}", server.port);
    let out = s.run_with(&[], &["health", "--url", &url], None);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("ready: {url}")
    );
    let quiet = s.run_with(&[], &["health", "--url", &url, "--quiet"], None);
    assert_eq!(quiet.status.code(), Some(0));
    assert!(quiet.stdout.is_empty());
    assert!(server.terminate().success());

    let down = s.run_with(&[], &["health", "--url", &url], None);
    assert_eq!(down.status.code(), Some(1));
    let err = String::from_utf8_lossy(&down.stderr);
    assert!(err.starts_with(&format!("not ready: {url}: ")), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    let out = s.run_with(&[], &["health", "--database-url", &db], None);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let bad = "postgres://postgres@127.0.0.1:1/none";
    let out = s.run_with(&[], &["health", "--database-url", bad], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("not ready: postgres://"), "{err}");
}

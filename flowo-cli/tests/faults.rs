//! Fault tests of the `flowo serve` binary on a real PostgreSQL: the server SIGKILLed in the
//! middle of an ingest batch leaves no part of the batch visible, and the batch sent again
//! (as the plugin replays an unanswered batch) stores every event exactly once.
//!
//! "In the middle" is made certain rather than hoped for: the test holds the advisory lock
//! that orders stream positions, so the server's append stops after it has written the
//! batch's runs and jobs and before its events; the test sees the server's transaction wait
//! for that lock in `pg_stat_activity`, with writes done (a transaction id), and kills it
//! there.

mod common;

use std::time::{Duration, Instant};

use common::*;
use flowo_core::{EventEnvelope, RunId};
use flowo_testkit::fixtures::load_capture;
use flowo_testkit::postgres::TestDatabase;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

/// The stream lock's key (flowo-store's `STREAM_LOCK`): `("Flow", 1)`.
const STREAM_LOCK: (i32, i32) = (0x466c_6f77, 1);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// One batch of several whole captures, each under a new run id.
fn big_batch() -> (Vec<EventEnvelope>, Vec<RunId>) {
    let captures = [
        "success/01-success.jsonl",
        "job-failure/02-job-failure.jsonl",
        "job-failure/03-job-failure-keep-going.jsonl",
        "large/10-large.jsonl",
    ];
    let mut events = Vec::new();
    let mut runs = Vec::new();
    for capture in captures.iter().cycle().take(12) {
        let run = RunId::new_random();
        events.extend(load_capture(capture, run));
        runs.push(run);
    }
    (events, runs)
}

/// Rows the store holds for `runs`: (runs, jobs, events, distinct (run, seq) of the events).
async fn rows(conn: &mut PgConnection, runs: &[RunId]) -> (i64, i64, i64, i64) {
    let ids: Vec<_> = runs.iter().map(|r| r.0).collect();
    let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql).bind(ids.clone());
    let runs = count("SELECT COUNT(*) FROM runs WHERE id = ANY($1)")
        .fetch_one(&mut *conn)
        .await
        .expect("count runs");
    let jobs = count("SELECT COUNT(*) FROM jobs WHERE run_id = ANY($1)")
        .fetch_one(&mut *conn)
        .await
        .expect("count jobs");
    let events = count("SELECT COUNT(*) FROM events WHERE run_id = ANY($1)")
        .fetch_one(&mut *conn)
        .await
        .expect("count events");
    let distinct = count(
        "SELECT COUNT(*) FROM (SELECT DISTINCT run_id, seq FROM events WHERE run_id = ANY($1)) d",
    )
    .fetch_one(&mut *conn)
    .await
    .expect("count distinct events");
    (runs, jobs, events, distinct)
}

/// Waits until one of the database's sessions waits for the stream lock inside a transaction
/// that has written rows; its process id.
async fn wait_for_half_applied_append(conn: &mut PgConnection, db: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pid: Option<i32> = sqlx::query_scalar(
            "SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid \
             WHERE a.datname = $1 AND NOT l.granted AND l.locktype = 'advisory' \
               AND l.classid = $2::int::oid AND l.objid = $3::int::oid \
               AND a.backend_xid IS NOT NULL LIMIT 1",
        )
        .bind(db)
        .bind(STREAM_LOCK.0)
        .bind(STREAM_LOCK.1)
        .fetch_optional(&mut *conn)
        .await
        .expect("read pg_stat_activity");
        if let Some(pid) = pid {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "the server's append never waited for the stream lock with rows written"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the backend `pid` is gone (its transaction rolled back).
async fn wait_gone(conn: &mut PgConnection, pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let alive: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_stat_activity WHERE pid = $1")
            .bind(pid)
            .fetch_one(&mut *conn)
            .await
            .expect("read pg_stat_activity");
        if alive == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the killed server's backend never ended"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn post_batch(port: u16, token: &str, events: &[EventEnvelope]) -> reqwest::Result<Value> {
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/events"))
        .bearer_auth(token)
        .json(&json!({ "events": events }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await
}

#[test]
fn sigkill_mid_batch_leaves_nothing_half_applied_and_a_replay_stores_each_event_once() {
    let rt = runtime();
    let Some(db) = rt.block_on(TestDatabase::create("flowo_faults")) else {
        return;
    };
    let s = Sandbox::new();
    s.ok(
        &db.url,
        &["user", "create", "admin@example.org", "--role", "admin"],
    );
    let token = last_line(&s.ok(
        &db.url,
        &[
            "token",
            "create",
            "--user",
            "admin@example.org",
            "--name",
            "ingest",
            "--scope",
            "ingest",
        ],
    ));
    let port = free_port();
    let (events, runs) = big_batch();
    let n = events.len() as i64;

    rt.block_on(async {
        let mut lock = PgConnection::connect(&db.url).await.expect("connect");
        let mut watch = PgConnection::connect(&db.url).await.expect("connect");

        // The append stops at the stream lock, with the runs and jobs written. (Taken once
        // the server is ready: opening a new store rebuilds its rollups under that lock.)
        let server = Server::start(&s, &db.url, port);
        sqlx::query("SELECT pg_advisory_lock($1, $2)")
            .bind(STREAM_LOCK.0)
            .bind(STREAM_LOCK.1)
            .execute(&mut lock)
            .await
            .expect("take the stream lock");
        let send = tokio::spawn({
            let (token, events) = (token.clone(), events.clone());
            async move { post_batch(port, &token, &events).await }
        });
        let pid = wait_for_half_applied_append(&mut watch, &db.name).await;
        drop(server); // SIGKILL, and reaped
        let answer = send.await.expect("join");
        assert!(
            answer.is_err(),
            "a killed server cannot have answered: {answer:?}"
        );
        sqlx::query("SELECT pg_advisory_unlock($1, $2)")
            .bind(STREAM_LOCK.0)
            .bind(STREAM_LOCK.1)
            .execute(&mut lock)
            .await
            .expect("release the stream lock");
        wait_gone(&mut watch, pid).await;
        assert_eq!(
            rows(&mut watch, &runs).await,
            (0, 0, 0, 0),
            "no part of the killed batch is visible"
        );

        // The plugin sends an unanswered batch again: stored once, whole.
        let server = Server::start(&s, &db.url, port);
        let first = post_batch(port, &token, &events).await.expect("replay");
        assert_eq!(first["inserted"], n, "{first}");
        let again = post_batch(port, &token, &events)
            .await
            .expect("second replay");
        assert_eq!(
            (again["inserted"].as_i64(), again["duplicates"].as_i64()),
            (Some(0), Some(n)),
            "{again}"
        );
        let (stored_runs, jobs, stored, distinct) = rows(&mut watch, &runs).await;
        assert_eq!((stored_runs, stored, distinct), (runs.len() as i64, n, n));
        assert!(jobs > 0, "the replayed batch's jobs are stored");
        assert_eq!(server.terminate().code(), Some(0));
    });
}

//! End-to-end tests of the `flowo` client commands against a real `flowo serve` and real
//! databases: `login` (token checked, config written privately, nothing written on refusal),
//! `status` (reachable / valid / down), `runs list|show --json` equal to the HTTP API's JSON for
//! a server target and a database target, `runs watch` ending with the run's outcome while the
//! run's events arrive, and `sync` delivering a spool exactly once. Events are real Snakemake
//! captures, sent through `POST /api/v1/events`.
//!
//! Each test runs the binary in a sandbox (HOME and XDG_CONFIG_HOME in a temporary directory).

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc::channel;
use std::time::Duration;

use common::*;
use flowo_client::FileConfig;
use flowo_client::Target;
use flowo_client::spool::Spool;
use flowo_core::{EventEnvelope, RunId};
use flowo_testkit::fixtures::{captures, load_capture, run_id_for};
use serde_json::Value;

const SUCCESS: &str = "success/01-success.jsonl";
const FAILURE: &str = "job-failure/02-job-failure.jsonl";

/// Creates an administrator with an admin-scope token on `db`; the token.
fn admin_token(s: &Sandbox, db: &str) -> String {
    s.ok(
        db,
        &["user", "create", "admin@example.org", "--role", "admin"],
    );
    let out = s.ok(
        db,
        &[
            "token",
            "create",
            "--user",
            "admin@example.org",
            "--name",
            "tests",
            "--scope",
            "admin",
        ],
    );
    last_line(&out)
}

/// Sends events through `POST /api/v1/events` (into `workspace` when given).
fn ingest(port: u16, token: &str, events: &[EventEnvelope], workspace: Option<&str>) {
    let path = match workspace {
        Some(ws) => format!("/api/v1/events?workspace={ws}"),
        None => "/api/v1/events".to_owned(),
    };
    for batch in events.chunks(1000) {
        let body = serde_json::json!({ "events": batch }).to_string();
        let (status, answer) = http(port, "POST", &path, Some(token), Some(&body));
        assert!((200..300).contains(&status), "ingest: {status} {answer}");
    }
}

/// `GET path` as JSON, which must answer 200.
fn api_json(port: u16, token: &str, path: &str) -> Value {
    let (status, body) = http(port, "GET", path, Some(token), None);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
}

/// A capture's events moved in time so that the run starts now (its later events lie ahead):
/// a run being fed slowly never reads as lost, and it is the most recently started run.
fn as_if_now(mut events: Vec<EventEnvelope>) -> Vec<EventEnvelope> {
    let shift = chrono::Utc::now() - events[0].recorded_at;
    for e in &mut events {
        e.recorded_at += shift;
    }
    events
}

/// `flowo ARGS` in the sandbox with extra environment.
fn flowo(s: &Sandbox, env: &[(&str, &str)], args: &[&str]) -> Output {
    flowo_stdin(s, env, args, None)
}

fn flowo_stdin(s: &Sandbox, env: &[(&str, &str)], args: &[&str], stdin: Option<&str>) -> Output {
    s.run_with(env, args, stdin)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The JSON a successful command printed.
fn ok_json(args: &[&str], out: Output) -> Value {
    let text = check_ok(args, out);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("flowo {args:?} printed no JSON ({e}):\n{text}"))
}

/// `flowo --url URL runs ...` and the HTTP API give the same JSON.
fn assert_same_json(s: &Sandbox, env: &[(&str, &str)], url: &str, args: &[&str], api: &Value) {
    let mut full = vec!["--url", url];
    full.extend_from_slice(args);
    let printed = ok_json(&full, flowo(s, env, &full));
    assert_eq!(&printed, api, "flowo {full:?} differs from the HTTP API");
}

/// What a `flowo runs watch` printed and how it ended.
struct Watched {
    code: Option<i32>,
    lines: Vec<String>,
    stderr: String,
}

/// Runs `flowo runs watch` as `cmd` sets it up; once it shows the run's first state, runs
/// `feed` (which sends the rest of the run's events) beside it, then reads to its end. The
/// watch is killed (and the test fails) if it has not ended after two minutes — a guard
/// against a hang, not a measurement. Returns what `feed` returned too.
fn watch_while_feeding<T: Send>(mut cmd: Command, feed: impl FnOnce() -> T + Send) -> (Watched, T) {
    use std::io::{BufRead as _, BufReader, Read as _};
    let limit = Duration::from_secs(120);
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn flowo");
    let (tx, lines) = channel();
    let out = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut err = child.stderr.take().expect("stderr");
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    std::thread::scope(|scope| {
        let mut seen = Vec::new();
        let mut feed = Some(feed);
        let mut feeder = None;
        loop {
            match lines.recv_timeout(limit) {
                Ok(line) => {
                    if line.contains(" jobs done, ")
                        && let Some(feed) = feed.take()
                    {
                        feeder = Some(scope.spawn(feed));
                    }
                    seen.push(line);
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    panic!("flowo runs watch did not end within {limit:?}: {seen:?}");
                }
            }
        }
        let status = child.wait().expect("flowo ends");
        let fed = feeder
            .expect("the watch showed the run")
            .join()
            .expect("feeder");
        let watched = Watched {
            code: status.code(),
            lines: seen,
            stderr: stderr.join().unwrap_or_default(),
        };
        (watched, fed)
    })
}

/// Sends `events` a few at a time.
fn feeder(port: u16, token: &str, events: &[EventEnvelope]) -> impl FnOnce() + Send + use<> {
    let (token, events) = (token.to_owned(), events.to_vec());
    move || {
        for batch in events.chunks(4) {
            std::thread::sleep(Duration::from_millis(20));
            ingest(port, &token, batch, None);
        }
    }
}

fn config_mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[test]
fn login_checks_the_token_and_status_reports_the_server() {
    let s = Sandbox::new();
    let db = s.sqlite("flowo.db");
    let token = admin_token(&s, &db);
    let server = Server::start(&s, &db, free_port());
    let url = format!("http://127.0.0.1:{}", server.port);
    let config = s.path("config/flowo/config.toml");

    // Refusals write nothing.
    let err = check_fails(
        &["login"],
        flowo_stdin(&s, &[], &["login", "--url", &url], Some("flowo_wrong\n")),
    );
    assert!(
        err.contains("refused") && err.contains("nothing was saved"),
        "{err}"
    );
    assert!(!config.exists(), "a refused token is not saved");
    let down = format!("http://127.0.0.1:{}", free_port());
    let err = check_fails(
        &["login"],
        flowo_stdin(&s, &[], &["login", "--url", &down], Some(&token)),
    );
    assert!(err.contains("cannot reach"), "{err}");
    let err = check_fails(
        &["login"],
        flowo_stdin(&s, &[], &["login", "--url", &db], Some(&token)),
    );
    assert!(err.contains("database"), "{err}");
    let err = check_fails(
        &["login"],
        flowo_stdin(&s, &[], &["login", "--url", &url], Some("\n")),
    );
    assert!(err.contains("no token"), "{err}");
    assert!(!config.exists());

    // Status before login: the embedded store in the sandbox's data directory.
    let out = flowo(&s, &[], &["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("database") && text.contains("opens, 0 runs"),
        "{text}"
    );

    // Login keeps the file's other keys and makes it private.
    s.write_config(&format!("# mine\ndatabase_url = \"{db}\"\n"));
    let out = check_ok(
        &["login"],
        flowo_stdin(
            &s,
            &[],
            &["login", "--url", &format!("{url}/"), "--workspace", "lab"],
            Some(&format!("{token}\n")),
        ),
    );
    assert!(out.contains("admin@example.org"), "{out}");
    assert!(out.contains(&config.display().to_string()), "{out}");
    assert!(!out.contains(&token), "the token is not printed: {out}");
    assert_eq!(config_mode(&config), 0o600);
    let saved = FileConfig::read(&config).expect("valid config");
    assert_eq!(saved.url.as_deref(), Some(url.as_str()));
    assert_eq!(saved.token.as_deref(), Some(token.as_str()));
    assert_eq!(saved.workspace.as_deref(), Some("lab"));
    assert_eq!(saved.database_url.as_deref(), Some(db.as_str()));

    // Status now reads the server the login saved.
    let out = flowo(&s, &[], &["status"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("reachable") && text.contains("valid: admin@example.org"),
        "{text}"
    );
    assert!(!text.contains(&token), "{text}");
    let report = ok_json(&["status", "--json"], flowo(&s, &[], &["status", "--json"]));
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["target_kind"], "server");
    assert_eq!(report["target"], url.as_str());
    assert_eq!(report["token_source"], "config file");
    assert_eq!(report["workspace"], "lab");
    assert_eq!(report["server"]["reachable"], true);
    assert_eq!(report["server"]["token_valid"], true);
    assert_eq!(report["server"]["user"], "admin@example.org");

    // A wrong token from the environment beats the file's: reachable, invalid, exit 1.
    let out = flowo(&s, &[("FLOWO_TOKEN", "flowo_wrong")], &["status", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["token_source"], "FLOWO_TOKEN");
    assert_eq!(report["server"]["reachable"], true);
    assert_eq!(report["server"]["token_valid"], false);
    assert_eq!(report["ok"], false);

    // A database given explicitly beats the login.
    let out = flowo(&s, &[], &["--url", &db, "status", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["target_kind"], "database");
    assert_eq!(report["database"]["opens"], true);
    assert_eq!(report["database"]["runs"], 0);

    // The server stops: unreachable, exit 1, the report still printed.
    assert!(server.terminate().success());
    let out = flowo(&s, &[], &["status"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("UNREACHABLE"), "{text}");
    let out = flowo(&s, &[], &["status", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["server"]["reachable"], false);
    assert_eq!(report["ok"], false);
}

#[test]
fn runs_list_and_show_print_the_http_apis_json_for_server_and_database() {
    let s = Sandbox::new();
    let db = s.sqlite("flowo.db");
    let token = admin_token(&s, &db);
    s.ok(&db, &["workspace", "create", "lab"]);
    let server = Server::start(&s, &db, free_port());
    let port = server.port;
    let url = format!("http://127.0.0.1:{port}");

    let names = captures();
    for (i, name) in names.iter().enumerate() {
        let ws = (i % 4 == 0).then_some("lab");
        ingest(port, &token, &load_capture(name, run_id_for(name)), ws);
    }

    let env = [("FLOWO_TOKEN", token.as_str())];
    let cases: &[(&[&str], &str)] = &[
        (&[], ""),
        (&["--status", "failed"], "?status=failed"),
        (
            &["--status", "succeeded,lost", "--limit", "3"],
            "?status=succeeded,lost&limit=3",
        ),
        (&["--workspace", "lab"], "?workspace=lab"),
        (&["--workspace", "nowhere"], "?workspace=nowhere"),
        (&["-q", "success"], "?q=success"),
        (&["--tag", "none-such"], "?tag=none-such"),
    ];
    for (args, query) in cases {
        let api = api_json(port, &token, &format!("/api/v1/runs{query}"));
        let mut full = vec!["runs", "list", "--json"];
        full.extend_from_slice(args);
        assert_same_json(&s, &env, &url, &full, &api);
        assert_same_json(&s, &[], &db, &full, &api);
    }
    let all = api_json(port, &token, "/api/v1/runs?limit=1000");
    let items = all["items"].as_array().expect("items");
    assert_eq!(items.len(), names.len());
    let statuses: Vec<&str> = items.iter().filter_map(|r| r["status"].as_str()).collect();
    for status in ["succeeded", "failed", "lost"] {
        assert!(statuses.contains(&status), "{statuses:?}");
    }

    for name in [SUCCESS, FAILURE, "incomplete/14-killed.jsonl"] {
        let id = run_id_for(name).to_string();
        let api = api_json(port, &token, &format!("/api/v1/runs/{id}"));
        assert_same_json(&s, &env, &url, &["runs", "show", &id, "--json"], &api);
        assert_same_json(&s, &[], &db, &["runs", "show", &id, "--json"], &api);
        // A prefix of 8 hex digits names the run too.
        assert_same_json(&s, &[], &db, &["runs", "show", &id[..8], "--json"], &api);
        assert_same_json(&s, &env, &url, &["runs", "show", &id[..8], "--json"], &api);
    }

    // For people: a table, and a run's header, rules and errors.
    let table = check_ok(
        &["runs", "list"],
        flowo(&s, &env, &["--url", &url, "runs", "list"]),
    );
    let header = table.lines().next().expect("header");
    for column in [
        "ID", "NAME", "STATUS", "PROGRESS", "STARTED", "DURATION", "HOST",
    ] {
        assert!(header.contains(column), "{table}");
    }
    assert_eq!(table.lines().count(), names.len() + 1, "{table}");
    let failed = run_id_for(FAILURE).to_string();
    let show = check_ok(
        &["runs", "show"],
        flowo(&s, &[], &["--url", &db, "runs", "show", &failed[..8]]),
    );
    assert!(show.contains(&failed), "{show}");
    assert!(
        show.lines()
            .any(|l| l.starts_with("Status") && l.contains("failed")),
        "{show}"
    );
    assert!(show.contains("RULE") && show.contains("Errors ("), "{show}");
    let errors = api_json(port, &token, &format!("/api/v1/runs/{failed}/errors"));
    let message = errors[0]["message"].as_str().expect("an error message");
    let first_line = message
        .lines()
        .find(|l| !l.trim().is_empty())
        .expect("text");
    assert!(show.contains(first_line.trim()), "{show}");

    // Errors: a short or unknown id, no token for the server.
    let err = check_fails(
        &["runs", "show"],
        flowo(&s, &[], &["--url", &db, "runs", "show", "abc"]),
    );
    assert!(err.contains("not a run id"), "{err}");
    let err = check_fails(
        &["runs", "show"],
        flowo(&s, &[], &["--url", &db, "runs", "show", "deadbeef"]),
    );
    assert!(err.contains("no run id starts with"), "{err}");
    let unknown = RunId::new_random().to_string();
    let err = check_fails(
        &["runs", "show"],
        flowo(&s, &env, &["--url", &url, "runs", "show", &unknown]),
    );
    assert!(err.contains("not found"), "{err}");
    let err = check_fails(
        &["runs", "list"],
        flowo(&s, &[], &["--url", &url, "runs", "list"]),
    );
    assert!(
        err.contains("refused the token") && err.contains("flowo login"),
        "{err}"
    );
    let err = check_fails(
        &["runs", "list"],
        flowo(&s, &[], &["--url", &url, "runs", "list", "--limit", "0"]),
    );
    assert!(err.contains("--limit"), "{err}");
    assert!(server.terminate().success());
}

#[test]
fn runs_watch_ends_with_the_runs_outcome() {
    let s = Sandbox::new();
    let db = s.sqlite("flowo.db");
    let token = admin_token(&s, &db);
    let server = Server::start(&s, &db, free_port());
    let port = server.port;
    let url = format!("http://127.0.0.1:{port}");

    for (capture, code, word) in [(SUCCESS, 0, "succeeded"), (FAILURE, 1, "failed")] {
        let id = run_id_for(capture);
        let events = as_if_now(load_capture(capture, id));
        ingest(port, &token, &events[..5], None);

        let mut cmd = s.command();
        cmd.env("FLOWO_TOKEN", &token)
            .args(["--url", &url, "runs", "watch", &id.to_string()[..8]]);
        let (watched, ()) = watch_while_feeding(cmd, feeder(port, &token, &events[5..]));
        let lines = &watched.lines;
        assert_eq!(watched.code, Some(code), "{lines:?}\n{}", watched.stderr);
        assert!(
            lines[0].starts_with("Watching run ") && lines[0].contains(&id.to_string()),
            "{lines:?}"
        );
        // It followed the run: running first, then each change, then the outcome.
        assert!(lines[1].contains(" jobs done, running: "), "{lines:?}");
        let changes = lines.iter().filter(|l| l.contains(" jobs done, ")).count();
        assert!(changes >= 3, "{lines:?}");
        let last = lines.last().expect("outcome line");
        assert!(last.starts_with("Run ") && last.contains(word), "{lines:?}");

        // Watching a run that has ended ends at once, with the same status.
        let out = flowo(
            &s,
            &[("FLOWO_TOKEN", &token)],
            &["--url", &url, "runs", "watch", &id.to_string()],
        );
        assert_eq!(out.status.code(), Some(code), "{}", stdout(&out));
        // And on the database directly.
        let out = flowo(&s, &[], &["--url", &db, "runs", "watch", &id.to_string()]);
        assert_eq!(out.status.code(), Some(code), "{}", stdout(&out));
    }

    // The server restarts while a run is watched: the watch reconnects, resumes after the
    // last event it saw, and still ends with the run's outcome.
    let id = run_id_for("watch-restart");
    let events = as_if_now(load_capture(SUCCESS, id));
    let half = events.len() / 2;
    ingest(port, &token, &events[..5], None);
    let mut cmd = s.command();
    cmd.env("FLOWO_TOKEN", &token)
        .args(["--url", &url, "runs", "watch", &id.to_string()]);
    let restart = || {
        feeder(port, &token, &events[5..half])();
        assert!(server.terminate().success());
        let again = Server::start(&s, &db, port);
        feeder(port, &token, &events[half..])();
        again
    };
    let (watched, server) = watch_while_feeding(cmd, restart);
    let lines = &watched.lines;
    assert_eq!(watched.code, Some(0), "{lines:?}\n{}", watched.stderr);
    assert!(
        watched.stderr.contains("reconnected"),
        "{lines:?}\n{}",
        watched.stderr
    );
    let last = lines.last().expect("outcome line");
    assert!(
        last.starts_with("Run ") && last.contains("succeeded"),
        "{lines:?}"
    );
    assert!(server.terminate().success());
}

#[test]
fn sync_delivers_a_spool_exactly_once() {
    let s = Sandbox::new();
    let db = s.sqlite("flowo.db");
    let other_db = s.sqlite("direct.db");
    let token = admin_token(&s, &db);
    let server = Server::start(&s, &db, free_port());
    let port = server.port;
    let url = format!("http://127.0.0.1:{port}");
    let dir = s.path("spool");
    let spool = Spool::open(&dir).expect("spool");
    let file = FileConfig::default();
    let to_server = Target::from_url(&url, &file).expect("server target");
    let to_db = Target::from_url(&other_db, &file).expect("database target");

    let (a, b) = (run_id_for("sync-a"), run_id_for("sync-b"));
    let events_a = load_capture(SUCCESS, a);
    let events_b = load_capture(FAILURE, b);
    let spooled = |id: RunId, target: &Target, events: &[EventEnvelope]| {
        let mut writer = spool.writer(id, target, None).expect("writer");
        writer.append(events).expect("append");
    };
    spooled(a, &to_server, &events_a);
    spooled(b, &to_db, &events_b);
    // A run still being written is left alone.
    let busy = run_id_for("sync-busy");
    let mut held = spool.writer(busy, &to_server, None).expect("writer");
    held.append(&load_capture(SUCCESS, busy)).expect("append");

    let env = [("FLOWO_TOKEN", token.as_str())];
    let dir_arg = dir.display().to_string();
    let sync = ["sync", "--spool-dir", dir_arg.as_str()];
    let out = check_ok(&sync, flowo(&s, &env, &sync));
    let total = events_a.len() + events_b.len();
    assert!(
        out.contains(&format!("delivered {total} events of 2 runs")),
        "{out}"
    );
    assert!(out.contains("1 runs still being written"), "{out}");
    let run_a = api_json(port, &token, &format!("/api/v1/runs/{a}"));
    assert_eq!(run_a["event_count"], events_a.len());
    assert_eq!(run_a["status"], "succeeded");
    let show_b = ok_json(
        &["runs", "show"],
        flowo(
            &s,
            &[],
            &["--url", &other_db, "runs", "show", &b.to_string(), "--json"],
        ),
    );
    assert_eq!(show_b["event_count"], events_b.len());
    assert_eq!(show_b["status"], "failed");
    let left: Vec<_> = spool.pending().expect("pending");
    assert_eq!(left.len(), 1, "only the busy file is left: {left:?}");
    assert_eq!(left[0].run_id, busy);
    drop(held);

    // Spooling the same events again and syncing stores nothing twice.
    spooled(a, &to_server, &events_a);
    check_ok(&sync, flowo(&s, &env, &sync));
    let run_a = api_json(port, &token, &format!("/api/v1/runs/{a}"));
    assert_eq!(run_a["event_count"], events_a.len());
    let busy_run = api_json(port, &token, &format!("/api/v1/runs/{busy}"));
    assert_eq!(busy_run["status"], "succeeded");
    let out = check_ok(&sync, flowo(&s, &env, &sync));
    assert!(out.contains("nothing to deliver"), "{out}");

    // An unreachable target fails the sync, naming the file; the file stays.
    let gone =
        Target::from_url(&format!("http://127.0.0.1:{}", free_port()), &file).expect("target");
    let c = run_id_for("sync-c");
    spooled(c, &gone, &load_capture(SUCCESS, c));
    let out = flowo(&s, &env, &sync);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&spool.path_of(c).display().to_string()),
        "{stderr}"
    );
    assert_eq!(spool.pending().expect("pending").len(), 1);

    // A file whose header is corrupt is listed and reported, not passed over; it stays.
    let d = run_id_for("sync-d");
    let events_d = load_capture(SUCCESS, d);
    spooled(d, &to_server, &events_d);
    let path_d = spool.path_of(d);
    let text = std::fs::read_to_string(&path_d).expect("read");
    let (_, records) = text.split_once('\n').expect("a header line");
    std::fs::write(&path_d, format!("{{\"flowo_spool\": garbage\n{records}")).expect("write");
    let listed = spool.pending().expect("pending");
    let entry = listed.iter().find(|e| e.path == path_d).expect("listed");
    assert_eq!(entry.run_id, d);
    assert_eq!(entry.events, events_d.len() as u64);
    assert!(entry.problem.is_some(), "{entry:?}");
    let out = flowo(&s, &env, &sync);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}: not a FlowO spool file", path_d.display())),
        "{stderr}"
    );
    assert!(path_d.exists(), "the file is kept");
    assert!(server.terminate().success());
}

#[test]
fn client_commands_work_on_postgres() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let Some(pg) = rt.block_on(flowo_testkit::postgres::TestDatabase::create(
        "flowo_cli_client",
    )) else {
        return;
    };
    let s = Sandbox::new();
    let db = pg.url.as_str();
    let token = admin_token(&s, db);
    let server = Server::start(&s, db, free_port());
    let port = server.port;
    for name in [SUCCESS, FAILURE, "incomplete/14-killed.jsonl"] {
        ingest(port, &token, &load_capture(name, run_id_for(name)), None);
    }
    for query in ["", "?status=failed"] {
        let api = api_json(port, &token, &format!("/api/v1/runs{query}"));
        let mut args = vec!["runs", "list", "--json"];
        if !query.is_empty() {
            args.extend(["--status", "failed"]);
        }
        assert_same_json(&s, &[], db, &args, &api);
    }
    let id = run_id_for(FAILURE).to_string();
    let api = api_json(port, &token, &format!("/api/v1/runs/{id}"));
    assert_same_json(&s, &[], db, &["runs", "show", &id[..8], "--json"], &api);
    let report = ok_json(
        &["status"],
        flowo(&s, &[], &["--url", db, "status", "--json"]),
    );
    assert_eq!(report["database"]["runs"], 3, "{report}");

    // Watching the latest run on the database directly, fed through the server.
    let live = run_id_for("postgres-live");
    let events = as_if_now(load_capture(SUCCESS, live));
    ingest(port, &token, &events[..5], None);
    let mut cmd = s.command();
    cmd.args(["--url", db, "runs", "watch"]);
    let (watched, ()) = watch_while_feeding(cmd, feeder(port, &token, &events[5..]));
    let lines = &watched.lines;
    assert_eq!(watched.code, Some(0), "{lines:?}\n{}", watched.stderr);
    assert!(
        lines[0].contains(&live.to_string()),
        "the latest run is watched: {lines:?}"
    );
    assert!(lines[1].contains(" jobs done, running: "), "{lines:?}");
    assert!(
        lines.last().is_some_and(|l| l.contains("succeeded")),
        "{lines:?}"
    );
    assert!(server.terminate().success());
    drop(pg);
}

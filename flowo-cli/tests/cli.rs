//! End-to-end tests of the `flowo` binary: every admin command on a SQLite file, tokens used
//! against a running `flowo serve`, the one-time first-start link, SIGTERM, configuration
//! precedence, one-line errors, the admin commands on PostgreSQL, the audit log of the admin
//! commands, and a server log at `trace` that holds no token or password.
//!
//! Each test runs the binary with a cleared environment whose HOME and XDG_CONFIG_HOME point
//! into a temporary directory, so nothing on the machine leaks in.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn every_admin_command_works_on_a_sqlite_file() {
    let s = Sandbox::new();
    let db = s.sqlite("data/flowo.db");

    let out = s.ok(&db, &["db", "migrate"]);
    assert!(out.contains(&db), "{out}");
    assert!(s.path("data/flowo.db").exists());

    // Users.
    let out = s.ok_stdin(
        &db,
        &["user", "create", "Alice@Example.org", "--password-stdin"],
        "correct horse\n",
    );
    assert!(
        out.contains("created user alice@example.org (member"),
        "{out}"
    );
    let out = s.ok(
        &db,
        &["user", "create", "bob@example.org", "--role", "viewer"],
    );
    assert!(out.contains("no password set"), "{out}");
    s.ok(
        &db,
        &["user", "create", "root@example.org", "--role", "admin"],
    );
    let err = s.fails(&db, &["user", "create", "bob@example.org"]);
    assert!(err.contains("already exists"), "{err}");
    let err = s.fails(&db, &["user", "create", "not-an-email"]);
    assert!(err.contains("not an e-mail"), "{err}");
    let err = check_fails(
        &["user", "create"],
        s.run_stdin(
            &db,
            &["user", "create", "carol@example.org", "--password-stdin"],
            Some("short\n"),
        ),
    );
    assert!(err.contains("8 to 1024"), "{err}");

    let users = s.json(&db, &["user", "list", "--json"]);
    assert_eq!(users.len(), 3, "{users:?}");
    let alice = find(&users, "email", "alice@example.org");
    assert_eq!(alice["role"], "member");
    assert_eq!(alice["disabled"], false);
    assert!(alice["id"].is_string() && alice["created_at"].is_string());
    assert!(alice.get("password_hash").is_none(), "{alice}");
    assert_eq!(find(&users, "email", "bob@example.org")["role"], "viewer");
    let table = s.ok(&db, &["user", "list"]);
    assert!(table.starts_with("EMAIL"), "{table}");
    assert!(
        table.contains("bob@example.org") && table.contains("viewer"),
        "{table}"
    );

    s.ok(&db, &["user", "set-role", "bob@example.org", "member"]);
    s.ok(&db, &["user", "disable", "bob@example.org"]);
    let users = s.json(&db, &["user", "list", "--json"]);
    let bob = find(&users, "email", "bob@example.org");
    assert_eq!(
        (bob["role"].as_str(), bob["disabled"].as_bool()),
        (Some("member"), Some(true))
    );
    s.ok(&db, &["user", "enable", "bob@example.org"]);
    let users = s.json(&db, &["user", "list", "--json"]);
    assert_eq!(find(&users, "email", "bob@example.org")["disabled"], false);
    let out = s.ok_stdin(
        &db,
        &[
            "user",
            "set-password",
            "bob@example.org",
            "--password-stdin",
        ],
        "another long one",
    );
    assert!(out.contains("password set for bob@example.org"), "{out}");
    s.fails(&db, &["user", "set-password", "bob@example.org"]);

    // Workspaces.
    let out = s.ok(&db, &["workspace", "create", "team-a"]);
    assert!(out.contains("created workspace team-a"), "{out}");
    let err = s.fails(&db, &["workspace", "create", "team-a"]);
    assert!(err.contains("already exists"), "{err}");
    s.fails(&db, &["workspace", "create", "no spaces"]);
    s.ok(
        &db,
        &["workspace", "add-member", "team-a", "alice@example.org"],
    );
    s.ok(
        &db,
        &["workspace", "add-member", "team-a", "bob@example.org"],
    );
    s.ok(
        &db,
        &["workspace", "remove-member", "team-a", "bob@example.org"],
    );
    let err = s.fails(
        &db,
        &["workspace", "remove-member", "team-a", "bob@example.org"],
    );
    assert!(err.contains("not a member"), "{err}");
    s.fails(
        &db,
        &["workspace", "add-member", "nowhere", "alice@example.org"],
    );
    let workspaces = s.json(&db, &["workspace", "list", "--json"]);
    let names: Vec<&str> = workspaces
        .iter()
        .filter_map(|w| w["name"].as_str())
        .collect();
    assert_eq!(names, ["default", "team-a"]);
    let table = s.ok(&db, &["workspace", "list"]);
    let team = table
        .lines()
        .find(|l| l.starts_with("team-a"))
        .expect("team-a row");
    assert_eq!(team.split_whitespace().nth(1), Some("1"), "{table}");

    // Tokens.
    let out = s.ok(
        &db,
        &[
            "token",
            "create",
            "--user",
            "alice@example.org",
            "--name",
            "ci",
            "--workspace",
            "team-a",
            "--expires-in",
            "30",
        ],
    );
    let token = last_line(&out);
    assert!(token.starts_with("flowo_") && token.len() == 46, "{out}");
    assert!(
        out.lines().count() > 1,
        "information comes before the token: {out}"
    );
    let err = s.fails(
        &db,
        &[
            "token",
            "create",
            "--user",
            "bob@example.org",
            "--name",
            "x",
            "--workspace",
            "team-a",
        ],
    );
    assert!(err.contains("not a member"), "{err}");
    let err = s.fails(
        &db,
        &[
            "token",
            "create",
            "--user",
            "alice@example.org",
            "--name",
            "x",
            "--scope",
            "admin",
        ],
    );
    assert!(err.contains("only administrators"), "{err}");
    let root_token = last_line(&s.ok(
        &db,
        &[
            "token",
            "create",
            "--user",
            "root@example.org",
            "--name",
            "ops",
            "--scope",
            "admin",
        ],
    ));
    assert!(root_token.starts_with("flowo_"));

    let tokens = s.json(&db, &["token", "list", "--json"]);
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    let ci = find(&tokens, "name", "ci");
    assert_eq!(ci["scope"], "ingest");
    assert!(token.starts_with(ci["prefix"].as_str().expect("prefix")));
    assert!(ci["expires_at"].is_string() && ci["revoked_at"].is_null());
    assert!(
        !tokens.iter().any(|t| t.to_string().contains(&token)),
        "the token text is never listed"
    );
    let alice_id = alice["id"].as_str().expect("id");
    assert_eq!(ci["user_id"], alice_id);
    let mine = s.json(
        &db,
        &["token", "list", "--user", "alice@example.org", "--json"],
    );
    assert_eq!(mine.len(), 1);
    let table = s.ok(&db, &["token", "list"]);
    assert!(
        table.contains("team-a") && table.contains("active"),
        "{table}"
    );

    let prefix = ci["prefix"].as_str().expect("prefix");
    let out = s.ok(&db, &["token", "revoke", prefix]);
    assert!(out.contains("revoked token"), "{out}");
    let out = s.ok(&db, &["token", "revoke", ci["id"].as_str().expect("id")]);
    assert!(out.contains("already revoked"), "{out}");
    let tokens = s.json(&db, &["token", "list", "--json"]);
    assert!(find(&tokens, "name", "ci")["revoked_at"].is_string());
    // The start of an id names a token too; the token text itself as well.
    let ops = find(&tokens, "name", "ops")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    s.ok(&db, &["token", "revoke", &ops[..8]]);
    s.fails(&db, &["token", "revoke", "flowo_000000"]);
    s.fails(&db, &["token", "revoke", "ab"]);
}

#[test]
fn a_created_token_works_against_a_running_server() {
    let s = Sandbox::new();
    let db = s.sqlite("flowo.db");
    s.ok(&db, &["user", "create", "alice@example.org"]);
    s.ok(&db, &["workspace", "create", "lab"]);
    s.ok(
        &db,
        &["workspace", "add-member", "lab", "alice@example.org"],
    );
    let out = s.ok(
        &db,
        &[
            "token",
            "create",
            "--user",
            "alice@example.org",
            "--name",
            "laptop",
            "--scope",
            "read",
        ],
    );
    let token = last_line(&out);

    let port = free_port();
    let server = Server::start(&s, &db, port);
    assert_eq!(server.port, port);
    assert!(
        server.first_login_token().is_none(),
        "users exist: no first-login link: {}",
        server.ready
    );

    let (status, body) = http(port, "GET", "/api/v1/auth/me", Some(&token), None);
    assert_eq!(status, 200, "{body}");
    let me: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(me["user"]["email"], "alice@example.org");
    assert_eq!(me["credential"], "token");
    assert_eq!(me["workspaces"][0]["name"], "lab");

    // Admin commands act on the database the server uses, while it runs.
    s.ok(&db, &["token", "revoke", &token]);
    let (status, _) = http(port, "GET", "/api/v1/auth/me", Some(&token), None);
    assert_eq!(status, 401);
    let (status, _) = http(port, "GET", "/api/v1/auth/me", None, None);
    assert_eq!(status, 401);

    assert!(server.terminate().success());
}

/// Every admin command that changes something is recorded in the audit log with the actor
/// `cli`; `flowo audit list` shows them newest first (`--json`, `--limit`), with no password
/// or token in them. A server's actions appear in the same log under their user.
#[test]
fn admin_commands_are_recorded_in_the_audit_log() {
    let s = Sandbox::new();
    let db = s.sqlite("flowo.db");
    let (password, new_password) = ("first password, secret", "second password, secret");
    s.ok_stdin(
        &db,
        &[
            "user",
            "create",
            "Ann@example.org",
            "--role",
            "admin",
            "--password-stdin",
        ],
        &format!("{password}\n"),
    );
    s.ok(&db, &["user", "create", "bob@example.org"]);
    s.ok(&db, &["user", "set-role", "bob@example.org", "viewer"]);
    // The role it has already: nothing changes, nothing recorded.
    s.ok(&db, &["user", "set-role", "bob@example.org", "viewer"]);
    s.ok(&db, &["user", "disable", "bob@example.org"]);
    s.ok(&db, &["user", "enable", "bob@example.org"]);
    s.ok_stdin(
        &db,
        &[
            "user",
            "set-password",
            "bob@example.org",
            "--password-stdin",
        ],
        &format!("{new_password}\n"),
    );
    s.ok(&db, &["workspace", "create", "lab"]);
    s.ok(&db, &["workspace", "add-member", "lab", "bob@example.org"]);
    s.ok(
        &db,
        &["workspace", "remove-member", "lab", "bob@example.org"],
    );
    let out = s.ok(
        &db,
        &[
            "token",
            "create",
            "--user",
            "ann@example.org",
            "--name",
            "ci",
            "--scope",
            "admin",
        ],
    );
    let token = last_line(&out);
    s.ok(&db, &["token", "revoke", &token]);
    // Refused commands record nothing.
    s.fails(&db, &["workspace", "create", "lab"]);

    let entries = s.json(&db, &["audit", "list", "--json"]);
    let got: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().expect("actor"),
                e["action"].as_str().expect("action"),
                e["target"].as_str().expect("target"),
            )
        })
        .collect();
    let tokens = s.json(&db, &["token", "list", "--json"]);
    let token_id = tokens[0]["id"].as_str().expect("token id");
    let (ann, bob) = ("ann@example.org", "bob@example.org");
    let mut want = vec![
        ("cli", "user_created", ann),
        ("cli", "user_created", bob),
        ("cli", "user_role_changed", bob),
        ("cli", "user_disabled", bob),
        ("cli", "user_enabled", bob),
        ("cli", "user_password_set", bob),
        ("cli", "workspace_created", "lab"),
        ("cli", "member_added", bob),
        ("cli", "member_removed", bob),
        ("cli", "token_created", token_id),
        ("cli", "token_revoked", token_id),
    ];
    want.reverse();
    assert_eq!(got, want, "newest first");
    assert!(entries.iter().all(|e| e["actor_id"].is_null()));
    assert_eq!(entries[0]["details"]["prefix"], tokens[0]["prefix"]);
    assert_eq!(entries[8]["details"]["from"], "member");
    assert_eq!(entries[10]["details"]["password_set"], true);
    let text = serde_json::to_string(&entries).expect("JSON");
    for secret in [password, new_password, token.as_str(), "$argon2"] {
        assert!(!text.contains(secret), "the audit log holds {secret:?}");
    }

    assert_eq!(
        s.json(&db, &["audit", "list", "--json", "--limit", "2"])
            .len(),
        2
    );
    let table = s.ok(&db, &["audit", "list", "--limit", "3"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(
        lines[0].starts_with("TIME") && lines[0].contains("ACTION"),
        "{table}"
    );
    assert!(
        lines[1].contains("token_revoked") && lines[1].contains("cli"),
        "{table}"
    );

    // An action through a server is recorded under its user.
    let port = free_port();
    let server = Server::start(&s, &db, port);
    let admin_token = last_line(&s.ok(
        &db,
        &[
            "token",
            "create",
            "--user",
            "ann@example.org",
            "--name",
            "api",
            "--scope",
            "admin",
        ],
    ));
    let (status, body) = http(
        port,
        "POST",
        "/api/v1/workspaces",
        Some(&admin_token),
        Some(r#"{"name": "by-api"}"#),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = http(
        port,
        "GET",
        "/api/v1/audit?limit=1",
        Some(&admin_token),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let page: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(page["items"][0]["action"], "workspace_created");
    assert_eq!(page["items"][0]["actor"], ann);
    assert!(server.terminate().success());
    let newest = &s.json(&db, &["audit", "list", "--json", "--limit", "1"])[0];
    assert_eq!(newest["target"], "by-api");
    assert_eq!(newest["actor"], ann);
    assert!(newest["actor_id"].is_string());
}

/// The server at `RUST_LOG=trace` logs requests with passwords (login, user creation, password
/// changes, a wrong one), the one-time login token, a session JWT, API tokens (as bearers and
/// in a query string) and a CSRF token; none of them appears in its log, which is not empty.
#[test]
fn the_log_holds_no_token_or_password() {
    let s = Sandbox::new();
    let db = s.sqlite("flowo.db");
    let server = Server::start_with(&s, |cmd| {
        cmd.env("FLOWO_DATABASE_URL", &db)
            .env("RUST_LOG", "trace")
            .args(["serve", "--bind", "127.0.0.1:0"]);
    });
    let port = server.port;
    let first = server.first_login_token().expect("a first-login link");
    let (status, body) = http(
        port,
        "POST",
        "/api/v1/auth/first-login",
        None,
        Some(&format!(r#"{{"token": "{first}"}}"#)),
    );
    assert_eq!(status, 200, "{body}");
    let session: Value = serde_json::from_str(&body).expect("JSON");
    let jwt = session["token"].as_str().expect("jwt").to_owned();
    let csrf = session["csrf_token"].as_str().expect("csrf").to_owned();
    let (p1, p2, wrong) = ("password-one-1x9", "password-two-2y8", "wrong-password-3z7");
    let (status, body) = http(
        port,
        "POST",
        "/api/v1/users",
        Some(&jwt),
        Some(&format!(
            r#"{{"email": "eve@example.org", "role": "admin", "password": "{p1}"}}"#
        )),
    );
    assert_eq!(status, 201, "{body}");
    let eve: Value = serde_json::from_str(&body).expect("JSON");
    let (status, body) = http(
        port,
        "PATCH",
        &format!("/api/v1/users/{}", eve["id"].as_str().expect("id")),
        Some(&jwt),
        Some(&format!(r#"{{"password": "{p2}"}}"#)),
    );
    assert_eq!(status, 200, "{body}");
    for (password, want) in [(p2, 200), (wrong, 401), (p1, 401)] {
        let (status, body) = http(
            port,
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&format!(
                r#"{{"email": "eve@example.org", "password": "{password}"}}"#
            )),
        );
        assert_eq!(status, want, "{body}");
    }
    let (status, body) = http(
        port,
        "POST",
        "/api/v1/tokens",
        Some(&jwt),
        Some(r#"{"name": "ci", "scope": "admin"}"#),
    );
    assert_eq!(status, 201, "{body}");
    let secret = serde_json::from_str::<Value>(&body).expect("JSON")["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let (status, _) = http(port, "GET", "/api/v1/auth/me", Some(&secret), None);
    assert_eq!(status, 200);
    let (status, _) = http(
        port,
        "GET",
        &format!("/api/v1/runs?token={secret}"),
        None,
        None,
    );
    assert_eq!(status, 401);
    let (status, _) = http(
        port,
        "GET",
        &format!("/api/v1/stream?token={jwt}&csrf={csrf}"),
        None,
        None,
    );
    assert_eq!(status, 401);
    let (status, _) = http(
        port,
        "GET",
        "/api/v1/auth/me",
        Some(&format!("{secret}x")),
        None,
    );
    assert_eq!(status, 401);
    let (status, log) = server.terminate_with_log();
    assert!(status.success());
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the log is at trace level: {log}"
    );
    for (what, secret) in [
        ("first-login token", first.as_str()),
        ("session JWT", jwt.as_str()),
        ("CSRF token", csrf.as_str()),
        ("password", p1),
        ("password", p2),
        ("wrong password", wrong),
        ("API token", secret.as_str()),
    ] {
        assert!(!log.contains(secret), "the log holds the {what}");
    }
}

#[test]
fn first_start_prints_a_one_time_login_link_and_sigterm_stops_with_0_leaving_the_file_whole() {
    let s = Sandbox::new();
    let db = s.sqlite("flowo.db");
    let server = Server::start(&s, &db, free_port());
    assert!(
        server.ready.starts_with(&format!(
            "FlowO is ready: open http://127.0.0.1:{}/login?first-login=",
            server.port
        )) && server.ready.ends_with(" to log in (this link works once)"),
        "{}",
        server.ready
    );
    let token = server.first_login_token().expect("a first-login token");
    assert_eq!(token.len(), 64, "32 random bytes, hex: {token}");
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()));

    let body = format!(r#"{{"token":"{token}"}}"#);
    let (status, head, answer) = http_full(
        server.port,
        "POST",
        "/api/v1/auth/first-login",
        None,
        Some(&body),
    );
    assert_eq!(status, 200, "{answer}");
    let session: Value = serde_json::from_str(&answer).expect("JSON");
    assert_eq!(session["user"]["email"], "admin@localhost");
    assert_eq!(session["user"]["role"], "admin");
    assert!(
        head.to_ascii_lowercase()
            .contains("set-cookie: flowo_session=")
    );
    let (status, _) = http(
        server.port,
        "POST",
        "/api/v1/auth/first-login",
        None,
        Some(&body),
    );
    assert_eq!(status, 401, "the link works once");

    // The session is a working admin bearer; the administrator is a member of `default`.
    let jwt = session["token"].as_str().expect("session token");
    let (status, me) = http(server.port, "GET", "/api/v1/auth/me", Some(jwt), None);
    assert_eq!(status, 200, "{me}");
    let users = s.json(&db, &["user", "list", "--json"]);
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["email"], "admin@localhost");
    let table = s.ok(&db, &["workspace", "list"]);
    let default = table
        .lines()
        .find(|l| l.starts_with("default"))
        .expect("default row");
    assert_eq!(default.split_whitespace().nth(1), Some("1"), "{table}");

    assert!(server.more_output().is_empty());
    let log = s.path("flowo.db-wal");
    assert!(log.exists(), "the server writes through SQLite's log");
    let status = server.terminate();
    assert_eq!(
        status.code(),
        Some(0),
        "SIGTERM ends serve with 0: {status}"
    );
    assert!(
        !log.exists(),
        "the server closed its connections: the log is copied into the file and removed"
    );

    // A second start has users: no new link.
    let again = Server::start(&s, &db, free_port());
    assert!(again.first_login_token().is_none(), "{}", again.ready);
    assert_eq!(again.terminate().code(), Some(0));
}

/// With `--drain`, SIGTERM first makes `/readyz` answer 503 while everything else is still
/// served (a load balancer's health check takes the replica out), then the server stops
/// with 0; a second SIGTERM during the drain stops it at once.
#[test]
fn drain_answers_readyz_503_while_still_serving_then_stops() {
    let s = Sandbox::new();
    let db = s.sqlite("flowo.db");
    let port = free_port();
    let start = |drain: &str| {
        Server::start_with(&s, |cmd| {
            cmd.env("FLOWO_DATABASE_URL", &db).args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--drain",
                drain,
            ]);
        })
    };
    let draining = |server: &Server| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let (status, body) = http(server.port, "GET", "/readyz", None, None);
            if status == 503 {
                assert_eq!(body, "draining");
                return;
            }
            assert_eq!(status, 200, "{body}");
            assert!(std::time::Instant::now() < deadline, "never draining");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };

    let server = start("3");
    server.signal_term();
    draining(&server);
    let (status, body) = http(server.port, "GET", "/healthz", None, None);
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, body) = http(server.port, "GET", "/api/v1/auth/me", None, None);
    assert_eq!(status, 401, "the API still answers while draining: {body}");
    assert_eq!(server.wait_exit().code(), Some(0));

    // A second signal ends a long drain at once (300 s would outlast wait_exit's 30 s).
    let server = start("300");
    server.signal_term();
    draining(&server);
    server.signal_term();
    assert_eq!(server.wait_exit().code(), Some(0));

    // Out of range: a clear usage error.
    let out = s.run(&db, &["serve", "--drain", "301"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn configuration_layers_file_then_environment_then_flags() {
    let s = Sandbox::new();
    let file_db = s.sqlite("file.db");
    let env_db = s.sqlite("env.db");
    let flag_db = s.sqlite("flag.db");
    let migrate = |env: Option<&str>, flag: Option<&str>| {
        let mut cmd = s.command();
        if let Some(url) = env {
            cmd.env("FLOWO_DATABASE_URL", url);
        }
        cmd.args(["db", "migrate"]);
        if let Some(url) = flag {
            cmd.args(["--database-url", url]);
        }
        check_ok(&["db", "migrate"], cmd.output().expect("flowo runs"))
    };

    // Defaults: the embedded store in the data directory under HOME.
    let out = migrate(None, None);
    let default = s.path("home/.local/share/flowo/flowo.db");
    assert!(out.contains(&default.display().to_string()), "{out}");

    let (p_file, p_env, p_flag) = (free_port(), free_port(), free_port());
    s.write_config(&format!(
        "# FlowO\ndatabase_url = \"{file_db}\"\nbind = \"127.0.0.1:{p_file}\"\n\
         secure_cookies = true\nlost_after = 300\n"
    ));
    assert!(migrate(None, None).contains(&file_db));
    assert!(migrate(Some(&env_db), None).contains(&env_db));
    assert!(migrate(Some(&env_db), Some(&flag_db)).contains(&flag_db));
    // `--url` naming a database serves the database commands too; a server URL there is
    // none of their business; `--database-url` wins over both.
    let url_db = s.sqlite("url.db");
    let with_url = |url: &str, extra: &[&str]| {
        let mut args = vec!["--url", url];
        args.extend(extra);
        args.extend(["db", "migrate"]);
        check_ok(&args, s.command().args(&args).output().expect("flowo runs"))
    };
    assert!(with_url(&url_db, &[]).contains(&url_db));
    assert!(with_url("http://127.0.0.1:1", &[]).contains(&file_db));
    assert!(with_url(&url_db, &["--database-url", &flag_db]).contains(&flag_db));

    let server = Server::start_with(&s, |cmd| {
        cmd.arg("serve");
    });
    assert_eq!(server.port, p_file, "{}", server.ready);
    // The file's database, and its secure_cookies.
    let token = server.first_login_token().expect("fresh file.db");
    let body = format!(r#"{{"token":"{token}"}}"#);
    let (status, head, _) = http_full(
        server.port,
        "POST",
        "/api/v1/auth/first-login",
        None,
        Some(&body),
    );
    assert_eq!(status, 200);
    let cookie = head
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: flowo_session=")
        })
        .expect("session cookie");
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(server.terminate().success());
    let users = s.json(&file_db, &["user", "list", "--json"]);
    assert_eq!(users.len(), 1, "the file's database got the administrator");

    let server = Server::start_with(&s, |cmd| {
        cmd.env("FLOWO_BIND", format!("127.0.0.1:{p_env}"))
            .env("FLOWO_SECURE_COOKIES", "false")
            .arg("serve");
    });
    assert_eq!(server.port, p_env, "{}", server.ready);
    assert!(server.terminate().success());

    let server = Server::start_with(&s, |cmd| {
        cmd.env("FLOWO_BIND", format!("127.0.0.1:{p_env}")).args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{p_flag}"),
        ]);
    });
    assert_eq!(server.port, p_flag, "{}", server.ready);
    assert!(server.terminate().success());

    // A broken config file is one clear error, naming the file and the line.
    s.write_config("bind = \"127.0.0.1:1\"\nlost_afterr = 3\n");
    let err = check_fails(
        &["db", "migrate"],
        s.command().args(["db", "migrate"]).output().expect("runs"),
    );
    assert!(
        err.contains("config.toml line 2") && err.contains("lost_afterr"),
        "{err}"
    );
}

#[test]
fn errors_are_one_line_and_a_non_zero_exit() {
    let s = Sandbox::new();
    let db = s.sqlite("flowo.db");

    let err = s.fails("mysql://flowo:hunter2@db/flowo", &["user", "list"]);
    assert!(err.contains("unsupported database URL"), "{err}");
    assert!(!err.contains("hunter2"), "the password is masked: {err}");
    let err = s.fails(&db, &["--database-url", "oracle://x", "db", "migrate"]);
    assert!(err.contains("unsupported database URL"), "{err}");

    let err = s.fails(&db, &["user", "set-role", "nobody@example.org", "admin"]);
    assert_eq!(err, r#"error: user "nobody@example.org" not found"#);

    // The last enabled administrator can be neither demoted nor disabled.
    s.ok(
        &db,
        &["user", "create", "root@example.org", "--role", "admin"],
    );
    let err = s.fails(&db, &["user", "set-role", "root@example.org", "viewer"]);
    assert!(err.contains("last enabled administrator"), "{err}");
    let err = s.fails(&db, &["user", "disable", "root@example.org"]);
    assert!(err.contains("last enabled administrator"), "{err}");
    s.ok(
        &db,
        &["user", "create", "second@example.org", "--role", "admin"],
    );
    s.ok(&db, &["user", "disable", "root@example.org"]);
    s.fails(&db, &["user", "disable", "nobody@example.org"]);
    s.fails(
        &db,
        &[
            "token",
            "create",
            "--user",
            "nobody@example.org",
            "--name",
            "x",
        ],
    );
    s.fails(&db, &["token", "list", "--user", "nobody@example.org"]);

    let err = s.fails(&db, &["user", "create", "x@example.org", "--role", "boss"]);
    assert!(
        err.contains("boss") && err.contains("admin, member, viewer"),
        "{err}"
    );
    let err = s.fails(&db, &["user", "set-role", "x@example.org", "root"]);
    assert!(err.contains("root"), "{err}");
    s.fails(
        &db,
        &[
            "token",
            "create",
            "--user",
            "x@example.org",
            "--name",
            "x",
            "--scope",
            "all",
        ],
    );
    s.fails(
        &db,
        &[
            "token",
            "create",
            "--user",
            "x@example.org",
            "--name",
            "x",
            "--expires-in",
            "0",
        ],
    );
    s.fails(&db, &["serve", "--lost-after", "0"]);
    s.fails(&db, &["frobnicate"]);

    // A taken port, and a weak JWT secret, stop serve before it starts.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let err = s.fails(&db, &["serve", "--bind", &format!("127.0.0.1:{port}")]);
    assert!(err.contains("cannot listen"), "{err}");
    let out = s
        .command()
        .env("FLOWO_DATABASE_URL", &db)
        .env("FLOWO_JWT_SECRET", "short")
        .args(["serve", "--bind", "127.0.0.1:0"])
        .output()
        .expect("runs");
    let err = check_fails(&["serve"], out);
    assert!(err.contains("FLOWO_JWT_SECRET"), "{err}");
}

/// PostgreSQL for one test: a fresh database on FLOWO_TEST_DATABASE_URL's server, dropped at
/// the end. `None` (said on stderr) when the server is unreachable outside CI.
struct PgDatabase {
    admin: String,
    name: String,
    url: String,
}

impl PgDatabase {
    fn create() -> Option<Self> {
        let admin = std::env::var("FLOWO_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let name = format!("flowo_cli_test_{}", uuid_like());
        let created = runtime().block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&admin).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await?;
            conn.close().await
        });
        if let Err(e) = created {
            if std::env::var_os("CI").is_some() {
                panic!("PostgreSQL at {admin} is unreachable in CI: {e}");
            }
            eprintln!("SKIPPED: PostgreSQL at {admin} is unreachable: {e}");
            return None;
        }
        let url = with_database(&admin, &name);
        Some(Self { admin, name, url })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin, name) = (&self.admin, &self.name);
        let dropped = runtime().block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(admin).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await?;
            conn.close().await
        });
        if let Err(e) = dropped {
            eprintln!("could not drop test database {name}: {e}");
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{:x}_{}", nanos, std::process::id())
}

use flowo_testkit::postgres::with_database;

/// Inserts a password into a URL's user info (PostgreSQL's trust auth ignores it).
fn with_password(url: &str, password: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let (info, host) = rest.split_once('@')?;
    if info.contains(':') {
        return None;
    }
    Some(format!("{scheme}://{info}:{password}@{host}"))
}

#[test]
fn user_and_token_commands_work_on_postgres() {
    let Some(pg) = PgDatabase::create() else {
        return;
    };
    let s = Sandbox::new();
    let db = pg.url.as_str();

    let out = s.ok(db, &["db", "migrate"]);
    assert!(out.contains(&pg.name), "{out}");
    if let Some(with_pw) = with_password(db, "hunter2") {
        let out = s.ok(&with_pw, &["db", "migrate"]);
        assert!(out.contains(":***@") && !out.contains("hunter2"), "{out}");
    }

    s.ok_stdin(
        db,
        &[
            "user",
            "create",
            "alice@example.org",
            "--role",
            "admin",
            "--password-stdin",
        ],
        "a long password\n",
    );
    s.ok(
        db,
        &["workspace", "add-member", "default", "alice@example.org"],
    );
    let out = s.ok(
        db,
        &[
            "token",
            "create",
            "--user",
            "alice@example.org",
            "--name",
            "cluster",
            "--workspace",
            "default",
        ],
    );
    let token = last_line(&out);
    assert!(token.starts_with("flowo_"), "{out}");
    let users = s.json(db, &["user", "list", "--json"]);
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["role"], "admin");
    let tokens = s.json(db, &["token", "list", "--json"]);
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["name"], "cluster");
    assert_eq!(tokens[0]["user_id"], users[0]["id"]);

    let server = Server::start(&s, db, free_port());
    assert!(server.first_login_token().is_none());
    let (status, body) = http(server.port, "GET", "/api/v1/auth/me", Some(&token), None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("alice@example.org"), "{body}");
    assert!(server.terminate().success());
}

//! Helpers shared by the `flowo` binary's test suites: a sandboxed environment, running the
//! binary, a minimal HTTP client, and a running `flowo serve`.
//!
//! Each suite uses a different part of this, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

pub const FLOWO: &str = env!("CARGO_BIN_EXE_flowo");

/// How long a `flowo` command run by [`Sandbox::run_with`] may take before it is killed.
pub const COMMAND_LIMIT: Duration = Duration::from_secs(120);

/// A temporary home with a config directory and a SQLite database.
pub struct Sandbox {
    pub dir: TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        std::fs::create_dir_all(dir.path().join("config/flowo")).expect("config dir");
        Self { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A SQLite database URL in the sandbox.
    pub fn sqlite(&self, name: &str) -> String {
        format!("sqlite://{}", self.path(name).display())
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(self.path("config/flowo/config.toml"), text).expect("write config");
    }

    /// The binary with a clean environment (no FLOWO_* from the machine).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(FLOWO);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `flowo ARGS` on the sandbox's database.
    pub fn run(&self, db: &str, args: &[&str]) -> Output {
        self.run_stdin(db, args, None)
    }

    pub fn run_stdin(&self, db: &str, args: &[&str], stdin: Option<&str>) -> Output {
        self.run_with(&[("FLOWO_DATABASE_URL", db)], args, stdin)
    }

    /// Runs `flowo` with extra environment and, when given, this text on stdin.
    pub fn run_with(&self, env: &[(&str, &str)], args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = self.command();
        cmd.envs(env.iter().copied())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().expect("spawn flowo");
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            // A command may exit before it reads all of its input (a token refused at once):
            // its output and status are what the tests check, so a closed pipe is no failure.
            if let Err(e) = pipe.write_all(text.as_bytes()) {
                assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
            }
        }
        // A command that hangs fails its test rather than the whole suite's time: it is
        // killed after [`COMMAND_LIMIT`] (sqlx's idle reaper once spun a command for ever).
        let pid = child.id().to_string();
        let (done, ended) = channel::<()>();
        let watchdog = std::thread::spawn(move || {
            let hung = matches!(
                ended.recv_timeout(COMMAND_LIMIT),
                Err(RecvTimeoutError::Timeout)
            );
            if hung {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
            }
            hung
        });
        let out = child.wait_with_output().expect("flowo runs");
        drop(done);
        let hung = watchdog.join().expect("watchdog");
        assert!(
            !hung,
            "`flowo {}` did not end within {COMMAND_LIMIT:?}; stderr:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs a command that must succeed; its stdout.
    pub fn ok(&self, db: &str, args: &[&str]) -> String {
        check_ok(args, self.run(db, args))
    }

    pub fn ok_stdin(&self, db: &str, args: &[&str], stdin: &str) -> String {
        check_ok(args, self.run_stdin(db, args, Some(stdin)))
    }

    /// Runs a command that must fail with one `error:` line; that line.
    pub fn fails(&self, db: &str, args: &[&str]) -> String {
        check_fails(args, self.run(db, args))
    }

    pub fn json(&self, db: &str, args: &[&str]) -> Vec<Value> {
        let out = self.ok(db, args);
        match serde_json::from_str(&out) {
            Ok(Value::Array(items)) => items,
            other => panic!("flowo {args:?} printed no JSON array: {other:?}\n{out}"),
        }
    }
}

pub fn check_ok(args: &[&str], out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "flowo {args:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    stdout
}

pub fn check_fails(args: &[&str], out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "flowo {args:?} should have failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        stderr.lines().count(),
        1,
        "flowo {args:?}: the error should be one line:\n{stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    stderr.trim_end().to_owned()
}

/// The token `token create` printed alone on its last line.
pub fn last_line(stdout: &str) -> String {
    stdout.lines().last().unwrap_or_default().trim().to_owned()
}

pub fn find<'a>(items: &'a [Value], key: &str, value: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i[key] == value)
        .unwrap_or_else(|| panic!("no item with {key} = {value:?} in {items:?}"))
}

/// A free port on loopback (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A minimal HTTP/1.1 exchange: status and body.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let (status, _, body) = http_full(port, method, path, bearer, body);
    (status, body)
}

/// Status, headers and body.
pub fn http_full(
    port: u16,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&str>,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some(token) = bearer {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {response:?}"));
    (status, head.to_owned(), body.to_owned())
}

/// A running `flowo serve`, stopped (and killed if need be) when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub lines: Receiver<String>,
    /// The "FlowO is ready" line.
    pub ready: String,
    /// Everything written to stderr (the log), echoed too; complete once the reader ended.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    log_reader: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(sandbox: &Sandbox, db: &str, port: u16) -> Self {
        Self::start_with(sandbox, |cmd| {
            cmd.env("FLOWO_DATABASE_URL", db).args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
            ]);
        })
    }

    /// Starts the server as `configure` sets it up; the port is read from the ready line.
    pub fn start_with(sandbox: &Sandbox, configure: impl FnOnce(&mut Command)) -> Self {
        let mut cmd = sandbox.command();
        configure(&mut cmd);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn flowo serve");
        let (tx, lines) = channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = log.clone();
        let log_reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[flowo serve] {line}");
                sink.lock().expect("log lock").push(line);
            }
        });
        let mut server = Self {
            child,
            port: 0,
            lines,
            ready: String::new(),
            log,
            log_reader: Some(log_reader),
        };
        let ready = loop {
            match server.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line.starts_with("FlowO is ready") => break line,
                Ok(_) => continue,
                Err(e) => panic!("flowo serve printed no ready line: {e:?}"),
            }
        };
        let port = ready
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split(['/', ' ']).next())
            .and_then(|hostport| hostport.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {ready:?}"));
        server.port = port;
        server.ready = ready;
        server.wait_ready();
        server
    }

    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = TcpStream::connect(("127.0.0.1", self.port))
                .ok()
                .map(|_| http(self.port, "GET", "/readyz", None, None));
            if matches!(answer, Some((200, _))) {
                return;
            }
            assert!(Instant::now() < deadline, "/readyz never answered 200");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The token of the one-time login link, if the ready line has one.
    pub fn first_login_token(&self) -> Option<String> {
        let (_, rest) = self.ready.split_once("first-login=")?;
        Some(rest.split_whitespace().next()?.to_owned())
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(self) -> ExitStatus {
        self.signal_term();
        self.wait_exit()
    }

    /// Sends SIGTERM, waits for the exit and for the end of its stderr: the whole log.
    pub fn terminate_with_log(mut self) -> (ExitStatus, String) {
        self.signal_term();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "flowo serve did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        if let Some(reader) = self.log_reader.take() {
            reader.join().expect("the log reader ends with the process");
        }
        let log = self.log.lock().expect("log lock").join("\n");
        (status, log)
    }

    /// Sends SIGTERM.
    pub fn signal_term(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits (30 s at most) for the process to exit.
    pub fn wait_exit(mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "flowo serve did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Further stdout lines, if any arrive within a short time.
    pub fn more_output(&self) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => out.push(line),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return out,
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

//! Server benchmark: the real `flowo serve` over HTTP on loopback, against a fresh PostgreSQL
//! database. It prints figures and targets; it never asserts.
//!
//! ```text
//! cargo bench -p flowo-cli --bench server             # 1M events, 100k runs, 1000 SSE clients
//! cargo bench -p flowo-cli --bench server -- --quick  # 200k events, 20k runs, 200 SSE clients
//! ```
//!
//! What it measures, in this order, on one server process:
//!
//! 1. Ingest: 8 concurrent clients, each sequentially posting pre-serialized batches of 500
//!    events (the `large` capture repeated under new run ids, each client its own runs; a batch
//!    may end one run and start the next), first as plain JSON, then gzip-compressed.
//! 2. Idle memory (`VmRSS`) after startup and once the ingest has settled.
//! 3. `GET /api/v1/runs?limit=50` (with and without the total) with many runs and jobs stored,
//!    bulk-filled by SQL (`flowo_testkit::fill`, as `flowo-store`'s benchmark); `EXPLAIN
//!    ANALYZE` of the two statements it runs; then the run detail, a jobs page, the rule summary
//!    of the run with the most jobs, and the workspace statistics.
//! 4. Live stream fan-out: many SSE clients on one run while events are posted at about
//!    1,000 events/s; every client must receive every event. Delivery latency is measured from
//!    the start of the POST that carried an event to its arrival at a client.
//!
//! Besides the figures it prints what explains them: CPU split between the server, PostgreSQL,
//! this benchmark and the rest of the machine (2 cores are shared by all of them), the server's
//! own latency histogram (`/metrics`), and PostgreSQL transactions per event.
//!
//! Setup: the database is created on `FLOWO_TEST_DATABASE_URL`'s server (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and dropped at the end, also on error; the
//! admin user and its admin-scope API token are made with the `flowo` CLI; the server gets a
//! random `FLOWO_JWT_SECRET` and a clean environment.
//!
//! Environment: `FLOWO_BENCH_QUICK=1` (same as `--quick`), `FLOWO_BENCH_EVENTS`,
//! `FLOWO_BENCH_RUNS`, `FLOWO_BENCH_JOBS`, `FLOWO_BENCH_SSE_CLIENTS`, `FLOWO_BENCH_SECTIONS`
//! (`ingest,gzip,runs,sse`; default all), `FLOWO_BENCH_KEEP=1` (keep the database and print its
//! URL), `FLOWO_BENCH_SETTLE` (seconds of idling after the ingest before the memory is read,
//! default 5), `FLOWO_BENCH_BIN` (the `flowo` binary to run instead of this build's, to compare
//! two versions on the same machine). To diagnose: `FLOWO_BENCH_SERVER_ENV` (`K=V K=V ...` added to the server's
//! environment, e.g. `MALLOC_ARENA_MAX=2`) and `FLOWO_BENCH_SERVER_LOG=FILE` (the server's log
//! goes there instead of this output; with `FLOWO_BENCH_SERVER_ENV=RUST_LOG=info,sqlx::query=debug`
//! it holds every statement with its duration).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use flowo_core::event::{Event, RunFinished};
use flowo_core::{EventEnvelope, RunId};
use flowo_testkit::figures::{self, Better, Figure};
use flowo_testkit::fill;
use futures::StreamExt;
use rand::Rng;
use reqwest::header::{ACCEPT, CONTENT_ENCODING, CONTENT_TYPE};
use sqlx::Connection;
use uuid::Uuid;

const FLOWO: &str = env!("CARGO_BIN_EXE_flowo");

/// Ingest target, events accepted per second.
const INGEST_TARGET: f64 = 50_000.0;
/// Runs page target, p99 milliseconds.
const PAGE_P99_TARGET_MS: f64 = 20.0;
/// Run detail, jobs page, rule summary and workspace statistics over HTTP, p99 milliseconds.
const HTTP_P99_TARGET_MS: f64 = 50.0;
/// Idle resident memory target, MiB.
const IDLE_RSS_TARGET_MIB: f64 = 30.0;
/// Live stream delivery target, p99 milliseconds.
const SSE_P99_TARGET_MS: f64 = 250.0;
/// Resident memory target while streaming, MiB.
const SSE_RSS_TARGET_MIB: f64 = 150.0;

/// Ingest clients.
const CLIENTS: usize = 8;
/// Events per ingest request.
const BATCH: usize = 500;
/// Requests per runs-page variant.
const PAGE_REQUESTS: usize = 500;
/// Events posted while the SSE clients listen, in batches of [`SSE_BATCH`] every [`SSE_EVERY`].
const SSE_EVENTS: usize = 1_000;
const SSE_BATCH: usize = 50;
const SSE_EVERY: Duration = Duration::from_millis(50);
/// SSE connections opened at once.
const SSE_CONNECTING: usize = 64;
/// Clock ticks per second in `/proc` (`getconf CLK_TCK`; 100 on Linux).
const TICKS: f64 = 100.0;

struct Sections {
    ingest: bool,
    gzip: bool,
    runs: bool,
    sse: bool,
}

struct Config {
    quick: bool,
    events: u64,
    runs: u64,
    jobs: u64,
    sse_clients: usize,
    sections: Sections,
    keep: bool,
    /// Longest time one ingest variant may send for.
    ingest_budget: Duration,
    /// How long the server idles after the ingest before its memory is read.
    settle: Duration,
    /// Longest wait for the SSE clients to receive everything after the last POST.
    drain_budget: Duration,
}

fn env_u64(name: &str) -> anyhow::Result<Option<u64>> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            let n: u64 = v
                .trim()
                .replace('_', "")
                .parse()
                .with_context(|| format!("{name}={v:?} is not a number"))?;
            ensure!(n > 0, "{name} must be positive");
            Ok(Some(n))
        }
        _ => Ok(None),
    }
}

impl Config {
    fn load() -> anyhow::Result<Self> {
        // `cargo bench` passes `--bench`; anything but `--quick` is ignored.
        let quick = std::env::args().any(|a| a == "--quick")
            || std::env::var("FLOWO_BENCH_QUICK").is_ok_and(|v| v == "1" || v == "true");
        let (events, runs, jobs, sse_clients) = if quick {
            (200_000, 20_000, 1_000_000, 200)
        } else {
            (1_000_000, 100_000, 10_000_000, 1_000)
        };
        let section = |name: &str| match std::env::var("FLOWO_BENCH_SECTIONS") {
            Ok(v) if !v.trim().is_empty() => v.split(',').any(|s| s.trim() == name),
            _ => true,
        };
        Ok(Self {
            quick,
            events: env_u64("FLOWO_BENCH_EVENTS")?.unwrap_or(events),
            runs: env_u64("FLOWO_BENCH_RUNS")?.unwrap_or(runs).max(10),
            jobs: env_u64("FLOWO_BENCH_JOBS")?.unwrap_or(jobs),
            sse_clients: env_u64("FLOWO_BENCH_SSE_CLIENTS")?.map_or(sse_clients, |n| n as usize),
            sections: Sections {
                ingest: section("ingest"),
                gzip: section("gzip"),
                runs: section("runs"),
                sse: section("sse"),
            },
            keep: std::env::var("FLOWO_BENCH_KEEP").is_ok_and(|v| v == "1"),
            ingest_budget: Duration::from_secs(if quick { 50 } else { 150 }),
            drain_budget: Duration::from_secs(if quick { 90 } else { 240 }),
            settle: Duration::from_secs(env_u64("FLOWO_BENCH_SETTLE")?.unwrap_or(5)),
        })
    }
}

fn main() -> anyhow::Result<()> {
    let cfg = Config::load()?;
    // Owned here, outside the runtime, so that it can block on its own runtime when dropped,
    // also when the benchmark fails or panics.
    let cleanup = Cleanup::default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(run(&cfg, &cleanup));
    drop(runtime);
    cleanup.finish();
    if let Err(e) = &result {
        println!("benchmark failed: {e:#}");
    }
    result
}

// ---------------------------------------------------------------------------------------------
// Cleanup: the server process and the database.

/// What must be undone at the end: killing the server, dropping the database.
#[derive(Default)]
struct Cleanup(Mutex<Resources>);

#[derive(Default)]
struct Resources {
    server: Option<Child>,
    db: Option<PgDb>,
    keep: bool,
}

impl Cleanup {
    fn lock(&self) -> std::sync::MutexGuard<'_, Resources> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_server(&self, child: Child) {
        self.lock().server = Some(child);
    }

    fn set_db(&self, db: PgDb, keep: bool) {
        let mut r = self.lock();
        r.db = Some(db);
        r.keep = keep;
    }

    /// Stops the server and drops the database (once; later calls do nothing).
    fn finish(&self) {
        let (server, db, keep) = {
            let mut r = self.lock();
            (r.server.take(), r.db.take(), r.keep)
        };
        if let Some(child) = server {
            stop_server(child);
        }
        if let Some(db) = db {
            if keep {
                println!("kept PostgreSQL database: {}", db.url);
            } else {
                db.drop_blocking();
            }
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.finish();
    }
}

/// SIGTERM (the graceful stop), then SIGKILL if it has not exited after a while.
fn stop_server(mut child: Child) {
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    let pid = child.id().to_string();
    let termed = Command::new("kill")
        .args(["-TERM", &pid])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if termed {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        println!("WARNING: flowo serve did not stop on SIGTERM; killing it");
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A database created for the benchmark on the test server.
struct PgDb {
    admin: String,
    name: String,
    url: String,
}

use flowo_testkit::postgres::{admin_url, with_database};

impl PgDb {
    async fn create() -> anyhow::Result<Self> {
        let admin = admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin).await.with_context(|| {
            format!(
                "PostgreSQL at {} is unreachable (set FLOWO_TEST_DATABASE_URL)",
                flowo_store::mask_password(&admin)
            )
        })?;
        let name = format!("flowo_bench_server_{}", Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(Self {
            url: with_database(&admin, &name),
            admin,
            name,
        })
    }

    /// Drops the database, closing other sessions (on a runtime of its own: this runs after
    /// the benchmark's runtime is gone).
    fn drop_blocking(self) {
        let dropped = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| {
                rt.block_on(async {
                    let mut conn = sqlx::PgConnection::connect(&self.admin).await?;
                    sqlx::query(&format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        self.name
                    ))
                    .execute(&mut conn)
                    .await?;
                    conn.close().await?;
                    anyhow::Ok(())
                })
            });
        match dropped {
            Ok(()) => println!("dropped database {}", self.name),
            Err(e) => println!("WARNING: could not drop database {}: {e:#}", self.name),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The `flowo` binary: CLI commands and the server process.

/// `flowo` with a clean environment whose HOME and config directory are in `sandbox`.
fn flowo_command(sandbox: &Path) -> Command {
    // `FLOWO_BENCH_BIN` runs another build (to compare two versions on the same machine).
    let bin = std::env::var_os("FLOWO_BENCH_BIN").unwrap_or_else(|| FLOWO.into());
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", sandbox.join("home"))
        .env("XDG_CONFIG_HOME", sandbox.join("config"))
        .stdin(Stdio::null());
    cmd
}

/// Runs `flowo --database-url URL ARGS`; its stdout.
fn cli(sandbox: &Path, url: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = flowo_command(sandbox)
        .arg("--database-url")
        .arg(url)
        .args(args)
        .output()
        .context("running flowo")?;
    ensure!(
        out.status.success(),
        "flowo {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The running server.
struct Server {
    pid: u32,
    base: String,
}

/// Starts `flowo serve` on a free loopback port and waits for its ready line; the child is
/// handed to `cleanup` at once.
fn start_server(
    sandbox: &Path,
    url: &str,
    secret: &str,
    cleanup: &Cleanup,
) -> anyhow::Result<Server> {
    let mut cmd = flowo_command(sandbox);
    // Diagnosis knob: `FLOWO_BENCH_SERVER_ENV="MALLOC_ARENA_MAX=2 RUST_LOG=info,sqlx=debug"`.
    if let Ok(extra) = std::env::var("FLOWO_BENCH_SERVER_ENV") {
        for (k, v) in extra.split_whitespace().filter_map(|kv| kv.split_once('=')) {
            println!("server environment: {}={}", k.trim(), v.trim());
            cmd.env(k.trim(), v.trim());
        }
    }
    let mut child = cmd
        .env("FLOWO_JWT_SECRET", secret)
        .args(["--database-url", url, "serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawning flowo serve")?;
    let pid = child.id();
    let stdout = child.stdout.take().context("stdout of flowo serve")?;
    let stderr = child.stderr.take().context("stderr of flowo serve")?;
    cleanup.set_server(child);
    // Diagnosis knob: `FLOWO_BENCH_SERVER_LOG=FILE` writes the server's log there instead.
    let mut log_file = match std::env::var_os("FLOWO_BENCH_SERVER_LOG") {
        Some(path) => Some(
            std::fs::File::create(&path)
                .with_context(|| format!("creating {}", Path::new(&path).display()))?,
        ),
        None => None,
    };
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            match &mut log_file {
                Some(f) => {
                    let _ = writeln!(f, "{line}");
                }
                None => println!("  [flowo serve] {line}"),
            }
        }
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("FlowO is ready") {
                let _ = tx.send(line);
            } else {
                println!("  [flowo serve] {line}");
            }
        }
    });
    let ready = rx
        .recv_timeout(Duration::from_secs(60))
        .context("flowo serve printed no ready line (it exited, or took over 60 s)")?;
    let hostport = ready
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ' ']).next())
        .with_context(|| format!("no address in {ready:?}"))?;
    Ok(Server {
        pid,
        base: format!("http://{hostport}"),
    })
}

/// The HTTP client side.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = self
                .http
                .get(format!("{}/readyz", self.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return Ok(());
            }
            ensure!(Instant::now() < deadline, "/readyz never answered 200");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Posts one batch; its outcome.
    async fn post(&self, body: Vec<u8>, gzip: bool) -> anyhow::Result<Outcome> {
        let mut req = self
            .http
            .post(format!("{}/api/v1/events", self.base))
            .bearer_auth(&self.token)
            .header(CONTENT_TYPE, "application/json");
        if gzip {
            req = req.header(CONTENT_ENCODING, "gzip");
        }
        let resp = req.body(body).send().await?;
        let status = resp.status();
        let text = resp.bytes().await?;
        ensure!(
            status.is_success(),
            "POST /api/v1/events: HTTP {status}: {}",
            String::from_utf8_lossy(&text)
        );
        Ok(serde_json::from_slice(&text)?)
    }

    async fn metrics(&self) -> anyhow::Result<Metrics> {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        Ok(Metrics::parse(&text))
    }
}

/// What `POST /events` answers.
#[derive(serde::Deserialize, Default, Clone, Copy)]
struct Outcome {
    inserted: u64,
    duplicates: u64,
}

// ---------------------------------------------------------------------------------------------
// Measurements of processes: memory, CPU, the server's metrics.

/// A field of `/proc/<pid>/status` in kB (`VmRSS`, `VmHWM`, `Threads`).
fn proc_status(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| {
        l.strip_prefix(key)?
            .strip_prefix(':')?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Resets the process's peak RSS (`VmHWM`) to its current RSS.
fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// User + system CPU ticks of a process.
fn proc_ticks(pid: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3, utime 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Process ids of the PostgreSQL backends connected to the database at `url` (other than the
/// one asking); empty when PostgreSQL runs elsewhere or cannot be asked.
async fn pg_backends(url: &str) -> Vec<u32> {
    let pids = async {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let pids: Vec<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(&mut conn)
        .await?;
        conn.close().await?;
        anyhow::Ok(pids)
    };
    pids.await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| u32::try_from(p).ok())
        .collect()
}

/// Busy and total ticks of the machine.
fn machine_ticks() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().next() else {
        return (0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let get = |i: usize| v.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal
    let busy = get(0) + get(1) + get(2) + get(5) + get(6) + get(7);
    (busy, busy + get(3) + get(4))
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A CPU snapshot: the machine, the server, this process, and the PostgreSQL backends serving
/// the benchmark's database (PostgreSQL's shared background processes and other databases count
/// as other processes).
struct Cpu {
    at: Instant,
    busy: u64,
    total: u64,
    server: u64,
    bench: u64,
    postgres: HashMap<u32, u64>,
}

impl Cpu {
    async fn now(server: u32, db_url: &str) -> Self {
        let backends = pg_backends(db_url).await;
        let (busy, total) = machine_ticks();
        Self {
            at: Instant::now(),
            busy,
            total,
            server: proc_ticks(&server.to_string()).unwrap_or(0),
            bench: proc_ticks("self").unwrap_or(0),
            postgres: backends
                .into_iter()
                .filter_map(|pid| Some((pid, proc_ticks(&pid.to_string())?)))
                .collect(),
        }
    }

    /// Cores used since `self` by each party (backends that connected meanwhile count whole).
    async fn since(&self, server: u32, db_url: &str) -> CpuUse {
        let now = Self::now(server, db_url).await;
        let secs = now.at.duration_since(self.at).as_secs_f64().max(1e-3);
        let c = |ticks: u64| ticks as f64 / TICKS / secs;
        let total = now.total.saturating_sub(self.total).max(1) as f64;
        let busy = now.busy.saturating_sub(self.busy) as f64 / total * cores() as f64;
        let server = c(now.server.saturating_sub(self.server));
        let bench = c(now.bench.saturating_sub(self.bench));
        let postgres = c(now
            .postgres
            .iter()
            .map(|(pid, t)| t.saturating_sub(self.postgres.get(pid).copied().unwrap_or(0)))
            .sum());
        CpuUse {
            secs,
            server,
            bench,
            postgres,
            other: (busy - server - bench - postgres).max(0.0),
            idle: (cores() as f64 - busy).max(0.0),
        }
    }
}

/// Average cores used over a phase.
struct CpuUse {
    secs: f64,
    server: f64,
    bench: f64,
    postgres: f64,
    other: f64,
    idle: f64,
}

impl std::fmt::Display for CpuUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CPU over {:.1} s, in cores of {}: flowo serve {:.2}, PostgreSQL backends of this \
             database {:.2}, this benchmark {:.2}, other processes {:.2}, idle {:.2}",
            self.secs,
            cores(),
            self.server,
            self.postgres,
            self.bench,
            self.other,
            self.idle
        )
    }
}

/// PostgreSQL transactions committed or rolled back in a database so far (statistics are
/// flushed by idle backends within about a second, so wait before reading).
async fn pg_transactions(url: &str) -> anyhow::Result<i64> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let n: i64 = sqlx::query_scalar(
        "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database \
         WHERE datname = current_database()",
    )
    .fetch_one(&mut conn)
    .await?;
    conn.close().await?;
    Ok(n)
}

/// Samples, every 10 ms until finished, what the client backends of the benchmark's database
/// are doing (`pg_stat_activity`): on CPU, waiting for a lock or for WAL, or idle inside a
/// transaction while flowo works.
struct Activity {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<anyhow::Result<(u64, HashMap<String, u64>)>>,
}

impl Activity {
    fn start(url: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let url = url.to_owned();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut conn = sqlx::PgConnection::connect(&url).await?;
            let mut samples = 0u64;
            let mut states: HashMap<String, u64> = HashMap::new();
            while !stopped.load(Ordering::Relaxed) {
                let rows: Vec<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
                    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid() \
                     AND backend_type = 'client backend'",
                )
                .fetch_all(&mut conn)
                .await?;
                samples += 1;
                for (state, wait_type, wait) in rows {
                    let key = match (state.as_deref(), wait_type, wait) {
                        (Some("active"), None, _) => "active on CPU".to_owned(),
                        (Some("active"), Some(t), e) => {
                            format!("active, waiting for {t}:{}", e.unwrap_or_default())
                        }
                        (Some("idle in transaction"), _, _) => {
                            "idle in transaction (waiting for flowo)".to_owned()
                        }
                        (Some(s), _, _) => s.to_owned(),
                        (None, _, _) => "unknown".to_owned(),
                    };
                    *states.entry(key).or_default() += 1;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            conn.close().await?;
            Ok((samples, states))
        });
        Self { stop, task }
    }

    /// Average backends in each state, busiest first.
    async fn finish(self) -> String {
        self.stop.store(true, Ordering::Relaxed);
        match self.task.await {
            Ok(Ok((samples, states))) if samples > 0 => {
                let mut states: Vec<(String, u64)> = states.into_iter().collect();
                states.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
                let parts: Vec<String> = states
                    .iter()
                    .map(|(k, n)| format!("{:.2} {k}", *n as f64 / samples as f64))
                    .collect();
                format!(
                    "PostgreSQL client backends of this database, on average over {samples} \
                     samples: {}",
                    parts.join(", ")
                )
            }
            Ok(Ok(_)) => "PostgreSQL activity: no samples".to_owned(),
            Ok(Err(e)) => format!("PostgreSQL activity sampling failed: {e:#}"),
            Err(e) => format!("PostgreSQL activity sampling failed: {e}"),
        }
    }
}

/// One series of the server's request histogram.
#[derive(Clone, Default)]
struct Histogram {
    /// (upper bound in seconds, cumulative count), ascending.
    buckets: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

/// The parts of `/metrics` the benchmark reads.
#[derive(Default)]
struct Metrics {
    /// By "METHOD route status".
    requests: HashMap<String, Histogram>,
    sse_clients: Option<f64>,
}

impl Metrics {
    fn parse(text: &str) -> Self {
        const H: &str = "flowo_http_request_duration_seconds";
        let mut out = Self::default();
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("flowo_sse_clients ") {
                out.sse_clients = v.trim().parse().ok();
                continue;
            }
            let Some(rest) = line.strip_prefix(H) else {
                continue;
            };
            let Some((kind, rest)) = rest.split_once('{') else {
                continue;
            };
            let Some((labels, value)) = rest.split_once("} ") else {
                continue;
            };
            let Ok(value) = value.split_whitespace().next().unwrap_or("").parse::<f64>() else {
                continue;
            };
            let label = |name: &str| {
                labels.split(',').find_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    (k.trim() == name).then(|| v.trim().trim_matches('"').to_owned())
                })
            };
            let key = format!(
                "{} {} {}",
                label("method").unwrap_or_default(),
                label("route").unwrap_or_default(),
                label("status").unwrap_or_default()
            );
            let h = out.requests.entry(key).or_default();
            match kind {
                "_bucket" => {
                    let le = match label("le").as_deref() {
                        Some("+Inf") | None => f64::INFINITY,
                        Some(s) => s.parse().unwrap_or(f64::INFINITY),
                    };
                    h.buckets.push((le, value));
                }
                "_sum" => h.sum = value,
                "_count" => h.count = value,
                _ => {}
            }
        }
        for h in out.requests.values_mut() {
            h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        out
    }

    /// One series' observations since `before`, printed as count, mean and bucket quantiles.
    fn describe_since(&self, before: &Self, key: &str) -> String {
        let Some(now) = self.requests.get(key) else {
            return format!("server-side {key}: no observations");
        };
        let empty = Histogram::default();
        let then = before.requests.get(key).unwrap_or(&empty);
        let count = now.count - then.count;
        if count <= 0.0 {
            return format!("server-side {key}: no observations");
        }
        let buckets: Vec<(f64, f64)> = now
            .buckets
            .iter()
            .map(|&(le, n)| {
                let old = then.buckets.iter().find(|b| b.0 == le).map_or(0.0, |b| b.1);
                (le, n - old)
            })
            .collect();
        let quantile = |q: f64| {
            buckets
                .iter()
                .find(|b| b.1 >= q * count)
                .map_or(f64::INFINITY, |b| b.0)
        };
        let bound = |s: f64| {
            if s.is_finite() {
                format!("<= {} ms", s * 1000.0)
            } else {
                "> 2.5 s".to_owned()
            }
        };
        format!(
            "server-side {key} (handler incl. auth, from /metrics): {} requests, mean {:.1} ms, \
             p50 {}, p99 {}",
            count as u64,
            (now.sum - then.sum) / count * 1000.0,
            bound(quantile(0.5)),
            bound(quantile(0.99))
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn section(title: &str, since: Instant) {
    println!(
        "\n== {title} (at {:.0} s) ==",
        since.elapsed().as_secs_f64()
    );
}

/// The soft limit on open files, from `/proc/self/limits`.
fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The final table.
#[derive(Default)]
struct Table(Vec<[String; 5]>);

impl Table {
    fn add(&mut self, figure: &str, value: String, unit: &str, target: &str, ok: Option<bool>) {
        let ok = match ok {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        self.0.push([
            figure.to_owned(),
            value,
            unit.to_owned(),
            target.to_owned(),
            ok.to_owned(),
        ]);
    }

    fn print(&self) {
        let header = ["figure", "value", "unit", "target", "ok?"].map(str::to_owned);
        let rows: Vec<&[String; 5]> = std::iter::once(&header).chain(&self.0).collect();
        let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
        let w = [width(0), width(1), width(2), width(3), width(4)];
        println!();
        for (n, r) in rows.iter().enumerate() {
            println!(
                "{:<a$}  {:>b$}  {:<c$}  {:<d$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                a = w[0],
                b = w[1],
                c = w[2],
                d = w[3]
            );
            if n == 0 {
                println!("{}", "-".repeat(w.iter().sum::<usize>() + 8));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The workload.

fn capture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/snakemake-events/large/10-large.jsonl")
}

/// One run's events as the plugin sends them: the capture's records, then `run_finished`.
fn load_template() -> anyhow::Result<Vec<EventEnvelope>> {
    let path = capture_path();
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the large capture at {}", path.display()))?;
    let placeholder = RunId(Uuid::nil());
    let mut events = flowo_core::record::envelopes_from_capture(&text, placeholder)
        .context("parsing the large capture")?;
    let last = events.last().map(|e| e.recorded_at).unwrap_or_default();
    events.push(EventEnvelope::new(
        placeholder,
        events.len() as u64,
        last,
        &Event::RunFinished(RunFinished::default()),
    ));
    Ok(events)
}

/// The ingest request body.
#[derive(serde::Serialize)]
struct Batch<'a> {
    events: &'a [EventEnvelope],
}

fn encode(events: &[EventEnvelope], gzip: bool) -> anyhow::Result<Vec<u8>> {
    let json = serde_json::to_vec(&Batch { events })?;
    if !gzip {
        return Ok(json);
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&json)?;
    Ok(enc.finish()?)
}

/// Every client's request bodies.
struct Bodies {
    per_client: Vec<Vec<Vec<u8>>>,
    runs: usize,
    events: u64,
    /// Bytes sent, and the same uncompressed.
    bytes: u64,
    json_bytes: u64,
}

/// One client's bodies, runs and JSON bytes.
type ClientBodies = (Vec<Vec<u8>>, usize, u64);

/// Builds `total` events for [`CLIENTS`] clients: runs of the template under new ids (times
/// moved back a minute per run, `first_run` numbering them), cut into batches of [`BATCH`].
fn build_bodies(
    template: &[EventEnvelope],
    total: u64,
    gzip: bool,
    first_run: usize,
) -> anyhow::Result<Bodies> {
    let per_client: Vec<u64> = (0..CLIENTS as u64)
        .map(|c| total / CLIENTS as u64 + u64::from(c < total % CLIENTS as u64))
        .collect();
    let built: Vec<anyhow::Result<ClientBodies>> = std::thread::scope(|scope| {
        let handles: Vec<_> = per_client
            .iter()
            .enumerate()
            .map(|(client, &n)| {
                scope.spawn(move || -> anyhow::Result<ClientBodies> {
                    let mut bodies = Vec::new();
                    let mut json_bytes = 0u64;
                    let mut buf: Vec<EventEnvelope> = Vec::with_capacity(BATCH);
                    let mut left = n;
                    let mut runs = 0usize;
                    let mut flush = |buf: &mut Vec<EventEnvelope>| -> anyhow::Result<()> {
                        json_bytes += serde_json::to_vec(&Batch { events: buf })?.len() as u64;
                        bodies.push(encode(buf, gzip)?);
                        buf.clear();
                        Ok(())
                    };
                    while left > 0 {
                        let run = RunId(Uuid::new_v4());
                        let index = first_run + client + runs * CLIENTS;
                        let shift = chrono::Duration::minutes(index as i64);
                        runs += 1;
                        for e in template {
                            if left == 0 {
                                break;
                            }
                            let mut e = e.clone();
                            e.run_id = run;
                            e.recorded_at -= shift;
                            buf.push(e);
                            left -= 1;
                            if buf.len() == BATCH {
                                flush(&mut buf)?;
                            }
                        }
                    }
                    if !buf.is_empty() {
                        flush(&mut buf)?;
                    }
                    Ok((bodies, runs, json_bytes))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("building bodies panicked")))
            })
            .collect()
    });
    let mut out = Bodies {
        per_client: Vec::new(),
        runs: 0,
        events: total,
        bytes: 0,
        json_bytes: 0,
    };
    for b in built {
        let (bodies, runs, json_bytes) = b?;
        out.bytes += bodies.iter().map(|b| b.len() as u64).sum::<u64>();
        out.json_bytes += json_bytes;
        out.runs += runs;
        out.per_client.push(bodies);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Phase 1: ingest.

#[derive(Default)]
struct Ingested {
    outcome: Outcome,
    requests: usize,
    skipped: usize,
    errors: usize,
    first_error: Option<String>,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Ingested {
    fn per_sec(&self) -> f64 {
        self.outcome.inserted as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Every client posts its bodies in order; all clients at once.
async fn ingest(api: &Api, bodies: Vec<Vec<Vec<u8>>>, gzip: bool, budget: Duration) -> Ingested {
    let start = Instant::now();
    let deadline = start + budget;
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|client_bodies| {
            let api = api.clone();
            tokio::spawn(async move {
                let mut r = Ingested::default();
                for body in client_bodies {
                    if Instant::now() >= deadline {
                        r.skipped += 1;
                        continue;
                    }
                    let t = Instant::now();
                    let answer = api.post(body, gzip).await;
                    r.latencies.push(t.elapsed());
                    r.requests += 1;
                    match answer {
                        Ok(o) => {
                            r.outcome.inserted += o.inserted;
                            r.outcome.duplicates += o.duplicates;
                        }
                        Err(e) => {
                            r.errors += 1;
                            r.first_error.get_or_insert_with(|| format!("{e:#}"));
                        }
                    }
                }
                r
            })
        })
        .collect();
    let mut all = Ingested::default();
    for task in tasks {
        match task.await {
            Ok(r) => {
                all.outcome.inserted += r.outcome.inserted;
                all.outcome.duplicates += r.outcome.duplicates;
                all.requests += r.requests;
                all.skipped += r.skipped;
                all.errors += r.errors;
                all.latencies.extend(r.latencies);
                if all.first_error.is_none() {
                    all.first_error = r.first_error;
                }
            }
            Err(e) => {
                all.errors += 1;
                all.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    all.elapsed = start.elapsed();
    all.latencies.sort_unstable();
    all
}

async fn ingest_phase(
    cfg: &Config,
    api: &Api,
    server: &Server,
    db_url: &str,
    template: &[EventEnvelope],
    gzip: bool,
    table: &mut Table,
) -> anyhow::Result<()> {
    let label = if gzip { "gzip" } else { "plain" };
    let build = Instant::now();
    let bodies = build_bodies(template, cfg.events, gzip, if gzip { 2_000 } else { 0 })?;
    let requests: usize = bodies.per_client.iter().map(Vec::len).sum();
    println!(
        "built {} requests ({} events in {} runs, {} per client) in {:.1} s: {:.0} MB to send \
         (avg {:.0} kB per request{})",
        thousands(requests as u64),
        thousands(bodies.events),
        bodies.runs,
        CLIENTS,
        build.elapsed().as_secs_f64(),
        bodies.bytes as f64 / 1e6,
        bodies.bytes as f64 / requests.max(1) as f64 / 1e3,
        if gzip {
            format!(
                ", {:.0} MB as JSON, ratio {:.1}",
                bodies.json_bytes as f64 / 1e6,
                bodies.json_bytes as f64 / bodies.bytes.max(1) as f64
            )
        } else {
            String::new()
        }
    );
    let before = api.metrics().await?;
    let cpu = Cpu::now(server.pid, db_url).await;
    let activity = Activity::start(db_url);
    let r = ingest(api, bodies.per_client, gzip, cfg.ingest_budget).await;
    let activity = activity.finish().await;
    let cpu = cpu.since(server.pid, db_url).await;
    let after = api.metrics().await?;
    let (p50, p99, max) = (
        percentile(&r.latencies, 0.50),
        percentile(&r.latencies, 0.99),
        r.latencies.last().copied().unwrap_or_default(),
    );
    println!(
        "{} events accepted ({} duplicates) in {:.1} s = {:.0} events/s; {} requests, {} failed{}",
        thousands(r.outcome.inserted),
        thousands(r.outcome.duplicates),
        r.elapsed.as_secs_f64(),
        r.per_sec(),
        r.requests,
        r.errors,
        if r.skipped > 0 {
            format!(
                ", {} not sent (time budget of {} s reached)",
                r.skipped,
                cfg.ingest_budget.as_secs()
            )
        } else {
            String::new()
        }
    );
    if let Some(e) = &r.first_error {
        println!("first error: {e}");
    }
    println!(
        "request latency (client): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(p50),
        ms(p99),
        ms(max)
    );
    println!(
        "{}",
        after.describe_since(&before, "POST /api/v1/events 2xx")
    );
    println!("{cpu}");
    println!("{activity}");
    println!(
        "server CPU per 1,000 events: {:.1} ms; PostgreSQL: {:.1} ms",
        cpu.server * cpu.secs * 1e6 / r.outcome.inserted.max(1) as f64,
        cpu.postgres * cpu.secs * 1e6 / r.outcome.inserted.max(1) as f64
    );
    let per_sec = r.per_sec();
    table.add(
        &format!("ingest {label}, {CLIENTS} clients x {BATCH}-event batches"),
        format!("{per_sec:.0}"),
        "events/s",
        &format!(">= {INGEST_TARGET:.0}"),
        Some(per_sec >= INGEST_TARGET && r.errors == 0),
    );
    // A failed request makes the rate meaningless: it is recorded as none.
    figures::record(
        &Figure::target(
            format!("server.ingest_http.{label}"),
            unless_failed(per_sec, r.errors),
            "events/s",
            INGEST_TARGET,
            Better::Higher,
        )
        .note(format!(
            "POST /api/v1/events on PostgreSQL, {CLIENTS} clients, batches of {BATCH}"
        )),
    );
    table.add(
        &format!("ingest {label}: request p50"),
        format!("{:.1}", ms(p50)),
        "ms",
        "",
        None,
    );
    table.add(
        &format!("ingest {label}: request p99"),
        format!("{:.1}", ms(p99)),
        "ms",
        "",
        None,
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Phase 3: a page of runs at scale.

/// A figure measured over requests some of which failed is no figure: NaN, which the figures
/// file records as a failed measurement (`flowo_testkit::figures`).
fn unless_failed(value: f64, errors: usize) -> f64 {
    if errors == 0 { value } else { f64::NAN }
}

/// Fills `runs` runs and about `jobs` jobs by SQL (`flowo_testkit::fill`, as the store's
/// benchmark does) while the server runs: the run and job queries read them like any others.
async fn fill(url: &str, runs: u64, jobs: u64) -> anyhow::Result<fill::Filled> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let workspace: Uuid = sqlx::query_scalar("SELECT id FROM workspaces WHERE name = 'default'")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    let filled = fill::pg(url, workspace, &fill::Scale { runs, jobs }).await?;
    // The fill wrote around the store: a store opened now rebuilds the rollups (the server's
    // own store reads them from the database on every query).
    let t = Instant::now();
    flowo_store::PgStore::open(url, &Default::default()).await?;
    println!("rollups rebuilt in {:.1} s", t.elapsed().as_secs_f64());
    fill::heartbeat_pg(url).await?;
    Ok(filled)
}

/// What the store runs for an administrator's unfiltered first page (`flowo-store/src/sql.rs`).
const PAGE_SQL: &str = "SELECT id, workspace_id, status, dry_run, name, description, tags, \
    workflow_id, snakemake_version, host, \"user\", command_line, workdir, snakefile, cores, \
    started_at, finished_at, last_event_at, done, total, jobs_running, jobs_succeeded, \
    jobs_failed, jobs_incomplete, jobs_planned, error_count, event_count, last_seq \
    FROM runs WHERE 1 = 1 ORDER BY started_at DESC, id DESC LIMIT 51";
const COUNT_SQL: &str = "SELECT COUNT(*) FROM runs WHERE 1 = 1";

/// `EXPLAIN (ANALYZE, BUFFERS)` of a statement: its top plan line and execution time (the best
/// of three, warm).
async fn explain(url: &str, sql: &str) -> anyhow::Result<(String, String)> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let mut best: Option<(f64, String, String)> = None;
    for _ in 0..3 {
        let lines: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"))
            .fetch_all(&mut conn)
            .await?;
        let time_line = lines
            .iter()
            .find(|l| l.contains("Execution Time"))
            .cloned()
            .unwrap_or_default();
        let t: f64 = time_line
            .split_whitespace()
            .find_map(|w| w.parse().ok())
            .unwrap_or(f64::MAX);
        let plan = lines
            .iter()
            .take(4)
            .map(|l| l.trim())
            .collect::<Vec<_>>()
            .join(" / ");
        if best.as_ref().is_none_or(|b| t < b.0) {
            best = Some((t, plan, time_line.trim().to_owned()));
        }
    }
    conn.close().await?;
    let (_, plan, time) = best.context("no plan")?;
    Ok((plan, time))
}

struct PageStats {
    latencies: Vec<Duration>,
    errors: usize,
    items: usize,
    total: Option<u64>,
}

/// `GET {path}` (a path and query under the server): 20 warm-up requests, then `n` sequential
/// ones.
async fn get_repeatedly(
    api: &Api,
    path: &str,
    n: usize,
    budget: Duration,
) -> anyhow::Result<PageStats> {
    let url = format!("{}{path}", api.base);
    let get = || api.http.get(&url).bearer_auth(&api.token).send();
    let first: serde_json::Value = get().await?.error_for_status()?.json().await?;
    let items = first["items"].as_array().map_or(0, Vec::len);
    let total = first["total"].as_u64();
    for _ in 0..20 {
        get().await?.bytes().await?;
    }
    let deadline = Instant::now() + budget;
    let mut stats = PageStats {
        latencies: Vec::with_capacity(n),
        errors: 0,
        items,
        total,
    };
    for _ in 0..n {
        if Instant::now() >= deadline {
            break;
        }
        let t = Instant::now();
        let ok = match get().await {
            Ok(resp) => resp.status().is_success() && resp.bytes().await.is_ok(),
            Err(_) => false,
        };
        stats.latencies.push(t.elapsed());
        stats.errors += usize::from(!ok);
    }
    stats.latencies.sort_unstable();
    Ok(stats)
}

async fn runs_phase(
    cfg: &Config,
    api: &Api,
    server: &Server,
    db_url: &str,
    table: &mut Table,
) -> anyhow::Result<()> {
    let t = Instant::now();
    let filled = fill(db_url, cfg.runs, cfg.jobs).await?;
    let mut conn = sqlx::PgConnection::connect(db_url).await?;
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM runs")
        .fetch_one(&mut conn)
        .await?;
    let size: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('runs')")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    println!(
        "filled {} runs and {} jobs in {:.1} s: {} runs stored, runs table {:.0} MB with \
         indexes",
        thousands(cfg.runs),
        thousands(filled.jobs),
        t.elapsed().as_secs_f64(),
        thousands(stored as u64),
        size as f64 / 1e6
    );
    // The floor under every API request: authentication (token, user, memberships) plus one
    // small query, as `GET /auth/me` does.
    {
        let url = format!("{}/api/v1/auth/me", api.base);
        let mut lat = Vec::with_capacity(200);
        for i in 0..220 {
            let t = Instant::now();
            api.http
                .get(&url)
                .bearer_auth(&api.token)
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await?;
            if i >= 20 {
                lat.push(t.elapsed());
            }
        }
        lat.sort_unstable();
        println!(
            "floor: GET /api/v1/auth/me (auth = 3 queries, plus 1): p50 {:.2} ms, p99 {:.2} ms",
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99))
        );
        table.add(
            "floor: GET /auth/me p50",
            format!("{:.2}", ms(percentile(&lat, 0.5))),
            "ms",
            "",
            None,
        );
    }
    for (label, query) in [
        ("with total", "limit=50"),
        ("total=false", "limit=50&total=false"),
    ] {
        let before = api.metrics().await?;
        let cpu = Cpu::now(server.pid, db_url).await;
        let s = get_repeatedly(
            api,
            &format!("/api/v1/runs?{query}"),
            PAGE_REQUESTS,
            Duration::from_secs(60),
        )
        .await?;
        let cpu = cpu.since(server.pid, db_url).await;
        let after = api.metrics().await?;
        let (p50, p99, max) = (
            percentile(&s.latencies, 0.50),
            percentile(&s.latencies, 0.99),
            s.latencies.last().copied().unwrap_or_default(),
        );
        println!(
            "GET /api/v1/runs?{query}: {} items, total {}; {} requests, {} failed: p50 {:.2} ms, \
             p99 {:.2} ms, max {:.2} ms",
            s.items,
            s.total.map_or("not asked".to_owned(), thousands),
            s.latencies.len(),
            s.errors,
            ms(p50),
            ms(p99),
            ms(max)
        );
        println!("{}", after.describe_since(&before, "GET /api/v1/runs 2xx"));
        println!("{cpu}");
        table.add(
            &format!(
                "runs page ({label}), {} runs: p50",
                thousands(stored as u64)
            ),
            format!("{:.2}", ms(p50)),
            "ms",
            "",
            None,
        );
        table.add(
            &format!("runs page ({label}): p99"),
            format!("{:.2}", ms(p99)),
            "ms",
            &format!("<= {PAGE_P99_TARGET_MS:.0}"),
            Some(ms(p99) <= PAGE_P99_TARGET_MS && s.errors == 0),
        );
        figures::record(
            &Figure::target(
                format!(
                    "server.runs_page.{}",
                    if query.contains("total=false") {
                        "without_total"
                    } else {
                        "with_total"
                    }
                ),
                unless_failed(ms(p99), s.errors),
                "ms p99",
                PAGE_P99_TARGET_MS,
                Better::Lower,
            )
            .note(format!(
                "GET /api/v1/runs?{query}, {} runs stored",
                thousands(stored as u64)
            )),
        );
        table.add(
            &format!("runs page ({label}): max"),
            format!("{:.2}", ms(max)),
            "ms",
            "",
            None,
        );
    }
    // The other reads at scale, on the run with the most jobs.
    let big = filled.big_run;
    for (name, what, path) in [
        ("run_detail", "run detail", format!("/api/v1/runs/{big}")),
        (
            "jobs_page",
            "jobs page",
            format!("/api/v1/runs/{big}/jobs?limit=100"),
        ),
        (
            "rule_summary",
            "rule summary",
            format!("/api/v1/runs/{big}/rules"),
        ),
        (
            "workspace_stats",
            "workspace statistics",
            "/api/v1/stats".to_owned(),
        ),
    ] {
        let s = get_repeatedly(api, &path, PAGE_REQUESTS, Duration::from_secs(60)).await?;
        let (p50, p99) = (
            percentile(&s.latencies, 0.50),
            percentile(&s.latencies, 0.99),
        );
        println!(
            "GET {path}: {} requests, {} failed: p50 {:.2} ms, p99 {:.2} ms",
            s.latencies.len(),
            s.errors,
            ms(p50),
            ms(p99)
        );
        table.add(
            &format!("{what}: p99"),
            format!("{:.2}", ms(p99)),
            "ms",
            &format!("<= {HTTP_P99_TARGET_MS:.0}"),
            Some(ms(p99) <= HTTP_P99_TARGET_MS && s.errors == 0),
        );
        figures::record(
            &Figure::target(
                format!("server.http.{name}"),
                unless_failed(ms(p99), s.errors),
                "ms p99",
                HTTP_P99_TARGET_MS,
                Better::Lower,
            )
            .note(format!(
                "GET {}, {} runs and {} jobs stored (the run: {} jobs)",
                path.replace(&big.to_string(), "{big}"),
                thousands(stored as u64),
                thousands(filled.jobs),
                thousands(
                    fill::Scale {
                        runs: cfg.runs,
                        jobs: cfg.jobs
                    }
                    .big_jobs()
                )
            )),
        );
    }
    for (what, sql) in [("page", PAGE_SQL), ("count", COUNT_SQL)] {
        match explain(db_url, sql).await {
            Ok((plan, time)) => println!("EXPLAIN ANALYZE {what}: {time}; {plan}"),
            Err(e) => println!("EXPLAIN ANALYZE {what} failed: {e:#}"),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Phase 4: live stream fan-out.

/// Finds `id:` lines in an SSE byte stream cut into arbitrary chunks.
#[derive(Default)]
struct SseIds {
    /// The start of the current line (enough for `id: <position>`).
    head: Vec<u8>,
}

impl SseIds {
    const KEEP: usize = 40;

    fn feed(&mut self, chunk: &[u8], mut on_id: impl FnMut(i64)) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let start = rest;
            // `skip_until` finds the newline with memchr and copies nothing; reading a slice
            // cannot fail.
            let Ok(n) = rest.skip_until(b'\n') else {
                break;
            };
            if n == 0 {
                break;
            }
            let complete = start[n - 1] == b'\n';
            let line = if complete {
                &start[..n - 1]
            } else {
                &start[..n]
            };
            let room = Self::KEEP.saturating_sub(self.head.len());
            self.head.extend_from_slice(&line[..line.len().min(room)]);
            if complete {
                if let Some(id) = self
                    .head
                    .strip_prefix(b"id:")
                    .and_then(|v| std::str::from_utf8(v).ok())
                    .and_then(|v| v.trim().parse().ok())
                {
                    on_id(id);
                }
                self.head.clear();
            }
        }
    }
}

#[derive(Default)]
struct SseClientResult {
    /// (stream position, arrival) of every `id:` seen.
    arrivals: Vec<(i64, Instant)>,
    bytes: u64,
    error: Option<String>,
}

/// Shared by the SSE clients.
struct SseShared {
    http: reqwest::Client,
    url: String,
    /// Read tokens of the viewers the clients belong to, `SSE_CLIENTS_PER_USER` each.
    tokens: Vec<String>,
    connected: AtomicUsize,
    failed: AtomicUsize,
    received: AtomicU64,
}

async fn sse_client(
    shared: Arc<SseShared>,
    index: usize,
    mut stop: tokio::sync::watch::Receiver<bool>,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> SseClientResult {
    let mut out = SseClientResult::default();
    let token = &shared.tokens[index / SSE_CLIENTS_PER_USER];
    let resp = shared
        .http
        .get(&shared.url)
        .bearer_auth(token)
        .header(ACCEPT, "text/event-stream")
        .send()
        .await;
    let resp = match resp {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => {
            out.error = Some(format!("HTTP {}", r.status()));
            shared.failed.fetch_add(1, Ordering::Relaxed);
            return out;
        }
        Err(e) => {
            out.error = Some(format!("{e}"));
            shared.failed.fetch_add(1, Ordering::Relaxed);
            return out;
        }
    };
    shared.connected.fetch_add(1, Ordering::Relaxed);
    drop(permit);
    let mut stream = resp.bytes_stream();
    let mut ids = SseIds::default();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            chunk = stream.next() => match chunk {
                Some(Ok(bytes)) => {
                    let now = Instant::now();
                    out.bytes += bytes.len() as u64;
                    let before = out.arrivals.len();
                    ids.feed(&bytes, |id| out.arrivals.push((id, now)));
                    let got = (out.arrivals.len() - before) as u64;
                    if got > 0 {
                        shared.received.fetch_add(got, Ordering::Relaxed);
                    }
                }
                Some(Err(e)) => {
                    out.error = Some(format!("{e}"));
                    break;
                }
                None => {
                    out.error = Some("the server ended the stream".to_owned());
                    break;
                }
            }
        }
    }
    out
}

/// Samples the server's RSS until stopped; the highest value seen (kB).
fn sample_rss(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while !stop.load(Ordering::Relaxed) {
            peak = peak.max(proc_status(pid, "VmRSS").unwrap_or(0));
            std::thread::sleep(Duration::from_millis(10));
        }
        peak.max(proc_status(pid, "VmRSS").unwrap_or(0))
    })
}

/// Live-stream clients per viewer: the server allows 32 streams per user
/// (`Limits::max_streams_per_user`), and many clients are many people's dashboards.
const SSE_CLIENTS_PER_USER: usize = 16;

/// Read tokens of `n` viewers of the default workspace, made with the CLI.
fn viewer_tokens(sandbox: &Path, db_url: &str, n: usize) -> anyhow::Result<Vec<String>> {
    (0..n)
        .map(|i| {
            let email = format!("viewer-{i}@example.org");
            cli(
                sandbox,
                db_url,
                &["user", "create", &email, "--role", "viewer"],
            )?;
            cli(
                sandbox,
                db_url,
                &["workspace", "add-member", "default", &email],
            )?;
            let out = cli(
                sandbox,
                db_url,
                &[
                    "token", "create", "--user", &email, "--name", "sse", "--scope", "read",
                ],
            )?;
            let token = out.lines().last().unwrap_or_default().trim().to_owned();
            ensure!(token.starts_with("flowo_"), "no token in {out:?}");
            Ok(token)
        })
        .collect()
}

async fn sse_phase(
    cfg: &Config,
    api: &Api,
    server: &Server,
    sandbox: &Path,
    db_url: &str,
    template: &[EventEnvelope],
    table: &mut Table,
) -> anyhow::Result<()> {
    let mut clients = cfg.sse_clients;
    if let Some(limit) = open_files_limit() {
        // This process holds one socket per client; the server inherits the same limit.
        let fit = usize::try_from(limit.saturating_sub(256)).unwrap_or(usize::MAX);
        if fit < clients {
            println!(
                "WARNING: open files limit {limit}: {fit} SSE clients instead of {clients} \
                 (raise `ulimit -n`)"
            );
            clients = fit;
        }
    }
    ensure!(
        template.len() > SSE_EVENTS,
        "the capture has fewer than {SSE_EVENTS} events"
    );
    let run = RunId(Uuid::new_v4());
    let events: Vec<EventEnvelope> = template[..=SSE_EVENTS]
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e.run_id = run;
            e
        })
        .collect();
    // The first event creates the run (a stream on an unknown run is a 404); the clients then
    // follow it from the head, so only the events posted afterwards reach them.
    api.post(encode(&events[..1], false)?, false).await?;
    let bodies: Vec<Vec<u8>> = events[1..]
        .chunks(SSE_BATCH)
        .map(|c| encode(c, false))
        .collect::<anyhow::Result<_>>()?;

    // Connect.
    let shared = Arc::new(SseShared {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(usize::MAX)
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(10))
            .build()?,
        url: format!("{}/api/v1/stream?run={run}", api.base),
        tokens: viewer_tokens(sandbox, db_url, clients.div_ceil(SSE_CLIENTS_PER_USER))?,
        connected: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        received: AtomicU64::new(0),
    });
    let rss_before = proc_status(server.pid, "VmRSS").unwrap_or(0);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let gate = Arc::new(tokio::sync::Semaphore::new(SSE_CONNECTING));
    let connect_start = Instant::now();
    let connect_deadline = connect_start + Duration::from_secs(90);
    let mut tasks = Vec::with_capacity(clients);
    for index in 0..clients {
        let permit = tokio::time::timeout_at(connect_deadline.into(), gate.clone().acquire_owned())
            .await
            .context("connecting the SSE clients took over 90 s")??;
        tasks.push(tokio::spawn(sse_client(
            shared.clone(),
            index,
            stop_rx.clone(),
            permit,
        )));
    }
    loop {
        let (ok, failed) = (
            shared.connected.load(Ordering::Relaxed),
            shared.failed.load(Ordering::Relaxed),
        );
        if ok + failed >= clients || Instant::now() >= connect_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connected = shared.connected.load(Ordering::Relaxed);
    let failed = shared.failed.load(Ordering::Relaxed);
    println!(
        "{connected} of {clients} SSE clients connected in {:.2} s ({failed} refused or failed)",
        connect_start.elapsed().as_secs_f64()
    );
    // Let the subscriptions settle and PostgreSQL's statistics catch up.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let gauge = api.metrics().await?.sse_clients;
    let rss_connected = proc_status(server.pid, "VmRSS").unwrap_or(0);
    println!(
        "server: {} live-stream clients (/metrics), {} threads, RSS {:.1} MiB before connecting, \
         {:.1} MiB connected ({:.1} kB per client)",
        gauge.map_or("?".to_owned(), |g| g.to_string()),
        proc_status(server.pid, "Threads").unwrap_or(0),
        mib(rss_before),
        mib(rss_connected),
        rss_connected.saturating_sub(rss_before) as f64 / connected.max(1) as f64
    );
    let xacts_before = pg_transactions(db_url).await.ok();

    // Post at about 1,000 events/s and wait for every client to have everything.
    let hwm_reset = reset_peak_rss(server.pid);
    let sampling = Arc::new(AtomicBool::new(false));
    let sampler = sample_rss(server.pid, sampling.clone());
    let before = api.metrics().await?;
    let cpu = Cpu::now(server.pid, db_url).await;
    let activity = Activity::start(db_url);
    let mut ticker = tokio::time::interval(SSE_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent_at = Vec::with_capacity(bodies.len());
    let mut acks = Vec::with_capacity(bodies.len());
    let posting = Instant::now();
    for body in bodies {
        ticker.tick().await;
        let t = Instant::now();
        sent_at.push(t);
        api.post(body, false).await?;
        acks.push(t.elapsed());
    }
    let posted_in = posting.elapsed();
    let expected = connected as u64 * SSE_EVENTS as u64;
    let drain_deadline = Instant::now() + cfg.drain_budget;
    while shared.received.load(Ordering::Relaxed) < expected && Instant::now() < drain_deadline {
        if tasks.iter().all(|t| t.is_finished()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let delivered_in = posting.elapsed();
    let activity = activity.finish().await;
    let cpu = cpu.since(server.pid, db_url).await;
    sampling.store(true, Ordering::Relaxed);
    let sampled_peak = sampler.join().unwrap_or(0);
    let hwm = if hwm_reset {
        proc_status(server.pid, "VmHWM").unwrap_or(0)
    } else {
        0
    };
    let peak = sampled_peak.max(hwm);
    let after = api.metrics().await?;
    let _ = stop_tx.send(true);
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await.unwrap_or_default());
    }
    drop(stop_tx);

    // Which event each position is.
    let mut conn = sqlx::PgConnection::connect(db_url).await?;
    let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT pos, seq FROM events WHERE run_id = $1")
        .bind(run.0)
        .fetch_all(&mut conn)
        .await?;
    conn.close().await?;
    let seq_of: HashMap<i64, usize> = rows
        .into_iter()
        .map(|(pos, seq)| (pos, usize::try_from(seq).unwrap_or(usize::MAX)))
        .collect();

    let batches = sent_at.len();
    let mut latencies = Vec::with_capacity(results.len() * SSE_EVENTS);
    let mut counts = Vec::with_capacity(results.len());
    let (mut duplicates, mut foreign, mut out_of_order, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    let mut first_arrival: Vec<Option<Instant>> = vec![None; batches];
    let mut last_arrival: Vec<Option<Instant>> = vec![None; batches];
    let mut errors: HashMap<String, usize> = HashMap::new();
    for r in &results {
        bytes += r.bytes;
        if let Some(e) = &r.error {
            *errors.entry(e.clone()).or_default() += 1;
        }
        let mut seen = vec![false; SSE_EVENTS + 1];
        let mut n = 0u64;
        let mut last_pos = i64::MIN;
        for &(pos, at) in &r.arrivals {
            if pos <= last_pos {
                out_of_order += 1;
            }
            last_pos = pos;
            let Some(&seq) = seq_of.get(&pos) else {
                foreign += 1;
                continue;
            };
            if seq == 0 || seq > SSE_EVENTS {
                foreign += 1;
                continue;
            }
            if seen[seq] {
                duplicates += 1;
                continue;
            }
            seen[seq] = true;
            n += 1;
            let b = (seq - 1) / SSE_BATCH;
            latencies.push(at.saturating_duration_since(sent_at[b]));
            first_arrival[b] = Some(first_arrival[b].map_or(at, |f| f.min(at)));
            last_arrival[b] = Some(last_arrival[b].map_or(at, |l| l.max(at)));
        }
        counts.push(n);
    }
    latencies.sort_unstable();
    acks.sort_unstable();
    let (min, max) = (
        counts.iter().copied().min().unwrap_or(0),
        counts.iter().copied().max().unwrap_or(0),
    );
    let complete = counts.iter().filter(|&&n| n == SSE_EVENTS as u64).count();
    let (p50, p99, lmax) = (
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
    );
    let spreads: Vec<Duration> = first_arrival
        .iter()
        .zip(&last_arrival)
        .filter_map(|(f, l)| Some(l.as_ref()?.duration_since(*f.as_ref()?)))
        .collect();
    let spread_mean = spreads.iter().sum::<Duration>() / spreads.len().max(1) as u32;
    let spread_max = spreads.iter().max().copied().unwrap_or_default();
    let total_ids: u64 = counts.iter().sum();

    println!(
        "posted {SSE_EVENTS} events in {batches} batches in {:.2} s ({:.0} events/s); POST \
         latency p50 {:.1} ms, max {:.1} ms",
        posted_in.as_secs_f64(),
        SSE_EVENTS as f64 / posted_in.as_secs_f64(),
        ms(percentile(&acks, 0.5)),
        ms(acks.last().copied().unwrap_or_default())
    );
    println!(
        "delivered {} of {} events in {:.2} s from the first POST: {complete} of {} clients got \
         all {SSE_EVENTS} (min {min}, max {max}); {duplicates} duplicates, {foreign} foreign, \
         {out_of_order} out of order",
        thousands(total_ids),
        thousands(expected),
        delivered_in.as_secs_f64(),
        results.len()
    );
    for (e, n) in &errors {
        println!("  {n} clients: {e}");
    }
    println!(
        "delivery latency (POST start -> arrival): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
         fan-out spread per batch (first to last client): mean {:.1} ms, max {:.1} ms",
        ms(p50),
        ms(p99),
        ms(lmax),
        ms(spread_mean),
        ms(spread_max)
    );
    println!(
        "received {:.0} MB ({:.0} bytes per message, {:.1} MB/s)",
        bytes as f64 / 1e6,
        bytes as f64 / total_ids.max(1) as f64,
        bytes as f64 / 1e6 / delivered_in.as_secs_f64()
    );
    println!("{cpu}");
    println!("{activity}");
    println!(
        "server RSS peak {:.1} MiB ({}); {}",
        mib(peak),
        if hwm_reset {
            "VmHWM reset before posting, and sampled every 10 ms"
        } else {
            "sampled every 10 ms"
        },
        after.describe_since(&before, "POST /api/v1/events 2xx")
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    if let (Some(b), Ok(a)) = (xacts_before, pg_transactions(db_url).await) {
        println!(
            "PostgreSQL transactions while posting and delivering: {} ({:.1} per event posted, \
             {:.2} per event delivered)",
            thousands((a - b).max(0) as u64),
            (a - b) as f64 / SSE_EVENTS as f64,
            (a - b) as f64 / total_ids.max(1) as f64
        );
    }

    table.add(
        &format!("SSE: clients connected (of {clients})"),
        connected.to_string(),
        "clients",
        &clients.to_string(),
        Some(connected == clients),
    );
    table.add(
        "SSE: events per client, min",
        min.to_string(),
        "events",
        &SSE_EVENTS.to_string(),
        Some(min == SSE_EVENTS as u64 && connected == clients),
    );
    table.add(
        "SSE: events per client, max",
        max.to_string(),
        "events",
        &SSE_EVENTS.to_string(),
        Some(max == SSE_EVENTS as u64),
    );
    table.add(
        "SSE: delivery p50",
        format!("{:.1}", ms(p50)),
        "ms",
        "",
        None,
    );
    table.add(
        "SSE: delivery p99",
        format!("{:.1}", ms(p99)),
        "ms",
        &format!("<= {SSE_P99_TARGET_MS:.0}"),
        Some(ms(p99) <= SSE_P99_TARGET_MS && min == SSE_EVENTS as u64),
    );
    table.add(
        "SSE: server peak RSS",
        format!("{:.1}", mib(peak)),
        "MiB",
        &format!("<= {SSE_RSS_TARGET_MIB:.0}"),
        Some(mib(peak) <= SSE_RSS_TARGET_MIB),
    );
    let fan_out = format!("{clients} clients on one run, about 1,000 events/s");
    figures::record(
        &Figure::target(
            "server.sse.events_per_client_min",
            min as f64,
            "events",
            SSE_EVENTS as f64,
            Better::Higher,
        )
        .note(format!(
            "{connected} of {clients} connected; every client must get every event"
        )),
    );
    figures::record(
        &Figure::target(
            "server.sse.delivery",
            ms(p99),
            "ms p99",
            SSE_P99_TARGET_MS,
            Better::Lower,
        )
        .note(fan_out.clone()),
    );
    figures::record(
        &Figure::target(
            "server.sse.peak_rss",
            mib(peak),
            "MiB",
            SSE_RSS_TARGET_MIB,
            Better::Lower,
        )
        .note(fan_out),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------

async fn run(cfg: &Config, cleanup: &Cleanup) -> anyhow::Result<()> {
    let start = Instant::now();
    println!(
        "flowo server benchmark ({} mode): {} events ingested by {CLIENTS} clients; runs page \
         over {} runs; {} SSE clients; {} cores; open files limit {}",
        if cfg.quick { "quick" } else { "full" },
        thousands(cfg.events),
        thousands(cfg.runs),
        cfg.sse_clients,
        cores(),
        open_files_limit().map_or("?".to_owned(), |n| n.to_string())
    );
    let template = load_template()?;
    println!(
        "workload: {} ({} events per run incl. run_finished)",
        capture_path().display(),
        template.len()
    );
    let sandbox = tempfile::tempdir()?;
    std::fs::create_dir_all(sandbox.path().join("home"))?;
    std::fs::create_dir_all(sandbox.path().join("config"))?;

    section("setup", start);
    let db = PgDb::create().await?;
    let db_url = db.url.clone();
    println!("database: {}", flowo_store::mask_password(&db_url));
    cleanup.set_db(db, cfg.keep);
    let sb = sandbox.path();
    cli(sb, &db_url, &["db", "migrate"])?;
    cli(
        sb,
        &db_url,
        &["user", "create", "bench@example.org", "--role", "admin"],
    )?;
    let out = cli(
        sb,
        &db_url,
        &[
            "token",
            "create",
            "--user",
            "bench@example.org",
            "--name",
            "bench",
            "--scope",
            "admin",
        ],
    )?;
    let token = out.lines().last().unwrap_or_default().trim().to_owned();
    ensure!(token.starts_with("flowo_"), "no token in {out:?}");
    let secret: String = rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(64)
        .map(char::from)
        .collect();
    let server = start_server(sb, &db_url, &secret, cleanup)?;
    let api = Api {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .build()?,
        base: server.base.clone(),
        token,
    };
    api.wait_ready().await?;
    println!(
        "flowo serve (pid {}) listening on {}",
        server.pid, server.base
    );

    let mut table = Table::default();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = proc_status(server.pid, "VmRSS").unwrap_or(0);
    println!(
        "idle after startup: RSS {:.1} MiB (anonymous {:.1} MiB, file-backed {:.1} MiB), {} \
         threads",
        mib(rss_idle),
        mib(proc_status(server.pid, "RssAnon").unwrap_or(0)),
        mib(proc_status(server.pid, "RssFile").unwrap_or(0)),
        proc_status(server.pid, "Threads").unwrap_or(0)
    );
    table.add(
        "idle RSS after startup",
        format!("{:.1}", mib(rss_idle)),
        "MiB",
        &format!("<= {IDLE_RSS_TARGET_MIB:.0}"),
        Some(mib(rss_idle) <= IDLE_RSS_TARGET_MIB),
    );
    figures::record(&Figure::target(
        "server.idle_rss.startup",
        mib(rss_idle),
        "MiB",
        IDLE_RSS_TARGET_MIB,
        Better::Lower,
    ));

    let mut ingested = false;
    for (on, gzip) in [(cfg.sections.ingest, false), (cfg.sections.gzip, true)] {
        if !on {
            continue;
        }
        section(
            &format!(
                "ingest, {} bodies: {} events, {CLIENTS} clients, batches of {BATCH}",
                if gzip { "gzip" } else { "plain JSON" },
                thousands(cfg.events)
            ),
            start,
        );
        ingest_phase(cfg, &api, &server, &db_url, &template, gzip, &mut table).await?;
        ingested = true;
    }
    if ingested {
        section("idle after ingest", start);
        let peak = proc_status(server.pid, "VmHWM").unwrap_or(0);
        let cpu = Cpu::now(server.pid, &db_url).await;
        tokio::time::sleep(cfg.settle).await;
        let rss = proc_status(server.pid, "VmRSS").unwrap_or(0);
        println!(
            "RSS {:.1} MiB {} s after the ingest (anonymous {:.1} MiB, file-backed {:.1} MiB; peak \
             so far {:.1} MiB), {} threads; {}",
            mib(rss),
            cfg.settle.as_secs(),
            mib(proc_status(server.pid, "RssAnon").unwrap_or(0)),
            mib(proc_status(server.pid, "RssFile").unwrap_or(0)),
            mib(peak),
            proc_status(server.pid, "Threads").unwrap_or(0),
            cpu.since(server.pid, &db_url).await
        );
        table.add(
            "idle RSS after ingest",
            format!("{:.1}", mib(rss)),
            "MiB",
            &format!("<= {IDLE_RSS_TARGET_MIB:.0}"),
            Some(mib(rss) <= IDLE_RSS_TARGET_MIB),
        );
        figures::record(&Figure::target(
            "server.idle_rss.after_ingest",
            mib(rss),
            "MiB",
            IDLE_RSS_TARGET_MIB,
            Better::Lower,
        ));
        table.add(
            "peak RSS during ingest",
            format!("{:.1}", mib(peak)),
            "MiB",
            "",
            None,
        );
    }
    if cfg.sections.runs {
        section(
            &format!(
                "runs and jobs at scale: {} runs and {} jobs bulk-filled by SQL",
                thousands(cfg.runs),
                thousands(cfg.jobs)
            ),
            start,
        );
        runs_phase(cfg, &api, &server, &db_url, &mut table).await?;
    }
    if cfg.sections.sse {
        section(
            &format!(
                "live stream: {} SSE clients on one run, {SSE_EVENTS} events at ~{} events/s",
                cfg.sse_clients,
                SSE_BATCH as u128 * 1000 / SSE_EVERY.as_millis()
            ),
            start,
        );
        sse_phase(cfg, &api, &server, sb, &db_url, &template, &mut table).await?;
    }

    section("summary", start);
    table.print();
    println!("\ntotal elapsed: {:.1} s", start.elapsed().as_secs_f64());
    if start.elapsed() > Duration::from_secs(if cfg.quick { 180 } else { 600 }) {
        println!("NOTE: over the time budget of this mode");
    }
    Ok(())
}

//! Store benchmark: ingest rate against the databases' physical limits, and read queries at
//! scale, on SQLite and PostgreSQL. It prints figures and targets; it never asserts timings.
//!
//! ```text
//! cargo bench -p flowo-store --bench store              # full: 1M events, 100k runs, 10M jobs
//! cargo bench -p flowo-store --bench store -- --quick   # 100k events, 10k runs, 1M jobs
//! ```
//!
//! Environment: `FLOWO_BENCH_QUICK=1` (same as `--quick`), `FLOWO_BENCH_EVENTS`,
//! `FLOWO_BENCH_RUNS`, `FLOWO_BENCH_JOBS`, `FLOWO_BENCH_REPS` (per query, default 200),
//! `FLOWO_BENCH_BACKENDS` (`sqlite,postgres`), `FLOWO_BENCH_SECTIONS`
//! (`ingest,limit,profile,concurrent,queries`; `limit` and `profile` need `ingest`),
//! `FLOWO_BENCH_BATCH` (events per append, default 500), `FLOWO_BENCH_KEEP=1` (keep the query
//! databases to inspect),
//! `FLOWO_TEST_DATABASE_URL` (the PostgreSQL server; default
//! `postgres://postgres@127.0.0.1:5432/postgres`). PostgreSQL databases are created per section
//! and dropped afterwards; an unreachable server skips the PostgreSQL sections.

mod cpu;
mod ingest;
mod limits;
mod pgdb;
mod profile;
mod queries;
mod report;
mod workload;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use flowo_core::{Store, WorkspaceId};
use flowo_store::{PgStore, SqliteStore, StoreOptions};
use flowo_testkit::figures::{self, Better, Figure};
use flowo_testkit::fill;

use crate::cpu::CpuMark;
use crate::pgdb::PgDb;
use crate::report::{Section, Summary, Verdict, rate, thousands};

/// Ingest targets, events per second.
const PG_INGEST_TARGET: f64 = 100_000.0;
const SQLITE_INGEST_TARGET: f64 = 200_000.0;
/// The store should reach this share of the raw write limit.
const LIMIT_SHARE_TARGET: f64 = 0.30;
/// Tasks of the concurrent PostgreSQL ingest.
const TASKS: usize = 4;

struct Config {
    quick: bool,
    events: u64,
    scale: fill::Scale,
    reps: queries::Reps,
    sqlite: bool,
    postgres: bool,
    ingest: bool,
    limit: bool,
    profile: bool,
    concurrent: bool,
    queries: bool,
    keep: bool,
}

fn env_u64(name: &str) -> anyhow::Result<Option<u64>> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            let n: u64 = v
                .trim()
                .replace('_', "")
                .parse()
                .with_context(|| format!("{name}={v:?} is not a number"))?;
            anyhow::ensure!(n > 0, "{name} must be positive");
            Ok(Some(n))
        }
        _ => Ok(None),
    }
}

fn env_list(name: &str, item: &str) -> bool {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.split(',').any(|s| s.trim() == item),
        _ => true,
    }
}

impl Config {
    fn load() -> anyhow::Result<Self> {
        // `cargo bench` passes `--bench`; anything else but `--quick` is ignored too.
        let quick = std::env::args().any(|a| a == "--quick")
            || std::env::var("FLOWO_BENCH_QUICK").is_ok_and(|v| v == "1" || v == "true");
        let (events, runs, jobs) = if quick {
            (100_000, 10_000, 1_000_000)
        } else {
            (1_000_000, 100_000, 10_000_000)
        };
        let runs = env_u64("FLOWO_BENCH_RUNS")?.unwrap_or(runs).max(10);
        Ok(Self {
            quick,
            events: env_u64("FLOWO_BENCH_EVENTS")?.unwrap_or(events),
            scale: fill::Scale {
                runs,
                jobs: env_u64("FLOWO_BENCH_JOBS")?.unwrap_or(jobs).max(runs),
            },
            reps: queries::Reps {
                count: env_u64("FLOWO_BENCH_REPS")?.unwrap_or(200) as usize,
                budget: Duration::from_secs(if quick { 2 } else { 5 }),
            },
            sqlite: env_list("FLOWO_BENCH_BACKENDS", "sqlite"),
            postgres: env_list("FLOWO_BENCH_BACKENDS", "postgres"),
            ingest: env_list("FLOWO_BENCH_SECTIONS", "ingest"),
            limit: env_list("FLOWO_BENCH_SECTIONS", "limit"),
            profile: env_list("FLOWO_BENCH_SECTIONS", "profile"),
            concurrent: env_list("FLOWO_BENCH_SECTIONS", "concurrent"),
            queries: env_list("FLOWO_BENCH_SECTIONS", "queries"),
            keep: std::env::var("FLOWO_BENCH_KEEP").is_ok_and(|v| v == "1"),
        })
    }
}

fn main() -> anyhow::Result<()> {
    let cfg = Config::load()?;
    if !profile::install() {
        println!("note: another tracing subscriber is installed; no statement profile");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cfg))
}

fn options() -> StoreOptions {
    StoreOptions::default()
}

async fn default_workspace(store: &dyn Store) -> anyhow::Result<WorkspaceId> {
    Ok(store
        .workspace_by_name(flowo_core::model::DEFAULT_WORKSPACE)
        .await?
        .context("the default workspace exists")?
        .id)
}

fn mb(bytes: u64) -> String {
    format!("{:.0} MB", bytes as f64 / 1e6)
}

async fn run(cfg: Config) -> anyhow::Result<()> {
    let start = Instant::now();
    println!(
        "flowo-store benchmark ({} mode): {} events ingested; queries over {} runs / {} jobs; \
         {} cores; page target {} ms judged on p99",
        if cfg.quick { "quick" } else { "full" },
        thousands(cfg.events),
        thousands(cfg.scale.runs),
        thousands(cfg.scale.jobs),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        queries::PAGE_TARGET_MS,
    );
    let template = workload::load_template()?;
    let rows = workload::Rows::new(&template);
    let bytes: usize = rows.rows.iter().map(|r| r.2.len()).sum();
    println!(
        "workload: {} ({} events per run incl. run_finished, avg {} B of data), batches of {}",
        workload::capture_path().display(),
        template.len(),
        bytes / template.len().max(1),
        workload::batch()
    );
    let postgres = cfg.postgres && PgDb::reachable().await;
    let mut summary = Summary::default();

    if cfg.ingest && cfg.sqlite {
        sqlite_ingest(&cfg, &template, &rows, &mut summary).await?;
    }
    if cfg.ingest && postgres {
        pg_ingest(&cfg, &template, &rows, &mut summary).await?;
    }
    if cfg.concurrent && postgres {
        pg_concurrent(&cfg, &template, &mut summary).await?;
    }
    if cfg.queries && cfg.sqlite {
        sqlite_queries(&cfg, &mut summary).await?;
    }
    if cfg.queries && postgres {
        pg_queries(&cfg, &mut summary).await?;
    }

    summary.print();
    println!("total elapsed: {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

async fn sqlite_ingest(
    cfg: &Config,
    template: &[flowo_core::EventEnvelope],
    rows: &workload::Rows,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("flowo.db");
    let store = SqliteStore::open(&path, &options()).await?;
    let ws = default_workspace(&store).await?;
    let ingested = {
        let _s = Section::start("ingest: SQLite (temp file, WAL)");
        let mark = CpuMark::now();
        let ingested = ingest::sequential(&store, ws, template, cfg.events).await?;
        ingested.print("SQLite store");
        mark.print_since(ingested.elapsed);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!("database file: {}", mb(size));
        ingested
    };
    if cfg.profile {
        profiled_pass(cfg, &store, ws, template).await?;
    }
    summary.add(
        "SQLite",
        "ingest (1 writer)",
        format!("{} events/s", rate(ingested.per_sec())),
        &format!(">= {} events/s", rate(SQLITE_INGEST_TARGET)),
        Verdict::of(ingested.per_sec() >= SQLITE_INGEST_TARGET),
    );
    let ingest_figure = Figure::target(
        "store.sqlite.ingest",
        ingested.per_sec(),
        "events/s",
        SQLITE_INGEST_TARGET,
        Better::Higher,
    )
    .note("1 writer, batches of 500");
    if !cfg.limit {
        figures::record(&ingest_figure);
    } else {
        let _s = Section::start("limit: SQLite prepared multi-row INSERTs of 500 rows");
        let (n, took) = limits::sqlite_insert(&path, ws.0, rows, cfg.events, true).await?;
        let limit = n as f64 / took.as_secs_f64();
        let share = ingested.per_sec() / limit;
        println!(
            "raw INSERT, 1 transaction per batch: {} rows in {:.2} s = {} rows/s; store/INSERT = {:.1}%",
            thousands(n),
            took.as_secs_f64(),
            rate(limit),
            share * 100.0
        );
        let (n, took) = limits::sqlite_insert(&path, ws.0, rows, cfg.events, false).await?;
        let single = n as f64 / took.as_secs_f64();
        println!(
            "raw INSERT, 1 transaction for all: {} rows in {:.2} s = {} rows/s; store/that = {:.1}%",
            thousands(n),
            took.as_secs_f64(),
            rate(single),
            ingested.per_sec() / single * 100.0
        );
        summary.add(
            "SQLite",
            "raw INSERT, tx per batch (limit)",
            format!("{} rows/s", rate(limit)),
            "",
            Verdict::Info,
        );
        summary.add(
            "SQLite",
            "raw INSERT, one tx",
            format!("{} rows/s", rate(single)),
            "",
            Verdict::Info,
        );
        summary.add(
            "SQLite",
            "store / raw INSERT",
            format!("{:.1}%", share * 100.0),
            ">= 30%",
            Verdict::of(share >= LIMIT_SHARE_TARGET),
        );
        figures::record(&ingest_figure.limit(limit));
        figures::record(
            &Figure::target(
                "store.sqlite.share_of_raw_insert",
                share,
                "ratio",
                LIMIT_SHARE_TARGET,
                Better::Higher,
            )
            .note("store ingest / raw multi-row INSERT of the same rows"),
        );
    }
    drop(store);
    Ok(())
}

/// A second, smaller ingest into the same store with sqlx's statement log collected, to show
/// which statements the time goes to (not timed against the targets: logging costs a little).
async fn profiled_pass(
    cfg: &Config,
    store: &dyn Store,
    ws: WorkspaceId,
    template: &[flowo_core::EventEnvelope],
) -> anyhow::Result<()> {
    let events = (cfg.events / 10).max(template.len() as u64).min(cfg.events);
    let _s = Section::start(&format!(
        "profile: {} more events with per-statement timing",
        thousands(events)
    ));
    let Some(recording) = profile::Recording::start() else {
        return Ok(());
    };
    let ingested = ingest::sequential(store, ws, template, events).await?;
    ingested.print("profiled pass");
    recording.finish("append", ingested.appends as u64);
    Ok(())
}

async fn pg_ingest(
    cfg: &Config,
    template: &[flowo_core::EventEnvelope],
    rows: &workload::Rows,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let db = PgDb::create("ingest").await?;
    let result = pg_ingest_in(cfg, &db, template, rows, summary).await;
    db.drop_db(false).await;
    result
}

async fn pg_ingest_in(
    cfg: &Config,
    db: &PgDb,
    template: &[flowo_core::EventEnvelope],
    rows: &workload::Rows,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let store = PgStore::open(&db.url, &options()).await?;
    let ws = default_workspace(&store).await?;
    let ingested = {
        let _s = Section::start("ingest: PostgreSQL (1 task)");
        let mark = CpuMark::now();
        let ingested = ingest::sequential(&store, ws, template, cfg.events).await?;
        ingested.print("PostgreSQL store");
        mark.print_since(ingested.elapsed);
        println!("database size: {}", mb(db.size().await? as u64));
        ingested
    };
    if cfg.profile {
        profiled_pass(cfg, &store, ws, template).await?;
    }
    drop(store);
    summary.add(
        "PostgreSQL",
        "ingest (1 task)",
        format!("{} events/s", rate(ingested.per_sec())),
        &format!(">= {} events/s", rate(PG_INGEST_TARGET)),
        Verdict::of(ingested.per_sec() >= PG_INGEST_TARGET),
    );
    let ingest_figure = Figure::target(
        "store.postgres.ingest",
        ingested.per_sec(),
        "events/s",
        PG_INGEST_TARGET,
        Better::Higher,
    )
    .note("1 task, batches of 500");
    if !cfg.limit {
        figures::record(&ingest_figure);
        return Ok(());
    }
    let _s = Section::start("limit: PostgreSQL COPY into an empty copy of events");
    let (n, took) = limits::pg_copy(&db.url, ws.0, rows, cfg.events, false).await?;
    let copy = n as f64 / took.as_secs_f64();
    let share = ingested.per_sec() / copy;
    println!(
        "COPY (one stream): {} rows in {:.2} s = {} rows/s; store/COPY = {:.1}%",
        thousands(n),
        took.as_secs_f64(),
        rate(copy),
        share * 100.0
    );
    let (n, took) = limits::pg_copy(&db.url, ws.0, rows, cfg.events, true).await?;
    let batched = n as f64 / took.as_secs_f64();
    println!(
        "COPY (one statement per batch of {}): {} rows in {:.2} s = {} rows/s; store/that = {:.1}%",
        workload::batch(),
        thousands(n),
        took.as_secs_f64(),
        rate(batched),
        ingested.per_sec() / batched * 100.0
    );
    summary.add(
        "PostgreSQL",
        "raw COPY, one stream (limit)",
        format!("{} rows/s", rate(copy)),
        "",
        Verdict::Info,
    );
    summary.add(
        "PostgreSQL",
        &format!("raw COPY, per {}-row batch", workload::batch()),
        format!("{} rows/s", rate(batched)),
        "",
        Verdict::Info,
    );
    summary.add(
        "PostgreSQL",
        "store / COPY",
        format!("{:.1}%", share * 100.0),
        ">= 30%",
        Verdict::of(share >= LIMIT_SHARE_TARGET),
    );
    figures::record(&ingest_figure.limit(copy));
    figures::record(
        &Figure::target(
            "store.postgres.share_of_raw_copy",
            share,
            "ratio",
            LIMIT_SHARE_TARGET,
            Better::Higher,
        )
        .note("store ingest / raw COPY of the same rows"),
    );
    Ok(())
}

async fn pg_concurrent(
    cfg: &Config,
    template: &[flowo_core::EventEnvelope],
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let db = PgDb::create("concurrent").await?;
    let result = async {
        let _s = Section::start(&format!("ingest: PostgreSQL ({TASKS} concurrent tasks)"));
        let store: Arc<dyn Store> = Arc::new(PgStore::open(&db.url, &options()).await?);
        let ws = default_workspace(&*store).await?;
        let mark = CpuMark::now();
        let ingested = ingest::concurrent(store, ws, template, cfg.events, TASKS).await?;
        ingested.print(&format!("PostgreSQL store, {TASKS} tasks"));
        mark.print_since(ingested.elapsed);
        summary.add(
            "PostgreSQL",
            &format!("ingest ({TASKS} tasks)"),
            format!("{} events/s", rate(ingested.per_sec())),
            &format!(">= {} events/s", rate(PG_INGEST_TARGET)),
            Verdict::of(ingested.per_sec() >= PG_INGEST_TARGET),
        );
        figures::record(
            &Figure::target(
                "store.postgres.ingest_concurrent",
                ingested.per_sec(),
                "events/s",
                PG_INGEST_TARGET,
                Better::Higher,
            )
            .note(format!("{TASKS} concurrent tasks")),
        );
        anyhow::Ok(())
    }
    .await;
    db.drop_db(false).await;
    result
}

async fn sqlite_queries(cfg: &Config, summary: &mut Summary) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("flowo.db");
    let ws = {
        let store = SqliteStore::open(&path, &options()).await?;
        default_workspace(&store).await?
    };
    let filled = {
        let _s = Section::start("fill: SQLite");
        let filled = fill::sqlite(&path, ws.0, &cfg.scale).await?;
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!(
            "filled {} runs, {} jobs; database file {}",
            thousands(cfg.scale.runs),
            thousands(filled.jobs),
            mb(size)
        );
        filled
    };
    {
        let _s = Section::start("queries: SQLite");
        fill::heartbeat_sqlite(&path).await?;
        // Opening the store rebuilds the rollups the fill marked stale.
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path, &options()).await?);
        queries::run_all(store, "SQLite", &filled, cfg.reps, summary).await?;
    }
    if cfg.keep {
        println!(
            "kept SQLite database: {}",
            dir.keep().join("flowo.db").display()
        );
    }
    Ok(())
}

async fn pg_queries(cfg: &Config, summary: &mut Summary) -> anyhow::Result<()> {
    let db = PgDb::create("queries").await?;
    let result = async {
        let store: Arc<dyn Store> = Arc::new(PgStore::open(&db.url, &options()).await?);
        let ws = default_workspace(&*store).await?;
        let filled = {
            let _s = Section::start("fill: PostgreSQL");
            let filled = fill::pg(&db.url, ws.0, &cfg.scale).await?;
            println!(
                "filled {} runs, {} jobs; database size {}",
                thousands(cfg.scale.runs),
                thousands(filled.jobs),
                mb(db.size().await? as u64)
            );
            filled
        };
        drop(store);
        let store: Arc<dyn Store> = {
            // Opening the store rebuilds the rollups the fill marked stale.
            let _s = Section::start("rollups: PostgreSQL");
            Arc::new(PgStore::open(&db.url, &options()).await?)
        };
        let _s = Section::start("queries: PostgreSQL");
        fill::heartbeat_pg(&db.url).await?;
        queries::run_all(store, "PostgreSQL", &filled, cfg.reps, summary).await
    }
    .await;
    db.drop_db(cfg.keep).await;
    result
}

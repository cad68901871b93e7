//! Bulk fill for the query benchmarks (the store's and the server's): many runs and jobs written by SQL straight into the tables
//! (PostgreSQL: `INSERT ... SELECT` over `generate_series`; SQLite: recursive CTEs, one
//! transaction), with realistic values and every `NOT NULL` column set.
//!
//! Shape, for `R` runs and `J` jobs: run 0 is the newest, run `R - 1` a year old (started times
//! are evenly spread with some jitter). One run (`BIG_RUN`, failed, on the first page) has
//! `J / 20` jobs; every other run 1..199 jobs (mean such that the total is about `J`). Runs are
//! 80%+ `succeeded`, 5% `failed`, 5% `running` (of which only the newest few are live, the rest
//! read as `lost`), 2% `interrupted`. Every run has tags `project-<i % 50>` and one of
//! `prod` / `dev` / `test`; every tenth also `nightly`. Names are `<pipeline>-<i:06>` over seven
//! pipelines. Jobs cycle over eleven rules; in a non-succeeded run every tenth job is `failed`,
//! `running` or `incomplete` to match the run, the rest `succeeded`. The store's rollups are
//! marked stale: a store opened afterwards rebuilds them.

use std::time::Duration;

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use uuid::Uuid;

/// Index of the run with many jobs (a failed run, so that its jobs have several statuses).
pub const BIG_RUN: u64 = 3;

/// How big to make the tables.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    /// Runs.
    pub runs: u64,
    /// Jobs, about, over all runs.
    pub jobs: u64,
}

impl Scale {
    /// Jobs of [`BIG_RUN`].
    pub fn big_jobs(&self) -> u64 {
        (self.jobs / 20).max(1)
    }

    /// The modulus of the other runs' job counts (`1 + x % m`, mean `(m + 1) / 2`).
    fn spread(&self) -> u64 {
        let rest = self.jobs.saturating_sub(self.big_jobs());
        let avg = (rest / self.runs.saturating_sub(1).max(1)).max(1);
        (2 * avg).saturating_sub(1).max(1)
    }
}

/// What the fill made, for the queries to aim at.
pub struct Filled {
    /// Jobs written.
    pub jobs: u64,
    /// The newest run with exactly 100 jobs (else the one closest to 100).
    pub run_100: Uuid,
    /// [`BIG_RUN`].
    pub big_run: Uuid,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Pg,
    Sqlite,
}

const YEAR_US: u64 = 365 * 24 * 3600 * 1_000_000;

/// Columns of the generated run list (`gen`): i, id, n, status, started, dur.
fn gen_select(d: Dialect, scale: &Scale, now_us: i64, from: &str) -> String {
    let big = scale.big_jobs();
    let spread = scale.spread();
    let step = YEAR_US / scale.runs.max(1);
    let id = match d {
        Dialect::Pg => "gen_random_uuid()",
        Dialect::Sqlite => "randomblob(16)",
    };
    format!(
        "SELECT i, {id} AS id,
            CASE WHEN i = {BIG_RUN} THEN {big} ELSE 1 + ((i * 7919 + 13) % {spread}) END AS n,
            CASE WHEN (i % 20) = 3 THEN 'failed'
                 WHEN (i % 20) = 1 THEN 'running'
                 WHEN (i % 50) = 7 THEN 'interrupted'
                 ELSE 'succeeded' END AS status,
            {now_us} - (i * {step}) - (((i * 104729) % 3600) * 1000000) AS started,
            600000000 + (((i * 7919) % 36000) * 1000000) AS dur
         FROM {from}"
    )
}

/// The `INSERT INTO runs` from `gen`.
fn runs_insert(d: Dialect, workspace: Uuid, now_us: i64) -> String {
    let (ws, nl, pad) = match d {
        Dialect::Pg => (
            format!("'{workspace}'::uuid"),
            "chr(10)",
            "lpad(i::text, 6, '0')",
        ),
        Dialect::Sqlite => (
            format!("X'{}'", workspace.simple()),
            "char(10)",
            "printf('%06d', i)",
        ),
    };
    format!(
        "INSERT INTO runs (id, workspace_id, status, dry_run, name, description, tags, workflow_id,
            snakemake_version, host, \"user\", command_line, workdir, snakefile, cores, started_at,
            finished_at, last_event_at, done, total, jobs_running, jobs_succeeded, jobs_failed,
            jobs_incomplete, jobs_planned, error_count, event_count, last_seq, search, detail,
            fold_cursor)
         SELECT id, {ws}, status, false, name, description,
            '[\"' || project || '\",\"' || env || '\"' || (CASE WHEN (i % 10) = 0 THEN ',\"nightly\"' ELSE '' END) || ']',
            NULL, '9.' || ((i % 5) + 10) || '.0', 'node' || (i % 16), usr,
            'snakemake --cores 8 --configfile config/' || pipeline || '.yaml', workdir,
            workdir || '/Snakefile', 8, started,
            CASE WHEN status = 'running' THEN NULL ELSE started + dur END,
            CASE WHEN status = 'running' AND i < 200 THEN {now_us} - ((i % 60) * 1000000)
                 WHEN status = 'running' THEN started + (dur / 2)
                 ELSE started + dur END,
            CASE WHEN status IN ('running', 'interrupted') THEN n - k ELSE n END,
            n,
            CASE WHEN status = 'running' THEN k ELSE 0 END,
            CASE WHEN status = 'succeeded' THEN n ELSE n - k END,
            CASE WHEN status = 'failed' THEN k ELSE 0 END,
            CASE WHEN status = 'interrupted' THEN k ELSE 0 END,
            0,
            CASE WHEN status = 'failed' THEN 1 + k ELSE 0 END,
            10 + (5 * n), 9 + (5 * n),
            lower(name) || {nl} || lower(workdir) || {nl}
                || (CASE WHEN description IS NULL THEN '' ELSE lower(description) || {nl} END)
                || project || {nl} || env || {nl}
                || (CASE WHEN (i % 10) = 0 THEN 'nightly' || {nl} ELSE '' END),
            '{{}}', '{{}}'
         FROM (
            SELECT s2.*, '/data/' || usr || '/' || name AS workdir FROM (
                SELECT s1.*, pipeline || '-' || {pad} AS name FROM (
                    SELECT gen.*, (n / 10) AS k,
                        CASE (i % 7) WHEN 0 THEN 'rnaseq' WHEN 1 THEN 'variant-calling'
                            WHEN 2 THEN 'chipseq' WHEN 3 THEN 'assembly' WHEN 4 THEN 'atacseq'
                            WHEN 5 THEN 'metagenomics' ELSE 'methylation' END AS pipeline,
                        'user' || (i % 40) AS usr,
                        CASE (i % 3) WHEN 0 THEN 'prod' WHEN 1 THEN 'dev' ELSE 'test' END AS env,
                        'project-' || (i % 50) AS project,
                        CASE WHEN (i % 4) = 0 THEN 'Batch ' || (i % 100) || ' reprocessing'
                             ELSE NULL END AS description
                    FROM gen
                ) s1
            ) s2
         ) s3"
    )
}

/// The `INSERT INTO run_tags` from `gen`.
const TAGS_INSERT: &str = "INSERT INTO run_tags (tag, run_id, run_started_at)
    SELECT 'project-' || (i % 50), id, started FROM gen
    UNION ALL SELECT CASE (i % 3) WHEN 0 THEN 'prod' WHEN 1 THEN 'dev' ELSE 'test' END, id, started
        FROM gen
    UNION ALL SELECT 'nightly', id, started FROM gen WHERE (i % 10) = 0";

/// The `INSERT INTO jobs` from `gen` joined with job numbers `j` (from `source`), in run id order.
fn jobs_insert(source: &str) -> String {
    format!(
        "INSERT INTO jobs (run_id, job_id, rule, status, attempts, started_at, finished_at, detail)
         SELECT g.id, j,
            CASE (j % 11) WHEN 0 THEN 'fastqc' WHEN 1 THEN 'trim' WHEN 2 THEN 'align'
                WHEN 3 THEN 'sort_bam' WHEN 4 THEN 'index_bam' WHEN 5 THEN 'mark_duplicates'
                WHEN 6 THEN 'call_variants' WHEN 7 THEN 'filter_variants' WHEN 8 THEN 'annotate'
                WHEN 9 THEN 'merge' ELSE 'multiqc' END,
            CASE WHEN (j % 10) <> 0 OR g.status = 'succeeded' THEN 'succeeded'
                 WHEN g.status = 'failed' THEN 'failed'
                 WHEN g.status = 'running' THEN 'running'
                 ELSE 'incomplete' END,
            CASE WHEN (j % 97) = 0 THEN 2 ELSE 1 END,
            g.started + ((j - 1) * (g.dur / g.n)),
            CASE WHEN (j % 10) = 0 AND g.status IN ('running', 'interrupted') THEN NULL
                 ELSE g.started + (j * (g.dur / g.n)) END,
            '{{\"wildcards\":{{\"sample\":\"S' || j || '\"}},\"input\":[\"data/S' || j
                || '.fastq.gz\"],\"output\":[\"results/S' || j || '.bam\"],\"threads\":4,'
                || '\"shellcmd\":\"bwa mem ref.fa data/S' || j || '.fastq.gz > results/S' || j
                || '.bam\"}}'
         {source}"
    )
}

const TARGETS: &str = "SELECT
    (SELECT id FROM runs WHERE total <> 0 ORDER BY abs(total - 100), started_at DESC LIMIT 1),
    (SELECT id FROM gen WHERE i = $1)";

/// Fills the PostgreSQL database at `url` (schema already migrated), then `VACUUM ANALYZE`s it as
/// autovacuum would after a bulk load.
pub async fn pg(url: &str, workspace: Uuid, scale: &Scale) -> Result<Filled, sqlx::Error> {
    let now = chrono::Utc::now().timestamp_micros();
    let mut conn = sqlx::PgConnection::connect(url).await?;
    for setting in [
        "SET synchronous_commit = off",
        "SET maintenance_work_mem = '256MB'",
        "SET work_mem = '64MB'",
    ] {
        sqlx::query(setting).execute(&mut conn).await?;
    }
    let gen_sql = gen_select(
        Dialect::Pg,
        scale,
        now,
        &format!(
            "generate_series(0::bigint, {}::bigint) AS s(i)",
            scale.runs - 1
        ),
    );
    let steps = [
        (
            "run list (temp)",
            format!("CREATE TEMP TABLE gen AS {gen_sql}"),
        ),
        ("runs", runs_insert(Dialect::Pg, workspace, now)),
        ("run_tags", TAGS_INSERT.to_owned()),
        ("rollups marked stale", ROLLUPS_STALE.to_owned()),
        (
            "jobs",
            jobs_insert(
                "FROM (SELECT * FROM gen ORDER BY id) g
                 CROSS JOIN LATERAL generate_series(1::bigint, g.n) AS s(j)",
            ),
        ),
    ];
    for (what, sql) in &steps {
        timed(what, sqlx::query(sql).execute(&mut conn)).await?;
    }
    let jobs: i64 = sqlx::query_scalar("SELECT SUM(n)::bigint FROM gen")
        .fetch_one(&mut conn)
        .await?;
    let (run_100, big_run): (Uuid, Uuid) = sqlx::query_as(TARGETS)
        .bind(BIG_RUN as i64)
        .fetch_one(&mut conn)
        .await?;
    timed(
        "VACUUM ANALYZE",
        sqlx::query("VACUUM (ANALYZE) runs, run_tags, jobs").execute(&mut conn),
    )
    .await?;
    // Flush the load now rather than have the checkpointer write it during the queries (needs
    // superuser or pg_checkpoint; skipped otherwise).
    if let Err(e) = timed("CHECKPOINT", sqlx::query("CHECKPOINT").execute(&mut conn)).await {
        println!("  (no CHECKPOINT: {e})");
    }
    conn.close().await?;
    Ok(Filled {
        jobs: jobs as u64,
        run_100,
        big_run,
    })
}

/// Fills the SQLite file at `path` (schema already migrated) in one transaction. No `ANALYZE`:
/// the store never runs it, so the planner works without statistics, as in production.
pub async fn sqlite(
    path: &std::path::Path,
    workspace: Uuid,
    scale: &Scale,
) -> Result<Filled, sqlx::Error> {
    let now = chrono::Utc::now().timestamp_micros();
    let options = SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(60))
        .pragma("cache_size", "-524288")
        .pragma("temp_store", "MEMORY");
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    let runs_cte = format!(
        "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < {}) {}",
        scale.runs,
        gen_select(Dialect::Sqlite, scale, now, "s")
    );
    let big = scale.big_jobs().max(scale.spread());
    let mut tx = conn.begin().await?;
    let steps = [
        (
            "run list (temp)",
            format!("CREATE TEMP TABLE gen AS {runs_cte}"),
        ),
        (
            "run list index",
            "CREATE INDEX temp.gen_id ON gen (id)".to_owned(),
        ),
        (
            "run list index",
            "CREATE INDEX temp.gen_i ON gen (i)".to_owned(),
        ),
        ("runs", runs_insert(Dialect::Sqlite, workspace, now)),
        ("run_tags", TAGS_INSERT.to_owned()),
        ("rollups marked stale", ROLLUPS_STALE.to_owned()),
        (
            "job numbers (temp)",
            "CREATE TEMP TABLE nums (j INTEGER PRIMARY KEY)".to_owned(),
        ),
        (
            "job numbers (temp)",
            format!(
                "WITH RECURSIVE s(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM s WHERE j < {big})
                 INSERT INTO nums SELECT j FROM s"
            ),
        ),
        (
            "jobs",
            jobs_insert(
                "FROM gen AS g INDEXED BY gen_id JOIN nums ON nums.j <= g.n ORDER BY g.id, nums.j",
            ),
        ),
    ];
    for (what, sql) in &steps {
        timed(what, sqlx::query(sql).execute(&mut *tx)).await?;
    }
    let jobs: i64 = sqlx::query_scalar("SELECT SUM(n) FROM gen")
        .fetch_one(&mut *tx)
        .await?;
    let (run_100, big_run): (Uuid, Uuid) = sqlx::query_as(TARGETS)
        .bind(BIG_RUN as i64)
        .fetch_one(&mut *tx)
        .await?;
    timed("commit", tx.commit()).await?;
    sqlx::query("DROP TABLE temp.gen")
        .execute(&mut conn)
        .await?;
    sqlx::query("DROP TABLE temp.nums")
        .execute(&mut conn)
        .await?;
    timed(
        "checkpoint",
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn),
    )
    .await?;
    conn.close().await?;
    Ok(Filled {
        jobs: jobs as u64,
        run_100,
        big_run,
    })
}

/// The rows are written around the store, so its rollups (`run_rules`, `rule_days`,
/// `run_days`) do not count them: marked stale, they are rebuilt the next time a store opens the
/// database (`flowo_store`'s `rebuild_rollups`).
const ROLLUPS_STALE: &str = "INSERT INTO settings (key, value) VALUES ('store.rollups', 'stale')
    ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// Live runs send a heartbeat every 30 s; the fill can take longer than the lost timeout, so
/// the newest `running` runs get a fresh `last_event_at` right before the queries.
const HEARTBEAT: &str = "UPDATE runs SET last_event_at = $1 WHERE id IN
    (SELECT id FROM runs WHERE status = 'running' ORDER BY started_at DESC LIMIT 10)";

/// Refreshes the newest live runs' latest event (see `HEARTBEAT`) on PostgreSQL.
pub async fn heartbeat_pg(url: &str) -> Result<(), sqlx::Error> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::query(HEARTBEAT)
        .bind(chrono::Utc::now().timestamp_micros())
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// Refreshes the newest live runs' latest event (see `HEARTBEAT`) on SQLite.
pub async fn heartbeat_sqlite(path: &std::path::Path) -> Result<(), sqlx::Error> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(Duration::from_secs(30));
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    sqlx::query(HEARTBEAT)
        .bind(chrono::Utc::now().timestamp_micros())
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// Awaits a statement and prints how long it took.
async fn timed<T>(
    what: &str,
    fut: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    let start = std::time::Instant::now();
    let out = fut.await?;
    println!("  fill {what}: {:.1} s", start.elapsed().as_secs_f64());
    Ok(out)
}

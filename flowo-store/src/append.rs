//! An append's reads and writes, written once over a backend's write transaction
//! ([`WriteTx`]): which rows an append reads, what it folds, what it writes and in which order.
//!
//! Two transactions implement it: sqlx's (PostgreSQL's appends, and the SQLite store's other
//! writes: deleting a run, rebuilding rollups, an append that finds the write lock taken), in
//! `sql_store.rs`; and the SQLite appender's `rusqlite` connection (`sqlite_write.rs`), on which
//! an SQLite append runs whole on the caller's thread, from its `BEGIN` to its `COMMIT`, without
//! a round trip to another thread. The statements both run alike are built here as [`Sql`]; a
//! backend writes the many-row statements (events, jobs) its own way.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::LazyLock;

use async_trait::async_trait;
use flowo_core::event::EventEnvelope;
use flowo_core::fold::{JobMap, RunState};
use flowo_core::rollup::RuleRollup;
use flowo_core::store::{AppendOutcome, StoreError};
use flowo_core::{Job, JobId, RunError, RunId, Timestamp, WorkspaceId};
use uuid::Uuid;

use crate::ingest::{self, Row, RunBatch};
use crate::rollups;
use crate::rows::{
    ERROR_COLUMNS, JOB_COLUMNS, ROLLUP_COLUMNS, RunStateRow, micros, rollup_values,
    run_search_text, scope_str,
};
use crate::sql::{Param, Sql};

/// Rows per multi-row statement (well under both databases' parameter limits).
pub(crate) const INSERT_CHUNK: usize = 1000;

/// A stored rollup row: its kind (0 `run_rules`, 1 `rule_days`, 2 `rule_months`), its key (run
/// or workspace), its period's first day (0 for a run), its rule and its values.
pub(crate) type RollupRow = (i64, Uuid, i64, String, i64, i64, i64, i64, i64, String);

/// Stored rollup rows by (workspace, first day of the period), then rule.
pub(crate) type PeriodRows = HashMap<(WorkspaceId, i64), HashMap<String, RuleRollup>>;

/// The statements of an append, on one backend's write transaction.
#[async_trait]
pub(crate) trait WriteTx: Send {
    /// Serializes appends to one run (PostgreSQL; SQLite's single writer needs nothing).
    async fn lock_run(&mut self, run: RunId) -> Result<(), StoreError>;

    /// The run's stored state, if it is stored.
    async fn load_state(&mut self, run: RunId) -> Result<Option<RunState>, StoreError>;

    /// Runs a query that answers one integer per row.
    async fn fetch_i64s(&mut self, sql: Sql) -> Result<Vec<i64>, StoreError>;

    /// All the run's stored events, in sequence order.
    async fn run_events(&mut self, run: RunId) -> Result<Vec<EventEnvelope>, StoreError>;

    /// The run's stored jobs among `ids` (at most [`INSERT_CHUNK`]).
    async fn fetch_jobs(&mut self, run: RunId, ids: &[JobId]) -> Result<Vec<Job>, StoreError>;

    /// Runs a query that selects [`RollupRow`]s.
    async fn fetch_rollups(&mut self, sql: Sql) -> Result<Vec<RollupRow>, StoreError>;

    /// Runs a statement that answers no rows; returns the rows it changed.
    async fn execute(&mut self, sql: Sql) -> Result<u64, StoreError>;

    /// Runs the run's upsert `run` (a statement that answers no rows) and writes the run's
    /// changed jobs, replacing the stored rows of the same jobs: in one statement where the
    /// backend can (PostgreSQL: the jobs' writes in a `WITH`), which saves a round trip.
    /// `stored` tells the jobs that have a stored row; the others have none (the run is
    /// locked, and its jobs were read), so a backend may insert them without looking.
    async fn write_run_and_jobs(
        &mut self,
        run: Sql,
        jobs: &[Job],
        stored: &Stored<'_>,
    ) -> Result<(), StoreError>;

    /// Takes the lock that orders stream positions (held to the commit), for a write that
    /// inserts no events (deleting a run, rebuilding rollups); an append takes it with its
    /// events ([`WriteTx::insert_events`]).
    async fn lock_stream(&mut self) -> Result<(), StoreError>;

    /// Whether rollup rows of several tables go in one statement (PostgreSQL, in `WITH`s;
    /// SQLite's `WITH` holds no `INSERT`).
    fn upserts_in_one_statement(&self) -> bool;

    /// Takes the lock that orders stream positions (held to the commit), tells live streams
    /// that `runs` are written and inserts an append's new events (at least one), in that
    /// order: their positions are taken under the lock.
    async fn insert_events(
        &mut self,
        workspace: WorkspaceId,
        events: &[Row<'_>],
        received_at: i64,
        runs: &[RunId],
    ) -> Result<(), StoreError>;
}

/// Whether a job of the run being written has a stored row.
pub(crate) type Stored<'a> = dyn Fn(JobId) -> bool + Sync + 'a;

/// What an append did: its counts, and the events it inserted (for the caller's hooks after
/// the commit).
pub(crate) struct Appended<'a> {
    pub outcome: AppendOutcome,
    pub inserted: Vec<Row<'a>>,
}

/// Appends a batch grouped by run (see [`ingest::group_by_run`]) inside `tx`; the caller
/// begins and commits.
pub(crate) async fn append<'a>(
    tx: &mut dyn WriteTx,
    workspace: WorkspaceId,
    groups: &[RunBatch<'a>],
    received_at: i64,
) -> Result<Appended<'a>, StoreError> {
    let mut workspace_known = false;
    let mut outcome = AppendOutcome::default();
    let mut inserted = Vec::new();
    let mut runs = Vec::new();
    let mut changes = Vec::new();
    for group in groups {
        let (new, dup, change) = append_run(tx, workspace, &mut workspace_known, group).await?;
        outcome.inserted += new.len() as u64;
        outcome.duplicates += dup;
        if !new.is_empty() {
            runs.push(group.run_id);
        }
        inserted.extend(new);
        changes.extend(change);
    }
    if !inserted.is_empty() {
        // Stream positions are taken last, so that the lock that orders them is held for as
        // short a time as possible. The rollups are written under it too: rows shared by many
        // runs (a workspace's day) are then never written by two appends at once, and a
        // rebuild (which holds it) sees no half-counted append.
        tx.insert_events(workspace, &inserted, received_at, &runs)
            .await?;
        write_rollups(tx, changes).await?;
    }
    Ok(Appended { outcome, inserted })
}

/// Folds one run's part of a batch and writes its state; returns the new events (to be
/// inserted by the caller), the number of duplicates and the run's change for the rollups.
async fn append_run<'a>(
    tx: &mut dyn WriteTx,
    workspace: WorkspaceId,
    workspace_known: &mut bool,
    batch: &RunBatch<'a>,
) -> Result<(Vec<Row<'a>>, u64, Option<rollups::RunChange>), StoreError> {
    let run_id = batch.run_id;
    tx.lock_run(run_id).await?;
    let existing = tx.load_state(run_id).await?;
    // The workspace is looked up once per append, and not at all when the run is stored in
    // it already (workspaces are never deleted).
    let in_workspace = existing.as_ref().map(|s| s.run.workspace_id == workspace);
    if in_workspace != Some(true) && !*workspace_known {
        let mut sql = Sql::new("SELECT COUNT(*) FROM workspaces WHERE id = ");
        sql.bind(Param::Uuid(workspace.0));
        if tx.fetch_i64s(sql).await?.first().copied().unwrap_or(0) == 0 {
            return Err(StoreError::NotFound(format!("workspace {workspace}")));
        }
        *workspace_known = true;
    }
    if in_workspace == Some(false) {
        return Err(StoreError::WorkspaceMismatch { run: run_id });
    }
    let stored = stored_seqs(tx, existing.as_ref(), run_id, &batch.events).await?;
    let new = ingest::without_stored(batch, &stored);
    let duplicates = batch.repeated + (batch.events.len() - new.rows.len()) as u64;
    if new.rows.is_empty() {
        return Ok((new.rows, duplicates, None));
    }
    let old = existing
        .as_ref()
        .map(|s| (s.run.tags.clone(), s.run.started_at));
    let before = existing.as_ref().map(|s| rollups::Place::of(&s.run));
    let mut state = existing.unwrap_or_else(|| RunState::new(run_id, workspace));
    // The stored jobs the batch touches, read before the fold (none after a refold, which
    // deletes them): what they added to the rollups, and which changed jobs have a row.
    let mut marks = rollups::Marks::new();
    let (jobs, changes) = if ingest::needs_refold(&state, &new.rows) {
        // A late event: fold the whole run again from its events.
        let mut all = tx.run_events(run_id).await?;
        all.extend(new.rows.iter().map(|e| e.event.clone()));
        let folded = flowo_core::fold_events(run_id, workspace, &all);
        for table in ["jobs", "run_errors"] {
            let mut sql = Sql::new(&format!("DELETE FROM {table} WHERE run_id = "));
            sql.bind(Param::Uuid(run_id.0));
            tx.execute(sql).await?;
        }
        let jobs: Vec<Job> = folded.jobs.into_values().collect();
        write_errors(tx, &folded.errors).await?;
        state = folded.state;
        let changes = rollups::JobChanges::of_all(&jobs);
        (jobs, changes)
    } else {
        let needed = ingest::jobs_needed(&state, &new.decoded);
        let jobs = load_jobs(tx, run_id, &needed).await?;
        marks = rollups::marks(jobs.values());
        let folded = ingest::fold(&mut state, jobs, &new);
        write_errors(tx, &folded.errors).await?;
        let changes = rollups::JobChanges::between(&marks, &folded.jobs);
        (folded.jobs, changes)
    };
    write_run(
        tx,
        &state,
        old.as_ref()
            .map(|(tags, started_at)| (tags.as_slice(), *started_at)),
        &jobs,
        &|id| marks.contains_key(&id),
    )
    .await?;
    let change = rollups::RunChange {
        run_id,
        before,
        after: Some(rollups::Place::of(&state.run)),
        jobs: changes,
    };
    Ok((new.rows, duplicates, Some(change)))
}

/// The batch's sequences that are stored already. Without a query where the run's state tells:
/// a new run has none, and a run that holds as many events as its highest sequence says holds
/// exactly `0..=last_seq` (sequences are unique), which is every run whose events came without
/// a gap.
async fn stored_seqs(
    tx: &mut dyn WriteTx,
    state: Option<&RunState>,
    run: RunId,
    events: &[Row<'_>],
) -> Result<HashSet<u64>, StoreError> {
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return Ok(HashSet::new());
    };
    let Some(state) = state else {
        return Ok(HashSet::new());
    };
    match state.run.last_seq {
        None => return Ok(HashSet::new()),
        Some(top) if state.run.event_count == top.saturating_add(1) => {
            return Ok(events.iter().map(|e| e.seq).filter(|s| *s <= top).collect());
        }
        Some(_) => {}
    }
    let mut sql = Sql::new("SELECT seq FROM events WHERE run_id = ");
    sql.bind(Param::Uuid(run.0)).push(" AND seq BETWEEN ");
    sql.bind(Param::I64(first.seq as i64)).push(" AND ");
    sql.bind(Param::I64(last.seq as i64));
    let seqs = tx.fetch_i64s(sql).await?;
    Ok(seqs.into_iter().map(|s| s as u64).collect())
}

/// The query of a run's jobs with these ids (at most [`INSERT_CHUNK`]), for SQLite (PostgreSQL
/// binds the ids as one array).
pub(crate) fn jobs_sql(run: RunId, ids: &[JobId]) -> Sql {
    let mut sql = Sql::new(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE run_id = "));
    sql.bind(Param::Uuid(run.0)).push(" AND job_id IN (");
    sql.bind_list(ids.iter().map(|id| Param::I64(*id as i64)));
    sql.push(")");
    sql
}

/// The run's stored jobs among `ids`.
async fn load_jobs(
    tx: &mut dyn WriteTx,
    run: RunId,
    ids: &BTreeSet<JobId>,
) -> Result<JobMap, StoreError> {
    let ids: Vec<JobId> = ids.iter().copied().collect();
    let mut jobs = JobMap::with_capacity(ids.len());
    for chunk in ids.chunks(INSERT_CHUNK) {
        for job in tx.fetch_jobs(run, chunk).await? {
            jobs.insert(job.job_id, job);
        }
    }
    Ok(jobs)
}

async fn write_errors(tx: &mut dyn WriteTx, errors: &[RunError]) -> Result<(), StoreError> {
    for chunk in errors.chunks(INSERT_CHUNK) {
        let mut sql = Sql::new(&format!("INSERT INTO run_errors ({ERROR_COLUMNS}) VALUES "));
        for (i, e) in chunk.iter().enumerate() {
            sql.push(if i > 0 { ", (" } else { "(" });
            sql.bind_list([
                Param::Uuid(e.run_id.0),
                Param::I64(e.seq as i64),
                Param::I64(micros(e.recorded_at)),
                Param::Text(scope_str(e.scope).to_owned()),
                Param::OptText(e.exception.clone()),
                Param::OptText(e.message.clone()),
                Param::OptText(e.rule.clone()),
                Param::OptI64(e.job_id.map(|j| j as i64)),
            ]);
            sql.push(")");
        }
        sql.push(" ON CONFLICT (run_id, seq) DO NOTHING");
        tx.execute(sql).await?;
    }
    Ok(())
}

/// The columns of `runs` an append writes, in the order [`write_run`] binds them.
const RUN_WRITE_COLUMNS: [&str; 31] = [
    "id",
    "workspace_id",
    "status",
    "dry_run",
    "name",
    "description",
    "tags",
    "workflow_id",
    "snakemake_version",
    "host",
    "\"user\"",
    "command_line",
    "workdir",
    "snakefile",
    "cores",
    "started_at",
    "finished_at",
    "last_event_at",
    "done",
    "total",
    "jobs_running",
    "jobs_succeeded",
    "jobs_failed",
    "jobs_incomplete",
    "jobs_planned",
    "error_count",
    "event_count",
    "last_seq",
    "search",
    "detail",
    "fold_cursor",
];

/// The run's upsert around its values, made once: `INSERT INTO runs (...) VALUES (` and
/// `) ON CONFLICT (id) DO UPDATE SET ...` (every column but the key).
static RUN_UPSERT: LazyLock<(String, String)> = LazyLock::new(|| {
    let set: Vec<String> = RUN_WRITE_COLUMNS
        .iter()
        .skip(1)
        .map(|column| format!("{column} = excluded.{column}"))
        .collect();
    (
        format!(
            "INSERT INTO runs ({}) VALUES (",
            RUN_WRITE_COLUMNS.join(", ")
        ),
        format!(") ON CONFLICT (id) DO UPDATE SET {}", set.join(", ")),
    )
});

/// Writes a run's row, its changed `jobs` (`stored` tells those with a stored row) and its
/// tag rows; `old` is the stored run's tags and start, if it was stored before.
async fn write_run(
    tx: &mut dyn WriteTx,
    state: &RunState,
    old: Option<(&[String], Option<Timestamp>)>,
    jobs: &[Job],
    stored: &Stored<'_>,
) -> Result<(), StoreError> {
    let RunStateRow {
        run: v,
        detail,
        fold_cursor,
    } = RunStateRow::from_state(state);
    let started_at = v.started_at;
    let (insert, on_conflict) = &*RUN_UPSERT;
    let mut sql = Sql::new(insert);
    sql.bind_list([
        Param::Uuid(v.id),
        Param::Uuid(v.workspace_id),
        Param::Text(v.status),
        Param::Bool(v.dry_run),
        Param::Text(v.name),
        Param::OptText(v.description),
        Param::Text(v.tags),
        Param::OptText(v.workflow_id),
        Param::OptText(v.snakemake_version),
        Param::OptText(v.host),
        Param::OptText(v.user),
        Param::OptText(v.command_line),
        Param::OptText(v.workdir),
        Param::OptText(v.snakefile),
        Param::OptI64(v.cores),
        Param::I64(v.started_at),
        Param::OptI64(v.finished_at),
        Param::I64(v.last_event_at),
        Param::I64(v.done),
        Param::I64(v.total),
        Param::I64(v.jobs_running),
        Param::I64(v.jobs_succeeded),
        Param::I64(v.jobs_failed),
        Param::I64(v.jobs_incomplete),
        Param::I64(v.jobs_planned),
        Param::I64(v.error_count),
        Param::I64(v.event_count),
        Param::OptI64(v.last_seq),
        Param::Text(run_search_text(&state.run)),
        Param::Text(detail),
        Param::Text(fold_cursor),
    ]);
    sql.push(on_conflict);
    tx.write_run_and_jobs(sql, jobs, stored).await?;
    let run = state.run.id.0;
    let tags = &state.run.tags;
    // A run not stored before has no tag rows to replace.
    let unchanged = old.map_or(tags.is_empty(), |(old_tags, _)| old_tags == tags.as_slice());
    if unchanged {
        // The tag rows keep the run's start beside them (the runs of a tag in start order,
        // from one index).
        if old.is_some_and(|(_, started)| started != state.run.started_at) && !tags.is_empty() {
            let mut sql = Sql::new("UPDATE run_tags SET run_started_at = ");
            sql.bind(Param::I64(started_at)).push(" WHERE run_id = ");
            sql.bind(Param::Uuid(run));
            tx.execute(sql).await?;
        }
        return Ok(());
    }
    let mut sql = Sql::new("DELETE FROM run_tags WHERE run_id = ");
    sql.bind(Param::Uuid(run));
    tx.execute(sql).await?;
    let mut unique: Vec<&String> = tags.iter().collect();
    unique.sort();
    unique.dedup();
    if !unique.is_empty() {
        let mut sql = Sql::new("INSERT INTO run_tags (tag, run_id, run_started_at) VALUES ");
        for (i, tag) in unique.into_iter().enumerate() {
            sql.push(if i > 0 { ", (" } else { "(" });
            sql.bind_list([
                Param::Text(tag.clone()),
                Param::Uuid(run),
                Param::I64(started_at),
            ]);
            sql.push(")");
        }
        tx.execute(sql).await?;
    }
    Ok(())
}

const ROLLUP_UPDATE: &str = "jobs_running = excluded.jobs_running, \
    jobs_succeeded = excluded.jobs_succeeded, jobs_failed = excluded.jobs_failed, \
    jobs_incomplete = excluded.jobs_incomplete, jobs_planned = excluded.jobs_planned, \
    durations = excluded.durations";

/// Rows of a rollup table to write (replacing any with the same key; `run_days` adds).
#[derive(Clone, Copy)]
pub(crate) enum Upsert<'r> {
    RunRules(&'r [(RunId, String, RuleRollup)]),
    /// `rule_days` or `rule_months`, whose period column is `column`.
    Periods {
        table: &'static str,
        column: &'static str,
        rows: &'r [((Uuid, i64, String), RuleRollup)],
    },
    RunDays(&'r [((WorkspaceId, i64, &'static str), i64)]),
}

impl<'r> Upsert<'r> {
    fn len(&self) -> usize {
        match self {
            Upsert::RunRules(rows) => rows.len(),
            Upsert::Periods { rows, .. } => rows.len(),
            Upsert::RunDays(rows) => rows.len(),
        }
    }

    /// The same rows in pieces of at most `n`.
    fn pieces(self, n: usize) -> Vec<Upsert<'r>> {
        match self {
            Upsert::RunRules(rows) => rows.chunks(n).map(Upsert::RunRules).collect(),
            Upsert::Periods {
                table,
                column,
                rows,
            } => rows
                .chunks(n)
                .map(|rows| Upsert::Periods {
                    table,
                    column,
                    rows,
                })
                .collect(),
            Upsert::RunDays(rows) => rows.chunks(n).map(Upsert::RunDays).collect(),
        }
    }

    /// Pushes the statement (`INSERT ... ON CONFLICT ...`).
    fn push(self, sql: &mut Sql) {
        let rollup = |sql: &mut Sql, r: &RuleRollup| {
            let (n1, n2, n3, n4, n5, d) = rollup_values(r);
            sql.push(", ").bind_list([
                Param::I64(n1),
                Param::I64(n2),
                Param::I64(n3),
                Param::I64(n4),
                Param::I64(n5),
                Param::Text(d),
            ]);
        };
        match self {
            Upsert::RunRules(rows) => {
                sql.push(&format!(
                    "INSERT INTO run_rules (run_id, rule, {ROLLUP_COLUMNS}) VALUES "
                ));
                for (i, (run, rule, r)) in rows.iter().enumerate() {
                    sql.push(if i > 0 { ", (" } else { "(" });
                    sql.bind_list([Param::Uuid(run.0), Param::Text(rule.clone())]);
                    rollup(sql, r);
                    sql.push(")");
                }
                sql.push(&format!(
                    " ON CONFLICT (run_id, rule) DO UPDATE SET {ROLLUP_UPDATE}"
                ));
            }
            Upsert::Periods {
                table,
                column,
                rows,
            } => {
                sql.push(&format!(
                    "INSERT INTO {table} (workspace_id, {column}, rule, {ROLLUP_COLUMNS}) VALUES "
                ));
                for (i, ((ws, start, rule), r)) in rows.iter().enumerate() {
                    sql.push(if i > 0 { ", (" } else { "(" });
                    sql.bind_list([
                        Param::Uuid(*ws),
                        Param::I64(*start),
                        Param::Text(rule.clone()),
                    ]);
                    rollup(sql, r);
                    sql.push(")");
                }
                sql.push(&format!(
                    " ON CONFLICT (workspace_id, {column}, rule) DO UPDATE SET {ROLLUP_UPDATE}"
                ));
            }
            Upsert::RunDays(rows) => {
                sql.push("INSERT INTO run_days (workspace_id, day, status, runs) VALUES ");
                for (i, ((ws, day, status), n)) in rows.iter().enumerate() {
                    sql.push(if i > 0 { ", (" } else { "(" });
                    sql.bind_list([
                        Param::Uuid(ws.0),
                        Param::I64(*day),
                        Param::Text((*status).to_owned()),
                        Param::I64(*n),
                    ]);
                    sql.push(")");
                }
                sql.push(
                    " ON CONFLICT (workspace_id, day, status) DO UPDATE \
                     SET runs = run_days.runs + excluded.runs",
                );
            }
        }
    }
}

/// Writes rollup rows, in one statement where the backend takes them so: every table's rows
/// but the last in a `WITH` of its own ([`WriteTx::upserts_in_one_statement`]).
pub(crate) async fn write_upserts(
    tx: &mut dyn WriteTx,
    upserts: &[Upsert<'_>],
) -> Result<(), StoreError> {
    let upserts: Vec<Upsert<'_>> = upserts.iter().copied().filter(|u| u.len() > 0).collect();
    if tx.upserts_in_one_statement()
        && upserts.len() > 1
        && upserts.iter().all(|u| u.len() <= INSERT_CHUNK)
    {
        let mut sql = Sql::new("WITH ");
        let (last, first) = upserts.split_last().expect("more than one");
        for (i, u) in first.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push(&format!("written_{i} AS ("));
            u.push(&mut sql);
            sql.push(")");
        }
        sql.push(" ");
        last.push(&mut sql);
        tx.execute(sql).await?;
        return Ok(());
    }
    for u in upserts {
        for piece in u.pieces(INSERT_CHUNK) {
            let mut sql = Sql::new("");
            piece.push(&mut sql);
            tx.execute(sql).await?;
        }
    }
    Ok(())
}

/// The stored rollups an append changes, in one query: the runs' `run_rules` rows and the
/// `rule_days` and `rule_months` rows of the periods given.
async fn load_changed_rollups(
    tx: &mut dyn WriteTx,
    runs: &[RunId],
    days: &BTreeSet<(WorkspaceId, i64)>,
    months: &BTreeSet<(WorkspaceId, i64)>,
) -> Result<(HashMap<RunId, rollups::RunRollups>, PeriodRows, PeriodRows), StoreError> {
    let mut sql = Sql::new("");
    let mut parts = 0;
    if !runs.is_empty() {
        sql.push(&format!(
            "SELECT CAST(0 AS BIGINT), run_id, CAST(0 AS BIGINT), rule, {ROLLUP_COLUMNS} \
             FROM run_rules WHERE run_id IN ("
        ));
        sql.bind_list(runs.iter().map(|run| Param::Uuid(run.0)));
        sql.push(")");
        parts += 1;
    }
    for (table, column, which, periods) in [
        ("rule_days", "day", 1, days),
        ("rule_months", "month", 2, months),
    ] {
        if periods.is_empty() {
            continue;
        }
        if parts > 0 {
            sql.push(" UNION ALL ");
        }
        sql.push(&format!(
            "SELECT CAST({which} AS BIGINT), workspace_id, {column}, rule, {ROLLUP_COLUMNS} \
             FROM {table} WHERE "
        ));
        for (i, (ws, start)) in periods.iter().enumerate() {
            sql.push(if i > 0 {
                " OR (workspace_id = "
            } else {
                "(workspace_id = "
            });
            sql.bind(Param::Uuid(ws.0))
                .push(&format!(" AND {column} = "));
            sql.bind(Param::I64(*start)).push(")");
        }
        parts += 1;
    }
    let mut run_rows = HashMap::new();
    let mut day_rows = PeriodRows::new();
    let mut month_rows = PeriodRows::new();
    if parts == 0 {
        return Ok((run_rows, day_rows, month_rows));
    }
    for (which, key, start, rule, a, b, c, d, e, durations) in tx.fetch_rollups(sql).await? {
        let rollup = crate::rows::rollup_from((a, b, c, d, e, durations))?;
        let into = match which {
            0 => {
                run_rows
                    .entry(RunId(key))
                    .or_insert_with(rollups::RunRollups::new)
                    .insert(rule, rollup);
                continue;
            }
            1 => &mut day_rows,
            _ => &mut month_rows,
        };
        into.entry((WorkspaceId(key), start))
            .or_default()
            .insert(rule, rollup);
    }
    Ok((run_rows, day_rows, month_rows))
}

/// Writes what `changes` do to the rollup tables; called with the stream lock held. The rows
/// it changes are read first, all in one query: the periods a change touches are the days (and
/// months) of its run's places before and after.
pub(crate) async fn write_rollups(
    tx: &mut dyn WriteTx,
    changes: Vec<rollups::RunChange>,
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let known: Vec<RunId> = changes
        .iter()
        .filter(|c| c.before.is_some())
        .map(|c| c.run_id)
        .collect();
    let days: BTreeSet<(WorkspaceId, i64)> = changes
        .iter()
        .flat_map(|c| c.before.iter().chain(c.after.iter()))
        .map(|p| (p.workspace, p.day))
        .collect();
    let months = days
        .iter()
        .map(|(ws, day)| (*ws, flowo_core::rollup::month_start(*day)))
        .collect();
    let (stored, mut day_rows, mut month_rows) =
        load_changed_rollups(tx, &known, &days, &months).await?;
    let plan = rollups::plan(changes, stored);
    let (keep, gone): (Vec<_>, Vec<_>) = plan
        .run_rules
        .into_iter()
        .partition(|(_, _, r)| !r.is_empty());
    for (run, rule, _) in &gone {
        let mut sql = Sql::new("DELETE FROM run_rules WHERE run_id = ");
        sql.bind(Param::Uuid(run.0)).push(" AND rule = ");
        sql.bind(Param::Text(rule.clone()));
        tx.execute(sql).await?;
    }
    let (day_deltas, month_deltas) = rollups::by_day_and_month(plan.rule_days);
    let days = period_rows(day_deltas, &mut day_rows);
    let months = period_rows(month_deltas, &mut month_rows);
    for (table, column, (_, gone)) in [
        ("rule_days", "day", &days),
        ("rule_months", "month", &months),
    ] {
        for (ws, start, rule) in gone {
            let mut sql = Sql::new(&format!("DELETE FROM {table} WHERE workspace_id = "));
            sql.bind(Param::Uuid(*ws))
                .push(&format!(" AND {column} = "));
            sql.bind(Param::I64(*start)).push(" AND rule = ");
            sql.bind(Param::Text(rule.clone()));
            tx.execute(sql).await?;
        }
    }
    let run_days: Vec<_> = plan.run_days.into_iter().collect();
    write_upserts(
        tx,
        &[
            Upsert::RunRules(&keep),
            Upsert::Periods {
                table: "rule_days",
                column: "day",
                rows: &days.0,
            },
            Upsert::Periods {
                table: "rule_months",
                column: "month",
                rows: &months.0,
            },
            Upsert::RunDays(&run_days),
        ],
    )
    .await
}

/// A period table's rows to write and the keys of rows left empty (to delete).
type PeriodWrites = (
    Vec<((Uuid, i64, String), RuleRollup)>,
    Vec<(Uuid, i64, String)>,
);

/// A period table's rows after the deltas, given its stored rows `current` (of every period
/// with a delta).
fn period_rows(periods: rollups::PeriodDeltas, current: &mut PeriodRows) -> PeriodWrites {
    let mut upserts = Vec::new();
    let mut gone = Vec::new();
    for ((ws, start), deltas) in periods {
        let mut current = current.remove(&(ws, start)).unwrap_or_default();
        for (rule, delta) in deltas {
            let mut row = current.remove(&rule).unwrap_or_default();
            rollups::apply(&mut row, &delta);
            if row.is_empty() {
                gone.push((ws.0, start, rule));
            } else {
                upserts.push(((ws.0, start, rule), row));
            }
        }
    }
    (upserts, gone)
}

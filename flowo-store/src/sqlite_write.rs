//! The SQLite store's appends, made with `rusqlite` on a connection of their own rather than
//! statement by statement through sqlx.
//!
//! sqlx runs each statement on its connection's thread: an append of 500 events was nine to
//! eleven round trips to that thread (its `BEGIN` two, the run's state, its jobs, the writes,
//! the rollups, the `COMMIT`), each a wake-up of two threads, and sqlx copied every row it read
//! into values of its own and sent them across. The [`Appender`] is a `rusqlite` connection to
//! the same file (on the same `libsqlite3-sys` as sqlx), kept open beside sqlx's pools, with
//! the writer's settings: an append runs whole on the appending task's own thread, from its
//! `BEGIN IMMEDIATE` to its `COMMIT`, through [`LockedWrite`], the `rusqlite` side of
//! [`WriteTx`], and its statements stay prepared from one append to the next (the rows'
//! `INSERT`s by hand, `sqlite_raw.rs`, so that their texts are bound without a copy). Nothing in
//! between waits: the append's future never yields between `BEGIN` and `COMMIT`, so a caller
//! that gives up (a timeout, a closing plugin) cannot leave the transaction open.
//!
//! Only `BEGIN IMMEDIATE` could wait, for another connection's write lock (another process, or
//! this store's sqlx writer), and it must not block the task's thread for the busy timeout: it
//! is tried without waiting, and when the lock is taken the append goes through sqlx instead
//! ([`Appender::append`] answers `None`), whose connection thread waits.
//!
//! The sqlx path writes its events and jobs here too ([`insert_events`], [`write_jobs`]), on
//! sqlx's own connection handle locked out of its thread for the writes
//! ([`sqlx::sqlite::SqliteConnection::lock_handle`]). That handle is never locked twice without
//! an awaited sqlx statement between. sqlx 0.8.6's `lock_handle` sends the connection's thread
//! an unlock command and waits for the lock; called again before that thread has taken the lock
//! back, it can find the lock free, take it at once and leave its command to be read later,
//! after which a call waits for a lock the thread holds while the thread waits for a command (a
//! loop of `lock_handle` alone hung within some 6,000 turns on this project's machines; with a
//! `SELECT 1` between each, 60,000 turns did not). A statement's answer means the thread holds
//! the lock again. In an append one always comes between: the run's upsert after its jobs, the
//! rollups' and the commit after the events, the next append's begin and reads before its jobs.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use flowo_core::event::EventEnvelope;
use flowo_core::fold::RunState;
use flowo_core::store::StoreError;
use flowo_core::{Job, JobId, RunId, WorkspaceId};
use rusqlite::types::ValueRef;
use sqlx::sqlite::{LockedSqliteHandle, SqliteConnection};
use uuid::Uuid;

use crate::append::{self, Appended, RollupRow, WriteTx};
use crate::error::db;
use crate::ingest::{Row, RunBatch};
use crate::rows::{
    EVENT_COLUMNS, EVENT_INSERT_COLUMNS, EventRow, JOB_COLUMNS, JOB_UPSERT, JobRow, RUN_COLUMNS,
    RunRow, RunStateRow, Texts, micros, write_json,
};
use crate::sql::{Param, Sql};
use crate::sqlite_raw::{Binds, RawStatement};

/// Rows per prepared statement. Each statement executed has a cost of its own (for `events`,
/// whose positions are `AUTOINCREMENT`, a read and a write of `sqlite_sequence`), and each
/// prepared one a cost of parsing that grows with its rows. With statements prepared per append
/// (callgrind over the store suite's SQLite ingest, 20,000 events) 1 row per statement took
/// 815 M instructions, 8 rows 803 M, 16 771 M, 32 780 M, 64 814 M; on the appender, whose
/// statements stay prepared, 16 rows 771 M, 64 744 M, 128 753 M. A power of two: the rows left
/// after the full statements go in statements of the smaller powers of two ([`RowInserts`]).
const ROWS_PER_STATEMENT: usize = 64;

/// Statements `rusqlite` keeps prepared on the appender: an append's reads and its upserts of
/// the run and the rollups (the rows' `INSERT`s are [`RowInserts`]).
const STATEMENTS_KEPT: usize = 64;

/// The store's connection for appends. `None` once the store is closed.
pub(crate) struct Appender {
    conn: tokio::sync::Mutex<Option<Open>>,
}

/// The appender's open connection and the statements it keeps prepared by hand (declared
/// first: dropped, so finalized, before the connection closes).
struct Open {
    inserts: RowInserts,
    conn: rusqlite::Connection,
}

impl Appender {
    /// Opens the file at `path` (migrated already) with the writer's settings: no automatic
    /// checkpoints (`Checkpoints` in `sqlite.rs`), statement journals in memory. It never
    /// waits for a lock (no busy timeout): only its `BEGIN IMMEDIATE` takes one, and a lock
    /// held elsewhere sends the append through sqlx.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = rusqlite::Connection::open(path).map_err(backend)?;
        conn.busy_timeout(Duration::ZERO).map_err(backend)?;
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF; \
             PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0;",
        )
        .map_err(backend)?;
        conn.set_prepared_statement_cache_capacity(STATEMENTS_KEPT);
        Ok(Self {
            conn: tokio::sync::Mutex::new(Some(Open {
                inserts: RowInserts::default(),
                conn,
            })),
        })
    }

    /// A pragma's value on the connection (`None` once closed).
    #[cfg(test)]
    pub(crate) async fn pragma(&self, name: &str) -> Option<i64> {
        let conn = self.conn.lock().await;
        let sql = format!("PRAGMA {name}");
        conn.as_ref().map(|o| {
            o.conn
                .query_row(&sql, [], |row| row.get(0))
                .expect("pragma")
        })
    }

    /// Runs `sql` on the connection, as if an append had stopped after it.
    #[cfg(test)]
    pub(crate) async fn run(&self, sql: &str) {
        let conn = self.conn.lock().await;
        conn.as_ref()
            .expect("open")
            .conn
            .execute_batch(sql)
            .expect("run");
    }

    /// Closes the connection; appends go through sqlx from now on (which fails once the store
    /// is closed).
    pub(crate) async fn close(&self) {
        if let Some(Open { inserts, conn }) = self.conn.lock().await.take() {
            drop(inserts);
            let _ = conn.close();
        }
    }

    /// Appends a batch grouped by run in a transaction of its own; `None` when another
    /// connection holds the write lock, or the appender is closed (nothing was written: the
    /// caller appends through sqlx, which waits for the lock).
    pub(crate) async fn append<'a>(
        &self,
        workspace: WorkspaceId,
        groups: &[RunBatch<'a>],
        received_at: i64,
    ) -> Result<Option<Appended<'a>>, StoreError> {
        let mut conn = self.conn.lock().await;
        let Some(Open { inserts, conn: c }) = conn.as_mut() else {
            return Ok(None);
        };
        self.append_on(
            &mut LockedWrite { c, inserts },
            workspace,
            groups,
            received_at,
        )
        .await
    }

    async fn append_on<'a>(
        &self,
        tx: &mut LockedWrite<'_>,
        workspace: WorkspaceId,
        groups: &[RunBatch<'a>],
        received_at: i64,
    ) -> Result<Option<Appended<'a>>, StoreError> {
        if !tx.c.is_autocommit() {
            // An append that stopped half way (a panic under it) left its transaction open:
            // nothing of it was committed.
            tx.c.execute_batch("ROLLBACK").map_err(backend)?;
        }
        match tx.c.execute_batch("BEGIN IMMEDIATE") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy =>
            {
                return Ok(None);
            }
            begun => begun.map_err(backend)?,
        }
        // None of `tx`'s futures is ever pending: this runs to its end once started.
        let appended = append::append(tx, workspace, groups, received_at).await;
        let ended = match &appended {
            Ok(_) => tx.c.execute_batch("COMMIT"),
            Err(_) => tx.c.execute_batch("ROLLBACK"),
        };
        if ended.is_err() && !tx.c.is_autocommit() {
            // A `COMMIT` that failed leaves the transaction open.
            let _ = tx.c.execute_batch("ROLLBACK");
        }
        let appended = appended?;
        ended.map_err(backend)?;
        Ok(Some(appended))
    }
}

/// The appender's connection inside an append's transaction.
struct LockedWrite<'c> {
    c: &'c mut rusqlite::Connection,
    inserts: &'c mut RowInserts,
}

#[async_trait]
impl WriteTx for LockedWrite<'_> {
    /// The single writer connection serializes everything already.
    async fn lock_run(&mut self, _run: RunId) -> Result<(), StoreError> {
        Ok(())
    }

    async fn load_state(&mut self, run: RunId) -> Result<Option<RunState>, StoreError> {
        let sql = format!("SELECT {RUN_COLUMNS}, detail, fold_cursor FROM runs WHERE id = $1");
        let mut statement = self.c.prepare_cached(&sql).map_err(backend)?;
        statement
            .raw_bind_parameter(1, run.0.as_bytes().as_slice())
            .map_err(backend)?;
        let mut rows = statement.raw_query();
        let Some(row) = rows.next().map_err(backend)? else {
            return Ok(None);
        };
        run_state_row(row).map_err(backend)?.into_state().map(Some)
    }

    async fn fetch_i64s(&mut self, sql: Sql) -> Result<Vec<i64>, StoreError> {
        self.fetch(&sql, |row| row.get(0))
    }

    async fn run_events(&mut self, run: RunId) -> Result<Vec<EventEnvelope>, StoreError> {
        let mut sql = Sql::new(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE run_id = "
        ));
        sql.bind(Param::Uuid(run.0)).push(" ORDER BY seq");
        let rows = self.fetch(&sql, |row| {
            Ok(EventRow {
                pos: row.get(0)?,
                run_id: uuid(row, 1)?,
                seq: row.get(2)?,
                workspace_id: uuid(row, 3)?,
                kind: row.get(4)?,
                recorded_at: row.get(5)?,
                received_at: row.get(6)?,
                data: row.get(7)?,
            })
        })?;
        rows.into_iter()
            .map(|r| r.into_event().map(|e| e.envelope))
            .collect()
    }

    async fn fetch_jobs(&mut self, run: RunId, ids: &[JobId]) -> Result<Vec<Job>, StoreError> {
        let sql = crate::append::jobs_sql(run, ids);
        let rows = self.fetch(&sql, |row| {
            Ok(JobRow {
                run_id: uuid(row, 0)?,
                job_id: row.get(1)?,
                rule: row.get(2)?,
                status: row.get(3)?,
                attempts: row.get(4)?,
                started_at: row.get(5)?,
                finished_at: row.get(6)?,
                detail: row.get(7)?,
            })
        })?;
        rows.into_iter().map(JobRow::into_job).collect()
    }

    async fn fetch_rollups(&mut self, sql: Sql) -> Result<Vec<RollupRow>, StoreError> {
        self.fetch(&sql, |row| {
            Ok((
                row.get(0)?,
                uuid(row, 1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
                row.get(7)?,
                row.get(8)?,
                row.get(9)?,
            ))
        })
    }

    async fn execute(&mut self, sql: Sql) -> Result<u64, StoreError> {
        let mut statement = self.c.prepare_cached(&sql.text).map_err(backend)?;
        bind(&mut statement, &sql.params).map_err(backend)?;
        Ok(statement.raw_execute().map_err(backend)? as u64)
    }

    async fn write_run_and_jobs(
        &mut self,
        run: Sql,
        jobs: &[Job],
        _stored: &append::Stored<'_>,
    ) -> Result<(), StoreError> {
        self.execute(run).await?;
        write_job_rows(self.c, self.inserts, jobs).map_err(backend)
    }

    /// The write lock orders positions; commits ring the live stream.
    async fn lock_stream(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn upserts_in_one_statement(&self) -> bool {
        false
    }

    async fn insert_events(
        &mut self,
        workspace: WorkspaceId,
        events: &[Row<'_>],
        received_at: i64,
        _runs: &[RunId],
    ) -> Result<(), StoreError> {
        insert_event_rows(self.c, self.inserts, workspace, events, received_at).map_err(backend)
    }
}

impl LockedWrite<'_> {
    /// Runs a query, each row read by `read`.
    fn fetch<T>(
        &self,
        sql: &Sql,
        read: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut statement = self.c.prepare_cached(&sql.text).map_err(backend)?;
        bind(&mut statement, &sql.params).map_err(backend)?;
        let mut rows = statement.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(backend)? {
            out.push(read(row).map_err(backend)?);
        }
        Ok(out)
    }
}

/// Binds [`Param`]s as sqlx binds them for SQLite (a UUID as its 16 bytes, a bool as 0 or 1).
fn bind(statement: &mut rusqlite::Statement<'_>, params: &[Param]) -> rusqlite::Result<()> {
    for (i, p) in params.iter().enumerate() {
        let at = i + 1;
        match p {
            Param::I64(v) => statement.raw_bind_parameter(at, v)?,
            Param::Text(v) => statement.raw_bind_parameter(at, v.as_str())?,
            Param::Uuid(v) => statement.raw_bind_parameter(at, v.as_bytes().as_slice())?,
            Param::Bool(v) => statement.raw_bind_parameter(at, i64::from(*v))?,
            Param::OptI64(v) => statement.raw_bind_parameter(at, v)?,
            Param::OptText(v) => statement.raw_bind_parameter(at, v.as_deref())?,
        }
    }
    Ok(())
}

/// A UUID column (stored as its 16 bytes).
fn uuid(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Uuid> {
    let bytes = match row.get_ref(at)? {
        ValueRef::Blob(b) => b,
        other => {
            return Err(rusqlite::Error::InvalidColumnType(
                at,
                "uuid".to_owned(),
                other.data_type(),
            ));
        }
    };
    Uuid::from_slice(bytes).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(at, rusqlite::types::Type::Blob, Box::new(e))
    })
}

/// A row of [`RUN_COLUMNS`], `detail`, `fold_cursor`.
fn run_state_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunStateRow> {
    Ok(RunStateRow {
        run: RunRow {
            id: uuid(row, 0)?,
            workspace_id: uuid(row, 1)?,
            status: row.get(2)?,
            dry_run: row.get(3)?,
            name: row.get(4)?,
            description: row.get(5)?,
            tags: row.get(6)?,
            workflow_id: row.get(7)?,
            snakemake_version: row.get(8)?,
            host: row.get(9)?,
            user: row.get(10)?,
            command_line: row.get(11)?,
            workdir: row.get(12)?,
            snakefile: row.get(13)?,
            cores: row.get(14)?,
            started_at: row.get(15)?,
            finished_at: row.get(16)?,
            last_event_at: row.get(17)?,
            done: row.get(18)?,
            total: row.get(19)?,
            jobs_running: row.get(20)?,
            jobs_succeeded: row.get(21)?,
            jobs_failed: row.get(22)?,
            jobs_incomplete: row.get(23)?,
            jobs_planned: row.get(24)?,
            error_count: row.get(25)?,
            event_count: row.get(26)?,
            last_seq: row.get(27)?,
        },
        detail: row.get(28)?,
        fold_cursor: row.get(29)?,
    })
}

/// Inserts an append's new events through sqlx's connection (the caller has left out those
/// already stored).
pub(crate) async fn insert_events(
    conn: &mut SqliteConnection,
    workspace: WorkspaceId,
    events: &[Row<'_>],
    received_at: i64,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    on_sqlx_handle(conn, |c, inserts| {
        insert_event_rows(c, inserts, workspace, events, received_at)
    })
    .await
}

/// Writes jobs through sqlx's connection, replacing the stored rows of the same jobs.
pub(crate) async fn write_jobs(
    conn: &mut SqliteConnection,
    jobs: &[Job],
) -> Result<(), StoreError> {
    if jobs.is_empty() {
        return Ok(());
    }
    on_sqlx_handle(conn, |c, inserts| write_job_rows(c, inserts, jobs)).await
}

/// Runs `write` on sqlx's connection handle, locked out of its thread, with row statements
/// prepared for this call only (finalized before the handle goes back).
async fn on_sqlx_handle(
    conn: &mut SqliteConnection,
    write: impl FnOnce(&rusqlite::Connection, &mut RowInserts) -> rusqlite::Result<()>,
) -> Result<(), StoreError> {
    let mut handle = conn.lock_handle().await.map_err(db)?;
    let c = connection(&mut handle)?;
    // Declared after `c`, dropped (finalized) before it.
    let mut inserts = RowInserts::default();
    write(&c, &mut inserts).map_err(backend)
}

fn insert_event_rows(
    c: &rusqlite::Connection,
    inserts: &mut RowInserts,
    workspace: WorkspaceId,
    events: &[Row<'_>],
    received_at: i64,
) -> rusqlite::Result<()> {
    let workspace = workspace.0.as_bytes().as_slice();
    insert_rows(
        c,
        inserts,
        "events",
        EVENT_INSERT_COLUMNS,
        "",
        events,
        |b, at, e| {
            b.blob(at, e.event.run_id.0.as_bytes().as_slice());
            b.int(at + 1, e.seq as i64);
            b.blob(at + 2, workspace);
            b.text(at + 3, e.event.kind.as_str());
            b.int(at + 4, micros(e.recorded_at));
            b.int(at + 5, received_at);
            b.text(at + 6, e.data);
        },
    )
}

fn write_job_rows(
    c: &rusqlite::Connection,
    inserts: &mut RowInserts,
    jobs: &[Job],
) -> rusqlite::Result<()> {
    // The details' JSON in one buffer, bound from there.
    let details = Texts::build(jobs, |out, _, job| write_json(out, &job.detail));
    let rows: Vec<(&Job, &str)> = jobs.iter().zip(details.iter()).collect();
    insert_rows(
        c,
        inserts,
        "jobs",
        JOB_COLUMNS,
        JOB_UPSERT,
        &rows,
        |b, at, (job, detail)| {
            b.blob(at, job.run_id.0.as_bytes().as_slice());
            b.int(at + 1, job.job_id as i64);
            b.text(at + 2, job.rule.as_str());
            b.text(at + 3, job.status.as_str());
            b.int(at + 4, i64::from(job.attempts));
            b.opt_int(at + 5, job.started_at.map(micros));
            b.opt_int(at + 6, job.finished_at.map(micros));
            b.text(at + 7, detail);
        },
    )
}

/// Multi-row `INSERT` statements kept prepared, by table and rows: [`ROWS_PER_STATEMENT`] and
/// each smaller power of two, so that whatever a batch's size, no statement is parsed again
/// (a batch's last rows go in at most six more statements). Dropped before their connection.
#[derive(Default)]
pub(crate) struct RowInserts {
    kept: HashMap<(&'static str, usize), RawStatement>,
}

/// Runs `INSERT INTO table (columns) VALUES (?, ...), ... tail` over `rows`,
/// [`ROWS_PER_STATEMENT`] at a time, each row's values (one per name in `columns`, a
/// comma-separated list) bound by `bind` from the (1-based) parameter index given, without a
/// copy of their texts.
fn insert_rows<'d, T>(
    c: &rusqlite::Connection,
    inserts: &mut RowInserts,
    table: &'static str,
    columns: &str,
    tail: &str,
    rows: &'d [T],
    bind: impl Fn(&mut Binds<'d>, usize, &'d T),
) -> rusqlite::Result<()> {
    let width = columns.split(',').count();
    let mut rest = rows;
    while !rest.is_empty() {
        // The largest statement that the rows left fill.
        let n = if rest.len() >= ROWS_PER_STATEMENT {
            ROWS_PER_STATEMENT
        } else {
            1 << rest.len().ilog2()
        };
        let (chunk, after) = rest.split_at(n);
        let statement = match inserts.kept.entry((table, n)) {
            Entry::Occupied(kept) => kept.into_mut(),
            Entry::Vacant(slot) => {
                let row = format!("({})", vec!["?"; width].join(", "));
                let sql = format!(
                    "INSERT INTO {table} ({columns}) VALUES {} {tail}",
                    vec![row; n].join(", ")
                );
                slot.insert(RawStatement::prepare(c, &sql)?)
            }
        };
        statement.execute(|b| {
            for (i, row) in chunk.iter().enumerate() {
                bind(b, i * width + 1, row);
            }
        })?;
        rest = after;
    }
    Ok(())
}

/// A `rusqlite` connection over the locked handle; it must be dropped before `handle`.
fn connection(handle: &mut LockedSqliteHandle<'_>) -> Result<rusqlite::Connection, StoreError> {
    let raw = handle.as_raw_handle().as_ptr();
    // SAFETY: `raw` is the open connection sqlx's worker thread owns, locked out of that thread
    // while `handle` lives; every caller drops the connection returned before `handle`.
    // `from_handle` does not take ownership: dropping the connection finalizes only the
    // statements it prepared and leaves the database open, in whatever transaction it was.
    #[allow(unsafe_code)]
    unsafe { rusqlite::Connection::from_handle(raw) }.map_err(backend)
}

/// A `rusqlite` error as a store error. An append meets no unique key already taken (it leaves
/// out the events stored, and upserts the other rows), so any error is the backend's.
fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

#[cfg(test)]
mod tests {
    use super::{ROWS_PER_STATEMENT, RowInserts, insert_rows};

    /// Rows of any number go in once each and in order, in the statements of
    /// [`ROWS_PER_STATEMENT`] rows and of smaller powers of two, which are kept prepared: at
    /// most one per size, whatever the sizes of the batches.
    #[test]
    fn rows_of_any_number_go_in_once_in_order() {
        let c = rusqlite::Connection::open_in_memory().expect("open");
        c.execute_batch(
            "CREATE TABLE r (pos INTEGER PRIMARY KEY, k INTEGER NOT NULL, s TEXT NOT NULL)",
        )
        .expect("table");
        let mut inserts = RowInserts::default();
        let mut next = 0i64;
        for n in [1usize, 2, 3, 5, 63, 64, 65, 127, 128, 129, 200, 0, 7] {
            let rows: Vec<(i64, String)> = (0..n as i64)
                .map(|i| (next + i, format!("row {}", next + i)))
                .collect();
            insert_rows(&c, &mut inserts, "r", "k, s", "", &rows, |b, at, (k, s)| {
                b.int(at, *k);
                b.text(at + 1, s);
            })
            .expect("insert");
            next += n as i64;
        }
        let stored: Vec<(i64, String)> = c
            .prepare("SELECT k, s FROM r ORDER BY pos")
            .expect("select")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows");
        let expected: Vec<(i64, String)> = (0..next).map(|k| (k, format!("row {k}"))).collect();
        assert_eq!(stored, expected);
        let sizes = ROWS_PER_STATEMENT.ilog2() as usize + 1;
        assert_eq!(
            inserts.kept.len(),
            sizes,
            "one statement per power of two up to the full one"
        );
    }
}

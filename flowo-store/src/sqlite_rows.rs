//! The SQLite writer's many-row writes (an append's events and changed jobs), made with
//! `rusqlite` on the connection's own handle rather than through sqlx.
//!
//! sqlx runs each statement on the connection's thread: an append's rows went as multi-row
//! `INSERT`s of up to 1,000 rows, each built as text, its values bound one by one into sqlx's
//! argument list, sent to the thread, parsed there (a statement of 500 rows of 7 values is a
//! long one) and bound again into SQLite. Here the writer's handle is locked out of that thread
//! for the length of the writes ([`sqlx::sqlite::SqliteConnection::lock_handle`], one round
//! trip) and `rusqlite`, on the same `libsqlite3-sys` as sqlx, binds the rows straight into
//! short prepared statements of [`ROWS_PER_STATEMENT`] rows. The writes stay inside the
//! append's transaction, which sqlx still owns, and run on the appending task's own thread, as
//! its fold does (in the store suite's SQLite ingest, appends of 500 events, these writes
//! took a median 1.0 ms of an append's 2.8 ms: 0.55 ms the events, 0.44 ms the jobs).
//!
//! The handle is never locked twice without an awaited sqlx statement between. sqlx 0.8.6's
//! `lock_handle` sends the connection's thread an unlock command and waits for the lock; called
//! again before that thread has taken the lock back, it can find the lock free, take it at
//! once and leave its command to be read later, after which a call waits for a lock the thread
//! holds while the thread waits for a command (a loop of `lock_handle` alone hung within some
//! 6,000 turns on this project's machines; with a `SELECT 1` between each, 60,000 turns did
//! not). A statement's answer means the thread holds the lock again. In an append one always
//! comes between: the run's upsert after its jobs, the rollups' and the commit after the
//! events, the next append's begin and reads before its jobs.

use flowo_core::store::StoreError;
use flowo_core::{Job, WorkspaceId};
use sqlx::sqlite::{LockedSqliteHandle, SqliteConnection};

use crate::error::db;
use crate::ingest::Row;
use crate::rows::{EVENT_INSERT_COLUMNS, JOB_COLUMNS, JOB_UPSERT, micros, to_json};

/// Rows per prepared statement. Each statement executed has a cost of its own (for `events`,
/// whose positions are `AUTOINCREMENT`, a read and a write of `sqlite_sequence`), and each
/// prepared one a cost of parsing that grows with its rows (statements live for one append):
/// over the store suite's SQLite ingest (callgrind, 20,000 events) 1 row per statement took
/// 815 M instructions, 8 rows 803 M, 16 771 M, 32 780 M, 64 814 M.
const ROWS_PER_STATEMENT: usize = 16;

/// Inserts an append's new events (the caller has left out those already stored).
pub(crate) async fn insert_events(
    conn: &mut SqliteConnection,
    workspace: WorkspaceId,
    events: &[Row<'_>],
    received_at: i64,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut handle = conn.lock_handle().await.map_err(db)?;
    with_handle(&mut handle, |c| {
        let workspace = workspace.0.as_bytes().as_slice();
        insert_rows(c, "events", EVENT_INSERT_COLUMNS, "", events, |s, at, e| {
            s.raw_bind_parameter(at, e.run_id.0.as_bytes().as_slice())?;
            s.raw_bind_parameter(at + 1, e.seq as i64)?;
            s.raw_bind_parameter(at + 2, workspace)?;
            s.raw_bind_parameter(at + 3, e.kind.as_str())?;
            s.raw_bind_parameter(at + 4, micros(e.recorded_at))?;
            s.raw_bind_parameter(at + 5, received_at)?;
            s.raw_bind_parameter(at + 6, e.data)
        })
    })
}

/// Writes jobs, replacing the stored rows of the same jobs.
pub(crate) async fn write_jobs(
    conn: &mut SqliteConnection,
    jobs: &[Job],
) -> Result<(), StoreError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let mut handle = conn.lock_handle().await.map_err(db)?;
    with_handle(&mut handle, |c| {
        insert_rows(
            c,
            "jobs",
            JOB_COLUMNS,
            &format!(" {JOB_UPSERT}"),
            jobs,
            |s, at, job| {
                s.raw_bind_parameter(at, job.run_id.0.as_bytes().as_slice())?;
                s.raw_bind_parameter(at + 1, job.job_id as i64)?;
                s.raw_bind_parameter(at + 2, job.rule.as_str())?;
                s.raw_bind_parameter(at + 3, job.status.as_str())?;
                s.raw_bind_parameter(at + 4, i64::from(job.attempts))?;
                s.raw_bind_parameter(at + 5, job.started_at.map(micros))?;
                s.raw_bind_parameter(at + 6, job.finished_at.map(micros))?;
                s.raw_bind_parameter(at + 7, to_json(&job.detail))
            },
        )
    })
}

/// Runs `INSERT INTO table (columns) VALUES (?, ...), ... tail` over `rows`,
/// [`ROWS_PER_STATEMENT`] at a time, each row's values (one per name in `columns`, a
/// comma-separated list) bound by `bind` from the (1-based) parameter index given.
fn insert_rows<T>(
    c: &rusqlite::Connection,
    table: &str,
    columns: &str,
    tail: &str,
    rows: &[T],
    bind: impl Fn(&mut rusqlite::Statement<'_>, usize, &T) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    let width = columns.split(',').count();
    let sql = |n: usize| {
        let row = format!("({})", vec!["?"; width].join(", "));
        format!(
            "INSERT INTO {table} ({columns}) VALUES {}{tail}",
            vec![row; n].join(", ")
        )
    };
    let mut full = None;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut partial;
        let statement = if chunk.len() == ROWS_PER_STATEMENT {
            match &mut full {
                Some(s) => s,
                None => full.insert(c.prepare(&sql(ROWS_PER_STATEMENT))?),
            }
        } else {
            partial = c.prepare(&sql(chunk.len()))?;
            &mut partial
        };
        for (i, row) in chunk.iter().enumerate() {
            bind(statement, i * width + 1, row)?;
        }
        statement.raw_execute()?;
    }
    Ok(())
}

/// Runs `f` with a `rusqlite` connection over the locked handle.
fn with_handle<T>(
    handle: &mut LockedSqliteHandle<'_>,
    f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
) -> Result<T, StoreError> {
    let raw = handle.as_raw_handle().as_ptr();
    // SAFETY: `raw` is the open connection sqlx's worker thread owns, locked out of that thread
    // while `handle` lives, which outlives `conn` (dropped at the end of this function).
    // `from_handle` does not take ownership: dropping `conn` finalizes only the statements it
    // prepared and leaves the connection open, in whatever transaction it was.
    #[allow(unsafe_code)]
    let conn = unsafe { rusqlite::Connection::from_handle(raw) }.map_err(backend)?;
    f(&conn).map_err(backend)
}

/// A `rusqlite` error as a store error. The writes here meet no unique key already taken (the
/// append has left out the events stored, and the jobs' rows are upserted), so any error is
/// the backend's.
fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

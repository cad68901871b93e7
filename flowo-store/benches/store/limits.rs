//! The physical limits the store's ingest is compared with: PostgreSQL's raw `COPY` of the same
//! event rows, and SQLite's plain prepared multi-row `INSERT`s of them, each into an empty copy
//! of the `events` table with the same indexes.

use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use uuid::Uuid;

use crate::cpu::CpuMark;
use crate::workload::{Rows, batch, plan, shift_of};

const COPY_COLUMNS: &str = "run_id, seq, workspace_id, kind, recorded_at, received_at, data";

/// `COPY ... FROM STDIN` of `total` event rows into a fresh `LIKE events INCLUDING ALL` table.
/// With `per_batch`, one `COPY` statement (and so one commit) per batch of [`batch`] rows of one
/// run; otherwise a single statement streaming every row.
pub async fn pg_copy(
    url: &str,
    workspace: Uuid,
    rows: &Rows,
    total: u64,
    per_batch: bool,
) -> anyhow::Result<(u64, Duration)> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let table = if per_batch {
        "events_copy_batched"
    } else {
        "events_copy"
    };
    sqlx::query(&format!("CREATE TABLE {table} (LIKE events INCLUDING ALL)"))
        .execute(&mut conn)
        .await?;
    let statement = format!("COPY {table} ({COPY_COLUMNS}) FROM STDIN (FORMAT text)");
    let sizes = plan(total, rows.rows.len());
    let received_at = chrono::Utc::now().timestamp_micros();
    let mut buf = String::with_capacity(2 << 20);
    let mut copied = 0u64;
    let mark = CpuMark::now();
    let start = Instant::now();
    if per_batch {
        for (index, n) in sizes.iter().enumerate() {
            let run = Uuid::new_v4();
            let shift = shift_of(index).num_microseconds().unwrap_or(0);
            for from in (0..*n).step_by(batch()) {
                buf.clear();
                let to = (from + batch()).min(*n);
                rows.write_copy_text(&mut buf, run, workspace, shift, received_at, from..to);
                let mut copy = conn.copy_in_raw(&statement).await?;
                copy.send(buf.as_bytes()).await?;
                copied += copy.finish().await?;
            }
        }
    } else {
        let mut copy = conn.copy_in_raw(&statement).await?;
        for (index, n) in sizes.iter().enumerate() {
            buf.clear();
            let shift = shift_of(index).num_microseconds().unwrap_or(0);
            rows.write_copy_text(
                &mut buf,
                Uuid::new_v4(),
                workspace,
                shift,
                received_at,
                0..*n,
            );
            copy.send(buf.as_bytes()).await?;
        }
        copied = copy.finish().await?;
    }
    let elapsed = start.elapsed();
    mark.print_since(elapsed);
    sqlx::query(&format!("DROP TABLE {table}"))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok((copied, elapsed))
}

/// Prepared multi-row `INSERT`s (one per batch of [`batch`] rows of one run) of `total` event rows
/// into a bare copy of `events` in the SQLite file at `path`. With `per_batch`, one transaction
/// per batch (as the store commits); otherwise one transaction for all.
pub async fn sqlite_insert(
    path: &Path,
    workspace: Uuid,
    rows: &Rows,
    total: u64,
    per_batch: bool,
) -> anyhow::Result<(u64, Duration)> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(30));
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    sqlx::query(
        "CREATE TABLE events_copy (
            pos           INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id        BLOB NOT NULL,
            seq           INTEGER NOT NULL,
            workspace_id  BLOB NOT NULL,
            kind          TEXT NOT NULL,
            recorded_at   INTEGER NOT NULL,
            received_at   INTEGER NOT NULL,
            data          TEXT NOT NULL
        )",
    )
    .execute(&mut conn)
    .await?;
    sqlx::query("CREATE UNIQUE INDEX events_copy_run_seq ON events_copy (run_id, seq)")
        .execute(&mut conn)
        .await?;
    let insert_sql = |n: usize| {
        let mut sql = format!("INSERT INTO events_copy ({COPY_COLUMNS}) VALUES ");
        for i in 0..n {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str("(?, ?, ?, ?, ?, ?, ?)");
        }
        sql
    };
    let full = insert_sql(batch());
    let sizes = plan(total, rows.rows.len());
    let received_at = chrono::Utc::now().timestamp_micros();
    let mut inserted = 0u64;
    let mark = CpuMark::now();
    let start = Instant::now();
    if !per_batch {
        sqlx::query("BEGIN").execute(&mut conn).await?;
    }
    for (index, n) in sizes.iter().enumerate() {
        let run = Uuid::new_v4();
        let shift = shift_of(index).num_microseconds().unwrap_or(0);
        for from in (0..*n).step_by(batch()) {
            let to = (from + batch()).min(*n);
            let partial;
            let sql = if to - from == batch() {
                &full
            } else {
                partial = insert_sql(to - from);
                &partial
            };
            let mut query = sqlx::query(sql);
            for (seq, kind, data, recorded) in &rows.rows[from..to] {
                query = query
                    .bind(run)
                    .bind(*seq)
                    .bind(workspace)
                    .bind(kind.as_str())
                    .bind(recorded + shift)
                    .bind(received_at)
                    .bind(data.as_str());
            }
            if per_batch {
                sqlx::query("BEGIN").execute(&mut conn).await?;
            }
            inserted += query.execute(&mut conn).await?.rows_affected();
            if per_batch {
                sqlx::query("COMMIT").execute(&mut conn).await?;
            }
        }
    }
    if !per_batch {
        sqlx::query("COMMIT").execute(&mut conn).await?;
    }
    let elapsed = start.elapsed();
    mark.print_since(elapsed);
    sqlx::query("DROP TABLE events_copy")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok((inserted, elapsed))
}

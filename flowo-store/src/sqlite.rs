//! The embedded SQLite store: one file, WAL mode, several processes may share it.
//!
//! Writes go through a single connection with `BEGIN IMMEDIATE`, so a batch never fails half
//! way on a lock upgrade; other processes wait on the file lock (busy timeout). The live stream
//! rings in-process after each commit and checks the latest position every 250 ms, which is how
//! commits by other processes (the Snakemake plugin writing while `flowo serve` reads) are seen.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::StoreOptions;
use crate::hub::Hub;

/// How often the live stream looks for commits made by other processes.
const POLL: Duration = Duration::from_millis(250);

/// The embedded store.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: sqlx::SqlitePool,
    writer: sqlx::SqlitePool,
    hub: Hub,
    lost_after: Option<chrono::Duration>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and applies migrations.
    pub async fn open(path: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(|e| {
                StoreError::Invalid(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(options.busy_timeout)
            .foreign_keys(false);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(connect.clone())
            .await
            .map_err(db)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&writer)
            .await
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(connect.read_only(false))
            .await
            .map_err(db)?;
        let hub = Hub::start(Arc::new(PoolSource(pool.clone())), POLL).await?;
        let store = Self {
            inner: Arc::new(Inner {
                pool,
                writer,
                hub,
                lost_after: options.lost_after,
                path: path.to_owned(),
            }),
        };
        store
            .ensure_workspace(flowo_core::model::DEFAULT_WORKSPACE)
            .await?;
        store.rebuild_stale_rollups().await?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn begin_write(&self) -> Result<Tx, StoreError> {
        self.inner
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db)
    }

    /// The single writer connection serializes everything already.
    async fn lock_run(&self, _tx: &mut Tx, _run: RunId) -> Result<(), StoreError> {
        Ok(())
    }

    async fn before_events(&self, _tx: &mut Tx) -> Result<(), StoreError> {
        Ok(())
    }

    async fn insert_events(
        &self,
        tx: &mut Tx,
        workspace: WorkspaceId,
        events: &[&EventEnvelope],
        received_at: i64,
    ) -> Result<(), StoreError> {
        insert_events_values(tx, workspace, events, received_at).await
    }

    async fn write_jobs(&self, tx: &mut Tx, jobs: &[Job]) -> Result<(), StoreError> {
        write_jobs_values(tx, jobs).await
    }

    async fn after_events(
        &self,
        _tx: &mut Tx,
        _workspace: WorkspaceId,
        _runs: &[RunId],
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Writes a consistent copy of the database file at `path` to `dest`, which must not exist,
/// while other processes go on reading and writing it: SQLite's `VACUUM INTO` copies one read
/// snapshot (committed transactions only) into a new, compacted file. The copy is written
/// beside `dest` and renamed into place, so `dest` is either whole or absent. The database is
/// neither migrated nor otherwise changed.
pub async fn backup(path: &Path, dest: &Path, busy_timeout: Duration) -> Result<(), StoreError> {
    if !path.is_file() {
        return Err(StoreError::NotFound(format!("database {}", path.display())));
    }
    if dest.exists() {
        return Err(StoreError::Invalid(format!(
            "{} already exists: give a new file",
            dest.display()
        )));
    }
    let dest_str = dest
        .to_str()
        .ok_or_else(|| StoreError::Invalid(format!("{} is not UTF-8", dest.display())))?;
    let partial = format!("{dest_str}.partial-{}", std::process::id());
    let connect = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .busy_timeout(busy_timeout);
    let mut conn: sqlx::SqliteConnection =
        sqlx::Connection::connect_with(&connect).await.map_err(db)?;
    let copied = sqlx::query("VACUUM INTO $1")
        .bind(&partial)
        .execute(&mut conn)
        .await
        .map_err(db);
    let _ = sqlx::Connection::close(conn).await;
    let renamed = match copied {
        Ok(_) => std::fs::rename(&partial, dest)
            .map_err(|e| StoreError::Invalid(format!("cannot write {}: {e}", dest.display()))),
        Err(e) => Err(e),
    };
    if renamed.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    renamed
}

crate::sql_store::impl_sql_store!(SqliteStore, Sqlite);
crate::accounts::impl_account_store!(SqliteStore, Sqlite);
crate::audit::impl_audit_log!(SqliteStore, Sqlite);

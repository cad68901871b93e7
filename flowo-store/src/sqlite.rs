//! The embedded SQLite store: one file, WAL mode, several processes may share it.
//!
//! Writes take the write lock at once (`BEGIN IMMEDIATE`), so a batch never fails half way on a
//! lock upgrade. Appends run whole on a `rusqlite` connection of their own (the `Appender` in
//! `sqlite_write.rs`); every other write, and an append that finds the lock taken, goes through
//! sqlx's single writer connection, whose thread waits on the file lock (busy timeout) while
//! another process (or the appender) holds it. A write whose caller gives up (a timeout) is
//! rolled back; it never leaves a connection inside a transaction. The live stream
//! rings in-process after each commit and checks the latest position every 250 ms, which is how
//! commits by other processes (the Snakemake plugin writing while `flowo serve` reads) are seen.
//! The write-ahead log is checkpointed beside the writer, not inside its commits
//! (`Checkpoints`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};

use crate::StoreOptions;
use crate::hub::Hub;

/// How often the live stream looks for commits made by other processes.
const POLL: Duration = Duration::from_millis(250);

/// Events' bytes committed (payload text, plus [`ROW_BYTES`] per event) after which the
/// write-ahead log is checkpointed. A commit writes each page it changed whole into the log, so
/// the log grows by several times this: 1,878 pages of 4 KiB (7.3 MiB) for these 2 MiB of the
/// `large` capture appended in batches of 500, about twice SQLite's own threshold of 1,000
/// pages.
const CHECKPOINT_AFTER: u64 = 2 << 20;

/// What an event adds to the log beside its payload: its other columns, its index entry, its
/// share of the job and run rows it changes.
const ROW_BYTES: u64 = 100;

/// Checkpoints of the write-ahead log, beside the writer rather than inside its commits.
///
/// SQLite checkpoints in the commit that takes the log past its threshold: that commit copies
/// the log's pages into the database file and waits for two fsyncs, so one append in a few
/// hundred took several times as long as the others (the append that the plugin, or an HTTP
/// client, was waiting for). The writer's automatic checkpoint is off
/// (`wal_autocheckpoint = 0`); once about [`CHECKPOINT_AFTER`] bytes of events have been
/// committed, a task runs a `PASSIVE` checkpoint on a reading connection, which copies what no
/// reader still needs without taking the write lock, while the writer goes on. SQLite reuses
/// the log from its start once it has all been copied; closing the last connection checkpoints
/// what is left.
struct Checkpoints {
    written: AtomicU64,
    wake: tokio::sync::Notify,
}

impl Checkpoints {
    /// Counts a commit's events; wakes the task once enough has been written.
    fn committed(&self, events: &[crate::ingest::Row<'_>]) {
        let bytes: u64 = events.iter().map(|e| e.data.len() as u64 + ROW_BYTES).sum();
        if self.written.fetch_add(bytes, Ordering::Relaxed) + bytes >= CHECKPOINT_AFTER {
            self.wake.notify_one();
        }
    }

    async fn run(self: Arc<Self>, pool: sqlx::SqlitePool) {
        loop {
            self.wake.notified().await;
            self.written.store(0, Ordering::Relaxed);
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                tracing::debug!(error = %e, "WAL checkpoint");
            }
        }
    }
}

/// The embedded store.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: sqlx::SqlitePool,
    writer: sqlx::SqlitePool,
    hub: Hub,
    checkpoints: Arc<Checkpoints>,
    checkpointer: tokio::task::JoinHandle<()>,
    appender: crate::sqlite_write::Appender,
    lost_after: Option<chrono::Duration>,
    path: PathBuf,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.checkpointer.abort();
    }
}

/// Whether the writer connection goes back to the pool (true) or is closed (false), which
/// rolls back whatever it holds and releases the file's write lock.
///
/// sqlx checks a custom `BEGIN` with a second round trip to the connection's thread after
/// SQLite has run it. A caller dropped between the two leaves the connection in a transaction
/// no [`Tx`] owns, so nothing would roll it back: back in the pool with the write lock held,
/// every later write failed ("attempted to call begin_with at non-zero transaction depth").
/// Such a connection is closed here. A dropped [`Tx`] has queued its rollback on the
/// connection's thread, which may not have run yet: a round trip first lets it.
async fn release_writer(conn: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    if conn.is_in_transaction() {
        conn.ping().await?;
    }
    Ok(!conn.is_in_transaction())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and applies migrations.
    ///
    /// Making a new file's first connections (WAL mode, migrations, the default workspace) can
    /// meet another process doing the same (the plugin and a `flowo` command started at once),
    /// and SQLite answers some of those meetings "database is locked" at once, without waiting
    /// for its busy timeout: the open is tried again, for as long as the busy timeout.
    pub async fn open(path: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        let deadline = std::time::Instant::now() + options.busy_timeout;
        loop {
            match Self::open_once(path, options).await {
                Err(e) if is_locked(&e) && std::time::Instant::now() < deadline => {
                    tracing::debug!(error = %e, "opening raced another process; trying again");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                opened => return opened,
            }
        }
    }

    async fn open_once(path: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
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
        // The writer's statement journals (an `INSERT` of many rows keeps one, to undo it
        // alone) in memory: SQLite otherwise spills one past 64 KiB to a temporary file.
        // Neither pool pings a connection before handing it out (sqlx's default): a
        // connection here is a file opened in this process, with nothing to go stale, and
        // the ping is a round trip to its thread (~0.1 ms) on every write and every query.
        // The writer leaves checkpoints to [`Checkpoints`].
        let writer = crate::pool_options::<sqlx::Sqlite>()
            .max_connections(1)
            .test_before_acquire(false)
            .after_release(|conn, _| Box::pin(release_writer(conn)))
            .connect_with(
                connect
                    .clone()
                    .pragma("temp_store", "memory")
                    .pragma("wal_autocheckpoint", "0"),
            )
            .await
            .map_err(db)?;
        migrate(&writer).await?;
        let pool = crate::pool_options::<sqlx::Sqlite>()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(connect.read_only(false))
            .await
            .map_err(db)?;
        let appender = crate::sqlite_write::Appender::open(path)?;
        let hub = Hub::start(Arc::new(PoolSource(pool.clone())), POLL).await?;
        let checkpoints = Arc::new(Checkpoints {
            written: AtomicU64::new(0),
            wake: tokio::sync::Notify::new(),
        });
        let checkpointer = tokio::spawn(checkpoints.clone().run(pool.clone()));
        let store = Self {
            inner: Arc::new(Inner {
                pool,
                writer,
                hub,
                checkpoints,
                checkpointer,
                appender,
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

    /// [`flowo_core::store::EventLog::close`]: the live stream ends, then the writer closes,
    /// then the readers; the last connection to close checkpoints the log into the database
    /// file and removes it.
    async fn close_connections(&self) {
        self.inner.hub.close();
        self.inner.checkpointer.abort();
        self.inner.appender.close().await;
        crate::close_pool(&self.inner.writer).await;
        crate::close_pool(&self.inner.pool).await;
    }

    /// How a run search that a probe could not answer finds its text: FTS5's trigram index.
    const TEXT_MATCH: crate::sql::TextMatch = crate::sql::TextMatch::Trigrams;

    /// Begins a write transaction on the writer connection. A caller may give up waiting at
    /// any point (a timeout, a plugin closing): see [`release_writer`] for the one point sqlx
    /// does not cover.
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

    /// The write lock orders positions; commits ring the live stream.
    async fn lock_stream(&self, _tx: &mut Tx) -> Result<(), StoreError> {
        Ok(())
    }

    async fn insert_events(
        &self,
        tx: &mut Tx,
        workspace: WorkspaceId,
        events: &[crate::ingest::Row<'_>],
        received_at: i64,
        _runs: &[RunId],
    ) -> Result<(), StoreError> {
        crate::sqlite_write::insert_events(tx, workspace, events, received_at).await
    }

    /// The run's stored jobs among `ids`.
    async fn fetch_job_rows(
        &self,
        tx: &mut Tx,
        run: RunId,
        ids: &[JobId],
    ) -> Result<Vec<crate::rows::JobRow>, StoreError> {
        fetch_as(&mut **tx, crate::append::jobs_sql(run, ids)).await
    }

    /// The run's upsert, then its jobs' rows (upserted, whether stored or not).
    async fn write_run_and_jobs(
        &self,
        tx: &mut Tx,
        run: Sql,
        jobs: &[Job],
        _stored: &crate::append::Stored<'_>,
    ) -> Result<(), StoreError> {
        execute(&mut **tx, run).await?;
        crate::sqlite_write::write_jobs(tx, jobs).await
    }

    /// An append begins on the appender's connection, on the caller's thread: nothing to
    /// start ahead but the first run, which sqlx's path (below) locks first.
    fn start_append(&self, first: RunId) -> RunId {
        first
    }

    /// Appends a batch grouped by run (`append.rs`).
    async fn append_groups<'a>(
        &self,
        workspace: WorkspaceId,
        groups: &[crate::ingest::RunBatch<'a>],
        received_at: i64,
        first: RunId,
    ) -> Result<crate::append::Appended<'a>, StoreError> {
        let appended = self
            .inner
            .appender
            .append(workspace, groups, received_at)
            .await?;
        match appended {
            Some(appended) => Ok(appended),
            // Another connection holds the write lock: sqlx's thread waits for it.
            None => {
                let begun = Begun::new(self, self.begin_write().await?, first).await?;
                self.append_with_sqlx(begun, workspace, groups, received_at)
                    .await
            }
        }
    }

    /// After an append's commit.
    fn committed(&self, events: &[crate::ingest::Row<'_>]) {
        self.inner.checkpoints.committed(events);
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

/// Whether `e` is SQLite's "database is locked" (SQLITE_BUSY and its extended codes).
fn is_locked(e: &StoreError) -> bool {
    let StoreError::Backend(e) = e else {
        return false;
    };
    let code = |e: &sqlx::Error| match e {
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.parse::<u32>().is_ok_and(|c| c & 0xff == 5)),
        _ => false,
    };
    if let Some(e) = e.downcast_ref::<sqlx::Error>() {
        return code(e);
    }
    match e.downcast_ref::<sqlx::migrate::MigrateError>() {
        Some(sqlx::migrate::MigrateError::Execute(e)) => code(e),
        _ => false,
    }
}

/// Applies the migrations. SQLite gives migrations no lock between processes: two processes
/// opening a new file at once (the plugin and a `flowo` command) may both start the same
/// migration, and the one that waited for the other's write lock then fails ("table ...
/// already exists"). Its transaction is rolled back, so looking again finds that migration
/// applied and goes on with the next; each migration can be lost to another process only once.
async fn migrate(writer: &sqlx::SqlitePool) -> Result<(), StoreError> {
    let migrator = sqlx::migrate!("./migrations/sqlite");
    let mut attempts = migrator.iter().count() + 1;
    loop {
        match migrator.run(writer).await {
            Ok(()) => return Ok(()),
            Err(e) if attempts > 1 => {
                attempts -= 1;
                tracing::debug!(error = %e, "migration raced another process; looking again");
            }
            Err(e) => return Err(StoreError::Backend(Box::new(e))),
        }
    }
}

crate::sql_store::impl_sql_store!(SqliteStore, Sqlite);
crate::accounts::impl_account_store!(SqliteStore, Sqlite);
crate::audit::impl_audit_log!(SqliteStore, Sqlite);

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use futures::StreamExt as _;
    use sqlx::{Connection as _, SqliteConnection};

    use super::*;
    use crate::testing::{give_up_appends, heartbeats, poll_once};

    /// Neither pool runs sqlx's idle reaper, which can spin a core for ever
    /// ([`crate::pool_options`]).
    #[tokio::test]
    async fn the_pools_run_no_idle_reaper() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("reaper.db"), &StoreOptions::default())
            .await
            .expect("open");
        for pool in [&store.inner.pool, &store.inner.writer] {
            assert_eq!(pool.options().get_idle_timeout(), None);
            assert_eq!(pool.options().get_max_lifetime(), None);
        }
    }

    /// Several openers of one new file at once (processes in real life: their own pools
    /// here) all get a migrated store.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_opens_of_a_new_file_all_migrate() {
        let dir = tempfile::tempdir().expect("tempdir");
        for round in 0..8 {
            let path = dir.path().join(format!("race-{round}.db"));
            let opens: Vec<_> = (0..4)
                .map(|_| {
                    let path = path.clone();
                    tokio::spawn(
                        async move { SqliteStore::open(&path, &StoreOptions::default()).await },
                    )
                })
                .collect();
            for open in opens {
                let store = open
                    .await
                    .expect("join")
                    .unwrap_or_else(|e| panic!("round {round}: {e:?}"));
                assert!(store.head().await.is_ok());
            }
        }
    }

    /// `log` events of `run` with these sequences, each with the message `msg(seq)`.
    fn log_events(
        run: RunId,
        seqs: std::ops::Range<u64>,
        msg: impl Fn(u64) -> String,
    ) -> Vec<flowo_core::event::EventEnvelope> {
        seqs.map(|seq| flowo_core::event::EventEnvelope {
            run_id: run,
            seq,
            recorded_at: chrono::Utc::now(),
            received_at: None,
            kind: "log".to_owned(),
            data: serde_json::json!({ "msg": msg(seq) }),
        })
        .collect()
    }

    async fn open_store(dir: &Path) -> (SqliteStore, WorkspaceId) {
        let store = SqliteStore::open(&dir.join("flowo.db"), &StoreOptions::default())
            .await
            .expect("open");
        let ws = store
            .ensure_workspace("default")
            .await
            .expect("workspace")
            .id;
        (store, ws)
    }

    /// A connection of its own to the store's file that never waits for a lock.
    async fn other_connection(store: &SqliteStore) -> SqliteConnection {
        let options = SqliteConnectOptions::new()
            .filename(store.path())
            .busy_timeout(Duration::ZERO);
        SqliteConnection::connect_with(&options)
            .await
            .expect("connect")
    }

    /// Whether some connection holds the file's write lock.
    async fn write_locked(probe: &mut SqliteConnection) -> bool {
        match sqlx::query("BEGIN IMMEDIATE").execute(&mut *probe).await {
            Ok(_) => {
                sqlx::query("ROLLBACK")
                    .execute(&mut *probe)
                    .await
                    .expect("rollback");
                false
            }
            Err(e) => {
                assert!(e.to_string().contains("locked"), "probe: {e}");
                true
            }
        }
    }

    async fn stored(store: &SqliteStore, run: RunId) -> usize {
        let query = flowo_core::store::RunEventQuery {
            limit: 1000,
            ..Default::default()
        };
        store.run_events(run, &query).await.expect("events").len()
    }

    /// The regression: a write given up just after SQLite ran its `BEGIN IMMEDIATE`, while sqlx
    /// was still checking that statement (a second round trip to the connection's thread), left
    /// the writer connection in a transaction no one owned; every later write then failed with
    /// "attempted to call begin_with at non-zero transaction depth". The moment is made exact:
    /// another connection holds the lock while the write starts, so the write waits in its
    /// `BEGIN`; once the lock is released and the write's `BEGIN` has run (the file is
    /// write-locked again), the write is polled once more, which takes it into the check, and
    /// dropped there.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_given_up_right_after_its_begin_leaves_the_store_writable() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, ws) = open_store(dir.path()).await;
        let mut holder = other_connection(&store).await;
        let mut probe = other_connection(&store).await;
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut holder)
            .await
            .expect("lock");

        let given_up = heartbeats(RunId::new_random(), 0..3);
        {
            let mut write = pin!(store.append(ws, &given_up));
            // Into its BEGIN, which waits for the holder's lock.
            for _ in 0..20 {
                assert!(poll_once(write.as_mut()).is_pending(), "the file is locked");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            sqlx::query("ROLLBACK")
                .execute(&mut holder)
                .await
                .expect("unlock");
            // The write's BEGIN runs on its connection's thread, which then waits for this
            // task to take the answer.
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while !write_locked(&mut probe).await {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the write never began"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert!(poll_once(write.as_mut()).is_pending());
        }

        let kept = RunId::new_random();
        if let Err(e) = store.append(ws, &heartbeats(kept, 0..2)).await {
            panic!("the write after the given-up one failed: {e}");
        }
        assert_eq!(stored(&store, kept).await, 2);
        assert_eq!(stored(&store, given_up[0].run_id).await, 0, "rolled back");
    }

    /// An append on the appender runs from its `BEGIN` to its `COMMIT` in the poll that starts
    /// it: it never waits in between, so it cannot be given up half way (a timeout, a closing
    /// plugin) and leave its transaction open.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_append_finishes_in_the_poll_that_starts_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, ws) = open_store(dir.path()).await;
        let run = RunId::new_random();
        for batch in 0..20u64 {
            let events = log_events(run, batch * 50..(batch + 1) * 50, |seq| format!("{seq}"));
            let mut append = pin!(store.append(ws, &events));
            match poll_once(append.as_mut()) {
                std::task::Poll::Ready(done) => {
                    assert_eq!(done.expect("append").inserted, 50);
                }
                std::task::Poll::Pending => panic!("append {batch} waited"),
            }
        }
        assert_eq!(stored(&store, run).await, 1000);
    }

    /// An append that stopped half way on the appender (a panic under it) leaves its
    /// transaction open, holding the file's write lock: the next append rolls it back first,
    /// and nothing of the stopped one is kept.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_append_after_one_stopped_half_way_rolls_it_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, ws) = open_store(dir.path()).await;
        let stopped = RunId::new_random();
        store
            .inner
            .appender
            .run(&format!(
                "BEGIN IMMEDIATE; INSERT INTO events (run_id, seq, workspace_id, kind, \
                 recorded_at, received_at, data) VALUES (x'{}', 0, x'{}', 'log', 0, 0, '{{}}')",
                stopped.0.simple(),
                ws.0.simple()
            ))
            .await;
        let kept = RunId::new_random();
        let done = store
            .append(ws, &log_events(kept, 0..5, |seq| format!("{seq}")))
            .await
            .expect("the next append");
        assert_eq!(done.inserted, 5);
        assert_eq!(stored(&store, kept).await, 5);
        assert_eq!(stored(&store, stopped).await, 0, "rolled back");
        let mut probe = other_connection(&store).await;
        assert!(
            !write_locked(&mut probe).await,
            "the write lock is released"
        );
    }

    /// An append made while another process holds the file's write lock waits for it (through
    /// sqlx, whose thread waits) rather than failing or blocking its caller's thread, and is
    /// stored once the lock is released.
    #[tokio::test(flavor = "current_thread")]
    async fn an_append_waits_for_another_process_write_lock() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, ws) = open_store(dir.path()).await;
        let mut holder = other_connection(&store).await;
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut holder)
            .await
            .expect("lock");
        let run = RunId::new_random();
        let events = log_events(run, 0..10, |seq| format!("{seq}"));
        let append = tokio::spawn({
            let store = store.clone();
            async move { store.append(ws, &events).await }
        });
        // On this one thread, the sleep only ends if the append left the thread to others.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!append.is_finished(), "the append waits for the lock");
        sqlx::query("ROLLBACK")
            .execute(&mut holder)
            .await
            .expect("unlock");
        let done = tokio::time::timeout(Duration::from_secs(30), append)
            .await
            .expect("the append ends once the lock is released")
            .expect("join")
            .expect("append");
        assert_eq!(done.inserted, 10);
        assert_eq!(stored(&store, run).await, 10);
    }

    /// Appends through sqlx (as when another connection holds the write lock) given up after
    /// any number of polls leave the store writable.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_given_up_anywhere_leave_the_store_writable() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, ws) = open_store(dir.path()).await;
        // Every append goes through sqlx from now on.
        store.inner.appender.close().await;
        let kept = RunId::new_random();
        let appended = give_up_appends(&store, ws, kept, async |_| {}).await;
        assert_eq!(stored(&store, kept).await as u64, appended);
    }

    /// The writer leaves the write-ahead log to the checkpoints beside it: its own automatic
    /// checkpoint is off, and what it commits still reaches the database file.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_is_checkpointed_beside_the_writer() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, ws) = open_store(dir.path()).await;
        let mut writer = store.inner.writer.acquire().await.expect("writer");
        let automatic: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&mut *writer)
            .await
            .expect("pragma");
        assert_eq!(automatic, 0, "the writer does not checkpoint");
        drop(writer);
        assert_eq!(
            store.inner.appender.pragma("wal_autocheckpoint").await,
            Some(0),
            "the appender does not checkpoint"
        );
        let file_len = || std::fs::metadata(store.path()).expect("file").len();
        let before = file_len();
        // About 8 MB of payloads, four times the threshold.
        let run = RunId::new_random();
        let text = "x".repeat(2_000);
        for batch in 0..40u64 {
            let events = log_events(run, batch * 100..(batch + 1) * 100, |_| text.clone());
            store.append(ws, &events).await.expect("append");
        }
        // Only a checkpoint writes pages into the database file.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while file_len() < before + (4 << 20) {
            assert!(
                std::time::Instant::now() < deadline,
                "the database file stayed at {} bytes (from {before})",
                file_len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Closing leaves the database file whole on its own: the log is copied into it and
    /// removed, and another opener reads every event.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closing_the_store_folds_the_log_into_the_database_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, ws) = open_store(dir.path()).await;
        let run = RunId::new_random();
        let events = log_events(run, 0..500, |seq| format!("line {seq}"));
        store.append(ws, &events).await.expect("append");
        let log = dir.path().join("flowo.db-wal");
        assert!(
            std::fs::metadata(&log).is_ok_and(|m| m.len() > 0),
            "the append went to the log"
        );
        let mut following = store
            .subscribe(StreamFilter::default(), None)
            .await
            .expect("subscribe");
        let closing = tokio::time::timeout(Duration::from_secs(20), store.close());
        assert!(closing.await.is_ok(), "the store closes");
        let end = tokio::time::timeout(Duration::from_secs(10), following.next()).await;
        assert!(
            matches!(end, Ok(None)),
            "the live stream ends with the store"
        );
        assert!(!log.exists(), "the log is gone after closing");
        assert!(
            store.head().await.is_err(),
            "a closed store answers nothing"
        );
        let again = SqliteStore::open(&dir.path().join("flowo.db"), &StoreOptions::default())
            .await
            .expect("reopen");
        let stored = again.get_run(run).await.expect("run").expect("stored");
        assert_eq!(stored.run.event_count, 500);
    }
}

//! The PostgreSQL store, for teams and for several server replicas on one database.
//!
//! Appends of one run are serialized by a per-run advisory lock; stream positions are taken
//! under a global advisory lock held from the events insert to commit, so positions are
//! visible in commit order and a reader that has seen position `p` never later finds a
//! smaller one. After commit a NOTIFY carries the new positions' runs as a doorbell; one
//! listener connection per process fans it out, and the table stays the truth (see `hub`).

use std::sync::Arc;
use std::time::Duration;

use sqlx::Postgres;
use sqlx::postgres::{PgConnectOptions, PgListener};

use crate::StoreOptions;
use crate::hub::Hub;

/// The NOTIFY channel.
pub const CHANNEL: &str = "flowo_events";

/// Safety-net period: how often each process checks the latest position itself, which bounds
/// the delay after a lost notification or a listener reconnect.
const POLL: Duration = Duration::from_secs(1);

/// How long PostgreSQL lets a session of the pool sit inside a transaction with nothing to do
/// before it ends the session. A safety net: FlowO's own transactions never wait on anything
/// but their next statement (a late event's refold, the longest, folds in memory in seconds),
/// so a session idle in a transaction for this long was left there by a lost future, and its
/// locks would otherwise block every write to its runs until the connection is recycled.
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "60s";

/// Key of the advisory lock that orders stream positions (two-int key space, so it never meets
/// the per-run bigint keys).
const STREAM_LOCK: (i32, i32) = (0x466c_6f77, 1);

/// The PostgreSQL store.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: sqlx::PgPool,
    hub: Hub,
    lost_after: Option<chrono::Duration>,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Makes the trigram index of run text search when pg_trgm is installed and the index is not
/// there yet (the extension was installed after the migration that makes it); says when
/// searches will read every run instead. Never fails: the index only makes searches faster.
async fn ensure_search_index(pool: &sqlx::PgPool) {
    let state: Result<(bool, bool), sqlx::Error> = sqlx::query_as(
        "SELECT to_regclass('runs_search_trgm') IS NOT NULL, \
         EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')",
    )
    .fetch_one(pool)
    .await;
    match state {
        Ok((true, _)) => {}
        Ok((false, true)) => {
            let made = sqlx::query(
                "CREATE INDEX IF NOT EXISTS runs_search_trgm ON runs USING gin (search gin_trgm_ops)",
            )
            .execute(pool)
            .await;
            if let Err(e) = made {
                tracing::warn!(error = %e, "cannot make the trigram index of run text search");
            }
        }
        Ok((false, false)) => tracing::warn!(
            "the pg_trgm extension is not installed: a run text search that matches few runs \
             reads every run. `CREATE EXTENSION pg_trgm` (as the database owner or a superuser) \
             and restart flowo to index it"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot check the index of run text search"),
    }
}

impl PgStore {
    /// Connects, applies migrations (under sqlx's migration lock, so replicas may start
    /// together) and starts the listener.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        // One direct connection first: it fails fast with the real cause (refused, unknown
        // database, bad password) where the pool would only say that it timed out.
        // JIT compilation costs more than it saves on FlowO's short queries.
        let connect = url.parse::<PgConnectOptions>().map_err(db)?.options([
            ("jit", "off"),
            (
                "idle_in_transaction_session_timeout",
                IDLE_IN_TRANSACTION_TIMEOUT,
            ),
        ]);
        {
            use sqlx::Connection;
            let conn = sqlx::PgConnection::connect_with(&connect)
                .await
                .map_err(db)?;
            let _ = conn.close().await;
        }
        let pool = crate::pool_options::<sqlx::Postgres>()
            .max_connections(options.max_connections)
            .acquire_timeout(Duration::from_secs(10))
            // A connection keeps its socket buffers at the largest message it ever sent or
            // read (a batch's rows, a page of results), for as long as it stays in the pool:
            // handed back, it drops what is above sqlx's default 8 KiB, so that the server's
            // memory after a burst follows what is in use. A no-op for a small query; a large
            // batch grows its buffer again (ingest over HTTP measured the same with and without).
            .after_release(|conn, _| {
                Box::pin(async move {
                    sqlx::Connection::shrink_buffers(conn);
                    Ok(true)
                })
            })
            .connect_with(connect)
            .await
            .map_err(db)?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        ensure_search_index(&pool).await;
        let hub = Hub::start(Arc::new(PoolSource(pool.clone())), POLL).await?;
        let mut listener = PgListener::connect_with(&pool).await.map_err(db)?;
        listener.listen(CHANNEL).await.map_err(db)?;
        let doorbell = hub.doorbell();
        let listener = tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(_)) => doorbell.notify_one(),
                    Ok(None) => {
                        // The connection dropped; sqlx reconnects on the next call. Whatever was
                        // committed meanwhile is read from the table.
                        tracing::warn!("live stream: listener connection lost, reconnecting");
                        doorbell.notify_one();
                    }
                    // The pool is closing: it waits for every connection, this one too,
                    // so the listener ends and gives it back (sqlx answers every later call
                    // with this error at once, holding the connection).
                    Err(sqlx::Error::PoolClosed) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "live stream: listener error");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        doorbell.notify_one();
                    }
                }
            }
        });
        let store = Self {
            inner: Arc::new(Inner {
                pool,
                hub,
                lost_after: options.lost_after,
                listener,
            }),
        };
        store
            .ensure_workspace(flowo_core::model::DEFAULT_WORKSPACE)
            .await?;
        store.rebuild_stale_rollups().await?;
        Ok(store)
    }

    /// The connection pool (for tests and tools).
    pub fn pool(&self) -> &sqlx::PgPool {
        &self.inner.pool
    }

    /// [`flowo_core::store::EventLog::close`]: the live stream ends, then the pool closes, the
    /// stream's listener with it (it ends when it hears that the pool is closing).
    async fn close_connections(&self) {
        self.inner.hub.close();
        crate::close_pool(&self.inner.pool).await;
    }

    /// How a run search that a probe could not answer finds its text: `LIKE`, which the
    /// planner answers from the trigram index (`runs_search_trgm`) where pg_trgm is installed.
    const TEXT_MATCH: crate::sql::TextMatch = crate::sql::TextMatch::Like;

    /// Begins a transaction.
    ///
    /// The beginning runs in a task of its own, to its end even when the caller gives up
    /// waiting (a client that hangs up, a plugin closing, a timeout). sqlx (0.8.6, 0.9.0)
    /// counts a PostgreSQL connection as in a transaction only once `BEGIN`'s answer has come
    /// back, and rolls back on drop only what it counts: a caller dropped while the answer was
    /// on its way left the session in a transaction nothing ended. Back in the pool, the
    /// connection ran later statements inside it (a token's time of last use, a user's
    /// update), which held their row locks and were never committed: the next update of the
    /// same row waited for ever. A [`Tx`] that exists is rolled back when it is dropped, here
    /// in the task when the caller is gone.
    async fn begin_write(&self) -> Result<Tx, StoreError> {
        let pool = self.inner.pool.clone();
        tokio::spawn(async move { pool.begin().await })
            .await
            .map_err(|e| StoreError::Backend(Box::new(e)))?
            .map_err(db)
    }

    async fn lock_run(&self, tx: &mut Tx, run: RunId) -> Result<(), StoreError> {
        let bits = run.0.as_u128();
        let key = (bits as i64) ^ ((bits >> 64) as i64);
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(key)
            .execute(&mut **tx)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Takes the stream lock, tells listeners (other replicas' hubs) of the new events and
    /// inserts them, in one statement: the lock and the notification in a `WITH` that the
    /// insert's rows are joined to, so the lock is held before the first row, hence its
    /// position, is made (a notification is sent at commit, whatever its place).
    ///
    /// The rows bind one array per column: PostgreSQL parses and plans the statement once
    /// whatever the batch's size, where multi-row `VALUES` binds thousands of parameters.
    /// `WITH ORDINALITY ... ORDER BY` keeps the batch's order, so positions follow it.
    async fn insert_events(
        &self,
        tx: &mut Tx,
        workspace: WorkspaceId,
        events: &[crate::ingest::Row<'_>],
        received_at: i64,
        runs: &[RunId],
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let run_ids: Vec<uuid::Uuid> = events.iter().map(|e| e.run_id.0).collect();
        let seqs: Vec<i64> = events.iter().map(|e| e.seq as i64).collect();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        let recorded: Vec<i64> = events
            .iter()
            .map(|e| crate::rows::micros(e.recorded_at))
            .collect();
        let data: Vec<&str> = events.iter().map(|e| e.data).collect();
        let announced: Vec<String> = runs.iter().take(50).map(|r| r.to_string()).collect();
        let payload =
            serde_json::json!({ "workspace_id": workspace, "runs": announced }).to_string();
        sqlx::query(&format!(
            "WITH stream AS MATERIALIZED (SELECT pg_advisory_xact_lock($8, $9), \
             pg_notify($10, $11)) \
             INSERT INTO events ({}) SELECT r, s, $3, k, t, $6, d FROM \
             UNNEST($1::uuid[], $2::int8[], $4::text[], $5::int8[], $7::text[]) \
             WITH ORDINALITY AS u(r, s, k, t, d, o) CROSS JOIN stream ORDER BY o",
            crate::rows::EVENT_INSERT_COLUMNS
        ))
        .bind(run_ids)
        .bind(seqs)
        .bind(workspace.0)
        .bind(kinds)
        .bind(recorded)
        .bind(received_at)
        .bind(data)
        .bind(STREAM_LOCK.0)
        .bind(STREAM_LOCK.1)
        .bind(CHANNEL)
        .bind(payload)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// After an append's commit: PostgreSQL checkpoints by itself.
    fn committed(&self, _events: &[crate::ingest::Row<'_>]) {}

    /// Starts an append whose first run is `first`: a task of its own begins the transaction,
    /// locks the run and reads its state, three round trips that overlap with the caller's
    /// preparing the batch. Dropped unawaited (a caller gone), the task still ends, and the
    /// transaction it made is rolled back with its output: the task is what
    /// [`Self::begin_write`]'s own would be, so it begins on the pool directly.
    fn start_append(&self, first: RunId) -> tokio::task::JoinHandle<Result<Begun, StoreError>> {
        let store = self.clone();
        tokio::spawn(async move {
            let tx = store.inner.pool.begin().await.map_err(db)?;
            Begun::new(&store, tx, first).await
        })
    }

    /// Appends a batch grouped by run (`append.rs`), through sqlx, in the transaction
    /// [`Self::start_append`] began.
    async fn append_groups<'a>(
        &self,
        workspace: WorkspaceId,
        groups: &[crate::ingest::RunBatch<'a>],
        received_at: i64,
        started: tokio::task::JoinHandle<Result<Begun, StoreError>>,
    ) -> Result<crate::append::Appended<'a>, StoreError> {
        let begun = started
            .await
            .map_err(|e| StoreError::Backend(Box::new(e)))??;
        self.append_with_sqlx(begun, workspace, groups, received_at)
            .await
    }

    /// The run's stored jobs among `ids`, bound as one array: one statement whatever their
    /// number, where an `IN` list made a statement (parsed, planned, cached) per length.
    async fn fetch_job_rows(
        &self,
        tx: &mut Tx,
        run: RunId,
        ids: &[JobId],
    ) -> Result<Vec<crate::rows::JobRow>, StoreError> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
                "SELECT {} FROM jobs WHERE run_id = $1 AND job_id = ANY($2::int8[])",
                crate::rows::JOB_COLUMNS
            )
        });
        let ids: Vec<i64> = ids.iter().map(|id| *id as i64).collect();
        sqlx::query_as(&SQL)
            .bind(run.0)
            .bind(ids)
            .fetch_all(&mut **tx)
            .await
            .map_err(db)
    }

    /// Runs the run's upsert `run` and writes its jobs, in one statement: the jobs' writes in
    /// `WITH`s before the run's upsert (they write different tables, so their order inside
    /// the statement does not matter). The jobs bind one array per column (see
    /// `insert_events`), after the run's parameters, and one more that says which are
    /// `stored`: those are upserted, the others (jobs seen for the first time) plainly
    /// inserted, which spares each a probe of the key's index, a lock and a second WAL record.
    async fn write_run_and_jobs(
        &self,
        tx: &mut Tx,
        run: Sql,
        jobs: &[Job],
        stored: &crate::append::Stored<'_>,
    ) -> Result<(), StoreError> {
        if jobs.is_empty() {
            execute(&mut **tx, run).await?;
            return Ok(());
        }
        let first = run.params.len() + 1;
        let types = [
            "uuid", "int8", "text", "text", "int8", "int8", "int8", "text", "bool",
        ];
        let arrays: Vec<String> = types
            .iter()
            .enumerate()
            .map(|(i, t)| format!("${}::{t}[]", first + i))
            .collect();
        let is_stored: Vec<bool> = jobs.iter().map(|j| stored(j.job_id)).collect();
        let rows = |which: &str| {
            format!(
                "INSERT INTO jobs ({}) SELECT r, i, ru, s, a, st, f, d FROM UNNEST({}) \
                 AS u(r, i, ru, s, a, st, f, d, k) WHERE {which}k",
                crate::rows::JOB_COLUMNS,
                arrays.join(", "),
            )
        };
        let mut writes = Vec::new();
        if is_stored.iter().any(|s| !s) {
            writes.push(format!("jobs_inserted AS ({})", rows("NOT ")));
        }
        if is_stored.iter().any(|s| *s) {
            writes.push(format!(
                "jobs_updated AS ({} {})",
                rows(""),
                crate::rows::JOB_UPSERT
            ));
        }
        let text = format!("WITH {} {}", writes.join(", "), run.text);
        let runs: Vec<uuid::Uuid> = jobs.iter().map(|j| j.run_id.0).collect();
        let ids: Vec<i64> = jobs.iter().map(|j| j.job_id as i64).collect();
        let rules: Vec<&str> = jobs.iter().map(|j| j.rule.as_str()).collect();
        let statuses: Vec<&str> = jobs.iter().map(|j| j.status.as_str()).collect();
        let attempts: Vec<i64> = jobs.iter().map(|j| i64::from(j.attempts)).collect();
        let started: Vec<Option<i64>> = jobs
            .iter()
            .map(|j| j.started_at.map(crate::rows::micros))
            .collect();
        let finished: Vec<Option<i64>> = jobs
            .iter()
            .map(|j| j.finished_at.map(crate::rows::micros))
            .collect();
        // Written into one string (see `rows::Texts`), not one allocation per job.
        let texts = crate::rows::Texts::build(jobs, |out, _, job| {
            crate::rows::write_json(out, &job.detail)
        });
        let details: Vec<&str> = texts.iter().collect();
        bind_params!(sqlx::query(&text), run.params)
            .bind(runs)
            .bind(ids)
            .bind(rules)
            .bind(statuses)
            .bind(attempts)
            .bind(started)
            .bind(finished)
            .bind(details)
            .bind(is_stored)
            .execute(&mut **tx)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Takes the stream lock, for a write that inserts no events.
    async fn lock_stream(&self, tx: &mut Tx) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(STREAM_LOCK.0)
            .bind(STREAM_LOCK.1)
            .execute(&mut **tx)
            .await
            .map_err(db)?;
        Ok(())
    }
}

crate::sql_store::impl_sql_store!(PgStore, Postgres);
crate::accounts::impl_account_store!(PgStore, Postgres);
crate::audit::impl_audit_log!(PgStore, Postgres);

#[cfg(test)]
mod tests {
    use flowo_core::RunId;
    use flowo_testkit::postgres::TestDatabase;
    use futures::StreamExt as _;
    use sqlx::Connection as _;

    use super::*;
    use crate::testing::give_up_appends;

    /// Sessions of `database` other than `admin`'s own that match `condition` (SQL over
    /// `pg_stat_activity`), waiting up to `within` for them to end (a session ends on the
    /// server a moment after the client's goodbye; a dropped transaction's rollback goes out
    /// as its connection returns to the pool).
    async fn sessions_left(
        admin: &mut sqlx::PgConnection,
        database: &str,
        condition: &str,
        within: Duration,
    ) -> i64 {
        let deadline = std::time::Instant::now() + within;
        let sql = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 \
             AND pid <> pg_backend_pid() AND {condition}"
        );
        loop {
            let n: i64 = sqlx::query_scalar(&sql)
                .bind(database)
                .fetch_one(&mut *admin)
                .await
                .expect("pg_stat_activity");
            if n == 0 || std::time::Instant::now() > deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sessions of `database` left in a transaction, waiting up to 5 s for them to end.
    async fn sessions_in_a_transaction(admin: &mut sqlx::PgConnection, database: &str) -> i64 {
        let idle = "state LIKE 'idle in transaction%'";
        sessions_left(admin, database, idle, Duration::from_secs(5)).await
    }

    /// A store on a new database of its own; `None` where the tests skip PostgreSQL.
    async fn store_in_new_database(
        name: &str,
        options: &StoreOptions,
    ) -> Option<(TestDatabase, PgStore)> {
        let db = TestDatabase::create(name).await?;
        let store = PgStore::open(&db.url, options).await.expect("open");
        Some((db, store))
    }

    /// The pool runs no sqlx idle reaper, which can spin a core for ever
    /// ([`crate::pool_options`]).
    #[tokio::test]
    async fn the_pool_runs_no_idle_reaper() {
        let Some((_db, store)) =
            store_in_new_database("flowo_store_no_reaper", &StoreOptions::default()).await
        else {
            return;
        };
        assert_eq!(store.pool().options().get_idle_timeout(), None);
        assert_eq!(store.pool().options().get_max_lifetime(), None);
    }

    /// Writes given up after any number of polls (a client hanging up, a timeout) leave no
    /// session in a transaction, and what the store writes next is committed. Before the fix,
    /// a write given up while `BEGIN`'s answer was on its way (the second poll, here) left its
    /// session in a transaction for good.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_given_up_anywhere_leave_no_session_in_a_transaction() {
        let options = StoreOptions {
            max_connections: 2,
            ..StoreOptions::default()
        };
        let Some((db, store)) = store_in_new_database("flowo_store_given_up", &options).await
        else {
            return;
        };
        let ws = store
            .ensure_workspace("default")
            .await
            .expect("workspace")
            .id;
        let mut admin = sqlx::PgConnection::connect(&db.url).await.expect("connect");
        let admin = &mut admin;
        give_up_appends(&store, ws, RunId::new_random(), async |polls| {
            let left = sessions_in_a_transaction(admin, &db.name).await;
            assert_eq!(
                left, 0,
                "a write given up after {polls} polls left a transaction open"
            );
            // A statement outside any transaction, seen at once by another session.
            let workspace = format!("given-up-{polls}");
            store.ensure_workspace(&workspace).await.expect("workspace");
            let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM workspaces WHERE name = $1")
                .bind(&workspace)
                .fetch_one(&mut *admin)
                .await
                .expect("workspaces");
            assert_eq!(seen, 1, "a write after one given up after {polls} polls");
        })
        .await;
    }

    /// Every session of the pool is set to end a transaction left idle for a minute (the
    /// safety net under the fix above; PostgreSQL itself does the ending), and runs without JIT.
    #[tokio::test]
    async fn sessions_are_set_to_end_a_transaction_left_idle() {
        let Some((_db, store)) =
            store_in_new_database("flowo_store_idle_timeout", &StoreOptions::default()).await
        else {
            return;
        };
        let mut conn = store.inner.pool.acquire().await.expect("acquire");
        let timeout: String = sqlx::query_scalar("SHOW idle_in_transaction_session_timeout")
            .fetch_one(&mut *conn)
            .await
            .expect("show");
        assert_eq!(timeout, "1min");
        let jit: String = sqlx::query_scalar("SHOW jit")
            .fetch_one(&mut *conn)
            .await
            .expect("show");
        assert_eq!(jit, "off");
    }

    /// Closing the pool of a store still open ends: the live stream's listener gives its
    /// connection back when told the pool is closing. It held it before, calling again every
    /// half second, and `close()` waited for it for ever whenever no connection was idle when
    /// it began (a store test hung in CI that way; alone under load, 4 times in 200 runs).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_pool_of_an_open_store_closes() {
        let Some((db, store)) =
            store_in_new_database("flowo_store_pool_closes", &StoreOptions::default()).await
        else {
            return;
        };
        // Every connection in use (the listener's too) when the closing begins.
        let mut held = Vec::new();
        while store.pool().num_idle() > 0 {
            held.push(store.pool().acquire().await.expect("acquire"));
        }
        let pool = store.pool().clone();
        let closing = tokio::spawn(async move {
            tokio::time::timeout(Duration::from_secs(20), pool.close())
                .await
                .is_ok()
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(held);
        assert!(
            closing.await.expect("join"),
            "the pool closes while the store is open"
        );
        drop(store);
        db.drop_database().await;
    }

    /// Closing the store ends every session it had on the server, the live stream's
    /// listener's included, with a subscriber following the stream.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closing_the_store_ends_its_sessions() {
        let Some((db, store)) =
            store_in_new_database("flowo_store_close", &StoreOptions::default()).await
        else {
            return;
        };
        let mut following = store
            .subscribe(StreamFilter::default(), None)
            .await
            .expect("subscribe");
        let mut admin = sqlx::PgConnection::connect(&db.admin).await.expect("admin");
        let open = sessions_left(&mut admin, &db.name, "true", Duration::ZERO).await;
        assert!(open > 0, "the open store has sessions");
        let closing = tokio::time::timeout(Duration::from_secs(20), store.close());
        assert!(closing.await.is_ok(), "the store closes");
        assert!(store.pool().is_closed());
        let end = tokio::time::timeout(Duration::from_secs(10), following.next()).await;
        assert!(
            matches!(end, Ok(None)),
            "the live stream ends with the store"
        );
        let left = sessions_left(&mut admin, &db.name, "true", Duration::from_secs(10)).await;
        assert_eq!(left, 0, "sessions left after closing");
        drop(admin);
        drop(store);
        db.drop_database().await;
    }
}

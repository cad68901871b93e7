//! The store logic written once for both backends.
//!
//! Both backends keep the same tables and run the same SQL, but sqlx's generic database bounds
//! are unwieldy, so the shared code is a macro expanded once per backend with its concrete
//! database type. What differs (opening, transactions and locks, notifications) lives in
//! `sqlite.rs` and `postgres.rs` as inherent methods the macro calls:
//! `begin_write`, `start_append`, `append_groups`, `lock_run`, `lock_stream`, `fetch_job_rows`,
//! `insert_events` and `write_run_and_jobs`.

/// Binds [`crate::sql::Param`]s to a query.
macro_rules! bind_params {
    ($query:expr, $params:expr) => {{
        let mut q = $query;
        for p in $params {
            q = match p {
                $crate::sql::Param::I64(v) => q.bind(v),
                $crate::sql::Param::Text(v) => q.bind(v),
                $crate::sql::Param::Uuid(v) => q.bind(v),
                $crate::sql::Param::Bool(v) => q.bind(v),
                $crate::sql::Param::OptI64(v) => q.bind(v),
                $crate::sql::Param::OptText(v) => q.bind(v),
            };
        }
        q
    }};
}
pub(crate) use bind_params;

/// Implements the storage traits for `$store`, whose `inner` has `pool: Pool<$db>`, `hub: Hub`
/// and `lost_after: Option<chrono::Duration>`.
macro_rules! impl_sql_store {
    ($store:ident, $db:ty) => {
        use async_trait::async_trait;
        use flowo_core::event::{EventEnvelope, RuleGraph};
        use flowo_core::fold::{JobMap, RunState};
        use flowo_core::store::{
            AppendOutcome, EventLog, EventStream, JobQuery, LiveStream, Page, RunEventQuery,
            RunQuery, RunReader, RunView, StoreError, StoredEvent, StreamFilter, WorkspaceStore,
            check_limit, check_workspace_name,
        };
        use flowo_core::{
            Job, JobId, JobStatus, RuleSummary, Run, RunError, RunId, RunStatus, StreamPos,
            Workspace, WorkspaceId,
        };
        use sqlx::{QueryBuilder, Transaction};
        use uuid::Uuid;

        use $crate::error::db;
        use $crate::append;
        use $crate::ingest;
        use $crate::rollups;
        use $crate::rows::{
            ERROR_COLUMNS, EVENT_COLUMNS, ErrorRow, EventRow, JOB_COLUMNS, JobRow, RUN_COLUMNS,
            RunRow, RunStateRow, WorkspaceRow, convert, micros, stored_word,
        };
        use $crate::sql::{self, Param, Sql};
        use $crate::sql_store::bind_params;

        type Tx = Transaction<'static, $db>;

        /// Rows per multi-row INSERT (well under both databases' parameter limits).
        const INSERT_CHUNK: usize = 1000;

        async fn fetch_as<'e, T, E>(exec: E, sql: Sql) -> Result<Vec<T>, StoreError>
        where
            T: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
            E: sqlx::Executor<'e, Database = $db>,
        {
            let q = bind_params!(sqlx::query_as::<_, T>(&sql.text), sql.params);
            q.fetch_all(exec).await.map_err(db)
        }

        /// Runs a statement that answers no rows; returns the rows it changed.
        async fn execute<'e, E>(exec: E, sql: Sql) -> Result<u64, StoreError>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            let q = bind_params!(sqlx::query(&sql.text), sql.params);
            Ok(q.execute(exec).await.map_err(db)?.rows_affected())
        }

        async fn fetch_count<'e, E>(exec: E, sql: Sql) -> Result<u64, StoreError>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            let q = bind_params!(sqlx::query_scalar::<_, i64>(&sql.text), sql.params);
            let n = q.fetch_one(exec).await.map_err(db)?;
            Ok(u64::try_from(n).unwrap_or(0))
        }

        fn lost_cutoff(lost_after: Option<chrono::Duration>) -> Option<flowo_core::Timestamp> {
            lost_after.map(|d| chrono::Utc::now() - d)
        }

        fn resolve(run: &mut Run, lost_after: Option<chrono::Duration>) {
            if let Some(d) = lost_after {
                run.resolve_lost(chrono::Utc::now(), d);
            }
        }

        /// How a stored job status shows: a job still running when its run was lost never
        /// finished, so it is incomplete.
        fn shown(status: JobStatus, lost: bool) -> JobStatus {
            if lost && status == JobStatus::Running {
                JobStatus::Incomplete
            } else {
                status
            }
        }

        async fn load_state(tx: &mut Tx, run: RunId) -> Result<Option<RunState>, StoreError> {
            let sql = format!("SELECT {RUN_COLUMNS}, detail, fold_cursor FROM runs WHERE id = $1");
            let row: Option<RunStateRow> = sqlx::query_as(&sql)
                .bind(run.0)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db)?;
            row.map(RunStateRow::into_state).transpose()
        }

        async fn load_jobs(
            conn: &mut <$db as sqlx::Database>::Connection,
            run: RunId,
            ids: impl IntoIterator<Item = JobId>,
        ) -> Result<JobMap, StoreError> {
            let ids: Vec<JobId> = ids.into_iter().collect();
            let mut jobs = JobMap::with_capacity(ids.len());
            for chunk in ids.chunks(INSERT_CHUNK) {
                let rows: Vec<JobRow> = fetch_as(&mut *conn, append::jobs_sql(run, chunk)).await?;
                for row in rows {
                    let job = row.into_job()?;
                    jobs.insert(job.job_id, job);
                }
            }
            Ok(jobs)
        }

        async fn all_run_events(tx: &mut Tx, run: RunId) -> Result<Vec<EventEnvelope>, StoreError> {
            let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE run_id = $1 ORDER BY seq");
            let rows: Vec<EventRow> = sqlx::query_as(&sql)
                .bind(run.0)
                .fetch_all(&mut **tx)
                .await
                .map_err(db)?;
            rows.into_iter()
                .map(|r| r.into_event().map(|e| e.envelope))
                .collect()
        }

        /// sqlx's write transaction as an append's (`append.rs`): PostgreSQL's appends, and
        /// the SQLite store's other writes.
        struct SqlxWrite<'s> {
            store: &'s $store,
            tx: Tx,
            /// The run locked when the transaction began ([`Begun`]).
            locked: Option<RunId>,
            /// That run's state, read then, until the append asks for it.
            state: Option<Option<RunState>>,
        }

        /// A write transaction begun with its first run locked and that run's state read.
        struct Begun {
            tx: Tx,
            run: RunId,
            state: Option<RunState>,
        }

        impl Begun {
            /// Locks `run` in the transaction `tx` and reads its state.
            async fn new(store: &$store, mut tx: Tx, run: RunId) -> Result<Self, StoreError> {
                store.lock_run(&mut tx, run).await?;
                let state = load_state(&mut tx, run).await?;
                Ok(Self { tx, run, state })
            }
        }

        impl<'s> SqlxWrite<'s> {
            async fn begin(store: &'s $store) -> Result<Self, StoreError> {
                Ok(Self { store, tx: store.begin_write().await?, locked: None, state: None })
            }

            fn begun(store: &'s $store, begun: Begun) -> Self {
                Self {
                    store,
                    tx: begun.tx,
                    locked: Some(begun.run),
                    state: Some(begun.state),
                }
            }

            async fn commit(self) -> Result<(), StoreError> {
                self.tx.commit().await.map_err(db)
            }
        }

        #[async_trait]
        impl append::WriteTx for SqlxWrite<'_> {
            async fn lock_run(&mut self, run: RunId) -> Result<(), StoreError> {
                if self.locked == Some(run) {
                    return Ok(());
                }
                self.store.lock_run(&mut self.tx, run).await
            }

            async fn load_state(&mut self, run: RunId) -> Result<Option<RunState>, StoreError> {
                if self.locked == Some(run)
                    && let Some(state) = self.state.take()
                {
                    return Ok(state);
                }
                load_state(&mut self.tx, run).await
            }

            async fn fetch_i64s(&mut self, sql: Sql) -> Result<Vec<i64>, StoreError> {
                let q = bind_params!(sqlx::query_scalar::<_, i64>(&sql.text), sql.params);
                q.fetch_all(&mut *self.tx).await.map_err(db)
            }

            async fn run_events(&mut self, run: RunId) -> Result<Vec<EventEnvelope>, StoreError> {
                all_run_events(&mut self.tx, run).await
            }

            async fn fetch_jobs(&mut self, run: RunId, ids: &[JobId]) -> Result<Vec<Job>, StoreError> {
                let rows = self.store.fetch_job_rows(&mut self.tx, run, ids).await?;
                convert(rows, JobRow::into_job)
            }

            async fn fetch_rollups(&mut self, sql: Sql) -> Result<Vec<append::RollupRow>, StoreError> {
                fetch_as(&mut *self.tx, sql).await
            }

            async fn execute(&mut self, sql: Sql) -> Result<u64, StoreError> {
                execute(&mut *self.tx, sql).await
            }

            async fn write_run_and_jobs(
                &mut self,
                run: Sql,
                jobs: &[Job],
                stored: &append::Stored<'_>,
            ) -> Result<(), StoreError> {
                self.store.write_run_and_jobs(&mut self.tx, run, jobs, stored).await
            }

            async fn lock_stream(&mut self) -> Result<(), StoreError> {
                self.store.lock_stream(&mut self.tx).await
            }

            fn upserts_in_one_statement(&self) -> bool {
                <$db as sqlx::Database>::NAME == "PostgreSQL"
            }

            async fn insert_events(
                &mut self,
                workspace: WorkspaceId,
                events: &[ingest::Row<'_>],
                received_at: i64,
                runs: &[RunId],
            ) -> Result<(), StoreError> {
                self.store
                    .insert_events(&mut self.tx, workspace, events, received_at, runs)
                    .await
            }
        }

        impl $store {
            /// Appends a batch grouped by run through sqlx, in the transaction `begun`, whose
            /// run is the first group's.
            async fn append_with_sqlx<'a>(
                &self,
                begun: Begun,
                workspace: WorkspaceId,
                groups: &[ingest::RunBatch<'a>],
                received_at: i64,
            ) -> Result<append::Appended<'a>, StoreError> {
                let mut tx = SqlxWrite::begun(self, begun);
                let appended = append::append(&mut tx, workspace, groups, received_at).await?;
                tx.commit().await?;
                Ok(appended)
            }
        }


        type RollupRow = (Uuid, String, i64, i64, i64, i64, i64, String);

        /// The stored rollups of these runs, by rule.
        async fn load_run_rollups<'e, E>(
            exec: E,
            runs: &[RunId],
        ) -> Result<std::collections::HashMap<RunId, rollups::RunRollups>, StoreError>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            let mut out = std::collections::HashMap::new();
            if runs.is_empty() {
                return Ok(out);
            }
            let mut sql = Sql::new(&format!(
                "SELECT run_id, rule, {} FROM run_rules WHERE run_id IN (",
                $crate::rows::ROLLUP_COLUMNS
            ));
            sql.bind_list(runs.iter().map(|run| Param::Uuid(run.0)));
            sql.push(")");
            let rows: Vec<RollupRow> = fetch_as(exec, sql).await?;
            for (run, rule, a, b, c, d, e, durations) in rows {
                let rollup = $crate::rows::rollup_from((a, b, c, d, e, durations))?;
                out.entry(RunId(run))
                    .or_insert_with(rollups::RunRollups::new)
                    .insert(rule, rollup);
            }
            Ok(out)
        }

        /// Pushes ` AND <column> >= from AND <column> < to` for the bounds given.
        fn push_range(sql: &mut Sql, column: &str, from: Option<i64>, to: Option<i64>) {
            if let Some(f) = from {
                sql.push(&format!(" AND {column} >= ")).bind(Param::I64(f));
            }
            if let Some(t) = to {
                sql.push(&format!(" AND {column} < ")).bind(Param::I64(t));
            }
        }

        #[async_trait]
        impl EventLog for $store {
            async fn append(
                &self,
                workspace: WorkspaceId,
                events: &[EventEnvelope],
            ) -> Result<AppendOutcome, StoreError> {
                ingest::validate(events)?;
                // The backend may begin the append's transaction now (PostgreSQL does, in a
                // task of its own), so that its first round trips overlap with the batch's
                // preparing. Groups are in run id order: the first is the smallest.
                let Some(first) = events.iter().map(|e| e.run_id).min() else {
                    return Ok(AppendOutcome::default());
                };
                let started = self.start_append(first);
                let prepared = ingest::prepare(events);
                let groups = ingest::group_by_run(events, &prepared);
                let received_at = micros(chrono::Utc::now());
                let appended = self
                    .append_groups(workspace, &groups, received_at, started)
                    .await?;
                if appended.outcome.inserted > 0 {
                    self.inner.hub.ring();
                    self.committed(&appended.inserted);
                }
                Ok(appended.outcome)
            }

            async fn events_since(
                &self,
                filter: &StreamFilter,
                after: StreamPos,
                limit: u32,
            ) -> Result<Vec<StoredEvent>, StoreError> {
                events_since(&self.inner.pool, filter.clone(), after, limit).await
            }

            async fn run_events(
                &self,
                run: RunId,
                query: &RunEventQuery,
            ) -> Result<Vec<StoredEvent>, StoreError> {
                let limit = check_limit(query.limit)?;
                let mut sql = Sql::new(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE run_id = "));
                sql.bind(Param::Uuid(run.0));
                if let Some(after) = query.after_seq {
                    sql.push(" AND seq > ").bind(Param::I64(after as i64));
                }
                if !query.kinds.is_empty() {
                    sql.push(" AND kind IN (");
                    sql.bind_list(query.kinds.iter().map(|k| Param::Text(k.clone())));
                    sql.push(")");
                }
                sql.push(&format!(" ORDER BY seq LIMIT {limit}"));
                let rows: Vec<EventRow> = fetch_as(&self.inner.pool, sql).await?;
                convert(rows, EventRow::into_event)
            }

            async fn close(&self) {
                self.close_connections().await;
            }

            async fn head(&self) -> Result<StreamPos, StoreError> {
                head(&self.inner.pool).await
            }

            async fn delete_run(&self, run: RunId) -> Result<bool, StoreError> {
                use append::WriteTx as _;
                let mut w = SqlxWrite::begin(self).await?;
                w.lock_run(run).await?;
                if let Some(state) = w.load_state(run).await? {
                    w.lock_stream().await?;
                    let change = rollups::RunChange {
                        run_id: run,
                        before: Some(rollups::Place::of(&state.run)),
                        after: None,
                        jobs: rollups::JobChanges::Replace(Default::default()),
                    };
                    append::write_rollups(&mut w, vec![change]).await?;
                }
                for table in ["events", "jobs", "run_errors", "run_tags"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE run_id = $1"))
                        .bind(run.0)
                        .execute(&mut *w.tx)
                        .await
                        .map_err(db)?;
                }
                let done = sqlx::query("DELETE FROM runs WHERE id = $1")
                    .bind(run.0)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db)?;
                w.commit().await?;
                Ok(done.rows_affected() > 0)
            }
        }

        async fn head(pool: &sqlx::Pool<$db>) -> Result<StreamPos, StoreError> {
            let pos: Option<i64> = sqlx::query_scalar("SELECT MAX(pos) FROM events")
                .fetch_one(pool)
                .await
                .map_err(db)?;
            Ok(pos.unwrap_or(0))
        }

        async fn events_since(
            pool: &sqlx::Pool<$db>,
            filter: StreamFilter,
            after: StreamPos,
            limit: u32,
        ) -> Result<Vec<StoredEvent>, StoreError> {
            let limit = check_limit(limit)?;
            let mut sql = Sql::new(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE pos > "));
            sql.bind(Param::I64(after));
            if let Some(run) = filter.run {
                sql.push(" AND run_id = ").bind(Param::Uuid(run.0));
            }
            if filter.workspaces.as_ref().is_some_and(Vec::is_empty) {
                return Ok(Vec::new());
            }
            sql::workspace_condition(&mut sql, "workspace_id", filter.workspaces.as_deref());
            sql.push(&format!(" ORDER BY pos LIMIT {limit}"));
            let rows: Vec<EventRow> = fetch_as(pool, sql).await?;
            convert(rows, EventRow::into_event)
        }

        /// The hub's view of the store.
        struct PoolSource(sqlx::Pool<$db>);

        impl $crate::hub::Source for PoolSource {
            fn fetch(
                &self,
                filter: StreamFilter,
                after: StreamPos,
                limit: u32,
            ) -> $crate::hub::FetchFuture {
                let pool = self.0.clone();
                Box::pin(async move { events_since(&pool, filter, after, limit).await })
            }

            fn head(
                &self,
            ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<StreamPos, StoreError>> + Send>>
            {
                let pool = self.0.clone();
                Box::pin(async move { head(&pool).await })
            }
        }

        #[async_trait]
        impl RunReader for $store {
            async fn get_run(&self, run: RunId) -> Result<Option<RunView>, StoreError> {
                let sql = format!("SELECT {RUN_COLUMNS}, detail, fold_cursor FROM runs WHERE id = $1");
                let row: Option<RunStateRow> = sqlx::query_as(&sql)
                    .bind(run.0)
                    .fetch_optional(&self.inner.pool)
                    .await
                    .map_err(db)?;
                let Some(row) = row else { return Ok(None) };
                let state = row.into_state()?;
                let mut view = RunView {
                    run: state.run,
                    detail: state.detail,
                };
                resolve(&mut view.run, self.inner.lost_after);
                Ok(Some(view))
            }

            async fn list_runs(&self, query: &RunQuery) -> Result<Page<Run>, StoreError> {
                let cutoff = lost_cutoff(self.inner.lost_after);
                // A text search first reads the first runs in order (common text fills the
                // page there), then asks the backend's index (rare text, found at once).
                let indexed = sql::trigram_searchable(query);
                let matching = if indexed {
                    Self::TEXT_MATCH
                } else {
                    sql::TextMatch::Like
                };
                let mut probed = None;
                if indexed {
                    let sql = sql::list_runs(query, cutoff, sql::TextMatch::Probe)?;
                    let rows: Vec<RunRow> = fetch_as(&self.inner.pool, sql).await?;
                    probed = (rows.len() > query.limit as usize).then_some(rows);
                }
                let rows: Vec<RunRow> = match probed {
                    Some(rows) => rows,
                    None => fetch_as(&self.inner.pool, sql::list_runs(query, cutoff, matching)?).await?,
                };
                let mut runs = convert(rows, RunRow::into_run)?;
                let next_cursor = if runs.len() > query.limit as usize {
                    runs.truncate(query.limit as usize);
                    runs.last().map(|r| sql::run_cursor(query.sort, r))
                } else {
                    None
                };
                for run in &mut runs {
                    resolve(run, self.inner.lost_after);
                }
                let total = if query.with_total {
                    let count = sql::count_runs_from_rollups(query)
                        .unwrap_or_else(|| sql::count_runs(query, cutoff, matching));
                    Some(fetch_count(&self.inner.pool, count).await?)
                } else {
                    None
                };
                Ok(Page {
                    items: runs,
                    next_cursor,
                    total,
                })
            }

            async fn list_jobs(&self, run: RunId, query: &JobQuery) -> Result<Page<Job>, StoreError> {
                let lost = self.run_is_lost(run).await?;
                let statuses = (!query.status.is_empty())
                    .then(|| sql::stored_job_statuses(&query.status, lost));
                let sql = sql::list_jobs(run.0, query, statuses.as_deref())?;
                let rows: Vec<JobRow> = fetch_as(&self.inner.pool, sql).await?;
                let mut jobs = convert(rows, JobRow::into_job)?;
                let next_cursor = if jobs.len() > query.limit as usize {
                    jobs.truncate(query.limit as usize);
                    jobs.last().map(|j| sql::job_cursor(query.sort, j))
                } else {
                    None
                };
                for job in &mut jobs {
                    job.status = shown(job.status, lost);
                }
                let total = if query.with_total {
                    let count = sql::count_jobs(run.0, query, statuses.as_deref());
                    Some(fetch_count(&self.inner.pool, count).await?)
                } else {
                    None
                };
                Ok(Page {
                    items: jobs,
                    next_cursor,
                    total,
                })
            }

            async fn get_job(&self, run: RunId, job: JobId) -> Result<Option<Job>, StoreError> {
                let lost = self.run_is_lost(run).await?;
                let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE run_id = $1 AND job_id = $2");
                let row: Option<JobRow> = sqlx::query_as(&sql)
                    .bind(run.0)
                    .bind(job as i64)
                    .fetch_optional(&self.inner.pool)
                    .await
                    .map_err(db)?;
                let mut job = row.map(JobRow::into_job).transpose()?;
                if let Some(job) = &mut job {
                    job.status = shown(job.status, lost);
                }
                Ok(job)
            }

            async fn get_jobs(&self, run: RunId, jobs: &[JobId]) -> Result<Vec<Job>, StoreError> {
                if jobs.is_empty() {
                    return Ok(Vec::new());
                }
                let lost = self.run_is_lost(run).await?;
                let mut conn = self.inner.pool.acquire().await.map_err(db)?;
                let found = load_jobs(&mut conn, run, jobs.iter().copied()).await?;
                let mut found: Vec<Job> = found.into_values().collect();
                for job in &mut found {
                    job.status = shown(job.status, lost);
                }
                Ok(found)
            }

            async fn rule_summaries(&self, run: RunId) -> Result<Vec<RuleSummary>, StoreError> {
                let view = self
                    .get_run(run)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("run {run}")))?;
                let lost = view.run.status == RunStatus::Lost;
                let stored = load_run_rollups(&self.inner.pool, &[run]).await?;
                let mut summaries: std::collections::BTreeMap<String, RuleSummary> =
                    std::collections::BTreeMap::new();
                for (rule, n) in &view.detail.planned {
                    let entry = summaries.entry(rule.clone()).or_default();
                    entry.rule = rule.clone();
                    entry.planned = Some(*n);
                }
                for (rule, rollup) in stored.into_values().flatten() {
                    let entry = summaries.entry(rule.clone()).or_default();
                    entry.rule = rule;
                    rollup.summarize(entry);
                    if lost {
                        entry.jobs.incomplete += entry.jobs.running;
                        entry.jobs.running = 0;
                    }
                }
                Ok(summaries
                    .into_values()
                    .map(|mut summary| {
                        let seen = summary.jobs.total();
                        summary.not_started = summary.planned.unwrap_or(0).saturating_sub(seen);
                        summary
                    })
                    .collect())
            }

            async fn rule_graph(&self, run: RunId) -> Result<Option<RuleGraph>, StoreError> {
                Ok(self.get_run(run).await?.and_then(|v| v.detail.rulegraph))
            }

            async fn timeline(&self, run: RunId) -> Result<Vec<flowo_core::store::TimelineBar>, StoreError> {
                self.timeline_rows(run).await
            }

            async fn workspace_stats(
                &self,
                query: &flowo_core::store::StatsQuery,
            ) -> Result<flowo_core::store::WorkspaceStats, StoreError> {
                self.stats(query).await
            }

            async fn run_errors(&self, run: RunId) -> Result<Vec<RunError>, StoreError> {
                let sql = format!("SELECT {ERROR_COLUMNS} FROM run_errors WHERE run_id = $1 ORDER BY seq");
                let rows: Vec<ErrorRow> = sqlx::query_as(&sql)
                    .bind(run.0)
                    .fetch_all(&self.inner.pool)
                    .await
                    .map_err(db)?;
                convert(rows, ErrorRow::into_error)
            }
        }

        impl $store {
            async fn timeline_rows(&self, run: RunId) -> Result<Vec<flowo_core::store::TimelineBar>, StoreError> {
                let lost = self.run_is_lost(run).await?;
                let rows: Vec<(i64, String, String, Option<i64>, Option<i64>)> = sqlx::query_as(
                    "SELECT job_id, rule, status, started_at, finished_at FROM jobs \
                     WHERE run_id = $1 ORDER BY COALESCE(started_at, -1), job_id",
                )
                .bind(run.0)
                .fetch_all(&self.inner.pool)
                .await
                .map_err(db)?;
                rows.into_iter()
                    .map(|(job_id, rule, status, started, finished)| {
                        let status = shown(stored_word(&status)?, lost);
                        Ok(flowo_core::store::TimelineBar {
                            job_id: job_id as u64,
                            rule,
                            status,
                            started_at: started.map($crate::rows::from_micros).transpose()?,
                            finished_at: finished.map($crate::rows::from_micros).transpose()?,
                        })
                    })
                    .collect()
            }

            async fn stats(
                &self,
                query: &flowo_core::store::StatsQuery,
            ) -> Result<flowo_core::store::WorkspaceStats, StoreError> {
                use flowo_core::rollup::{DAY_US, RuleRollup, day_of, month_start, next_month};
                use flowo_core::store::{DayCount, RuleStats, WorkspaceStats};
                if query.workspaces.as_ref().is_some_and(Vec::is_empty) {
                    return Ok(WorkspaceStats::default());
                }
                let from = query.from.map(micros);
                let to = query.to.map(micros);
                // Whole days inside [from, to) are read from the day tables; runs started in
                // the partial days at either end are read one by one.
                let first_day = from.map(|f| day_of(f) + i64::from(f.rem_euclid(DAY_US) != 0));
                let end_day = to.map(day_of);
                let whole = match (first_day, end_day) {
                    (Some(a), Some(b)) if a >= b => None,
                    _ => Some((first_day, end_day)),
                };
                let edges: Vec<(Option<i64>, Option<i64>)> = match whole {
                    None => vec![(from, to)],
                    Some((a, b)) => {
                        let mut edges = Vec::new();
                        if let (Some(f), Some(a)) = (from, a) {
                            if f < a * DAY_US {
                                edges.push((Some(f), Some(a * DAY_US)));
                            }
                        }
                        if let (Some(t), Some(b)) = (to, b) {
                            if b * DAY_US < t {
                                edges.push((Some(b * DAY_US), Some(t)));
                            }
                        }
                        edges
                    }
                };
                let mut rules: std::collections::BTreeMap<String, RuleRollup> = Default::default();
                let mut merge = |rows: Vec<(String, i64, i64, i64, i64, i64, String)>| -> Result<(), StoreError> {
                    for (rule, a, b, c, d, e, durations) in rows {
                        let r = $crate::rows::rollup_from((a, b, c, d, e, durations))?;
                        rules.entry(rule).or_default().merge(&r);
                    }
                    Ok(())
                };
                let mut by_status: std::collections::BTreeMap<String, u64> = Default::default();
                let mut per_day: std::collections::BTreeMap<i64, u64> = Default::default();
                let pool = &self.inner.pool;
                if let Some((a, b)) = whole {
                    // Whole months from `rule_months`, the days around them from `rule_days`.
                    let m0 = a.map(|a| if month_start(a) == a { a } else { next_month(a) });
                    let m1 = b.map(month_start);
                    let spans: Vec<(&str, &str, Option<i64>, Option<i64>)> = match (m0, m1) {
                        (Some(x), Some(y)) if x >= y => vec![("rule_days", "day", a, b)],
                        _ => {
                            let mut spans = vec![("rule_months", "month", m0, m1)];
                            if let (Some(a), Some(m0)) = (a, m0) {
                                spans.push(("rule_days", "day", Some(a), Some(m0)));
                            }
                            if let (Some(m1), Some(b)) = (m1, b) {
                                spans.push(("rule_days", "day", Some(m1), Some(b)));
                            }
                            spans
                        }
                    };
                    for (table, column, lo, hi) in spans {
                        if lo.zip(hi).is_some_and(|(lo, hi)| lo >= hi) {
                            continue;
                        }
                        let mut sql = Sql::new(&format!(
                            "SELECT rule, {} FROM {table} WHERE 1 = 1",
                            $crate::rows::ROLLUP_COLUMNS
                        ));
                        sql::workspace_condition(&mut sql, "workspace_id", query.workspaces.as_deref());
                        push_range(&mut sql, column, lo, hi);
                        merge(fetch_as(pool, sql).await?)?;
                    }
                    let mut sql = Sql::new("SELECT day, status, runs FROM run_days WHERE runs <> 0");
                    sql::workspace_condition(&mut sql, "workspace_id", query.workspaces.as_deref());
                    push_range(&mut sql, "day", a, b);
                    let rows: Vec<(i64, String, i64)> = fetch_as(pool, sql).await?;
                    for (day, status, n) in rows {
                        let n = u64::try_from(n).unwrap_or(0);
                        *by_status.entry(status).or_default() += n;
                        *per_day.entry(day).or_default() += n;
                    }
                }
                for (lo, hi) in edges {
                    let mut sql = Sql::new(&format!(
                        "SELECT x.rule, x.{} FROM run_rules x JOIN runs r ON r.id = x.run_id WHERE 1 = 1",
                        $crate::rows::ROLLUP_COLUMNS.replace(", ", ", x.")
                    ));
                    sql::workspace_condition(&mut sql, "r.workspace_id", query.workspaces.as_deref());
                    push_range(&mut sql, "r.started_at", lo, hi);
                    merge(fetch_as(pool, sql).await?)?;
                    let mut sql = Sql::new("SELECT r.started_at, r.status FROM runs r WHERE 1 = 1");
                    sql::workspace_condition(&mut sql, "r.workspace_id", query.workspaces.as_deref());
                    push_range(&mut sql, "r.started_at", lo, hi);
                    let rows: Vec<(i64, String)> = fetch_as(pool, sql).await?;
                    for (started, status) in rows {
                        *by_status.entry(status).or_default() += 1;
                        *per_day.entry(day_of(started)).or_default() += 1;
                    }
                }
                // Running runs without an event for the store's timeout read as lost.
                if let Some(cutoff) = lost_cutoff(self.inner.lost_after) {
                    let mut sql = Sql::new(
                        "SELECT COUNT(*) FROM runs r WHERE r.status = 'running' AND r.last_event_at < ",
                    );
                    sql.bind(Param::I64(micros(cutoff)));
                    sql::workspace_condition(&mut sql, "r.workspace_id", query.workspaces.as_deref());
                    push_range(&mut sql, "r.started_at", from, to);
                    let lost = fetch_count(pool, sql).await?;
                    if lost > 0 {
                        if let Some(running) = by_status.get_mut("running") {
                            *running = running.saturating_sub(lost);
                        }
                        *by_status.entry("lost".into()).or_default() += lost;
                    }
                }
                by_status.retain(|_, n| *n > 0);
                let mut stats = WorkspaceStats {
                    runs_by_status: by_status,
                    ..Default::default()
                };
                let mut out = Vec::with_capacity(rules.len());
                for (rule, r) in rules {
                    for &status in JobStatus::ALL {
                        let n = r.jobs.get(status);
                        if n > 0 {
                            *stats.jobs_by_status.entry(status.as_str().to_owned()).or_default() += n;
                        }
                    }
                    let total = r.jobs.total();
                    if total == 0 {
                        continue;
                    }
                    let finished = r.jobs.succeeded + r.jobs.failed;
                    out.push(RuleStats {
                        rule,
                        jobs: total,
                        failed: r.jobs.failed,
                        failure_rate: (finished > 0)
                            .then(|| r.jobs.failed as f64 / finished as f64),
                        duration_median: r.durations.median(),
                        duration_max: r.durations.max_seconds(),
                    });
                }
                out.sort_by(|a, b| b.jobs.cmp(&a.jobs).then_with(|| a.rule.cmp(&b.rule)));
                stats.rules = out;
                stats.runs_per_day = per_day
                    .into_iter()
                    .filter(|(_, n)| *n > 0)
                    .filter_map(|(day, n)| {
                        let date = chrono::DateTime::from_timestamp(day * 86_400, 0)?;
                        Some(DayCount {
                            day: date.format("%Y-%m-%d").to_string(),
                            runs: n,
                        })
                    })
                    .collect();
                Ok(stats)
            }

            /// Fills the rollup tables anew from the stored runs and jobs (after the migration
            /// that made them, or after rows were written around the store). Appends wait
            /// meanwhile. Returns the runs counted.
            pub async fn rebuild_rollups(&self) -> Result<u64, StoreError> {
                use flowo_core::rollup::{JobMark, day_of};
                let mut w = SqlxWrite::begin(self).await?;
                self.lock_stream(&mut w.tx).await?;
                for table in ["run_rules", "rule_days", "rule_months", "run_days"] {
                    sqlx::query(&format!("DELETE FROM {table}"))
                        .execute(&mut *w.tx)
                        .await
                        .map_err(db)?;
                }
                let runs: Vec<(Uuid, Uuid, String, i64)> =
                    sqlx::query_as("SELECT id, workspace_id, status, started_at FROM runs ORDER BY id")
                        .fetch_all(&mut *w.tx)
                        .await
                        .map_err(db)?;
                let mut changes = Vec::new();
                let mut run_days: std::collections::BTreeMap<(Uuid, i64, String), i64> = Default::default();
                let mut rule_days: std::collections::BTreeMap<(Uuid, i64, String), flowo_core::rollup::RuleRollup> =
                    Default::default();
                for chunk in runs.chunks(200) {
                    let mut sql = Sql::new(
                        "SELECT run_id, rule, status, started_at, finished_at FROM jobs WHERE run_id IN (",
                    );
                    for (i, (id, ..)) in chunk.iter().enumerate() {
                        if i > 0 {
                            sql.push(", ");
                        }
                        sql.bind(Param::Uuid(*id));
                    }
                    sql.push(")");
                    let jobs: Vec<(Uuid, String, String, Option<i64>, Option<i64>)> =
                        fetch_as(&mut *w.tx, sql).await?;
                    let mut by_run: std::collections::HashMap<Uuid, rollups::RunRollups> = Default::default();
                    for (run, rule, status, started, finished) in jobs {
                        let status: JobStatus = stored_word(&status)?;
                        let duration = match (status, started, finished) {
                            (JobStatus::Succeeded, Some(s), Some(f)) => Some(f - s),
                            _ => None,
                        };
                        by_run.entry(run).or_default().entry(rule).or_default().add(JobMark { status, duration });
                    }
                    for (id, ws, status, started) in chunk {
                        let day = day_of(*started);
                        *run_days.entry((*ws, day, status.clone())).or_default() += 1;
                        for (rule, r) in by_run.remove(id).unwrap_or_default() {
                            rule_days.entry((*ws, day, rule.clone())).or_default().merge(&r);
                            changes.push((RunId(*id), rule, r));
                        }
                    }
                    if changes.len() >= INSERT_CHUNK {
                        append::write_upserts(&mut w, &[append::Upsert::RunRules(&changes)]).await?;
                        changes.clear();
                    }
                }
                append::write_upserts(&mut w, &[append::Upsert::RunRules(&changes)]).await?;
                let mut rule_months: std::collections::BTreeMap<(Uuid, i64, String), flowo_core::rollup::RuleRollup> =
                    Default::default();
                for ((ws, day, rule), r) in &rule_days {
                    rule_months
                        .entry((*ws, flowo_core::rollup::month_start(*day), rule.clone()))
                        .or_default()
                        .merge(r);
                }
                let rule_days: Vec<_> = rule_days.into_iter().collect();
                append::write_upserts(&mut w, &[append::Upsert::Periods { table: "rule_days", column: "day", rows: &rule_days }]).await?;
                let rule_months: Vec<_> = rule_months.into_iter().collect();
                append::write_upserts(&mut w, &[append::Upsert::Periods { table: "rule_months", column: "month", rows: &rule_months }]).await?;
                let run_days: Vec<_> = run_days.into_iter().collect();
                for chunk in run_days.chunks(INSERT_CHUNK) {
                    let mut qb: QueryBuilder<$db> =
                        QueryBuilder::new("INSERT INTO run_days (workspace_id, day, status, runs) ");
                    qb.push_values(chunk, |mut b, ((ws, day, status), n)| {
                        b.push_bind(*ws).push_bind(*day).push_bind(status.clone()).push_bind(*n);
                    });
                    qb.build().execute(&mut *w.tx).await.map_err(db)?;
                }
                sqlx::query("DELETE FROM settings WHERE key = 'store.rollups'")
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db)?;
                w.commit().await?;
                Ok(runs.len() as u64)
            }

            /// Rebuilds the rollups when the store says they are stale (see the migration).
            async fn rebuild_stale_rollups(&self) -> Result<(), StoreError> {
                let stale: Option<String> =
                    sqlx::query_scalar("SELECT value FROM settings WHERE key = 'store.rollups'")
                        .fetch_optional(&self.inner.pool)
                        .await
                        .map_err(db)?;
                if stale.is_some() {
                    let t = std::time::Instant::now();
                    let runs = self.rebuild_rollups().await?;
                    tracing::info!(runs, seconds = t.elapsed().as_secs_f64(), "rebuilt the rule and day rollups");
                }
                Ok(())
            }

            /// Whether the run is lost now; [`StoreError::NotFound`] if it does not exist.
            async fn run_is_lost(&self, run: RunId) -> Result<bool, StoreError> {
                let row: Option<(String, i64)> =
                    sqlx::query_as("SELECT status, last_event_at FROM runs WHERE id = $1")
                        .bind(run.0)
                        .fetch_optional(&self.inner.pool)
                        .await
                        .map_err(db)?;
                let (status, last) = row.ok_or_else(|| StoreError::NotFound(format!("run {run}")))?;
                let Some(lost_after) = self.inner.lost_after else { return Ok(false) };
                let status: RunStatus = stored_word(&status)?;
                let last = $crate::rows::from_micros(last)?;
                Ok(Run::is_lost(status, Some(last), chrono::Utc::now(), lost_after))
            }
        }

        #[async_trait]
        impl LiveStream for $store {
            async fn subscribe(
                &self,
                filter: StreamFilter,
                after: Option<StreamPos>,
            ) -> Result<EventStream, StoreError> {
                self.inner.hub.subscribe(filter, after).await
            }
        }

        #[async_trait]
        impl WorkspaceStore for $store {
            async fn create_workspace(&self, name: &str) -> Result<Workspace, StoreError> {
                check_workspace_name(name)?;
                let id = Uuid::new_v4();
                let now = micros(chrono::Utc::now());
                let done = sqlx::query(
                    "INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(id)
                .bind(name)
                .bind(now)
                .execute(&self.inner.pool)
                .await
                .map_err(db)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::Conflict(format!("workspace {name:?}")));
                }
                self.workspace_by_name(name)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("workspace {name:?}")))
            }

            async fn ensure_workspace(&self, name: &str) -> Result<Workspace, StoreError> {
                if let Some(ws) = self.workspace_by_name(name).await? {
                    return Ok(ws);
                }
                match self.create_workspace(name).await {
                    Err(StoreError::Conflict(_)) => self
                        .workspace_by_name(name)
                        .await?
                        .ok_or_else(|| StoreError::NotFound(format!("workspace {name:?}"))),
                    other => other,
                }
            }

            async fn workspace_by_name(&self, name: &str) -> Result<Option<Workspace>, StoreError> {
                if name.contains('\0') {
                    // No workspace name holds one (PostgreSQL could not even compare it).
                    return Ok(None);
                }
                let row: Option<WorkspaceRow> =
                    sqlx::query_as("SELECT id, name, created_at FROM workspaces WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&self.inner.pool)
                        .await
                        .map_err(db)?;
                row.map(WorkspaceRow::into_workspace).transpose()
            }

            async fn workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>, StoreError> {
                let row: Option<WorkspaceRow> =
                    sqlx::query_as("SELECT id, name, created_at FROM workspaces WHERE id = $1")
                        .bind(id.0)
                        .fetch_optional(&self.inner.pool)
                        .await
                        .map_err(db)?;
                row.map(WorkspaceRow::into_workspace).transpose()
            }

            async fn list_workspaces(&self) -> Result<Vec<Workspace>, StoreError> {
                let rows: Vec<WorkspaceRow> =
                    sqlx::query_as("SELECT id, name, created_at FROM workspaces ORDER BY name")
                        .fetch_all(&self.inner.pool)
                        .await
                        .map_err(db)?;
                convert(rows, WorkspaceRow::into_workspace)
            }
        }
    };
}
pub(crate) use impl_sql_store;

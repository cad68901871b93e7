//! Row types shared by both backends and their conversion to and from core types.
//!
//! sqlx stays inside this crate: core types never derive `FromRow`. Times are stored as
//! microseconds since the Unix epoch in both backends, so that the SQL is the same.

use flowo_core::event::EventEnvelope;
use flowo_core::fold::{FoldCursor, RunDetail, RunState};
use flowo_core::model::{ErrorScope, JobCounts, JobDetail};
use flowo_core::store::{StoreError, StoredEvent};
use flowo_core::{Job, Run, RunError, Timestamp, Workspace};
use uuid::Uuid;

/// Timestamp to stored microseconds.
pub(crate) fn micros(t: Timestamp) -> i64 {
    t.timestamp_micros()
}

/// Stored microseconds to a timestamp.
pub(crate) fn from_micros(us: i64) -> Result<Timestamp, StoreError> {
    chrono::DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {us} out of range")))
}

fn opt_from_micros(us: Option<i64>) -> Result<Option<Timestamp>, StoreError> {
    us.map(from_micros).transpose()
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Parses a stored status, role or scope word; a word we did not write is corrupt data.
pub(crate) fn stored_word<T>(word: &str) -> Result<T, StoreError>
where
    T: std::str::FromStr<Err = flowo_core::model::UnknownStatus>,
{
    word.parse()
        .map_err(|e: flowo_core::model::UnknownStatus| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    what: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Our own types serialize infallibly (string keys, no non-finite floats from parsing).
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// [`to_json`], appended to `out`.
pub(crate) fn write_json<T: serde::Serialize>(out: &mut Vec<u8>, value: &T) {
    let start = out.len();
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.truncate(start);
        out.extend_from_slice(b"null");
    }
}

/// Texts written one after the other into one string (one allocation for a batch, not one per
/// item), each read back by its index.
pub(crate) struct Texts {
    text: String,
    ends: Vec<usize>,
}

impl Texts {
    /// The texts `write` appends to the buffer, one per item, in order.
    pub(crate) fn build<T>(items: &[T], mut write: impl FnMut(&mut Vec<u8>, usize, &T)) -> Self {
        let mut out = Vec::with_capacity(items.len() * 256);
        let mut ends = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            write(&mut out, i, item);
            ends.push(out.len());
        }
        match String::from_utf8(out) {
            Ok(text) => Self { text, ends },
            // Writers write whole strings, so this is not reached; were a text not UTF-8,
            // each is converted on its own, and the ends follow the converted texts.
            Err(e) => {
                let out = e.into_bytes();
                let mut text = String::with_capacity(out.len());
                let mut start = 0;
                for end in &mut ends {
                    text.push_str(&String::from_utf8_lossy(&out[start..*end]));
                    start = *end;
                    *end = text.len();
                }
                Self { text, ends }
            }
        }
    }

    /// Item `i`'s text.
    pub(crate) fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    /// The texts, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.ends.len()).map(|i| self.get(i))
    }
}

/// Columns of `runs` in the order of [`RunRow`].
pub(crate) const RUN_COLUMNS: &str = "id, workspace_id, status, dry_run, name, description, tags, \
    workflow_id, snakemake_version, host, \"user\", command_line, workdir, snakefile, cores, \
    started_at, finished_at, last_event_at, done, total, jobs_running, jobs_succeeded, \
    jobs_failed, jobs_incomplete, jobs_planned, error_count, event_count, last_seq";

/// A row of `runs` without the fold state.
#[derive(sqlx::FromRow)]
pub(crate) struct RunRow {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub status: String,
    pub dry_run: bool,
    pub name: String,
    pub description: Option<String>,
    pub tags: String,
    pub workflow_id: Option<String>,
    pub snakemake_version: Option<String>,
    pub host: Option<String>,
    pub user: Option<String>,
    pub command_line: Option<String>,
    pub workdir: Option<String>,
    pub snakefile: Option<String>,
    pub cores: Option<i64>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub last_event_at: i64,
    pub done: i64,
    pub total: i64,
    pub jobs_running: i64,
    pub jobs_succeeded: i64,
    pub jobs_failed: i64,
    pub jobs_incomplete: i64,
    pub jobs_planned: i64,
    pub error_count: i64,
    pub event_count: i64,
    pub last_seq: Option<i64>,
}

impl RunRow {
    pub(crate) fn into_run(self) -> Result<Run, StoreError> {
        Ok(Run {
            id: self.id.into(),
            workspace_id: self.workspace_id.into(),
            workflow_id: self.workflow_id,
            status: stored_word(&self.status)?,
            dry_run: self.dry_run,
            name: (!self.name.is_empty()).then_some(self.name),
            description: self.description,
            tags: parse_json("run tags", &self.tags)?,
            snakemake_version: self.snakemake_version,
            host: self.host,
            user: self.user,
            command_line: self.command_line,
            workdir: self.workdir,
            snakefile: self.snakefile,
            cores: self.cores.map(to_u64),
            started_at: Some(from_micros(self.started_at)?),
            finished_at: opt_from_micros(self.finished_at)?,
            last_event_at: Some(from_micros(self.last_event_at)?),
            done: to_u64(self.done),
            total: to_u64(self.total),
            jobs: JobCounts {
                running: to_u64(self.jobs_running),
                succeeded: to_u64(self.jobs_succeeded),
                failed: to_u64(self.jobs_failed),
                incomplete: to_u64(self.jobs_incomplete),
                planned: to_u64(self.jobs_planned),
            },
            error_count: to_u64(self.error_count),
            event_count: to_u64(self.event_count),
            last_seq: self.last_seq.map(to_u64),
        })
    }
}

/// The fold state of a run as stored (`runs.detail`, `runs.fold_cursor`).
#[derive(sqlx::FromRow)]
pub(crate) struct RunStateRow {
    #[sqlx(flatten)]
    pub run: RunRow,
    pub detail: String,
    pub fold_cursor: String,
}

impl RunStateRow {
    pub(crate) fn into_state(self) -> Result<RunState, StoreError> {
        Ok(RunState {
            detail: parse_json::<RunDetail>("run detail", &self.detail)?,
            cursor: parse_json::<FoldCursor>("fold cursor", &self.fold_cursor)?,
            run: self.run.into_run()?,
        })
    }
}

impl RunStateRow {
    /// The row to write for a run's state (the inverse of [`RunStateRow::into_state`]).
    pub(crate) fn from_state(state: &RunState) -> Self {
        let run = &state.run;
        let started = run.started_at.map(micros).unwrap_or_default();
        Self {
            run: RunRow {
                id: run.id.0,
                workspace_id: run.workspace_id.0,
                status: run.status.as_str().to_owned(),
                dry_run: run.dry_run,
                name: run.name.clone().unwrap_or_default(),
                description: run.description.clone(),
                tags: to_json(&run.tags),
                workflow_id: run.workflow_id.clone(),
                snakemake_version: run.snakemake_version.clone(),
                host: run.host.clone(),
                user: run.user.clone(),
                command_line: run.command_line.clone(),
                workdir: run.workdir.clone(),
                snakefile: run.snakefile.clone(),
                cores: run.cores.map(to_i64),
                started_at: started,
                finished_at: run.finished_at.map(micros),
                last_event_at: run.last_event_at.map(micros).unwrap_or(started),
                done: to_i64(run.done),
                total: to_i64(run.total),
                jobs_running: to_i64(run.jobs.running),
                jobs_succeeded: to_i64(run.jobs.succeeded),
                jobs_failed: to_i64(run.jobs.failed),
                jobs_incomplete: to_i64(run.jobs.incomplete),
                jobs_planned: to_i64(run.jobs.planned),
                error_count: to_i64(run.error_count),
                event_count: to_i64(run.event_count),
                last_seq: run.last_seq.map(to_i64),
            },
            detail: to_json(&state.detail),
            fold_cursor: to_json(&state.cursor),
        }
    }
}

/// The lower-cased text that run search matches: name, workdir, description and tags.
pub(crate) fn run_search_text(run: &Run) -> String {
    let mut search = String::new();
    let parts = [&run.name, &run.workdir, &run.description]
        .into_iter()
        .flatten();
    for part in parts.chain(&run.tags) {
        search.push_str(&part.to_lowercase());
        search.push('\n');
    }
    search
}

/// Columns of `jobs` in the order of [`JobRow`].
pub(crate) const JOB_COLUMNS: &str =
    "run_id, job_id, rule, status, attempts, started_at, finished_at, detail";

/// How a job's row replaces the stored row of the same job (both backends' upserts end with it).
pub(crate) const JOB_UPSERT: &str = "ON CONFLICT (run_id, job_id) DO UPDATE SET \
    rule = excluded.rule, status = excluded.status, attempts = excluded.attempts, \
    started_at = excluded.started_at, finished_at = excluded.finished_at, detail = excluded.detail";

/// A row of `jobs`.
#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    pub run_id: Uuid,
    pub job_id: i64,
    pub rule: String,
    pub status: String,
    pub attempts: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub detail: String,
}

impl JobRow {
    pub(crate) fn into_job(self) -> Result<Job, StoreError> {
        Ok(Job {
            run_id: self.run_id.into(),
            job_id: to_u64(self.job_id),
            rule: self.rule,
            status: stored_word(&self.status)?,
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            started_at: opt_from_micros(self.started_at)?,
            finished_at: opt_from_micros(self.finished_at)?,
            detail: parse_json::<JobDetail>("job detail", &self.detail)?,
        })
    }
}

/// Columns of `run_errors` in the order of [`ErrorRow`].
pub(crate) const ERROR_COLUMNS: &str =
    "run_id, seq, recorded_at, scope, exception, message, rule, job_id";

/// A row of `run_errors`.
#[derive(sqlx::FromRow)]
pub(crate) struct ErrorRow {
    pub run_id: Uuid,
    pub seq: i64,
    pub recorded_at: i64,
    pub scope: String,
    pub exception: Option<String>,
    pub message: Option<String>,
    pub rule: Option<String>,
    pub job_id: Option<i64>,
}

impl ErrorRow {
    pub(crate) fn into_error(self) -> Result<RunError, StoreError> {
        Ok(RunError {
            run_id: self.run_id.into(),
            seq: to_u64(self.seq),
            recorded_at: from_micros(self.recorded_at)?,
            scope: match self.scope.as_str() {
                "job" => ErrorScope::Job,
                _ => ErrorScope::Workflow,
            },
            exception: self.exception,
            message: self.message,
            rule: self.rule,
            job_id: self.job_id.map(to_u64),
        })
    }
}

pub(crate) fn scope_str(scope: ErrorScope) -> &'static str {
    match scope {
        ErrorScope::Job => "job",
        ErrorScope::Workflow => "workflow",
    }
}

/// Columns of `events` in the order of [`EventRow`].
pub(crate) const EVENT_COLUMNS: &str =
    "pos, run_id, seq, workspace_id, kind, recorded_at, received_at, data";

/// The columns an event is inserted with: [`EVENT_COLUMNS`] but `pos`, which the store gives.
pub(crate) const EVENT_INSERT_COLUMNS: &str =
    "run_id, seq, workspace_id, kind, recorded_at, received_at, data";

/// A row of `events`.
#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    pub pos: i64,
    pub run_id: Uuid,
    pub seq: i64,
    pub workspace_id: Uuid,
    pub kind: String,
    pub recorded_at: i64,
    pub received_at: i64,
    pub data: String,
}

impl EventRow {
    pub(crate) fn into_event(self) -> Result<StoredEvent, StoreError> {
        Ok(StoredEvent {
            pos: self.pos,
            workspace_id: self.workspace_id.into(),
            envelope: EventEnvelope {
                run_id: self.run_id.into(),
                seq: to_u64(self.seq),
                recorded_at: from_micros(self.recorded_at)?,
                received_at: Some(from_micros(self.received_at)?),
                kind: self.kind,
                data: parse_json("event data", &self.data)?,
            },
        })
    }
}

/// A row of `workspaces`.
#[derive(sqlx::FromRow)]
pub(crate) struct WorkspaceRow {
    pub id: Uuid,
    pub name: String,
    pub created_at: i64,
}

impl WorkspaceRow {
    pub(crate) fn into_workspace(self) -> Result<Workspace, StoreError> {
        Ok(Workspace {
            id: self.id.into(),
            name: self.name,
            created_at: from_micros(self.created_at)?,
        })
    }
}

/// Converts a sequence of rows.
pub(crate) fn convert<R, T>(
    rows: Vec<R>,
    f: impl Fn(R) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(f).collect()
}

/// Columns of `users` in the order of [`UserRow`].
pub(crate) const USER_COLUMNS: &str = "id, email, role, disabled, password_hash, created_at";

/// A row of `users`.
#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub role: String,
    pub disabled: bool,
    pub password_hash: Option<String>,
    pub created_at: i64,
}

impl UserRow {
    pub(crate) fn into_credentials(
        self,
    ) -> Result<flowo_core::account::UserCredentials, StoreError> {
        Ok(flowo_core::account::UserCredentials {
            user: flowo_core::account::User {
                id: flowo_core::account::UserId(self.id),
                email: self.email,
                role: stored_word(&self.role)?,
                disabled: self.disabled,
                created_at: from_micros(self.created_at)?,
            },
            password_hash: self.password_hash,
        })
    }

    pub(crate) fn into_user(self) -> Result<flowo_core::account::User, StoreError> {
        Ok(self.into_credentials()?.user)
    }
}

/// Columns of `api_tokens` in the order of [`TokenRow`].
pub(crate) const TOKEN_COLUMNS: &str = "id, user_id, name, scope, workspace_id, prefix, created_at, \
    expires_at, last_used_at, revoked_at";

/// A row of `api_tokens` (without the hash).
#[derive(sqlx::FromRow)]
pub(crate) struct TokenRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub scope: String,
    pub workspace_id: Option<Uuid>,
    pub prefix: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl TokenRow {
    pub(crate) fn into_token(self) -> Result<flowo_core::account::ApiToken, StoreError> {
        Ok(flowo_core::account::ApiToken {
            id: flowo_core::account::ApiTokenId(self.id),
            user_id: flowo_core::account::UserId(self.user_id),
            name: self.name,
            scope: stored_word(&self.scope)?,
            workspace_id: self.workspace_id.map(Into::into),
            prefix: self.prefix,
            created_at: from_micros(self.created_at)?,
            expires_at: opt_from_micros(self.expires_at)?,
            last_used_at: opt_from_micros(self.last_used_at)?,
            revoked_at: opt_from_micros(self.revoked_at)?,
        })
    }
}

/// The columns of a rollup row after its key (`run_rules`, `rule_days`).
pub(crate) const ROLLUP_COLUMNS: &str =
    "jobs_running, jobs_succeeded, jobs_failed, jobs_incomplete, jobs_planned, durations";

/// A rollup row's values after its key.
pub(crate) type RollupValues = (i64, i64, i64, i64, i64, String);

pub(crate) fn rollup_from(
    (running, succeeded, failed, incomplete, planned, durations): RollupValues,
) -> Result<flowo_core::rollup::RuleRollup, StoreError> {
    let count = |n: i64| u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("count {n}")));
    Ok(flowo_core::rollup::RuleRollup {
        jobs: flowo_core::JobCounts {
            running: count(running)?,
            succeeded: count(succeeded)?,
            failed: count(failed)?,
            incomplete: count(incomplete)?,
            planned: count(planned)?,
        },
        durations: parse_json("rollup durations", &durations)?,
    })
}

pub(crate) fn rollup_values(r: &flowo_core::rollup::RuleRollup) -> RollupValues {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    (
        n(r.jobs.running),
        n(r.jobs.succeeded),
        n(r.jobs.failed),
        n(r.jobs.incomplete),
        n(r.jobs.planned),
        to_json(&r.durations),
    )
}

#[cfg(test)]
mod tests {
    use super::Texts;

    /// Each item's text is read back by its index, empty ones too; and were a writer to write
    /// bytes that are not UTF-8, each text is converted on its own and the others stay whole.
    #[test]
    fn texts_are_read_back_by_index() {
        let items = ["first", "", "é third", "fourth"];
        let texts = Texts::build(&items, |out, _, s| out.extend_from_slice(s.as_bytes()));
        assert_eq!(texts.iter().collect::<Vec<_>>(), items);
        assert_eq!(texts.get(2), "é third");

        let texts = Texts::build(&items, |out, i, s| {
            out.extend_from_slice(s.as_bytes());
            if i == 1 {
                out.push(0xff);
            }
        });
        assert_eq!(
            texts.iter().collect::<Vec<_>>(),
            ["first", "\u{fffd}", "é third", "fourth"]
        );
    }
}

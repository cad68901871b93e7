//! SQL text shared by both backends: the run and job search queries with keyset pagination.
//!
//! Both backends store the same columns with the same types and both accept `$n` placeholders
//! (sqlx maps them for SQLite), so a query is built once as text plus a list of [`Param`]s.

use flowo_core::store::{JobQuery, JobSort, RunQuery, RunSort, SortOrder, StoreError, check_limit};
use flowo_core::{JobStatus, RunStatus, Timestamp};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::rows::{JOB_COLUMNS, RUN_COLUMNS, micros};

/// A bound value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Param {
    I64(i64),
    Text(String),
    Uuid(Uuid),
    Bool(bool),
    OptI64(Option<i64>),
    OptText(Option<String>),
}

/// A query under construction.
pub(crate) struct Sql {
    pub text: String,
    pub params: Vec<Param>,
}

impl Sql {
    pub(crate) fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            params: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `param`.
    pub(crate) fn bind(&mut self, param: Param) -> &mut Self {
        self.params.push(param);
        self.text.push_str(&format!("${}", self.params.len()));
        self
    }

    /// Appends placeholders bound to `params`, separated by commas (the inside of `IN (…)`).
    pub(crate) fn bind_list(&mut self, params: impl IntoIterator<Item = Param>) -> &mut Self {
        for (i, param) in params.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(param);
        }
        self
    }
}

/// The position after the last item of a page.
#[derive(Serialize, Deserialize)]
struct Cursor {
    /// Sort key: an integer (times, job ids) or a string (names).
    k: KeyValue,
    /// Tie-breaker: a run id, or a job id.
    id: String,
}

#[derive(Serialize, Deserialize, Clone)]
#[serde(untagged)]
enum KeyValue {
    Int(i64),
    Text(String),
}

fn encode_cursor(cursor: &Cursor) -> String {
    let json = serde_json::to_vec(cursor).unwrap_or_default();
    json.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_cursor(text: &str) -> Result<Cursor, StoreError> {
    if !text.len().is_multiple_of(2) || text.len() > 4096 {
        return Err(StoreError::InvalidCursor);
    }
    let bytes: Result<Vec<u8>, _> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2).unwrap_or("zz"), 16))
        .collect();
    let bytes = bytes.map_err(|_| StoreError::InvalidCursor)?;
    serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)
}

fn run_status_condition(sql: &mut Sql, statuses: &[RunStatus], lost_cutoff: Option<Timestamp>) {
    sql.push(" AND (");
    for (i, status) in statuses.iter().enumerate() {
        if i > 0 {
            sql.push(" OR ");
        }
        match (status, lost_cutoff) {
            (RunStatus::Running, Some(cutoff)) => {
                sql.push("(status = 'running' AND last_event_at >= ")
                    .bind(Param::I64(micros(cutoff)))
                    .push(")");
            }
            (RunStatus::Lost, Some(cutoff)) => {
                sql.push("(status = 'running' AND last_event_at < ")
                    .bind(Param::I64(micros(cutoff)))
                    .push(")");
            }
            (RunStatus::Lost, None) => {
                sql.push("1 = 0");
            }
            (other, _) => {
                sql.push("status = ")
                    .bind(Param::Text(other.as_str().to_owned()));
            }
        }
    }
    sql.push(")");
}

/// How a run search matches its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TextMatch {
    /// `search LIKE '%text%'`: each run the other conditions and the order reach is read until
    /// the page is full, which is quick when the text is common and reads every run when it is
    /// rare (PostgreSQL's planner may answer it from the trigram index instead).
    Like,
    /// The embedded store's trigram index (`run_search`): the runs whose text holds the text,
    /// at once, however rare; costly when they are many.
    Trigrams,
    /// [`TextMatch::Like`] over the first [`PROBE_ROWS`] runs in order only: the page when the
    /// text is common among them (read no further than the page needs, as `Like`), and a
    /// bounded read when it is not.
    Probe,
}

/// The runs a [`TextMatch::Probe`] reads at most.
pub(crate) const PROBE_ROWS: u32 = 1_000;

/// The text a run search matches, lower-cased as the stored text is; `None` without one.
fn search_text(q: &RunQuery) -> Option<String> {
    q.text
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
}

/// Whether the trigram index can find `q`'s text: it holds three characters at least.
pub(crate) fn trigram_searchable(q: &RunQuery) -> bool {
    search_text(q).is_some_and(|t| t.chars().count() >= 3)
}

fn text_condition(sql: &mut Sql, text: &str, matching: TextMatch) {
    if matching == TextMatch::Trigrams {
        // GLOB, whose wildcards are `*`, `?` and `[`; each stands for itself in brackets.
        let mut pattern = String::from("*");
        for c in text.chars() {
            match c {
                '*' | '?' | '[' => pattern.extend(['[', c, ']']),
                c => pattern.push(c),
            }
        }
        pattern.push('*');
        sql.push("id IN (SELECT run_id FROM run_search_ids WHERE rowid IN (SELECT rowid FROM run_search WHERE search GLOB ")
            .bind(Param::Text(pattern))
            .push("))");
    } else {
        let escaped = text
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        sql.push("search LIKE ")
            .bind(Param::Text(format!("%{escaped}%")))
            .push(" ESCAPE '\\'");
    }
}

/// `WHERE` conditions of a run search (no pagination), starting with ` WHERE 1 = 1`; with
/// [`TextMatch::Probe`], all but the text. A query [`by_tag_in_start_order`] reads the tag's
/// runs through `run_tags` and gives its own tag condition.
fn run_filters(sql: &mut Sql, q: &RunQuery, lost_cutoff: Option<Timestamp>, matching: TextMatch) {
    run_filters_but_tag(sql, q, lost_cutoff, matching);
    if let Some(tag) = &q.tag {
        sql.push(" AND id IN (SELECT run_id FROM run_tags WHERE tag = ")
            .bind(Param::Text(tag.clone()))
            .push(")");
    }
}

fn run_filters_but_tag(
    sql: &mut Sql,
    q: &RunQuery,
    lost_cutoff: Option<Timestamp>,
    matching: TextMatch,
) {
    sql.push(" WHERE 1 = 1");
    workspace_condition(sql, "workspace_id", q.workspaces.as_deref());
    if !q.status.is_empty() {
        run_status_condition(sql, &q.status, lost_cutoff);
    }
    if let Some(text) = search_text(q)
        && matching != TextMatch::Probe
    {
        sql.push(" AND ");
        text_condition(sql, &text, matching);
    }
    if let Some(user) = &q.user {
        sql.push(" AND \"user\" = ").bind(Param::Text(user.clone()));
    }
    if let Some(t) = q.started_after {
        sql.push(" AND started_at >= ").bind(Param::I64(micros(t)));
    }
    if let Some(t) = q.started_before {
        sql.push(" AND started_at < ").bind(Param::I64(micros(t)));
    }
}

fn run_sort_column(sort: RunSort) -> &'static str {
    match sort {
        RunSort::StartedAt => "started_at",
        RunSort::LastEventAt => "last_event_at",
        RunSort::Name => "name",
    }
}

fn direction(order: SortOrder) -> (&'static str, &'static str) {
    match order {
        SortOrder::Asc => ("ASC", ">"),
        SortOrder::Desc => ("DESC", "<"),
    }
}

/// The page query of a run search; it fetches `limit + 1` rows to know whether more follow.
/// With [`TextMatch::Probe`] it reads the first [`PROBE_ROWS`] runs in order only (those the
/// search reaches before the text is looked at), so a page it finds short says nothing about
/// the runs after them; none at all when fewer runs are there.
pub(crate) fn list_runs(
    q: &RunQuery,
    lost_cutoff: Option<Timestamp>,
    matching: TextMatch,
) -> Result<Sql, StoreError> {
    let limit = check_limit(q.limit)?;
    let column = run_sort_column(q.sort);
    let (dir, cmp) = direction(q.order);
    let order = format!(" ORDER BY {column} {dir}, id {dir}");
    let after = run_after(q)?;
    let by_tag = by_tag_in_start_order(q);
    let mut sql;
    if let Some(tag) = by_tag {
        // The tag's runs in start order, from `run_tags`' index on (tag, start, run): the
        // page is read without finding and sorting every run with the tag first.
        // (`CROSS JOIN`: SQLite's planner keeps `run_tags` as the outer loop.)
        sql = Sql::new(&format!(
            "SELECT {RUN_COLUMNS} FROM run_tags CROSS JOIN runs"
        ));
        run_filters_but_tag(&mut sql, q, lost_cutoff, matching);
        sql.push(" AND runs.id = run_tags.run_id AND run_tags.tag = ")
            .bind(Param::Text(tag.to_owned()));
        if let Some((key, id)) = after.clone() {
            run_after_condition(
                &mut sql,
                "run_tags.run_started_at",
                cmp,
                key,
                id,
                "run_tags.run_id",
            );
        }
    } else {
        sql = Sql::new(&format!("SELECT {RUN_COLUMNS} FROM runs"));
        run_filters(&mut sql, q, lost_cutoff, matching);
        if let Some((key, id)) = after.clone() {
            run_after_condition(&mut sql, column, cmp, key, id, "id");
        }
    }
    if matching == TextMatch::Probe {
        // Down to the last of the first runs in order, found in the sort's index alone: the
        // page query below then reads no further than that run.
        let back = if cmp == ">" { "<=" } else { ">=" };
        sql.push(" AND ");
        text_condition(
            &mut sql,
            &search_text(q).unwrap_or_default(),
            TextMatch::Like,
        );
        sql.push(&format!(
            " AND ({column}, id) {back} (SELECT {column}, id FROM runs"
        ));
        run_filters(&mut sql, q, lost_cutoff, matching);
        if let Some((key, id)) = after {
            run_after_condition(&mut sql, column, cmp, key, id, "id");
        }
        sql.push(&format!("{order} LIMIT 1 OFFSET {})", PROBE_ROWS - 1));
    }
    let page_order = match by_tag {
        Some(_) => format!(" ORDER BY run_tags.run_started_at {dir}, run_tags.run_id {dir}"),
        None => order,
    };
    sql.push(&format!("{page_order} LIMIT {}", limit + 1));
    Ok(sql)
}

/// The tag of a search that reads its runs in start order through `run_tags` (which keeps
/// each run's start beside its tags); `None` for a search without a tag or in another order.
fn by_tag_in_start_order(q: &RunQuery) -> Option<&str> {
    q.tag.as_deref().filter(|_| q.sort == RunSort::StartedAt)
}

/// The run a search's cursor points after: its sort key and id.
fn run_after(q: &RunQuery) -> Result<Option<(Param, Uuid)>, StoreError> {
    let Some(text) = &q.cursor else {
        return Ok(None);
    };
    let cursor = decode_cursor(text)?;
    let id = Uuid::parse_str(&cursor.id).map_err(|_| StoreError::InvalidCursor)?;
    let key = match (q.sort, cursor.k) {
        (RunSort::Name, KeyValue::Text(s)) => Param::Text(s),
        (RunSort::StartedAt | RunSort::LastEventAt, KeyValue::Int(i)) => Param::I64(i),
        _ => return Err(StoreError::InvalidCursor),
    };
    Ok(Some((key, id)))
}

fn run_after_condition(
    sql: &mut Sql,
    column: &str,
    cmp: &str,
    key: Param,
    id: Uuid,
    id_column: &str,
) {
    sql.push(&format!(" AND ({column}, {id_column}) {cmp} ("))
        .bind(key)
        .push(", ")
        .bind(Param::Uuid(id))
        .push(")");
}

/// The count query of a run search.
pub(crate) fn count_runs(q: &RunQuery, lost_cutoff: Option<Timestamp>, matching: TextMatch) -> Sql {
    let mut sql = Sql::new("SELECT COUNT(*) FROM runs");
    run_filters(&mut sql, q, lost_cutoff, matching);
    sql
}

/// The count query of a run search by workspace alone (the runs page as it opens), read from
/// the runs' day rollups (`run_days` counts the runs by workspace, day of start and stored
/// status, kept with every append and delete) rather than by counting 100,000 rows; `None` for
/// a search with any other filter, which [`count_runs`] counts.
pub(crate) fn count_runs_from_rollups(q: &RunQuery) -> Option<Sql> {
    // Every field named: a new filter must say whether the rollups can count it.
    let RunQuery {
        workspaces,
        status,
        text,
        tag,
        user,
        started_after,
        started_before,
        sort: _,
        order: _,
        cursor: _,
        limit: _,
        with_total: _,
    } = q;
    let filtered = !status.is_empty()
        || text.as_deref().is_some_and(|t| !t.is_empty())
        || tag.is_some()
        || user.is_some()
        || started_after.is_some()
        || started_before.is_some();
    if filtered {
        return None;
    }
    let mut sql =
        Sql::new("SELECT CAST(COALESCE(SUM(runs), 0) AS BIGINT) FROM run_days WHERE 1 = 1");
    workspace_condition(&mut sql, "workspace_id", workspaces.as_deref());
    Some(sql)
}

/// ` AND` the rows whose `column` is one of `workspaces` (`None`: every workspace; none: no
/// row).
pub(crate) fn workspace_condition(
    sql: &mut Sql,
    column: &str,
    workspaces: Option<&[flowo_core::WorkspaceId]>,
) {
    match workspaces {
        None => {}
        Some([]) => {
            sql.push(" AND 1 = 0");
        }
        Some(workspaces) => {
            sql.push(&format!(" AND {column} IN ("));
            sql.bind_list(workspaces.iter().map(|ws| Param::Uuid(ws.0)));
            sql.push(")");
        }
    }
}

/// The cursor after a run.
pub(crate) fn run_cursor(sort: RunSort, run: &flowo_core::Run) -> String {
    let k = match sort {
        RunSort::StartedAt => KeyValue::Int(run.started_at.map(micros).unwrap_or_default()),
        RunSort::LastEventAt => KeyValue::Int(run.last_event_at.map(micros).unwrap_or_default()),
        RunSort::Name => KeyValue::Text(run.name.clone().unwrap_or_default()),
    };
    encode_cursor(&Cursor {
        k,
        id: run.id.to_string(),
    })
}

/// Job statuses to match in SQL for a filter, given whether the run is lost (a lost run's
/// running jobs are shown as incomplete).
pub(crate) fn stored_job_statuses(wanted: &[JobStatus], run_lost: bool) -> Vec<JobStatus> {
    let mut out = Vec::new();
    for status in wanted {
        match (status, run_lost) {
            (JobStatus::Running, true) => {}
            (JobStatus::Incomplete, true) => {
                out.push(JobStatus::Incomplete);
                out.push(JobStatus::Running);
            }
            (s, _) => out.push(*s),
        }
    }
    out
}

fn job_filters(sql: &mut Sql, run: Uuid, q: &JobQuery, statuses: Option<&[JobStatus]>) {
    sql.push(" WHERE run_id = ").bind(Param::Uuid(run));
    if let Some(rule) = &q.rule {
        sql.push(" AND rule = ").bind(Param::Text(rule.clone()));
    }
    if let Some(statuses) = statuses {
        if statuses.is_empty() {
            sql.push(" AND 1 = 0");
        } else {
            sql.push(" AND status IN (");
            sql.bind_list(statuses.iter().map(|s| Param::Text(s.as_str().to_owned())));
            sql.push(")");
        }
    }
}

/// Sort key of a job: -1 stands for "never started" so that the key is never NULL.
fn job_sort_expr(sort: JobSort) -> &'static str {
    match sort {
        JobSort::JobId => "job_id",
        JobSort::StartedAt => "COALESCE(started_at, -1)",
    }
}

/// The page query of a job search (`limit + 1` rows).
pub(crate) fn list_jobs(
    run: Uuid,
    q: &JobQuery,
    statuses: Option<&[JobStatus]>,
) -> Result<Sql, StoreError> {
    let limit = check_limit(q.limit)?;
    let mut sql = Sql::new(&format!("SELECT {JOB_COLUMNS} FROM jobs"));
    job_filters(&mut sql, run, q, statuses);
    let (dir, cmp) = direction(q.order);
    let expr = job_sort_expr(q.sort);
    if let Some(text) = &q.cursor {
        let cursor = decode_cursor(text)?;
        let id: i64 = cursor.id.parse().map_err(|_| StoreError::InvalidCursor)?;
        let KeyValue::Int(k) = cursor.k else {
            return Err(StoreError::InvalidCursor);
        };
        match q.sort {
            JobSort::JobId => {
                sql.push(&format!(" AND job_id {cmp} "))
                    .bind(Param::I64(id));
            }
            JobSort::StartedAt => {
                sql.push(&format!(" AND ({expr}, job_id) {cmp} ("))
                    .bind(Param::I64(k))
                    .push(", ")
                    .bind(Param::I64(id))
                    .push(")");
            }
        }
    }
    match q.sort {
        JobSort::JobId => sql.push(&format!(" ORDER BY job_id {dir}")),
        JobSort::StartedAt => sql.push(&format!(" ORDER BY {expr} {dir}, job_id {dir}")),
    };
    sql.push(&format!(" LIMIT {}", limit + 1));
    Ok(sql)
}

/// The count query of a job search.
///
/// Read from the run's per-rule rollups (`run_rules` counts the stored job rows by rule and
/// status, kept with every append), not by counting rows: a search filters by rule and stored
/// status only, so the rollups answer it exactly, and a run of 500,000 jobs is counted from a
/// few rows rather than all of its own.
pub(crate) fn count_jobs(run: Uuid, q: &JobQuery, statuses: Option<&[JobStatus]>) -> Sql {
    let columns: Vec<String> = statuses
        .unwrap_or(JobStatus::ALL)
        .iter()
        .map(|s| format!("jobs_{}", s.as_str()))
        .collect();
    if columns.is_empty() {
        return Sql::new("SELECT CAST(0 AS BIGINT)");
    }
    let mut sql = Sql::new(&format!(
        "SELECT CAST(COALESCE(SUM({}), 0) AS BIGINT) FROM run_rules WHERE run_id = ",
        columns.join(" + ")
    ));
    sql.bind(Param::Uuid(run));
    if let Some(rule) = &q.rule {
        sql.push(" AND rule = ").bind(Param::Text(rule.clone()));
    }
    sql
}

/// The cursor after a job.
pub(crate) fn job_cursor(sort: JobSort, job: &flowo_core::Job) -> String {
    let k = match sort {
        JobSort::JobId => i64::try_from(job.job_id).unwrap_or(i64::MAX),
        JobSort::StartedAt => job.started_at.map(micros).unwrap_or(-1),
    };
    encode_cursor(&Cursor {
        k: KeyValue::Int(k),
        id: job.job_id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = encode_cursor(&Cursor {
            k: KeyValue::Text("ä name".into()),
            id: "x".into(),
        });
        let back = decode_cursor(&c).expect("round trip");
        assert_eq!(back.id, "x");
        assert!(decode_cursor("zz").is_err());
        assert!(decode_cursor("abc").is_err());
        assert!(decode_cursor("").is_err());
    }

    #[test]
    fn placeholders_are_numbered_in_bind_order() {
        let mut s = Sql::new("a = ");
        s.bind(Param::I64(1)).push(" AND b = ").bind(Param::I64(2));
        assert_eq!(s.text, "a = $1 AND b = $2");
        assert_eq!(s.params, vec![Param::I64(1), Param::I64(2)]);
    }
}

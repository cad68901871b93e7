//! `flowo runs prune`: retention. Deletes the runs whose latest event is older than a given
//! age, with their events, jobs and errors, on a server (as `DELETE /api/v1/runs/{id}`, so the
//! token must be allowed to delete runs there) or directly in a database. Runs still running
//! are kept whatever their age; a lost run (silent for longer than the lost timeout) is not
//! running, so it is pruned once it is old enough.
//!
//! Runs are visited oldest latest-event first, a page at a time, and deleted one by one, each
//! in its own transaction: a prune of years of history never holds a long lock, and one that
//! is interrupted has deleted whole runs only.

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use flowo_client::api::RunListParams;
use flowo_core::store::{AuditAction, RunSort, SortOrder};
use flowo_core::{Run, RunStatus};
use serde::Serialize;

use crate::config::Global;
use crate::output;
use crate::reader::{Reader, describe};

/// The shortest `--older-than` accepted: anything younger could still be reporting.
const MIN_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Runs fetched per page.
const PAGE: u32 = 500;

/// `flowo runs prune`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples: `flowo runs prune --older-than 90d --dry-run`, then \
    `flowo runs prune --older-than 90d` (from cron or a systemd timer)."
)]
pub struct Args {
    /// Delete runs whose latest event is older than this: `90d`, `12w`, `6months`, `36h`
    /// (at least 1h).
    #[arg(long, value_name = "DURATION", value_parser = parse_age)]
    older_than: std::time::Duration,

    /// Only runs of this workspace.
    #[arg(long, value_name = "NAME")]
    workspace: Option<String>,

    /// List what would be deleted, delete nothing.
    #[arg(long)]
    dry_run: bool,

    /// Print the outcome as a JSON object.
    #[arg(long)]
    json: bool,
}

/// What a prune did (or, with `--dry-run`, would do).
#[derive(Serialize, Debug)]
struct Report {
    /// Runs whose latest event is before this were pruned.
    cutoff: DateTime<Utc>,
    /// Nothing was deleted.
    dry_run: bool,
    /// The runs, oldest latest event first.
    runs: Vec<Pruned>,
    /// Their events, in all.
    events: u64,
}

/// One pruned run.
#[derive(Serialize, Debug)]
struct Pruned {
    id: flowo_core::RunId,
    name: Option<String>,
    status: RunStatus,
    last_event_at: Option<DateTime<Utc>>,
    event_count: u64,
}

fn parse_age(text: &str) -> Result<std::time::Duration, String> {
    let age = humantime::parse_duration(text.trim()).map_err(|e| {
        format!("{e}: give a duration such as 90d, 12w, 36h (units: s, m, h, d, w, months, y)")
    })?;
    if age < MIN_AGE {
        return Err(format!(
            "{text} is too short: the shortest is 1h, as younger runs may still be reporting"
        ));
    }
    Ok(age)
}

/// Runs `flowo runs prune`.
pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let age = chrono::Duration::from_std(args.older_than).context("--older-than is too long")?;
    let cutoff = Utc::now()
        .checked_sub_signed(age)
        .context("--older-than is too long")?;
    let reader = Reader::open(global).await?;
    let readable = reader.readable_workspaces().await?;
    if readable.is_empty() {
        // An ingest-only token reads nothing: it would find nothing to prune, and say so as
        // if the history were clean.
        bail!(
            "this token may not read runs (an ingest token?): pruning needs an admin token \
             (`flowo token create --scope admin`)"
        );
    }
    if let Some(name) = &args.workspace
        && !readable.contains(name)
    {
        bail!("workspace {name:?} not found");
    }
    let mut report = Report {
        cutoff,
        dry_run: args.dry_run,
        runs: Vec::new(),
        events: 0,
    };
    let mut params = RunListParams {
        workspace: args.workspace.clone(),
        sort: Some(RunSort::LastEventAt),
        order: Some(SortOrder::Asc),
        limit: Some(PAGE),
        total: Some(false),
        ..RunListParams::default()
    };
    'pages: loop {
        let page = reader.list_runs(&params).await?.value;
        for run in page.items {
            // Sorted by latest event: the first young run ends the prune.
            if !is_older(&run, cutoff) {
                break 'pages;
            }
            if run.status == RunStatus::Running {
                continue;
            }
            if !args.dry_run
                && !reader.delete_run(run.id).await.with_context(|| {
                    format!(
                        "pruned {} runs, then could not delete run {}",
                        report.runs.len(),
                        run.id
                    )
                })?
            {
                // Deleted meanwhile by someone else.
                continue;
            }
            report.events += run.event_count;
            report.runs.push(Pruned {
                id: run.id,
                name: run.name,
                status: run.status,
                last_event_at: run.last_event_at,
                event_count: run.event_count,
            });
        }
        match page.next_cursor {
            Some(cursor) => params.cursor = Some(cursor),
            None => break,
        }
    }
    if let Reader::Database { store } = &reader
        && !args.dry_run
        && !report.runs.is_empty()
    {
        // A server records each DELETE itself, under the token's user.
        let details = serde_json::json!({
            "runs": report.runs.len(), "events": report.events, "cutoff": cutoff,
            "run_ids": report.runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        });
        let target = args.workspace.clone().unwrap_or_else(|| "*".to_owned());
        crate::audit::record(&**store, AuditAction::RunsPruned, target, details).await?;
    }
    if args.json {
        return output::json(&report);
    }
    let target = describe(&global.target()?.0);
    let verb = if args.dry_run {
        "would prune"
    } else {
        "pruned"
    };
    if args.dry_run && !report.runs.is_empty() {
        let rows: Vec<Vec<String>> = report
            .runs
            .iter()
            .map(|r| {
                vec![
                    r.id.to_string(),
                    r.status.as_str().to_owned(),
                    r.last_event_at
                        .map_or_else(|| "-".to_owned(), |t| t.format("%F %R").to_string()),
                    r.event_count.to_string(),
                    r.name.clone().unwrap_or_else(|| "-".to_owned()),
                ]
            })
            .collect();
        output::table(&["RUN", "STATUS", "LATEST EVENT", "EVENTS", "NAME"], &rows)?;
    }
    output::line(format_args!(
        "{verb} {} runs ({} events) whose latest event is before {} UTC in {target}",
        report.runs.len(),
        report.events,
        cutoff.format("%F %R"),
    ))
}

/// Whether the run's latest event is before `cutoff` (a run with no time at all counts as
/// old: it never said anything).
fn is_older(run: &Run, cutoff: DateTime<Utc>) -> bool {
    run.last_event_at
        .or(run.started_at)
        .is_none_or(|t| t < cutoff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_people_write_them() {
        let day = 86_400;
        assert_eq!(parse_age("90d").map(|d| d.as_secs()), Ok(90 * day));
        assert_eq!(parse_age("2w").map(|d| d.as_secs()), Ok(14 * day));
        assert_eq!(parse_age(" 36h ").map(|d| d.as_secs()), Ok(36 * 3600));
        assert_eq!(parse_age("1h").map(|d| d.as_secs()), Ok(3600));
        assert!(parse_age("59m").is_err_and(|e| e.contains("shortest is 1h")));
        assert!(parse_age("ninety days").is_err_and(|e| e.contains("such as 90d")));
        assert!(parse_age("-3d").is_err());
        assert!(parse_age("").is_err());
    }
}

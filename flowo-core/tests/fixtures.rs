//! Data-driven tests of the fold against every real Snakemake capture in
//! `shared/fixtures/snakemake-events/`: records in, a compact summary of the folded run out,
//! compared with an `insta` snapshot. Each test also states the run status that the fixtures'
//! README says Snakemake ended with, so that a wrong snapshot cannot simply be accepted.

mod common;

use std::collections::BTreeMap;

use chrono::Duration;
use flowo_core::fold::Folded;
use flowo_core::{JobCounts, JobStatus, RunStatus, fold_events};
use serde::Serialize;

use common::{KILLED, envelopes, last_time, manifest_captures, manifest_entry, run_id};

/// What a snapshot shows of a folded run.
#[derive(Serialize)]
struct Summary {
    capture: String,
    status: RunStatus,
    dry_run: bool,
    done: u64,
    total: u64,
    jobs: JobCounts,
    has_workflow_id: bool,
    name: Option<String>,
    error_count: u64,
    malformed_events: u64,
    planned: BTreeMap<String, u64>,
    /// One line per job: `id rule status attempts=N` plus which of started_at, finished_at and
    /// shellcmd are set.
    job_list: Vec<String>,
    errors: Vec<ErrorSummary>,
}

#[derive(Serialize)]
struct ErrorSummary {
    scope: flowo_core::ErrorScope,
    exception: Option<String>,
    first_line: Option<String>,
    rule: Option<String>,
    job_id: Option<u64>,
}

fn summarize(capture: &str, folded: &Folded) -> Summary {
    let run = &folded.state.run;
    let job_list = folded
        .jobs
        .values()
        .map(|job| {
            let mut line = format!(
                "{} {} {} attempts={}",
                job.job_id, job.rule, job.status, job.attempts
            );
            for (set, what) in [
                (job.started_at.is_some(), "started_at"),
                (job.finished_at.is_some(), "finished_at"),
                (job.detail.shellcmd.is_some(), "shellcmd"),
            ] {
                if set {
                    line.push(' ');
                    line.push_str(what);
                }
            }
            line
        })
        .collect();
    let errors = folded
        .errors
        .iter()
        .map(|e| ErrorSummary {
            scope: e.scope,
            exception: e.exception.clone(),
            first_line: e
                .message
                .as_deref()
                .map(|m| m.lines().next().unwrap_or_default().to_owned()),
            rule: e.rule.clone(),
            job_id: e.job_id,
        })
        .collect();
    Summary {
        capture: capture.to_owned(),
        status: run.status,
        dry_run: run.dry_run,
        done: run.done,
        total: run.total,
        jobs: run.jobs,
        has_workflow_id: run.workflow_id.is_some(),
        name: run.name.clone(),
        error_count: run.error_count,
        malformed_events: folded.state.detail.malformed_events,
        planned: folded.state.detail.planned.clone(),
        job_list,
        errors,
    }
}

/// Folds one capture, checks what holds for every capture, asserts the expected run status and
/// snapshots the summary. Returns the fold for capture-specific assertions.
fn check(capture: &str, expected: RunStatus) -> Folded {
    let events = envelopes(capture);
    let folded = fold_events(run_id(), common::workspace_id(), &events);
    let run = &folded.state.run;
    let entry = manifest_entry(capture);

    // Every record and the producer's end marker were folded, none was lost to decoding.
    assert_eq!(
        run.event_count,
        events.len() as u64,
        "{capture}: events folded"
    );
    assert_eq!(
        entry["records"].as_u64(),
        Some(events.len() as u64 - u64::from(capture != KILLED)),
        "{capture}: record count differs from the manifest"
    );
    assert_eq!(folded.state.detail.malformed_events, 0, "{capture}");
    assert_eq!(
        run.workflow_id.as_deref(),
        entry["workflow_id"].as_str(),
        "{capture}: workflow_id"
    );
    // The per-status counters agree with the jobs themselves.
    for status in JobStatus::ALL {
        let n = folded.jobs.values().filter(|j| j.status == *status).count() as u64;
        assert_eq!(run.jobs.get(*status), n, "{capture}: {status} jobs");
    }
    assert_eq!(run.error_count, folded.errors.len() as u64, "{capture}");
    // Jobs that executed were submitted before they ended; planned jobs never started.
    for job in folded.jobs.values() {
        let id = job.job_id;
        if job.status == JobStatus::Planned {
            assert!(
                job.started_at.is_none(),
                "{capture}: planned job {id} started"
            );
        } else {
            let started = job.started_at.expect("an executed job has a start");
            assert!(
                job.finished_at.is_none_or(|end| started <= end),
                "{capture}: job {id}"
            );
        }
    }
    // The run ends when the producer's close() says so, never earlier.
    assert_eq!(
        run.finished_at.is_some(),
        capture != KILLED,
        "{capture}: finished_at"
    );
    assert_eq!(run.status, expected, "{capture}: run status");

    let name = capture
        .rsplit('/')
        .next()
        .and_then(|f| f.strip_suffix(".jsonl"))
        .expect("capture file ends with .jsonl")
        .to_owned();
    insta::assert_json_snapshot!(name, summarize(capture, &folded));
    folded
}

/// Every job of the run succeeded and progress reached its total.
fn assert_all_succeeded(folded: &Folded) {
    let run = &folded.state.run;
    assert!(run.jobs.succeeded > 0);
    assert_eq!(run.jobs.total(), run.jobs.succeeded);
    assert_eq!(run.done, run.total);
    assert_eq!(run.total, run.jobs.succeeded);
    assert!(folded.errors.is_empty());
    assert!(!run.dry_run);
}

/// A run that failed before any job ran: one workflow error, no jobs.
fn assert_workflow_error(folded: &Folded, exception: &str) {
    let run = &folded.state.run;
    assert_eq!(run.jobs.total(), 0);
    assert_eq!(folded.errors.len(), 1);
    assert_eq!(folded.errors[0].scope, flowo_core::ErrorScope::Workflow);
    assert_eq!(folded.errors[0].exception.as_deref(), Some(exception));
}

#[test]
fn every_manifest_capture_has_a_test() {
    // Keep in step with the tests below: a new capture must get its own test.
    let tested = [
        "success/01-success.jsonl",
        "job-failure/02-job-failure.jsonl",
        "job-failure/03-job-failure-keep-going.jsonl",
        "syntax-error/05-syntax-error.jsonl",
        "missing-input/06-missing-input.jsonl",
        "parse-exception/07-parse-exception.jsonl",
        "success/09-dryrun.jsonl",
        "large/10-large.jsonl",
        "success/11-forceall.jsonl",
        "success/12-up-to-date.jsonl",
        "success/13-partial-rerun.jsonl",
        "incomplete/14-killed.jsonl",
        "incomplete/15-incomplete-error.jsonl",
        "incomplete/16-locked.jsonl",
        "incomplete/17-rerun-incomplete.jsonl",
        "incomplete/18-interrupted-sigint.jsonl",
        "incomplete/19-terminated-sigterm.jsonl",
        "success/20-debug-dag-dryrun.jsonl",
        "success/21-verbose.jsonl",
    ];
    let mut listed = manifest_captures();
    listed.sort();
    let mut tested: Vec<String> = tested.iter().map(|s| (*s).to_owned()).collect();
    tested.sort();
    assert_eq!(listed, tested);
}

#[test]
fn success_01() {
    let folded = check("success/01-success.jsonl", RunStatus::Succeeded);
    assert_all_succeeded(&folded);
    assert_eq!(folded.state.run.total, 9);
}

#[test]
fn job_failure_02() {
    let folded = check("job-failure/02-job-failure.jsonl", RunStatus::Failed);
    let failed: Vec<_> = folded
        .jobs
        .values()
        .filter(|j| j.status == JobStatus::Failed)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].rule, "process");
    assert_eq!(
        failed[0].detail.wildcards.get("sample").map(String::as_str),
        Some("B")
    );
    let failure = failed[0].detail.failure.as_ref().expect("failure detail");
    assert_eq!(failure.exception.as_deref(), Some("RuleException"));
    assert!(
        failure
            .message
            .as_deref()
            .is_some_and(|m| m.contains("non-zero exit status 3"))
    );
    assert_eq!(folded.state.run.jobs.running, 0);
}

#[test]
fn job_failure_keep_going_03() {
    let folded = check(
        "job-failure/03-job-failure-keep-going.jsonl",
        RunStatus::Failed,
    );
    let run = &folded.state.run;
    assert_eq!(run.jobs.failed, 1);
    assert_eq!(run.jobs.succeeded, 10);
    assert_eq!(run.jobs.running + run.jobs.incomplete, 0);
}

#[test]
fn syntax_error_05() {
    let folded = check("syntax-error/05-syntax-error.jsonl", RunStatus::Failed);
    assert_workflow_error(&folded, "SyntaxError");
    assert!(folded.state.run.workflow_id.is_none());
}

#[test]
fn missing_input_06() {
    let folded = check("missing-input/06-missing-input.jsonl", RunStatus::Failed);
    assert_workflow_error(&folded, "MissingInputException");
}

#[test]
fn parse_exception_07() {
    let folded = check(
        "parse-exception/07-parse-exception.jsonl",
        RunStatus::Failed,
    );
    assert_workflow_error(&folded, "NameError");
    assert!(folded.state.run.workflow_id.is_none());
}

#[test]
fn dryrun_09() {
    let folded = check("success/09-dryrun.jsonl", RunStatus::Succeeded);
    let run = &folded.state.run;
    assert!(run.dry_run);
    assert_eq!(run.jobs.planned, 9);
    assert_eq!(run.jobs.total(), 9);
    assert!(folded.jobs.values().all(|j| j.started_at.is_none()));
}

#[test]
fn large_10() {
    let folded = check("large/10-large.jsonl", RunStatus::Succeeded);
    assert_all_succeeded(&folded);
    assert_eq!(folded.state.run.total, 202);
}

#[test]
fn forceall_11() {
    let folded = check("success/11-forceall.jsonl", RunStatus::Succeeded);
    assert_all_succeeded(&folded);
    assert!(
        folded
            .jobs
            .values()
            .all(|j| j.detail.reason.as_deref() == Some("Forced execution"))
    );
}

#[test]
fn up_to_date_12() {
    let folded = check("success/12-up-to-date.jsonl", RunStatus::Succeeded);
    let run = &folded.state.run;
    assert_eq!(run.jobs.total(), 0);
    assert!(!run.dry_run);
    assert!(folded.errors.is_empty());
}

#[test]
fn partial_rerun_13() {
    let folded = check("success/13-partial-rerun.jsonl", RunStatus::Succeeded);
    assert_all_succeeded(&folded);
    assert_eq!(folded.state.run.total, 4);
}

#[test]
fn killed_14() {
    let capture = "incomplete/14-killed.jsonl";
    let folded = check(capture, RunStatus::Running);
    let run = &folded.state.run;
    let slow = folded
        .jobs
        .values()
        .find(|j| j.rule == "slow")
        .expect("job `slow`");
    assert_eq!(slow.status, JobStatus::Running);
    assert!(run.finished_at.is_none());

    // No run_finished ever comes: readers see the run as lost once the producer is silent long
    // enough, and as running before that.
    let last = last_time(&envelopes(capture));
    assert_eq!(run.last_event_at, Some(last));
    let lost_after = Duration::seconds(60);
    assert_eq!(run.status_at(last, lost_after), RunStatus::Running);
    assert_eq!(
        run.status_at(last + Duration::seconds(59), lost_after),
        RunStatus::Running
    );
    assert_eq!(
        run.status_at(last + Duration::seconds(61), lost_after),
        RunStatus::Lost
    );
    let mut resolved = run.clone();
    resolved.resolve_lost(last + Duration::seconds(61), lost_after);
    assert_eq!(resolved.status, RunStatus::Lost);
    assert_eq!(resolved.jobs.running, 0);
    assert_eq!(resolved.jobs.incomplete, 1);
}

#[test]
fn incomplete_error_15() {
    let folded = check("incomplete/15-incomplete-error.jsonl", RunStatus::Failed);
    assert_workflow_error(&folded, "IncompleteFilesException");
}

#[test]
fn locked_16() {
    let folded = check("incomplete/16-locked.jsonl", RunStatus::Failed);
    assert_workflow_error(&folded, "LockException");
    assert!(folded.state.detail.rulegraph.is_some());
}

#[test]
fn rerun_incomplete_17() {
    let folded = check("incomplete/17-rerun-incomplete.jsonl", RunStatus::Succeeded);
    assert_all_succeeded(&folded);
    let slow = folded
        .jobs
        .values()
        .find(|j| j.rule == "slow")
        .expect("job `slow`");
    assert_eq!(slow.detail.reason.as_deref(), Some("Forced execution"));
}

#[test]
fn interrupted_sigint_18() {
    let folded = check(
        "incomplete/18-interrupted-sigint.jsonl",
        RunStatus::Interrupted,
    );
    let by_rule: BTreeMap<_, _> = folded
        .jobs
        .values()
        .map(|j| (j.rule.as_str(), j.status))
        .collect();
    assert_eq!(by_rule.get("fast"), Some(&JobStatus::Succeeded));
    assert_eq!(by_rule.get("slow"), Some(&JobStatus::Incomplete));
    assert_eq!(folded.jobs.len(), 2);
}

#[test]
fn terminated_sigterm_19() {
    let folded = check(
        "incomplete/19-terminated-sigterm.jsonl",
        RunStatus::Interrupted,
    );
    let run = &folded.state.run;
    assert_eq!(run.jobs.succeeded, 2);
    assert_eq!(run.jobs.total(), 2);
    assert_eq!((run.done, run.total), (2, 4));
}

#[test]
fn debug_dag_dryrun_20() {
    let folded = check("success/20-debug-dag-dryrun.jsonl", RunStatus::Succeeded);
    let run = &folded.state.run;
    assert!(run.dry_run);
    assert_eq!(run.jobs.planned, 9);
    assert_eq!(run.jobs.total(), 9);
}

#[test]
fn verbose_21() {
    let folded = check("success/21-verbose.jsonl", RunStatus::Succeeded);
    assert_all_succeeded(&folded);
}

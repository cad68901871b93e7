//! Behaviours of the fold that the captures do not show: retries, checkpoints, `--until`,
//! failures reported by only one of `error` / `job_error`, duplicated `job_error`, incremental
//! folding in batches, out-of-order input, malformed payloads, and records that are not records.
//!
//! The event sequences are written as Snakemake log records with the shapes the interface notes
//! (`shared/docs/snakemake-logger-interface.md`, sections 5, 6 and 8) describe, and go through
//! `payload_from_record` like the live plugin's records do.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration};
use flowo_core::event::{Event, EventEnvelope, RunFinished};
use flowo_core::fold::{Folded, JobMap};
use flowo_core::record::{RecordError, event_from_record, payload_from_record, record_time};
use flowo_core::{
    ErrorScope, FoldOutput, Job, JobId, JobStatus, RunError, RunState, RunStatus, Timestamp,
    fold_events,
};
use serde_json::{Value, json};

use common::{envelopes, manifest_captures, run_id, workspace_id};

// ---------------------------------------------------------------------------------------------
// Building event sequences from records

/// Builds a run's events from Snakemake-shaped records, one second apart.
struct Script {
    events: Vec<EventEnvelope>,
    at: Timestamp,
    /// Leave `shellcmd` out of `job_info`, so only the `shellcmd` record carries it.
    bare_job_info: bool,
}

/// The shell command of job `id` in these scripts.
fn shell_of(id: JobId) -> String {
    format!("run-step --job {id} > out/{id}.txt")
}

impl Script {
    fn new() -> Self {
        Self {
            events: Vec::new(),
            at: DateTime::from_timestamp(1_795_700_000, 0).expect("a valid time"),
            bare_job_info: false,
        }
    }

    /// Adds a record: `fields` are the extra attributes; `event` is omitted for plain messages.
    fn record(&mut self, event: Option<&str>, level: &str, message: &str, fields: Value) {
        let mut record = json!({
            "name": "snakemake.logging",
            "msg": message,
            "message": message,
            "args": null,
            "levelname": level,
            "created": self.at.timestamp_micros() as f64 / 1e6,
            "threadName": "MainThread",
        });
        let obj = record.as_object_mut().expect("an object");
        if let Some(event) = event {
            obj.insert("event".into(), json!(event));
        }
        for (k, v) in fields.as_object().expect("fields are an object") {
            obj.insert(k.clone(), v.clone());
        }
        let (kind, data) = payload_from_record(&record).expect("a valid record");
        let recorded_at = record_time(&record).expect("a valid time");
        let seq = self.events.len() as u64;
        self.events.push(EventEnvelope {
            run_id: run_id(),
            seq,
            recorded_at,
            received_at: None,
            kind,
            data,
        });
        self.at += Duration::seconds(1);
    }

    fn log(&mut self, message: &str) -> &mut Self {
        self.record(None, "INFO", message, json!({}));
        self
    }

    fn log_error(&mut self, message: &str) -> &mut Self {
        self.record(None, "ERROR", message, json!({}));
        self
    }

    /// Run start up to the job stats, as in every capture.
    fn start(&mut self, stats: &[(&str, u64)]) -> &mut Self {
        self.log("Assuming unrestricted shared filesystem usage.");
        self.record(
            Some("workflow_started"),
            "INFO",
            "Workflow has started!",
            json!({
                "workflow_id": "9b0c1a52-7d7e-4b59-a8f1-6f36c1a7d0b4",
                "snakefile_main": "/data/project/Snakefile",
                "snakefile": "/opt/venv/lib/python3.11/site-packages/snakemake/workflow.py",
                "cwd": "/data/project",
                "rundir": "/data/project",
                "basedir": "/data/project",
            }),
        );
        self.log("Building DAG of jobs...");
        self.log("Using shell: /usr/bin/bash");
        self.record(
            Some("resources_info"),
            "INFO",
            "Provided cores: 2",
            json!({"cores": 2}),
        );
        self.record(
            Some("resources_info"),
            "INFO",
            "Rules claiming more threads will be scaled down.",
            json!({}),
        );
        let mut map: BTreeMap<String, u64> =
            stats.iter().map(|(r, n)| ((*r).to_owned(), *n)).collect();
        map.insert("total".into(), stats.iter().map(|(_, n)| n).sum());
        self.record(
            Some("run_info"),
            "INFO",
            "Job stats: ...",
            json!({ "stats": map }),
        );
        self
    }

    /// `job_started` for a batch, then `job_info` + `shellcmd` per job.
    fn submit(&mut self, jobs: &[(JobId, &str)]) -> &mut Self {
        self.log("Select jobs to execute...");
        let ids: Vec<JobId> = jobs.iter().map(|(id, _)| *id).collect();
        self.record(
            Some("job_started"),
            "INFO",
            &format!("Execute {} jobs...", ids.len()),
            json!({ "jobs": ids }),
        );
        for (id, rule) in jobs {
            let shell = shell_of(*id);
            let mut info = json!({
                "jobid": id, "rule_name": rule, "rule_msg": null, "local": false,
                "input": [], "output": [format!("out/{id}.txt")], "log": [],
                "benchmark": null, "wildcards": {}, "reason": "Missing output files",
                "resources": {"_cores": 1, "_nodes": 1, "tmpdir": "/tmp"},
                "priority": 0, "threads": 1, "indent": false, "is_checkpoint": false,
                "printshellcmd": true, "is_handover": false, "shellcmd": shell,
            });
            if self.bare_job_info {
                info.as_object_mut().expect("an object").remove("shellcmd");
            }
            self.record(
                Some("job_info"),
                "INFO",
                &format!(" Rule: {rule}, Jobid: {id}"),
                info,
            );
            self.record(
                Some("shellcmd"),
                "INFO",
                &format!("Shell command: {shell}"),
                json!({ "shellcmd": shell, "indent": false }),
            );
        }
        self
    }

    /// `job_finished` directly followed by `progress`.
    fn finish(&mut self, id: JobId, done: u64, total: u64) -> &mut Self {
        self.record(
            Some("job_finished"),
            "INFO",
            &format!("Finished jobid: {id}"),
            json!({ "job_id": id }),
        );
        self.record(
            Some("progress"),
            "INFO",
            "None",
            json!({"done": done, "total": total}),
        );
        self
    }

    /// The `error` record of job `id`'s shell command failing.
    fn rule_exception(&mut self, id: JobId) -> &mut Self {
        let message = format!(
            "RuleException:\nCalledProcessError in file \"/data/project/Snakefile\", line 5:\n\
             Command 'set -euo pipefail;  {}' returned non-zero exit status 1.",
            shell_of(id)
        );
        self.record(
            Some("error"),
            "ERROR",
            &message,
            json!({"exception": "RuleException"}),
        );
        self
    }

    fn job_error(&mut self, id: JobId, rule: &str) -> &mut Self {
        self.record(
            Some("job_error"),
            "ERROR",
            &format!("Error in rule {rule}, jobid: {id}"),
            json!({
                "jobid": id, "rule_name": rule, "rule_msg": null, "input": [],
                "output": [format!("out/{id}.txt")], "log": [], "conda_env": null,
                "container_img": null, "aux": {}, "indent": false, "shellcmd": null,
            }),
        );
        self
    }

    /// The end of a failed run: the plain ERROR message, then `error{WorkflowError}`.
    fn workflow_failed(&mut self) -> &mut Self {
        self.log_error("Exiting because a job execution failed. Look above for error messages");
        self.log("Complete log(s): /data/project/.snakemake/log/x.snakemake.log");
        self.record(
            Some("error"),
            "ERROR",
            "WorkflowError:\nAt least one job did not complete successfully.",
            json!({"exception": "WorkflowError"}),
        );
        self
    }

    /// The end of a successful run.
    fn complete(&mut self) -> &mut Self {
        self.log("Complete log(s): /data/project/.snakemake/log/x.snakemake.log");
        self.log("Elapsed time: 0:00:02.2")
    }

    /// The events so far, without an end marker.
    fn events(&self) -> Vec<EventEnvelope> {
        self.events.clone()
    }

    /// The events plus the `run_finished` that the plugin's `close()` sends.
    fn closed(&self) -> Vec<EventEnvelope> {
        let mut events = self.events.clone();
        events.push(EventEnvelope::new(
            run_id(),
            events.len() as u64,
            self.at,
            &Event::RunFinished(RunFinished::default()),
        ));
        events
    }
}

fn fold(events: &[EventEnvelope]) -> Folded {
    fold_events(run_id(), workspace_id(), events)
}

fn job(folded: &Folded, id: JobId) -> &Job {
    folded
        .jobs
        .get(&id)
        .unwrap_or_else(|| panic!("job {id} is missing"))
}

fn job_errors(folded: &Folded) -> Vec<&RunError> {
    folded
        .errors
        .iter()
        .filter(|e| e.scope == ErrorScope::Job)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Incremental folding, as a store does it

/// What a store keeps: the run state and the jobs, persisted (here: through JSON) between
/// batches.
struct IncrementalStore {
    state: RunState,
    jobs: BTreeMap<JobId, Job>,
    errors: Vec<RunError>,
}

impl IncrementalStore {
    fn new() -> Self {
        Self {
            state: RunState::new(run_id(), workspace_id()),
            jobs: BTreeMap::new(),
            errors: Vec::new(),
        }
    }

    /// Folds one batch: asks which jobs the batch needs (against the state before the batch),
    /// loads only those, applies the events, and writes back the jobs the fold reports touched.
    fn apply_batch(&mut self, batch: &[EventEnvelope]) {
        let mut needed = BTreeSet::new();
        for envelope in batch {
            self.state.jobs_needed(&envelope.event(), &mut needed);
        }
        let mut loaded: JobMap = needed
            .iter()
            .filter_map(|id| self.jobs.get(id).map(|j| (*id, j.clone())))
            .collect();
        let before = loaded.clone();
        let mut out = FoldOutput::default();
        for envelope in batch {
            self.state.apply(&mut loaded, envelope, &mut out);
        }
        for (id, job) in &loaded {
            if !out.touched.contains(id) {
                assert_eq!(
                    before.get(id),
                    Some(job),
                    "job {id} changed but not reported"
                );
            }
        }
        for id in &out.touched {
            let job = loaded.get(id).expect("a touched job is in the map");
            self.jobs.insert(*id, roundtrip(job));
        }
        self.errors.extend(out.errors);
        self.state = roundtrip(&self.state);
    }
}

/// Serializes and deserializes, as persisting between batches does.
fn roundtrip<T: serde::Serialize + serde::de::DeserializeOwned>(value: &T) -> T {
    let json = serde_json::to_string(value).expect("serializable");
    serde_json::from_str(&json).expect("deserializable")
}

fn fold_in_batches(events: &[EventEnvelope], sizes: &[usize]) -> Folded {
    let mut store = IncrementalStore::new();
    let mut rest = events;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        let (batch, tail) = rest.split_at(n);
        store.apply_batch(batch);
        rest = tail;
        i += 1;
    }
    Folded {
        state: store.state,
        jobs: store.jobs,
        errors: store.errors,
    }
}

/// A deterministic shuffle (xorshift), so failures can be reproduced.
fn shuffled(events: &[EventEnvelope], mut seed: u64) -> Vec<EventEnvelope> {
    let mut out = events.to_vec();
    for i in (1..out.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Retries

#[test]
fn a_retried_job_that_then_succeeds_is_succeeded_with_two_attempts() {
    let mut run = Script::new();
    run.start(&[("a", 1)])
        .submit(&[(1, "a")])
        .rule_exception(1)
        .job_error(1, "a")
        .log("Trying to restart job 1.");
    let after_failure = fold(&run.events());
    let mid = job(&after_failure, 1);
    assert_eq!(mid.status, JobStatus::Failed);
    assert_eq!(mid.attempts, 1);
    assert_eq!(after_failure.state.run.status, RunStatus::Running);

    run.submit(&[(1, "a")]);
    let retrying = fold(&run.events());
    let mid = job(&retrying, 1);
    assert_eq!(mid.status, JobStatus::Running);
    assert_eq!(mid.attempts, 2);
    assert!(mid.finished_at.is_none());
    assert!(mid.detail.failure.is_none());
    assert_eq!(retrying.state.run.jobs.failed, 0);
    assert_eq!(retrying.state.run.jobs.running, 1);

    run.finish(1, 1, 1).complete();
    let folded = fold(&run.closed());
    let a = job(&folded, 1);
    assert_eq!(a.status, JobStatus::Succeeded);
    assert_eq!(a.attempts, 2);
    assert!(a.finished_at.is_some());
    let r = &folded.state.run;
    assert_eq!(r.status, RunStatus::Succeeded);
    assert_eq!((r.jobs.succeeded, r.jobs.total()), (1, 1));
    assert_eq!((r.done, r.total), (1, 1));
    // The failed attempt stays visible as an error of that job.
    let errors = job_errors(&folded);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].job_id, Some(1));
    assert_eq!(errors[0].exception.as_deref(), Some("RuleException"));
}

#[test]
fn a_job_whose_retries_all_fail_is_failed_once_with_every_attempt_counted() {
    let mut run = Script::new();
    run.start(&[("a", 1)])
        .submit(&[(1, "a")])
        .rule_exception(1)
        .job_error(1, "a")
        .log("Trying to restart job 1.")
        .submit(&[(1, "a")])
        .rule_exception(1)
        .job_error(1, "a")
        .workflow_failed();
    let folded = fold(&run.closed());
    let a = job(&folded, 1);
    assert_eq!(a.status, JobStatus::Failed);
    assert_eq!(a.attempts, 2);
    let r = &folded.state.run;
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(r.jobs.failed, 1);
    assert_eq!(r.jobs.total(), 1);
    assert_eq!(job_errors(&folded).len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Progress totals

#[test]
fn a_checkpoint_growing_the_total_mid_run_is_followed() {
    let mut run = Script::new();
    run.start(&[("checkpoint_split", 1), ("gather", 1), ("all", 1), ("x", 1)])
        .submit(&[(3, "checkpoint_split")])
        .finish(3, 1, 4);
    let before = fold(&run.events());
    assert_eq!((before.state.run.done, before.state.run.total), (1, 4));

    // New jobs with gaps in their ids, and a larger total.
    run.submit(&[(7, "x"), (9, "x")])
        .finish(7, 2, 8)
        .finish(9, 3, 8);
    let grown = fold(&run.events());
    assert_eq!((grown.state.run.done, grown.state.run.total), (3, 8));
    assert_eq!(grown.state.run.status, RunStatus::Running);

    run.submit(&[(12, "x"), (13, "x")])
        .finish(12, 4, 8)
        .finish(13, 5, 8)
        .submit(&[(2, "gather")])
        .finish(2, 6, 8)
        .submit(&[(14, "x")])
        .finish(14, 7, 8)
        .submit(&[(0, "all")])
        .finish(0, 8, 8)
        .complete();
    let folded = fold(&run.closed());
    let r = &folded.state.run;
    assert_eq!(r.status, RunStatus::Succeeded);
    assert_eq!((r.done, r.total), (8, 8));
    assert_eq!(r.jobs.succeeded, 8);
    // run_info is never sent again: planned keeps the first numbers.
    assert_eq!(folded.state.detail.planned.get("x"), Some(&1));
}

#[test]
fn an_until_run_that_ends_before_the_total_is_succeeded() {
    let mut run = Script::new();
    run.start(&[("a", 3), ("b", 3), ("c", 3), ("all", 1)]);
    for (i, id) in [4, 5, 6, 7, 8, 9].into_iter().enumerate() {
        run.submit(&[(id, if id < 7 { "a" } else { "b" })])
            .finish(id, i as u64 + 1, 10);
    }
    run.complete();
    let folded = fold(&run.closed());
    let r = &folded.state.run;
    assert_eq!(r.status, RunStatus::Succeeded);
    assert_eq!((r.done, r.total), (6, 10));
    assert_eq!(r.jobs.succeeded, 6);
    assert!(folded.errors.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Failures reported by only one record

#[test]
fn a_missing_output_error_without_job_error_fails_the_named_job() {
    let mut run = Script::new();
    run.start(&[("a", 1), ("b", 1)])
        .submit(&[(1, "a"), (2, "b")])
        .finish(2, 1, 2);
    run.record(
        Some("error"),
        "ERROR",
        "MissingOutputException in rule a in file \"/data/project/Snakefile\", line 3:\n\
         Job 1  completed successfully, but some output files are missing. Missing files after \
         5 seconds. This might be due to filesystem latency.\nout/1.txt",
        json!({"exception": "MissingOutputException"}),
    );
    let folded = fold(&run.closed());
    let a = job(&folded, 1);
    assert_eq!(a.status, JobStatus::Failed);
    assert!(a.finished_at.is_some());
    assert_eq!(
        a.detail
            .failure
            .as_ref()
            .and_then(|f| f.exception.as_deref()),
        Some("MissingOutputException")
    );
    assert_eq!(job(&folded, 2).status, JobStatus::Succeeded);
    let r = &folded.state.run;
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!((r.jobs.failed, r.jobs.succeeded, r.jobs.running), (1, 1, 0));
    assert_eq!(folded.errors.len(), 1);
    assert_eq!(folded.errors[0].scope, ErrorScope::Job);
    assert_eq!(folded.errors[0].job_id, Some(1));
    assert_eq!(folded.errors[0].rule.as_deref(), Some("a"));
}

#[test]
fn a_job_error_without_error_record_fails_the_job_and_the_run() {
    // A failing `run:` job: its subprocess has no logger plugin, so only job_error arrives.
    let mut run = Script::new();
    run.start(&[("a", 1)]).submit(&[(1, "a")]).job_error(1, "a");
    let folded = fold(&run.closed());
    let a = job(&folded, 1);
    assert_eq!(a.status, JobStatus::Failed);
    let failure = a.detail.failure.as_ref().expect("failure detail");
    assert_eq!(failure.exception, None);
    let r = &folded.state.run;
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(r.jobs.failed, 1);
    assert_eq!(folded.errors.len(), 1);
    assert_eq!(folded.errors[0].job_id, Some(1));
    assert_eq!(
        folded.errors[0].message.as_deref(),
        Some("Error in rule a, jobid: 1")
    );
}

#[test]
fn a_repeated_job_error_is_recorded_once() {
    // Snakemake up to 9.24 sends every failed job's job_error again at the end of the run.
    let mut run = Script::new();
    run.start(&[("a", 1), ("b", 1)])
        .submit(&[(1, "a"), (2, "b")])
        .rule_exception(1)
        .job_error(1, "a")
        .finish(2, 1, 2)
        .log_error("Exiting because a job execution failed. Look above for error messages")
        .job_error(1, "a");
    run.record(
        Some("error"),
        "ERROR",
        "WorkflowError:\nAt least one job did not complete successfully.",
        json!({"exception": "WorkflowError"}),
    );
    let folded = fold(&run.closed());
    let r = &folded.state.run;
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!((r.jobs.failed, r.jobs.succeeded), (1, 1));
    assert_eq!(job(&folded, 1).attempts, 1);
    let errors = job_errors(&folded);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].exception.as_deref(), Some("RuleException"));
    assert_eq!(
        folded.errors.len(),
        2,
        "one job error and the WorkflowError"
    );
    assert_eq!(r.error_count, 2);
}

#[test]
fn failures_of_two_jobs_that_cross_keep_their_own_messages() {
    // error and job_error come from the executor's worker threads: with two jobs failing at
    // once, the second job's records can arrive between the first job's.
    let (_, events) = synthetic_runs()
        .into_iter()
        .find(|(name, _)| *name == "crossed failures")
        .expect("the crossed run");
    let folded = fold(&events);
    for id in [1, 2] {
        let failure = job(&folded, id).detail.failure.clone().expect("a failure");
        assert!(
            failure
                .message
                .as_deref()
                .is_some_and(|m| m.contains(&shell_of(id))),
            "job {id}: {failure:?}"
        );
        let error = folded
            .errors
            .iter()
            .find(|e| e.job_id == Some(id))
            .expect("an error for the job");
        assert!(
            error
                .message
                .as_deref()
                .is_some_and(|m| m.contains(&shell_of(id))),
            "job {id}: {error:?}"
        );
    }
    assert_eq!(folded.state.run.jobs.failed, 2);
    assert_eq!(folded.state.run.status, RunStatus::Failed);
}

#[test]
fn a_shellcmd_record_fills_a_job_info_without_one() {
    let (_, events) = synthetic_runs()
        .into_iter()
        .find(|(name, _)| *name == "shellcmd only in its own record")
        .expect("the run");
    let folded = fold(&events);
    for id in [1, 2] {
        assert_eq!(job(&folded, id).detail.shellcmd, Some(shell_of(id)));
    }
}

#[test]
fn a_run_closed_with_jobs_unfinished_is_interrupted() {
    // No signal message, no error: the producer's close() came while a job was running.
    let mut run = Script::new();
    run.start(&[("a", 2)])
        .submit(&[(1, "a"), (2, "a")])
        .finish(1, 1, 2);
    let folded = fold(&run.closed());
    assert_eq!(folded.state.run.status, RunStatus::Interrupted);
    assert_eq!(job(&folded, 2).status, JobStatus::Incomplete);
    assert_eq!(folded.state.run.jobs.running, 0);

    // A job announced by job_started whose job_info never came counts as unfinished too.
    let (_, events) = synthetic_runs()
        .into_iter()
        .find(|(name, _)| *name == "announced, never described")
        .expect("the run");
    let folded = fold(&events);
    assert_eq!(folded.state.run.status, RunStatus::Interrupted);
}

#[test]
fn events_after_the_end_marker_do_not_change_the_outcome() {
    // The producer's heartbeat can race with close(): a heartbeat may follow run_finished.
    for (name, events) in every_run() {
        if !matches!(
            events.last().map(EventEnvelope::event),
            Some(Event::RunFinished(_))
        ) {
            continue;
        }
        let ended = fold(&events);
        let mut more = events.clone();
        let last = common::last_time(&events);
        for i in 0..2 {
            more.push(EventEnvelope::new(
                run_id(),
                events.len() as u64 + i,
                last + Duration::seconds(i as i64 + 1),
                &Event::Heartbeat,
            ));
        }
        let later = fold(&more);
        assert_eq!(later.state.run.status, ended.state.run.status, "{name}");
        assert_eq!(later.state.run.jobs, ended.state.run.jobs, "{name}");
        assert_eq!(
            later.state.run.finished_at, ended.state.run.finished_at,
            "{name}"
        );
        assert_eq!(later.jobs, ended.jobs, "{name}");
        assert_eq!(later.errors, ended.errors, "{name}");
    }
}

#[test]
fn a_failure_in_an_open_run_does_not_end_it() {
    let mut run = Script::new();
    run.start(&[("a", 1), ("b", 1)])
        .submit(&[(1, "a"), (2, "b")])
        .rule_exception(1)
        .job_error(1, "a");
    let folded = fold(&run.events());
    let r = &folded.state.run;
    assert_eq!(r.status, RunStatus::Running);
    assert_eq!((r.jobs.failed, r.jobs.running), (1, 1));
    assert!(r.finished_at.is_none());
}

// ---------------------------------------------------------------------------------------------
// Delivery: batches, order, duplicates

/// The synthetic runs above, for the delivery tests.
fn synthetic_runs() -> Vec<(&'static str, Vec<EventEnvelope>)> {
    let mut retry = Script::new();
    retry
        .start(&[("a", 1)])
        .submit(&[(1, "a")])
        .rule_exception(1)
        .job_error(1, "a")
        .log("Trying to restart job 1.")
        .submit(&[(1, "a")])
        .finish(1, 1, 1)
        .complete();
    let mut keep_going = Script::new();
    keep_going
        .start(&[("a", 2), ("b", 1)])
        .submit(&[(1, "a"), (2, "a")])
        .rule_exception(1)
        .job_error(1, "a")
        .finish(2, 1, 3)
        .job_error(1, "a")
        .workflow_failed();
    let mut dangling = Script::new();
    dangling
        .start(&[("a", 2)])
        .submit(&[(1, "a"), (2, "a")])
        .rule_exception(1)
        .finish(2, 1, 2)
        .workflow_failed();
    let mut bare = Script::new();
    bare.bare_job_info = true;
    bare.start(&[("a", 2)])
        .submit(&[(1, "a"), (2, "a")])
        .finish(1, 1, 2)
        .finish(2, 2, 2)
        .complete();
    let mut crossed = Script::new();
    crossed
        .start(&[("a", 2)])
        .submit(&[(1, "a"), (2, "a")])
        .rule_exception(1)
        .rule_exception(2)
        .job_error(2, "a")
        .job_error(1, "a")
        .workflow_failed();
    let mut unfinished = Script::new();
    unfinished
        .start(&[("a", 2)])
        .submit(&[(1, "a")])
        .finish(1, 1, 2);
    unfinished.record(
        Some("job_started"),
        "INFO",
        "Execute 1 jobs...",
        json!({"jobs": [2]}),
    );
    vec![
        ("retry", retry.closed()),
        ("keep-going", keep_going.closed()),
        ("error without job_error", dangling.closed()),
        ("shellcmd only in its own record", bare.closed()),
        ("crossed failures", crossed.closed()),
        ("announced, never described", unfinished.closed()),
    ]
}

fn every_run() -> Vec<(String, Vec<EventEnvelope>)> {
    manifest_captures()
        .into_iter()
        .map(|c| {
            let events = envelopes(&c);
            (c, events)
        })
        .chain(
            synthetic_runs()
                .into_iter()
                .map(|(name, events)| (name.to_owned(), events)),
        )
        .collect()
}

#[test]
fn folding_in_batches_equals_folding_at_once() {
    for (name, events) in every_run() {
        let whole = fold(&events);
        for sizes in [
            &[1][..],
            &[2],
            &[3],
            &[7],
            &[64],
            &[1, 5, 2, 11],
            &[usize::MAX],
        ] {
            let batched = fold_in_batches(&events, sizes);
            assert_eq!(
                batched.state, whole.state,
                "{name}, batches {sizes:?}: run state"
            );
            assert_eq!(batched.jobs, whole.jobs, "{name}, batches {sizes:?}: jobs");
            assert_eq!(
                batched.errors, whole.errors,
                "{name}, batches {sizes:?}: errors"
            );
        }
    }
}

#[test]
fn the_state_between_batches_is_the_state_of_the_prefix() {
    // A store shows the run while it is still arriving: after every batch the persisted state
    // must be what folding the events so far gives.
    for (name, events) in every_run() {
        let mut store = IncrementalStore::new();
        for (i, chunk) in events.chunks(5).enumerate() {
            store.apply_batch(chunk);
            let prefix = fold(&events[..(i * 5 + chunk.len())]);
            assert_eq!(store.state, prefix.state, "{name}: after batch {i}");
            assert_eq!(store.jobs, prefix.jobs, "{name}: after batch {i}");
        }
    }
}

#[test]
fn shuffled_and_duplicated_input_folds_like_sorted_input() {
    for (name, events) in every_run() {
        let sorted = fold(&events);
        for seed in [1, 0x9e37_79b9_7f4a_7c15, 42] {
            let mut input = shuffled(&events, seed);
            assert_eq!(fold(&input), sorted, "{name}: shuffled with seed {seed}");
            input.extend(shuffled(&events, seed ^ 0xff));
            assert_eq!(fold(&input), sorted, "{name}: duplicated with seed {seed}");
        }
    }
}

#[test]
fn events_of_other_runs_are_ignored() {
    let events = envelopes("success/01-success.jsonl");
    let mut mixed = events.clone();
    for e in envelopes("job-failure/02-job-failure.jsonl") {
        mixed.push(EventEnvelope {
            run_id: flowo_core::RunId(uuid::Uuid::from_u128(7)),
            ..e
        });
    }
    assert_eq!(fold(&mixed), fold(&events));
}

// ---------------------------------------------------------------------------------------------
// Malformed input

fn envelope(seq: u64, kind: &str, data: Value) -> EventEnvelope {
    EventEnvelope {
        run_id: run_id(),
        seq,
        recorded_at: DateTime::from_timestamp(1_795_700_000 + seq as i64, 0).expect("a time"),
        received_at: None,
        kind: kind.to_owned(),
        data,
    }
}

#[test]
fn malformed_payloads_are_kept_with_a_reason_and_counted() {
    let bad = [
        ("job_info", json!({"jobid": "3", "rule_name": "a"})),
        ("job_info", json!({"rule_name": "a", "input": ["x"]})),
        ("job_finished", json!({})),
        ("progress", json!({"done": 1})),
        ("job_error", json!("Error in rule a, jobid: 1")),
        ("run_info", json!([1, 2, 3])),
        ("workflow_started", Value::Null),
        ("job_started", json!({"jobs": "1,2"})),
        ("", json!({})),
    ];
    for (kind, data) in &bad {
        let event = envelope(0, kind, data.clone()).event();
        match &event {
            Event::Malformed {
                kind: k,
                data: d,
                reason,
            } => {
                assert_eq!((k, d), (&(*kind).to_owned(), data));
                assert!(!reason.is_empty(), "{kind}: no reason");
            }
            other => panic!("{kind} {data}: decoded as {other:?}"),
        }
        // Kept as it came: serializing gives back the raw payload.
        assert_eq!(event.kind(), *kind);
        assert_eq!(&event.data(), data);
    }

    // Woven into a real run, they change nothing but the counters.
    let good = envelopes("success/01-success.jsonl");
    let mut mixed = Vec::new();
    let mut seq = 0;
    for (i, e) in good.iter().enumerate() {
        // Every sixth place, so some land between a job_info and its shellcmd.
        if let Some((kind, data)) = bad.get(i / 6).filter(|_| i % 6 == 5) {
            mixed.push(envelope(seq, kind, data.clone()));
            seq += 1;
        }
        mixed.push(EventEnvelope { seq, ..e.clone() });
        seq += 1;
    }
    let clean = fold(&good);
    let folded = fold(&mixed);
    assert_eq!(folded.state.detail.malformed_events, bad.len() as u64);
    assert_eq!(folded.state.run.event_count, mixed.len() as u64);
    assert_eq!(folded.jobs, clean.jobs);
    assert_eq!(folded.state.run.status, RunStatus::Succeeded);
    assert_eq!(folded.state.run.jobs, clean.state.run.jobs);
    assert_eq!((folded.state.run.done, folded.state.run.total), (9, 9));
}

#[test]
fn unknown_kinds_are_kept_and_do_not_change_the_run() {
    let data = json!({"jobid": 1, "whatever": [1, 2]});
    let event = envelope(0, "job_teleported", data.clone()).event();
    assert_eq!(
        event,
        Event::Unknown {
            kind: "job_teleported".into(),
            data: data.clone()
        }
    );
    let mut run = Script::new();
    run.start(&[("a", 1)]).submit(&[(1, "a")]);
    let mut events = run.events();
    let plain = fold(&events);
    events.push(envelope(events.len() as u64, "job_teleported", data));
    let folded = fold(&events);
    assert_eq!(folded.jobs, plain.jobs);
    assert_eq!(folded.state.run.status, plain.state.run.status);
    // An unknown kind is not malformed: a newer Snakemake may simply know more events.
    assert_eq!(folded.state.detail.malformed_events, 0);
}

#[test]
fn a_truncated_line_never_reaches_the_fold_as_a_record() {
    // Half a JSON line is not a record at all: the reader sees the parse error, and the part of
    // the object that parses cannot be mistaken for the event.
    let line = r#"{"event": "job_info", "jobid": 3, "rule_name": "slow", "input": ["#;
    assert!(serde_json::from_str::<Value>(line).is_err());
    let cut = json!({"event": "job_info", "rule_name": "slow", "levelname": "INFO"});
    let event = event_from_record(&cut).expect("an object is a record");
    assert!(
        matches!(&event, Event::Malformed { kind, reason, .. } if kind == "job_info" && reason.contains("jobid")),
        "{event:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Records

#[test]
fn records_that_are_not_objects_are_errors() {
    for record in [
        json!([1, 2]),
        json!("Workflow has started!"),
        Value::Null,
        json!(3),
    ] {
        assert_eq!(
            payload_from_record(&record),
            Err(RecordError::NotAnObject),
            "{record}"
        );
        assert_eq!(event_from_record(&record), Err(RecordError::NotAnObject));
    }
    assert_eq!(
        payload_from_record(&json!({"event": 5, "msg": "x"})),
        Err(RecordError::BadKind)
    );
    assert_eq!(
        payload_from_record(&json!({"event": ["job_info"]})),
        Err(RecordError::BadKind)
    );
}

#[test]
fn records_without_event_are_log_messages_with_their_level() {
    let (kind, data) = payload_from_record(&json!({
        "msg": "Trying to restart job 1.", "message": "Trying to restart job 1.",
        "levelname": "WARNING", "event": null,
    }))
    .expect("a record");
    assert_eq!(kind, "log");
    assert_eq!(
        data,
        json!({"level": "warning", "message": "Trying to restart job 1."})
    );
    let (kind, data) = payload_from_record(&json!({})).expect("an empty object is a record");
    assert_eq!(kind, "log");
    assert_eq!(data, json!({"level": "info", "message": ""}));
}

#[test]
fn record_payloads_drop_logging_attributes_and_prefer_snakefile_main() {
    let record = json!({
        "name": "snakemake.logging", "msg": "Workflow has started!",
        "message": "Workflow has started!", "levelname": "INFO", "levelno": 20,
        "created": 1795704589.2571108, "thread": 1, "threadName": "MainThread",
        "process": 2, "_seq": 1, "_types": {"workflow_id": "uuid.UUID"},
        "event": "workflow_started", "workflow_id": "f206dc84-05ba-4c7d-a0ce-5fad6f0cf73c",
        "snakefile": "/opt/venv/lib/python3.11/site-packages/snakemake/workflow.py",
        "snakefile_main": "/data/project/Snakefile",
    });
    let (kind, data) = payload_from_record(&record).expect("a record");
    assert_eq!(kind, "workflow_started");
    assert_eq!(
        data,
        json!({
            "message": "Workflow has started!",
            "workflow_id": "f206dc84-05ba-4c7d-a0ce-5fad6f0cf73c",
            "snakefile": "/data/project/Snakefile",
        })
    );
    assert_eq!(
        record_time(&record).map(|t| t.timestamp_micros()),
        Some(1_795_704_589_257_111)
    );
}

#[test]
fn record_times_that_are_missing_or_absurd_are_none() {
    for record in [
        json!({}),
        json!({"created": "1795704589.25"}),
        json!({"created": null}),
        json!({"created": 1e300}),
        json!({"created": -1e300}),
        json!([1]),
    ] {
        assert_eq!(record_time(&record), None, "{record}");
    }
}

// ---------------------------------------------------------------------------------------------
// The plugin's own events

/// Adds a producer event (not a Snakemake record) to a script.
fn produce(script: &mut Script, event: &Event) {
    let seq = script.events.len() as u64;
    script
        .events
        .push(EventEnvelope::new(run_id(), seq, script.at, event));
}

#[test]
fn a_run_that_never_parsed_still_shows_where_it_was_started() {
    use flowo_core::event::RunContext;
    let mut s = Script::new();
    produce(
        &mut s,
        &Event::RunContext(RunContext {
            snakemake_version: Some("9.27.1".into()),
            command_line: Some("snakemake --logger flowo".into()),
            host: Some("node7".into()),
            user: Some("ana".into()),
            workdir: Some("/home/ana/rnaseq".into()),
            ..RunContext::default()
        }),
    );
    s.record(
        Some("error"),
        "ERROR",
        "SyntaxError in file \"/home/ana/rnaseq/Snakefile\", line 8:\nColon expected",
        json!({"exception": "SyntaxError"}),
    );
    let folded = fold(&s.closed());
    let run = &folded.state.run;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.host.as_deref(), Some("node7"));
    assert_eq!(run.user.as_deref(), Some("ana"));
    assert_eq!(
        run.command_line.as_deref(),
        Some("snakemake --logger flowo")
    );
    assert_eq!(run.snakemake_version.as_deref(), Some("9.27.1"));
    assert_eq!(run.name.as_deref(), Some("rnaseq"));
}

#[test]
fn workflow_started_beats_the_context_and_benchmarks_reach_known_jobs_only() {
    use flowo_core::event::{JobBenchmark, RunContext};
    let mut s = Script::new();
    produce(
        &mut s,
        &Event::RunContext(RunContext {
            workdir: Some("/from/context".into()),
            host: Some("context-host".into()),
            ..RunContext::default()
        }),
    );
    s.start(&[("a", 1)]).submit(&[(1, "a")]).finish(1, 1, 1);
    let values: BTreeMap<String, Value> = [
        ("s".to_owned(), json!(1.5)),
        ("max_rss".to_owned(), json!(3.2)),
    ]
    .into_iter()
    .collect();
    for job_id in [1, 99] {
        produce(
            &mut s,
            &Event::JobBenchmark(JobBenchmark {
                job_id,
                path: Some("bench/a.tsv".into()),
                values: values.clone(),
            }),
        );
    }
    s.complete();
    let all = s.closed();
    let folded = fold(&all);
    assert_eq!(
        job(&folded, 1).detail.benchmark_values.as_ref(),
        Some(&values)
    );
    assert!(
        !folded.jobs.contains_key(&99),
        "a benchmark never creates a job"
    );
    assert_eq!(folded.state.run.status, RunStatus::Succeeded);
    // workflow_started (from the Script's start) names the real workdir.
    assert_ne!(folded.state.run.workdir.as_deref(), Some("/from/context"));
    // Incremental folding reaches the same jobs.
    let mut store = IncrementalStore::new();
    for batch in all.chunks(3) {
        store.apply_batch(batch);
    }
    assert_eq!(
        store.jobs.get(&1).map(|j| &j.detail),
        Some(&job(&folded, 1).detail)
    );
}

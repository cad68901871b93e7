//! The fold: a pure state machine from a run's events, in sequence order, to run, job and error
//! state.
//!
//! It is written for incremental use by the stores: [`RunState`] (the run, its detail and the
//! fold's own bookkeeping) is persisted between batches, and only the jobs an event touches are
//! loaded ([`RunState::jobs_needed`]). Folding a whole capture at once is [`fold_events`].
//!
//! The orderings it copes with are documented in `shared/fixtures/snakemake-events/README.md`
//! and ARCHITECTURE.md: `job_started` before `job_info`, `shellcmd` without a job id, `error` and
//! `job_error` interleaving, retries re-sending `job_info`, duplicated `job_error`, runs that
//! simply stop.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::event::{
    ErrorEvent, Event, EventEnvelope, JobErrorEvent, JobInfo, RuleGraph, RunContext, RunLabels,
    RunOutcome, WorkflowStarted,
};
use crate::ids::{JobId, RunId, Seq, WorkspaceId};
use crate::model::{ErrorScope, Job, JobFailure, JobStatus, Run, RunError, RunStatus};

/// Exceptions that Snakemake raises for one job rather than for the workflow.
const JOB_EXCEPTIONS: &[&str] = &[
    "RuleException",
    "SpawnedJobError",
    "CalledProcessError",
    "MissingOutputException",
];

/// Descriptive run facts that are shown but not filtered on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct RunDetail {
    /// The rule graph, when Snakemake sent one.
    pub rulegraph: Option<RuleGraph>,
    /// Jobs planned per rule (`run_info`, without `total`).
    pub planned: BTreeMap<String, u64>,
    /// Config files.
    pub configfiles: Vec<String>,
    /// Platform.
    pub platform: Option<String>,
    /// Python version.
    pub python_version: Option<String>,
    /// Snakemake's base directory.
    pub basedir: Option<String>,
    /// Provided resources (`--resources`).
    pub provided_resources: Option<serde_json::Value>,
    /// The producer's outcome, when it sent `run_finished`.
    pub outcome: Option<RunOutcome>,
    /// Snakemake's exit code, when the producer knew it.
    pub exit_code: Option<i32>,
    /// Events that could not be decoded (kept raw in the event log).
    pub malformed_events: u64,
}

/// A job failure seen in an `error` record, waiting for its `job_error`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct PendingFailure {
    seq: Seq,
    recorded_at: Option<chrono::DateTime<chrono::Utc>>,
    exception: Option<String>,
    message: Option<String>,
}

/// The fold's own bookkeeping, persisted with the run between batches.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FoldCursor {
    /// The job whose `job_info` came last and has not yet had its `shellcmd`.
    last_job_info: Option<JobId>,
    /// Jobs announced by `job_started` whose `job_info` has not come yet, with the time.
    submitted: BTreeMap<JobId, chrono::DateTime<chrono::Utc>>,
    /// Jobs running now.
    open_jobs: BTreeSet<JobId>,
    /// `error` records of job failures not yet matched to a `job_error`.
    pending_failures: VecDeque<PendingFailure>,
    /// A signal was seen (SIGINT or SIGTERM messages).
    interrupted: bool,
    /// A workflow-level error was seen.
    workflow_failed: bool,
    /// `resources_info` or `job_started` was seen: the run executes jobs.
    executing: bool,
    /// The producer said whether this is a dry run.
    dry_run_label: Option<bool>,
    /// The producer named the run.
    named_by_producer: bool,
    /// `run_finished` was seen.
    finished: bool,
}

impl FoldCursor {
    /// The pending `error` that belongs to a job with this shell command. `error` and
    /// `job_error` come from the executor's worker threads, so with several jobs failing at once
    /// another job's `error` can come in between: prefer the failure whose text quotes the job's
    /// command (`Command '...' returned non-zero exit status`), else the oldest.
    fn take_pending_failure(&mut self, shellcmd: Option<&str>) -> Option<PendingFailure> {
        let command = shellcmd.map(str::trim).filter(|c| !c.is_empty());
        let quoting = command.and_then(|command| {
            self.pending_failures
                .iter()
                .position(|p| p.message.as_deref().is_some_and(|m| m.contains(command)))
        });
        match quoting {
            Some(i) => self.pending_failures.remove(i),
            None => self.pending_failures.pop_front(),
        }
    }
}

/// Everything the fold keeps about one run between batches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// The run summary.
    pub run: Run,
    /// Descriptive detail.
    pub detail: RunDetail,
    /// Fold bookkeeping.
    pub cursor: FoldCursor,
}

/// What one [`RunState::apply`] changed besides the run itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FoldOutput {
    /// Jobs created or changed.
    pub touched: BTreeSet<JobId>,
    /// Errors recorded.
    pub errors: Vec<RunError>,
}

/// The jobs of a run that the fold may read and change.
pub type JobMap = HashMap<JobId, Job>;

impl RunState {
    /// The state of a run before its first event.
    pub fn new(run_id: RunId, workspace_id: WorkspaceId) -> Self {
        Self {
            run: Run::new(run_id, workspace_id),
            detail: RunDetail::default(),
            cursor: FoldCursor::default(),
        }
    }

    /// Adds to `out` the ids of the jobs that applying `event` may read or change; callers that
    /// keep jobs elsewhere load these before [`RunState::apply`].
    pub fn jobs_needed(&self, event: &Event, out: &mut BTreeSet<JobId>) {
        match event {
            Event::JobInfo(info) => {
                out.insert(info.jobid);
            }
            Event::JobFinished(f) => {
                out.insert(f.job_id);
            }
            Event::JobError(e) => {
                out.insert(e.jobid);
            }
            Event::JobBenchmark(b) => {
                out.insert(b.job_id);
            }
            Event::Shellcmd(_) => out.extend(self.cursor.last_job_info),
            Event::Error(e) if e.exception.as_deref() == Some("MissingOutputException") => {
                out.extend(e.message.as_deref().and_then(job_id_in_text));
            }
            Event::RunFinished(_) | Event::Log(_) => out.extend(self.cursor.open_jobs.iter()),
            _ => {}
        }
    }

    /// Folds one event. Events must come in sequence order; `jobs` must hold the jobs named by
    /// [`RunState::jobs_needed`] (missing ones are created).
    pub fn apply(&mut self, jobs: &mut JobMap, envelope: &EventEnvelope, out: &mut FoldOutput) {
        let event = envelope.event();
        self.apply_event(jobs, envelope.seq, envelope.recorded_at, &event, out);
    }

    /// Folds one already decoded event (see [`RunState::apply`]).
    pub fn apply_event(
        &mut self,
        jobs: &mut JobMap,
        seq: Seq,
        at: chrono::DateTime<chrono::Utc>,
        event: &Event,
        out: &mut FoldOutput,
    ) {
        let run = &mut self.run;
        run.event_count += 1;
        run.last_seq = Some(run.last_seq.map_or(seq, |s| s.max(seq)));
        run.started_at = Some(run.started_at.map_or(at, |s| s.min(at)));
        run.last_event_at = Some(run.last_event_at.map_or(at, |s| s.max(at)));

        match event {
            Event::WorkflowStarted(w) => self.workflow_started(w),
            Event::Rulegraph(g) => self.detail.rulegraph = Some(g.rulegraph.clone()),
            Event::ResourcesInfo(r) => {
                self.cursor.executing = true;
                if r.cores.is_some() {
                    self.run.cores = r.cores;
                }
                if r.provided_resources.is_some() {
                    self.detail.provided_resources = r.provided_resources.clone();
                }
            }
            Event::RunInfo(info) => {
                self.detail.planned = info
                    .stats
                    .iter()
                    .filter(|(rule, _)| rule.as_str() != "total")
                    .map(|(rule, n)| (rule.clone(), *n))
                    .collect();
                let total = info
                    .stats
                    .get("total")
                    .copied()
                    .unwrap_or_else(|| self.detail.planned.values().sum());
                self.run.total = self.run.total.max(total);
            }
            Event::JobStarted(started) => {
                self.cursor.executing = true;
                for id in &started.jobs {
                    self.cursor.submitted.insert(*id, at);
                }
            }
            Event::JobInfo(info) => self.job_info(jobs, at, info, out),
            Event::Shellcmd(cmd) => {
                if let Some(id) = self.cursor.last_job_info.take()
                    && let Some(job) = jobs.get_mut(&id)
                    && let Some(text) = cmd.shellcmd.as_ref().or(cmd.cmd.as_ref())
                    && job.detail.shellcmd.as_ref() != Some(text)
                {
                    job.detail.shellcmd = Some(text.clone());
                    out.touched.insert(id);
                }
            }
            Event::JobFinished(f) => {
                let job = self.job_entry(jobs, f.job_id, None, out);
                if job.started_at.is_none() {
                    job.started_at = self.cursor.submitted.remove(&f.job_id);
                }
                job.finished_at = Some(at);
                self.set_status(jobs, f.job_id, JobStatus::Succeeded, out);
            }
            Event::JobError(e) => self.job_error(jobs, seq, at, e, out),
            Event::Progress(p) => {
                self.run.done = p.done;
                self.run.total = p.total.max(self.run.done);
            }
            Event::Error(e) => self.error(jobs, seq, at, e, out),
            Event::Log(log) => {
                let text = log.message.trim_start();
                if text.starts_with("Terminating processes on user request")
                    || text.starts_with("Will exit after finishing currently running jobs")
                {
                    self.cursor.interrupted = true;
                } else if text.starts_with("This was a dry-run") {
                    self.cursor.dry_run_label.get_or_insert(true);
                    self.run.dry_run = true;
                    for id in std::mem::take(&mut self.cursor.open_jobs) {
                        self.set_status(jobs, id, JobStatus::Planned, out);
                    }
                }
            }
            Event::RunLabels(labels) => self.labels(labels),
            Event::RunContext(c) => self.context(c),
            Event::JobBenchmark(b) => {
                // Only for a job the fold knows: a benchmark never creates a job.
                if let Some(job) = jobs.get_mut(&b.job_id) {
                    job.detail.benchmark_values = Some(b.values.clone());
                    out.touched.insert(b.job_id);
                }
            }
            Event::RunFinished(f) => {
                self.cursor.finished = true;
                self.detail.outcome = f.outcome.or(self.detail.outcome);
                self.detail.exit_code = f.exit_code.or(self.detail.exit_code);
                self.run.finished_at = Some(at);
            }
            Event::Malformed { .. } => self.detail.malformed_events += 1,
            Event::DebugDag(_)
            | Event::GroupInfo(_)
            | Event::GroupError(_)
            | Event::Heartbeat
            | Event::RunSource(_)
            | Event::JobLogs(_)
            | Event::Unknown { .. } => {}
        }
        if self.cursor.finished {
            self.conclude(jobs, out);
        }
    }

    fn workflow_started(&mut self, w: &WorkflowStarted) {
        let run = &mut self.run;
        run.workflow_id = w.workflow_id.clone().or(run.workflow_id.take());
        run.snakefile = w.snakefile.clone().or(run.snakefile.take());
        run.workdir = w.cwd.clone().or(w.rundir.clone()).or(run.workdir.take());
        run.snakemake_version = w.snakemake_version.clone().or(run.snakemake_version.take());
        run.host = w.host.clone().or(run.host.take());
        run.user = w.user.clone().or(run.user.take());
        run.command_line = w.cmd.clone().or(run.command_line.take());
        self.name_from_workdir();
        let detail = &mut self.detail;
        detail.configfiles = w.configfiles.clone();
        detail.platform = w.platform.clone().or(detail.platform.take());
        detail.python_version = w.python_version.clone().or(detail.python_version.take());
        detail.basedir = w.basedir.clone().or(detail.basedir.take());
    }

    /// The producer's context fills what `workflow_started` has not (or never will, when the
    /// Snakefile fails to parse).
    fn context(&mut self, c: &RunContext) {
        let run = &mut self.run;
        let fill = |slot: &mut Option<String>, value: &Option<String>| {
            if slot.is_none() {
                slot.clone_from(value);
            }
        };
        fill(&mut run.snakemake_version, &c.snakemake_version);
        fill(&mut run.command_line, &c.command_line);
        fill(&mut run.host, &c.host);
        fill(&mut run.user, &c.user);
        fill(&mut run.workdir, &c.workdir);
        fill(&mut self.detail.python_version, &c.python_version);
        fill(&mut self.detail.platform, &c.platform);
        self.name_from_workdir();
    }

    /// Names an unnamed run after its working directory's last component.
    fn name_from_workdir(&mut self) {
        if self.cursor.named_by_producer {
            return;
        }
        if let Some(dir) = &self.run.workdir {
            let base = dir.trim_end_matches('/').rsplit('/').next().unwrap_or(dir);
            if !base.is_empty() {
                self.run.name = Some(base.to_owned());
            }
        }
    }

    fn labels(&mut self, labels: &RunLabels) {
        if let Some(name) = &labels.name {
            self.run.name = Some(name.clone());
            self.cursor.named_by_producer = true;
        }
        if labels.description.is_some() {
            self.run.description = labels.description.clone();
        }
        if !labels.tags.is_empty() {
            self.run.tags = labels.tags.clone();
        }
        if let Some(dry) = labels.dry_run {
            self.cursor.dry_run_label = Some(dry);
            self.run.dry_run = dry;
        }
    }

    fn is_dry_run(&self) -> bool {
        self.cursor.dry_run_label.unwrap_or(!self.cursor.executing)
    }

    fn job_info(&mut self, jobs: &mut JobMap, at: Timestamp, info: &JobInfo, out: &mut FoldOutput) {
        let dry = self.is_dry_run();
        let submitted = self.cursor.submitted.remove(&info.jobid);
        let rule = (!info.rule_name.is_empty()).then(|| info.rule_name.clone());
        let job = self.job_entry(jobs, info.jobid, rule, out);
        if job.attempts == 0 || matches!(job.status, JobStatus::Failed | JobStatus::Incomplete) {
            // A first submission, or a retry after a failure: a new attempt.
            job.attempts += 1;
            job.finished_at = None;
            job.detail.failure = None;
            job.started_at = if dry {
                None
            } else {
                Some(submitted.unwrap_or(at))
            };
        }
        let d = &mut job.detail;
        d.wildcards = info.wildcards.clone();
        d.input = info.input.clone();
        d.output = info.output.clone();
        d.log = info.log.clone();
        d.benchmark = info.benchmark.clone();
        d.reason = info.reason.clone();
        d.resources = info.resources.clone();
        d.threads = info.threads;
        d.priority = info.priority.clone();
        d.message = info.rule_msg.clone();
        d.local = info.local;
        d.is_checkpoint = info.is_checkpoint;
        if info.shellcmd.is_some() {
            d.shellcmd = info.shellcmd.clone();
        }
        let status = if dry {
            self.run.dry_run = true;
            JobStatus::Planned
        } else {
            JobStatus::Running
        };
        self.set_status(jobs, info.jobid, status, out);
        self.cursor.last_job_info = Some(info.jobid);
    }

    fn job_error(
        &mut self,
        jobs: &mut JobMap,
        seq: Seq,
        at: chrono::DateTime<chrono::Utc>,
        e: &JobErrorEvent,
        out: &mut FoldOutput,
    ) {
        let rule = (!e.rule_name.is_empty()).then(|| e.rule_name.clone());
        let job = self.job_entry(jobs, e.jobid, rule, out);
        if job.status == JobStatus::Failed {
            // Snakemake up to 9.24 repeats every job_error at the end of the run.
            return;
        }
        let command = job.detail.shellcmd.clone().or_else(|| e.shellcmd.clone());
        let pending = self.cursor.take_pending_failure(command.as_deref());
        if job.started_at.is_none() {
            job.started_at = self.cursor.submitted.remove(&e.jobid);
        }
        job.finished_at = Some(at);
        let d = &mut job.detail;
        for (field, value) in [
            (&mut d.input, &e.input),
            (&mut d.output, &e.output),
            (&mut d.log, &e.log),
        ] {
            if field.is_empty() {
                field.clone_from(value);
            }
        }
        if d.shellcmd.is_none() {
            d.shellcmd = e.shellcmd.clone();
        }
        let (exception, message) = match pending {
            Some(p) => (p.exception, p.message),
            None => (None, e.message.clone()),
        };
        d.failure = Some(JobFailure {
            exception: exception.clone(),
            message: message.clone(),
            conda_env: e.conda_env.clone(),
            container_img: e.container_img.clone(),
            aux: e.aux.clone(),
        });
        let rule = job.rule.clone();
        self.set_status(jobs, e.jobid, JobStatus::Failed, out);
        self.record_error(
            out,
            seq,
            at,
            ErrorScope::Job,
            exception,
            message,
            Some(rule),
            Some(e.jobid),
        );
    }

    fn error(
        &mut self,
        jobs: &mut JobMap,
        seq: Seq,
        at: chrono::DateTime<chrono::Utc>,
        e: &ErrorEvent,
        out: &mut FoldOutput,
    ) {
        let exception = e.exception.clone();
        let message = e.message.clone().or_else(|| e.traceback.clone());
        let is_job_error = exception
            .as_deref()
            .is_some_and(|x| JOB_EXCEPTIONS.contains(&x));
        if !is_job_error {
            self.cursor.workflow_failed = true;
            self.record_error(
                out,
                seq,
                at,
                ErrorScope::Workflow,
                exception,
                message,
                e.rule.clone(),
                None,
            );
            return;
        }
        if exception.as_deref() == Some("MissingOutputException") {
            // No job_error follows; the job is named only in the text.
            let job_id = message.as_deref().and_then(job_id_in_text);
            let mut rule = e.rule.clone();
            if let Some(id) = job_id
                && let Some(job) = jobs.get_mut(&id)
            {
                rule = Some(job.rule.clone());
                if job.status != JobStatus::Failed {
                    job.finished_at = Some(at);
                    job.detail.failure = Some(JobFailure {
                        exception: exception.clone(),
                        message: message.clone(),
                        ..JobFailure::default()
                    });
                    self.set_status(jobs, id, JobStatus::Failed, out);
                }
            }
            if job_id.is_none() {
                self.cursor.workflow_failed = true;
            }
            self.record_error(
                out,
                seq,
                at,
                ErrorScope::Job,
                exception,
                message,
                rule,
                job_id,
            );
            return;
        }
        self.cursor.pending_failures.push_back(PendingFailure {
            seq,
            recorded_at: Some(at),
            exception,
            message,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn record_error(
        &mut self,
        out: &mut FoldOutput,
        seq: Seq,
        at: chrono::DateTime<chrono::Utc>,
        scope: ErrorScope,
        exception: Option<String>,
        message: Option<String>,
        rule: Option<String>,
        job_id: Option<JobId>,
    ) {
        self.run.error_count += 1;
        out.errors.push(RunError {
            run_id: self.run.id,
            seq,
            recorded_at: at,
            scope,
            exception,
            message,
            rule,
            job_id,
        });
    }

    /// Settles the run's status once the producer said the run ended.
    fn conclude(&mut self, jobs: &mut JobMap, out: &mut FoldOutput) {
        // Failures whose job_error never came are still errors of the run.
        while let Some(p) = self.cursor.pending_failures.pop_front() {
            let at = p.recorded_at.or(self.run.finished_at).unwrap_or_default();
            self.cursor.workflow_failed = true;
            self.record_error(
                out,
                p.seq,
                at,
                ErrorScope::Job,
                p.exception,
                p.message,
                None,
                None,
            );
        }
        let unfinished = !self.cursor.open_jobs.is_empty() || !self.cursor.submitted.is_empty();
        for id in std::mem::take(&mut self.cursor.open_jobs) {
            self.set_status(jobs, id, JobStatus::Incomplete, out);
        }
        // `submitted` is kept: an event after the end marker (a heartbeat racing with close())
        // concludes again and must reach the same status.
        let outcome = self.detail.outcome;
        self.run.status = if self.cursor.interrupted || outcome == Some(RunOutcome::Interrupted) {
            RunStatus::Interrupted
        } else if self.cursor.workflow_failed
            || self.run.jobs.failed > 0
            || outcome == Some(RunOutcome::Failed)
        {
            RunStatus::Failed
        } else if unfinished || self.run.jobs.incomplete > 0 {
            RunStatus::Interrupted
        } else {
            RunStatus::Succeeded
        };
    }

    /// The job with this id, created (running, no attempt yet) if the fold has not seen it.
    fn job_entry<'a>(
        &mut self,
        jobs: &'a mut JobMap,
        id: JobId,
        rule: Option<String>,
        out: &mut FoldOutput,
    ) -> &'a mut Job {
        out.touched.insert(id);
        let run_id = self.run.id;
        let counts = &mut self.run.jobs;
        let job = jobs.entry(id).or_insert_with(|| {
            *counts.get_mut(JobStatus::Running) += 1;
            Job::new(run_id, id, String::new(), JobStatus::Running)
        });
        if job.status == JobStatus::Running {
            self.cursor.open_jobs.insert(id);
        }
        if let Some(rule) = rule {
            job.rule = rule;
        }
        job
    }

    fn set_status(
        &mut self,
        jobs: &mut JobMap,
        id: JobId,
        status: JobStatus,
        out: &mut FoldOutput,
    ) {
        let Some(job) = jobs.get_mut(&id) else { return };
        out.touched.insert(id);
        if job.status != status {
            let old = self.run.jobs.get_mut(job.status);
            *old = old.saturating_sub(1);
            *self.run.jobs.get_mut(status) += 1;
            job.status = status;
        }
        if status == JobStatus::Running {
            self.cursor.open_jobs.insert(id);
        } else {
            self.cursor.open_jobs.remove(&id);
        }
    }
}

/// Finds the job id in texts such as `"Job 1  completed successfully, but some output files are
/// missing"`.
fn job_id_in_text(text: &str) -> Option<JobId> {
    let rest = &text[text.find("Job ")? + 4..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The result of folding a whole event sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct Folded {
    /// The run state.
    pub state: RunState,
    /// Every job, by id.
    pub jobs: BTreeMap<JobId, Job>,
    /// Every error, in order.
    pub errors: Vec<RunError>,
}

/// Folds a run's events (sorted by sequence here, duplicates of a sequence ignored).
pub fn fold_events<'a>(
    run_id: RunId,
    workspace_id: WorkspaceId,
    events: impl IntoIterator<Item = &'a EventEnvelope>,
) -> Folded {
    let mut sorted: Vec<&EventEnvelope> =
        events.into_iter().filter(|e| e.run_id == run_id).collect();
    sorted.sort_by_key(|e| e.seq);
    sorted.dedup_by_key(|e| e.seq);
    let mut state = RunState::new(run_id, workspace_id);
    let mut jobs = JobMap::new();
    let mut out = FoldOutput::default();
    for envelope in sorted {
        state.apply(&mut jobs, envelope, &mut out);
    }
    Folded {
        state,
        jobs: jobs.into_iter().collect(),
        errors: out.errors,
    }
}

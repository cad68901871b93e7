//! Domain types: runs, jobs, rules, errors and workspaces, and their statuses.
//!
//! These are the folded state that the stores keep and the API shows. The words used here
//! (`running`, `succeeded`, ...) are the same in Rust, SQL, JSON and the dashboard.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Timestamp;
use crate::ids::{JobId, RunId, Seq, WorkspaceId};

/// The status of a run. See ARCHITECTURE.md for the exact rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Events are arriving and the run has not ended.
    Running,
    /// The run ended with every started job finished and no job or workflow failure.
    Succeeded,
    /// A job failed (and was not retried successfully), or the workflow failed.
    Failed,
    /// Stopped by a signal (SIGINT, SIGTERM), or ended with jobs unfinished.
    Interrupted,
    /// No event (not even a heartbeat) within the timeout the reader gives: the producer
    /// disappeared (SIGKILL, node failure). Never stored; derived when reading.
    Lost,
}

/// The status of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Submitted and not finished.
    Running,
    /// Finished (`job_finished`).
    Succeeded,
    /// Failed (its last attempt sent `job_error`, or its output was missing).
    Failed,
    /// Its run ended (or was lost) before it finished.
    Incomplete,
    /// Named in a dry run: it would run, but a dry run executes nothing.
    Planned,
}

macro_rules! status_words {
    ($ty:ident { $($variant:ident => $word:literal),* $(,)? }) => {
        impl $ty {
            /// Every status, in display order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];

            /// The status word used in SQL, JSON and the UI.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $word),* }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownStatus;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($word => Ok($ty::$variant),)*
                    other => Err(UnknownStatus(other.to_owned())),
                }
            }
        }
    };
}

status_words!(RunStatus {
    Running => "running",
    Succeeded => "succeeded",
    Failed => "failed",
    Interrupted => "interrupted",
    Lost => "lost",
});

status_words!(JobStatus {
    Running => "running",
    Succeeded => "succeeded",
    Failed => "failed",
    Incomplete => "incomplete",
    Planned => "planned",
});

/// A status word that is not one of ours.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("unknown status {0:?}")]
pub struct UnknownStatus(pub String);

/// Jobs of a run, counted by status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobCounts {
    /// Running jobs.
    pub running: u64,
    /// Succeeded jobs.
    pub succeeded: u64,
    /// Failed jobs.
    pub failed: u64,
    /// Incomplete jobs.
    pub incomplete: u64,
    /// Planned jobs (dry runs).
    pub planned: u64,
}

impl JobCounts {
    /// The counter for one status.
    pub fn get(&self, status: JobStatus) -> u64 {
        match status {
            JobStatus::Running => self.running,
            JobStatus::Succeeded => self.succeeded,
            JobStatus::Failed => self.failed,
            JobStatus::Incomplete => self.incomplete,
            JobStatus::Planned => self.planned,
        }
    }

    /// The counter for one status, mutably.
    pub fn get_mut(&mut self, status: JobStatus) -> &mut u64 {
        match status {
            JobStatus::Running => &mut self.running,
            JobStatus::Succeeded => &mut self.succeeded,
            JobStatus::Failed => &mut self.failed,
            JobStatus::Incomplete => &mut self.incomplete,
            JobStatus::Planned => &mut self.planned,
        }
    }

    /// All jobs seen.
    pub fn total(&self) -> u64 {
        self.running + self.succeeded + self.failed + self.incomplete + self.planned
    }
}

/// One Snakemake invocation, folded from its events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Run {
    /// The producer's run id.
    pub id: RunId,
    /// The workspace the run belongs to.
    pub workspace_id: WorkspaceId,
    /// Snakemake's `workflow_id`, when it got as far as `workflow_started`.
    pub workflow_id: Option<String>,
    /// The stored status. Readers apply [`Run::status_at`] to see `lost`.
    pub status: RunStatus,
    /// Whether this was a dry run (`-n`).
    pub dry_run: bool,
    /// Display name (the producer's, else the working directory's last component).
    pub name: Option<String>,
    /// Free text from the producer.
    pub description: Option<String>,
    /// Tags from the producer.
    pub tags: Vec<String>,
    /// Snakemake version.
    pub snakemake_version: Option<String>,
    /// Host.
    pub host: Option<String>,
    /// User.
    pub user: Option<String>,
    /// The command line.
    pub command_line: Option<String>,
    /// Working directory.
    pub workdir: Option<String>,
    /// The main Snakefile.
    pub snakefile: Option<String>,
    /// Cores given to Snakemake.
    pub cores: Option<u64>,
    /// Time of the first event.
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the run ended (its last event before the end marker), if it did.
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Time of the latest event (heartbeats included); drives `lost`.
    pub last_event_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Jobs done, from `progress`.
    pub done: u64,
    /// Jobs in the DAG, from `progress` or `run_info` (grows with checkpoints).
    pub total: u64,
    /// Jobs seen, by status.
    pub jobs: JobCounts,
    /// Errors recorded (workflow-level and job-level).
    pub error_count: u64,
    /// Events folded.
    pub event_count: u64,
    /// Highest sequence number folded.
    pub last_seq: Option<Seq>,
}

impl Run {
    /// A run that has seen no event yet.
    pub fn new(id: RunId, workspace_id: WorkspaceId) -> Self {
        Self {
            id,
            workspace_id,
            workflow_id: None,
            status: RunStatus::Running,
            dry_run: false,
            name: None,
            description: None,
            tags: Vec::new(),
            snakemake_version: None,
            host: None,
            user: None,
            command_line: None,
            workdir: None,
            snakefile: None,
            cores: None,
            started_at: None,
            finished_at: None,
            last_event_at: None,
            done: 0,
            total: 0,
            jobs: JobCounts::default(),
            error_count: 0,
            event_count: 0,
            last_seq: None,
        }
    }

    /// Whether a run with this stored status and last event time counts as lost at `now`.
    pub fn is_lost(
        status: RunStatus,
        last_event_at: Option<chrono::DateTime<chrono::Utc>>,
        now: chrono::DateTime<chrono::Utc>,
        lost_after: chrono::Duration,
    ) -> bool {
        status == RunStatus::Running && last_event_at.is_some_and(|t| t + lost_after < now)
    }

    /// The status as a reader sees it at `now`: a running run whose producer has been silent for
    /// longer than `lost_after` is `lost`.
    pub fn status_at(&self, now: Timestamp, lost_after: chrono::Duration) -> RunStatus {
        if Self::is_lost(self.status, self.last_event_at, now, lost_after) {
            RunStatus::Lost
        } else {
            self.status
        }
    }

    /// Applies [`Run::status_at`] in place, moving running jobs to incomplete for a lost run.
    pub fn resolve_lost(&mut self, now: Timestamp, lost_after: chrono::Duration) {
        if self.status_at(now, lost_after) == RunStatus::Lost {
            self.status = RunStatus::Lost;
            self.jobs.incomplete += self.jobs.running;
            self.jobs.running = 0;
        }
    }
}

/// Details of a job failure.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobFailure {
    /// The exception, where an `error` record named one (`RuleException`, ...).
    pub exception: Option<String>,
    /// The exception text, where an `error` record gave one.
    pub message: Option<String>,
    /// Conda environment.
    pub conda_env: Option<String>,
    /// Container image.
    pub container_img: Option<String>,
    /// Executor details (external job id, ...).
    pub aux: serde_json::Map<String, Value>,
}

/// One Snakemake job of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Job {
    /// The run.
    pub run_id: RunId,
    /// Snakemake's job id within the run.
    pub job_id: JobId,
    /// The rule.
    pub rule: String,
    /// Status.
    pub status: JobStatus,
    /// Attempts made (1 + retries).
    pub attempts: u32,
    /// When the current attempt was submitted.
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the last attempt ended.
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Everything else Snakemake said about the job.
    pub detail: JobDetail,
}

/// The descriptive part of a job.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct JobDetail {
    /// Wildcards.
    pub wildcards: BTreeMap<String, String>,
    /// Input files.
    pub input: Vec<String>,
    /// Output files.
    pub output: Vec<String>,
    /// Log files.
    pub log: Vec<String>,
    /// Benchmark file.
    pub benchmark: Option<String>,
    /// Why it ran.
    pub reason: Option<String>,
    /// Resources by name.
    pub resources: BTreeMap<String, Value>,
    /// Threads.
    pub threads: Option<u64>,
    /// Priority.
    pub priority: Option<Value>,
    /// The rule's `message:`.
    pub message: Option<String>,
    /// Shell command.
    pub shellcmd: Option<String>,
    /// Whether it ran locally.
    pub local: Option<bool>,
    /// Whether the rule is a checkpoint.
    pub is_checkpoint: bool,
    /// The last failure.
    pub failure: Option<JobFailure>,
    /// Values from the `benchmark:` file (`s`, `max_rss`, `cpu_time`, ...), when the producer
    /// shipped them.
    pub benchmark_values: Option<BTreeMap<String, Value>>,
}

/// A job as a list of a run's jobs shows it: the job with only the wildcards and threads of its
/// detail (`From<Job>`), in the same shape; the full job is `GET /runs/{run_id}/jobs/{job_id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobBrief {
    /// The run.
    pub run_id: RunId,
    /// Snakemake's job id within the run.
    pub job_id: JobId,
    /// The rule.
    pub rule: String,
    /// Status.
    pub status: JobStatus,
    /// Attempts made (1 + retries).
    pub attempts: u32,
    /// When the current attempt was submitted.
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the last attempt ended.
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The part of [`JobDetail`] a list shows.
    pub detail: JobBriefDetail,
}

/// The part of a [`JobDetail`] in a [`JobBrief`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct JobBriefDetail {
    /// Wildcards.
    pub wildcards: BTreeMap<String, String>,
    /// Threads.
    pub threads: Option<u64>,
}

impl From<Job> for JobBrief {
    fn from(job: Job) -> Self {
        Self {
            run_id: job.run_id,
            job_id: job.job_id,
            rule: job.rule,
            status: job.status,
            attempts: job.attempts,
            started_at: job.started_at,
            finished_at: job.finished_at,
            detail: JobBriefDetail {
                wildcards: job.detail.wildcards,
                threads: job.detail.threads,
            },
        }
    }
}

impl Job {
    /// A job known only by id and rule.
    pub fn new(run_id: RunId, job_id: JobId, rule: String, status: JobStatus) -> Self {
        Self {
            run_id,
            job_id,
            rule,
            status,
            attempts: 0,
            started_at: None,
            finished_at: None,
            detail: JobDetail::default(),
        }
    }

    /// Wall time of the last attempt, in seconds.
    pub fn duration_secs(&self) -> Option<f64> {
        let (start, end) = (self.started_at?, self.finished_at?);
        Some((end - start).num_microseconds()? as f64 / 1e6)
    }
}

/// Whether an error concerns the whole workflow or one job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorScope {
    /// The workflow (parse errors, missing input, locks, the final `WorkflowError`).
    Workflow,
    /// One job.
    Job,
}

/// An error reported during a run, as Snakemake gave it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunError {
    /// The run.
    pub run_id: RunId,
    /// The event that carried it.
    pub seq: Seq,
    /// When.
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    /// Workflow or job.
    pub scope: ErrorScope,
    /// The exception class, where given.
    pub exception: Option<String>,
    /// The message or traceback text.
    pub message: Option<String>,
    /// The rule, where known.
    pub rule: Option<String>,
    /// The job, where known.
    pub job_id: Option<JobId>,
}

/// Per-rule job counts and durations of one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleSummary {
    /// The rule.
    pub rule: String,
    /// Jobs Snakemake planned for this rule (`run_info`), when it said.
    pub planned: Option<u64>,
    /// Jobs seen, by status.
    pub jobs: JobCounts,
    /// Planned jobs never started (e.g. skipped under `--keep-going` after an upstream failure).
    pub not_started: u64,
    /// Shortest duration of a finished job, seconds.
    pub duration_min: Option<f64>,
    /// Median duration, seconds.
    pub duration_median: Option<f64>,
    /// Longest duration, seconds.
    pub duration_max: Option<f64>,
}

/// A workspace: runs belong to exactly one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Workspace {
    /// Id.
    pub id: WorkspaceId,
    /// Unique name.
    pub name: String,
    /// When it was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// The name of the workspace that runs land in when nobody says otherwise.
pub const DEFAULT_WORKSPACE: &str = "default";

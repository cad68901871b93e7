//! The event model: every Snakemake logger event, FlowO's own producer events, and the envelope
//! that carries them.
//!
//! On the wire and in the stores an event is a `kind` string plus a `data` JSON object. Decoding
//! into [`Event`] never loses anything: an unknown kind becomes [`Event::Unknown`] and a payload
//! that does not fit its kind becomes [`Event::Malformed`], both keeping the raw data.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::Timestamp;
use crate::ids::{JobId, RunId, Seq};

/// An event together with where it belongs and when it happened.
///
/// The payload is kept exactly as the producer sent it (`kind` and raw `data`), so that nothing
/// is lost to decoding; [`EventEnvelope::event`] decodes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventEnvelope {
    /// The run this event belongs to.
    pub run_id: RunId,
    /// Position within the run, assigned by the producer; (run_id, seq) identifies the event.
    pub seq: Seq,
    /// When Snakemake (or the producer) recorded the event.
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    /// When a store accepted it; `None` until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The event kind (`job_info`, `log`, `run_finished`, ...).
    pub kind: String,
    /// The raw payload.
    #[serde(default)]
    pub data: Value,
}

impl EventEnvelope {
    /// An envelope for a typed event.
    pub fn new(run_id: RunId, seq: Seq, recorded_at: Timestamp, event: &Event) -> Self {
        Self {
            run_id,
            seq,
            recorded_at,
            received_at: None,
            kind: event.kind().to_owned(),
            data: event.data(),
        }
    }

    /// Decodes the payload; unknown kinds decode to [`Event::Unknown`].
    pub fn decode(&self) -> Result<Event, DecodeError> {
        Event::decode(&self.kind, &self.data)
    }

    /// Decodes the payload, keeping what does not fit as [`Event::Malformed`].
    pub fn event(&self) -> Event {
        match self.decode() {
            Ok(event) => event,
            Err(err) => Event::Malformed {
                kind: self.kind.clone(),
                data: self.data.clone(),
                reason: err.to_string(),
            },
        }
    }
}

/// The log level of a plain Snakemake log message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Debug output (`--verbose`, `--debug-dag`).
    Debug,
    /// Ordinary progress messages.
    #[default]
    Info,
    /// Warnings.
    Warning,
    /// Errors.
    Error,
    /// Critical errors.
    Critical,
}

impl LogLevel {
    /// Parses Python's `levelname`.
    pub fn from_levelname(name: &str) -> Self {
        match name {
            "DEBUG" => Self::Debug,
            "WARNING" | "WARN" => Self::Warning,
            "ERROR" => Self::Error,
            "CRITICAL" | "FATAL" => Self::Critical,
            _ => Self::Info,
        }
    }
}

/// `workflow_started`: Snakemake has parsed the Snakefile and starts building the DAG.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct WorkflowStarted {
    /// Snakemake's own id of the invocation (absent in old versions).
    pub workflow_id: Option<String>,
    /// The main Snakefile (`snakefile_main`, falling back to `snakefile` in Snakemake < 9.24).
    pub snakefile: Option<String>,
    /// Base directory of the workflow.
    pub basedir: Option<String>,
    /// Directory Snakemake was started in.
    pub rundir: Option<String>,
    /// Working directory.
    pub cwd: Option<String>,
    /// Config files given with `--configfile`.
    pub configfiles: Vec<String>,
    /// MD5 of the effective config.
    pub config_md5: Option<String>,
    /// Local start time as Snakemake printed it.
    pub datetime: Option<String>,
    /// Snakemake's version.
    pub snakemake_version: Option<String>,
    /// Platform string.
    pub platform: Option<String>,
    /// Host name.
    pub host: Option<String>,
    /// User name.
    pub user: Option<String>,
    /// Python version.
    pub python_version: Option<String>,
    /// The command line (`cmd`).
    pub cmd: Option<String>,
}

/// One node of the rule graph.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleGraphNode {
    /// The rule's name.
    pub rule: String,
}

/// One edge of the rule graph; `source` and `target` index into the nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleGraphLink {
    /// Index of the upstream node.
    pub source: usize,
    /// Index of the downstream node.
    pub target: usize,
    /// Upstream rule name.
    #[serde(default)]
    pub sourcerule: String,
    /// Downstream rule name.
    #[serde(default)]
    pub targetrule: String,
}

/// `rulegraph`: the graph of rules of the whole DAG (one node per rule and topological level).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleGraph {
    /// Nodes.
    #[serde(default)]
    pub nodes: Vec<RuleGraphNode>,
    /// Edges.
    #[serde(default)]
    pub links: Vec<RuleGraphLink>,
}

/// Payload of `rulegraph`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rulegraph {
    /// The graph.
    pub rulegraph: RuleGraph,
}

/// `resources_info`: cores, nodes or resources given to the scheduler.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ResourcesInfo {
    /// `--cores`.
    pub cores: Option<u64>,
    /// Remote nodes.
    pub nodes: Option<u64>,
    /// `--resources`.
    pub provided_resources: Option<Value>,
}

/// `run_info`: jobs per rule, plus `total`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunInfo {
    /// Rule name to job count; the key `total` holds the sum.
    #[serde(default)]
    pub stats: BTreeMap<String, u64>,
}

/// `job_started`: a batch of jobs is submitted (comes before their `job_info`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobStarted {
    /// Job ids of the batch.
    #[serde(default)]
    pub jobs: Vec<JobId>,
}

/// `job_info`: a job's description, sent when it is submitted (again for each retry).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobInfo {
    /// The job id.
    pub jobid: JobId,
    /// The rule.
    #[serde(default)]
    pub rule_name: String,
    /// The rule's formatted `message:`.
    #[serde(default)]
    pub rule_msg: Option<String>,
    /// Whether it runs locally (always false in dry runs).
    #[serde(default)]
    pub local: Option<bool>,
    /// Input files.
    #[serde(default)]
    pub input: Vec<String>,
    /// Output files.
    #[serde(default)]
    pub output: Vec<String>,
    /// Log files.
    #[serde(default)]
    pub log: Vec<String>,
    /// Benchmark file.
    #[serde(default)]
    pub benchmark: Option<String>,
    /// Wildcards.
    #[serde(default)]
    pub wildcards: BTreeMap<String, String>,
    /// Why the job runs.
    #[serde(default)]
    pub reason: Option<String>,
    /// Resources, by name.
    #[serde(default)]
    pub resources: BTreeMap<String, Value>,
    /// Priority (an integer, or `"highest"`).
    #[serde(default)]
    pub priority: Option<Value>,
    /// Threads.
    #[serde(default)]
    pub threads: Option<u64>,
    /// Whether the rule is a checkpoint.
    #[serde(default)]
    pub is_checkpoint: bool,
    /// Whether the job is handed over to another process.
    #[serde(default)]
    pub is_handover: bool,
    /// Member of a group job (shown indented).
    #[serde(default)]
    pub indent: bool,
    /// The shell command, when the rule has one.
    #[serde(default)]
    pub shellcmd: Option<String>,
}

/// `shellcmd`: the shell command of the job whose `job_info` came right before it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Shellcmd {
    /// The rule's shell command.
    pub shellcmd: Option<String>,
    /// A command run by `shell()` inside `run:` or script code.
    pub cmd: Option<String>,
    /// Group member.
    pub indent: bool,
}

/// `job_finished`: a job succeeded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobFinished {
    /// The job id (Snakemake spells it `job_id` here).
    pub job_id: JobId,
}

/// `job_error`: a job failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobErrorEvent {
    /// The job id.
    pub jobid: JobId,
    /// The rule.
    #[serde(default)]
    pub rule_name: String,
    /// The executor's message.
    #[serde(default)]
    pub rule_msg: Option<String>,
    /// Input files.
    #[serde(default)]
    pub input: Vec<String>,
    /// Output files.
    #[serde(default)]
    pub output: Vec<String>,
    /// Log files (including auxiliary logs).
    #[serde(default)]
    pub log: Vec<String>,
    /// Conda environment.
    #[serde(default)]
    pub conda_env: Option<String>,
    /// Container image.
    #[serde(default)]
    pub container_img: Option<String>,
    /// Executor details such as an external job id.
    #[serde(default)]
    pub aux: Map<String, Value>,
    /// The shell command.
    #[serde(default)]
    pub shellcmd: Option<String>,
    /// Snakemake's console text (`"Error in rule NAME, jobid: N"`).
    #[serde(default)]
    pub message: Option<String>,
}

/// `progress`: jobs done out of the total (the total can grow with checkpoints).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Progress {
    /// Jobs finished.
    pub done: u64,
    /// Jobs in the DAG.
    pub total: u64,
}

/// `error`: an exception, from a job or from the workflow.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ErrorEvent {
    /// The exception's class name (`RuleException`, `WorkflowError`, ...).
    pub exception: Option<String>,
    /// The formatted exception text.
    pub message: Option<String>,
    /// The rule, where given.
    pub rule: Option<String>,
    /// File, where given.
    pub file: Option<String>,
    /// Line, where given.
    pub line: Option<Value>,
    /// Traceback, where given.
    pub traceback: Option<String>,
}

/// `group_info`: a group job and its members.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct GroupInfo {
    /// Group id.
    pub group_id: Option<Value>,
    /// Member jobs (as Snakemake printed them).
    pub jobs: Vec<Value>,
}

/// `group_error`: a group job failed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct GroupError {
    /// Group id (Snakemake spells it `groupid`).
    pub groupid: Option<Value>,
    /// Auxiliary logs.
    pub aux_logs: Vec<Value>,
    /// The members' errors.
    pub job_error_info: Vec<Value>,
}

/// `debug_dag`: DAG construction details (only with `--debug-dag` or `--verbose`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct DebugDag {
    /// `candidate` or `selected`.
    pub status: Option<String>,
    /// The job (its rule name).
    pub job: Option<String>,
    /// A file, for exception records.
    pub file: Option<String>,
    /// An exception text.
    pub exception: Option<String>,
}

/// A plain Snakemake log message (a record without an `event`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogMessage {
    /// Level.
    #[serde(default)]
    pub level: LogLevel,
    /// The formatted text.
    #[serde(default)]
    pub message: String,
}

/// Producer-supplied labels of a run (plugin settings), sent once at the start.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct RunLabels {
    /// Display name.
    pub name: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Free text.
    pub description: Option<String>,
    /// Whether Snakemake was started with `-n`.
    pub dry_run: Option<bool>,
}

/// Facts about the run that the producer knows before Snakemake says anything (so that a run
/// that fails to parse still shows where and how it was started).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct RunContext {
    /// Snakemake's version.
    pub snakemake_version: Option<String>,
    /// The command line.
    pub command_line: Option<String>,
    /// Host name.
    pub host: Option<String>,
    /// User name.
    pub user: Option<String>,
    /// Working directory.
    pub workdir: Option<String>,
    /// Python version.
    pub python_version: Option<String>,
    /// Platform string.
    pub platform: Option<String>,
    /// The producer's version (`snakemake-logger-plugin-flowo`).
    pub plugin_version: Option<String>,
}

/// What a captured source file is to the workflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SourceRole {
    /// The main Snakefile.
    Snakefile,
    /// A file pulled in with `include:`.
    Include,
    /// A config file.
    Configfile,
    /// A script run by a rule's `script:`.
    Script,
}

/// A file's text as captured, possibly cut to a size limit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct CapturedText {
    /// The file's path.
    pub path: String,
    /// The file's size in bytes when captured.
    pub size: u64,
    /// Whether `text` holds only part of the file (the start of a source, the end of a log).
    pub truncated: bool,
    /// The text (invalid UTF-8 replaced).
    pub text: String,
}

/// `run_source`: one source file (Snakefile, include, config, script) as it was when the run
/// started, so that the dashboard shows what ran rather than what is on disk today.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunSource {
    /// What the file is.
    pub role: SourceRole,
    /// The file.
    #[serde(flatten)]
    pub file: CapturedText,
}

/// `job_logs`: the tails of a finished or failed job's log files, shipped so that no shared
/// filesystem is needed to read them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobLogs {
    /// The job.
    pub job_id: JobId,
    /// One entry per log file that could be read.
    #[serde(default)]
    pub files: Vec<CapturedText>,
}

/// `job_benchmark`: the values of a job's `benchmark:` file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobBenchmark {
    /// The job.
    pub job_id: JobId,
    /// The benchmark file.
    #[serde(default)]
    pub path: Option<String>,
    /// Column to value of the file's last row (`s`, `max_rss`, `cpu_time`, `io_in`, ...);
    /// numbers where the file has numbers, `null` for `NA`.
    #[serde(default)]
    pub values: BTreeMap<String, Value>,
}

/// What the producer saw when the run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Snakemake exited normally.
    Completed,
    /// Snakemake reported failure.
    Failed,
    /// Snakemake was stopped by a signal.
    Interrupted,
}

/// `run_finished`: the producer's end-of-run marker (Snakemake itself has none; the plugin sends
/// it from the handler's `close()`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct RunFinished {
    /// The outcome the producer saw, if it knows one.
    pub outcome: Option<RunOutcome>,
    /// Snakemake's exit code, if known.
    pub exit_code: Option<i32>,
}

/// Every event FlowO knows.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// `workflow_started`.
    WorkflowStarted(WorkflowStarted),
    /// `rulegraph`.
    Rulegraph(Rulegraph),
    /// `resources_info`.
    ResourcesInfo(ResourcesInfo),
    /// `run_info`.
    RunInfo(RunInfo),
    /// `job_started`.
    JobStarted(JobStarted),
    /// `job_info`.
    JobInfo(Box<JobInfo>),
    /// `shellcmd`.
    Shellcmd(Shellcmd),
    /// `job_finished`.
    JobFinished(JobFinished),
    /// `job_error`.
    JobError(Box<JobErrorEvent>),
    /// `progress`.
    Progress(Progress),
    /// `error`.
    Error(ErrorEvent),
    /// `group_info`.
    GroupInfo(GroupInfo),
    /// `group_error`.
    GroupError(GroupError),
    /// `debug_dag`.
    DebugDag(DebugDag),
    /// `log`: a plain message.
    Log(LogMessage),
    /// `run_labels`: producer settings.
    RunLabels(RunLabels),
    /// `run_finished`: producer end marker.
    RunFinished(RunFinished),
    /// `run_context`: where and how the run was started.
    RunContext(RunContext),
    /// `run_source`: a source file as captured at the start.
    RunSource(RunSource),
    /// `job_logs`: tails of a job's log files.
    JobLogs(JobLogs),
    /// `job_benchmark`: a job's benchmark values.
    JobBenchmark(JobBenchmark),
    /// `heartbeat`: the producer is alive.
    Heartbeat,
    /// A kind FlowO does not know, kept as it came.
    Unknown {
        /// The kind.
        kind: String,
        /// The raw payload.
        data: Value,
    },
    /// A known kind whose payload does not fit, kept as it came with the reason.
    Malformed {
        /// The kind.
        kind: String,
        /// The raw payload.
        data: Value,
        /// Why it could not be decoded.
        reason: String,
    },
}

/// Why an event's payload could not be decoded.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The payload does not match the kind's schema.
    #[error("invalid `{kind}` payload: {reason}")]
    InvalidPayload {
        /// The kind.
        kind: String,
        /// serde's explanation.
        reason: String,
    },
    /// The kind is empty or too long.
    #[error("invalid event kind {0:?}")]
    InvalidKind(String),
}

/// Every kind name FlowO decodes into a typed variant.
pub const KNOWN_KINDS: &[&str] = &[
    "workflow_started",
    "rulegraph",
    "resources_info",
    "run_info",
    "job_started",
    "job_info",
    "shellcmd",
    "job_finished",
    "job_error",
    "progress",
    "error",
    "group_info",
    "group_error",
    "debug_dag",
    "log",
    "run_labels",
    "run_finished",
    "run_context",
    "run_source",
    "job_logs",
    "job_benchmark",
    "heartbeat",
];

fn typed<T: serde::de::DeserializeOwned>(kind: &str, data: &Value) -> Result<T, DecodeError> {
    T::deserialize(data).map_err(|e| DecodeError::InvalidPayload {
        kind: kind.to_owned(),
        reason: e.to_string(),
    })
}

impl Event {
    /// Decodes a payload of the given kind. Unknown kinds succeed as [`Event::Unknown`].
    pub fn decode(kind: &str, data: &Value) -> Result<Event, DecodeError> {
        if kind.is_empty() || kind.len() > 64 {
            return Err(DecodeError::InvalidKind(kind.to_owned()));
        }
        Ok(match kind {
            "workflow_started" => Event::WorkflowStarted(typed(kind, data)?),
            "rulegraph" => Event::Rulegraph(typed(kind, data)?),
            "resources_info" => Event::ResourcesInfo(typed(kind, data)?),
            "run_info" => Event::RunInfo(typed(kind, data)?),
            "job_started" => Event::JobStarted(typed(kind, data)?),
            "job_info" => Event::JobInfo(Box::new(typed(kind, data)?)),
            "shellcmd" => Event::Shellcmd(typed(kind, data)?),
            "job_finished" => Event::JobFinished(typed(kind, data)?),
            "job_error" => Event::JobError(Box::new(typed(kind, data)?)),
            "progress" => Event::Progress(typed(kind, data)?),
            "error" => Event::Error(typed(kind, data)?),
            "group_info" => Event::GroupInfo(typed(kind, data)?),
            "group_error" => Event::GroupError(typed(kind, data)?),
            "debug_dag" => Event::DebugDag(typed(kind, data)?),
            "log" => Event::Log(typed(kind, data)?),
            "run_labels" => Event::RunLabels(typed(kind, data)?),
            "run_finished" => Event::RunFinished(typed(kind, data)?),
            "run_context" => Event::RunContext(typed(kind, data)?),
            "run_source" => Event::RunSource(typed(kind, data)?),
            "job_logs" => Event::JobLogs(typed(kind, data)?),
            "job_benchmark" => Event::JobBenchmark(typed(kind, data)?),
            "heartbeat" => Event::Heartbeat,
            other => Event::Unknown {
                kind: other.to_owned(),
                data: data.clone(),
            },
        })
    }

    /// Decodes leniently: a payload that does not fit becomes [`Event::Malformed`].
    pub fn decode_lossless(kind: &str, data: Value) -> Event {
        match Event::decode(kind, &data) {
            Ok(event) => event,
            Err(err) => Event::Malformed {
                kind: kind.to_owned(),
                data,
                reason: err.to_string(),
            },
        }
    }

    /// The kind name, as stored and sent.
    pub fn kind(&self) -> &str {
        match self {
            Event::WorkflowStarted(_) => "workflow_started",
            Event::Rulegraph(_) => "rulegraph",
            Event::ResourcesInfo(_) => "resources_info",
            Event::RunInfo(_) => "run_info",
            Event::JobStarted(_) => "job_started",
            Event::JobInfo(_) => "job_info",
            Event::Shellcmd(_) => "shellcmd",
            Event::JobFinished(_) => "job_finished",
            Event::JobError(_) => "job_error",
            Event::Progress(_) => "progress",
            Event::Error(_) => "error",
            Event::GroupInfo(_) => "group_info",
            Event::GroupError(_) => "group_error",
            Event::DebugDag(_) => "debug_dag",
            Event::Log(_) => "log",
            Event::RunLabels(_) => "run_labels",
            Event::RunFinished(_) => "run_finished",
            Event::RunContext(_) => "run_context",
            Event::RunSource(_) => "run_source",
            Event::JobLogs(_) => "job_logs",
            Event::JobBenchmark(_) => "job_benchmark",
            Event::Heartbeat => "heartbeat",
            Event::Unknown { kind, .. } | Event::Malformed { kind, .. } => kind,
        }
    }

    /// The payload as JSON (for unknown and malformed events, exactly as received).
    pub fn data(&self) -> Value {
        fn to<T: Serialize>(v: &T) -> Value {
            // Serializing these plain structs cannot fail: they hold only strings, numbers,
            // maps with string keys and JSON values.
            serde_json::to_value(v).unwrap_or(Value::Null)
        }
        match self {
            Event::WorkflowStarted(v) => to(v),
            Event::Rulegraph(v) => to(v),
            Event::ResourcesInfo(v) => to(v),
            Event::RunInfo(v) => to(v),
            Event::JobStarted(v) => to(v),
            Event::JobInfo(v) => to(v),
            Event::Shellcmd(v) => to(v),
            Event::JobFinished(v) => to(v),
            Event::JobError(v) => to(v),
            Event::Progress(v) => to(v),
            Event::Error(v) => to(v),
            Event::GroupInfo(v) => to(v),
            Event::GroupError(v) => to(v),
            Event::DebugDag(v) => to(v),
            Event::Log(v) => to(v),
            Event::RunLabels(v) => to(v),
            Event::RunFinished(v) => to(v),
            Event::RunContext(v) => to(v),
            Event::RunSource(v) => to(v),
            Event::JobLogs(v) => to(v),
            Event::JobBenchmark(v) => to(v),
            Event::Heartbeat => Value::Object(Map::new()),
            Event::Unknown { data, .. } | Event::Malformed { data, .. } => data.clone(),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct RawEvent {
    kind: String,
    #[serde(default)]
    data: Value,
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RawEvent {
            kind: self.kind().to_owned(),
            data: self.data(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawEvent::deserialize(deserializer)?;
        if raw.kind.is_empty() || raw.kind.len() > 64 {
            return Err(D::Error::custom(DecodeError::InvalidKind(raw.kind)));
        }
        Ok(Event::decode_lossless(&raw.kind, raw.data))
    }
}

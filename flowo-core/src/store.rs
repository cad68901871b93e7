//! Storage traits, split by capability, and the query types they take.
//!
//! The stores in `flowo-store` implement every trait; callers hold them as trait objects
//! (`Arc<dyn Store>`). Nothing here knows SQL.

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::account::{
    ApiToken, ApiTokenId, Member, NewApiToken, Role, User, UserCredentials, UserId,
};
use crate::event::{EventEnvelope, RuleGraph};
use crate::fold::RunDetail;
use crate::ids::{JobId, RunId, Seq, StreamPos, WorkspaceId};
use crate::model::{Job, JobStatus, RuleSummary, Run, RunError, RunStatus, Workspace};

/// Largest page a query may ask for.
pub const MAX_PAGE: u32 = 1000;

/// What can go wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The run exists in a different workspace than the writer's.
    #[error("run {run} belongs to another workspace")]
    WorkspaceMismatch {
        /// The run.
        run: RunId,
    },
    /// The input is not acceptable (the message says why).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A pagination cursor that this store did not issue.
    #[error("invalid pagination cursor")]
    InvalidCursor,
    /// A unique name is taken.
    #[error("already exists: {0}")]
    Conflict(String),
    /// Something named does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A database URL this build does not support (any password in it masked).
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    /// Stored data that cannot be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database failed or is unreachable (the cause is in the message, not repeated as a
    /// source, so that error chains print it once).
    #[error("database error: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

/// Result of an append.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppendOutcome {
    /// Events stored now.
    pub inserted: u64,
    /// Events that were already stored (same run and sequence).
    pub duplicates: u64,
}

/// An event as stored, with its position in the global stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredEvent {
    /// Position in the store's stream (strictly increasing in commit order).
    pub pos: StreamPos,
    /// The run's workspace.
    pub workspace_id: WorkspaceId,
    /// The event.
    #[serde(flatten)]
    pub envelope: EventEnvelope,
}

/// Which events a stream or a catch-up read covers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StreamFilter {
    /// Only these workspaces (`None`: all).
    pub workspaces: Option<Vec<WorkspaceId>>,
    /// Only this run.
    pub run: Option<RunId>,
}

impl StreamFilter {
    /// Whether an event passes the filter.
    pub fn matches(&self, event: &StoredEvent) -> bool {
        self.run.is_none_or(|r| r == event.envelope.run_id)
            && self
                .workspaces
                .as_ref()
                .is_none_or(|ws| ws.contains(&event.workspace_id))
    }
}

/// A page of results with the cursor of the next page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass this as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// All matching items, when asked for.
    pub total: Option<u64>,
}

/// Sort direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    /// Ascending.
    Asc,
    /// Descending.
    #[default]
    Desc,
}

/// What runs are sorted by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunSort {
    /// Start time.
    #[default]
    StartedAt,
    /// Latest event.
    LastEventAt,
    /// Name.
    Name,
}

/// A search over runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct RunQuery {
    /// Only these workspaces (`None`: all).
    pub workspaces: Option<Vec<WorkspaceId>>,
    /// Only these statuses (empty: all). `lost` and `running` are told apart by the store's
    /// lost timeout.
    pub status: Vec<RunStatus>,
    /// Case-insensitive substring of name, tags, workdir or description.
    pub text: Option<String>,
    /// Runs with this tag.
    pub tag: Option<String>,
    /// Runs by this (Snakemake) user.
    pub user: Option<String>,
    /// Started at or after.
    pub started_after: Option<chrono::DateTime<chrono::Utc>>,
    /// Started before.
    pub started_before: Option<chrono::DateTime<chrono::Utc>>,
    /// Sort key.
    pub sort: RunSort,
    /// Direction.
    pub order: SortOrder,
    /// From a previous page.
    pub cursor: Option<String>,
    /// Page size (1..=[`MAX_PAGE`]).
    pub limit: u32,
    /// Also count all matches.
    pub with_total: bool,
}

impl Default for RunQuery {
    fn default() -> Self {
        Self {
            workspaces: None,
            status: Vec::new(),
            text: None,
            tag: None,
            user: None,
            started_after: None,
            started_before: None,
            sort: RunSort::default(),
            order: SortOrder::default(),
            cursor: None,
            limit: 50,
            with_total: false,
        }
    }
}

/// What jobs are sorted by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobSort {
    /// Snakemake's job id.
    #[default]
    JobId,
    /// Submission time of the last attempt (jobs never started sort first).
    StartedAt,
}

/// A search over the jobs of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct JobQuery {
    /// Only this rule.
    pub rule: Option<String>,
    /// Only these statuses (empty: all).
    pub status: Vec<JobStatus>,
    /// Sort key.
    pub sort: JobSort,
    /// Direction.
    pub order: SortOrder,
    /// From a previous page.
    pub cursor: Option<String>,
    /// Page size (1..=[`MAX_PAGE`]).
    pub limit: u32,
    /// Also count all matches.
    pub with_total: bool,
}

impl Default for JobQuery {
    fn default() -> Self {
        Self {
            rule: None,
            status: Vec::new(),
            sort: JobSort::default(),
            order: SortOrder::Asc,
            cursor: None,
            limit: 100,
            with_total: false,
        }
    }
}

/// A read of one run's events in sequence order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct RunEventQuery {
    /// Events after this sequence number.
    pub after_seq: Option<Seq>,
    /// Only these kinds (empty: all).
    pub kinds: Vec<String>,
    /// At most this many (1..=[`MAX_PAGE`]).
    pub limit: u32,
}

/// A run with its descriptive detail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunView {
    /// The run.
    #[serde(flatten)]
    pub run: Run,
    /// Detail.
    pub detail: RunDetail,
}

/// One bar of a run's timeline: a job's last attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimelineBar {
    /// The job.
    pub job_id: JobId,
    /// Its rule.
    pub rule: String,
    /// Its status.
    pub status: JobStatus,
    /// Submission of the last attempt.
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    /// End of the last attempt.
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A statistics request over a workspace's runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct StatsQuery {
    /// Only these workspaces (`None`: all).
    pub workspaces: Option<Vec<WorkspaceId>>,
    /// Runs started at or after.
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Runs started before.
    pub to: Option<chrono::DateTime<chrono::Utc>>,
}

/// Per-rule figures over many runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleStats {
    /// The rule.
    pub rule: String,
    /// Jobs seen.
    pub jobs: u64,
    /// Jobs failed.
    pub failed: u64,
    /// `failed / (succeeded + failed)`, when any finished.
    pub failure_rate: Option<f64>,
    /// Median duration of succeeded jobs, seconds.
    pub duration_median: Option<f64>,
    /// Longest duration of succeeded jobs, seconds.
    pub duration_max: Option<f64>,
}

/// Runs started on one day (UTC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayCount {
    /// The day, `YYYY-MM-DD`.
    pub day: String,
    /// Runs started that day.
    pub runs: u64,
}

/// Statistics over runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkspaceStats {
    /// Runs by status (`lost` resolved with the store's timeout).
    pub runs_by_status: std::collections::BTreeMap<String, u64>,
    /// Jobs by status.
    pub jobs_by_status: std::collections::BTreeMap<String, u64>,
    /// Per rule, most jobs first.
    pub rules: Vec<RuleStats>,
    /// Runs per day, oldest first.
    pub runs_per_day: Vec<DayCount>,
}

/// A stream of committed events. Each event is shared: every subscriber that receives it gets
/// the same allocation, so a thousand clients of one run cost one copy of each event.
pub type EventStream = BoxStream<'static, Result<std::sync::Arc<StoredEvent>, StoreError>>;

/// Appending events and reading them back.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Stores events idempotently by (run, seq) and folds the new ones into run / job state in
    /// the same transaction. A new run is created in `workspace`; an existing run of another
    /// workspace is refused with [`StoreError::WorkspaceMismatch`].
    async fn append(
        &self,
        workspace: WorkspaceId,
        events: &[EventEnvelope],
    ) -> Result<AppendOutcome, StoreError>;

    /// Events after a stream position, in stream order.
    async fn events_since(
        &self,
        filter: &StreamFilter,
        after: StreamPos,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// One run's events in sequence order.
    async fn run_events(
        &self,
        run: RunId,
        query: &RunEventQuery,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// The latest committed stream position (0 when empty).
    async fn head(&self) -> Result<StreamPos, StoreError>;

    /// Deletes a run with its events, jobs and errors; whether it existed.
    async fn delete_run(&self, run: RunId) -> Result<bool, StoreError>;

    /// Closes the store's connections once the calls in flight have given theirs back; calls
    /// made afterwards fail, and every live stream ([`LiveStream::subscribe`]) ends. For a
    /// program that ends: an embedded store's write-ahead log is then copied into its database
    /// file and removed, and PostgreSQL sees its sessions end. Does nothing where there is
    /// nothing to close.
    async fn close(&self) {}
}

/// Reading folded state.
#[async_trait]
pub trait RunReader: Send + Sync {
    /// One run.
    async fn get_run(&self, run: RunId) -> Result<Option<RunView>, StoreError>;
    /// Search runs.
    async fn list_runs(&self, query: &RunQuery) -> Result<Page<Run>, StoreError>;
    /// Jobs of a run.
    async fn list_jobs(&self, run: RunId, query: &JobQuery) -> Result<Page<Job>, StoreError>;
    /// One job.
    async fn get_job(&self, run: RunId, job: JobId) -> Result<Option<Job>, StoreError>;
    /// The jobs of `run` among `jobs` that are stored, in no particular order: one read for
    /// many (the live stream's summaries of a batch of events).
    async fn get_jobs(&self, run: RunId, jobs: &[JobId]) -> Result<Vec<Job>, StoreError>;
    /// Per-rule counts by status and durations.
    async fn rule_summaries(&self, run: RunId) -> Result<Vec<RuleSummary>, StoreError>;
    /// The rule graph, if Snakemake sent one.
    async fn rule_graph(&self, run: RunId) -> Result<Option<RuleGraph>, StoreError>;
    /// Errors of a run, in order.
    async fn run_errors(&self, run: RunId) -> Result<Vec<RunError>, StoreError>;
    /// One bar per job, by start time.
    async fn timeline(&self, run: RunId) -> Result<Vec<TimelineBar>, StoreError>;
    /// Statistics over runs.
    async fn workspace_stats(&self, query: &StatsQuery) -> Result<WorkspaceStats, StoreError>;
}

/// Following the event stream live.
#[async_trait]
pub trait LiveStream: Send + Sync {
    /// Every committed event after `after` (`None`: from now on) that passes `filter`, exactly
    /// once and in order: first replayed from the store, then live.
    async fn subscribe(
        &self,
        filter: StreamFilter,
        after: Option<StreamPos>,
    ) -> Result<EventStream, StoreError>;
}

/// Workspaces.
#[async_trait]
pub trait WorkspaceStore: Send + Sync {
    /// Creates a workspace; [`StoreError::Conflict`] if the name is taken.
    async fn create_workspace(&self, name: &str) -> Result<Workspace, StoreError>;
    /// The workspace with this name, created if missing.
    async fn ensure_workspace(&self, name: &str) -> Result<Workspace, StoreError>;
    /// By name.
    async fn workspace_by_name(&self, name: &str) -> Result<Option<Workspace>, StoreError>;
    /// By id.
    async fn workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>, StoreError>;
    /// All workspaces, by name.
    async fn list_workspaces(&self) -> Result<Vec<Workspace>, StoreError>;
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    /// New role.
    pub role: Option<Role>,
    /// Disable or enable.
    pub disabled: Option<bool>,
    /// New password hash (`Some(None)` removes the password).
    pub password_hash: Option<Option<String>>,
}

impl std::fmt::Debug for UserUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserUpdate")
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Users, memberships, API tokens and server settings.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates a user; [`StoreError::Conflict`] if the e-mail is taken. E-mails are lower-cased.
    async fn create_user(
        &self,
        email: &str,
        role: Role,
        password_hash: Option<&str>,
    ) -> Result<User, StoreError>;
    /// A user by id.
    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError>;
    /// A user by e-mail, with the password hash.
    async fn user_credentials(&self, email: &str) -> Result<Option<UserCredentials>, StoreError>;
    /// All users, by e-mail.
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
    /// How many users exist.
    async fn count_users(&self) -> Result<u64, StoreError>;
    /// Changes a user; [`StoreError::NotFound`] if there is none.
    async fn update_user(&self, id: UserId, update: UserUpdate) -> Result<User, StoreError>;
    /// Adds a member (no error if already one).
    async fn add_member(&self, workspace: WorkspaceId, user: UserId) -> Result<(), StoreError>;
    /// Removes a member; whether they were one.
    async fn remove_member(&self, workspace: WorkspaceId, user: UserId)
    -> Result<bool, StoreError>;
    /// Members of a workspace.
    async fn members(&self, workspace: WorkspaceId) -> Result<Vec<Member>, StoreError>;
    /// Workspaces a user is a member of.
    async fn user_workspaces(&self, user: UserId) -> Result<Vec<Workspace>, StoreError>;
    /// Stores a new token.
    async fn create_token(&self, token: NewApiToken) -> Result<ApiToken, StoreError>;
    /// The token with this hash.
    async fn token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>, StoreError>;
    /// One token.
    async fn token(&self, id: ApiTokenId) -> Result<Option<ApiToken>, StoreError>;
    /// Tokens of one user, or of everyone.
    async fn list_tokens(&self, user: Option<UserId>) -> Result<Vec<ApiToken>, StoreError>;
    /// Revokes a token; whether it was active.
    async fn revoke_token(&self, id: ApiTokenId) -> Result<bool, StoreError>;
    /// Records a use of a token.
    async fn touch_token(&self, id: ApiTokenId, at: Timestamp) -> Result<(), StoreError>;
    /// A server setting.
    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Stores `value` under `key` unless a value is there; returns the stored value (so that
    /// several replicas starting together agree on one).
    async fn init_setting(&self, key: &str, value: &str) -> Result<String, StoreError>;
    /// Removes a setting; whether this call removed it (so a one-time value is used once).
    async fn remove_setting(&self, key: &str) -> Result<bool, StoreError>;
}

/// The actor of audit entries written by `flowo` commands acting on the database directly
/// (no user authenticated them: whoever can open the database is trusted).
pub const CLI_ACTOR: &str = "cli";

/// What an administrative action did; the word is stable (stored, sent as JSON, filtered on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// A user was created.
    UserCreated,
    /// A user's role changed.
    UserRoleChanged,
    /// A user was disabled.
    UserDisabled,
    /// A disabled user was enabled.
    UserEnabled,
    /// A user's password was set (never recorded: the password).
    UserPasswordSet,
    /// An API token was created (never recorded: its text).
    TokenCreated,
    /// An API token was revoked.
    TokenRevoked,
    /// A workspace was created.
    WorkspaceCreated,
    /// A user was added to a workspace.
    MemberAdded,
    /// A user was removed from a workspace.
    MemberRemoved,
    /// A run was deleted.
    RunDeleted,
    /// Old runs were pruned (`flowo runs prune` on the database).
    RunsPruned,
}

impl AuditAction {
    /// Every action, in declaration order.
    pub const ALL: [AuditAction; 12] = [
        AuditAction::UserCreated,
        AuditAction::UserRoleChanged,
        AuditAction::UserDisabled,
        AuditAction::UserEnabled,
        AuditAction::UserPasswordSet,
        AuditAction::TokenCreated,
        AuditAction::TokenRevoked,
        AuditAction::WorkspaceCreated,
        AuditAction::MemberAdded,
        AuditAction::MemberRemoved,
        AuditAction::RunDeleted,
        AuditAction::RunsPruned,
    ];

    /// The word used in SQL, JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::UserCreated => "user_created",
            AuditAction::UserRoleChanged => "user_role_changed",
            AuditAction::UserDisabled => "user_disabled",
            AuditAction::UserEnabled => "user_enabled",
            AuditAction::UserPasswordSet => "user_password_set",
            AuditAction::TokenCreated => "token_created",
            AuditAction::TokenRevoked => "token_revoked",
            AuditAction::WorkspaceCreated => "workspace_created",
            AuditAction::MemberAdded => "member_added",
            AuditAction::MemberRemoved => "member_removed",
            AuditAction::RunDeleted => "run_deleted",
            AuditAction::RunsPruned => "runs_pruned",
        }
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AuditAction {
    type Err = crate::model::UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuditAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| crate::model::UnknownStatus(s.to_owned()))
    }
}

/// An administrative action to record.
#[derive(Clone, Debug, PartialEq)]
pub struct NewAuditEntry {
    /// The user who acted; `None` for [`CLI_ACTOR`].
    pub actor_id: Option<UserId>,
    /// Their e-mail, or [`CLI_ACTOR`].
    pub actor: String,
    /// What they did.
    pub action: AuditAction,
    /// What it was done to: an e-mail, a workspace name, a token or run id.
    pub target: String,
    /// More about it (never a secret: no password, token text or hash).
    pub details: serde_json::Value,
}

/// A recorded administrative action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Position in the log (increasing).
    pub id: i64,
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
    /// The user who acted; `null` for `flowo` commands on the database.
    pub actor_id: Option<UserId>,
    /// Their e-mail, or `cli` for `flowo` commands on the database.
    pub actor: String,
    /// What they did.
    pub action: AuditAction,
    /// What it was done to: an e-mail, a workspace name, a token or run id.
    pub target: String,
    /// More about it (never a secret).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: serde_json::Value,
}

/// A page of the audit log, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1 to [`MAX_PAGE`].
    pub limit: u32,
}

/// The audit log of administrative actions: appended to, never changed.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Records an action, now.
    async fn record_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError>;
    /// Recorded actions, newest first.
    async fn list_audit(&self, query: &AuditQuery) -> Result<Page<AuditEntry>, StoreError>;
}

/// Every capability of a store.
pub trait Store:
    EventLog + RunReader + LiveStream + WorkspaceStore + AccountStore + AuditLog
{
}

impl<T: EventLog + RunReader + LiveStream + WorkspaceStore + AccountStore + AuditLog> Store for T {}

/// Checks a page size.
pub fn check_limit(limit: u32) -> Result<u32, StoreError> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(StoreError::Invalid(format!(
            "limit must be between 1 and {MAX_PAGE}, got {limit}"
        )));
    }
    Ok(limit)
}

/// Checks a workspace name: 1 to 64 characters of letters, digits, `-`, `_`, `.`.
pub fn check_workspace_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "workspace name {name:?} must be 1-64 letters, digits, '-', '_' or '.'"
        )))
    }
}

//! FlowO's core: domain types, the event model, the fold from Snakemake events to run / rule /
//! job state, and the async storage traits.
//!
//! This crate does no I/O: no database, no network, no files. Stores live in `flowo-store`, the
//! HTTP layer elsewhere; both build on the types and traits here.

pub mod account;
pub mod event;
pub mod fold;
pub mod ids;
pub mod model;
pub mod record;
pub mod rollup;
pub mod store;

/// A point in time (UTC, microsecond precision in the stores).
pub type Timestamp = chrono::DateTime<chrono::Utc>;

pub use event::{Event, EventEnvelope};
pub use fold::{FoldOutput, RunDetail, RunState, fold_events};
pub use ids::{JobId, RunId, Seq, StreamPos, WorkspaceId};
pub use model::{
    ErrorScope, Job, JobBrief, JobBriefDetail, JobCounts, JobDetail, JobStatus, RuleSummary, Run,
    RunError, RunStatus, Workspace,
};
pub use store::Store;

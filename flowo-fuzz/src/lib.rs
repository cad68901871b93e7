//! The bodies of FlowO's fuzz targets, kept in a library so that the regression tests
//! (`tests/regressions.rs`, run by `cargo test`) replay every saved input through exactly the
//! code the fuzzer ran. `fuzz/` (cargo-fuzz, its own workspace) holds one thin target per
//! function here; `scripts/fuzz.sh` seeds them with the Snakemake captures and runs them.
//!
//! Each function takes the fuzzer's bytes, must never panic, and checks an invariant where the
//! code under test has one:
//! - [`event_decoder`]: a Snakemake log record (JSON) becomes an event; the event as stored
//!   (kind and data) decodes back to the same event.
//! - [`fold`]: a capture (JSON lines) folded the way a store folds batches, loading only the
//!   jobs [`RunState::jobs_needed`] names, ends exactly where folding with every job at hand
//!   ends; and the state survives its JSON round trip (stores keep it as JSON).
//! - [`ingest_body`]: an ingest request body goes through the server's own parser and batch
//!   checks; every accepted event decodes and folds.

use std::collections::{BTreeMap, BTreeSet};

use flowo_core::fold::{FoldOutput, JobMap, RunState};
use flowo_core::{EventEnvelope, Job, JobId, RunId, WorkspaceId};
use serde_json::Value;

/// The run every fuzzed event belongs to.
fn run_id() -> RunId {
    RunId(uuid::Uuid::from_u128(
        0x466c_6f77_0000_0000_0000_0000_0000_0001,
    ))
}

fn workspace_id() -> WorkspaceId {
    WorkspaceId(uuid::Uuid::from_u128(
        0x466c_6f77_0000_0000_0000_0000_0000_0002,
    ))
}

/// A record decodes, and the event as stored decodes to the same event.
pub fn event_decoder(data: &[u8]) {
    let Ok(record) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let _ = flowo_core::record::record_time(&record);
    let Ok(event) = flowo_core::record::event_from_record(&record) else {
        return;
    };
    let stored = EventEnvelope::new(run_id(), 0, chrono::DateTime::UNIX_EPOCH, &event);
    let text = serde_json::to_string(&stored).expect("an envelope serializes");
    let read: EventEnvelope = serde_json::from_str(&text).expect("an envelope reads back");
    assert_eq!(read.event(), event, "the stored event decodes to itself");
}

/// Envelopes from JSON lines, lenient like a store's input: lines that are not records are
/// skipped, sequence numbers follow the kept lines.
fn envelopes(text: &str) -> Vec<EventEnvelope> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Ok(record) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Ok((kind, data)) = flowo_core::record::payload_from_record(&record) else {
            continue;
        };
        let recorded_at = flowo_core::record::record_time(&record)
            .unwrap_or(chrono::DateTime::UNIX_EPOCH)
            + chrono::Duration::microseconds(out.len() as i64);
        out.push(EventEnvelope {
            run_id: run_id(),
            seq: out.len() as u64,
            recorded_at,
            received_at: None,
            kind,
            data,
        });
    }
    out
}

/// Folds `events` as a store does: in batches (sizes taken from `sizes`, cycled), each loading
/// only the jobs the batch needs from the stored jobs and writing back the ones it touched.
/// With `lose_a_job`, the first stored job each batch needs is not loaded (the mistake the
/// check exists to catch).
fn fold_in_batches(
    events: &[EventEnvelope],
    sizes: &[u8],
    lose_a_job: bool,
) -> (RunState, BTreeMap<JobId, Job>) {
    let mut state = RunState::new(run_id(), workspace_id());
    let mut stored: BTreeMap<JobId, Job> = BTreeMap::new();
    let mut rest = events;
    let mut size = sizes.iter().cycle().map(|b| usize::from(*b % 16) + 1);
    while !rest.is_empty() {
        let n = size.next().unwrap_or(1).min(rest.len());
        let (batch, after) = rest.split_at(n);
        rest = after;
        let decoded: Vec<_> = batch.iter().map(EventEnvelope::event).collect();
        let mut needed = BTreeSet::new();
        for event in &decoded {
            state.jobs_needed(event, &mut needed);
        }
        let mut jobs: JobMap = needed
            .iter()
            .filter_map(|id| stored.get(id).map(|job| (*id, job.clone())))
            .collect();
        if lose_a_job && let Some(id) = needed.iter().find(|id| jobs.contains_key(id)) {
            jobs.remove(id);
        }
        let mut out = FoldOutput::default();
        for (envelope, event) in batch.iter().zip(&decoded) {
            state.apply_event(
                &mut jobs,
                envelope.seq,
                envelope.recorded_at,
                event,
                &mut out,
            );
        }
        for id in &out.touched {
            let job = jobs
                .remove(id)
                .expect("a touched job is in the batch's jobs");
            stored.insert(*id, job);
        }
        // The state goes to the database and back between batches.
        let text = serde_json::to_string(&state).expect("the state serializes");
        state = serde_json::from_str(&text).expect("the state reads back");
    }
    (state, stored)
}

/// A capture folded in store-like batches ends where the fold with every job at hand ends.
/// The first byte picks the batch sizes' seed; the rest is the capture.
pub fn fold(data: &[u8]) {
    check_fold(data, false);
}

/// [`fold`] with a job lost between batches: the regression tests show that the check fails.
#[doc(hidden)]
pub fn fold_dropping_a_job_for_tests(data: &[u8]) {
    check_fold(data, true);
}

fn check_fold(data: &[u8], lose_a_job: bool) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let events = envelopes(text);
    let whole = flowo_core::fold_events(run_id(), workspace_id(), &events);
    let sizes = [split, split.rotate_left(3), split.rotate_left(5)];
    let (state, jobs) = fold_in_batches(&events, &sizes, lose_a_job);
    assert_eq!(state, whole.state, "batched fold ends in another run state");
    assert_eq!(jobs, whole.jobs, "batched fold ends with other jobs");
}

/// An ingest body through the server's parser and batch checks; whatever is accepted decodes
/// and folds, run by run.
pub fn ingest_body(data: &[u8]) {
    let limits = flowo_http::Limits::default();
    let Ok(events) = flowo_http::routes::events::parse_batch(&limits, data) else {
        return;
    };
    let runs: BTreeSet<RunId> = events.iter().map(|e| e.run_id).collect();
    for run in runs {
        let folded = flowo_core::fold_events(run, workspace_id(), &events);
        assert!(
            folded.state.run.event_count <= events.len() as u64,
            "a fold counts only the batch's events"
        );
    }
}

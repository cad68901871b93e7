//! The backend-independent part of an append: grouping a batch by run, removing duplicates, and
//! folding the new events into the run's state.
//!
//! NUL characters (U+0000): PostgreSQL `text` cannot hold them, SQLite can. So that both stores
//! keep the same thing, a NUL in an event's payload (in a string or a key) is replaced by U+FFFD
//! before the event is folded or stored ([`replace_nul`]); a NUL in an event's kind is refused
//! ([`validate`]), as the HTTP API refuses it.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use flowo_core::event::{Event, EventEnvelope};
use flowo_core::fold::{FoldOutput, JobMap, RunState};
use flowo_core::store::StoreError;
use flowo_core::{Job, JobId, RunError, RunId, Seq};
use serde_json::Value;

/// Rejects events that no store can keep.
pub(crate) fn validate(events: &[EventEnvelope]) -> Result<(), StoreError> {
    for e in events {
        if e.kind.is_empty() || e.kind.chars().count() > 64 || e.kind.contains('\0') {
            return Err(StoreError::Invalid(format!(
                "event kind must be 1-64 characters, without NUL (run {}, seq {})",
                e.run_id, e.seq
            )));
        }
        if i64::try_from(e.seq).is_err() {
            return Err(StoreError::Invalid(format!("seq {} is too large", e.seq)));
        }
    }
    Ok(())
}

/// Whether a payload holds a NUL character in a string or an object key.
fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Replaces every NUL character in a payload's strings and keys by U+FFFD.
fn replace_nul_in(value: &mut Value) {
    const REPLACEMENT: &str = "\u{FFFD}";
    match value {
        Value::String(s) => {
            if s.contains('\0') {
                *s = s.replace('\0', REPLACEMENT);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(replace_nul_in),
        Value::Object(map) => {
            *map = std::mem::take(map)
                .into_iter()
                .map(|(k, mut v)| {
                    replace_nul_in(&mut v);
                    (k.replace('\0', REPLACEMENT), v)
                })
                .collect();
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Copies of the batch's events whose payload holds a NUL character, with each NUL replaced by
/// U+FFFD, with their index in the batch (in order). Events without one are not copied: for a
/// batch without any, this is a scan that allocates nothing.
pub(crate) fn replace_nul(events: &[EventEnvelope]) -> Vec<(usize, EventEnvelope)> {
    events
        .iter()
        .enumerate()
        .filter(|(_, e)| has_nul(&e.data))
        .map(|(i, e)| {
            let mut clean = e.clone();
            replace_nul_in(&mut clean.data);
            (i, clean)
        })
        .collect()
}

/// A batch's events of one run, sorted by sequence, each sequence once.
pub(crate) struct RunBatch<'a> {
    pub run_id: RunId,
    pub events: Vec<&'a EventEnvelope>,
    /// Events repeated within the batch itself.
    pub repeated: u64,
}

/// Groups a batch by run (in run id order, so that locks are always taken in the same order),
/// each event taken from `replaced` (see [`replace_nul`]) where it is there.
pub(crate) fn group_by_run<'a>(
    events: &'a [EventEnvelope],
    replaced: &'a [(usize, EventEnvelope)],
) -> Vec<RunBatch<'a>> {
    let mut groups: BTreeMap<RunId, Vec<&EventEnvelope>> = BTreeMap::new();
    let mut replaced = replaced.iter().peekable();
    for (i, e) in events.iter().enumerate() {
        let e = replaced.next_if(|(at, _)| *at == i).map_or(e, |(_, r)| r);
        groups.entry(e.run_id).or_default().push(e);
    }
    groups
        .into_iter()
        .map(|(run_id, mut events)| {
            events.sort_by_key(|e| e.seq);
            let before = events.len();
            events.dedup_by_key(|e| e.seq);
            RunBatch {
                run_id,
                repeated: (before - events.len()) as u64,
                events,
            }
        })
        .collect()
}

/// Keeps the events whose sequence is not stored yet.
pub(crate) fn without_stored<'a>(
    events: &[&'a EventEnvelope],
    stored: &HashSet<Seq>,
) -> Vec<&'a EventEnvelope> {
    events
        .iter()
        .copied()
        .filter(|e| !stored.contains(&e.seq))
        .collect()
}

/// Whether new events can be folded onto the stored state, or the run must be folded again from
/// all its events because some arrived after later ones were folded.
pub(crate) fn needs_refold(state: &RunState, new: &[&EventEnvelope]) -> bool {
    match (state.run.last_seq, new.first()) {
        (Some(last), Some(first)) => first.seq <= last,
        _ => false,
    }
}

/// New events decoded once, with the jobs they need.
pub(crate) struct Decoded {
    pub events: Vec<Event>,
    pub jobs_needed: BTreeSet<JobId>,
}

pub(crate) fn decode(state: &RunState, new: &[&EventEnvelope]) -> Decoded {
    let mut jobs_needed = BTreeSet::new();
    let events: Vec<Event> = new.iter().map(|e| e.event()).collect();
    for event in &events {
        state.jobs_needed(event, &mut jobs_needed);
    }
    Decoded {
        events,
        jobs_needed,
    }
}

/// The result of folding a batch into a run: what to write.
pub(crate) struct Folded {
    pub jobs: Vec<Job>,
    pub errors: Vec<RunError>,
}

/// Folds decoded events onto `state` with the loaded `jobs`; returns the changed jobs and the new
/// errors.
pub(crate) fn fold(
    state: &mut RunState,
    mut jobs: JobMap,
    new: &[&EventEnvelope],
    decoded: &Decoded,
) -> Folded {
    let mut out = FoldOutput::default();
    for (envelope, event) in new.iter().zip(&decoded.events) {
        state.apply_event(
            &mut jobs,
            envelope.seq,
            envelope.recorded_at,
            event,
            &mut out,
        );
    }
    let changed = out
        .touched
        .iter()
        .filter_map(|id| jobs.remove(id))
        .collect();
    Folded {
        jobs: changed,
        errors: out.errors,
    }
}

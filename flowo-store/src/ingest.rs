//! The backend-independent part of an append: grouping a batch by run, removing duplicates, and
//! folding the new events into the run's state.
//!
//! NUL characters (U+0000): PostgreSQL `text` cannot hold them, SQLite can. So that both stores
//! keep the same thing, a NUL in an event's payload (in a string or a key) is replaced by U+FFFD
//! before the event is folded or stored ([`replace_nul_in`]); a NUL in an event's kind is refused
//! ([`validate`]), as the HTTP API refuses it.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use flowo_core::event::{Event, EventEnvelope};
use flowo_core::fold::{FoldOutput, JobMap, RunState};
use flowo_core::store::StoreError;
use flowo_core::{Job, JobId, RunError, RunId, Seq};
use serde_json::Value;

use crate::rows::Texts;

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

/// A batch's payloads as JSON text, each made once (all in one string), and copies of the
/// events whose payload held a NUL character (with each NUL replaced by U+FFFD), by their index
/// in the batch (in order).
///
/// JSON escapes a NUL as `\u0000`, so only a payload whose text holds that is walked to tell;
/// for a batch without any, nothing is copied.
pub(crate) struct Prepared {
    texts: Texts,
    replaced: Vec<(usize, EventEnvelope)>,
}

impl Prepared {
    /// Event `i`'s payload text.
    pub(crate) fn data(&self, i: usize) -> &str {
        self.texts.get(i)
    }
}

pub(crate) fn prepare(events: &[EventEnvelope]) -> Prepared {
    use flowo_core::record::write_json_value;
    let mut replaced = Vec::new();
    let texts = Texts::build(events, |out, i, e| {
        let start = out.len();
        write_json_value(out, &e.data);
        if memchr::memmem::find(&out[start..], b"\\u0000").is_some() && has_nul(&e.data) {
            out.truncate(start);
            let mut clean = e.clone();
            replace_nul_in(&mut clean.data);
            write_json_value(out, &clean.data);
            replaced.push((i, clean));
        }
    });
    Prepared { texts, replaced }
}

/// An event on its way into a store, with its payload's JSON text.
#[derive(Clone, Copy)]
pub(crate) struct Row<'a> {
    pub event: &'a EventEnvelope,
    pub data: &'a str,
}

impl std::ops::Deref for Row<'_> {
    type Target = EventEnvelope;

    fn deref(&self) -> &EventEnvelope {
        self.event
    }
}

/// A batch's events of one run, sorted by sequence, each sequence once.
pub(crate) struct RunBatch<'a> {
    pub run_id: RunId,
    pub events: Vec<Row<'a>>,
    /// The events decoded, in the same order.
    pub decoded: Vec<Event>,
    /// Events repeated within the batch itself.
    pub repeated: u64,
}

/// Groups a batch by run (in run id order, so that locks are always taken in the same order),
/// each event taken from the prepared copies (see [`prepare`]) where it is there, and decodes
/// the events (which needs nothing stored: a PostgreSQL append does it while its transaction
/// begins).
pub(crate) fn group_by_run<'a>(
    events: &'a [EventEnvelope],
    prepared: &'a Prepared,
) -> Vec<RunBatch<'a>> {
    let mut groups: BTreeMap<RunId, Vec<Row<'a>>> = BTreeMap::new();
    let mut replaced = prepared.replaced.iter().peekable();
    for (i, e) in events.iter().enumerate() {
        let event = replaced.next_if(|(at, _)| *at == i).map_or(e, |(_, r)| r);
        let data = prepared.data(i);
        groups
            .entry(event.run_id)
            .or_default()
            .push(Row { event, data });
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
                decoded: events.iter().map(|e| e.event()).collect(),
                events,
            }
        })
        .collect()
}

/// A run's new events: those whose sequence is not stored yet, with their decoded forms.
pub(crate) struct NewEvents<'a, 'b> {
    pub rows: Vec<Row<'a>>,
    pub decoded: Vec<&'b Event>,
}

/// Keeps the batch's events whose sequence is not stored yet.
pub(crate) fn without_stored<'a, 'b>(
    batch: &'b RunBatch<'a>,
    stored: &HashSet<Seq>,
) -> NewEvents<'a, 'b> {
    let (rows, decoded) = batch
        .events
        .iter()
        .zip(&batch.decoded)
        .filter(|(e, _)| !stored.contains(&e.seq))
        .map(|(e, d)| (*e, d))
        .unzip();
    NewEvents { rows, decoded }
}

/// Whether new events can be folded onto the stored state, or the run must be folded again from
/// all its events because some arrived after later ones were folded.
pub(crate) fn needs_refold(state: &RunState, new: &[Row<'_>]) -> bool {
    match (state.run.last_seq, new.first()) {
        (Some(last), Some(first)) => first.seq <= last,
        _ => false,
    }
}

/// The stored jobs that folding `events` onto `state` needs.
pub(crate) fn jobs_needed(state: &RunState, events: &[&Event]) -> BTreeSet<JobId> {
    let mut jobs_needed = BTreeSet::new();
    for event in events {
        state.jobs_needed(event, &mut jobs_needed);
    }
    jobs_needed
}

/// The result of folding a batch into a run: what to write.
pub(crate) struct Folded {
    pub jobs: Vec<Job>,
    pub errors: Vec<RunError>,
}

/// Folds decoded events onto `state` with the loaded `jobs`; returns the changed jobs and the new
/// errors.
pub(crate) fn fold(state: &mut RunState, mut jobs: JobMap, new: &NewEvents<'_, '_>) -> Folded {
    let mut out = FoldOutput::default();
    for (envelope, event) in new.rows.iter().zip(&new.decoded) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(seq: u64, data: Value) -> EventEnvelope {
        EventEnvelope {
            run_id: RunId(uuid::Uuid::nil()),
            seq,
            recorded_at: chrono::DateTime::UNIX_EPOCH,
            received_at: None,
            kind: "log".to_owned(),
            data,
        }
    }

    #[test]
    fn payloads_are_written_once_and_only_those_with_a_nul_are_copied() {
        let events = vec![
            event(0, json!({"msg": "plain"})),
            event(1, json!({"msg": "a\0b", "k\0": ["\0"]})),
            // The text `\u0000` itself (a backslash, then `u0000`) is not a NUL.
            event(2, json!({"msg": "\\u0000"})),
        ];
        let prepared = prepare(&events);
        assert_eq!(
            prepared.replaced.len(),
            1,
            "only the event with a NUL is copied"
        );
        assert_eq!(prepared.replaced[0].0, 1);
        let clean = json!({"msg": "a\u{FFFD}b", "k\u{FFFD}": ["\u{FFFD}"]});
        assert_eq!(prepared.replaced[0].1.data, clean);
        let texts: Vec<Value> = (0..events.len())
            .map(|i| serde_json::from_str(prepared.data(i)).expect("JSON"))
            .collect();
        assert_eq!(
            texts,
            vec![events[0].data.clone(), clean, events[2].data.clone()]
        );

        let groups = group_by_run(&events, &prepared);
        let rows = &groups[0].events;
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[1].event.data, prepared.replaced[0].1.data,
            "the copy is folded"
        );
        assert_eq!(rows[1].data, prepared.data(1));
    }
}

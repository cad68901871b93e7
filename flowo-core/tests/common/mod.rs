//! Shared helpers for the integration tests: reading the real Snakemake captures in
//! `shared/fixtures/snakemake-events/` and turning their records into event envelopes, the way the
//! plugin does it live.

// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::path::PathBuf;

use chrono::Duration;
use flowo_core::event::{Event, EventEnvelope, RunFinished};
use flowo_core::record::{payload_from_record, record_time};
use flowo_core::{RunId, Timestamp, WorkspaceId};
use serde_json::Value;
use uuid::Uuid;

/// The shared captures folder (holds `manifest.json`).
pub const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/snakemake-events"
);

/// The capture that ends with SIGKILL: the plugin's `close()` never ran, so no `run_finished`.
pub const KILLED: &str = "incomplete/14-killed.jsonl";

/// A fixed run id, so that folded state is the same on every test run.
pub fn run_id() -> RunId {
    RunId(Uuid::from_u128(0x0f10_0000_0000_4000_8000_0000_0000_0001))
}

/// A fixed workspace id.
pub fn workspace_id() -> WorkspaceId {
    WorkspaceId(Uuid::from_u128(0x0f10_0000_0000_4000_8000_0000_0000_0002))
}

/// `manifest.json`, parsed.
pub fn manifest() -> Value {
    let path = PathBuf::from(FIXTURES).join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The manifest entry of one capture.
pub fn manifest_entry(capture: &str) -> Value {
    manifest()["captures"]
        .as_array()
        .expect("manifest has a `captures` array")
        .iter()
        .find(|c| c["capture"] == capture)
        .unwrap_or_else(|| panic!("{capture} is not listed in manifest.json"))
        .clone()
}

/// Every capture path listed in the manifest, relative to [`FIXTURES`].
pub fn manifest_captures() -> Vec<String> {
    manifest()["captures"]
        .as_array()
        .expect("manifest has a `captures` array")
        .iter()
        .map(|c| {
            c["capture"]
                .as_str()
                .expect("`capture` is a string")
                .to_owned()
        })
        .collect()
}

/// The records of a capture, one JSON object per line.
pub fn records(capture: &str) -> Vec<Value> {
    let path = PathBuf::from(FIXTURES).join(capture);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{capture}:{}: not JSON: {e}", i + 1))
        })
        .collect()
}

/// The events of a capture as the plugin sends them: one envelope per record (seq = line index),
/// then the `run_finished` that the handler's `close()` sends, except after SIGKILL.
pub fn envelopes(capture: &str) -> Vec<EventEnvelope> {
    let run_id = run_id();
    let mut out: Vec<EventEnvelope> = records(capture)
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let (kind, data) = payload_from_record(record)
                .unwrap_or_else(|e| panic!("{capture}: record {i}: {e}"));
            let recorded_at = record_time(record)
                .unwrap_or_else(|| panic!("{capture}: record {i} has no usable `created`"));
            EventEnvelope {
                run_id,
                seq: i as u64,
                recorded_at,
                received_at: None,
                kind,
                data,
            }
        })
        .collect();
    if capture != KILLED {
        let last = out
            .iter()
            .map(|e| e.recorded_at)
            .max()
            .expect("a capture has at least one record");
        let finished = Event::RunFinished(RunFinished {
            outcome: None,
            exit_code: None,
        });
        out.push(EventEnvelope::new(
            run_id,
            out.len() as u64,
            last + Duration::milliseconds(1),
            &finished,
        ));
    }
    out
}

/// The time of the latest event of a sequence.
pub fn last_time(events: &[EventEnvelope]) -> Timestamp {
    events
        .iter()
        .map(|e| e.recorded_at)
        .max()
        .expect("at least one event")
}

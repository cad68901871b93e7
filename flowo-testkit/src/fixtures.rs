//! The real Snakemake captures, as the plugin would send them.

use std::path::PathBuf;

use flowo_core::event::{Event, RunFinished};
use flowo_core::{EventEnvelope, RunId};

/// The captures folder (`shared/` sits beside the repository).
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/snakemake-events"
    ))
}

/// Every capture the manifest lists, as paths relative to [`fixtures_dir`].
pub fn captures() -> Vec<String> {
    let manifest = std::fs::read_to_string(fixtures_dir().join("manifest.json"))
        .expect("the fixtures manifest is readable");
    let manifest: serde_json::Value = serde_json::from_str(&manifest).expect("manifest is JSON");
    let captures: Vec<String> = manifest["captures"]
        .as_array()
        .expect("captures list")
        .iter()
        .map(|c| c["capture"].as_str().expect("capture path").to_owned())
        .collect();
    assert!(captures.len() >= 19, "the manifest lists every capture");
    captures
}

/// A deterministic run id per capture name.
pub fn run_id_for(name: &str) -> RunId {
    let mut bytes = [0u8; 16];
    for (i, b) in name.bytes().enumerate() {
        bytes[i % 16] = bytes[i % 16].wrapping_mul(31).wrapping_add(b);
    }
    RunId(uuid::Uuid::from_bytes(bytes))
}

/// A capture's events as the plugin would send them: the records, then `run_finished` unless
/// the process was killed (SIGKILL never reaches the plugin's `close()`).
pub fn load_capture(name: &str, run_id: RunId) -> Vec<EventEnvelope> {
    let text = std::fs::read_to_string(fixtures_dir().join(name)).expect("capture is readable");
    let mut events =
        flowo_core::record::envelopes_from_capture(&text, run_id).expect("capture parses");
    if !name.contains("killed") {
        let last = events.last().map(|e| e.recorded_at).unwrap_or_default();
        events.push(EventEnvelope::new(
            run_id,
            events.len() as u64,
            last,
            &Event::RunFinished(RunFinished::default()),
        ));
    }
    events
}

/// Heartbeats of `run_id` numbered `seqs`: the smallest valid events.
pub fn heartbeats(run_id: RunId, seqs: std::ops::Range<u64>) -> Vec<EventEnvelope> {
    seqs.map(|seq| EventEnvelope {
        run_id,
        seq,
        recorded_at: chrono::Utc::now(),
        received_at: None,
        kind: "heartbeat".into(),
        data: serde_json::json!({}),
    })
    .collect()
}

//! Replays through each fuzz target's body every input it ever failed on
//! (`regressions/<target>/`, where `scripts/fuzz.sh` copies new crashes) and the seeds the
//! fuzzer starts from (every Snakemake capture: each record, each whole capture with several
//! batch-size seeds, each capture as an ingest body).

use std::path::PathBuf;

use flowo_testkit::fixtures::{captures, fixtures_dir, load_capture, run_id_for};

fn saved(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("regressions")
        .join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_none_or(|ext| ext != "md"))
        .map(|p| {
            let bytes = std::fs::read(&p).expect("readable input");
            (p, bytes)
        })
        .collect();
    inputs.sort();
    inputs
}

fn capture_text(name: &str) -> String {
    std::fs::read_to_string(fixtures_dir().join(name)).expect("capture is readable")
}

#[test]
fn event_decoder() {
    for (path, input) in saved("event_decoder") {
        eprintln!("replaying {}", path.display());
        flowo_fuzz::event_decoder(&input);
    }
    for name in captures() {
        for line in capture_text(&name).lines() {
            flowo_fuzz::event_decoder(line.as_bytes());
        }
    }
}

#[test]
fn fold() {
    for (path, input) in saved("fold") {
        eprintln!("replaying {}", path.display());
        flowo_fuzz::fold(&input);
    }
    for name in captures() {
        let text = capture_text(&name);
        for first in [0u8, 1, 7, 15, 0x5a, 0xff] {
            let mut input = vec![first];
            input.extend_from_slice(text.as_bytes());
            flowo_fuzz::fold(&input);
        }
    }
}

#[test]
fn ingest_body() {
    for (path, input) in saved("ingest_body") {
        eprintln!("replaying {}", path.display());
        flowo_fuzz::ingest_body(&input);
    }
    for name in captures() {
        let events = load_capture(&name, run_id_for(&name));
        let body = serde_json::json!({ "events": events }).to_string();
        flowo_fuzz::ingest_body(body.as_bytes());
    }
}

/// The batched fold really is checked: a fold that loses a job between batches is caught.
#[test]
fn the_fold_check_can_fail() {
    let text = capture_text("success/01-success.jsonl");
    let mut input = vec![0u8];
    input.extend_from_slice(text.as_bytes());
    flowo_fuzz::fold(&input);
    let result = std::panic::catch_unwind(|| flowo_fuzz::fold_dropping_a_job_for_tests(&input));
    assert!(result.is_err(), "a lost job must fail the fold check");
}

//! The examples as separate OS processes sharing one SQLite file, the way the Snakemake plugin
//! and `flowo serve` share it: a subscriber in this process (or the `live-stream` binary) sees
//! every event that `record-capture` commits in another process, exactly once and in order.
//! Also: `record-capture` fails with one line of error on bad input.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use flowo_core::store::StreamFilter;
use flowo_core::{EventEnvelope, RunId};
use flowo_store::StoreOptions;
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// Generous: a debug build on a loaded CI machine.
const TIMEOUT: Duration = Duration::from_secs(30);

const RECORD_CAPTURE: &str = env!("CARGO_BIN_EXE_record-capture");

/// The large capture: 1202 records, 202 jobs.
fn large_capture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/snakemake-events/large/10-large.jsonl")
}

/// The events `record-capture` stores for the large capture: its records, then `run_finished`.
fn expected_kinds() -> Vec<String> {
    let text = std::fs::read_to_string(large_capture()).expect("the large capture is readable");
    let records = flowo_core::record::envelopes_from_capture(&text, RunId::new_random())
        .expect("the large capture parses");
    assert_eq!(records.len(), 1202, "the fixture changed");
    records
        .iter()
        .map(|e: &EventEnvelope| e.kind.clone())
        .chain(["run_finished".to_owned()])
        .collect()
}

/// A fresh SQLite file with FlowO's schema: opening it once here first means the processes
/// under test never race each other to create it.
async fn fresh_database(dir: &Path) -> (String, std::sync::Arc<dyn flowo_store::Store>) {
    let url = format!("sqlite://{}", dir.join("flowo.db").display());
    let store = flowo_store::open(&url, &StoreOptions::default())
        .await
        .expect("open the SQLite store");
    (url, store)
}

/// Runs `record-capture` on the large capture into `url`, as run `run`.
async fn record_large(url: &str, run: RunId) -> Output {
    let child = Command::new(RECORD_CAPTURE)
        .arg(large_capture())
        .args(["--database-url", url, "--run-id", &run.to_string()])
        // Small batches: many commits for the subscriber to follow.
        .args(["--batch", "25"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start record-capture");
    tokio::time::timeout(TIMEOUT, child.wait_with_output())
        .await
        .expect("record-capture finishes in time")
        .expect("record-capture's output")
}

/// The value of a `label:` line of the summary.
fn summary_value<'a>(stdout: &'a str, label: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{stdout}"))
        .trim()
}

fn assert_summary(output: &Output, run: RunId) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "record-capture failed: {stderr}\n{stdout}"
    );
    assert!(
        stdout.starts_with("recorded 1203 events (1203 new, 0 already stored)"),
        "{stdout}"
    );
    assert_eq!(summary_value(&stdout, "run:"), run.to_string());
    assert_eq!(summary_value(&stdout, "status:"), "succeeded");
    assert_eq!(summary_value(&stdout, "snakemake:"), "9.27.1");
    assert_eq!(summary_value(&stdout, "progress:"), "202/202 jobs done");
    assert_eq!(summary_value(&stdout, "jobs:"), "202 succeeded");
    assert_eq!(summary_value(&stdout, "errors:"), "none");
    // The rule table: rule, planned, succeeded, ...
    let transform: Vec<&str> = stdout
        .lines()
        .find(|l| l.starts_with("transform "))
        .expect("a row for rule transform")
        .split_whitespace()
        .collect();
    assert_eq!(transform[..3], ["transform", "100", "100"]);
}

/// The path of the `live-stream` binary. Cargo only hands a test the binaries of its own
/// package, so build the sibling example (a no-op when it is up to date) and ask cargo where
/// it put it.
fn live_stream_binary() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args(["build", "-p", "live-stream", "--message-format", "json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo build");
    assert!(
        output.status.success(),
        "cargo build -p live-stream failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "live-stream")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo reports the live-stream executable")
}

/// The `live-stream` lines of one run: `(seq, kind)`, checking positions and the run id.
fn parse_stream_lines(stdout: &str, run: RunId) -> Vec<(u64, String)> {
    let short = &run.to_string()[..8];
    let mut last_pos = 0i64;
    stdout
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert!(fields.len() >= 4, "a short line: {line:?}");
            let pos: i64 = fields[0].parse().expect("a stream position");
            assert!(pos > last_pos, "positions strictly increase: {line:?}");
            last_pos = pos;
            assert_eq!(fields[1], short, "{line:?}");
            let seq = fields[2]
                .strip_prefix('#')
                .and_then(|s| s.parse().ok())
                .expect("#seq");
            (seq, fields[3].to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscriber_sees_every_event_another_process_records_once_and_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (url, store) = fresh_database(dir.path()).await;
    let run = RunId::new_random();
    let mut stream = store
        .subscribe(StreamFilter::default(), Some(0))
        .await
        .expect("subscribe");
    let recorder = tokio::spawn({
        let url = url.clone();
        async move { record_large(&url, run).await }
    });

    let kinds = expected_kinds();
    let received = tokio::time::timeout(TIMEOUT, async {
        let mut received = Vec::new();
        let mut last_pos = 0;
        while received.len() < kinds.len() {
            let event = stream
                .next()
                .await
                .expect("the stream stays open")
                .expect("an event");
            assert!(event.pos > last_pos, "positions strictly increase");
            last_pos = event.pos;
            assert_eq!(event.envelope.run_id, run);
            received.push((event.envelope.seq, event.envelope.kind.clone()));
        }
        received
    })
    .await
    .expect("every event arrives within the timeout");
    let expected: Vec<(u64, String)> = (0..).zip(kinds).collect();
    assert_eq!(received, expected);

    let output = recorder.await.expect("the recorder task");
    assert_summary(&output, run);
    // Nothing twice: the stream stays quiet after the last event (several poll periods).
    let extra = tokio::time::timeout(Duration::from_secs(1), stream.next()).await;
    assert!(extra.is_err(), "no event after run_finished: {extra:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn live_stream_prints_what_record_capture_records_in_another_process() {
    let live_stream = live_stream_binary();
    let dir = tempfile::tempdir().expect("temp dir");
    let (url, _store) = fresh_database(dir.path()).await;
    let run = RunId::new_random();
    let kinds = expected_kinds();
    let expected: Vec<(u64, String)> = (0..).zip(kinds.iter().cloned()).collect();
    let exit_after = kinds.len().to_string();

    // Live, from now on: wait until it is subscribed, then record.
    let mut follower = Command::new(&live_stream)
        .args(["--database-url", &url, "--exit-after", &exit_after])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start live-stream");
    let mut stderr = BufReader::new(follower.stderr.take().expect("stderr")).lines();
    let ready = tokio::time::timeout(TIMEOUT, stderr.next_line())
        .await
        .expect("live-stream subscribes in time")
        .expect("live-stream's stderr");
    assert!(
        ready.as_deref().is_some_and(|l| l.contains("following")),
        "live-stream is following: {ready:?}"
    );
    let recorded = record_large(&url, run).await;
    assert_summary(&recorded, run);
    let live = tokio::time::timeout(TIMEOUT, follower.wait_with_output())
        .await
        .expect("live-stream exits after the last event")
        .expect("live-stream's output");
    assert!(
        live.status.success(),
        "live-stream failed: {:?}",
        live.status
    );
    let live_stdout = String::from_utf8_lossy(&live.stdout);
    assert_eq!(parse_stream_lines(&live_stdout, run), expected);
    // The descriptions say what happened.
    assert!(live_stdout.contains("progress         202/202 done"));
    assert!(live_stdout.contains("job_info         rule merge job"));

    // Replayed from the store, one run only: the same lines.
    let replay = Command::new(&live_stream)
        .args(["--database-url", &url, "--after", "0"])
        .args(["--run", &run.to_string(), "--exit-after", &exit_after])
        .kill_on_drop(true)
        .output();
    let replay = tokio::time::timeout(TIMEOUT, replay)
        .await
        .expect("the replay finishes in time")
        .expect("live-stream's output");
    assert!(
        replay.status.success(),
        "replay failed: {:?}",
        replay.status
    );
    assert_eq!(String::from_utf8_lossy(&replay.stdout), live_stdout);
}

/// Runs `record-capture` and checks it fails with exactly one line on stderr containing
/// `needle`; returns that line.
async fn assert_fails_with_one_line(args: &[&str], needle: &str) -> String {
    let output = Command::new(RECORD_CAPTURE)
        .args(args)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(TIMEOUT, output)
        .await
        .expect("record-capture finishes in time")
        .expect("record-capture's output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{args:?} should fail");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.starts_with("record-capture: "), "{stderr:?}");
    assert!(stderr.contains(needle), "{needle:?} in {stderr:?}");
    assert!(output.stdout.is_empty(), "nothing on stdout");
    stderr.into_owned()
}

#[tokio::test]
async fn bad_input_fails_with_one_line_of_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.jsonl");
    let missing = missing.to_str().expect("a UTF-8 temp path");
    let url = format!("sqlite://{}", dir.path().join("flowo.db").display());
    assert_fails_with_one_line(
        &[missing, "--database-url", &url],
        &format!("cannot read {missing}"),
    )
    .await;
    let capture = large_capture();
    let capture = capture.to_str().expect("a UTF-8 fixture path");
    assert_fails_with_one_line(
        &[capture, "--database-url", "mysql://x"],
        "unsupported database URL mysql://x",
    )
    .await;
    let with_password = assert_fails_with_one_line(
        &[capture, "--database-url", "mysql://me:s3cret@x/db"],
        "mysql://me:***@x/db",
    )
    .await;
    assert!(
        !with_password.contains("s3cret"),
        "the password never shows"
    );
    assert_fails_with_one_line(&[capture, "--batch", "0"], "--batch").await;
    assert_fails_with_one_line(&[], "no capture file given").await;
}

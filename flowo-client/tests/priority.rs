//! The sink's threads are scheduled below Snakemake's (Linux). A test binary of its own, so
//! that every `flowo-sink*` and `sqlx-sqlite-*` thread of the process is the sink's.

#![cfg(target_os = "linux")]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use flowo_client::sink::{NICENESS, Record, Sink, SinkSettings};
use flowo_client::target::Target;
use serde_json::Value;

/// The threads of this process: name → nice values.
fn threads() -> BTreeMap<String, Vec<i64>> {
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let dir = task.expect("task").path();
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(dir.join("comm")),
            std::fs::read_to_string(dir.join("stat")),
        ) else {
            continue; // the thread ended meanwhile
        };
        out.entry(comm.trim().to_owned())
            .or_default()
            .push(nice_of(&stat));
    }
    out
}

/// Field 19 of `/proc/<pid>/task/<tid>/stat`, counted after the name in parentheses (which may
/// hold spaces).
fn nice_of(stat: &str) -> i64 {
    let (_, rest) = stat
        .rsplit_once(')')
        .expect("stat has the name in parentheses");
    rest.split_whitespace()
        .nth(16)
        .and_then(|n| n.parse().ok())
        .expect("nice field")
}

fn own_nice() -> i64 {
    nice_of(&std::fs::read_to_string("/proc/thread-self/stat").expect("/proc/thread-self/stat"))
}

#[test]
fn the_sinks_threads_yield_to_snakemakes_and_snakemakes_keep_their_priority() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("flowo.db").display());
    let mut settings = SinkSettings::new(Target::Database { url });
    settings.spool_dir = Some(dir.path().join("spool"));
    settings.flush_interval = Duration::from_millis(20);
    settings.verbose = false;
    let before = own_nice();
    let sink = Sink::start(settings);
    let path = flowo_testkit::fixtures::fixtures_dir().join("success/01-success.jsonl");
    let text = std::fs::read_to_string(&path).expect("capture");
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Value::Object(mut attrs) = serde_json::from_str::<Value>(line).expect("json") else {
            panic!("a record is an object");
        };
        let created = attrs.remove("created").and_then(|c| c.as_f64());
        sink.record(Record::from_attrs(created.expect("created"), &attrs));
    }
    // The embedded store's connections (and their threads) open with the first delivery.
    let deadline = Instant::now() + Duration::from_secs(30);
    let seen = loop {
        let seen = threads();
        if seen.keys().any(|n| n.starts_with("sqlx-sqlite")) || Instant::now() > deadline {
            break seen;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let lowered = (before + i64::from(NICENESS)).min(19);
    for prefix in ["flowo-sink", "flowo-sink-io", "sqlx-sqlite"] {
        let niceness: Vec<i64> = seen
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .flat_map(|(_, n)| n.iter().copied())
            .collect();
        assert!(!niceness.is_empty(), "no thread named {prefix}*: {seen:?}");
        assert!(
            niceness.iter().all(|n| *n == lowered),
            "{prefix}* threads at nice {niceness:?}, not {lowered}: {seen:?}"
        );
    }
    assert_eq!(
        own_nice(),
        before,
        "the recording thread keeps its priority"
    );
    let report = sink.close();
    assert!(
        report.events > 0 && report.delivered == report.events,
        "{report:?}"
    );
}

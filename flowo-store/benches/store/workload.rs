//! The ingest workload: the `large` capture repeated under new run ids, cut into batches of one
//! run each, in order, as the Snakemake plugin sends them.
//!
//! The batches are built once and re-labelled in place for every run (new run id, times shifted),
//! so that producing the workload costs next to nothing inside the timed loops.

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::Context;
use flowo_core::event::{Event, RunFinished};
use flowo_core::{EventEnvelope, RunId, Timestamp};
use uuid::Uuid;

/// Events per append, as the plugin batches them: 500 (`FLOWO_BENCH_BATCH` overrides, up to
/// 4000, to see how the batch size matters).
pub fn batch() -> usize {
    static BATCH: OnceLock<usize> = OnceLock::new();
    *BATCH.get_or_init(|| {
        std::env::var("FLOWO_BENCH_BATCH")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .map_or(500, |b| b.clamp(1, 4000))
    })
}

/// The capture the ingest benchmark repeats.
pub fn capture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/snakemake-events/large/10-large.jsonl")
}

/// One run's events as the plugin sends them: the capture's records, then `run_finished`.
pub fn load_template() -> anyhow::Result<Vec<EventEnvelope>> {
    let path = capture_path();
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the large capture at {}", path.display()))?;
    let placeholder = RunId(Uuid::nil());
    let mut events = flowo_core::record::envelopes_from_capture(&text, placeholder)
        .context("parsing the large capture")?;
    let last = events.last().map(|e| e.recorded_at).unwrap_or_default();
    events.push(EventEnvelope::new(
        placeholder,
        events.len() as u64,
        last,
        &Event::RunFinished(RunFinished::default()),
    ));
    Ok(events)
}

/// How many events each run gets: whole captures, the last one cut so that the total is exact.
pub fn plan(total: u64, per_run: usize) -> Vec<usize> {
    let per_run = per_run as u64;
    let mut out = Vec::new();
    let mut left = total;
    while left > 0 {
        let n = left.min(per_run);
        out.push(n as usize);
        left -= n;
    }
    out
}

/// Time shift of run number `index`, so that repeated runs do not all start at the same moment.
pub fn shift_of(index: usize) -> chrono::Duration {
    chrono::Duration::minutes(10 * index as i64)
}

/// The template cut into batches, re-labelled in place for each run.
#[derive(Clone)]
pub struct Batches {
    chunks: Vec<Vec<EventEnvelope>>,
    base: Vec<Vec<Timestamp>>,
}

impl Batches {
    pub fn new(template: &[EventEnvelope]) -> Self {
        let chunks: Vec<Vec<EventEnvelope>> = template
            .chunks(batch())
            .map(<[EventEnvelope]>::to_vec)
            .collect();
        let base = chunks
            .iter()
            .map(|c| c.iter().map(|e| e.recorded_at).collect())
            .collect();
        Self { chunks, base }
    }

    /// The batches of a run with the first `n` events of the template.
    pub fn for_run(
        &mut self,
        run: RunId,
        shift: chrono::Duration,
        n: usize,
    ) -> Vec<&[EventEnvelope]> {
        let mut left = n;
        let mut out = Vec::new();
        for (chunk, base) in self.chunks.iter_mut().zip(&self.base) {
            if left == 0 {
                break;
            }
            let take = left.min(chunk.len());
            for (e, t) in chunk.iter_mut().zip(base).take(take) {
                e.run_id = run;
                e.recorded_at = *t + shift;
            }
            out.push(&chunk[..take]);
            left -= take;
        }
        out
    }
}

/// The template's events as database rows (for the raw `COPY` / `INSERT` limits).
pub struct Rows {
    /// `(seq, kind, data as JSON text, recorded_at µs)` per event.
    pub rows: Vec<(i64, String, String, i64)>,
    /// The same, escaped for `COPY ... FROM STDIN` text format: `(seq, kind, data)`.
    escaped: Vec<(i64, String, String)>,
}

impl Rows {
    pub fn new(template: &[EventEnvelope]) -> Self {
        let rows: Vec<(i64, String, String, i64)> = template
            .iter()
            .map(|e| {
                (
                    e.seq as i64,
                    e.kind.clone(),
                    e.data.to_string(),
                    e.recorded_at.timestamp_micros(),
                )
            })
            .collect();
        let escaped = rows
            .iter()
            .map(|(seq, kind, data, _)| (*seq, copy_escape(kind), copy_escape(data)))
            .collect();
        Self { rows, escaped }
    }

    /// Appends the first `n` rows of a run in `COPY` text format.
    pub fn write_copy_text(
        &self,
        buf: &mut String,
        run: Uuid,
        workspace: Uuid,
        shift_us: i64,
        received_at: i64,
        range: std::ops::Range<usize>,
    ) {
        use std::fmt::Write as _;
        let run = run.hyphenated();
        let workspace = workspace.hyphenated();
        for ((seq, kind, data), (_, _, _, recorded)) in
            self.escaped[range.clone()].iter().zip(&self.rows[range])
        {
            let _ = writeln!(
                buf,
                "{run}\t{seq}\t{workspace}\t{kind}\t{}\t{received_at}\t{data}",
                recorded + shift_us
            );
        }
    }
}

/// Escapes a value for PostgreSQL's `COPY` text format.
fn copy_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 16);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out
}

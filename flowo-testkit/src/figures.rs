//! Benchmark figures in one machine-readable form, for `cargo xtask bench`.
//!
//! Every benchmark (the Rust ones here, `flowo-py/benches/overhead.py`, the dashboard's
//! `frontend/bench/run.mjs`) prints its own table for people and, when `FLOWO_BENCH_FIGURES`
//! names a file, appends one JSON object per figure to it (JSON Lines):
//!
//! ```json
//! {"name": "store.postgres.ingest", "value": 123456.0, "unit": "events/s",
//!  "target": 100000.0, "better": "higher", "limit": 400000.0, "note": "1 task"}
//! ```
//!
//! `target` and `limit` (the physical limit of the same work, such as PostgreSQL's raw COPY)
//! are optional; `better` says which way the value should go. A `null` value (a value that is
//! not a finite number when recorded) is a measurement that failed: it misses its target. The
//! xtask judges and prints them.

use std::io::Write;

/// The environment variable naming the figures file.
pub const FIGURES_ENV: &str = "FLOWO_BENCH_FIGURES";

/// Which way a figure should go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    /// Rates: at least the target.
    Higher,
    /// Times and sizes: at most the target.
    Lower,
}

/// One measured figure.
#[derive(Clone, Debug)]
pub struct Figure {
    /// Dotted name, stable across runs: `<suite>.<backend or part>.<what>`.
    pub name: String,
    /// The measured value.
    pub value: f64,
    /// Its unit: `events/s`, `ms`, `MB`, `ratio`, ...
    pub unit: String,
    /// The target, in the same unit.
    pub target: Option<f64>,
    /// Which way is better.
    pub better: Better,
    /// The physical limit of the same work, in the same unit.
    pub limit: Option<f64>,
    /// What was measured, in a few words.
    pub note: Option<String>,
}

impl Figure {
    /// A figure without a target.
    pub fn info(name: impl Into<String>, value: f64, unit: &str, better: Better) -> Self {
        Self {
            name: name.into(),
            value,
            unit: unit.to_owned(),
            target: None,
            better,
            limit: None,
            note: None,
        }
    }

    /// A figure with a target.
    pub fn target(
        name: impl Into<String>,
        value: f64,
        unit: &str,
        target: f64,
        better: Better,
    ) -> Self {
        Self {
            target: Some(target),
            ..Self::info(name, value, unit, better)
        }
    }

    /// With the physical limit of the same work.
    pub fn limit(mut self, limit: f64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// With a note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// The JSON line.
    pub fn to_json(&self) -> serde_json::Value {
        let finite = |v: f64| v.is_finite().then_some(v);
        serde_json::json!({
            "name": self.name,
            "value": finite(self.value),
            "unit": self.unit,
            "target": self.target.and_then(finite),
            "better": match self.better { Better::Higher => "higher", Better::Lower => "lower" },
            "limit": self.limit.and_then(finite),
            "note": self.note,
        })
    }
}

/// Appends the figure to the file `FLOWO_BENCH_FIGURES` names, if any. A benchmark never fails
/// for its figures: a file that cannot be written is said once per figure on stderr.
pub fn record(figure: &Figure) {
    let Some(path) = std::env::var_os(FIGURES_ENV).filter(|p| !p.is_empty()) else {
        return;
    };
    let line = format!("{}\n", figure.to_json());
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        eprintln!(
            "warning: cannot write figure {} to {}: {e}",
            figure.name,
            std::path::Path::new(&path).display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_serialize_with_their_target_and_limit() {
        let f = Figure::target(
            "store.sqlite.ingest",
            2.5e5,
            "events/s",
            2e5,
            Better::Higher,
        )
        .limit(1e6)
        .note("1 writer");
        let json = f.to_json();
        assert_eq!(json["name"], "store.sqlite.ingest");
        assert_eq!(json["value"], 2.5e5);
        assert_eq!(json["target"], 2e5);
        assert_eq!(json["better"], "higher");
        assert_eq!(json["limit"], 1e6);
        assert_eq!(json["note"], "1 writer");
        let nan = Figure::info("x", f64::NAN, "ms", Better::Lower).to_json();
        assert!(nan["value"].is_null() && nan["target"].is_null());
    }
}

//! Figures: latency samples, percentiles, section timers and the final table.

use std::time::{Duration, Instant};

use flowo_testkit::figures::{self, Better, Figure};

/// Latencies of one measured operation.
pub struct Latencies {
    samples: Vec<Duration>,
}

impl Latencies {
    pub fn new(samples: Vec<Duration>) -> Self {
        let mut samples = samples;
        samples.sort_unstable();
        Self { samples }
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// The `p`-th percentile (nearest rank), in milliseconds.
    pub fn pct_ms(&self, p: f64) -> f64 {
        if self.samples.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.samples.len() as f64).ceil() as usize;
        let idx = rank.clamp(1, self.samples.len()) - 1;
        ms(self.samples[idx])
    }

    pub fn max_ms(&self) -> f64 {
        self.samples.last().map_or(f64::NAN, |d| ms(*d))
    }
}

/// A duration in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A rate with thousands separators.
pub fn rate(per_sec: f64) -> String {
    if !per_sec.is_finite() {
        return "-".to_owned();
    }
    thousands(per_sec.round() as u64)
}

/// An integer with thousands separators.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn load() -> String {
    crate::cpu::load_avg().map_or_else(|| "-".to_owned(), |l| format!("{l:.2}"))
}

/// Prints a section header and how long the section took when dropped.
pub struct Section {
    name: String,
    start: Instant,
}

impl Section {
    pub fn start(name: &str) -> Self {
        println!();
        println!("=== {name} ===  (load avg {})", load());
        Self {
            name: name.to_owned(),
            start: Instant::now(),
        }
    }
}

impl Drop for Section {
    fn drop(&mut self) {
        println!(
            "--- {}: {:.1} s elapsed (load avg {})",
            self.name,
            self.start.elapsed().as_secs_f64(),
            load()
        );
    }
}

/// Whether a figure meets its target.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Met,
    Missed,
    Info,
}

impl Verdict {
    pub fn of(met: bool) -> Self {
        if met { Verdict::Met } else { Verdict::Missed }
    }

    fn label(self) -> &'static str {
        match self {
            Verdict::Met => "ok",
            Verdict::Missed => "MISSED",
            Verdict::Info => "",
        }
    }
}

/// One line of the final table.
pub struct Row {
    pub backend: String,
    pub what: String,
    pub figure: String,
    pub target: String,
    pub verdict: Verdict,
}

/// The final table, filled as the sections run.
#[derive(Default)]
pub struct Summary {
    rows: Vec<Row>,
}

impl Summary {
    pub fn add(
        &mut self,
        backend: &str,
        what: &str,
        figure: String,
        target: &str,
        verdict: Verdict,
    ) {
        self.rows.push(Row {
            backend: backend.to_owned(),
            what: what.to_owned(),
            figure,
            target: target.to_owned(),
            verdict,
        });
    }

    /// A latency line: p50/p99/max, against the page target when given (judged on p99).
    pub fn add_latency(
        &mut self,
        backend: &str,
        what: &str,
        lat: &Latencies,
        target_ms: Option<f64>,
    ) {
        let figure = format!(
            "p50 {:.2} / p99 {:.2} / max {:.2} ms (n={})",
            lat.pct_ms(50.0),
            lat.pct_ms(99.0),
            lat.max_ms(),
            lat.len()
        );
        let name = format!(
            "store.{}.query.{}",
            backend.to_ascii_lowercase(),
            slug(what)
        );
        let p99 = lat.pct_ms(99.0);
        figures::record(&match target_ms {
            Some(t) => Figure::target(name, p99, "ms p99", t, Better::Lower),
            None => Figure::info(name, p99, "ms p99", Better::Lower),
        });
        match target_ms {
            Some(t) => self.add(
                backend,
                what,
                figure,
                &format!("p99 <= {t} ms"),
                Verdict::of(lat.pct_ms(99.0) <= t),
            ),
            None => self.add(backend, what, figure, "", Verdict::Info),
        }
    }

    pub fn print(&self) {
        let w = |f: fn(&Row) -> &str, min: usize| {
            self.rows
                .iter()
                .map(|r| f(r).len())
                .max()
                .unwrap_or(0)
                .max(min)
        };
        let wb = w(|r| &r.backend, 7);
        let ww = w(|r| &r.what, 4);
        let wf = w(|r| &r.figure, 6);
        let wt = w(|r| &r.target, 6);
        println!();
        println!("=== Summary ===");
        println!(
            "{:<wb$}  {:<ww$}  {:<wf$}  {:<wt$}  verdict",
            "backend", "what", "figure", "target"
        );
        println!("{}", "-".repeat(wb + ww + wf + wt + 8 + 7));
        for r in &self.rows {
            println!(
                "{:<wb$}  {:<ww$}  {:<wf$}  {:<wt$}  {}",
                r.backend,
                r.what,
                r.figure,
                r.target,
                r.verdict.label()
            );
        }
        let missed = self
            .rows
            .iter()
            .filter(|r| r.verdict == Verdict::Missed)
            .count();
        println!("{missed} target(s) missed (figures are printed, never asserted).");
    }
}

/// A label as a figure name part: lower case, words joined by `_`.
pub fn slug(label: &str) -> String {
    let mut out = String::new();
    for word in label
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push('_');
        }
        out.push_str(&word.to_ascii_lowercase());
    }
    out
}

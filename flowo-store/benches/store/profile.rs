//! Where an append's time goes, per SQL statement: a `tracing` subscriber that collects sqlx's
//! per-statement log events (`sqlx::query`, with the statement and its elapsed time) while a
//! profiled pass runs, and prints the statements that took the most time.
//!
//! The subscriber is installed once and stays idle (every callsite disabled) except while a
//! [`Recording`] is alive, so timed passes are unaffected. sqlx measures a statement from when it
//! is sent until its result is read: for PostgreSQL that includes the round trip; for SQLite it is
//! the statement's execution on the connection's worker thread. A PostgreSQL append's first
//! three statements run in a task of their own while the batch is prepared, so their time
//! overlaps with Rust code rather than adding to it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata};

#[derive(Default)]
struct Collector {
    active: AtomicBool,
    next_span: AtomicU64,
    stats: Mutex<HashMap<String, (u64, f64)>>,
}

static COLLECTOR: OnceLock<&'static Collector> = OnceLock::new();

struct Handle(&'static Collector);

impl tracing::Subscriber for Handle {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if meta.target() == "sqlx::query" {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        meta.target() == "sqlx::query" && self.0.active.load(Ordering::Relaxed)
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(self.0.next_span.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut v = Fields::default();
        event.record(&mut v);
        let key = statement_key(if v.statement.trim().is_empty() {
            &v.summary
        } else {
            &v.statement
        });
        if let Ok(mut stats) = self.0.stats.lock() {
            let entry = stats.entry(key).or_default();
            entry.0 += 1;
            entry.1 += v.elapsed;
        }
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

#[derive(Default)]
struct Fields {
    summary: String,
    statement: String,
    elapsed: f64,
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed = value;
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_owned(),
            "db.statement" => self.statement = value.to_owned(),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "summary" => self.summary = format!("{value:?}").trim_matches('"').to_owned(),
            "db.statement" => self.statement = format!("{value:?}"),
            _ => {}
        }
    }
}

/// A short name for a statement: whitespace collapsed, multi-row `VALUES` lists and long column
/// lists cut.
fn statement_key(sql: &str) -> String {
    let text = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut key = match text.find(" VALUES ") {
        Some(i) => format!("{} VALUES …", &text[..i]),
        None => text,
    };
    if let (Some(open), Some(close)) = (key.find(" ("), key.find(')'))
        && open < close
        && key.starts_with("INSERT")
    {
        key.replace_range(open + 1..=close, "(…)");
    }
    if key.starts_with("SELECT")
        && let Some(from) = key.find(" FROM ")
    {
        key.replace_range("SELECT".len()..from, " …");
    }
    if key.chars().count() > 90 {
        key = key.chars().take(89).collect::<String>() + "…";
    }
    key
}

/// Installs the (idle) subscriber; returns whether it is ours (another global one may exist).
pub fn install() -> bool {
    let collector: &'static Collector = COLLECTOR.get_or_init(|| Box::leak(Box::default()));
    tracing::subscriber::set_global_default(Handle(collector)).is_ok()
}

/// Collects statements while alive.
pub struct Recording {
    collector: &'static Collector,
    start: Instant,
}

impl Recording {
    pub fn start() -> Option<Self> {
        let collector = *COLLECTOR.get()?;
        if let Ok(mut stats) = collector.stats.lock() {
            stats.clear();
        }
        collector.active.store(true, Ordering::Relaxed);
        Some(Self {
            collector,
            start: Instant::now(),
        })
    }

    /// Stops and prints the statements with the most time, against the pass's wall time.
    pub fn finish(self, per: &str, units: u64) {
        self.collector.active.store(false, Ordering::Relaxed);
        let wall: Duration = self.start.elapsed();
        let stats = self
            .collector
            .stats
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        let mut rows: Vec<(String, u64, f64)> =
            stats.into_iter().map(|(k, (n, t))| (k, n, t)).collect();
        rows.sort_by(|a, b| b.2.total_cmp(&a.2));
        let total: f64 = rows.iter().map(|r| r.2).sum();
        println!(
            "statement time (sqlx-measured) over {:.2} s wall: {:.2} s in {} statements ({:.0}% of wall); \
             the rest is Rust code (fold, JSON, binding) and scheduling (a PostgreSQL \
             append's `BEGIN`, first run lock and state read overlap with its Rust code)",
            wall.as_secs_f64(),
            total,
            rows.iter().map(|r| r.1).sum::<u64>(),
            total / wall.as_secs_f64() * 100.0
        );
        println!(
            "  {:>7} {:>6} {:>9} {:>10}  statement",
            "total s",
            "%wall",
            "count",
            format!("ms/{per}")
        );
        for (key, n, t) in rows.iter().take(14) {
            println!(
                "  {:>7.2} {:>5.0}% {:>9} {:>10.3}  {key}",
                t,
                t / wall.as_secs_f64() * 100.0,
                n,
                t * 1e3 / units.max(1) as f64
            );
        }
    }
}

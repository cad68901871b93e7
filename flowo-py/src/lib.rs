//! The native module `snakemake_logger_plugin_flowo._native`: a thin PyO3 layer over
//! `flowo-client`'s sink (the plugin's engine) and the `flowo` command.
//!
//! `Sink.handle(record)` runs on Snakemake's logging thread with the GIL held: it reads the
//! record's attributes into JSON and queues them, nothing more. Everything else happens on the
//! sink's own thread, without the GIL. `main()` is the `flowo` console script of the wheel.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use flowo_client::config::FileConfig;
use flowo_client::sink::{Record, Sink as CoreSink, SinkSettings};
use flowo_client::spool::Spool;
use flowo_client::target::Target;
use flowo_core::event::{RunContext, RunLabels};
use flowo_core::record::write_json_str;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PySet, PyString, PyTuple};

/// Deepest nesting converted; deeper values become their `str()`.
const MAX_DEPTH: u32 = 32;

/// Writes a Python value as JSON text: the builtins as themselves, enums as their value,
/// Snakemake's named lists (`resources`) as objects, UUIDs as their text, anything else as its
/// `str()`. Nothing here runs Python code for the builtins, named lists and UUIDs, so the GIL
/// is never handed over in the middle of a record.
fn write_json(v: &Bound<'_, PyAny>, out: &mut Vec<u8>, depth: u32) {
    if v.is_none() {
        out.extend_from_slice(b"null");
        return;
    }
    if let Ok(b) = v.cast::<PyBool>() {
        out.extend_from_slice(if b.is_true() { b"true" } else { b"false" });
        return;
    }
    // `str` subclasses (Snakemake's `LogEvent` is a StrEnum) are strings.
    if let Ok(s) = v.cast::<PyString>() {
        write_json_str(out, &s.to_string_lossy());
        return;
    }
    if let Ok(i) = v.cast::<PyInt>() {
        if let Ok(n) = i.extract::<i64>() {
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        } else if let Ok(n) = i.extract::<u64>() {
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        } else {
            write_text_of(v, out);
        }
        return;
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        let x = f.value();
        if x.is_finite() {
            out.extend_from_slice(ryu::Buffer::new().format_finite(x).as_bytes());
        } else {
            out.extend_from_slice(b"null");
        }
        return;
    }
    if depth >= MAX_DEPTH {
        write_text_of(v, out);
        return;
    }
    if let Ok(d) = v.cast::<PyDict>() {
        out.push(b'{');
        for (i, (k, val)) in d.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_key(&k, out);
            write_json(&val, out, depth + 1);
        }
        out.push(b'}');
        return;
    }
    if let Ok(l) = v.cast::<PyList>() {
        // Snakemake's Namedlist (`resources`, ...) is a list subclass whose names live in its
        // `_names` dict (name -> (start, end)); reading it runs no Python code (its `items()`
        // would).
        if !l.is_exact_instance_of::<PyList>() && write_named_items(v, l, out, depth) {
            return;
        }
        write_seq(l.iter(), out, depth);
        return;
    }
    if let Ok(t) = v.cast::<PyTuple>() {
        write_seq(t.iter(), out, depth);
        return;
    }
    if let Ok(s) = v.cast::<PySet>() {
        write_seq(s.iter(), out, depth);
        return;
    }
    // `uuid.UUID` keeps its value in the `int` slot.
    if v.get_type().name().is_ok_and(|n| n == "UUID")
        && let Ok(n) = v
            .getattr(intern!(v.py(), "int"))
            .and_then(|i| i.extract::<u128>())
    {
        write_json_str(out, &uuid::Uuid::from_u128(n).hyphenated().to_string());
        return;
    }
    // Enums (`Quietness`) become their value.
    if let Ok(value) = v.getattr(intern!(v.py(), "_value_"))
        && !value.is(v)
    {
        write_json(&value, out, depth + 1);
        return;
    }
    write_text_of(v, out);
}

fn write_seq<'py>(items: impl Iterator<Item = Bound<'py, PyAny>>, out: &mut Vec<u8>, depth: u32) {
    out.push(b'[');
    for (i, x) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json(&x, out, depth + 1);
    }
    out.push(b']');
}

/// A Snakemake Namedlist's named items as an object; false (nothing written) if it has none.
fn write_named_items(
    v: &Bound<'_, PyAny>,
    list: &Bound<'_, PyList>,
    out: &mut Vec<u8>,
    depth: u32,
) -> bool {
    let Some(names) = v
        .getattr(intern!(v.py(), "_names"))
        .ok()
        .and_then(|n| n.cast_into::<PyDict>().ok())
    else {
        return false;
    };
    let mut spans = Vec::with_capacity(names.len());
    for (name, index) in names.iter() {
        match index.extract::<(usize, Option<usize>)>() {
            Ok((start, end)) if start < list.len() => spans.push((name, start, end)),
            _ => return false,
        }
    }
    if spans.is_empty() {
        return false;
    }
    out.push(b'{');
    for (i, (name, start, end)) in spans.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_key(&name, out);
        match end {
            None => match list.get_item(start) {
                Ok(x) => write_json(&x, out, depth + 1),
                Err(_) => out.extend_from_slice(b"null"),
            },
            Some(end) => write_seq(
                (start..end.min(list.len())).filter_map(|i| list.get_item(i).ok()),
                out,
                depth,
            ),
        }
    }
    out.push(b'}');
    true
}

fn write_key(k: &Bound<'_, PyAny>, out: &mut Vec<u8>) {
    match k.cast::<PyString>() {
        Ok(s) => write_json_str(out, &s.to_string_lossy()),
        Err(_) => match k.str() {
            Ok(s) => write_json_str(out, &s.to_string_lossy()),
            Err(_) => write_json_str(out, ""),
        },
    }
    out.push(b':');
}

fn write_text_of(v: &Bound<'_, PyAny>, out: &mut Vec<u8>) {
    match v.str() {
        Ok(s) => write_json_str(out, &s.to_string_lossy()),
        Err(_) => out.extend_from_slice(b"null"),
    }
}

/// Reads a record's attributes, skipping the standard ones that are not part of an event.
///
/// This runs for every record on Snakemake's logging thread with the GIL held, so it does the
/// least it can: attribute names are interned once, `created` is taken from the `__dict__` it
/// walks anyway (no second attribute lookup), logging's bookkeeping keys are recognised by
/// their length and first letter before any string comparison, and the JSON is written into
/// `json`, a buffer the sink's worker is done with ([`CoreSink::buffer`]): no allocation.
fn record_of(record: &Bound<'_, PyAny>, mut json: Vec<u8>) -> Option<Record> {
    let py = record.py();
    let dict = record.getattr(intern!(py, "__dict__")).ok()?;
    let dict = dict.cast::<PyDict>().ok()?;
    let bookkeeping = BOOKKEEPING.get_or_init(py, || Bookkeeping::new(py));
    json.clear();
    json.push(b'{');
    let mut created = None;
    let mut first = true;
    for (k, v) in dict.iter() {
        if let Some(i) = bookkeeping.position(&k) {
            if i == bookkeeping.created && created.is_none() {
                created = v.extract::<f64>().ok();
            }
            continue;
        }
        let Ok(key) = k.cast::<PyString>() else {
            continue;
        };
        let key = key.to_string_lossy();
        if skipped(&key) {
            if created.is_none() && key == "created" {
                created = v.extract::<f64>().ok();
            }
            continue;
        }
        if !first {
            json.push(b',');
        }
        first = false;
        write_json_str(&mut json, &key);
        json.push(b':');
        write_json(&v, &mut json, 0);
    }
    json.push(b'}');
    created.map(|created| Record { created, json })
}

/// logging's bookkeeping names ([`flowo_core::record::LOGGING_ATTRIBUTES`]) as Python's
/// interned strings. A record's own attributes are set by code (`self.created = …`), so the
/// keys of its `__dict__` are these very objects: a pointer comparison skips each, without
/// reading its text. A key that is not one of them (an equal string made at run time) is
/// still recognised by its text, by [`skipped`].
struct Bookkeeping {
    names: Vec<Py<PyString>>,
    /// The index of `created`, the record's time.
    created: usize,
}

impl Bookkeeping {
    fn new(py: Python<'_>) -> Self {
        let all = flowo_core::record::LOGGING_ATTRIBUTES;
        Self {
            names: all
                .iter()
                .map(|n| PyString::intern(py, n).unbind())
                .collect(),
            created: all
                .iter()
                .position(|n| *n == "created")
                .unwrap_or(usize::MAX),
        }
    }

    /// The index of the bookkeeping name that `key` is (the same object), if any.
    fn position(&self, key: &Bound<'_, PyAny>) -> Option<usize> {
        let key = key.as_ptr();
        self.names.iter().position(|n| n.as_ptr() == key)
    }
}

static BOOKKEEPING: PyOnceLock<Bookkeeping> = PyOnceLock::new();

/// Whether a `LogRecord` attribute is logging's own bookkeeping, never part of an event.
fn skipped(key: &str) -> bool {
    // Most keys of a record are either bookkeeping or event fields whose length and first
    // letter no bookkeeping name shares; only the rest are compared with the list.
    let (slot, bit) = filter_bit(key.as_bytes());
    SKIP_FILTER[slot] & bit != 0 && flowo_core::record::LOGGING_ATTRIBUTES.contains(&key)
}

/// For each name length (mod 32), a bit per first byte (mod 32) of the bookkeeping names.
const SKIP_FILTER: [u32; 32] = {
    let names = flowo_core::record::LOGGING_ATTRIBUTES;
    let mut mask = [0u32; 32];
    let mut i = 0;
    while i < names.len() {
        let (slot, bit) = filter_bit(names[i].as_bytes());
        mask[slot] |= bit;
        i += 1;
    }
    mask
};

/// A key's place in [`SKIP_FILTER`].
const fn filter_bit(key: &[u8]) -> (usize, u32) {
    let first = if key.is_empty() { 0 } else { key[0] };
    (key.len() % 32, 1u32 << (first % 32))
}

/// Time spent in `handle`, when statistics were asked for (`FLOWO_PLUGIN_STATS`).
struct EmitStats {
    path: PathBuf,
    nanos: Mutex<Vec<Timed>>,
}

/// One record's time in `handle`.
#[derive(Clone)]
struct Timed {
    ns: u32,
    /// The record's kind (`log` for plain messages).
    kind: String,
    /// What the thread's usage grew by around it, where the system tells.
    usage: Option<ThreadUsage>,
    /// The size of its JSON.
    bytes: usize,
}

/// CPU time so far of the threads the plugin started (the sink's and the embedded store's), by
/// thread name, in nanoseconds: what the plugin costs Snakemake's machine beside `emit()`.
/// Empty where `/proc` does not tell.
fn threads_cpu_ns() -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let dir = task.path();
        let Ok(name) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        let name = name.trim();
        if !["flowo", "sqlx", "tokio"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            continue;
        }
        // `schedstat`: time on the CPU in nanoseconds, then time waiting for it, then slices.
        let on_cpu = std::fs::read_to_string(dir.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
        if let Some(ns) = on_cpu {
            *out.entry(name.to_owned()).or_insert(0) += ns;
        }
    }
    out
}

/// A thread's resource usage (`getrusage(RUSAGE_THREAD)`), or its growth between two readings.
#[derive(Clone, Copy, Default)]
struct ThreadUsage {
    /// CPU time, user and system, in nanoseconds.
    cpu_ns: u64,
    /// Times the scheduler took the CPU away (involuntary context switches).
    preempted: u64,
    /// Times the thread waited for something (voluntary context switches: a lock, I/O).
    waited: u64,
    /// Page faults served without I/O.
    faults: u64,
}

impl ThreadUsage {
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    fn now() -> Option<Self> {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: `getrusage` fills the `rusage` the valid pointer points to, or fails and
        // leaves it zeroed; both are valid values of the plain C struct.
        let (rc, usage) = unsafe {
            let rc = libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr());
            (rc, usage.assume_init())
        };
        // `getrusage`'s CPU times lag by up to a scheduler tick; the thread's CPU clock does not.
        let mut cpu = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `clock_gettime` writes the `timespec` the valid pointer points to.
        let cpu_rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut cpu) };
        (rc == 0 && cpu_rc == 0).then(|| Self {
            cpu_ns: (cpu.tv_sec.max(0) as u64) * 1_000_000_000 + cpu.tv_nsec.max(0) as u64,
            preempted: usage.ru_nivcsw.max(0) as u64,
            waited: usage.ru_nvcsw.max(0) as u64,
            faults: usage.ru_minflt.max(0) as u64,
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn now() -> Option<Self> {
        None
    }

    fn since(&self, before: &Self) -> Self {
        Self {
            cpu_ns: self.cpu_ns.saturating_sub(before.cpu_ns),
            preempted: self.preempted.saturating_sub(before.preempted),
            waited: self.waited.saturating_sub(before.waited),
            faults: self.faults.saturating_sub(before.faults),
        }
    }
}

/// The slowest 1 % of the records, each with the thread's usage while it was handled: whether
/// the scheduler (`preempted`), a lock (`waited`) or a page fault (`faults`) took part, and how
/// much of the wall time the thread spent on a CPU (`cpu_ns`).
fn slowest_percent(timed: &[Timed]) -> serde_json::Value {
    let mut slowest: Vec<(usize, &Timed)> = timed.iter().enumerate().collect();
    slowest.sort_unstable_by_key(|(_, t)| std::cmp::Reverse(t.ns));
    slowest.truncate(timed.len().div_ceil(100));
    let usages: Vec<ThreadUsage> = slowest.iter().filter_map(|(_, t)| t.usage).collect();
    let each: Vec<serde_json::Value> = slowest
        .iter()
        .map(|(index, t)| {
            serde_json::json!({
                "index": index,
                "kind": t.kind,
                "ns": t.ns,
                "bytes": t.bytes,
                "cpu_ns": t.usage.map(|u| u.cpu_ns),
                "preempted": t.usage.map(|u| u.preempted),
                "waited": t.usage.map(|u| u.waited),
                "faults": t.usage.map(|u| u.faults),
            })
        })
        .collect();
    serde_json::json!({
        "records": slowest.len(),
        "with_usage": usages.len(),
        "preempted": usages.iter().filter(|u| u.preempted > 0).count(),
        "waited": usages.iter().filter(|u| u.waited > 0).count(),
        "faulted": usages.iter().filter(|u| u.faults > 0).count(),
        "cpu_ns_sum": usages.iter().map(|u| u.cpu_ns).sum::<u64>(),
        "ns_sum": slowest.iter().map(|(_, t)| u64::from(t.ns)).sum::<u64>(),
        "each": each,
    })
}

/// The plugin's sink for one run.
#[pyclass(module = "snakemake_logger_plugin_flowo._native", frozen)]
struct Sink {
    inner: CoreSink,
    stats: Option<EmitStats>,
}

fn get<T>(settings: &Bound<'_, PyDict>, key: &str) -> Option<T>
where
    T: for<'a, 'py> FromPyObject<'a, 'py>,
{
    settings
        .get_item(key)
        .ok()
        .flatten()
        .filter(|v| !v.is_none())
        .and_then(|v| v.extract::<T>().ok())
}

fn nonblank(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn env(key: &str) -> Option<String> {
    nonblank(std::env::var(key).ok())
}

fn seconds(settings: &Bound<'_, PyDict>, key: &str, default: Duration) -> Duration {
    match get::<f64>(settings, key) {
        Some(s) if s.is_finite() && (0.0..1e9).contains(&s) => Duration::from_secs_f64(s),
        Some(s) => {
            eprintln!(
                "flowo: warning: {key} must be a number of seconds, not {s}; using the default"
            );
            default
        }
        None => default,
    }
}

/// The sink's settings from the plugin's settings, the environment and the config file. Every
/// problem is a warning; the run is recorded somewhere whatever happens.
fn sink_settings(settings: &Bound<'_, PyDict>) -> SinkSettings {
    let file = FileConfig::load().unwrap_or_else(|e| {
        eprintln!("flowo: warning: {e}; ignoring the config file");
        FileConfig::default()
    });
    let url = nonblank(get::<String>(settings, "url")).or_else(|| env("FLOWO_URL"));
    let target = Target::resolve(url.as_deref(), env("FLOWO_DATABASE_URL").as_deref(), &file)
        .or_else(|e| {
            let fallback = Target::resolve(None, None, &FileConfig::default());
            if let Ok(t) = &fallback {
                eprintln!(
                    "flowo: warning: {e}; recording into {} instead",
                    t.describe()
                );
            }
            fallback
        })
        .unwrap_or(Target::Database {
            url: "sqlite://flowo.db".into(),
        });
    let mut s = SinkSettings::new(target);
    s.workspace = nonblank(get::<String>(settings, "workspace")).or_else(|| file.workspace.clone());
    s.file_config = file;
    if let Some(dir) = nonblank(get::<String>(settings, "spool_dir")) {
        s.spool_dir = Some(PathBuf::from(dir));
    } else if s.spool_dir.is_none() {
        s.spool_dir = Spool::default_dir();
    }
    s.flush_interval = seconds(settings, "flush_interval", s.flush_interval);
    s.close_timeout = seconds(settings, "close_timeout", s.close_timeout);
    s.heartbeat_interval = seconds(settings, "heartbeat_interval", s.heartbeat_interval)
        .max(Duration::from_millis(100));
    if let Some(n) = get::<i64>(settings, "log_tail_bytes") {
        s.log_tail_bytes = usize::try_from(n).unwrap_or(0).min(512 * 1024);
    }
    s.labels = RunLabels {
        name: nonblank(get(settings, "name")),
        tags: get::<String>(settings, "tags")
            .map(|t| {
                t.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        description: nonblank(get(settings, "description")),
        dry_run: get(settings, "dry_run"),
    };
    s.context = RunContext {
        snakemake_version: get(settings, "snakemake_version"),
        command_line: get(settings, "command_line"),
        host: get(settings, "host"),
        user: get(settings, "user"),
        workdir: get(settings, "workdir"),
        python_version: get(settings, "python_version"),
        platform: get(settings, "platform"),
        plugin_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
    };
    s
}

#[pymethods]
impl Sink {
    /// Starts recording a run; `settings` is a dict of the plugin's settings and the run's
    /// context (see `__init__.py`). Never raises for bad settings: it warns and goes on.
    #[new]
    fn new(py: Python<'_>, settings: &Bound<'_, PyDict>) -> Self {
        let settings = sink_settings(settings);
        let stats = env("FLOWO_PLUGIN_STATS").map(|path| EmitStats {
            path: PathBuf::from(path),
            nanos: Mutex::new(Vec::with_capacity(1 << 16)),
        });
        let inner = py.detach(|| CoreSink::start(settings));
        Sink { inner, stats }
    }

    /// The run's id.
    #[getter]
    fn run_id(&self) -> String {
        self.inner.run_id().to_string()
    }

    /// Queues a `logging.LogRecord`; never blocks and never raises.
    fn handle(&self, record: &Bound<'_, PyAny>) {
        // Outside the timed part: the thread's usage, to tell apart (in the statistics) the
        // records that took long from a page fault or the scheduler from the others.
        let usage_before = self.stats.as_ref().and_then(|_| ThreadUsage::now());
        let started = self.stats.as_ref().map(|_| Instant::now());
        let mut bytes = 0;
        if let Some(r) = record_of(record, self.inner.buffer()) {
            bytes = r.json.len();
            self.inner.record(r);
        }
        if let (Some(stats), Some(started)) = (&self.stats, started) {
            let ns = u32::try_from(started.elapsed().as_nanos()).unwrap_or(u32::MAX);
            let usage = usage_before
                .zip(ThreadUsage::now())
                .map(|(before, after)| after.since(&before));
            // Outside the timed part: which kind of record it was.
            let kind = record
                .getattr(intern!(record.py(), "event"))
                .ok()
                .and_then(|e| e.extract::<String>().ok())
                .unwrap_or_else(|| "log".to_owned());
            stats
                .nanos
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Timed {
                    ns,
                    kind,
                    usage,
                    bytes,
                });
        }
    }

    /// Ends the run: flushes within the close timeout, without holding the GIL.
    fn close(&self, py: Python<'_>) {
        // Before the threads end with the close.
        let threads = self.stats.as_ref().map(|_| threads_cpu_ns());
        let report = py.detach(|| self.inner.close());
        if let Some(stats) = &self.stats {
            let timed = stats
                .nanos
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            fn summary(mut nanos: Vec<u32>) -> serde_json::Value {
                nanos.sort_unstable();
                let pick = |q: f64| {
                    if nanos.is_empty() {
                        0
                    } else {
                        nanos[((nanos.len() - 1) as f64 * q).round() as usize]
                    }
                };
                serde_json::json!({
                    "records": nanos.len(),
                    "p50": pick(0.5),
                    "p99": pick(0.99),
                    "max": nanos.last().copied().unwrap_or(0),
                })
            }
            let mut by_kind: std::collections::BTreeMap<String, Vec<u32>> = Default::default();
            for t in &timed {
                by_kind.entry(t.kind.clone()).or_default().push(t.ns);
            }
            let all = summary(timed.iter().map(|t| t.ns).collect());
            let slowest_json = slowest_percent(&timed);
            let json = serde_json::json!({
                "run_id": report.run_id,
                "records": all["records"],
                "events": report.events,
                "delivered": report.delivered,
                "deliveries": report.deliveries,
                "backlogged": report.backlogged,
                "spooled": report.pending,
                "dropped": report.dropped,
                "emit_ns_p50": all["p50"],
                "emit_ns_p99": all["p99"],
                "emit_ns_max": all["max"],
                "emit_slowest_percent": slowest_json,
                "threads_cpu_ns": threads,
                "emit_ns_by_kind": by_kind
                    .into_iter()
                    .map(|(k, v)| (k, summary(v)))
                    .collect::<serde_json::Map<_, _>>(),
            });
            if let Err(e) = std::fs::write(&stats.path, json.to_string()) {
                eprintln!(
                    "flowo: warning: cannot write statistics to {}: {e}",
                    stats.path.display()
                );
            }
        }
    }
}

/// The `flowo` command (the wheel's console script): runs with `sys.argv` and exits.
#[pyfunction]
fn main(py: Python<'_>) -> PyResult<()> {
    let sys = py.import("sys")?;
    let argv: Vec<String> = sys.getattr("argv")?.extract()?;
    let mut args: Vec<OsString> = argv.into_iter().map(OsString::from).collect();
    if let Some(first) = args.first_mut() {
        *first = OsString::from("flowo");
    }
    // Let Ctrl-C stop the command as it stops the `flowo` binary, rather than wait for
    // Python's handler, which cannot run while the command holds the thread.
    let signal = py.import("signal")?;
    signal.call_method1(
        "signal",
        (signal.getattr("SIGINT")?, signal.getattr("SIG_DFL")?),
    )?;
    let code = py.detach(|| flowo_cli::run_cli(args));
    Err(pyo3::exceptions::PySystemExit::new_err(i32::from(code)))
}

/// The module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Sink>()?;
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

//! Where the time of a section goes, roughly: CPU used by this process (the store's Rust code and,
//! for SQLite, the database itself) and by the local PostgreSQL server's processes, read from
//! `/proc` (Linux only; figures are omitted elsewhere or for a remote server). The rest of the
//! wall time is waiting: disk flushes, locks, round trips, or other load on the machine.

use std::collections::HashMap;
use std::time::Duration;

/// `/proc` reports CPU times in USER_HZ, which is 100 on Linux.
const TICKS_PER_SEC: f64 = 100.0;

/// utime + stime of a `/proc/<pid>/stat` file, in ticks.
fn ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the full line are 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn self_ticks() -> Option<u64> {
    ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// CPU ticks of every process named `postgres` (the server's backends and helpers), by pid.
fn postgres_ticks() -> Option<HashMap<u32, u64>> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let path = entry.path();
        let Some(pid) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if comm.trim() != "postgres" {
            continue;
        }
        if let Some(t) = std::fs::read_to_string(path.join("stat"))
            .ok()
            .as_deref()
            .and_then(ticks)
        {
            out.insert(pid, t);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// CPU seconds the server's processes used since `before`: processes that started since count
/// in full; processes that ended since are missing (an undercount, never negative).
fn postgres_secs_since(before: &HashMap<u32, u64>) -> Option<f64> {
    let now = postgres_ticks()?;
    let ticks: u64 = now
        .iter()
        .map(|(pid, t)| t.saturating_sub(before.get(pid).copied().unwrap_or(0)))
        .sum();
    Some(ticks as f64 / TICKS_PER_SEC)
}

/// The 1-minute load average.
pub fn load_avg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU counters at the start of a measurement.
pub struct CpuMark {
    this: Option<u64>,
    server: Option<HashMap<u32, u64>>,
}

impl CpuMark {
    pub fn now() -> Self {
        Self {
            this: self_ticks(),
            server: postgres_ticks(),
        }
    }

    /// Prints CPU used since the mark against `wall`.
    pub fn print_since(&self, wall: Duration) {
        let secs = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / TICKS_PER_SEC),
            _ => None,
        };
        let wall = wall.as_secs_f64();
        let this = secs(self.this, self_ticks());
        let server = self.server.as_ref().and_then(postgres_secs_since);
        let mut parts = Vec::new();
        if let Some(t) = this {
            parts.push(format!(
                "this process {t:.1} s CPU ({:.0}% of wall)",
                t / wall * 100.0
            ));
        }
        if let Some(t) = server {
            parts.push(format!(
                "local postgres processes {t:.1} s CPU ({:.0}% of wall)",
                t / wall * 100.0
            ));
        }
        if !parts.is_empty() {
            println!("cpu over {wall:.1} s wall: {}", parts.join(", "));
        }
    }
}

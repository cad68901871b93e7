//! The spool: events that could not be delivered yet, kept on disk in order until they are.
//!
//! One file per run, `<run_id>.spool.jsonl` in the spool directory (default
//! `$FLOWO_DATA_DIR/spool`). Its first line is a header naming the target and workspace (never
//! a token); every further line is one event envelope as JSON. Appends are flushed to disk
//! (`fdatasync`) before the writer reports success. The process that writes a run holds an
//! exclusive lock on its file, so `flowo sync` (or another run replaying leftovers) skips files
//! in use. A line that cannot be read (cut short, not JSON, not an event) is skipped and the
//! rest is still delivered; skipped lines are copied to `<run_id>.bad.jsonl` beside the spool
//! file (one JSON object per line: `reason` and the line's `text`), so that nothing is thrown
//! away unseen. Delivery is idempotent, so sending a file again after a partial delivery is
//! harmless.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use flowo_core::{EventEnvelope, RunId};
use serde::{Deserialize, Serialize};

use crate::config::FileConfig;
use crate::deliver::{DeliveryError, Destination, Timeouts, destination};
use crate::target::Target;

/// The spool file format's version.
const FORMAT: u32 = 1;
/// Events per delivery when replaying.
const REPLAY_BATCH: usize = 500;
/// File name suffix of spool files.
const SUFFIX: &str = ".spool.jsonl";

/// The first line of a spool file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SpoolHeader {
    /// Format version.
    pub flowo_spool: u32,
    /// The run.
    pub run_id: RunId,
    /// Where the events go: a server or database URL (as configured, passwords included:
    /// the spool directory is as private as the data directory).
    pub target: String,
    /// The workspace new runs are recorded in.
    #[serde(default)]
    pub workspace: Option<String>,
}

/// A spool directory.
#[derive(Clone, Debug)]
pub struct Spool {
    dir: PathBuf,
}

/// A spooled run waiting for delivery.
#[derive(Clone, Debug)]
pub struct SpoolEntry {
    /// The file.
    pub path: PathBuf,
    /// The run.
    pub run_id: RunId,
    /// The target, password masked.
    pub target: String,
    /// The workspace.
    pub workspace: Option<String>,
    /// Event lines in the file.
    pub events: u64,
    /// File size.
    pub bytes: u64,
    /// Locked by a process that is still writing it (a running Snakemake).
    pub in_use: bool,
    /// Why the file cannot be delivered as it is (its header is unreadable): it is listed, and
    /// reported by [`sync`], rather than passed over. The run is then the one its name gives,
    /// and the target and workspace are unknown.
    pub problem: Option<String>,
}

/// Progress of [`sync`], after each delivered batch.
#[derive(Clone, Debug)]
pub struct SyncProgress {
    /// The run being delivered.
    pub run_id: RunId,
    /// Events of this run delivered so far.
    pub delivered: u64,
    /// Events of this run in the file.
    pub total: u64,
}

/// What [`sync`] did.
#[derive(Debug, Default)]
pub struct SyncReport {
    /// Runs whose spool was delivered completely (and removed).
    pub runs_delivered: u64,
    /// Events delivered.
    pub events_delivered: u64,
    /// Unreadable lines skipped.
    pub bad_lines: u64,
    /// For each file with unreadable lines: the file, how many, and where they were kept.
    pub bad_files: Vec<BadLines>,
    /// Files that could not be delivered, and why.
    pub failed: Vec<(PathBuf, String)>,
    /// Files skipped because a running process holds them.
    pub skipped_in_use: u64,
}

/// Unreadable lines of one spool file, skipped during delivery.
#[derive(Debug)]
pub struct BadLines {
    /// The spool file.
    pub spool_file: PathBuf,
    /// Lines skipped.
    pub count: u64,
    /// The file they were copied to.
    pub kept: PathBuf,
}

impl std::fmt::Display for BadLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "skipped {} unreadable lines of {}; they are kept in {}",
            self.count,
            self.spool_file.display(),
            self.kept.display()
        )
    }
}

/// A line of a spool file that is not an event.
#[derive(Clone, Debug)]
pub struct BadLine {
    /// Why it was skipped.
    pub reason: String,
    /// The line (invalid UTF-8 replaced), without its line break.
    pub text: String,
}

/// Why a spool file could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// Reading or writing the file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The header is missing or unreadable.
    #[error("{path}: not a FlowO spool file ({why})")]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The target refused or was unavailable.
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    /// Another process holds the file.
    #[error("{0}: in use by a running process")]
    InUse(PathBuf),
}

impl Spool {
    /// The default spool directory, `spool` in FlowO's data directory.
    pub fn default_dir() -> Option<PathBuf> {
        flowo_store::data_dir().map(|d| d.join("spool"))
    }

    /// Opens (creating) a spool directory; fails when it cannot be created or written.
    pub fn open(dir: &Path) -> io::Result<Spool> {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            // Spooled events may name private paths; keep them to their owner. Best effort: the
            // directory may belong to someone else who shares it on purpose.
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        let probe = dir.join(format!(".probe-{}", std::process::id()));
        File::create(&probe)?;
        let _ = std::fs::remove_file(&probe);
        Ok(Spool {
            dir: dir.to_owned(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of a run.
    pub fn path_of(&self, run_id: RunId) -> PathBuf {
        self.dir.join(format!("{run_id}{SUFFIX}"))
    }

    /// Opens the run's spool file for writing (creating it with its header), holding its lock
    /// until the writer is dropped.
    pub fn writer(
        &self,
        run_id: RunId,
        target: &Target,
        workspace: Option<&str>,
    ) -> Result<SpoolWriter, SpoolError> {
        let path = self.path_of(run_id);
        let io_err = |source| SpoolError::Io {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(SpoolError::InUse(path)),
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(e)),
        }
        let mut writer = SpoolWriter {
            file,
            path: path.clone(),
            read_offset: 0,
            pending: 0,
        };
        let len = writer.file.metadata().map_err(io_err)?.len();
        if len == 0 {
            let header = SpoolHeader {
                flowo_spool: FORMAT,
                run_id,
                target: target.url().to_owned(),
                workspace: workspace.map(str::to_owned),
            };
            let mut line = serde_json::to_vec(&header).unwrap_or_default();
            line.push(b'\n');
            if let Err(e) = writer.write_synced(&line) {
                // A full disk: leave no headless file behind (it would never be listed).
                let _ = std::fs::remove_file(&path);
                return Err(io_err(e));
            }
        }
        // Start replaying after the header.
        let (_, header_len) = read_header(&path, &writer.file)?;
        writer.read_offset = header_len;
        writer.pending = count_lines(&writer.file, header_len).map_err(io_err)?;
        Ok(writer)
    }

    /// The spooled runs, oldest file first.
    pub fn pending(&self) -> io::Result<Vec<SpoolEntry>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let path = entry.path();
            let is_spool = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(SUFFIX));
            if !is_spool {
                continue;
            }
            let Ok(file) = File::open(&path) else {
                continue;
            };
            let in_use = match file.try_lock_shared() {
                Ok(()) => {
                    let _ = file.unlock();
                    false
                }
                Err(_) => true,
            };
            let meta = file.metadata()?;
            let entry = match read_header(&path, &file) {
                Ok((header, header_len)) => SpoolEntry {
                    events: count_lines(&file, header_len)?,
                    path,
                    run_id: header.run_id,
                    target: flowo_store::mask_password(&header.target),
                    workspace: header.workspace,
                    bytes: meta.len(),
                    in_use,
                    problem: None,
                },
                // A file being created has no header yet: its writer holds it.
                Err(_) if in_use => continue,
                Err(e) => {
                    let run_id = path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .and_then(|n| n.strip_suffix(SUFFIX))
                        .and_then(|id| id.parse::<RunId>().ok())
                        .unwrap_or(RunId(uuid::Uuid::nil()));
                    SpoolEntry {
                        events: count_lines(&file, first_line_len(&file)?)?,
                        path,
                        run_id,
                        target: String::new(),
                        workspace: None,
                        bytes: meta.len(),
                        in_use: false,
                        problem: Some(e.to_string()),
                    }
                }
            };
            out.push((meta.modified().ok(), entry));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.path.cmp(&b.1.path)));
        Ok(out.into_iter().map(|(_, e)| e).collect())
    }
}

/// Reads the header line; returns it and the byte length of the line.
fn read_header(path: &Path, file: &File) -> Result<(SpoolHeader, u64), SpoolError> {
    let mut reader = BufReader::new(file);
    reader
        .seek(SeekFrom::Start(0))
        .map_err(|source| SpoolError::Io {
            path: path.to_owned(),
            source,
        })?;
    let mut line = String::new();
    let n = reader
        .read_line(&mut line)
        .map_err(|source| SpoolError::Io {
            path: path.to_owned(),
            source,
        })?;
    let header: SpoolHeader =
        serde_json::from_str(line.trim_end()).map_err(|e| SpoolError::BadHeader {
            path: path.to_owned(),
            why: e.to_string(),
        })?;
    if header.flowo_spool != FORMAT {
        return Err(SpoolError::BadHeader {
            path: path.to_owned(),
            why: format!("format {} is not {FORMAT}", header.flowo_spool),
        });
    }
    Ok((header, n as u64))
}

/// The byte length of the first line, with its newline.
fn first_line_len(file: &File) -> io::Result<u64> {
    let mut reader = BufReader::new(file);
    reader.seek(SeekFrom::Start(0))?;
    let mut line = Vec::new();
    Ok(reader.read_until(b'\n', &mut line)? as u64)
}

/// Non-empty lines from `offset` to the end.
fn count_lines(file: &File, offset: u64) -> io::Result<u64> {
    let mut reader = BufReader::new(file);
    reader.seek(SeekFrom::Start(offset))?;
    let mut n = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(n);
        }
        if line.iter().any(|b| !b.is_ascii_whitespace()) {
            n += 1;
        }
    }
}

/// A chunk read back from a spool file.
#[derive(Debug, Default)]
pub struct Chunk {
    /// The events, in file order.
    pub events: Vec<EventEnvelope>,
    /// Lines that were not events (skipped).
    pub bad: Vec<BadLine>,
    /// Where the next chunk starts.
    pub next_offset: u64,
}

/// The locked spool file of a run being written.
#[derive(Debug)]
pub struct SpoolWriter {
    file: File,
    path: PathBuf,
    /// Where replay continues (everything before it was delivered).
    read_offset: u64,
    /// Event lines after `read_offset`.
    pending: u64,
}

impl SpoolWriter {
    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Events in the file not yet delivered.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    fn write_synced(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.file.sync_data()
    }

    /// Appends events, durably. On failure (a full disk) the file is cut back to where it
    /// was, so that no half-written line is left in it.
    pub fn append(&mut self, events: &[EventEnvelope]) -> io::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(events.len() * 256);
        for e in events {
            serde_json::to_writer(&mut buf, e).map_err(io::Error::other)?;
            buf.push(b'\n');
        }
        let before = self.file.metadata()?.len();
        if let Err(e) = self.write_synced(&buf) {
            let _ = self.file.set_len(before);
            return Err(e);
        }
        self.pending += events.len() as u64;
        Ok(())
    }

    /// Reads up to `max` events from where replay stands (without moving it).
    pub fn peek(&self, max: usize) -> io::Result<Chunk> {
        read_chunk(&self.file, self.read_offset, max)
    }

    /// Marks a chunk returned by [`SpoolWriter::peek`] as delivered. When everything is
    /// delivered the file is emptied back to its header, so it does not grow without bound.
    pub fn consume(&mut self, chunk: &Chunk) -> io::Result<()> {
        self.read_offset = chunk.next_offset;
        self.pending = self
            .pending
            .saturating_sub(chunk.events.len() as u64 + chunk.bad.len() as u64);
        let len = self.file.metadata()?.len();
        if self.read_offset >= len {
            let (_, header_len) = read_header(&self.path, &self.file).map_err(io::Error::other)?;
            self.file.set_len(header_len)?;
            self.file.sync_data()?;
            self.read_offset = header_len;
            self.pending = 0;
        }
        Ok(())
    }

    /// Removes the file if nothing is left in it (the lock is released with it).
    pub fn finish(self) -> io::Result<bool> {
        if self.pending == 0 {
            std::fs::remove_file(&self.path)?;
            return Ok(true);
        }
        Ok(false)
    }
}

fn read_chunk(file: &File, offset: u64, max: usize) -> io::Result<Chunk> {
    let mut reader = BufReader::new(file);
    reader.seek(SeekFrom::Start(offset))?;
    let mut chunk = Chunk {
        next_offset: offset,
        ..Chunk::default()
    };
    let mut line = Vec::new();
    while chunk.events.len() < max {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        let text = || {
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            String::from_utf8_lossy(text).into_owned()
        };
        if line.last() != Some(&b'\n') {
            // A line cut short by a crash mid-write: it is the end of the file. Count it once
            // it can never be completed (the writer is gone), which sync does by consuming it.
            chunk.next_offset += n as u64;
            chunk.bad.push(BadLine {
                reason: "cut short (no line end): the writer stopped mid-line".into(),
                text: text(),
            });
            break;
        }
        chunk.next_offset += n as u64;
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match serde_json::from_slice::<EventEnvelope>(&line) {
            Ok(e) => chunk.events.push(e),
            Err(e) => chunk.bad.push(BadLine {
                reason: format!("not an event: {e}"),
                text: text(),
            }),
        }
    }
    Ok(chunk)
}

/// The file unreadable lines of a run's spool are copied to.
pub fn bad_path(dir: &Path, run_id: RunId) -> PathBuf {
    dir.join(format!("{run_id}.bad.jsonl"))
}

/// Appends unreadable spool lines to `<run_id>.bad.jsonl` in `dir` (`{"reason", "text"}` per
/// line), so that they can be looked at and mended; returns the file.
pub fn keep_bad(dir: &Path, run_id: RunId, bad: &[BadLine]) -> io::Result<PathBuf> {
    let path = bad_path(dir, run_id);
    let mut out = Vec::new();
    for b in bad {
        let line = serde_json::json!({ "reason": b.reason, "text": b.text });
        serde_json::to_writer(&mut out, &line).map_err(io::Error::other)?;
        out.push(b'\n');
    }
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    file.write_all(&out)?;
    file.sync_data()?;
    Ok(path)
}

/// Delivers `events`; when the target refuses a batch, splits it to deliver everything but the
/// refused events, which are returned with the reason. Unavailability is returned as an error.
pub async fn deliver_isolating(
    dest: &dyn Destination,
    events: &[EventEnvelope],
) -> Result<Vec<(EventEnvelope, String)>, DeliveryError> {
    let mut refused = Vec::new();
    let mut stack = vec![events];
    while let Some(part) = stack.pop() {
        if part.is_empty() {
            continue;
        }
        match dest.deliver(part).await {
            Ok(_) => {}
            Err(e) if e.is_rejection() => {
                if part.len() == 1 {
                    refused.push((part[0].clone(), e.to_string()));
                } else {
                    let (a, b) = part.split_at(part.len() / 2);
                    // Second half pushed first so the first half is delivered first.
                    stack.push(b);
                    stack.push(a);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(refused)
}

/// Writes events a target refused next to the spool (`<run>.refused.jsonl`), so that nothing is
/// thrown away; returns the file.
pub fn keep_refused(
    dir: &Path,
    run_id: RunId,
    refused: &[(EventEnvelope, String)],
) -> io::Result<PathBuf> {
    let path = dir.join(format!("{run_id}.refused.jsonl"));
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    for (event, why) in refused {
        let line = serde_json::json!({ "reason": why, "event": event });
        serde_json::to_writer(&mut file, &line).map_err(io::Error::other)?;
        file.write_all(b"\n")?;
    }
    file.sync_data()?;
    Ok(path)
}

/// Delivers every spooled run that no running process holds, each to the target its header
/// names (with the token `FLOWO_TOKEN` or the config file gives for that server). A delivered
/// file is removed.
pub async fn sync(
    spool: &Spool,
    file: &FileConfig,
    progress: &mut (dyn FnMut(&SyncProgress) + Send),
) -> SyncReport {
    sync_matching(spool, file, None, progress).await
}

/// [`sync`], limited to files for one target URL when `only_target` is given (a run replaying
/// leftovers to the server it reports to).
pub async fn sync_matching(
    spool: &Spool,
    file: &FileConfig,
    only_target: Option<&str>,
    progress: &mut (dyn FnMut(&SyncProgress) + Send),
) -> SyncReport {
    let mut report = SyncReport::default();
    let entries = match spool.pending() {
        Ok(entries) => entries,
        Err(e) => {
            report
                .failed
                .push((spool.dir().to_owned(), format!("cannot list: {e}")));
            return report;
        }
    };
    for entry in entries {
        if entry.in_use {
            report.skipped_in_use += 1;
            continue;
        }
        match sync_file(spool, &entry, file, only_target, progress, &mut report).await {
            Ok(true) => report.runs_delivered += 1,
            Ok(false) => {}
            Err(SpoolError::InUse(_)) => report.skipped_in_use += 1,
            Err(e) => report.failed.push((entry.path.clone(), e.to_string())),
        }
    }
    report
}

/// Delivers one file; `Ok(false)` when it was skipped (another target).
async fn sync_file(
    spool: &Spool,
    entry: &SpoolEntry,
    config: &FileConfig,
    only_target: Option<&str>,
    progress: &mut (dyn FnMut(&SyncProgress) + Send),
    report: &mut SyncReport,
) -> Result<bool, SpoolError> {
    let path = &entry.path;
    let io_err = |source| SpoolError::Io {
        path: path.clone(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(SpoolError::InUse(path.clone())),
        Err(std::fs::TryLockError::Error(e)) => return Err(io_err(e)),
    }
    // The file may have been emptied and removed by its writer between listing and locking;
    // then the path may name a newer file, which is not ours to remove.
    if !same_file(&file, path) {
        return Ok(false);
    }
    let (header, header_len) = read_header(path, &file)?;
    if only_target.is_some_and(|t| t != header.target) {
        return Ok(false);
    }
    let target = Target::from_url(&header.target, config).map_err(|e| SpoolError::BadHeader {
        path: path.clone(),
        why: e.to_string(),
    })?;
    let dest = destination(&target, header.workspace.as_deref(), Timeouts::default())?;
    let mut offset = header_len;
    let mut delivered = 0;
    let mut refused_all = Vec::new();
    let mut bad_all = Vec::new();
    loop {
        let chunk = read_chunk(&file, offset, REPLAY_BATCH).map_err(io_err)?;
        if chunk.events.is_empty() && chunk.bad.is_empty() {
            break;
        }
        let refused = deliver_isolating(dest.as_ref(), &chunk.events).await?;
        delivered += chunk.events.len() as u64 - refused.len() as u64;
        report.events_delivered += chunk.events.len() as u64 - refused.len() as u64;
        bad_all.extend(chunk.bad);
        refused_all.extend(refused);
        offset = chunk.next_offset;
        progress(&SyncProgress {
            run_id: header.run_id,
            delivered,
            total: entry.events,
        });
    }
    if !bad_all.is_empty() {
        // Kept before the spool file goes, and the spool file stays if they cannot be: a
        // crash in between copies them again on the next sync rather than losing them.
        let kept =
            keep_bad(spool.dir(), header.run_id, &bad_all).map_err(|source| SpoolError::Io {
                path: bad_path(spool.dir(), header.run_id),
                source,
            })?;
        report.bad_lines += bad_all.len() as u64;
        report.bad_files.push(BadLines {
            spool_file: path.clone(),
            count: bad_all.len() as u64,
            kept,
        });
    }
    if !refused_all.is_empty() {
        let kept = keep_refused(spool.dir(), header.run_id, &refused_all).map_err(io_err)?;
        report.failed.push((
            path.clone(),
            format!(
                "{} events refused by {}; kept in {}",
                refused_all.len(),
                target.describe(),
                kept.display()
            ),
        ));
    }
    std::fs::remove_file(path).map_err(io_err)?;
    Ok(true)
}

/// Whether the open file is still the one at `path`.
fn same_file(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(run_id: RunId, seq: u64) -> EventEnvelope {
        flowo_testkit::fixtures::heartbeats(run_id, seq..seq + 1).remove(0)
    }

    #[test]
    fn append_peek_consume_and_list() {
        let dir = tempfile::tempdir().expect("temp dir");
        let spool = Spool::open(dir.path()).expect("open");
        let run = RunId::new_random();
        let target = Target::Database {
            url: "sqlite:///x.db".into(),
        };
        let mut w = spool.writer(run, &target, Some("lab")).expect("writer");
        w.append(&[event(run, 0), event(run, 1), event(run, 2)])
            .expect("append");
        assert_eq!(w.pending(), 3);
        let listed = spool.pending().expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].events, 3);
        assert!(listed[0].in_use, "the writer holds the lock");
        assert_eq!(listed[0].workspace.as_deref(), Some("lab"));

        // A second writer for the same run (another process) is refused.
        assert!(matches!(
            spool.writer(run, &target, None),
            Err(SpoolError::InUse(_))
        ));

        let chunk = w.peek(2).expect("peek");
        assert_eq!(
            chunk.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [0, 1]
        );
        w.consume(&chunk).expect("consume");
        assert_eq!(w.pending(), 1);
        let chunk = w.peek(10).expect("peek");
        assert_eq!(chunk.events.len(), 1);
        w.consume(&chunk).expect("consume");
        assert_eq!(w.pending(), 0);
        assert!(w.finish().expect("finish"));
        assert!(spool.pending().expect("list").is_empty());
    }

    #[test]
    fn bad_lines_are_skipped_and_counted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let spool = Spool::open(dir.path()).expect("open");
        let run = RunId::new_random();
        let target = Target::Database {
            url: "sqlite:///x.db".into(),
        };
        let mut w = spool.writer(run, &target, None).expect("writer");
        w.append(&[event(run, 0)]).expect("append");
        w.write_synced(b"{not json\n").expect("write");
        w.append(&[event(run, 2)]).expect("append");
        w.write_synced(b"{\"cut\":").expect("write");
        let chunk = w.peek(10).expect("peek");
        assert_eq!(
            chunk.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [0, 2]
        );
        let texts: Vec<_> = chunk.bad.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(texts, ["{not json", "{\"cut\":"]);

        let kept = keep_bad(dir.path(), run, &chunk.bad).expect("keep");
        assert_eq!(kept, bad_path(dir.path(), run));
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&kept)
            .expect("read")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["text"], "{not json");
        assert!(
            lines[1]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("cut short"))
        );
    }
}

//! The plugin's engine: Snakemake's records in, delivered events out, without ever making
//! Snakemake wait.
//!
//! [`Sink::record`] is called on Snakemake's logging thread; it only hands the record to a
//! bounded queue and returns. A background thread, scheduled below Snakemake's ([`NICENESS`]),
//! owns everything else: it numbers the events (one sequence per run, from 0), adds FlowO's
//! own (`run_labels`, `run_context`, `run_source`, `job_logs`, `job_benchmark`, `heartbeat`,
//! `run_finished`), batches them (a batch goes out when Snakemake goes quiet, else at
//! [`SinkSettings::flush_interval`] or [`SinkSettings::batch_max`] events), delivers each
//! batch, and on any failure appends it to the run's spool file and retries with backoff,
//! replaying the spool in order once the target answers again. [`Sink::close`] waits a bounded
//! time for the last delivery and leaves what is left in the spool, saying where.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};

use crossbeam_queue::ArrayQueue;
use std::time::{Duration, Instant};

use flowo_core::event::{
    Event, JobBenchmark, JobLogs, RunContext, RunFinished, RunLabels, RunOutcome, RunSource,
};
use flowo_core::{EventEnvelope, JobId, RunId, Timestamp};
use serde_json::{Map, Value};

use crate::config::FileConfig;
use crate::deliver::{Destination, Timeouts, destination};
use crate::sources;
use crate::spool::{self, Chunk, Spool, SpoolWriter};
use crate::target::Target;

/// Exceptions Snakemake raises for one job; any other `error` means the workflow failed.
const JOB_EXCEPTIONS: &[&str] = &[
    "RuleException",
    "SpawnedJobError",
    "CalledProcessError",
    "MissingOutputException",
];
/// The kinds [`Worker::observe`] looks at.
const OBSERVED: &[&str] = &[
    "workflow_started",
    "job_info",
    "job_finished",
    "job_error",
    "error",
    "log",
];
/// Longest pause between retries while the target is unavailable.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Events kept in memory when there is no spool directory to write to.
const MEMORY_BACKLOG_MAX: usize = 1_000_000;

/// How the sink behaves; [`SinkSettings::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct SinkSettings {
    /// Where events go.
    pub target: Target,
    /// The workspace new runs are recorded in.
    pub workspace: Option<String>,
    /// The spool directory (`None`: keep undelivered events in memory only).
    pub spool_dir: Option<PathBuf>,
    /// The config file's values (tokens for replaying leftover spools).
    pub file_config: FileConfig,
    /// Longest time an event waits before its batch is sent while records keep coming (a batch
    /// is sent about 20 ms after they stop); the default depends on the target
    /// ([`default_flush_interval`]).
    pub flush_interval: Duration,
    /// Most events per batch, whether sent as it fills or replayed from the spool.
    pub batch_max: usize,
    /// Records the queue holds before new ones are dropped (and counted).
    pub queue_capacity: usize,
    /// Longest time [`Sink::close`] waits for the last delivery.
    pub close_timeout: Duration,
    /// A heartbeat is sent after this long without any event.
    pub heartbeat_interval: Duration,
    /// Largest tail of each job log file shipped (0: none).
    pub log_tail_bytes: usize,
    /// The run's labels (sent first).
    pub labels: RunLabels,
    /// The run's context (sent second).
    pub context: RunContext,
    /// Print the start line and warnings to stderr.
    pub verbose: bool,
}

/// The default [`SinkSettings::flush_interval`] for a target: 50 ms to a server or a
/// PostgreSQL database, whose readers hear of each commit at once (the server's live stream,
/// `LISTEN`), and 250 ms into an SQLite file. Another process reading that file (`flowo serve`
/// on the embedded store) sees the plugin's commits only by looking every 250 ms, so committing
/// more often than it looks buys little freshness, while each flush costs about 1.5 ms of the
/// plugin's CPU beside Snakemake (BENCHMARKS.md). The interval only bounds a steady stream of
/// records: a burst is sent as soon as Snakemake goes quiet.
pub fn default_flush_interval(target: &Target) -> Duration {
    match target {
        Target::Database { url } if url.trim().to_ascii_lowercase().starts_with("sqlite:") => {
            Duration::from_millis(250)
        }
        Target::Database { .. } | Target::Server { .. } => Duration::from_millis(50),
    }
}

impl SinkSettings {
    /// Defaults for a target.
    pub fn new(target: Target) -> Self {
        Self {
            flush_interval: default_flush_interval(&target),
            target,
            workspace: None,
            spool_dir: Spool::default_dir(),
            file_config: FileConfig::default(),
            batch_max: 500,
            queue_capacity: 100_000,
            close_timeout: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(30),
            log_tail_bytes: 16 * 1024,
            labels: RunLabels::default(),
            context: RunContext::default(),
            verbose: true,
        }
    }
}

/// One Snakemake log record: its creation time (epoch seconds) and its attributes (`event`,
/// `message`, `levelname` and the event's extra fields) as the text of a JSON object. The
/// plugin writes that text straight from the Python objects: one buffer per record is cheaper
/// on Snakemake's logging thread than a tree of values, and the sink's thread parses it.
#[derive(Debug)]
pub struct Record {
    /// `record.created`.
    pub created: f64,
    /// The attributes, a JSON object.
    pub json: Vec<u8>,
}

impl Record {
    /// A record from attributes already in JSON form.
    pub fn from_attrs(created: f64, attrs: &Map<String, Value>) -> Self {
        Self {
            created,
            json: serde_json::to_vec(attrs).unwrap_or_else(|_| b"{}".to_vec()),
        }
    }
}

/// Buffers kept for reuse by [`Sink::buffer`]: more than the records that arrive between two
/// looks of the worker at the queue in a burst.
const SPARE_BUFFERS: usize = 1024;

/// Largest buffer kept for reuse (a huge record's is freed).
const SPARE_KEEP: usize = 16 * 1024;

/// Capacity of a new buffer: most records fit.
const FRESH_BUFFER: usize = 1024;

enum Msg {
    Record(Record),
    Close(SyncSender<CloseReport>),
}

/// What happened to a run's events, reported by [`Sink::close`].
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CloseReport {
    /// The run.
    pub run_id: Option<RunId>,
    /// Events numbered (Snakemake's plus FlowO's own).
    pub events: u64,
    /// Events the target acknowledged.
    pub delivered: u64,
    /// Deliveries the target acknowledged (batches and spool replays: each one append to a
    /// database or one request to a server), the measure of what the flush interval costs.
    pub deliveries: u64,
    /// Events that waited in the backlog (the spool, or memory) behind a delivery that failed:
    /// zero while the target answers, however slowly.
    pub backlogged: u64,
    /// Events left in the spool (or in memory, when there is none).
    pub pending: u64,
    /// The spool file holding them.
    pub spool_file: Option<PathBuf>,
    /// Records dropped because the queue was full.
    pub dropped: u64,
    /// Whether the worker finished within the close timeout.
    pub finished: bool,
}

/// How much lower the sink's threads are scheduled than the thread that started it (a `nice`
/// increment). Against each busy thread of Snakemake or of its jobs, a thread 10 lower gets
/// about a tenth of the share of a core: the sink's work (a few percent of one core in the
/// busiest runs) waits for Snakemake's scheduler and its jobs rather than delaying them, and
/// it is never starved, so the queue still drains on a machine that stays full. The price is
/// paid where other processes keep the machine full while Snakemake ends: the last delivery
/// gets the same smaller share (bounded by [`SinkSettings::close_timeout`], after which the
/// rest waits in the spool).
pub const NICENESS: i32 = 10;

/// Lowers the calling thread's scheduling priority by [`NICENESS`]; the threads it starts
/// afterwards (the I/O runtime's, the embedded store's SQLite worker) inherit it. On Linux the
/// nice value is a thread's own, so Snakemake's threads keep theirs.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn yield_to_snakemake() {
    // SAFETY: nice(2) takes an integer and touches no memory of ours; on Linux it changes
    // only the calling thread. A failure (-1) leaves the priority as it was, which is harmless.
    unsafe {
        libc::nice(NICENESS);
    }
}

/// Elsewhere the nice value is the whole process's: it is left alone.
#[cfg(not(target_os = "linux"))]
fn yield_to_snakemake() {}

/// How often the worker looks for new records. A record waits at most this long to be taken
/// up; a batch is sent at the first look that finds nothing new (so a burst of records goes
/// out about one poll after it ends), else once it is [`SinkSettings::flush_interval`] old.
const POLL: Duration = Duration::from_millis(20);

/// What the recording thread and the worker share.
struct Shared {
    queue: ArrayQueue<Msg>,
    /// Records dropped because the queue was full.
    dropped: AtomicU64,
    /// Wake the worker once this many records wait.
    wake_at: usize,
    /// Buffers of records the worker is done with, for the next records' JSON
    /// ([`Sink::buffer`]).
    spare: ArrayQueue<Vec<u8>>,
    /// Snakemake is ending: a delivery in flight is given up (its batch goes to the backlog)
    /// so that the close timeout is spent on the ending, not on a request that may not come
    /// back in time (a proxy holding it while no server is up, a server that hangs).
    closing: AtomicBool,
    /// Rung when `closing` is set.
    closing_bell: tokio::sync::Notify,
}

/// The plugin's engine for one run.
pub struct Sink {
    run_id: RunId,
    shared: Arc<Shared>,
    closed: AtomicBool,
    close_timeout: Duration,
    worker: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Sink {
    /// Starts the background thread for a new run. Never fails: problems become warnings and
    /// the events are kept for later.
    pub fn start(settings: SinkSettings) -> Sink {
        let run_id = RunId::new_random();
        let shared = Arc::new(Shared {
            queue: ArrayQueue::new(settings.queue_capacity.max(2)),
            dropped: AtomicU64::new(0),
            wake_at: settings.batch_max.max(1),
            spare: ArrayQueue::new(SPARE_BUFFERS),
            closing: AtomicBool::new(false),
            closing_bell: tokio::sync::Notify::new(),
        });
        if settings.verbose {
            eprintln!(
                "flowo: recording run {run_id} to {}",
                settings.target.describe()
            );
        }
        let close_timeout = settings.close_timeout;
        let worker_shared = shared.clone();
        let worker = std::thread::Builder::new()
            .name("flowo-sink".into())
            .spawn(move || {
                yield_to_snakemake();
                Worker::new(run_id, settings, worker_shared.clone()).run(&worker_shared)
            })
            .map_err(|e| eprintln!("flowo: warning: cannot start the delivery thread: {e}"))
            .ok();
        Sink {
            run_id,
            shared,
            closed: AtomicBool::new(worker.is_none()),
            close_timeout,
            worker: Mutex::new(worker),
        }
    }

    /// The run's id.
    pub fn run_id(&self) -> RunId {
        self.run_id
    }

    fn wake(&self) {
        if let Some(handle) = self
            .worker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            handle.thread().unpark();
        }
    }

    /// An empty buffer for a record's JSON: one the worker is done with where there is one.
    ///
    /// Reused buffers keep the logging thread's `emit()` off the allocator. A record's buffer
    /// is allocated on that thread and freed on the worker's; after a burst, the freed memory
    /// went back to the system and the next burst's buffers took a page fault each time a new
    /// page was touched, a few microseconds inside `emit()` (FLOWO_PLUGIN_STATS counts them).
    pub fn buffer(&self) -> Vec<u8> {
        self.shared
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(FRESH_BUFFER))
    }

    /// Queues a record; never blocks and makes no system call unless the worker sleeps. A full
    /// queue drops the record and counts it.
    pub fn record(&self, record: Record) {
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        if self.shared.queue.push(Msg::Record(record)).is_err() {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
        // No system call here: the worker looks at the queue on its own (every POLL at
        // most); it is only woken when a whole batch is waiting. Waking it for each first
        // record would let the scheduler run it in the middle of Snakemake's logging.
        if self.shared.queue.len() == self.shared.wake_at {
            self.wake();
        }
    }

    /// Ends the run: sends `run_finished`, waits at most the close timeout for delivery, and
    /// leaves the rest in the spool. Later calls return an empty report.
    pub fn close(&self) -> CloseReport {
        if self.closed.swap(true, Ordering::SeqCst) {
            return CloseReport::default();
        }
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        self.shared.closing.store(true, Ordering::SeqCst);
        self.shared.closing_bell.notify_waiters();
        // The queue may be full: wait for room, but not longer than the close timeout.
        let deadline = Instant::now() + self.close_timeout;
        let mut msg = Msg::Close(done_tx);
        loop {
            match self.shared.queue.push(msg) {
                Ok(()) => break,
                Err(m) if Instant::now() < deadline => {
                    msg = m;
                    self.wake();
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => return CloseReport::default(),
            }
        }
        self.wake();
        // The worker itself bounds its delivery by the close timeout; the margin covers
        // writing the spool.
        let report = done_rx
            .recv_timeout(self.close_timeout + Duration::from_secs(2))
            .unwrap_or_default();
        if report.finished
            && let Some(handle) = self.worker.lock().unwrap_or_else(|e| e.into_inner()).take()
        {
            let _ = handle.join();
        }
        report
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        // A sink dropped without close (the handler garbage-collected) still ends its run.
        if !self.closed.load(Ordering::SeqCst) {
            let _ = self.close();
        }
    }
}

/// Undelivered events, on disk when a spool directory is writable, else in memory.
enum Backlog {
    Disk(SpoolWriter),
    Memory(VecDeque<EventEnvelope>),
}

impl Backlog {
    fn pending(&self) -> u64 {
        match self {
            Backlog::Disk(w) => w.pending(),
            Backlog::Memory(q) => q.len() as u64,
        }
    }
}

/// Why a delivery did not happen.
enum Unsent {
    /// The target failed or did not answer (said once as a warning).
    Failed(String),
    /// Given up because Snakemake is ending; the ending retries it within the close timeout.
    Interrupted,
}

/// What the worker remembers about jobs to ship their logs and benchmarks.
#[derive(Default)]
struct JobFiles {
    logs: Vec<String>,
    benchmark: Option<String>,
}

struct Worker {
    run_id: RunId,
    settings: SinkSettings,
    runtime: Option<tokio::runtime::Runtime>,
    dest: Option<Box<dyn Destination>>,
    spool: Option<Spool>,
    backlog: Option<Backlog>,
    /// Batches whose delivery the ending interrupted, in order: sent again at once, within
    /// the close timeout, and only then, if that fails, kept in the backlog.
    given_up: Vec<Vec<EventEnvelope>>,
    batch: Vec<EventEnvelope>,
    next_seq: u64,
    delivered: u64,
    deliveries: u64,
    backlogged: u64,
    shared: Arc<Shared>,
    batch_started: Option<Instant>,
    last_event: Instant,
    retry_at: Option<Instant>,
    backoff: Duration,
    warned: std::collections::HashSet<String>,
    leftovers_started: bool,
    // What the worker saw, for run_finished and for shipping files.
    workdir: Option<PathBuf>,
    saw_workflow_started: bool,
    sources_captured: bool,
    first_error_message: Option<String>,
    workflow_failed: bool,
    interrupted: bool,
    job_files: HashMap<JobId, JobFiles>,
}

impl Worker {
    fn new(run_id: RunId, settings: SinkSettings, shared: Arc<Shared>) -> Self {
        let mut warned = std::collections::HashSet::new();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("flowo-sink-io")
            .enable_all()
            .build()
            .map_err(|e| warn_once(&mut warned, format!("cannot start the I/O runtime: {e}")))
            .ok();
        let dest = match destination(
            &settings.target,
            settings.workspace.as_deref(),
            Timeouts::default(),
        ) {
            Ok(d) => Some(d),
            Err(e) => {
                warn_once(&mut warned, e.to_string());
                None
            }
        };
        let spool = settings.spool_dir.as_deref().and_then(|dir| match Spool::open(dir) {
            Ok(s) => Some(s),
            Err(e) => {
                // Keep undelivered events on disk somewhere rather than only in memory.
                let fallback = std::env::temp_dir().join(format!("flowo-spool-{}", user_tag()));
                match Spool::open(&fallback) {
                    Ok(s) => {
                        warn_once(
                            &mut warned,
                            format!(
                                "the spool directory {} is not writable ({e}); using {} instead",
                                dir.display(),
                                fallback.display()
                            ),
                        );
                        Some(s)
                    }
                    Err(_) => {
                        warn_once(
                            &mut warned,
                            format!(
                                "the spool directory {} is not writable ({e}); events that cannot \
                                 be delivered are kept in memory only",
                                dir.display()
                            ),
                        );
                        None
                    }
                }
            }
        });
        let workdir = settings.context.workdir.as_deref().map(PathBuf::from);
        Worker {
            run_id,
            runtime,
            dest,
            spool,
            backlog: None,
            given_up: Vec::new(),
            batch: Vec::new(),
            next_seq: 0,
            delivered: 0,
            deliveries: 0,
            backlogged: 0,
            shared,
            batch_started: None,
            last_event: Instant::now(),
            retry_at: None,
            backoff: Duration::from_secs(1),
            warned,
            leftovers_started: false,
            workdir,
            saw_workflow_started: false,
            sources_captured: false,
            first_error_message: None,
            workflow_failed: false,
            interrupted: false,
            job_files: HashMap::new(),
            settings,
        }
    }

    fn warn(&mut self, message: String) {
        if self.settings.verbose {
            warn_once(&mut self.warned, message);
        }
    }

    /// Says why a delivery failed; one given up for the ending is retried there, silently.
    fn warn_unsent(&mut self, unsent: Unsent) {
        if let Unsent::Failed(why) = unsent {
            self.warn(why);
        }
    }

    fn run(mut self, shared: &Shared) {
        let start = chrono::Utc::now();
        self.push(start, &Event::RunLabels(self.settings.labels.clone()));
        self.push(start, &Event::RunContext(self.settings.context.clone()));
        loop {
            let mut arrived = false;
            while let Some(msg) = shared.queue.pop() {
                arrived = true;
                match msg {
                    Msg::Record(r) => {
                        self.ingest(&r);
                        let mut json = r.json;
                        if json.capacity() <= SPARE_KEEP {
                            json.clear();
                            // A full stock of buffers frees this one.
                            let _ = shared.spare.push(json);
                        }
                        if self.batch.len() >= self.settings.batch_max {
                            self.flush(None);
                        }
                    }
                    Msg::Close(done) => return self.finish(Some(done)),
                }
            }
            // Snakemake went quiet (a job's burst of records is over): send now rather than
            // at the flush interval. While records keep coming, they are batched; while the
            // target is away, batches go to the spool, where sooner helps no reader and each
            // append is a sync to disk.
            if !arrived && self.batch_started.is_some() && !self.held_back() {
                self.flush(None);
            }
            self.tick();
            let wait = self
                .next_wakeup()
                .saturating_duration_since(Instant::now())
                .min(POLL);
            std::thread::park_timeout(wait);
        }
    }

    /// The next moment something is due: the batch's flush, a heartbeat or a retry.
    fn next_wakeup(&self) -> Instant {
        let mut at = self.last_event + self.settings.heartbeat_interval;
        if let Some(started) = self.batch_started {
            at = at.min(started + self.settings.flush_interval);
        }
        if let Some(retry) = self.retry_at {
            at = at.min(retry);
        }
        at
    }

    fn tick(&mut self) {
        let now = Instant::now();
        if now >= self.last_event + self.settings.heartbeat_interval {
            self.push(chrono::Utc::now(), &Event::Heartbeat);
        }
        let due = self
            .batch_started
            .is_some_and(|t| now >= t + self.settings.flush_interval);
        if due || self.batch.len() >= self.settings.batch_max {
            self.flush(None);
        }
        if self.retry_at.is_some_and(|t| now >= t) {
            self.replay(None);
        }
    }

    /// Numbers an event and adds it to the batch.
    fn push(&mut self, at: Timestamp, event: &Event) {
        self.push_raw(at, event.kind().to_owned(), event.data());
    }

    fn push_raw(&mut self, at: Timestamp, kind: String, data: Value) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.batch.push(EventEnvelope {
            run_id: self.run_id,
            seq,
            recorded_at: at,
            received_at: None,
            kind,
            data,
        });
        self.batch_started.get_or_insert_with(Instant::now);
        self.last_event = Instant::now();
    }

    /// Turns a record into its event, and adds the events FlowO derives from it.
    fn ingest(&mut self, record: &Record) {
        let at =
            flowo_core::record::time_from_secs(record.created).unwrap_or_else(chrono::Utc::now);
        let Ok(attrs) = serde_json::from_slice::<Map<String, Value>>(&record.json) else {
            self.warn("a record that is not a JSON object was skipped".into());
            return;
        };
        let Ok((kind, data)) = flowo_core::record::payload_from_attrs(attrs) else {
            return;
        };
        // Only the kinds the sink acts on are decoded; the rest go out as they came.
        let event = OBSERVED
            .contains(&kind.as_str())
            .then(|| Event::decode(&kind, &data).ok())
            .flatten();
        self.push_raw(at, kind, data);
        if let Some(event) = event {
            self.observe(at, &event);
        }
    }

    fn observe(&mut self, at: Timestamp, event: &Event) {
        match event {
            Event::WorkflowStarted(w) => {
                self.saw_workflow_started = true;
                if let Some(cwd) = w.cwd.as_deref().or(w.rundir.as_deref()) {
                    self.workdir = Some(PathBuf::from(cwd));
                }
                if let Some(snakefile) = w.snakefile.clone() {
                    self.capture_sources(at, Path::new(&snakefile), &w.configfiles.clone());
                }
            }
            Event::JobInfo(info) if (!info.log.is_empty() || info.benchmark.is_some()) => {
                self.job_files.insert(
                    info.jobid,
                    JobFiles {
                        logs: info.log.clone(),
                        benchmark: info.benchmark.clone(),
                    },
                );
            }
            Event::JobFinished(f) => {
                if let Some(files) = self.job_files.remove(&f.job_id) {
                    self.ship_job_files(at, f.job_id, &files.logs, files.benchmark.as_deref());
                }
            }
            Event::JobError(e) => {
                let logs = if e.log.is_empty() {
                    self.job_files
                        .get(&e.jobid)
                        .map(|f| f.logs.clone())
                        .unwrap_or_default()
                } else {
                    e.log.clone()
                };
                self.ship_job_files(at, e.jobid, &logs, None);
            }
            Event::Error(e) => {
                let job_level = e
                    .exception
                    .as_deref()
                    .is_some_and(|x| JOB_EXCEPTIONS.contains(&x));
                if !job_level {
                    self.workflow_failed = true;
                }
                if self.first_error_message.is_none() {
                    self.first_error_message = e.message.clone();
                }
            }
            Event::Log(log) => {
                let text = log.message.trim_start();
                if text.starts_with("Terminating processes on user request")
                    || text.starts_with("Will exit after finishing currently running jobs")
                {
                    self.interrupted = true;
                }
            }
            _ => {}
        }
    }

    fn capture_sources(&mut self, at: Timestamp, snakefile: &Path, configfiles: &[String]) {
        if self.sources_captured {
            return;
        }
        self.sources_captured = true;
        let workdir = self
            .workdir
            .clone()
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        let snakefile = if snakefile.is_absolute() {
            snakefile.to_owned()
        } else {
            workdir.join(snakefile)
        };
        for (role, file) in sources::capture_sources(&snakefile, configfiles, &workdir) {
            self.push(at, &Event::RunSource(RunSource { role, file }));
        }
    }

    fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            return p.to_owned();
        }
        match &self.workdir {
            Some(dir) => dir.join(p),
            None => p.to_owned(),
        }
    }

    fn ship_job_files(
        &mut self,
        at: Timestamp,
        job_id: JobId,
        logs: &[String],
        benchmark: Option<&str>,
    ) {
        if self.settings.log_tail_bytes > 0 && !logs.is_empty() {
            // Keep one event well under the server's per-event limit whatever the number of
            // log files.
            let per_file = self
                .settings
                .log_tail_bytes
                .min(512 * 1024 / logs.len().max(1));
            let files: Vec<_> = logs
                .iter()
                .filter_map(|l| sources::read_tail(&self.resolve(l), per_file))
                .collect();
            if !files.is_empty() {
                self.push(at, &Event::JobLogs(JobLogs { job_id, files }));
            }
        }
        if let Some(path) = benchmark {
            let full = self.resolve(path);
            let values = std::fs::read_to_string(&full)
                .ok()
                .and_then(|t| sources::parse_benchmark(&t));
            if let Some(values) = values {
                self.push(
                    at,
                    &Event::JobBenchmark(JobBenchmark {
                        job_id,
                        path: Some(path.to_owned()),
                        values,
                    }),
                );
            }
        }
    }

    /// Sends the batch (see [`Worker::deliver`]). `deadline` bounds the attempt (at close).
    fn flush(&mut self, deadline: Option<Instant>) {
        self.batch_started = None;
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        self.deliver(batch, deadline);
    }

    /// Sends a batch, or adds it to the backlog when one is pending (to keep the order) or the
    /// delivery fails. A delivery the ending interrupts is not a failure: its batch waits in
    /// memory for the ending, which sends it again at once.
    fn deliver(&mut self, batch: Vec<EventEnvelope>, deadline: Option<Instant>) {
        if self.held_back() {
            self.add_to_backlog(&batch);
            return;
        }
        if !self.given_up.is_empty() {
            self.given_up.push(batch);
            return;
        }
        match self.send(&batch, deadline) {
            Ok(()) => {
                self.delivered += batch.len() as u64;
                self.start_leftovers();
            }
            Err(Unsent::Interrupted) => self.given_up.push(batch),
            Err(unsent) => {
                self.warn_unsent(unsent);
                self.add_to_backlog(&batch);
                self.schedule_retry();
            }
        }
    }

    /// Whether new batches wait behind undelivered ones (a retry is scheduled, or the backlog
    /// holds events): they go to the backlog, to keep the order.
    fn held_back(&self) -> bool {
        self.retry_at.is_some() || self.backlog.as_ref().is_some_and(|b| b.pending() > 0)
    }

    /// Delivers, keeping events the target refuses in a side file; `Err` when the target is
    /// unavailable.
    fn send(&mut self, events: &[EventEnvelope], deadline: Option<Instant>) -> Result<(), Unsent> {
        let (Some(rt), Some(dest)) = (self.runtime.as_ref(), self.dest.as_deref()) else {
            return Err(Unsent::Failed("no destination".into()));
        };
        let attempt = spool::deliver_isolating(dest, events);
        let result = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                match rt.block_on(async { tokio::time::timeout(left, attempt).await }) {
                    Ok(r) => r,
                    Err(_) => {
                        return Err(Unsent::Failed(format!(
                            "{} did not answer in time",
                            dest.describe()
                        )));
                    }
                }
            }
            None => {
                let shared = &self.shared;
                let given_up = rt.block_on(async {
                    let bell = shared.closing_bell.notified();
                    tokio::pin!(bell);
                    // Registered before the flag is read, so a close in between still rings.
                    bell.as_mut().enable();
                    if shared.closing.load(Ordering::SeqCst) {
                        return None;
                    }
                    tokio::select! {
                        r = attempt => Some(r),
                        () = bell => None,
                    }
                });
                match given_up {
                    Some(r) => r,
                    None => return Err(Unsent::Interrupted),
                }
            }
        };
        if result.is_ok() {
            self.deliveries += 1;
        }
        match result {
            Ok(refused) if refused.is_empty() => Ok(()),
            Ok(refused) => {
                let kept = self
                    .spool
                    .as_ref()
                    .map(|s| spool::keep_refused(s.dir(), self.run_id, &refused));
                let first = refused.first().map(|r| r.1.clone()).unwrap_or_default();
                let place = match kept {
                    Some(Ok(path)) => format!("kept in {}", path.display()),
                    _ => "not kept (no writable spool directory)".to_owned(),
                };
                self.warn(format!(
                    "{} events refused ({first}); {place}",
                    refused.len()
                ));
                Ok(())
            }
            Err(e) => Err(Unsent::Failed(e.to_string())),
        }
    }

    fn schedule_retry(&mut self) {
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// The run's spool file, or memory when no spool directory can take it.
    fn open_backlog(&mut self) -> Backlog {
        let writer = self.spool.as_ref().map(|s| {
            s.writer(
                self.run_id,
                &self.settings.target,
                self.settings.workspace.as_deref(),
            )
        });
        match writer {
            Some(Ok(w)) => Backlog::Disk(w),
            Some(Err(e)) => {
                self.warn(format!(
                    "cannot write the spool ({e}); undelivered events are kept in memory"
                ));
                Backlog::Memory(VecDeque::new())
            }
            None => Backlog::Memory(VecDeque::new()),
        }
    }

    fn add_to_backlog(&mut self, events: &[EventEnvelope]) {
        self.backlogged += events.len() as u64;
        let backlog = match self.backlog.take() {
            Some(b) => b,
            None => self.open_backlog(),
        };
        let mut memory = match backlog {
            Backlog::Disk(mut w) => match w.append(events) {
                Ok(()) => {
                    self.backlog = Some(Backlog::Disk(w));
                    return;
                }
                Err(e) => {
                    // The disk refused (full, read-only): go on in memory, after what the file
                    // already holds, so the order is kept.
                    self.warn(format!(
                        "cannot write the spool {} ({e}); undelivered events are kept in memory",
                        w.path().display()
                    ));
                    VecDeque::from(w.peek(usize::MAX).unwrap_or_default().events)
                }
            },
            Backlog::Memory(q) => q,
        };
        memory.extend(events.iter().cloned());
        let over = memory.len().saturating_sub(MEMORY_BACKLOG_MAX);
        if over > 0 {
            memory.drain(..over);
            self.shared
                .dropped
                .fetch_add(over as u64, Ordering::Relaxed);
        }
        self.backlog = Some(Backlog::Memory(memory));
    }

    /// Replays the backlog in order until it is empty, the target fails again, or the deadline.
    fn replay(&mut self, deadline: Option<Instant>) {
        self.retry_at = None;
        loop {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return;
            }
            let most = self.settings.batch_max.max(1);
            let chunk = match self.backlog.as_ref() {
                Some(Backlog::Disk(w)) if w.pending() > 0 => match w.peek(most) {
                    Ok(c) => c,
                    Err(e) => {
                        let path = w.path().display().to_string();
                        self.warn(format!("cannot read the spool {path}: {e}"));
                        self.schedule_retry();
                        return;
                    }
                },
                Some(Backlog::Memory(q)) if !q.is_empty() => Chunk {
                    events: q.iter().take(most).cloned().collect(),
                    ..Chunk::default()
                },
                _ => break,
            };
            if !chunk.bad.is_empty() {
                self.keep_bad_lines(&chunk.bad);
            }
            let n = chunk.events.len() as u64;
            match self.send(&chunk.events, deadline) {
                Ok(()) => {
                    self.delivered += n;
                    match self.backlog.as_mut() {
                        Some(Backlog::Disk(w)) => {
                            if let Err(e) = w.consume(&chunk) {
                                let path = w.path().display().to_string();
                                self.warn(format!("cannot update the spool {path}: {e}"));
                            }
                        }
                        Some(Backlog::Memory(q)) => {
                            q.drain(..chunk.events.len());
                        }
                        None => {}
                    }
                }
                Err(unsent) => {
                    self.warn_unsent(unsent);
                    self.schedule_retry();
                    return;
                }
            }
        }
        self.backoff = Duration::from_secs(1);
        self.start_leftovers();
    }

    /// Copies unreadable lines of the run's own spool file (damaged while the run went on) to
    /// the side file, and says so.
    fn keep_bad_lines(&mut self, bad: &[spool::BadLine]) {
        let (Some(spool), Some(Backlog::Disk(w))) = (self.spool.as_ref(), self.backlog.as_ref())
        else {
            return;
        };
        let file = w.path().display().to_string();
        let place = match spool::keep_bad(spool.dir(), self.run_id, bad) {
            Ok(path) => format!("they are kept in {}", path.display()),
            Err(e) => format!("they could not be kept ({e})"),
        };
        // Each time: a new count is a new problem.
        let message = format!("skipped {} unreadable lines of {file}; {place}", bad.len());
        if self.settings.verbose {
            eprintln!("flowo: warning: {}", one_line(&message));
        }
    }

    /// Once the target answers, deliver spools that earlier runs left for it, in the
    /// background; unreadable lines found in them are reported.
    fn start_leftovers(&mut self) {
        if self.leftovers_started {
            return;
        }
        self.leftovers_started = true;
        let (Some(rt), Some(spool)) = (self.runtime.as_ref(), self.spool.clone()) else {
            return;
        };
        let config = self.settings.file_config.clone();
        let target = self.settings.target.url().to_owned();
        let verbose = self.settings.verbose;
        rt.spawn(async move {
            let report = spool::sync_matching(&spool, &config, Some(&target), &mut |_| {}).await;
            for bad in report.bad_files.iter().filter(|_| verbose) {
                eprintln!("flowo: warning: {}", one_line(&bad.to_string()));
            }
        });
    }

    fn finish(mut self, done: Option<SyncSender<CloseReport>>) {
        let deadline = Instant::now() + self.settings.close_timeout;
        let now = chrono::Utc::now();
        if !self.saw_workflow_started {
            // A Snakefile that fails to parse: show its text with the error.
            if let Some(path) = self
                .first_error_message
                .as_deref()
                .and_then(sources::snakefile_in_error)
            {
                self.capture_sources(now, &path, &[]);
            }
        }
        let outcome = if self.interrupted {
            RunOutcome::Interrupted
        } else if self.workflow_failed {
            RunOutcome::Failed
        } else {
            RunOutcome::Completed
        };
        self.push(
            now,
            &Event::RunFinished(RunFinished {
                outcome: Some(outcome),
                exit_code: None,
            }),
        );
        if self.held_back() {
            // Try once more now rather than wait for the backoff.
            self.replay(Some(deadline));
        }
        for batch in std::mem::take(&mut self.given_up) {
            self.deliver(batch, Some(deadline));
        }
        self.flush(Some(deadline));
        let pending = self.backlog.as_ref().map_or(0, Backlog::pending);
        let dropped = self.shared.dropped.load(Ordering::Relaxed);
        let spool_file = match self.backlog.as_ref() {
            Some(Backlog::Disk(w)) if pending > 0 => Some(w.path().to_owned()),
            _ => None,
        };
        let target = self.settings.target.describe();
        if self.settings.verbose && pending > 0 {
            match &spool_file {
                Some(path) => {
                    let dir = self.spool.as_ref().map(|s| s.dir().to_owned());
                    let sync = if dir.is_some() && dir == Spool::default_dir() {
                        "flowo sync".to_owned()
                    } else {
                        format!(
                            "flowo sync --spool-dir {}",
                            dir.unwrap_or_default().display()
                        )
                    };
                    eprintln!(
                        "flowo: {pending} events of run {} not delivered to {target}; kept in \
                         {}; run `{sync}` to deliver them",
                        self.run_id,
                        path.display()
                    )
                }
                None => eprintln!(
                    "flowo: warning: {pending} events of run {} not delivered to {target} and \
                     no spool directory could hold them; they are lost",
                    self.run_id
                ),
            }
        }
        if self.settings.verbose && dropped > 0 {
            eprintln!(
                "flowo: warning: {dropped} records of run {} were dropped because FlowO's queue \
                 was full",
                self.run_id
            );
        }
        let report = CloseReport {
            run_id: Some(self.run_id),
            events: self.next_seq,
            delivered: self.delivered,
            deliveries: self.deliveries,
            backlogged: self.backlogged,
            pending,
            spool_file,
            dropped,
            finished: true,
        };
        // Release the spool file (and its lock), removing it when it is empty.
        if let Some(Backlog::Disk(w)) = self.backlog.take() {
            let _ = w.finish();
        }
        if let Some(done) = done {
            let _ = done.send(report);
        }
        // Leftover replays of other runs are not waited for: their files stay until delivered.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Who runs this process, for a per-user temporary directory.
fn user_tag() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| {
            !u.is_empty()
                && u.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
        .unwrap_or_else(|| "user".to_owned())
}

fn warn_once(warned: &mut std::collections::HashSet<String>, message: String) {
    // Say each kind of problem once per run, not once per retry.
    let key: String = message.chars().take(80).collect();
    if warned.insert(key) {
        eprintln!("flowo: warning: {}", one_line(&message));
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

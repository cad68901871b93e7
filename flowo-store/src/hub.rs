//! The live stream shared by both backends.
//!
//! The events table is the truth. One pump task per store reads newly committed events from it
//! whenever a doorbell rings (a commit in this process, a PostgreSQL NOTIFY, or a periodic check
//! of the latest position, which also catches other processes and lost notifications) and
//! broadcasts each read as a contiguous range `(from, to]` of the stream. A subscriber replays
//! from the table up to the live range, then follows the broadcast; when it sees a gap (it
//! lagged, or a range starts after its position) it reads the gap, from the hub's window of
//! recent events when the window reaches back to its position, else from the table. Every event
//! is delivered exactly once and in order.
//!
//! An event is one shared allocation: the broadcast and the window hold the same `Arc`, and
//! subscribers pass it on, never a copy of the event's data. So a client that falls behind for a
//! moment (a slow network, a burst at the end of runs) costs the server nothing of its own: it
//! catches up from the window. Only a client further behind than the window reads the table,
//! a page at a time.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flowo_core::StreamPos;
use flowo_core::store::{EventStream, StoreError, StoredEvent, StreamFilter};
use futures::StreamExt;
use tokio::sync::{Notify, broadcast};

/// Reads committed events after a position, in stream order (at most `limit`).
pub(crate) type FetchFuture =
    Pin<Box<dyn Future<Output = Result<Vec<StoredEvent>, StoreError>> + Send>>;

/// How the hub reads the store.
pub(crate) trait Source: Send + Sync + 'static {
    /// Events after `after` that pass `filter`.
    fn fetch(&self, filter: StreamFilter, after: StreamPos, limit: u32) -> FetchFuture;
    /// The latest committed position.
    fn head(&self) -> Pin<Box<dyn Future<Output = Result<StreamPos, StoreError>> + Send>>;
}

/// A contiguous range of the stream: every committed event with `from < pos <= to`.
#[derive(Debug)]
pub(crate) struct Range {
    from: StreamPos,
    to: StreamPos,
    events: Vec<Arc<StoredEvent>>,
}

/// Events the pump reads at a time.
const PAGE: u32 = 1000;

/// Events a subscriber takes at a time when it replays or reads a gap. From the table, this is
/// what a client far behind holds for itself, unshared, so it is kept smaller than the pump's
/// page.
const REPLAY_PAGE: u32 = 250;

/// Ranges the broadcast channel keeps for subscribers that have not read them yet. Few: a
/// subscriber further behind catches up from the window, and the channel keeps its last ranges
/// whatever their size until newer ones replace them.
const BROADCAST_RANGES: usize = 16;

/// How much the window of recent events keeps, whoever is connected: at most this many events
/// and about this many bytes of them (by [`weight`]). The bytes are what bounds it in practice
/// (events of about a kilobyte each), so that large events (a job with thousands of inputs, the
/// message that lists them) take the place of others instead of adding to the server's memory.
const WINDOW_EVENTS: usize = 4_096;
const WINDOW_BYTES: usize = 2 << 20;

/// About how much memory an event takes: its strings and the nodes that hold them (a value is
/// 32 bytes, a string's allocation has about 16 more of the allocator's own).
fn weight(event: &StoredEvent) -> usize {
    fn value(v: &serde_json::Value) -> usize {
        use serde_json::Value;
        match v {
            Value::String(s) => 48 + s.len(),
            Value::Array(items) => 32 + items.iter().map(value).sum::<usize>(),
            Value::Object(map) => {
                32 + map
                    .iter()
                    .map(|(k, v)| 48 + k.len() + value(v))
                    .sum::<usize>()
            }
            _ => 32,
        }
    }
    std::mem::size_of::<StoredEvent>() + event.envelope.kind.len() + value(&event.envelope.data)
}

/// The most recent events the pump read: every committed event with `from < pos <= to`, in
/// stream order.
#[derive(Debug, Default)]
struct Window {
    from: StreamPos,
    to: StreamPos,
    /// Each event with its [`weight`].
    events: VecDeque<(Arc<StoredEvent>, usize)>,
    /// The sum of the weights.
    bytes: usize,
}

impl Window {
    /// Starts over at `head`, empty (the pump moved its head without reading the events).
    fn reset(&mut self, head: StreamPos) {
        self.events.clear();
        self.bytes = 0;
        self.from = head;
        self.to = head;
    }

    /// Adds the range `(from, to]` that follows on from the window, its events with their
    /// `weights` (weighed before the lock is taken), dropping the oldest events past the
    /// limits; a range that does not follow on starts the window over.
    fn push(&mut self, range: &Range, weights: &[usize]) {
        if range.from != self.to {
            self.reset(range.from);
        }
        for (event, &w) in range.events.iter().zip(weights) {
            self.bytes += w;
            self.events.push_back((event.clone(), w));
        }
        self.to = range.to;
        while self.events.len() > WINDOW_EVENTS || self.bytes > WINDOW_BYTES {
            let Some((dropped, w)) = self.events.pop_front() else {
                break;
            };
            self.from = dropped.pos;
            self.bytes -= w;
        }
    }

    /// At most `limit` events after `after` that pass `filter`, and the position they account
    /// for up to (every position after `after` up to it was looked at); `None` when the window
    /// does not reach back to `after` or has nothing after it.
    fn after(
        &self,
        filter: &StreamFilter,
        after: StreamPos,
        limit: usize,
    ) -> Option<(Vec<Arc<StoredEvent>>, StreamPos)> {
        if after < self.from || after >= self.to {
            return None;
        }
        let start = self.events.partition_point(|(e, _)| e.pos <= after);
        let mut out = Vec::new();
        for (e, _) in self.events.range(start..) {
            if filter.matches(e) {
                out.push(e.clone());
                if out.len() == limit {
                    return Some((out, e.pos));
                }
            }
        }
        Some((out, self.to))
    }
}

/// A page read for a subscriber.
struct Page {
    events: Vec<Arc<StoredEvent>>,
    /// Every position up to here was looked at.
    covered: StreamPos,
    /// The page is full: there may be more right after it.
    full: bool,
    /// The page came from the table and was not full: nothing more was committed after it.
    end: bool,
}

/// The pump, the broadcast channel and the window of recent events.
pub(crate) struct Hub {
    doorbell: Arc<Notify>,
    /// `None` once the hub is closed: with the pump's copy gone too, a subscriber waiting on
    /// the broadcast wakes, and sees `closed`.
    ranges: Mutex<Option<broadcast::Sender<Arc<Range>>>>,
    closed: Arc<AtomicBool>,
    window: Arc<Mutex<Window>>,
    source: Arc<dyn Source>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Hub {
    /// Starts the pump from the current head; `poll` is the period of the safety-net check.
    pub(crate) async fn start(source: Arc<dyn Source>, poll: Duration) -> Result<Self, StoreError> {
        let head = source.head().await?;
        let doorbell = Arc::new(Notify::new());
        let (ranges, _) = broadcast::channel(BROADCAST_RANGES);
        let window = Arc::new(Mutex::new(Window {
            from: head,
            to: head,
            ..Window::default()
        }));
        let task = tokio::spawn(pump(
            source.clone(),
            doorbell.clone(),
            ranges.clone(),
            window.clone(),
            head,
            poll,
        ));
        Ok(Self {
            doorbell,
            ranges: Mutex::new(Some(ranges)),
            closed: Arc::new(AtomicBool::new(false)),
            window,
            source,
            task,
        })
    }

    /// Stops the pump and ends every subscriber's stream: the store is closing. A stream
    /// reads nothing more; what it holds already it still delivers. Left running, the pump
    /// would look at a closed store and warn at every safety-net check for as long as anyone
    /// subscribed.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.task.abort();
        self.ranges.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Wakes the pump: something may have been committed.
    pub(crate) fn ring(&self) {
        self.doorbell.notify_one();
    }

    /// A handle that can ring the doorbell from elsewhere (the PostgreSQL listener).
    pub(crate) fn doorbell(&self) -> Arc<Notify> {
        self.doorbell.clone()
    }

    /// Subscribes; see the module documentation.
    pub(crate) async fn subscribe(
        &self,
        filter: StreamFilter,
        after: Option<StreamPos>,
    ) -> Result<EventStream, StoreError> {
        // Subscribe before reading the head, so that nothing committed after it is missed.
        let rx = match &*self.ranges.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(ranges) => ranges.subscribe(),
            None => return Err(crate::error::db(sqlx::Error::PoolClosed)),
        };
        let cursor = match after {
            Some(pos) => pos,
            None => self.source.head().await?,
        };
        let state = Subscriber {
            closed: self.closed.clone(),
            source: self.source.clone(),
            window: self.window.clone(),
            filter,
            cursor,
            rx,
            pending: std::collections::VecDeque::new(),
            skip_to: None,
            replayed: false,
        };
        Ok(futures::stream::unfold(state, |mut s| async move {
            match s.next().await {
                Ok(Some(event)) => Some((Ok(event), s)),
                Ok(None) => None,
                Err(e) => Some((Err(e), s)),
            }
        })
        .boxed())
    }
}

/// Locks the window; a poisoned lock still holds a consistent window (every change to it is
/// made in one step without a panic in between), so it is used as it is.
fn lock(window: &Mutex<Window>) -> std::sync::MutexGuard<'_, Window> {
    window.lock().unwrap_or_else(|e| e.into_inner())
}

async fn pump(
    source: Arc<dyn Source>,
    doorbell: Arc<Notify>,
    ranges: broadcast::Sender<Arc<Range>>,
    window: Arc<Mutex<Window>>,
    mut head: StreamPos,
    poll: Duration,
) {
    let all = StreamFilter::default();
    // Whether `head` may be behind the table: while nobody follows the stream the pump reads
    // nothing, not even the head.
    let mut stale = false;
    loop {
        let rang = tokio::time::timeout(poll, doorbell.notified())
            .await
            .is_ok();
        if ranges.receiver_count() == 0 {
            // Nobody follows the stream: an append to a store nobody watches (the plugin's)
            // costs no read. A subscriber that arrives replays from the table up to where it
            // starts.
            if !stale {
                lock(&window).reset(head);
                stale = true;
            }
            continue;
        }
        if stale || !rang {
            // The head is read when nobody followed until now, and by the safety net (another
            // process, a lost notification), which reads on only when it moved.
            let h = match source.head().await {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(error = %e, "live stream: cannot read the head");
                    continue;
                }
            };
            if stale {
                // Catch up without reading back what was committed while nobody followed:
                // an empty range at the head sends every subscriber behind it to the table
                // (one that subscribed just before a commit whose ring brought us here).
                head = head.max(h);
                lock(&window).reset(head);
                let _ = ranges.send(Arc::new(Range {
                    from: head,
                    to: head,
                    events: Vec::new(),
                }));
                stale = false;
            } else if h <= head {
                continue;
            }
        }
        loop {
            match source.fetch(all.clone(), head, PAGE).await {
                Ok(events) if events.is_empty() => break,
                Ok(events) => {
                    let to = events.last().map_or(head, |e| e.pos);
                    let full = events.len() as u32 == PAGE;
                    let range = Range {
                        from: head,
                        to,
                        events: events.into_iter().map(Arc::new).collect(),
                    };
                    head = to;
                    // The window first: a subscriber that sees the range has it there too.
                    let weights: Vec<usize> = range.events.iter().map(|e| weight(e)).collect();
                    lock(&window).push(&range, &weights);
                    // No receivers is fine: nobody is listening.
                    let _ = ranges.send(Arc::new(range));
                    if !full {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "live stream: cannot read new events");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    break;
                }
            }
        }
    }
}

struct Subscriber {
    /// The hub was closed: the stream ends once `pending` is delivered.
    closed: Arc<AtomicBool>,
    source: Arc<dyn Source>,
    window: Arc<Mutex<Window>>,
    filter: StreamFilter,
    /// Every event at or before this position was delivered or did not match.
    cursor: StreamPos,
    rx: broadcast::Receiver<Arc<Range>>,
    pending: std::collections::VecDeque<Arc<StoredEvent>>,
    /// Where the cursor moves once `pending` is delivered.
    skip_to: Option<StreamPos>,
    replayed: bool,
}

impl Subscriber {
    async fn next(&mut self) -> Result<Option<Arc<StoredEvent>>, StoreError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.cursor = event.pos;
                if self.pending.is_empty() {
                    // Positions after the last matching event up to the range's end do not match.
                    if let Some(to) = self.skip_to.take() {
                        self.cursor = self.cursor.max(to);
                    }
                }
                return Ok(Some(event));
            }
            if self.closed.load(Ordering::Relaxed) {
                return Ok(None);
            }
            if !self.replayed {
                // Replay (from the window, else the table) until there is nothing more.
                let page = self.page(self.cursor).await?;
                if !page.full {
                    self.replayed = true;
                }
                self.pending.extend(page.events);
                if self.pending.is_empty() {
                    self.cursor = self.cursor.max(page.covered);
                } else {
                    self.skip_to = Some(page.covered);
                }
                continue;
            }
            match self.rx.recv().await {
                Ok(range) => {
                    if range.to <= self.cursor {
                        continue;
                    }
                    if range.from > self.cursor {
                        // A gap between our position and this range: read it.
                        self.read_until(range.to).await?;
                    } else {
                        self.pending.extend(
                            range
                                .events
                                .iter()
                                .filter(|e| e.pos > self.cursor && self.filter.matches(e))
                                .cloned(),
                        );
                    }
                    if self.pending.is_empty() {
                        self.cursor = range.to;
                    } else {
                        self.skip_to = Some(range.to);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.replayed = false;
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(None),
            }
        }
    }

    /// The next page after `after`: from the window when it reaches back that far, else from
    /// the table.
    async fn page(&self, after: StreamPos) -> Result<Page, StoreError> {
        if let Some((events, covered)) =
            lock(&self.window).after(&self.filter, after, REPLAY_PAGE as usize)
        {
            return Ok(Page {
                full: events.len() == REPLAY_PAGE as usize,
                end: false,
                events,
                covered,
            });
        }
        let events = self
            .source
            .fetch(self.filter.clone(), after, REPLAY_PAGE)
            .await?;
        let full = events.len() == REPLAY_PAGE as usize;
        Ok(Page {
            full,
            end: !full,
            covered: events.last().map_or(after, |e| e.pos),
            events: events.into_iter().map(Arc::new).collect(),
        })
    }

    /// Reads every event after the cursor up to `to` into `pending`.
    async fn read_until(&mut self, to: StreamPos) -> Result<(), StoreError> {
        let mut after = self.cursor;
        loop {
            let page = self.page(after).await?;
            for e in page.events {
                if e.pos > to {
                    return Ok(());
                }
                self.pending.push_back(e);
            }
            after = page.covered;
            // A window page that ends before `to` is not the end: the rest is in the table.
            if after >= to || page.end {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use flowo_core::{EventEnvelope, RunId, WorkspaceId};

    use super::*;

    /// A table in memory that counts the subscribers' reads (the pump reads whole pages), the
    /// pump's reads and the reads of the head.
    #[derive(Default)]
    struct Table {
        events: Mutex<Vec<StoredEvent>>,
        replay_reads: AtomicUsize,
        pump_reads: AtomicUsize,
        head_reads: AtomicUsize,
    }

    impl Table {
        /// Stores the next event (of `run`) and returns its position.
        fn push(&self, run: RunId) -> StreamPos {
            let mut events = self.events.lock().expect("lock");
            let pos = events.last().map_or(0, |e| e.pos) + 1;
            events.push(event(pos, run));
            pos
        }
    }

    struct Memory(Arc<Table>);

    impl Source for Memory {
        fn fetch(&self, filter: StreamFilter, after: StreamPos, limit: u32) -> FetchFuture {
            let reads = if limit == REPLAY_PAGE {
                &self.0.replay_reads
            } else {
                &self.0.pump_reads
            };
            reads.fetch_add(1, Ordering::SeqCst);
            let page: Vec<StoredEvent> = self
                .0
                .events
                .lock()
                .expect("lock")
                .iter()
                .filter(|e| e.pos > after && filter.matches(e))
                .take(limit as usize)
                .cloned()
                .collect();
            Box::pin(async move { Ok(page) })
        }

        fn head(&self) -> Pin<Box<dyn Future<Output = Result<StreamPos, StoreError>> + Send>> {
            self.0.head_reads.fetch_add(1, Ordering::SeqCst);
            let head = self
                .0
                .events
                .lock()
                .expect("lock")
                .last()
                .map_or(0, |e| e.pos);
            Box::pin(async move { Ok(head) })
        }
    }

    /// A hub over an empty table, whose safety-net check never comes within a test.
    async fn empty_hub() -> (Arc<Table>, Hub) {
        let table = Arc::new(Table::default());
        let hub = Hub::start(Arc::new(Memory(table.clone())), Duration::from_secs(3600))
            .await
            .expect("hub");
        (table, hub)
    }

    fn event(pos: StreamPos, run: RunId) -> StoredEvent {
        StoredEvent {
            pos,
            workspace_id: WorkspaceId(uuid::Uuid::nil()),
            envelope: EventEnvelope {
                run_id: run,
                seq: pos as u64,
                recorded_at: chrono::Utc::now(),
                received_at: None,
                kind: "log".into(),
                data: serde_json::json!({"msg": format!("event {pos}")}),
            },
        }
    }

    async fn next(stream: &mut EventStream) -> Arc<StoredEvent> {
        tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("event")
    }

    /// Commits events one at a time, each its own broadcast range, and waits until the live
    /// subscriber has each one; returns what it received.
    async fn commit(
        table: &Table,
        hub: &Hub,
        live: &mut EventStream,
        runs: &[RunId],
        n: usize,
    ) -> Vec<Arc<StoredEvent>> {
        let mut got = Vec::new();
        for i in 0..n {
            let pos = table.push(runs[i % runs.len()]);
            hub.ring();
            let e = next(live).await;
            assert_eq!(e.pos, pos);
            got.push(e);
        }
        got
    }

    /// Closing the hub ends every subscriber's stream, one waiting on the broadcast as well
    /// as one that has not read yet, and a subscription after it is refused.
    #[tokio::test]
    async fn closing_ends_every_stream() {
        let (table, hub) = empty_hub().await;
        let run = RunId::new_random();
        let mut live = hub
            .subscribe(StreamFilter::default(), None)
            .await
            .expect("live");
        commit(&table, &hub, &mut live, &[run], 3).await;
        let mut behind = hub
            .subscribe(StreamFilter::default(), Some(0))
            .await
            .expect("behind");
        hub.close();
        for stream in [&mut live, &mut behind] {
            let end = tokio::time::timeout(Duration::from_secs(10), stream.next()).await;
            assert!(
                matches!(end, Ok(None)),
                "the stream ends: {:?}",
                end.map(|e| e.map(|e| e.map(|e| e.pos)))
            );
        }
        assert!(
            hub.subscribe(StreamFilter::default(), None).await.is_err(),
            "a closed hub takes no subscriber"
        );
    }

    /// A subscriber that fell behind the broadcast catches up from the window: every event
    /// once, in order, the same allocations the live subscriber got, without reading the
    /// table; one further behind than the window reads the rest from the table.
    #[tokio::test]
    async fn subscribers_behind_catch_up_from_the_window_then_the_table() {
        let (table, hub) = empty_hub().await;
        let (a, b) = (RunId::new_random(), RunId::new_random());
        let mut live = hub
            .subscribe(StreamFilter::default(), None)
            .await
            .expect("live");
        // Let it finish its replay (nothing yet) and wait on the broadcast.
        let idle = tokio::time::timeout(Duration::from_millis(100), live.next()).await;
        assert!(idle.is_err(), "nothing before the first commit: {idle:?}");
        let mut slow = hub
            .subscribe(StreamFilter::default(), None)
            .await
            .expect("slow");
        let one_run = StreamFilter {
            run: Some(a),
            workspaces: None,
        };
        let mut slow_a = hub.subscribe(one_run, None).await.expect("slow, one run");

        // More ranges than the broadcast keeps, fewer events than the window.
        let n = BROADCAST_RANGES * 2;
        let sent = commit(&table, &hub, &mut live, &[a, b], n).await;
        let reads = table.replay_reads.load(Ordering::SeqCst);
        for want in &sent {
            let got = next(&mut slow).await;
            assert_eq!(got.pos, want.pos);
            assert!(Arc::ptr_eq(&got, want), "event {} was read again", got.pos);
        }
        for want in sent.iter().filter(|e| e.envelope.run_id == a) {
            let got = next(&mut slow_a).await;
            assert_eq!(got.pos, want.pos);
            assert!(Arc::ptr_eq(&got, want), "event {} was read again", got.pos);
        }
        assert_eq!(
            table.replay_reads.load(Ordering::SeqCst),
            reads,
            "the catch-up read the table"
        );

        // Further behind than the window: the older part from the table, the rest shared.
        let n = WINDOW_EVENTS + 500;
        let sent = commit(&table, &hub, &mut live, &[a], n).await;
        for (i, want) in sent.iter().enumerate() {
            let got = next(&mut slow).await;
            assert_eq!(got.pos, want.pos);
            if i >= n - WINDOW_EVENTS / 2 {
                assert!(Arc::ptr_eq(&got, want), "event {} was read again", got.pos);
            }
        }
        assert!(table.replay_reads.load(Ordering::SeqCst) > reads);
        let quiet = tokio::time::timeout(Duration::from_millis(200), slow.next()).await;
        assert!(quiet.is_err(), "nothing more: {quiet:?}");
    }

    /// Commits nobody follows cost no read at all, not even of the head; subscribers that
    /// arrive afterwards (one from the head, one from an earlier position) miss nothing, the
    /// events committed right after they subscribe included.
    #[tokio::test]
    async fn commits_nobody_follows_read_nothing_and_late_subscribers_miss_nothing() {
        let (table, hub) = empty_hub().await;
        let run = RunId::new_random();
        for _ in 0..5 {
            table.push(run);
            hub.ring();
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            table.head_reads.load(Ordering::SeqCst),
            1,
            "the head was read only at the start"
        );
        assert_eq!(
            table.pump_reads.load(Ordering::SeqCst),
            0,
            "no events were read"
        );

        let mut live = hub
            .subscribe(StreamFilter::default(), None)
            .await
            .expect("live");
        let mut from_two = hub
            .subscribe(StreamFilter::default(), Some(2))
            .await
            .expect("from position 2");
        // The first commit after they subscribed: the pump catches up on its ring.
        let six = table.push(run);
        hub.ring();
        assert_eq!(next(&mut live).await.pos, six);
        let seven = table.push(run);
        hub.ring();
        assert_eq!(next(&mut live).await.pos, seven);
        for want in 3..=seven {
            assert_eq!(next(&mut from_two).await.pos, want);
        }
        let quiet = tokio::time::timeout(Duration::from_millis(200), live.next()).await;
        assert!(quiet.is_err(), "nothing more: {quiet:?}");
    }

    #[test]
    fn the_window_keeps_the_newest_events_and_starts_over_on_a_jump() {
        let run = RunId::new_random();
        let range = |from: StreamPos, to: StreamPos| Range {
            from,
            to,
            events: (from + 1..=to).map(|p| Arc::new(event(p, run))).collect(),
        };
        let all = StreamFilter::default();
        let push = |w: &mut Window, r: &Range| {
            let weights: Vec<usize> = r.events.iter().map(|e| weight(e)).collect();
            w.push(r, &weights);
        };
        let mut w = Window::default();
        push(&mut w, &range(0, WINDOW_EVENTS as StreamPos + 10));
        assert_eq!(w.events.len(), WINDOW_EVENTS);
        assert_eq!(w.from, 10);
        assert!(w.bytes <= WINDOW_BYTES);
        assert!(w.after(&all, 9, 5).is_none(), "before the window");
        let (page, covered) = w.after(&all, 10, 5).expect("in the window");
        assert_eq!(
            page.iter().map(|e| e.pos).collect::<Vec<_>>(),
            [11, 12, 13, 14, 15]
        );
        assert_eq!(covered, 15);
        // Large events take the place of older ones: the bytes stay within the limit.
        let big = |pos: StreamPos| {
            let mut e = event(pos, run);
            e.envelope.data = serde_json::json!({
                "input": (0..2_000).map(|i| format!("out/{i}.txt")).collect::<Vec<_>>(),
            });
            Arc::new(e)
        };
        let at = w.to;
        let heavy = weight(&big(0));
        assert!(heavy > 100_000, "a 2,000-input event weighs {heavy}");
        push(
            &mut w,
            &Range {
                from: at,
                to: at + 40,
                events: (at + 1..=at + 40).map(big).collect(),
            },
        );
        assert!(w.bytes <= WINDOW_BYTES, "{} bytes", w.bytes);
        assert_eq!(w.to, at + 40);
        assert_eq!(w.events.len(), WINDOW_BYTES / heavy);
        assert_eq!(w.bytes, w.events.iter().map(|(_, b)| b).sum::<usize>());
        let end = w.to;
        assert!(w.after(&all, end, 5).is_none(), "nothing after the end");
        // A range that does not follow on (the pump skipped ahead): the window starts over.
        push(&mut w, &range(end + 5, end + 8));
        assert_eq!((w.from, w.to, w.events.len()), (end + 5, end + 8, 3));
        assert!(w.after(&all, end, 5).is_none());
        // A filter that matches nothing still accounts for the positions it looked at.
        let other = StreamFilter {
            run: Some(RunId::new_random()),
            workspaces: None,
        };
        let (page, covered) = w.after(&other, end + 5, 5).expect("in the window");
        assert!(page.is_empty());
        assert_eq!(covered, end + 8);
    }
}

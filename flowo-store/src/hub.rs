//! The live stream shared by both backends.
//!
//! The events table is the truth. One pump task per store reads newly committed events from it
//! whenever a doorbell rings (a commit in this process, a PostgreSQL NOTIFY, or a periodic check
//! of the latest position, which also catches other processes and lost notifications) and
//! broadcasts each read as a contiguous range `(from, to]` of the stream. A subscriber replays
//! from the table up to the live range, then follows the broadcast; when it sees a gap (it
//! lagged, or a range starts after its position) it reads the gap from the table. Every event is
//! delivered exactly once and in order. A broadcast event is one shared allocation: subscribers
//! pass on the `Arc`, never a copy of the event's data.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
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

/// Events a subscriber reads from the table at a time (replay, gaps): what a client that lags
/// behind holds for itself, unshared, so kept smaller than the pump's page.
const REPLAY_PAGE: u32 = 250;

/// The pump and the broadcast channel.
pub(crate) struct Hub {
    doorbell: Arc<Notify>,
    ranges: broadcast::Sender<Arc<Range>>,
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
        let (ranges, _) = broadcast::channel(256);
        let task = tokio::spawn(pump(
            source.clone(),
            doorbell.clone(),
            ranges.clone(),
            head,
            poll,
        ));
        Ok(Self {
            doorbell,
            ranges,
            source,
            task,
        })
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
        let rx = self.ranges.subscribe();
        let cursor = match after {
            Some(pos) => pos,
            None => self.source.head().await?,
        };
        let state = Subscriber {
            source: self.source.clone(),
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

async fn pump(
    source: Arc<dyn Source>,
    doorbell: Arc<Notify>,
    ranges: broadcast::Sender<Arc<Range>>,
    mut head: StreamPos,
    poll: Duration,
) {
    let all = StreamFilter::default();
    loop {
        let rang = tokio::time::timeout(poll, doorbell.notified())
            .await
            .is_ok();
        if !rang {
            // Safety net: only read when the head moved (another process, a lost notification).
            match source.head().await {
                Ok(h) if h > head => {}
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "live stream: cannot read the head");
                    continue;
                }
            }
        }
        if ranges.receiver_count() == 0 {
            // Nobody follows the stream: move the head without reading events back. A
            // subscriber that arrives later replays from the table.
            match source.head().await {
                Ok(h) => head = head.max(h),
                Err(e) => tracing::warn!(error = %e, "live stream: cannot read the head"),
            }
            continue;
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
    source: Arc<dyn Source>,
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
            if !self.replayed {
                // Replay from the table until it has nothing more.
                let page = self
                    .source
                    .fetch(self.filter.clone(), self.cursor, REPLAY_PAGE)
                    .await?;
                if page.len() < REPLAY_PAGE as usize {
                    self.replayed = true;
                }
                self.pending.extend(page.into_iter().map(Arc::new));
                continue;
            }
            match self.rx.recv().await {
                Ok(range) => {
                    if range.to <= self.cursor {
                        continue;
                    }
                    if range.from > self.cursor {
                        // A gap between our position and this range: read it from the table.
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

    async fn read_until(&mut self, to: StreamPos) -> Result<(), StoreError> {
        let mut after = self.cursor;
        loop {
            let page = self
                .source
                .fetch(self.filter.clone(), after, REPLAY_PAGE)
                .await?;
            let n = page.len();
            for e in page {
                after = e.pos;
                if e.pos <= to {
                    self.pending.push_back(Arc::new(e));
                } else {
                    return Ok(());
                }
            }
            if n < REPLAY_PAGE as usize || after >= to {
                return Ok(());
            }
        }
    }
}

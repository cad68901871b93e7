//! Helpers shared by the backends' unit tests: writes given up part way.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use flowo_core::{EventEnvelope, RunId};

/// Heartbeats of `run_id` numbered `seqs`.
pub fn heartbeats(run_id: RunId, seqs: std::ops::Range<u64>) -> Vec<EventEnvelope> {
    seqs.map(|seq| EventEnvelope {
        run_id,
        seq,
        recorded_at: chrono::Utc::now(),
        received_at: None,
        kind: "heartbeat".into(),
        data: serde_json::json!({}),
    })
    .collect()
}

/// Polls `fut` once, with a waker that does nothing.
pub fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// Polls `fut` up to `polls` times, letting the connection (its thread, its socket) move on
/// between polls, then drops it; true when it finished first.
pub async fn poll_then_drop(fut: impl Future, polls: usize) -> bool {
    let mut fut = pin!(fut);
    for _ in 0..polls {
        if poll_once(fut.as_mut()).is_ready() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

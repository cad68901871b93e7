//! Helpers shared by the backends' unit tests: writes given up part way.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use flowo_core::store::EventLog;
use flowo_core::{RunId, WorkspaceId};
pub use flowo_testkit::fixtures::heartbeats;

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

/// Appends given up after 1, 2, ... polls (five of each: where a poll stops depends on how
/// soon the database answers), until one finishes before it is given up. After each,
/// `check(polls)`, then an append of the next event of `kept`, which must succeed. Returns
/// how many events of `kept` were appended.
pub async fn give_up_appends(
    store: &dyn EventLog,
    ws: WorkspaceId,
    kept: RunId,
    mut check: impl AsyncFnMut(usize),
) -> u64 {
    let mut seq = 0;
    for polls in 1..100 {
        let mut finished = false;
        for _ in 0..5 {
            finished |= poll_then_drop(
                store.append(ws, &heartbeats(RunId::new_random(), 0..3)),
                polls,
            )
            .await;
            check(polls).await;
            if let Err(e) = store.append(ws, &heartbeats(kept, seq..seq + 1)).await {
                panic!("a write after one given up after {polls} polls failed: {e}");
            }
            seq += 1;
        }
        if finished {
            break;
        }
    }
    assert!(seq > 5, "every write finished at its first poll");
    seq
}

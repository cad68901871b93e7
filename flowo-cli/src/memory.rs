//! Handing memory the server freed back to the system. glibc's allocator keeps what a thread
//! freed in that thread's arena, and returns pages only from the top of a heap: after a burst
//! (an ingest of many batches, a large query) the process stays resident at its peak although
//! the memory is free (10 MiB of a 35 MiB server after the ingest benchmark). The server asks
//! for it back now and then ([`release`] every [`PERIOD`]).

use std::time::Duration;

/// How often `flowo serve` releases free memory: often enough that memory follows what is in
/// use, rare enough to cost nothing (a call walks the allocator's free lists, about a
/// millisecond for a server of tens of MiB).
pub const PERIOD: Duration = Duration::from_secs(5);

/// Asks the allocator to return the free pages of every arena to the system (`malloc_trim(0)`);
/// returns whether it gave anything back. Elsewhere than on glibc it does nothing: other
/// allocators return memory themselves, or have no such call.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release() -> bool {
    // SAFETY: `malloc_trim` takes no pointers and touches only the allocator's own state, which
    // glibc locks while it runs; it is safe to call from any thread at any time.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Asks the allocator to return free memory to the system: nothing to do off glibc.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release() -> bool {
    false
}

/// Releases free memory every [`PERIOD`], off the async workers, for as long as the runtime runs.
pub fn spawn_releaser() {
    tokio::spawn(async {
        let mut tick = tokio::time::interval(PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if tokio::task::spawn_blocking(release).await.is_err() {
                return;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Freed memory goes back to the system: resident memory after a large allocation is freed
    /// and `release` ran is well below what it was while the allocation was live.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn freed_memory_goes_back_to_the_system() {
        fn rss_kib() -> u64 {
            std::fs::read_to_string("/proc/self/status")
                .expect("status")
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .expect("VmRSS")
        }
        // Many small blocks (below glibc's mmap threshold, so they live in a heap), written
        // so that they are resident, then all but the last freed: the last pins the heap's top,
        // so glibc's own trimming at free cannot give the pages back.
        let mut blocks: Vec<Vec<u8>> = (0..4096).map(|_| vec![1u8; 16 * 1024]).collect();
        let pin = blocks.pop();
        let live = rss_kib();
        drop(blocks);
        let before = rss_kib();
        assert!(release(), "nothing was released");
        let after = rss_kib();
        drop(pin);
        assert!(
            before - after > 32 * 1024,
            "RSS {live} KiB with the blocks, {before} KiB freed, {after} KiB released"
        );
    }
}

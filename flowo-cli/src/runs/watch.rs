//! `flowo runs watch [RUN]`: follows a run live (default: the most recently started one) until
//! it is no longer running; exit status 0 if it succeeded, 1 if it failed, was interrupted or
//! is lost.
//!
//! On a terminal a progress bar shows jobs done of total, the status and the running and
//! failed jobs; otherwise one line is printed per change. A server is followed through its
//! live stream (`GET /api/v1/stream?run=ID`), reconnecting with `Last-Event-ID` when the
//! connection breaks; a database through the store's own live stream. Either way the run is
//! read once the subscription stands (so no change in between is missed) and every
//! [`RECHECK`] besides, which is how a run that went silent is seen to become `lost`.

use std::io::IsTerminal as _;
use std::time::Duration;

use anyhow::{Context, bail};
use flowo_client::api::{ApiClient, ApiError};
use flowo_core::store::StreamFilter;
use flowo_core::{Run, RunId, RunStatus, Store, StreamPos};
use futures::StreamExt as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::config::Global;
use crate::output;
use crate::reader::{Reader, explain};

/// How often the run is read again besides the live stream.
const RECHECK: Duration = Duration::from_secs(15);
/// Attempts to reconnect to a server in a row before giving up.
const MAX_RECONNECTS: u32 = 20;

/// `flowo runs watch`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The run: its full id or at least its first 8 hex digits [default: the most recently
    /// started run].
    run: Option<String>,
}

/// Runs `flowo runs watch`; the exit status.
pub async fn run(args: Args, global: &Global) -> anyhow::Result<u8> {
    let reader = Reader::open(global).await?;
    let id = match &args.run {
        Some(text) => reader.resolve_run(text).await?,
        None => {
            reader
                .latest_run()
                .await?
                .context("there are no runs to watch")?
                .id
        }
    };
    let mut display = Display::new(std::io::stdout().is_terminal());
    let last = match &reader {
        Reader::Server(api) => follow_server(api, id, &mut display).await?,
        Reader::Database { store } => follow_store(&**store, id, &mut display).await?,
    };
    display.finish(&last)?;
    Ok(if last.status == RunStatus::Succeeded {
        0
    } else {
        1
    })
}

/// Follows the run through the server's live stream; returns it once it has ended.
async fn follow_server(api: &ApiClient, id: RunId, display: &mut Display) -> anyhow::Result<Run> {
    let mut last_pos: Option<StreamPos> = None;
    let mut failures = 0u32;
    loop {
        if failures > 0 {
            if failures > MAX_RECONNECTS {
                bail!(
                    "lost the connection to {} and could not reconnect",
                    api.url()
                );
            }
            tokio::time::sleep(backoff(failures)).await;
        }
        let mut events = match api.stream(Some(id), last_pos).await {
            Ok(events) => {
                if failures > 0 {
                    display.note("reconnected");
                    failures = 0;
                }
                events
            }
            Err(e) if transient(&e) => {
                failures += 1;
                display.note(&format!("{e}; reconnecting"));
                continue;
            }
            Err(e) => return Err(explain(e)),
        };
        // Read after subscribing: every change from here on arrives on the stream.
        match api.get_run(id).await {
            Ok(view) => {
                if display.update(&view.value.run)? {
                    return Ok(view.value.run);
                }
            }
            Err(e) if transient(&e) => {
                failures += 1;
                display.note(&format!("{e}; reconnecting"));
                continue;
            }
            Err(e) => return Err(explain(e)),
        }
        let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK, RECHECK);
        loop {
            tokio::select! {
                message = events.next() => match message {
                    Some(Ok(live)) => {
                        last_pos = Some(live.event.pos);
                        if let Some(run) = live.run
                            && display.update(&run)?
                        {
                            return Ok(run);
                        }
                    }
                    Some(Err(e)) => {
                        display.note(&format!("{e}; reconnecting"));
                        failures += 1;
                        break;
                    }
                    None => {
                        display.note("the server closed the live stream (stopping?); reconnecting");
                        failures += 1;
                        break;
                    }
                },
                _ = recheck.tick() => match api.get_run(id).await {
                    Ok(view) => {
                        if display.update(&view.value.run)? {
                            return Ok(view.value.run);
                        }
                    }
                    Err(e) if transient(&e) => {
                        display.note(&format!("{e}; reconnecting"));
                        failures += 1;
                        break;
                    }
                    Err(e) => return Err(explain(e)),
                },
            }
        }
    }
}

/// Follows the run through the store's live stream; returns it once it has ended.
async fn follow_store(store: &dyn Store, id: RunId, display: &mut Display) -> anyhow::Result<Run> {
    let filter = StreamFilter {
        workspaces: None,
        run: Some(id),
    };
    let mut events = store.subscribe(filter, None).await?.ready_chunks(1024);
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK, RECHECK);
    loop {
        // Read after subscribing, then after every batch of events.
        let run = store
            .get_run(id)
            .await?
            .with_context(|| format!("run {id} not found"))?
            .run;
        if display.update(&run)? {
            return Ok(run);
        }
        tokio::select! {
            batch = events.next() => match batch {
                Some(batch) => {
                    for item in batch {
                        item.context("the live stream failed")?;
                    }
                }
                None => bail!("the store's live stream ended"),
            },
            _ = recheck.tick() => {}
        }
    }
}

/// Whether an error may pass by reconnecting: the server is away or restarting.
fn transient(err: &ApiError) -> bool {
    err.is_unreachable() || matches!(err.status(), Some(502..=504))
}

/// 1 s, 2 s, 4 s, ... at most 10 s.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(4)).min(Duration::from_secs(10))
}

/// What is shown of the run; a change of any of it is a new line when not on a terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Snapshot {
    status: RunStatus,
    done: u64,
    total: u64,
    running: u64,
    failed: u64,
}

impl Snapshot {
    fn of(run: &Run) -> Self {
        Self {
            status: run.status,
            done: run.done,
            total: run.total,
            running: run.jobs.running,
            failed: run.jobs.failed,
        }
    }

    fn describe(&self) -> String {
        format!(
            "{}: {} jobs running, {} failed",
            self.status.as_str(),
            self.running,
            self.failed
        )
    }
}

/// The progress bar on a terminal, else lines.
struct Display {
    bar: Option<ProgressBar>,
    last: Option<Snapshot>,
}

impl Display {
    fn new(terminal: bool) -> Self {
        let bar = terminal.then(|| {
            // Drawn from the first update on, once it has its length and words.
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} {prefix} [{wide_bar}] {pos}/{len} jobs  {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Self { bar, last: None }
    }

    /// Shows the run's state; whether it has ended.
    fn update(&mut self, run: &Run) -> anyhow::Result<bool> {
        let first = self.last.is_none();
        if first {
            output::line(format_args!(
                "Watching run {} ({}), started {}",
                super::name(run),
                run.id,
                run.started_at.map_or_else(|| "-".to_owned(), output::time)
            ))?;
        }
        let now = Snapshot::of(run);
        if self.last != Some(now) {
            self.last = Some(now);
            match &self.bar {
                Some(bar) => {
                    if first {
                        bar.set_prefix(super::name(run));
                    }
                    bar.set_length(now.total);
                    bar.set_position(now.done);
                    bar.set_message(now.describe());
                    if first {
                        bar.set_draw_target(ProgressDrawTarget::stdout());
                        bar.enable_steady_tick(Duration::from_millis(200));
                    }
                }
                None => output::line(format_args!(
                    "{}  {}/{} jobs done, {}",
                    output::time(chrono::Utc::now()),
                    now.done,
                    now.total,
                    now.describe()
                ))?,
            }
        }
        Ok(run.status != RunStatus::Running)
    }

    /// A remark (connection trouble) on stderr, above the bar.
    fn note(&self, text: &str) {
        let text = format!("flowo: {text}");
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln_quiet(&text)),
            None => eprintln_quiet(&text),
        }
    }

    /// Removes the bar and prints the outcome.
    fn finish(&mut self, run: &Run) -> anyhow::Result<()> {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        output::line(format_args!(
            "Run {} {}: {}/{} jobs done, {} failed, in {}",
            super::name(run),
            super::status(run),
            run.done,
            run.total,
            run.jobs.failed,
            super::duration(run)
        ))
    }
}

fn eprintln_quiet(text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{text}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnects_back_off_to_ten_seconds() {
        let waits: Vec<u64> = (1..=7).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 10, 10, 10]);
    }
}

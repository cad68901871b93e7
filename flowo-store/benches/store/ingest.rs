//! Ingest through the `Store` trait: batches of one run, in order, one task or several.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use flowo_core::{EventEnvelope, RunId, Store, WorkspaceId};

use crate::report::{Latencies, ms, rate, thousands};
use crate::workload::{Batches, plan, shift_of};

/// What an ingest run measured.
pub struct Ingested {
    pub events: u64,
    pub appends: usize,
    pub elapsed: Duration,
    pub batch: Latencies,
}

impl Ingested {
    pub fn per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }

    pub fn print(&self, label: &str) {
        println!(
            "{label}: {} events in {:.2} s = {} events/s ({} appends; append p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms)",
            thousands(self.events),
            self.elapsed.as_secs_f64(),
            rate(self.per_sec()),
            self.appends,
            self.batch.pct_ms(50.0),
            self.batch.pct_ms(99.0),
            self.batch.max_ms(),
        );
    }
}

/// Appends the runs `runs` (indexes into `sizes`) one batch at a time; returns the events stored
/// and each append's latency.
async fn append_runs(
    store: &dyn Store,
    workspace: WorkspaceId,
    batches: &mut Batches,
    sizes: &[usize],
    runs: impl Iterator<Item = usize>,
    progress: bool,
) -> anyhow::Result<(u64, Vec<Duration>)> {
    let total: usize = sizes.iter().sum();
    let mut events = 0u64;
    let mut latencies = Vec::new();
    let mut next_report = total / 4;
    let start = Instant::now();
    for index in runs {
        let run = RunId(uuid::Uuid::new_v4());
        for batch in batches.for_run(run, shift_of(index), sizes[index]) {
            let t = Instant::now();
            let outcome = store
                .append(workspace, batch)
                .await
                .with_context(|| format!("append to run {run}"))?;
            latencies.push(t.elapsed());
            if outcome.inserted != batch.len() as u64 {
                bail!(
                    "run {run}: {} of {} events inserted ({} duplicates)",
                    outcome.inserted,
                    batch.len(),
                    outcome.duplicates
                );
            }
            events += outcome.inserted;
        }
        if progress && events as usize >= next_report && next_report > 0 {
            println!(
                "  ... {} events, {:.1} s, {} events/s so far",
                thousands(events),
                start.elapsed().as_secs_f64(),
                rate(events as f64 / start.elapsed().as_secs_f64())
            );
            next_report += total / 4;
        }
    }
    Ok((events, latencies))
}

/// `total` events appended by one task.
pub async fn sequential(
    store: &dyn Store,
    workspace: WorkspaceId,
    template: &[EventEnvelope],
    total: u64,
) -> anyhow::Result<Ingested> {
    let sizes = plan(total, template.len());
    let mut batches = Batches::new(template);
    let start = Instant::now();
    let (events, latencies) =
        append_runs(store, workspace, &mut batches, &sizes, 0..sizes.len(), true).await?;
    let elapsed = start.elapsed();
    Ok(Ingested {
        events,
        appends: latencies.len(),
        elapsed,
        batch: Latencies::new(latencies),
    })
}

/// `total` events appended by `tasks` tasks at once, each with its own runs.
pub async fn concurrent(
    store: Arc<dyn Store>,
    workspace: WorkspaceId,
    template: &[EventEnvelope],
    total: u64,
    tasks: usize,
) -> anyhow::Result<Ingested> {
    let sizes = Arc::new(plan(total, template.len()));
    let batches = Batches::new(template);
    let start = Instant::now();
    let mut handles = Vec::new();
    for task in 0..tasks {
        let store = store.clone();
        let sizes = sizes.clone();
        let mut batches = batches.clone();
        handles.push(tokio::spawn(async move {
            let t = Instant::now();
            let runs = (task..sizes.len()).step_by(tasks);
            let out = append_runs(&*store, workspace, &mut batches, &sizes, runs, false).await;
            out.map(|(events, lat)| (events, lat, t.elapsed()))
        }));
    }
    let mut events = 0;
    let mut latencies = Vec::new();
    for (task, handle) in handles.into_iter().enumerate() {
        let (n, lat, took) = handle.await.context("ingest task panicked")??;
        println!(
            "  task {task}: {} events in {:.2} s ({:.1} ms per append on average)",
            thousands(n),
            took.as_secs_f64(),
            ms(took) / lat.len().max(1) as f64
        );
        events += n;
        latencies.extend(lat);
    }
    let elapsed = start.elapsed();
    Ok(Ingested {
        events,
        appends: latencies.len(),
        elapsed,
        batch: Latencies::new(latencies),
    })
}

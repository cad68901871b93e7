//! Read queries at scale through the `Store` trait, each repeated and summarized as p50/p99/max.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use flowo_core::store::{JobQuery, JobSort, RunQuery, RunSort, SortOrder};
use flowo_core::{JobStatus, RunId, RunStatus, Store};

use crate::report::{Latencies, Summary};
use flowo_testkit::fill::Filled;

/// A page of runs or jobs should take at most this long.
pub const PAGE_TARGET_MS: f64 = 10.0;

/// One read.
#[derive(Clone)]
enum Op {
    Runs(RunQuery),
    Jobs(RunId, JobQuery),
    RuleSummaries(RunId),
    GetRun(RunId),
}

/// Runs one read; returns the number of items it returned.
async fn exec(store: &dyn Store, op: &Op) -> anyhow::Result<usize> {
    Ok(match op {
        Op::Runs(q) => store.list_runs(q).await?.items.len(),
        Op::Jobs(run, q) => store.list_jobs(*run, q).await?.items.len(),
        Op::RuleSummaries(run) => store.rule_summaries(*run).await?.len(),
        Op::GetRun(run) => usize::from(store.get_run(*run).await?.is_some()),
    })
}

/// How many times, and for how long at most, each query is repeated.
#[derive(Clone, Copy)]
pub struct Reps {
    pub count: usize,
    pub budget: Duration,
}

async fn measure(store: &dyn Store, op: &Op, reps: Reps) -> anyhow::Result<(Latencies, usize)> {
    let items = exec(store, op).await?;
    exec(store, op).await?;
    let mut samples = Vec::with_capacity(reps.count);
    let start = Instant::now();
    while samples.len() < reps.count && (samples.len() < 5 || start.elapsed() < reps.budget) {
        let t = Instant::now();
        exec(store, op).await?;
        samples.push(t.elapsed());
    }
    Ok((Latencies::new(samples), items))
}

/// The cursor of page `page` (1-based) of a run search.
async fn runs_cursor(
    store: &dyn Store,
    q: &RunQuery,
    page: usize,
) -> anyhow::Result<Option<String>> {
    let mut q = q.clone();
    for _ in 1..page {
        q.cursor = store.list_runs(&q).await?.next_cursor;
        if q.cursor.is_none() {
            break;
        }
    }
    Ok(q.cursor)
}

/// The cursor of page `page` (1-based) of a job search.
async fn jobs_cursor(
    store: &dyn Store,
    run: RunId,
    q: &JobQuery,
    page: usize,
) -> anyhow::Result<Option<String>> {
    let mut q = q.clone();
    for _ in 1..page {
        q.cursor = store.list_jobs(run, &q).await?.next_cursor;
        if q.cursor.is_none() {
            break;
        }
    }
    Ok(q.cursor)
}

/// Measures every query against a filled store and adds the figures to `summary`.
pub async fn run_all(
    store: Arc<dyn Store>,
    backend: &str,
    filled: &Filled,
    reps: Reps,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let s = &*store;
    let small = RunId(filled.run_100);
    let big = RunId(filled.big_run);
    let small_jobs = s
        .get_run(small)
        .await?
        .context("the 100-job run exists")?
        .run
        .total;
    let big_jobs = s
        .get_run(big)
        .await?
        .context("the big run exists")?
        .run
        .total;

    let runs = RunQuery::default();
    let jobs = JobQuery {
        limit: 50,
        ..JobQuery::default()
    };
    let page_10 = RunQuery {
        cursor: runs_cursor(s, &runs, 10).await?,
        ..runs.clone()
    };
    let small_p2 = JobQuery {
        cursor: jobs_cursor(s, small, &jobs, 2).await?,
        ..jobs.clone()
    };
    let big_p100 = JobQuery {
        cursor: jobs_cursor(s, big, &jobs, 100).await?,
        ..jobs.clone()
    };
    let page = Some(PAGE_TARGET_MS);
    let ops: Vec<(String, Op, Option<f64>)> = vec![
        (
            "list_runs page 1 (50, started_at desc)".into(),
            Op::Runs(runs.clone()),
            page,
        ),
        ("list_runs page 10 (cursor)".into(), Op::Runs(page_10), page),
        (
            "list_runs status=failed".into(),
            Op::Runs(RunQuery {
                status: vec![RunStatus::Failed],
                ..runs.clone()
            }),
            page,
        ),
        (
            "list_runs status=running (10 live)".into(),
            Op::Runs(RunQuery {
                status: vec![RunStatus::Running],
                ..runs.clone()
            }),
            page,
        ),
        (
            "list_runs tag=project-7 (2%)".into(),
            Op::Runs(RunQuery {
                tag: Some("project-7".into()),
                ..runs.clone()
            }),
            page,
        ),
        (
            "list_runs text=\"rnaseq\" (1/7)".into(),
            Op::Runs(RunQuery {
                text: Some("rnaseq".into()),
                ..runs.clone()
            }),
            page,
        ),
        (
            "list_runs text, no match".into(),
            Op::Runs(RunQuery {
                text: Some("no-such-run".into()),
                ..runs.clone()
            }),
            page,
        ),
        (
            "list_runs page 1 + with_total".into(),
            Op::Runs(RunQuery {
                with_total: true,
                ..runs.clone()
            }),
            page,
        ),
        (
            "list_runs sort=name asc".into(),
            Op::Runs(RunQuery {
                sort: RunSort::Name,
                order: SortOrder::Asc,
                ..runs.clone()
            }),
            page,
        ),
        (
            format!("list_jobs {small_jobs}-job run page 1 (50)"),
            Op::Jobs(small, jobs.clone()),
            page,
        ),
        (
            format!("list_jobs {small_jobs}-job run page 2"),
            Op::Jobs(small, small_p2),
            page,
        ),
        (
            format!("list_jobs {big_jobs}-job run page 1 (50)"),
            Op::Jobs(big, jobs.clone()),
            page,
        ),
        (
            format!("list_jobs {big_jobs}-job run page 100"),
            Op::Jobs(big, big_p100),
            page,
        ),
        (
            format!("list_jobs {big_jobs}-job run status=failed"),
            Op::Jobs(
                big,
                JobQuery {
                    status: vec![JobStatus::Failed],
                    ..jobs.clone()
                },
            ),
            page,
        ),
        (
            format!("list_jobs {big_jobs}-job run rule=align"),
            Op::Jobs(
                big,
                JobQuery {
                    rule: Some("align".into()),
                    ..jobs.clone()
                },
            ),
            page,
        ),
        (
            format!("list_jobs {big_jobs}-job run sort=started_at desc"),
            Op::Jobs(
                big,
                JobQuery {
                    sort: JobSort::StartedAt,
                    order: SortOrder::Desc,
                    ..jobs.clone()
                },
            ),
            page,
        ),
        (
            format!("rule_summaries {small_jobs}-job run"),
            Op::RuleSummaries(small),
            None,
        ),
        (
            format!("rule_summaries {big_jobs}-job run"),
            Op::RuleSummaries(big),
            None,
        ),
        ("get_run".into(), Op::GetRun(small), None),
    ];
    println!(
        "{:<44} {:>9} {:>9} {:>9} {:>5} {:>6}",
        "query", "p50 ms", "p99 ms", "max ms", "n", "items"
    );
    for (label, op, target) in &ops {
        let (lat, items) = measure(s, op, reps)
            .await
            .with_context(|| format!("query {label}"))?;
        let flag = match target {
            Some(t) if lat.pct_ms(99.0) > *t => "  > target",
            _ => "",
        };
        println!(
            "{label:<44} {:>9.2} {:>9.2} {:>9.2} {:>5} {:>6}{flag}",
            lat.pct_ms(50.0),
            lat.pct_ms(99.0),
            lat.max_ms(),
            lat.len(),
            items
        );
        summary.add_latency(backend, label, &lat, *target);
    }
    Ok(())
}

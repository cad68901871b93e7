// Applies live events to the data already on screen: the run's row in every runs list, the
// run header, the job's row, its rule's counts (the DAG node) and its timeline bar, each
// updated in place (rule counts are derived from the jobs, see lib/rules.ts). Only what cannot be derived from an event (a new run in a filtered list,
// new errors, new log tails, run detail facts) is refetched, and then only that query.
import type { QueryClient, QueryKey } from "@tanstack/react-query";
import type { Job, JobBrief, LiveEvent, Page, Run, RunView, TimelineBar } from "../api/types";
import { jobBrief, keys, mergeJobs, recordPendingJobs } from "../api/queries";
import { upsertBy } from "../lib/upsert";

/** Queries (by hash) to fetch again once their current fetch is over, see [`invalidateLive`]. */
const refetchAfter = new Set<string>();

/**
 * Marks a query stale because of live events, and refetches it if it is on screen. A query
 * being fetched at that moment is fetched once more when that fetch is over: its answer may
 * have been read before the events were committed, and TanStack Query forgets an invalidation
 * when an in-flight first fetch succeeds (a `rulegraph` event that arrived while the run page's
 * graph was loading left the page without the graph's other rules).
 */
export function invalidateLive(client: QueryClient, key: QueryKey): void {
  const cache = client.getQueryCache();
  const query = cache.find({ queryKey: key, exact: true });
  if (!query || query.state.fetchStatus !== "fetching") {
    void client.invalidateQueries({ queryKey: key, exact: true });
    return;
  }
  if (refetchAfter.has(query.queryHash)) return;
  refetchAfter.add(query.queryHash);
  const unsubscribe = cache.subscribe((e) => {
    if (e.query !== query || (e.type !== "removed" && query.state.fetchStatus === "fetching")) return;
    unsubscribe();
    refetchAfter.delete(query.queryHash);
    // Fetched again even without an observer: a page that prefetched it is about to show it.
    if (e.type !== "removed") void client.invalidateQueries({ queryKey: key, exact: true, refetchType: "all" });
  });
}

/** A newer summary of the same run replaces an older one, never the reverse. */
export function newerRun(current: Run | undefined, incoming: Run): boolean {
  return !current || incoming.event_count >= current.event_count;
}

/** Replaces runs in a page by id; returns the same page when nothing changed. */
export function applyRunsToPage(page: Page<Run>, runs: Map<string, Run>): Page<Run> {
  let changed = false;
  const items = page.items.map((r) => {
    const n = runs.get(r.id);
    if (n && n !== r && newerRun(r, n)) {
      changed = true;
      return n;
    }
    return r;
  });
  return changed ? { ...page, items } : page;
}

/** Upserts timeline bars from jobs. */
export function upsertBars(bars: TimelineBar[], jobs: Job[]): TimelineBar[] {
  const fresh = jobs.map(
    (j): TimelineBar => ({
      job_id: j.job_id,
      rule: j.rule,
      status: j.status,
      started_at: j.started_at ?? null,
      finished_at: j.finished_at ?? null,
    }),
  );
  return upsertBy(bars, fresh, (b) => b.job_id);
}

/** Event kinds after which a run's descriptive detail (not in the summary) may have changed. */
const DETAIL_KINDS = new Set(["workflow_started", "run_info", "run_context", "run_labels", "run_finished", "rulegraph", "error"]);
/** Event kinds that add run or job errors. */
const ERROR_KINDS = new Set(["error", "job_error", "run_finished"]);

/** What a batch of events asks for beyond in-place updates. */
export interface Followups {
  /** A run appeared that no cached runs list holds. */
  newRuns: boolean;
  invalidate: QueryKey[];
}

/**
 * Applies a batch of live events to the query cache in place. One `setQueryData` per
 * affected query per batch, so a burst of events costs one render, not one per event.
 */
export function applyLiveEvents(client: QueryClient, events: LiveEvent[]): Followups {
  const runs = new Map<string, Run>();
  const jobsByRun = new Map<string, Map<number, Job>>();
  const invalidate: QueryKey[] = [];
  const seen = new Set<string>();
  const want = (key: QueryKey) => {
    const s = JSON.stringify(key);
    if (!seen.has(s)) {
      seen.add(s);
      invalidate.push(key);
    }
  };
  for (const ev of events) {
    const runId = ev.event.run_id;
    if (ev.run) runs.set(ev.run.id, ev.run);
    if (ev.job) {
      let m = jobsByRun.get(runId);
      if (!m) jobsByRun.set(runId, (m = new Map()));
      m.set(ev.job.job_id, ev.job);
    }
    const kind = ev.event.kind;
    if (DETAIL_KINDS.has(kind)) want(keys.run(runId));
    if (ERROR_KINDS.has(kind) || ev.job?.status === "failed") want(keys.errors(runId));
    if (kind === "job_logs" || kind === "job_benchmark") {
      const jobId = (ev.event.data as { job_id?: number } | undefined)?.job_id;
      if (typeof jobId === "number") want(keys.job(runId, jobId));
    }
    if (kind === "run_source") want(keys.sources(runId));
    if (kind === "rulegraph") want(keys.graph(runId));
  }

  // Runs lists and run headers.
  let newRuns = false;
  if (runs.size > 0) {
    const listed = new Set<string>();
    for (const [key, page] of client.getQueriesData<Page<Run>>({ queryKey: keys.runsAll })) {
      if (!page) continue;
      page.items.forEach((r) => listed.add(r.id));
      const next = applyRunsToPage(page, runs);
      if (next !== page) client.setQueryData(key, next);
    }
    for (const run of runs.values()) {
      if (!listed.has(run.id)) newRuns = true;
      const view = client.getQueryData<RunView>(keys.run(run.id));
      if (view && newerRun(view, run)) client.setQueryData(keys.run(run.id), { ...view, ...run, detail: view.detail });
    }
  }

  // Jobs, rule counts and timeline bars of runs on screen.
  for (const [runId, changed] of jobsByRun) {
    const jobs = [...changed.values()];
    const list = client.getQueryData<JobBrief[]>(keys.jobs(runId));
    const loading = client.getQueryState(keys.jobs(runId))?.fetchStatus === "fetching";
    // Made only for a run whose job list is on screen or on its way.
    const briefs = list || loading ? jobs.map(jobBrief) : [];
    if (loading) {
      // The list is being (re)loaded page by page: keep these for the loader to apply on
      // top of pages fetched before them, and let the rule counts come from the server.
      recordPendingJobs(runId, briefs);
      want(keys.rules(runId));
    }
    if (list) client.setQueryData(keys.jobs(runId), mergeJobs(list, briefs));
    const bars = client.getQueryData<TimelineBar[]>(keys.timeline(runId));
    if (bars) client.setQueryData(keys.timeline(runId), upsertBars(bars, jobs));
    for (const job of jobs) {
      const key = keys.job(runId, job.job_id);
      const view = client.getQueryData<Job & { logs: unknown[] }>(key);
      if (view) client.setQueryData(key, { ...view, ...job, logs: view.logs });
    }
  }
  return { newRuns, invalidate };
}

import { describe, expect, it } from "vitest";
import { QueryClient, QueryObserver } from "@tanstack/react-query";
import { applyLiveEvents, invalidateLive } from "./apply";
import { jobBrief, keys } from "../api/queries";
import type { Job, JobBrief, JobStatus, LiveEvent, Page, Run, RunView, TimelineBar } from "../api/types";

const RUN = "11111111-1111-1111-1111-111111111111";

function run(over: Partial<Run> = {}): Run {
  return {
    id: RUN,
    workspace_id: "w",
    status: "running",
    dry_run: false,
    tags: [],
    done: 0,
    total: 3,
    jobs: { running: 0, succeeded: 0, failed: 0, incomplete: 0, planned: 0 },
    error_count: 0,
    event_count: 1,
    ...over,
  } as Run;
}

function job(job_id: number, status: JobStatus, rule = "align"): Job {
  return {
    run_id: RUN,
    job_id,
    rule,
    status,
    attempts: 1,
    started_at: "2026-11-26T10:00:00Z",
    finished_at: status === "succeeded" ? "2026-11-26T10:00:02Z" : null,
    detail: {} as Job["detail"],
  };
}

let pos = 0;
function live(kind: string, r?: Run, j?: Job, data: unknown = {}): LiveEvent {
  pos += 1;
  return {
    event: { run_id: RUN, seq: pos, kind, recorded_at: "2026-11-26T10:00:00Z", pos, workspace_id: "w", data },
    run: r ?? null,
    job: j ?? null,
  } as LiveEvent;
}

function client(): QueryClient {
  return new QueryClient({ defaultOptions: { queries: { retry: false } } });
}

describe("applyLiveEvents", () => {
  it("replaces a run's row in every cached list, in place", () => {
    const c = client();
    const other = run({ id: "other", event_count: 5 });
    c.setQueryData<Page<Run>>(keys.runs({}), { items: [run(), other], total: 2 });
    c.setQueryData<Page<Run>>(keys.runs({ status: "running" }), { items: [run()], total: 1 });
    const follow = applyLiveEvents(c, [live("progress", run({ done: 2, event_count: 7 }))]);
    expect(follow.newRuns).toBe(false);
    const all = c.getQueryData<Page<Run>>(keys.runs({}))!;
    expect(all.items[0].done).toBe(2);
    expect(all.items[1]).toBe(other);
    expect(c.getQueryData<Page<Run>>(keys.runs({ status: "running" }))!.items[0].done).toBe(2);
  });

  it("never lets an older summary overwrite a newer one", () => {
    const c = client();
    c.setQueryData<Page<Run>>(keys.runs({}), { items: [run({ done: 3, event_count: 9 })] });
    applyLiveEvents(c, [live("progress", run({ done: 1, event_count: 4 }))]);
    expect(c.getQueryData<Page<Run>>(keys.runs({}))!.items[0].done).toBe(3);
  });

  it("asks for the lists when a run no list holds appears", () => {
    const c = client();
    c.setQueryData<Page<Run>>(keys.runs({}), { items: [] });
    expect(applyLiveEvents(c, [live("workflow_started", run())]).newRuns).toBe(true);
  });

  it("updates the run header but keeps its detail, and refetches the detail on detail events", () => {
    const c = client();
    const view = { ...run(), detail: { planned: { align: 3 } } } as unknown as RunView;
    c.setQueryData(keys.run(RUN), view);
    const follow = applyLiveEvents(c, [live("run_finished", run({ status: "succeeded", event_count: 12 }))]);
    const next = c.getQueryData<RunView>(keys.run(RUN))!;
    expect(next.status).toBe("succeeded");
    expect(next.detail).toBe(view.detail);
    expect(follow.invalidate).toContainEqual(keys.run(RUN));
    expect(follow.invalidate).toContainEqual(keys.errors(RUN));
  });

  it("upserts job rows and timeline bars, one update for a whole batch", () => {
    const c = client();
    c.setQueryData<JobBrief[]>(keys.jobs(RUN), [jobBrief(job(1, "running")), jobBrief(job(3, "running"))]);
    c.setQueryData<TimelineBar[]>(keys.timeline(RUN), []);
    const full = job(2, "running");
    full.detail = { ...full.detail, wildcards: { sample: "a" }, threads: 4, shellcmd: "align a", input: ["a.fq"] };
    const follow = applyLiveEvents(c, [
      live("job_info", run(), full),
      live("job_finished", run(), job(1, "succeeded")),
      live("job_finished", run(), { ...full, status: "succeeded", finished_at: "2026-11-26T10:00:02Z" }),
    ]);
    const jobs = c.getQueryData<JobBrief[]>(keys.jobs(RUN))!;
    expect(jobs.map((j) => [j.job_id, j.status])).toEqual([
      [1, "succeeded"],
      [2, "succeeded"],
      [3, "running"],
    ]);
    // The list keeps briefs: a live job's wildcards and threads, not its files or command.
    expect(jobs[1].detail).toEqual({ wildcards: { sample: "a" }, threads: 4 });
    const bars = c.getQueryData<TimelineBar[]>(keys.timeline(RUN))!;
    expect(bars.map((b) => [b.job_id, b.status])).toEqual([
      [2, "succeeded"],
      [1, "succeeded"],
    ]);
    expect(follow.invalidate).toEqual([]);
  });

  it("refetches errors when a job fails and the open job when its logs arrive", () => {
    const c = client();
    const follow = applyLiveEvents(c, [
      live("job_error", run(), job(4, "failed")),
      live("job_logs", run(), undefined, { job_id: 4, files: [] }),
    ]);
    expect(follow.invalidate).toEqual([keys.errors(RUN), keys.job(RUN, 4)]);
  });

  it("leaves queries of runs that are not on screen alone", () => {
    const c = client();
    applyLiveEvents(c, [live("job_info", run(), job(1, "running"))]);
    expect(c.getQueryData(keys.jobs(RUN))).toBeUndefined();
  });
});

describe("invalidateLive", () => {
  /** A query function whose answers the test gives, one per call, in order. */
  function answers() {
    const calls: ((v: string) => void)[] = [];
    const fn = () => new Promise<string>((resolve) => calls.push(resolve));
    return { fn, calls };
  }
  const settle = () => new Promise((r) => setTimeout(r, 0));

  it("fetches a query again when events arrive while its first fetch is in flight", async () => {
    const c = new QueryClient({ defaultOptions: { queries: { staleTime: 30_000, retry: false } } });
    const key = keys.graph(RUN);
    const q = answers();
    // The run page prefetches the graph before it renders: no observer yet.
    const prefetch = c.prefetchQuery({ queryKey: key, queryFn: q.fn });
    await settle();
    expect(q.calls).toHaveLength(1);
    invalidateLive(c, key);
    invalidateLive(c, key); // a second event for the same query asks for no extra fetch
    q.calls[0]("read before the events");
    await prefetch;
    await settle();
    // Without the second fetch, this answer would stay for the whole staleTime.
    expect(q.calls).toHaveLength(2);
    q.calls[1]("read after the events");
    await settle();
    expect(c.getQueryData(key)).toBe("read after the events");
  });

  it("refetches a settled query on screen at once, and only marks one off screen", async () => {
    const c = new QueryClient({ defaultOptions: { queries: { staleTime: 30_000, retry: false } } });
    const shown = keys.run(RUN);
    const hidden = keys.errors(RUN);
    const q = answers();
    c.setQueryData(shown, "old");
    c.setQueryData(hidden, "old");
    const observer = new QueryObserver(c, { queryKey: shown, queryFn: q.fn });
    const unsubscribe = observer.subscribe(() => {});
    invalidateLive(c, shown);
    invalidateLive(c, hidden);
    await settle();
    expect(q.calls).toHaveLength(1);
    expect(c.getQueryState(hidden)?.isInvalidated).toBe(true);
    q.calls[0]("new");
    await settle();
    expect(c.getQueryData(shown)).toBe("new");
    unsubscribe();
  });

  it("lets a query that is removed while it loads go", async () => {
    const c = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    const key = keys.graph(RUN);
    const q = answers();
    void c.prefetchQuery({ queryKey: key, queryFn: q.fn });
    await settle();
    invalidateLive(c, key);
    c.removeQueries({ queryKey: key });
    q.calls[0]("late");
    await settle();
    expect(q.calls).toHaveLength(1);
    expect(c.getQueryData(key)).toBeUndefined();
  });
});

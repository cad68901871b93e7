import { describe, expect, it } from "vitest";
import { QueryClient } from "@tanstack/react-query";
import { applyLiveEvents } from "./apply";
import { keys } from "../api/queries";
import type { Job, JobStatus, LiveEvent, Page, Run, RunView, TimelineBar } from "../api/types";

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
    c.setQueryData<Job[]>(keys.jobs(RUN), [job(1, "running"), job(3, "running")]);
    c.setQueryData<TimelineBar[]>(keys.timeline(RUN), []);
    const follow = applyLiveEvents(c, [
      live("job_info", run(), job(2, "running")),
      live("job_finished", run(), job(1, "succeeded")),
      live("job_finished", run(), job(2, "succeeded")),
    ]);
    const jobs = c.getQueryData<Job[]>(keys.jobs(RUN))!;
    expect(jobs.map((j) => [j.job_id, j.status])).toEqual([
      [1, "succeeded"],
      [2, "succeeded"],
      [3, "running"],
    ]);
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

// Query keys and hooks for every read; the live stream (src/live) updates these same keys.
import { keepPreviousData, queryOptions, useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { api, unwrap } from "./client";
import type { Job, JobBrief, Page, RunStatus } from "./types";
import { upsertBy } from "../lib/upsert";

/** Filters of the runs page, as sent to `GET /runs`. */
export interface RunFilters {
  q?: string;
  status?: string;
  tag?: string;
  workspace?: string;
  from?: string;
  to?: string;
  sort?: "started_at" | "last_event_at" | "name";
  order?: "asc" | "desc";
  cursor?: string;
  limit?: number;
}

/** The runs page's comma-separated status filter as the API's list of statuses. */
const statusList = (status: string) => status.split(",").filter(Boolean) as RunStatus[];

export const keys = {
  me: ["me"] as const,
  runs: (f: RunFilters) => ["runs", f] as const,
  runsAll: ["runs"] as const,
  run: (id: string) => ["run", id] as const,
  rules: (id: string) => ["rules", id] as const,
  graph: (id: string) => ["graph", id] as const,
  jobs: (id: string) => ["jobs", id] as const,
  job: (id: string, jobId: number) => ["job", id, jobId] as const,
  timeline: (id: string) => ["timeline", id] as const,
  errors: (id: string) => ["errors", id] as const,
  sources: (id: string) => ["sources", id] as const,
  stats: (workspace?: string, from?: string, to?: string) => ["stats", workspace, from, to] as const,
  tokens: (all: boolean) => ["tokens", all] as const,
  workspaces: ["workspaces"] as const,
  members: (name: string) => ["members", name] as const,
  users: ["users"] as const,
};

/** Who is logged in; also started before the first render (App.tsx). */
export const meQuery = queryOptions({
  queryKey: keys.me,
  queryFn: () => unwrap(api.GET("/api/v1/auth/me")),
  retry: false,
  staleTime: 60_000,
});

export const useMe = () => useQuery(meQuery);

export const useRuns = (f: RunFilters) =>
  useQuery({
    queryKey: keys.runs(f),
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/runs", {
          params: { query: { ...f, status: f.status ? statusList(f.status) : undefined, total: true } },
        }),
      ),
    placeholderData: keepPreviousData,
  });

const path = (run_id: string) => ({ params: { path: { run_id } } });

/** Query options of a run's parts, shared by the hooks and [`prefetchRun`]. */
export const runQueries = {
  run: (id: string) => queryOptions({ queryKey: keys.run(id), queryFn: () => unwrap(api.GET("/api/v1/runs/{run_id}", path(id))) }),
  rules: (id: string) =>
    queryOptions({ queryKey: keys.rules(id), queryFn: () => unwrap(api.GET("/api/v1/runs/{run_id}/rules", path(id))) }),
  graph: (id: string) =>
    queryOptions({ queryKey: keys.graph(id), queryFn: () => unwrap(api.GET("/api/v1/runs/{run_id}/graph", path(id))) }),
  errors: (id: string) =>
    queryOptions({ queryKey: keys.errors(id), queryFn: () => unwrap(api.GET("/api/v1/runs/{run_id}/errors", path(id))) }),
  jobs: (id: string, client: QueryClient) =>
    queryOptions({
      queryKey: keys.jobs(id),
      queryFn: () => fetchAllJobs(id, (partial) => client.setQueryData(keys.jobs(id), partial)),
    }),
};

export const useRun = (id: string) => useQuery(runQueries.run(id));
export const useRules = (id: string) => useQuery(runQueries.rules(id));
export const useGraph = (id: string) => useQuery(runQueries.graph(id));
export const useErrors = (id: string) => useQuery(runQueries.errors(id));
export const useTimeline = (id: string) =>
  useQuery({ queryKey: keys.timeline(id), queryFn: () => unwrap(api.GET("/api/v1/runs/{run_id}/timeline", path(id))) });
export const useSources = (id: string) =>
  useQuery({ queryKey: keys.sources(id), queryFn: () => unwrap(api.GET("/api/v1/runs/{run_id}/sources", path(id))) });

/**
 * Starts loading what the run page shows first, before the page has rendered, so that fetching
 * and rendering overlap (the page's hooks then join these requests).
 */
export function prefetchRun(client: QueryClient, id: string): void {
  void client.prefetchQuery(runQueries.run(id));
  void client.prefetchQuery(runQueries.graph(id));
  void client.prefetchQuery(runQueries.rules(id));
  void client.prefetchQuery(runQueries.errors(id));
  void client.prefetchQuery(runQueries.jobs(id, client));
}
export const useJob = (id: string, jobId: number | undefined) =>
  useQuery({
    queryKey: keys.job(id, jobId ?? -1),
    enabled: jobId !== undefined,
    queryFn: () =>
      unwrap(api.GET("/api/v1/runs/{run_id}/jobs/{job_id}", { params: { path: { run_id: id, job_id: jobId ?? 0 } } })),
  });

/** Live job updates received while a run's job list was loading, by run. */
const pendingJobs = new Map<string, Map<number, JobBrief>>();

/** Keeps live job updates for a loader in progress (see [`fetchAllJobs`]). */
export function recordPendingJobs(runId: string, jobs: JobBrief[]): void {
  const m = pendingJobs.get(runId);
  if (m) jobs.forEach((j) => m.set(j.job_id, j));
}

/** A job as the job list keeps it (see `GET /runs/{run_id}/job-briefs`). */
export function jobBrief(j: Job): JobBrief {
  return {
    run_id: j.run_id,
    job_id: j.job_id,
    rule: j.rule,
    status: j.status,
    attempts: j.attempts,
    started_at: j.started_at,
    finished_at: j.finished_at,
    detail: { wildcards: j.detail.wildcards, threads: j.detail.threads },
  };
}

/** Upserts jobs into a list sorted by job id; returns the same list when nothing changed. */
export function mergeJobs(list: JobBrief[], jobs: JobBrief[]): JobBrief[] {
  return upsertBy(list, jobs, (j) => j.job_id, (a, b) => a.job_id - b.job_id);
}

/** Page size used to load a run's jobs (the server's maximum). */
export const JOB_PAGE = 1000;

/**
 * Every job of a run as a brief, loaded page by page (the first page renders at once, the rest
 * together); the live stream then keeps the list current job by job (each live job made a
 * brief with [`jobBrief`]).
 */
export async function fetchAllJobs(id: string, onPage?: (jobs: JobBrief[]) => void): Promise<JobBrief[]> {
  pendingJobs.set(id, new Map());
  const all: JobBrief[] = [];
  let cursor: string | undefined;
  for (;;) {
    // Briefs (no files, commands or resources: the drawer loads the job it opens in full), and
    // no count: the pages are read to the end.
    const page: Page<JobBrief> = await unwrap(
      api.GET("/api/v1/runs/{run_id}/job-briefs", {
        params: { path: { run_id: id }, query: { limit: JOB_PAGE, cursor, sort: "job_id", order: "asc", total: false } },
      }),
    );
    all.push(...page.items);
    // The first page shows at once; the rest arrive together at the end, so that a big run
    // is rendered twice, not once per page.
    if (all.length === page.items.length && page.next_cursor) onPage?.(all.slice());
    if (!page.next_cursor) {
      // Jobs that changed while earlier pages were already loaded.
      const pending = pendingJobs.get(id);
      pendingJobs.delete(id);
      return pending && pending.size > 0 ? mergeJobs(all, [...pending.values()]) : all;
    }
    cursor = page.next_cursor;
  }
}

/** Every job of a run (see [`fetchAllJobs`]); pages appear as they arrive. */
export function useJobs(id: string) {
  const client = useQueryClient();
  return useQuery(runQueries.jobs(id, client));
}

export const useStats = (workspace?: string, from?: string, to?: string) =>
  useQuery({
    queryKey: keys.stats(workspace, from, to),
    queryFn: () => unwrap(api.GET("/api/v1/stats", { params: { query: { workspace, from, to } } })),
    placeholderData: keepPreviousData,
  });

export const useTokens = (all: boolean) =>
  useQuery({ queryKey: keys.tokens(all), queryFn: () => unwrap(api.GET("/api/v1/tokens", { params: { query: { all } } })) });
export const useWorkspaces = () =>
  useQuery({ queryKey: keys.workspaces, queryFn: () => unwrap(api.GET("/api/v1/workspaces")) });
export const useMembers = (name: string | undefined) =>
  useQuery({
    queryKey: keys.members(name ?? ""),
    enabled: !!name,
    queryFn: () => unwrap(api.GET("/api/v1/workspaces/{name}/members", { params: { path: { name: name ?? "" } } })),
  });
export const useUsers = (enabled: boolean) =>
  useQuery({ queryKey: keys.users, enabled, queryFn: () => unwrap(api.GET("/api/v1/users")) });

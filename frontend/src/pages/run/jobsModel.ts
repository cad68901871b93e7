// The jobs table's filtering and sorting, apart from React so that it is tested as data and
// memoized once per change of the job list or of the filters.
import type { JobBrief, JobStatus } from "../../api/types";

export interface JobFilter {
  rule?: string | null;
  /** Empty or absent: every status. */
  statuses?: JobStatus[];
}

export type JobSortKey = "job_id" | "started_at" | "duration";
export interface JobSort {
  key: JobSortKey;
  order: "ascend" | "descend";
}

/** Seconds a job ran (until `now` while it runs); null when it has not started. */
export function jobDuration(j: JobBrief, now = Date.now()): number | null {
  if (!j.started_at) return null;
  const a = Date.parse(j.started_at);
  const b = j.finished_at ? Date.parse(j.finished_at) : j.status === "running" ? now : NaN;
  return Number.isFinite(a) && Number.isFinite(b) ? Math.max(0, (b - a) / 1000) : null;
}

/** Jobs matching the filter; the same list when nothing is filtered. */
export function filterJobs(jobs: JobBrief[], f: JobFilter): JobBrief[] {
  const statuses = f.statuses && f.statuses.length > 0 ? new Set(f.statuses) : null;
  if (!f.rule && !statuses) return jobs;
  return jobs.filter((j) => (!f.rule || j.rule === f.rule) && (!statuses || statuses.has(j.status)));
}

/**
 * Jobs sorted (a new list; the input is left alone). Jobs with no start or duration go last
 * in either order, ties fall back to the job id.
 */
export function sortJobs(jobs: JobBrief[], sort: JobSort | null, now = Date.now()): JobBrief[] {
  if (!sort || (sort.key === "job_id" && sort.order === "ascend")) {
    // The loader keeps jobs sorted by id already; check rather than trust.
    let sorted = true;
    for (let i = 1; i < jobs.length && sorted; i++) sorted = jobs[i - 1].job_id <= jobs[i].job_id;
    return sorted ? jobs : jobs.slice().sort((a, b) => a.job_id - b.job_id);
  }
  const dir = sort.order === "ascend" ? 1 : -1;
  const value: (j: JobBrief) => number | null =
    sort.key === "job_id"
      ? (j) => j.job_id
      : sort.key === "started_at"
        ? (j) => (j.started_at ? Date.parse(j.started_at) : null)
        : (j) => jobDuration(j, now);
  const keyed = jobs.map((j) => ({ j, v: value(j) }));
  keyed.sort((a, b) => {
    const av = a.v === null || Number.isNaN(a.v) ? null : a.v;
    const bv = b.v === null || Number.isNaN(b.v) ? null : b.v;
    if (av === null || bv === null) {
      if (av === bv) return a.j.job_id - b.j.job_id;
      return av === null ? 1 : -1;
    }
    return av !== bv ? (av - bv) * dir : a.j.job_id - b.j.job_id;
  });
  return keyed.map((k) => k.j);
}

/** `sample=A, chunk=3`. */
export function formatWildcards(w: Record<string, string> | undefined): string {
  if (!w) return "";
  return Object.entries(w)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}

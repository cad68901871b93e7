import { describe, expect, it } from "vitest";
import type { JobBrief, JobStatus } from "../../api/types";
import { filterJobs, formatWildcards, jobDuration, sortJobs } from "./jobsModel";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

function job(job_id: number, rule: string, status: JobStatus, start?: number, end?: number): JobBrief {
  return {
    job_id,
    rule,
    status,
    run_id: "r",
    attempts: 1,
    started_at: start === undefined ? null : at(start),
    finished_at: end === undefined ? null : at(end),
    detail: {} as JobBrief["detail"],
  };
}

const jobs = [
  job(0, "all", "planned"),
  job(1, "merge", "running", 50),
  job(2, "count", "succeeded", 10, 40),
  job(3, "count", "failed", 20, 25),
  job(4, "prepare", "succeeded", 0, 10),
];
const ids = (l: JobBrief[]) => l.map((j) => j.job_id);

describe("jobDuration", () => {
  it("measures finished jobs, running ones until now, and nothing for jobs not started", () => {
    expect(jobDuration(jobs[2])).toBe(30);
    expect(jobDuration(jobs[1], T0 + 60_000)).toBe(10);
    expect(jobDuration(jobs[0])).toBeNull();
  });
});

describe("filterJobs", () => {
  it("filters by rule and by statuses", () => {
    expect(ids(filterJobs(jobs, { rule: "count" }))).toEqual([2, 3]);
    expect(ids(filterJobs(jobs, { statuses: ["succeeded", "running"] }))).toEqual([1, 2, 4]);
    expect(ids(filterJobs(jobs, { rule: "count", statuses: ["failed"] }))).toEqual([3]);
  });
  it("returns the same list when nothing is filtered", () => {
    expect(filterJobs(jobs, {})).toBe(jobs);
    expect(filterJobs(jobs, { rule: null, statuses: [] })).toBe(jobs);
  });
});

describe("sortJobs", () => {
  it("keeps an id-sorted list as it is", () => {
    expect(sortJobs(jobs, null)).toBe(jobs);
    expect(ids(sortJobs([jobs[3], jobs[1]], null))).toEqual([1, 3]);
  });
  it("sorts by id descending", () => {
    expect(ids(sortJobs(jobs, { key: "job_id", order: "descend" }))).toEqual([4, 3, 2, 1, 0]);
  });
  it("sorts by start, jobs not started last in either order", () => {
    expect(ids(sortJobs(jobs, { key: "started_at", order: "ascend" }))).toEqual([4, 2, 3, 1, 0]);
    expect(ids(sortJobs(jobs, { key: "started_at", order: "descend" }))).toEqual([1, 3, 2, 4, 0]);
  });
  it("sorts by duration, running jobs counted until now", () => {
    const now = T0 + 100_000; // job 1 has run 50 s
    expect(ids(sortJobs(jobs, { key: "duration", order: "descend" }, now))).toEqual([1, 2, 4, 3, 0]);
    expect(ids(sortJobs(jobs, { key: "duration", order: "ascend" }, now))).toEqual([3, 4, 2, 1, 0]);
  });
  it("does not change its input", () => {
    const copy = jobs.slice();
    sortJobs(jobs, { key: "duration", order: "descend" });
    expect(jobs).toEqual(copy);
  });
});

describe("formatWildcards", () => {
  it("joins name=value pairs", () => {
    expect(formatWildcards({ sample: "A", chunk: "3" })).toBe("sample=A, chunk=3");
    expect(formatWildcards({})).toBe("");
    expect(formatWildcards(undefined)).toBe("");
  });
});

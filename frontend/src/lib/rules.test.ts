import { describe, expect, it } from "vitest";
import { deriveRuleSummaries, ruleTotal } from "./rules";
import type { JobBrief, JobStatus, RuleSummary } from "../api/types";

function job(job_id: number, rule: string, status: JobStatus, secs?: number): JobBrief {
  const start = Date.parse("2026-11-26T10:00:00Z");
  return {
    run_id: "r",
    job_id,
    rule,
    status,
    attempts: 1,
    started_at: new Date(start).toISOString(),
    finished_at: secs === undefined ? null : new Date(start + secs * 1000).toISOString(),
    detail: {} as JobBrief["detail"],
  };
}

describe("deriveRuleSummaries", () => {
  it("counts jobs per rule and status, with planned totals and durations of succeeded jobs", () => {
    const jobs = [
      job(1, "align", "succeeded", 2),
      job(2, "align", "succeeded", 4),
      job(3, "align", "failed", 1),
      job(4, "align", "running"),
      job(5, "call", "succeeded", 10),
    ];
    const rules = deriveRuleSummaries(jobs, { align: 6, call: 2, all: 1 }, undefined);
    const align = rules.find((r) => r.rule === "align")!;
    expect(align.jobs).toEqual({ running: 1, succeeded: 2, failed: 1, incomplete: 0, planned: 0 });
    expect(align.planned).toBe(6);
    expect(align.not_started).toBe(2);
    expect([align.duration_min, align.duration_median, align.duration_max]).toEqual([2, 3, 4]);
    const all = rules.find((r) => r.rule === "all")!;
    expect(all.not_started).toBe(1);
    expect(ruleTotal(all)).toBe(1);
    expect(rules.map((r) => r.rule)).toEqual(["align", "call", "all"]);
  });

  it("keeps the server's rule order and planned counts when the run has none", () => {
    const server = [{ rule: "b", planned: 2 }, { rule: "a", planned: null }] as RuleSummary[];
    const rules = deriveRuleSummaries([job(1, "a", "running"), job(2, "c", "planned")], null, server);
    expect(rules.map((r) => [r.rule, r.planned, r.not_started])).toEqual([
      ["b", 2, 2],
      ["a", null, 0],
      ["c", null, 0],
    ]);
    expect(ruleTotal(rules[2])).toBe(1);
  });

  it("never counts more not started than planned", () => {
    const rules = deriveRuleSummaries([job(1, "a", "succeeded", 1), job(2, "a", "succeeded", 1)], { a: 1 }, undefined);
    expect(rules[0].not_started).toBe(0);
    expect(ruleTotal(rules[0])).toBe(2);
  });
});

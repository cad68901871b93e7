import { describe, expect, it } from "vitest";
import type { RuleStats } from "../../api/types";
import { barsHeight, fillDays, rulesByDuration, rulesByFailure, statusSlices, totalOf } from "./options";

const rule = (rule: string, median: number | null, rate: number | null, failed = 0): RuleStats => ({
  rule,
  jobs: 10,
  failed,
  duration_median: median,
  duration_max: median === null ? null : median * 2,
  failure_rate: rate,
});

describe("dashboard data", () => {
  it("orders status slices canonically, unknown ones last, zeros out", () => {
    const s = statusSlices({ failed: 2, running: 1, weird: 3, lost: 0 }, ["running", "succeeded", "failed", "lost"]);
    expect(s.map((x) => x.name)).toEqual(["running", "failed", "weird"]);
    expect(s[1].itemStyle.color).toBe("#ff4d4f");
    expect(totalOf({ a: 1, b: 2 })).toBe(3);
    expect(totalOf(undefined)).toBe(0);
  });

  it("fills days without runs", () => {
    expect(fillDays([{ day: "2026-11-28", runs: 2 }, { day: "2026-11-26", runs: 1 }])).toEqual([
      { day: "2026-11-26", runs: 1 },
      { day: "2026-11-27", runs: 0 },
      { day: "2026-11-28", runs: 2 },
    ]);
    expect(fillDays([])).toEqual([]);
  });

  it("picks rules by duration and by failure rate", () => {
    const rules = [rule("a", 1, 0), rule("b", 5, 0.5, 5), rule("c", null, null), rule("d", 3, 0.5, 2)];
    expect(rulesByDuration(rules).map((r) => r.rule)).toEqual(["b", "d", "a"]);
    expect(rulesByFailure(rules).map((r) => r.rule)).toEqual(["b", "d", "a"]);
    expect(rulesByDuration(rules, 1).map((r) => r.rule)).toEqual(["b"]);
    expect(barsHeight(0)).toBe(160);
    expect(barsHeight(25)).toBe(720);
  });
});

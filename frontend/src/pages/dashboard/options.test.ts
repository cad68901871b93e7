import { describe, expect, it } from "vitest";
import type { RuleStats } from "../../api/types";
import { activity, barsHeight, failureAxis, failures, fillDays, MAX_DAYS, rulesByDuration, rulesByFailure, statusSlices, totalOf } from "./options";

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

  it("fills every day of the chosen range, to today for an open end", () => {
    const now = Date.parse("2026-11-26T21:52:00Z");
    const days = fillDays([{ day: "2026-11-26", runs: 4 }], { from: "2026-10-27T21:52:00.000Z" }, now);
    expect(days).toHaveLength(31);
    expect(days[0]).toEqual({ day: "2026-10-27", runs: 0 });
    expect(days[30]).toEqual({ day: "2026-11-26", runs: 4 });
    expect(days.reduce((a, d) => a + d.runs, 0)).toBe(4);
    // "all": from the first day with runs to today.
    expect(fillDays([{ day: "2026-11-20", runs: 1 }], {}, now).map((d) => d.day)).toEqual([
      "2026-11-20",
      "2026-11-21",
      "2026-11-22",
      "2026-11-23",
      "2026-11-24",
      "2026-11-25",
      "2026-11-26",
    ]);
    // A closed custom range; days with runs outside it still show.
    expect(fillDays([{ day: "2026-11-01", runs: 2 }], { from: "2026-11-02T00:00:00Z", to: "2026-11-03T10:00:00Z" }, now)).toEqual([
      { day: "2026-11-01", runs: 2 },
      { day: "2026-11-02", runs: 0 },
      { day: "2026-11-03", runs: 0 },
    ]);
    // No runs and no start: nothing to draw.
    expect(fillDays([], {}, now)).toEqual([]);
    // Bounded: the last MAX_DAYS days.
    const long = fillDays([], { from: "1970-01-01T00:00:00Z" }, now);
    expect(long).toHaveLength(MAX_DAYS);
    expect(long[long.length - 1].day).toBe("2026-11-26");
    const option = activity([{ day: "2026-11-26", runs: 4 }], { from: "2026-10-27T21:52:00.000Z" }, now) as { xAxis: { data: string[] } };
    expect(option.xAxis.data).toHaveLength(31);
  });

  it("ends the failure-rate axis at a round value in five steps", () => {
    expect(failureAxis(0)).toEqual({ max: 5, interval: 1 });
    expect(failureAxis(5.6)).toEqual({ max: 10, interval: 2 });
    expect(failureAxis(17.6)).toEqual({ max: 20, interval: 4 });
    expect(failureAxis(20)).toEqual({ max: 25, interval: 5 });
    expect(failureAxis(40)).toEqual({ max: 50, interval: 10 });
    expect(failureAxis(95)).toEqual({ max: 100, interval: 20 });
    expect(failureAxis(100)).toEqual({ max: 100, interval: 20 });
    const option = failures([rule("a", 1, 0.176, 3), rule("b", 1, 0.05, 1)]) as { xAxis: { min: number; max: number; interval: number } };
    expect(option.xAxis).toMatchObject({ min: 0, max: 20, interval: 4 });
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

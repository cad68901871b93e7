import { describe, expect, it } from "vitest";
import type { TimelineBar } from "../../api/types";
import { ganttRows } from "./timelineModel";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const at = (s: number) => new Date(T0 + s * 1000).toISOString();
const bar = (job_id: number, rule: string, status: TimelineBar["status"], start?: number, end?: number): TimelineBar => ({
  job_id,
  rule,
  status,
  started_at: start === undefined ? null : at(start),
  finished_at: end === undefined ? null : at(end),
});

const bars = [bar(3, "b", "succeeded", 5, 9), bar(1, "a", "succeeded", 0, 4), bar(2, "b", "running", 2), bar(4, "a", "planned"), bar(5, "a", "failed", 6, 7)];

describe("ganttRows", () => {
  it("keeps started jobs sorted by start, running ones up to now", () => {
    const rows = ganttRows(bars, { now: T0 + 20_000 });
    expect(rows.map((r) => r.job_id)).toEqual([1, 2, 3, 5]);
    const running = rows.find((r) => r.job_id === 2);
    expect(running).toMatchObject({ open: true, end: T0 + 20_000 });
    expect(rows[0]).toMatchObject({ open: false, start: T0, end: T0 + 4000 });
  });
  it("groups by rule in order of first start", () => {
    expect(ganttRows(bars, { groupByRule: true, now: T0 }).map((r) => r.job_id)).toEqual([1, 5, 2, 3]);
  });
  it("filters by rule", () => {
    expect(ganttRows(bars, { rule: "b", now: T0 }).map((r) => r.job_id)).toEqual([2, 3]);
  });
  it("never ends a bar before its start", () => {
    expect(ganttRows([bar(1, "a", "running", 10)], { now: T0 })[0].end).toBe(T0 + 10_000);
  });
});

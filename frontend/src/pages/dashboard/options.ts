// ECharts options for the dashboard, built from `/stats` as plain data (tested without a canvas).
import type { EChartsCoreOption } from "echarts/core";
import type { RuleStats, WorkspaceStats } from "../../api/types";
import { formatDuration } from "../../lib/format";
import { JOB_STATUSES, RUN_STATUSES, STATUS_COLORS } from "../../lib/status";

/** Rules shown in the per-rule charts (the server lists most jobs first). */
export const RULE_LIMIT = 25;

/** Sum of a count map. */
export const totalOf = (counts: Record<string, number> | undefined): number =>
  Object.values(counts ?? {}).reduce((a, b) => a + b, 0);

/** Non-zero counts in the canonical status order, then any status this build does not know. */
export function statusSlices(counts: Record<string, number>, order: readonly string[]) {
  const known = order.filter((s) => (counts[s] ?? 0) > 0);
  const other = Object.keys(counts).filter((s) => !order.includes(s) && counts[s] > 0).sort();
  return [...known, ...other].map((s) => ({
    name: s,
    value: counts[s],
    itemStyle: { color: (STATUS_COLORS as Record<string, string>)[s] ?? "#bfbfbf" },
  }));
}

export function statusDonut(counts: Record<string, number>, kind: "runs" | "jobs"): EChartsCoreOption {
  const data = statusSlices(counts, kind === "runs" ? RUN_STATUSES : JOB_STATUSES);
  return {
    tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" },
    legend: { bottom: 0, type: "scroll" },
    series: [
      {
        name: kind,
        type: "pie",
        radius: ["45%", "72%"],
        center: ["50%", "45%"],
        avoidLabelOverlap: true,
        label: { formatter: "{b}: {c}" },
        data,
      },
    ],
  };
}

const DAY_MS = 86_400_000;
/** At most this many days are drawn (the last ones), so that a bad date cannot loop for long. */
export const MAX_DAYS = 3700;

const dayOf = (t: number) => new Date(t).toISOString().slice(0, 10);
const parseDay = (day: string) => Date.parse(day + "T00:00:00Z");

/**
 * Every day (UTC) of the chosen range, zero where no run started: from `range.from` (else the
 * first day with runs) to `range.to` (else today, from `now`; else the last day with runs),
 * widened to every day with runs.
 */
export function fillDays(
  days: { day: string; runs: number }[],
  range: { from?: string; to?: string } = {},
  now?: number,
): { day: string; runs: number }[] {
  const byDay = new Map(days.map((d) => [d.day, d.runs]));
  const sorted = [...byDay.keys()].filter((d) => !Number.isNaN(parseDay(d))).sort();
  const bound = (iso: string | undefined) => {
    const t = iso ? Date.parse(iso) : NaN;
    return Number.isNaN(t) ? undefined : parseDay(dayOf(t));
  };
  let start = bound(range.from) ?? (sorted.length ? parseDay(sorted[0]) : undefined);
  let end = bound(range.to) ?? (now !== undefined ? parseDay(dayOf(now)) : sorted.length ? parseDay(sorted[sorted.length - 1]) : undefined);
  if (start === undefined || end === undefined) return [];
  if (sorted.length) {
    start = Math.min(start, parseDay(sorted[0]));
    end = Math.max(end, parseDay(sorted[sorted.length - 1]));
  }
  start = Math.max(start, end - (MAX_DAYS - 1) * DAY_MS);
  const out: { day: string; runs: number }[] = [];
  for (let t = start; t <= end; t += DAY_MS) {
    const day = dayOf(t);
    out.push({ day, runs: byDay.get(day) ?? 0 });
  }
  return out;
}

/** Runs per day over the chosen range (`from`/`to` as sent to `/stats`, `now` for an open end). */
export function activity(days: WorkspaceStats["runs_per_day"], range: { from?: string; to?: string } = {}, now?: number): EChartsCoreOption {
  const filled = fillDays(days, range, now);
  return {
    tooltip: { trigger: "axis" },
    grid: { left: 40, right: 16, top: 16, bottom: 40 },
    xAxis: { type: "category", data: filled.map((d) => d.day), axisLabel: { hideOverlap: true } },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ name: "Runs", type: "bar", data: filled.map((d) => d.runs), itemStyle: { color: "#1677ff" }, barMaxWidth: 32 }],
  };
}

/**
 * The failure-rate axis (percent): ends at a round value a little above the highest rate (room
 * for its label), at most 100%, in five equal steps, so that no two labels crowd together.
 */
export function failureAxis(maxPercent: number): { max: number; interval: number } {
  const want = Math.max(0, maxPercent) * 1.1;
  const max = [5, 10, 20, 25, 50, 100].find((m) => m >= want) ?? 100;
  return { max, interval: max / 5 };
}

/** Rules with a duration, longest median first, at most `limit`. */
export function rulesByDuration(rules: RuleStats[], limit = RULE_LIMIT): RuleStats[] {
  return rules
    .filter((r) => r.duration_median !== null && r.duration_median !== undefined)
    .sort((a, b) => (b.duration_median ?? 0) - (a.duration_median ?? 0))
    .slice(0, limit);
}

/** Rules with finished jobs, highest failure rate first (then most failures), at most `limit`. */
export function rulesByFailure(rules: RuleStats[], limit = RULE_LIMIT): RuleStats[] {
  return rules
    .filter((r) => r.failure_rate !== null && r.failure_rate !== undefined)
    .sort((a, b) => (b.failure_rate ?? 0) - (a.failure_rate ?? 0) || b.failed - a.failed || a.rule.localeCompare(b.rule))
    .slice(0, limit);
}

/** Height for a horizontal bar chart of `n` categories. */
export const barsHeight = (n: number): number => Math.max(160, n * 26 + 70);

export function durations(rules: RuleStats[]): EChartsCoreOption {
  // Horizontal bars list bottom-up: reverse so the longest is on top.
  const rows = [...rules].reverse();
  return {
    tooltip: {
      trigger: "axis",
      axisPointer: { type: "shadow" },
      valueFormatter: (v: unknown) => formatDuration(typeof v === "number" ? v : null),
    },
    legend: { top: 0 },
    grid: { left: 8, right: 24, top: 30, bottom: 8, containLabel: true },
    xAxis: { type: "value", axisLabel: { formatter: (v: number) => (v === 0 ? "0" : formatDuration(v)) } },
    yAxis: { type: "category", data: rows.map((r) => r.rule), axisLabel: { width: 160, overflow: "truncate" } },
    series: [
      { name: "median", type: "bar", data: rows.map((r) => r.duration_median ?? 0), itemStyle: { color: "#1677ff" } },
      { name: "max", type: "bar", data: rows.map((r) => r.duration_max ?? 0), itemStyle: { color: "#91caff" } },
    ],
  };
}

const percent = (rate: number | null | undefined) => Math.round((rate ?? 0) * 1000) / 10;

export function failures(rules: RuleStats[]): EChartsCoreOption {
  const rows = [...rules].reverse();
  const axis = failureAxis(Math.max(0, ...rows.map((r) => percent(r.failure_rate))));
  return {
    tooltip: {
      trigger: "axis",
      axisPointer: { type: "shadow" },
      formatter: (items: { dataIndex: number }[]) => {
        const r = rows[items[0]?.dataIndex ?? 0];
        return r ? `${r.rule}<br/>${percent(r.failure_rate)}% failed (${r.failed} of ${r.jobs} jobs)` : "";
      },
    },
    grid: { left: 8, right: 48, top: 8, bottom: 8, containLabel: true },
    // Small rates stay visible: the axis ends a little above the highest, at most at 100%.
    xAxis: {
      type: "value",
      min: 0,
      ...axis,
      splitNumber: 5,
      axisLabel: { formatter: (v: number) => `${v}%`, hideOverlap: true },
    },
    yAxis: { type: "category", data: rows.map((r) => r.rule), axisLabel: { width: 160, overflow: "truncate" } },
    series: [
      {
        name: "failure rate",
        type: "bar",
        data: rows.map((r) => ({
          value: percent(r.failure_rate),
          itemStyle: { color: (r.failure_rate ?? 0) > 0 ? STATUS_COLORS.failed : STATUS_COLORS.succeeded },
        })),
        label: { show: true, position: "right", formatter: "{c}%" },
      },
    ],
  };
}

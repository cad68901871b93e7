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

/** Every day from the first to the last (UTC), zero where no run started. */
export function fillDays(days: { day: string; runs: number }[]): { day: string; runs: number }[] {
  if (days.length === 0) return [];
  const byDay = new Map(days.map((d) => [d.day, d.runs]));
  const sorted = [...byDay.keys()].sort();
  const out: { day: string; runs: number }[] = [];
  const end = Date.parse(sorted[sorted.length - 1] + "T00:00:00Z");
  // Bounded, so that a bad first day cannot loop for long.
  for (let t = Date.parse(sorted[0] + "T00:00:00Z"); t <= end && out.length < 3700; t += 86_400_000) {
    const day = new Date(t).toISOString().slice(0, 10);
    out.push({ day, runs: byDay.get(day) ?? 0 });
  }
  return out;
}

export function activity(days: WorkspaceStats["runs_per_day"]): EChartsCoreOption {
  const filled = fillDays(days);
  return {
    tooltip: { trigger: "axis" },
    grid: { left: 40, right: 16, top: 16, bottom: 40 },
    xAxis: { type: "category", data: filled.map((d) => d.day) },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ name: "Runs", type: "bar", data: filled.map((d) => d.runs), itemStyle: { color: "#1677ff" }, barMaxWidth: 32 }],
  };
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

export function failures(rules: RuleStats[]): EChartsCoreOption {
  const rows = [...rules].reverse();
  return {
    tooltip: {
      trigger: "axis",
      axisPointer: { type: "shadow" },
      formatter: (items: { dataIndex: number }[]) => {
        const r = rows[items[0]?.dataIndex ?? 0];
        return r ? `${r.rule}<br/>${Math.round((r.failure_rate ?? 0) * 1000) / 10}% failed (${r.failed} of ${r.jobs} jobs)` : "";
      },
    },
    grid: { left: 8, right: 40, top: 8, bottom: 8, containLabel: true },
    // Small rates stay visible: the axis ends a little above the highest, at most at 100%.
    xAxis: {
      type: "value",
      min: 0,
      max: (v: { max: number }) => Math.min(100, Math.max(5, Math.ceil(v.max * 1.2))),
      axisLabel: { formatter: "{value}%" },
    },
    yAxis: { type: "category", data: rows.map((r) => r.rule), axisLabel: { width: 160, overflow: "truncate" } },
    series: [
      {
        name: "failure rate",
        type: "bar",
        data: rows.map((r) => ({
          value: Math.round((r.failure_rate ?? 0) * 1000) / 10,
          itemStyle: { color: (r.failure_rate ?? 0) > 0 ? STATUS_COLORS.failed : STATUS_COLORS.succeeded },
        })),
        label: { show: true, position: "right", formatter: "{c}%" },
      },
    ],
  };
}

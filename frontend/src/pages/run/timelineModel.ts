// The Gantt chart's rows from timeline bars, apart from ECharts: one row per started job,
// sorted by start (or grouped by rule, rules in order of their first start); running jobs end at
// `now`.
import type { JobStatus, TimelineBar } from "../../api/types";

export interface GanttRow {
  job_id: number;
  rule: string;
  status: JobStatus;
  start: number;
  end: number;
  /** Whether the end is `now` (the job has no end yet). */
  open: boolean;
}

export function ganttRows(
  bars: TimelineBar[],
  opts: { rule?: string | null; groupByRule?: boolean; now?: number } = {},
): GanttRow[] {
  const now = opts.now ?? Date.now();
  const rows: GanttRow[] = [];
  for (const b of bars) {
    if (opts.rule && b.rule !== opts.rule) continue;
    if (!b.started_at) continue;
    const start = Date.parse(b.started_at);
    if (!Number.isFinite(start)) continue;
    const fin = b.finished_at ? Date.parse(b.finished_at) : NaN;
    const open = !Number.isFinite(fin);
    // A job that never finished and no longer runs (incomplete, lost run) is drawn up to now too.
    const end = open ? Math.max(start, now) : Math.max(start, fin);
    rows.push({ job_id: b.job_id, rule: b.rule, status: b.status, start, end, open });
  }
  const byStart = (a: GanttRow, b: GanttRow) => a.start - b.start || a.job_id - b.job_id;
  rows.sort(byStart);
  if (opts.groupByRule) {
    const order = new Map<string, number>();
    rows.forEach((r) => {
      if (!order.has(r.rule)) order.set(r.rule, order.size);
    });
    rows.sort((a, b) => (order.get(a.rule) ?? 0) - (order.get(b.rule) ?? 0) || byStart(a, b));
  }
  return rows;
}

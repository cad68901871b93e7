// Per-rule progress (the DAG's nodes) derived from the run's jobs, so that it always agrees
// with the jobs table and moves with every live job event.
import type { JobBrief, JobCounts, RuleSummary } from "../api/types";

const seconds = (j: JobBrief): number | null =>
  j.started_at && j.finished_at ? (Date.parse(j.finished_at) - Date.parse(j.started_at)) / 1000 : null;

function median(sorted: number[]): number | null {
  if (sorted.length === 0) return null;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Rule summaries from `jobs`; `planned` (the run's planned job count per rule) and `server`
 * (the server's summaries, for the order and for rules with no job yet) fill in the rest.
 */
export function deriveRuleSummaries(
  jobs: JobBrief[],
  planned: Record<string, number> | null | undefined,
  server: RuleSummary[] | undefined,
): RuleSummary[] {
  const counts = new Map<string, { jobs: JobCounts; durations: number[]; seen: number }>();
  const entry = (rule: string) => {
    let e = counts.get(rule);
    if (!e) {
      e = { jobs: { running: 0, succeeded: 0, failed: 0, incomplete: 0, planned: 0 }, durations: [], seen: 0 };
      counts.set(rule, e);
    }
    return e;
  };
  for (const j of jobs) {
    const e = entry(j.rule);
    e.jobs[j.status] += 1;
    e.seen += 1;
    if (j.status === "succeeded") {
      const d = seconds(j);
      if (d !== null) e.durations.push(d);
    }
  }
  const order: string[] = [];
  const add = (rule: string) => {
    if (!order.includes(rule)) order.push(rule);
  };
  server?.forEach((r) => add(r.rule));
  Object.keys(planned ?? {}).forEach(add);
  counts.forEach((_, rule) => add(rule));
  return order.map((rule) => {
    const e = entry(rule);
    const p = planned?.[rule] ?? server?.find((r) => r.rule === rule)?.planned ?? null;
    const d = e.durations.sort((a, b) => a - b);
    return {
      rule,
      jobs: e.jobs,
      planned: p,
      not_started: p === null ? 0 : Math.max(0, p - e.seen),
      duration_min: d.length ? d[0] : null,
      duration_median: median(d),
      duration_max: d.length ? d[d.length - 1] : null,
    };
  });
}

/** Total jobs of a rule: planned when known, else those seen. */
export function ruleTotal(r: RuleSummary): number {
  const seen = r.jobs.running + r.jobs.succeeded + r.jobs.failed + r.jobs.incomplete + r.jobs.planned;
  return Math.max(r.planned ?? 0, seen);
}

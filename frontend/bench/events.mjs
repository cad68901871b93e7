// Event batches shaped like what the Snakemake plugin sends (see flowo-core's event kinds and the
// captures in shared/fixtures/snakemake-events): a large run's jobs, many small runs, and bursts
// of job events for a run in progress.
import { randomUUID } from "node:crypto";

/** Ten rules in a DAG: a per-sample chain with a side branch, then one report. */
export const RULES = ["fetch", "trim", "qc", "align", "sort", "index", "call", "filter", "annotate", "report"];
const LINKS = [
  ["fetch", "trim"],
  ["trim", "align"],
  ["fetch", "qc"],
  ["qc", "report"],
  ["align", "sort"],
  ["sort", "index"],
  ["index", "call"],
  ["sort", "call"],
  ["call", "filter"],
  ["filter", "annotate"],
  ["annotate", "report"],
];

export function rulegraph() {
  const index = new Map(RULES.map((r, i) => [r, i]));
  return {
    rulegraph: {
      nodes: RULES.map((rule) => ({ rule })),
      links: LINKS.map(([s, t]) => ({ source: index.get(s), target: index.get(t), sourcerule: s, targetrule: t })),
    },
  };
}

/** Appends envelopes for one run, numbering them and spacing their times. */
export class RunWriter {
  constructor(runId = randomUUID(), start = Date.now() - 3600_000) {
    this.runId = runId;
    this.seq = 0;
    this.time = start;
    this.events = [];
  }

  add(kind, data, stepMs = 5) {
    this.time += stepMs;
    this.events.push({ run_id: this.runId, seq: this.seq++, recorded_at: new Date(this.time).toISOString(), kind, data });
  }

  /** Hands over what was added since the last call. */
  take() {
    const out = this.events;
    this.events = [];
    return out;
  }
}

export function runStart(w, { name, tags = [], cores = 32, stats }) {
  const cwd = `/scratch/bench/${name}`;
  w.add("run_labels", { name, tags });
  w.add("run_context", {
    snakemake_version: "9.27.1",
    command_line: `snakemake --logger flowo --cores ${cores}`,
    host: "node-07",
    user: "bench",
    workdir: cwd,
    python_version: "3.12.3",
    platform: "Linux-6.1.0-x86_64-with-glibc2.36",
    plugin_version: "0.1.0",
  });
  w.add("workflow_started", {
    workflow_id: w.runId,
    snakefile: `${cwd}/Snakefile`,
    basedir: cwd,
    rundir: cwd,
    cwd,
    configfiles: [],
    snakemake_version: "9.27.1",
    host: "node-07",
    user: "bench",
    cmd: `snakemake --logger flowo --cores ${cores}`,
  });
  w.add("resources_info", { cores, nodes: null, provided_resources: { _cores: cores } });
  if (stats) w.add("run_info", { stats });
}

/** The jobs of a run of `jobs` jobs over the ten rules (one report, the rest spread evenly). */
export function plannedJobs(jobs) {
  const perRule = Math.floor((jobs - 1) / (RULES.length - 1));
  const out = [];
  let id = 1;
  for (const rule of RULES.slice(0, -1)) {
    const n = rule === RULES[RULES.length - 2] ? jobs - 1 - perRule * (RULES.length - 2) : perRule;
    for (let s = 0; s < n; s++) out.push({ id: id++, rule, sample: `S${String(s).padStart(5, "0")}` });
  }
  out.push({ id: id++, rule: "report", sample: null });
  return out;
}

export function jobStats(jobs) {
  const stats = { total: jobs.length };
  for (const j of jobs) stats[j.rule] = (stats[j.rule] ?? 0) + 1;
  return stats;
}

/** A job starts: `job_started`, then its `job_info` (as Snakemake sends them; job_info alone is a dry run). */
export function jobInfo(w, job) {
  const s = job.sample ?? "all";
  w.add("job_started", { jobs: [job.id] });
  w.add("job_info", {
    jobid: job.id,
    rule_name: job.rule,
    rule_msg: null,
    local: false,
    input: [`${job.rule === "fetch" ? "urls" : "work"}/${s}.in`],
    output: [`work/${job.rule}/${s}.out`],
    log: [`logs/${job.rule}/${s}.log`],
    benchmark: null,
    wildcards: job.sample ? { sample: job.sample } : {},
    reason: "Missing output files: " + `work/${job.rule}/${s}.out`,
    resources: { _cores: 1, _nodes: 1, mem_mb: 2000, disk_mb: 1000, runtime: 60 },
    priority: 0,
    threads: 1,
    is_checkpoint: false,
    is_handover: false,
    indent: false,
    shellcmd: `${job.rule} --sample ${s} > work/${job.rule}/${s}.out 2> logs/${job.rule}/${s}.log`,
  }, 1);
}

export function jobFinished(w, job, { failed = false, done, total, withLog = false } = {}) {
  const s = job.sample ?? "all";
  if (failed) {
    w.add("job_error", {
      jobid: job.id,
      rule_name: job.rule,
      input: [`work/${s}.in`],
      output: [`work/${job.rule}/${s}.out`],
      log: [`logs/${job.rule}/${s}.log`],
      shellcmd: `${job.rule} --sample ${s}`,
      message: `Command '${job.rule} --sample ${s}' returned non-zero exit status 1.`,
    });
  } else {
    w.add("job_finished", { job_id: job.id });
  }
  if (withLog || failed) {
    const text = `${job.rule} ${s}: processed 1200 records\n${failed ? "error: bad record 17\n" : "done\n"}`;
    w.add("job_logs", { job_id: job.id, files: [{ path: `logs/${job.rule}/${s}.log`, size: text.length, truncated: false, text }] }, 1);
  }
  if (!failed && done !== undefined) w.add("progress", { done, total }, 1);
}

/**
 * A whole finished run of `jobs` jobs, as the plugin would have sent it: jobs start in DAG order
 * with `parallel` running at a time; every 50th job ships a log tail.
 */
export function largeRun(jobs, { name = "bench-large", parallel = 32 } = {}) {
  const w = new RunWriter();
  const planned = plannedJobs(jobs);
  runStart(w, { name, tags: ["bench", "large"], stats: jobStats(planned) });
  w.add("rulegraph", rulegraph());
  let done = 0;
  const running = [];
  for (const job of planned) {
    jobInfo(w, job);
    running.push(job);
    if (running.length >= parallel) {
      const j = running.shift();
      jobFinished(w, j, { done: ++done, total: planned.length, withLog: j.id % 50 === 0 });
    }
  }
  for (const j of running) jobFinished(w, j, { done: ++done, total: planned.length, withLog: j.id % 50 === 0 });
  w.add("run_finished", { outcome: "completed", exit_code: 0 });
  return { runId: w.runId, events: w.take() };
}

const TAGS = ["rnaseq", "wgs", "chipseq", "atac", "nightly", "release", "test"];

/** Minimal runs: labels, context, start, run_info, progress and (mostly) the end. */
export function* smallRuns(count, { start = Date.now() - 90 * 86400_000 } = {}) {
  const spacing = (90 * 86400_000) / count;
  for (let i = 0; i < count; i++) {
    const w = new RunWriter(randomUUID(), start + i * spacing);
    const total = 5 + (i % 40);
    const tags = [TAGS[i % TAGS.length], TAGS[(i * 7 + 3) % TAGS.length]];
    runStart(w, { name: `bench-run-${String(i).padStart(6, "0")}`, tags: [...new Set(tags)], stats: { total, work: total } });
    const r = i % 50;
    if (r === 0) {
      // Still running (and, with old timestamps, soon `lost`).
      w.add("progress", { done: Math.floor(total / 2), total }, 30_000);
    } else if (r < 5) {
      w.add("progress", { done: total - 1, total }, 60_000);
      w.add("error", { exception: "WorkflowError", message: `bench failure ${i}` });
      w.add("run_finished", { outcome: "failed", exit_code: 1 });
    } else {
      w.add("progress", { done: total, total }, 60_000);
      w.add("run_finished", { outcome: "completed", exit_code: 0 });
    }
    yield* w.take();
  }
}

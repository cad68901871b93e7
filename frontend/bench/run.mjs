// Dashboard benchmark (see bench/README.md): a real `flowo serve` on a fresh embedded store,
// data ingested over HTTP as the plugin would send it, and Debian's chromium driven by
// playwright-core. Prints figures and writes them to bench/results/latest.json; nothing here
// passes or fails on a threshold.
//
//   npm run bench               10,000-job run, 100,000 runs, 1,000 job events/s for 10 s
//   npm run bench -- --quick    1,000 jobs, 5,000 runs, 1,000 job events/s for 3 s
//   npm run bench -- --only a   only scenario (a) (or b, c; comma-separated: --only a,c)
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { chromium } from "playwright-core";
import { CHROMIUM, CHROMIUM_ARGS } from "../chromium.mjs";
import { RunWriter, jobFinished, jobInfo, largeRun, plannedJobs, jobStats, rulegraph, runStart, smallRuns } from "./events.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes("--quick");
// `--only a,c` (or `--only=a,c`): just those scenarios; all three by default.
const onlyArg = process.argv.find((a, i) => a.startsWith("--only=") || process.argv[i - 1] === "--only");
const ONLY = new Set((onlyArg ? onlyArg.replace(/^--only=/, "") : "a,b,c").split(",").map((x) => x.trim()));
for (const x of ONLY) if (!["a", "b", "c"].includes(x)) throw new Error(`--only takes a, b and c (comma-separated), not ${x}`);
const SIZES = quick
  ? { jobs: 1_000, runs: 5_000, burstRate: 1_000, burstSeconds: 3, repeats: 3 }
  : { jobs: 10_000, runs: 100_000, burstRate: 1_000, burstSeconds: 10, repeats: 5 };
const BATCH = 5_000;
const LONG_TASK_MS = 200;

const log = (...a) => console.error("bench:", ...a);
const ms = (t) => Math.round(t);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// --- the server -------------------------------------------------------------------------------

function flowoBin() {
  const cache = process.env.FLOWO_CACHE ?? join(homedir(), ".cache/flowo");
  const bin = process.env.FLOWO_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(cache, "target"), "release/flowo");
  if (!existsSync(bin)) throw new Error(`no flowo binary at ${bin} (cargo build --release -p flowo-cli, or set FLOWO_BIN)`);
  return bin;
}

async function startServer() {
  const bin = flowoBin();
  const root = mkdtempSync(join(tmpdir(), "flowo-bench-"));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(FLOWO_|XDG_)/.test(k)));
  for (const d of ["home", "config", "data", "flowo-data"]) mkdirSync(join(root, d));
  Object.assign(env, {
    HOME: join(root, "home"),
    XDG_CONFIG_HOME: join(root, "config"),
    XDG_DATA_HOME: join(root, "data"),
    FLOWO_DATA_DIR: join(root, "flowo-data"),
  });
  const proc = spawn(bin, ["serve", "--bind", "127.0.0.1:0", "--lost-after", "3600"], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  proc.stderr.pipe(createWriteStream(join(root, "serve.log")));
  const url = await new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout }).on("line", (line) => {
      const m = /^FlowO is ready: open (http:\/\/127\.0\.0\.1:\d+)\//.exec(line);
      if (m) resolve(m[1]);
    });
    proc.on("exit", (code) => reject(new Error(`flowo serve exited (${code}); see ${root}/serve.log`)));
  });
  const cli = (args, input) => {
    const out = spawnSync(bin, args, { env, input, encoding: "utf8" });
    if (out.status !== 0) throw new Error(`flowo ${args.join(" ")}: ${out.stderr}`);
    return out.stdout;
  };
  const admin = { email: "bench@flowo.test", password: "bench password 1" };
  cli(["user", "create", admin.email, "--role", "admin", "--password-stdin"], `${admin.password}\n`);
  const token = cli(["token", "create", "--user", admin.email, "--name", "bench", "--scope", "admin"]).trim().split("\n").pop();
  const stop = async () => {
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGTERM");
    await exited;
    rmSync(root, { recursive: true, force: true });
  };
  return { url, token, admin, stop, root };
}

function apiClient(server) {
  const call = async (method, path, body) => {
    const res = await fetch(`${server.url}/api/v1${path}`, {
      method,
      headers: { Authorization: `Bearer ${server.token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : null;
  };
  return { get: (p) => call("GET", p), post: (p, b) => call("POST", p, b) };
}

/** Posts events in batches of at most BATCH, `inFlight` at a time; events per second. */
async function ingest(api, events, inFlight = 2) {
  const t0 = performance.now();
  let count = 0;
  const pending = new Set();
  let batch = [];
  const send = async (b) => {
    const p = api.post("/events", { events: b }).then(() => pending.delete(p));
    pending.add(p);
    if (pending.size >= inFlight) await Promise.race(pending);
  };
  for (const e of events) {
    batch.push(e);
    count++;
    if (batch.length === BATCH) {
      await send(batch);
      batch = [];
    }
  }
  if (batch.length) await send(batch);
  await Promise.all(pending);
  const seconds = (performance.now() - t0) / 1000;
  return { events: count, seconds, perSecond: count / seconds };
}

// --- the browser ------------------------------------------------------------------------------

/** Long tasks (PerformanceObserver 'longtask') since the document started. */
const LONG_TASKS = () => {
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longTasks.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: "longtask", buffered: true });
};

async function newContext(browser, server) {
  const context = await browser.newContext({ baseURL: server.url, viewport: { width: 1440, height: 900 } });
  await context.addInitScript(LONG_TASKS);
  const res = await context.request.post(`${server.url}/api/v1/auth/login`, { data: server.admin });
  if (!res.ok()) throw new Error(`login: ${res.status()}`);
  return context;
}

const now = (page) => page.evaluate(() => performance.now());
async function longTasksSince(page, since) {
  const tasks = await page.evaluate((t) => window.__longTasks.filter((e) => e.start >= t), since);
  return {
    count: tasks.length,
    over200: tasks.filter((t) => t.duration > LONG_TASK_MS).length,
    max: ms(Math.max(0, ...tasks.map((t) => t.duration))),
    total: ms(tasks.reduce((a, t) => a + t.duration, 0)),
  };
}

/** Runs `action`, then waits (polling every frame) for `done` in the page; milliseconds. */
async function timed(page, action, done, arg) {
  const t0 = performance.now();
  await action();
  await page.waitForFunction(done, arg, { polling: "raf", timeout: 120_000 });
  return performance.now() - t0;
}

// --- (a) a 10,000-job run -----------------------------------------------------------------------

async function benchLargeRun(browser, server, api) {
  log(`(a) ingesting a run of ${SIZES.jobs} jobs`);
  const { runId, events } = largeRun(SIZES.jobs);
  const ingested = await ingest(api, events);
  const run = await api.get(`/runs/${runId}`);
  log(`    ${ingested.events} events in ${ingested.seconds.toFixed(1)} s; run ${run.status}, ${run.done}/${run.total}`);
  const context = await newContext(browser, server);
  const samples = [];
  for (let i = 0; i < SIZES.repeats; i++) {
    const page = await context.newPage();
    const t0 = performance.now();
    await page.goto(`/runs/${runId}`);
    await page.getByTestId("run-header").waitFor();
    const header = performance.now() - t0;
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=dag-node]").length >= 10, null, { polling: "raf" });
    const dag = performance.now() - t0;
    const row = page.locator("[data-testid=job-row]").first();
    await row.waitFor();
    const rows = performance.now() - t0;
    await row.click();
    await page.getByTestId("job-drawer").waitFor();
    const interactive = performance.now() - t0;
    const longTasks = await longTasksSince(page, 0);
    samples.push({ header: ms(header), dag: ms(dag), rows: ms(rows), interactive: ms(interactive), longTasks });
    await page.close();
  }
  await context.close();
  const pick = (k) => ms(median(samples.map((s) => s[k])));
  return {
    jobs: SIZES.jobs,
    events: ingested.events,
    ingestEventsPerSecond: ms(ingested.perSecond),
    median: { header: pick("header"), dag: pick("dag"), rows: pick("rows"), interactive: pick("interactive") },
    first: samples[0],
    samples,
  };
}

// --- (b) 100,000 runs ----------------------------------------------------------------------------

async function benchManyRuns(browser, server, api) {
  log(`(b) ingesting ${SIZES.runs} runs`);
  const ingested = await ingest(api, smallRuns(SIZES.runs));
  log(`    ${ingested.events} events in ${ingested.seconds.toFixed(1)} s`);
  const context = await newContext(browser, server);
  const page = await context.newPage();
  const out = { runs: SIZES.runs, events: ingested.events, ingestEventsPerSecond: ms(ingested.perSecond) };

  let t0 = performance.now();
  await page.goto("/runs");
  await page.locator("[data-testid=run-row]").first().waitFor();
  out.firstRows = ms(performance.now() - t0);
  await page.waitForFunction(() => /\d/.test(document.querySelector("[data-testid=runs-total]")?.textContent ?? ""), null, {
    polling: "raf",
  });
  out.load = ms(performance.now() - t0);
  out.loadLongTasks = await longTasksSince(page, 0);

  // Search for one run by name (Enter commits the debounced input at once).
  const wanted = `bench-run-${String(Math.floor(SIZES.runs / 3)).padStart(6, "0")}`;
  let since = await now(page);
  const search = page.getByTestId("runs-search").locator("input").or(page.locator("input[data-testid=runs-search]")).first();
  out.search = ms(
    await timed(
      page,
      async () => {
        await search.fill(wanted);
        await search.press("Enter");
      },
      (name) => {
        const rows = document.querySelectorAll("[data-testid=run-row]");
        return rows.length === 1 && rows[0].textContent.includes(name);
      },
      wanted,
    ),
  );
  out.searchLongTasks = await longTasksSince(page, since);

  // Clear the search, then filter by status through the status select.
  await search.fill("");
  await search.press("Enter");
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=run-row]").length > 1, null, { polling: "raf" });
  since = await now(page);
  out.filter = ms(
    await timed(
      page,
      async () => {
        await page.getByTestId("runs-status").click();
        await page.locator(".ant-select-dropdown .ant-select-item-option[title=failed]").click();
        await page.keyboard.press("Escape");
      },
      () => {
        const rows = [...document.querySelectorAll("[data-testid=run-row]")];
        return rows.length > 0 && rows.every((r) => r.getAttribute("data-status") === "failed");
      },
    ),
  );
  out.filterLongTasks = await longTasksSince(page, since);

  // Next page of the filtered list.
  const first = await page.locator("[data-testid=run-row]").first().getAttribute("data-run-id");
  since = await now(page);
  out.pageChange = ms(
    await timed(
      page,
      () => page.getByTestId("runs-next").click(),
      (id) => {
        const row = document.querySelector("[data-testid=run-row]");
        return row && row.getAttribute("data-run-id") !== id && /Page 2/.test(document.querySelector("[data-testid=runs-page]")?.textContent ?? "");
      },
      first,
    ),
  );
  out.pageChangeLongTasks = await longTasksSince(page, since);
  await context.close();
  return out;
}

// --- (c) a burst of job events into a running run --------------------------------------------------

async function benchBurst(browser, server, api) {
  const eventsPerJob = 4; // job_info, job_started, job_finished, progress
  const jobsPerSecond = SIZES.burstRate / eventsPerJob;
  const planned = plannedJobs(Math.ceil(jobsPerSecond * SIZES.burstSeconds) + 10);
  log(`(c) ${SIZES.burstRate} job events/s for ${SIZES.burstSeconds} s into a running run of ${planned.length} jobs`);
  const w = new RunWriter(undefined, Date.now() - 1000);
  runStart(w, { name: "bench-burst", tags: ["bench", "burst"], stats: jobStats(planned) });
  w.add("rulegraph", rulegraph());
  await api.post("/events", { events: w.take() });
  const runId = w.runId;

  const context = await newContext(browser, server);
  const page = await context.newPage();
  await page.goto(`/runs/${runId}`);
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=dag-node]").length >= 10, null, { polling: "raf" });
  await page.waitForFunction(() => document.querySelector("[data-testid=connection]")?.getAttribute("data-state") === "live");
  const since = await now(page);

  // Every 100 ms, the next tenth of a second's events, with the clock of a real run.
  const tick = 100;
  const perTick = (SIZES.burstRate * tick) / 1000;
  const t0 = performance.now();
  let sent = 0;
  let next = 0;
  let done = 0;
  const running = [];
  const posts = [];
  while (performance.now() - t0 < SIZES.burstSeconds * 1000) {
    w.time = Date.now();
    while (w.events.length < perTick && next < planned.length) {
      const job = planned[next++];
      jobInfo(w, job);
      running.push(job);
      if (running.length > 8) jobFinished(w, running.shift(), { done: ++done, total: planned.length });
    }
    const batch = w.take();
    sent += batch.length;
    posts.push(api.post("/events", { events: batch }));
    const wait = t0 + (posts.length * tick) - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await Promise.all(posts);
  const seconds = (performance.now() - t0) / 1000;
  const burstLongTasks = await longTasksSince(page, since);

  // Then: does the page agree with the server, and how long until it does?
  const server_ = async () => {
    const run = await api.get(`/runs/${runId}`);
    const rules = await api.get(`/runs/${runId}/rules`);
    const jobs = await api.get(`/runs/${runId}/jobs?limit=1&total=true`);
    return {
      progress: `${run.done} / ${run.total}`,
      jobs: jobs.total,
      rules: Object.fromEntries(rules.map((r) => [r.rule, `${r.jobs.succeeded} / ${r.jobs.running} / ${r.jobs.failed}`])),
    };
  };
  const shown = () =>
    page.evaluate(() => {
      const rules = {};
      for (const n of document.querySelectorAll("[data-testid=dag-node]")) {
        const c = n.querySelector("[data-testid=dag-node-counts]")?.textContent ?? "";
        rules[n.getAttribute("data-rule")] = c.split("/").slice(0, 3).map((s) => s.trim()).join(" / ");
      }
      const jobsText = document.querySelector("[data-testid=jobs-count]")?.textContent ?? "";
      const progress = document.querySelector("[data-testid=run-header] [data-testid=run-progress]")?.textContent ?? "";
      return { progress: progress.trim(), jobs: Number(/(\d+) jobs/.exec(jobsText.replace(/,/g, ""))?.[1] ?? NaN), rules };
    });
  const expected = await server_();
  const same = (a, b) =>
    a.progress === b.progress && a.jobs === b.jobs && Object.entries(b.rules).every(([k, v]) => a.rules[k] === v);
  const tEnd = performance.now();
  let seen = await shown();
  while (!same(seen, expected) && performance.now() - tEnd < 30_000) {
    await new Promise((r) => setTimeout(r, 50));
    seen = await shown();
  }
  const matched = same(seen, expected);
  await context.close();
  return {
    eventsSent: sent,
    seconds: Number(seconds.toFixed(1)),
    eventsPerSecond: ms(sent / seconds),
    longTasks: burstLongTasks,
    countsMatch: matched,
    catchUpAfterBurst: matched ? ms(performance.now() - tEnd) : null,
    server: expected,
    page: seen,
  };
}

// --- main ------------------------------------------------------------------------------------------

function table(results) {
  const rows = [];
  const a = results.largeRun;
  if (a) {
    rows.push([`(a) run page, ${a.jobs} jobs: header (median of ${a.samples.length})`, `${a.median.header} ms`]);
    rows.push(["(a) run page: DAG nodes drawn", `${a.median.dag} ms`]);
    rows.push(["(a) run page: first job rows", `${a.median.rows} ms`]);
    rows.push(["(a) run page: interactive (job drawer opened by a click)", `${a.median.interactive} ms`]);
    rows.push(["(a) run page: first (cold) load interactive", `${a.first.interactive} ms`]);
    const lt = (k) => ms(median(a.samples.map((x) => x.longTasks[k])));
    rows.push(["(a) long tasks per load (medians): count / longest", `${lt("count")} / ${lt("max")} ms`]);
    rows.push(["(a) ingest over HTTP", `${a.ingestEventsPerSecond} events/s (${a.events} events)`]);
  }
  const b = results.manyRuns;
  if (b) {
    rows.push([`(b) runs page, ${b.runs} runs: first rows`, `${b.firstRows} ms`]);
    rows.push(["(b) runs page: loaded with total", `${b.load} ms (long tasks ${b.loadLongTasks.count}, max ${b.loadLongTasks.max} ms)`]);
    rows.push(["(b) search by name", `${b.search} ms (long tasks ${b.searchLongTasks.count}, max ${b.searchLongTasks.max} ms)`]);
    rows.push(["(b) filter by status", `${b.filter} ms (long tasks ${b.filterLongTasks.count}, max ${b.filterLongTasks.max} ms)`]);
    rows.push(["(b) next page", `${b.pageChange} ms (long tasks ${b.pageChangeLongTasks.count}, max ${b.pageChangeLongTasks.max} ms)`]);
    rows.push(["(b) ingest over HTTP", `${b.ingestEventsPerSecond} events/s (${b.events} events)`]);
  }
  const c = results.burst;
  if (c) {
    rows.push([`(c) burst: events sent`, `${c.eventsSent} in ${c.seconds} s (${c.eventsPerSecond}/s)`]);
    rows.push([`(c) long tasks > ${LONG_TASK_MS} ms during the burst`, `${c.longTasks.over200} (of ${c.longTasks.count}; max ${c.longTasks.max} ms, total ${c.longTasks.total} ms)`]);
    rows.push(["(c) page counts match the server's", c.countsMatch ? `yes, ${c.catchUpAfterBurst} ms after the burst` : "NO (see JSON)"]);
  }
  const w = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n");
}

// The figures `cargo xtask bench` collects (JSON Lines in FLOWO_BENCH_FIGURES; see
// flowo-testkit/src/figures.rs for the format).
function figures(results) {
  const a = results.largeRun;
  const b = results.manyRuns;
  const c = results.burst;
  const f = (name, value, unit, target, better, note) => ({ name, value, unit, target, better, limit: null, note });
  return [
    ...(a ? [
      f("dashboard.run_page.interactive", a.median.interactive, "ms", 1000, "lower",
        `${a.jobs}-job run, median of ${a.samples.length}: navigation to a job drawer opened by a click`),
      f("dashboard.run_page.header", a.median.header, "ms", null, "lower", `${a.jobs}-job run`),
    ] : []),
    ...(b ? [
      f("dashboard.runs_page.first_rows", b.firstRows, "ms", null, "lower", `${b.runs} runs`),
      f("dashboard.runs_page.search", b.search, "ms", null, "lower", `${b.runs} runs`),
    ] : []),
    ...(c ? [
      f("dashboard.burst.long_tasks_over_200ms", c.longTasks.over200, "tasks", 0, "lower",
        `${c.eventsPerSecond} job events/s for ${c.seconds} s into the open run page`),
      f("dashboard.burst.counts_match", c.countsMatch ? 1 : 0, "bool", 1, "higher",
        "the page's job counts equal the server's after the burst"),
    ] : []),
  ];
}

async function main() {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (apt-get install chromium)`);
  const server = await startServer();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const api = apiClient(server);
    const results = {
      date: new Date().toISOString(),
      quick,
      sizes: SIZES,
      chromium: browser.version(),
      ...(onlyArg ? { only: [...ONLY].sort() } : {}),
    };
    if (ONLY.has("a")) results.largeRun = await benchLargeRun(browser, server, api);
    if (ONLY.has("c")) results.burst = await benchBurst(browser, server, api);
    if (ONLY.has("b")) results.manyRuns = await benchManyRuns(browser, server, api);
    mkdirSync(join(HERE, "results"), { recursive: true });
    writeFileSync(join(HERE, "results", "latest.json"), JSON.stringify(results, null, 2) + "\n");
    if (process.env.FLOWO_BENCH_FIGURES) {
      const lines = figures(results).map((x) => JSON.stringify(x) + "\n").join("");
      appendFileSync(process.env.FLOWO_BENCH_FIGURES, lines);
    }
    console.log(`\nFlowO dashboard benchmark${quick ? " (--quick)" : ""}, Chromium ${results.chromium}\n`);
    console.log(table(results));
    console.log(`\nJSON: ${join(HERE, "results", "latest.json")}`);
  } finally {
    await browser.close();
    await server.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

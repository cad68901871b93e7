// Renders the whole page from a filled query cache (no network): header, DAG nodes with their
// states from the jobs, the rule filter, the errors as text and the job drawer.
import { afterEach, describe, expect, it, vi } from "vitest";
import { act, fireEvent, render, screen, within } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { MemoryRouter, Route, Routes } from "react-router";
import { App as AntApp } from "antd";
import { jobBrief, keys } from "../../api/queries";
import type { Job, JobStatus, Me, RuleSummary, RunError, RunView } from "../../api/types";
import RunPage from "./RunPage";
import { logTails } from "./JobDrawer";

const RUN_ID = "00000000-0000-0000-0000-000000000001";
const T = "2026-11-26T14:49:49.000Z";

const run: RunView = {
  id: RUN_ID,
  name: "project",
  status: "failed",
  done: 2,
  total: 4,
  dry_run: false,
  error_count: 2,
  event_count: 10,
  host: "vm",
  user: "root",
  snakemake_version: "9.27.1",
  command_line: "snakemake --cores 2",
  workdir: "/data/project",
  started_at: T,
  finished_at: "2026-11-26T14:49:59.000Z",
  tags: ["nightly"],
  jobs: { running: 0, succeeded: 2, failed: 1, incomplete: 0, planned: 0 },
  workspace_id: "00000000-0000-0000-0000-000000000002",
  detail: {
    basedir: null,
    configfiles: [],
    exit_code: 1,
    malformed_events: 0,
    outcome: "failed",
    planned: { prepare: 2, process: 1, all: 1 },
    platform: null,
    python_version: null,
    rulegraph: null,
  },
};

const job = (job_id: number, rule: string, status: JobStatus): Job => ({
  job_id,
  rule,
  status,
  run_id: RUN_ID,
  attempts: 1,
  started_at: T,
  finished_at: status === "running" ? null : "2026-11-26T14:49:50.000Z",
  detail: {
    benchmark: null,
    benchmark_values: null,
    failure: status === "failed" ? { aux: {}, exception: "RuleException", message: "exit status 3" } : null,
    input: [],
    is_checkpoint: false,
    local: true,
    log: [],
    message: null,
    output: [`out/${job_id}.txt`],
    reason: "Missing output files",
    resources: { _cores: 1 },
    shellcmd: "echo <script>alert(1)</script>",
    threads: 1,
    wildcards: { sample: String(job_id) },
  },
});

const jobs = [job(0, "prepare", "succeeded"), job(1, "prepare", "succeeded"), job(2, "process", "failed")];
// Stale server counts: the page must show the counts derived from the jobs instead.
const rules: RuleSummary[] = ["prepare", "process", "all"].map((rule) => ({
  rule,
  jobs: { running: 0, succeeded: 0, failed: 0, incomplete: 0, planned: 0 },
  planned: null,
  not_started: 0,
}));
const errors: RunError[] = [
  { run_id: RUN_ID, seq: 7, scope: "job", rule: "process", job_id: 2, exception: "RuleException", message: "<b>bold?</b> exit 3", recorded_at: T },
  { run_id: RUN_ID, seq: 9, scope: "workflow", rule: null, job_id: null, exception: "WorkflowError", message: "At least one job failed", recorded_at: T },
];
const me = {
  credential: "session",
  user: { id: "u", email: "a@b.c", role: "member", disabled: false, created_at: T },
  workspaces: [],
} as unknown as Me;

function setup(url: string) {
  const client = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity, retry: false } } });
  client.setQueryData(keys.me, me);
  client.setQueryData(keys.run(RUN_ID), run);
  client.setQueryData(keys.graph(RUN_ID), {
    nodes: [{ rule: "prepare" }, { rule: "process" }, { rule: "all" }],
    links: [
      { source: 0, target: 1 },
      { source: 1, target: 2 },
    ],
  });
  client.setQueryData(keys.rules(RUN_ID), rules);
  // The list holds briefs, as loaded from the server; the opened job is loaded in full.
  client.setQueryData(keys.jobs(RUN_ID), jobs.map(jobBrief));
  client.setQueryData(keys.errors(RUN_ID), errors);
  client.setQueryData(keys.job(RUN_ID, 2), { ...jobs[2], logs: [{ job_id: 2, files: [{ path: "logs/p.log", text: "<i>log line</i>\n<img src=x onerror=\"window.pwned=1\">", truncated: false, size: 52 }] }] });
  render(
    <AntApp>
      <QueryClientProvider client={client}>
        <MemoryRouter initialEntries={[url]}>
          <Routes>
            <Route path="/runs/:runId" element={<RunPage />} />
          </Routes>
        </MemoryRouter>
      </QueryClientProvider>
    </AntApp>,
  );
  return client;
}

describe("RunPage", () => {
  it("shows the header, the DAG with states from the jobs and the job rows", () => {
    setup(`/runs/${RUN_ID}`);
    expect(screen.getByTestId("run-header").dataset.status).toBe("failed");
    expect(screen.getByTestId("run-name").textContent).toBe("project");
    expect(screen.getByTestId("delete-run")).toBeTruthy();
    const states = Object.fromEntries(screen.getAllByTestId("dag-node").map((n) => [n.dataset.rule, n.dataset.state]));
    expect(states).toEqual({ prepare: "succeeded", process: "failed", all: "planned" });
    // The run failed: the rule still planned will not run.
    const notRun = Object.fromEntries(screen.getAllByTestId("dag-node").map((n) => [n.dataset.rule, n.dataset.notRun ?? null]));
    expect(notRun).toEqual({ prepare: null, process: null, all: "true" });
    expect(screen.getByTestId("dag-node-not-run").textContent).toBe("not run");
    const prepare = screen.getAllByTestId("dag-node").find((n) => n.dataset.rule === "prepare");
    expect(within(prepare as HTMLElement).getByTestId("dag-node-counts").textContent).toBe("2 / 0 / 0 / 2");
    expect(screen.getByTestId("errors-count").textContent).toContain("2");
    const rows = screen.getAllByTestId("job-row");
    expect(rows.map((r) => [r.dataset.jobId, r.dataset.status])).toEqual([
      ["0", "succeeded"],
      ["1", "succeeded"],
      ["2", "failed"],
    ]);
  });

  it("filters by the rule in the URL and clears the filter from its chip", () => {
    setup(`/runs/${RUN_ID}?tab=errors&rule=prepare`);
    expect(screen.getByTestId("rule-filter").textContent).toContain("rule: prepare");
    // Workflow errors stay visible under a rule filter; the other rule's job error does not.
    expect(screen.getAllByTestId("error-item").map((e) => e.dataset.scope)).toEqual(["workflow"]);
    const close = screen.getByTestId("rule-filter").querySelector(".ant-tag-close-icon") as HTMLElement;
    act(() => fireEvent.click(close));
    expect(screen.queryByTestId("rule-filter")).toBeNull();
    expect(screen.getAllByTestId("error-item")).toHaveLength(2);
  });

  it("renders error messages and log tails as text, never as HTML", () => {
    setup(`/runs/${RUN_ID}?tab=errors&job=2`);
    const panel = screen.getByTestId("errors-panel");
    expect(panel.textContent).toContain("<b>bold?</b> exit 3");
    expect(panel.querySelector("b")).toBeNull();
    const drawer = screen.getByTestId("job-drawer");
    expect(drawer.dataset.jobId).toBe("2");
    expect(drawer.textContent).toContain("<i>log line</i>");
    expect(drawer.textContent).toContain("echo <script>alert(1)</script>");
    expect(drawer.textContent).toContain('<img src=x onerror="window.pwned=1">');
    expect(drawer.querySelector("i, script, img[onerror]")).toBeNull();
    expect((window as unknown as { pwned?: number }).pwned).toBeUndefined();
    expect(within(drawer).getByTestId("job-failure").textContent).toContain("exit status 3");
  });
});

describe("RunPage's job drawer", () => {
  afterEach(() => vi.restoreAllMocks());

  it("shows the listed job's facts until the full job arrives, then everything", async () => {
    // The full job's request stays unanswered until the test puts the job in the cache.
    vi.spyOn(globalThis, "fetch").mockReturnValue(new Promise<Response>(() => {}));
    const client = setup(`/runs/${RUN_ID}?job=1`);
    const drawer = screen.getByTestId("job-drawer");
    expect(drawer.dataset.jobId).toBe("1");
    expect(drawer.textContent).toContain("sample=1");
    expect(drawer.textContent).toContain("Attempts");
    // Nothing the brief lacks is shown as if it were empty.
    expect(drawer.textContent).not.toContain("Shell command");
    expect(drawer.textContent).not.toContain("Reason");
    expect(drawer.querySelector(".ant-skeleton")).not.toBeNull();
    act(() => {
      client.setQueryData(keys.job(RUN_ID, 1), { ...jobs[1], logs: [] });
    });
    await screen.findByText("Shell command");
    const full = screen.getByTestId("job-drawer");
    expect(full.textContent).toContain("Missing output files");
    expect(full.textContent).toContain("out/1.txt");
    expect(full.querySelector(".ant-skeleton")).toBeNull();
  });
});

describe("logTails", () => {
  it("keeps the newest tail of each file and skips malformed entries", () => {
    const tails = logTails([
      { job_id: 1, files: [{ path: "a.log", text: "old" }, { path: "b.log", text: "b" }] },
      null,
      { job_id: 1, files: "nope" },
      { job_id: 1, files: [{ path: "a.log", text: "new", truncated: true, size: 99 }, { path: "c.log" }] },
    ]);
    expect(tails).toEqual([
      { path: "b.log", text: "b", truncated: false, size: 0 },
      { path: "a.log", text: "new", truncated: true, size: 99 },
    ]);
  });
});

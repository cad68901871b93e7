// Live updates from a real Snakemake run with `--logger flowo`: the runs page and the run page
// follow the run while it happens, without a reload. The demo workflow's gates
// (`--config gate=DIR`) hold each rule until the test lets it finish, so every intermediate state
// is observed on purpose rather than caught by luck.
import { connection, expect, expectSameDocument, markDocument, test } from "./fixtures";
import { runDemo } from "./support/flowo";

test("a new run appears on the runs page and its status changes live", async ({ page, flowo }) => {
  await page.goto("/runs");
  await expect(connection(page)).toHaveAttribute("data-state", "live");
  await markDocument(page);

  const { snakemake, gates } = runDemo(flowo.server, flowo.ingestToken, "live-runs-page", { gated: true });
  try {
    const runId = await snakemake.runId();
    const row = page.locator(`[data-testid=run-row][data-run-id="${runId}"]`);
    await expect(row).toHaveAttribute("data-status", "running");
    await expect(row).toContainText("live-runs-page");

    gates!.openAll();
    await expect(row).toHaveAttribute("data-status", "succeeded", { timeout: 120_000 });
    const finished = await snakemake.wait();
    expect(finished.code, finished.output).toBe(0);
    await expect(connection(page)).toHaveAttribute("data-state", "live");
    await expectSameDocument(page);
  } finally {
    snakemake.kill();
  }
});

test("the run page follows a run: DAG nodes change state and job rows appear", async ({ page, flowo }) => {
  const { snakemake, gates } = runDemo(flowo.server, flowo.ingestToken, "live-run-page", { gated: true });
  try {
    const runId = await snakemake.runId();
    await page.goto(`/runs/${runId}`);
    await expect(connection(page)).toHaveAttribute("data-state", "live");
    await markDocument(page);
    const header = page.getByTestId("run-header");
    await expect(header).toHaveAttribute("data-status", "running");

    const node = (rule: string) => page.locator(`[data-testid=dag-node][data-rule="${rule}"]`);
    // Every fetch job waits at its gate, so nothing downstream can have started.
    await expect(node("fetch")).toHaveAttribute("data-state", "running");
    await expect(node("qc")).toHaveAttribute("data-state", "planned");
    await expect(node("report")).toHaveAttribute("data-state", "planned");

    gates!.open("fetch");
    await expect(node("fetch")).toHaveAttribute("data-state", "succeeded", { timeout: 60_000 });
    await expect(node("qc")).toHaveAttribute("data-state", "running");
    await expect(node("align")).toHaveAttribute("data-state", "planned");
    // The six finished fetch jobs are rows of the jobs table, with their status.
    await expect
      .poll(() => page.locator("[data-testid=job-row][data-status=succeeded]").count())
      .toBeGreaterThanOrEqual(6);
    await expect(page.locator("[data-testid=job-row][data-status=running]").first()).toBeVisible();

    gates!.open("qc", "align", "report");
    await expect(header).toHaveAttribute("data-status", "succeeded", { timeout: 120_000 });
    for (const rule of ["fetch", "qc", "align", "report"]) {
      await expect(node(rule)).toHaveAttribute("data-state", "succeeded");
    }
    await expect(page.locator("[data-testid=job-row][data-status=running]")).toHaveCount(0);
    await expectSameDocument(page);
    const finished = await snakemake.wait();
    expect(finished.code, finished.output).toBe(0);
  } finally {
    snakemake.kill();
  }
});

// A failing run: `--config fail=B --keep-going` makes align for sample B exit 3. The run, the
// failing rule's node and the errors panel say so, with the message Snakemake itself printed.
// And text that producers ship (names, error messages, logs) is shown as text, never as HTML.
import { randomUUID } from "node:crypto";
import { connection, expect, test } from "./fixtures";

test("a failing run shows its status, the failed rule and Snakemake's error message", async ({ page, failedRun }) => {
  const { runId, finished } = failedRun;
  // What Snakemake printed about the failed job: "Command '...' returned non-zero exit status 3."
  expect(finished.output).toContain("Error in rule align:");
  const printed = /^Command '.*' returned non-zero exit status 3\.$/m.exec(finished.output)?.[0];
  expect(printed, finished.output).toBeTruthy();

  await page.goto("/runs");
  await expect(page.locator(`[data-testid=run-row][data-run-id="${runId}"]`)).toHaveAttribute("data-status", "failed");

  await page.goto(`/runs/${runId}`);
  await expect(connection(page)).toHaveAttribute("data-state", "live");
  await expect(page.getByTestId("run-header")).toHaveAttribute("data-status", "failed");
  await expect(page.locator("[data-testid=dag-node][data-rule=align]")).toHaveAttribute("data-state", "failed");
  // --keep-going: the other samples' alignments succeeded; only the report never ran.
  await expect(page.locator("[data-testid=dag-node][data-rule=fetch]")).toHaveAttribute("data-state", "succeeded");
  await expect(page.locator("[data-testid=dag-node][data-rule=qc]")).toHaveAttribute("data-state", "succeeded");

  await page.getByRole("tab", { name: /errors/i }).click();
  const errors = page.getByTestId("errors-panel");
  const item = errors.getByTestId("error-item").filter({ hasText: "align" }).first();
  await expect(item).toBeVisible();
  await expect(item).toContainText(printed!);

  // The failed job's row and drawer: its status, and the log tail the plugin shipped.
  await page.getByRole("tab", { name: /jobs/i }).click();
  const failed = page.locator("[data-testid=job-row][data-status=failed]");
  await expect(failed).toHaveCount(1);
  await failed.click();
  const drawer = page.getByTestId("job-drawer");
  await expect(drawer).toBeVisible();
  await expect(drawer).toContainText("aligner: out of memory");
});

const PAYLOAD = `<img src=x onerror="window.__flowoXss=1"><script>window.__flowoXss=2</script>`;

test("shipped text is rendered as text, not HTML", async ({ page, flowo }) => {
  const runId = randomUUID();
  const at = (i: number) => new Date(Date.now() - 60_000 + i * 1000).toISOString();
  const events = [
    { kind: "run_labels", data: { name: `xss ${PAYLOAD}`, tags: ["xss"] } },
    { kind: "workflow_started", data: { workflow_id: runId, cmd: `snakemake ${PAYLOAD}` } },
    { kind: "rulegraph", data: { rulegraph: { nodes: [{ rule: "evil" }], links: [] } } },
    { kind: "run_info", data: { stats: { evil: 1, total: 1 } } },
    // As Snakemake sends them: job_started, then the job's job_info (job_info alone is a dry run).
    { kind: "job_started", data: { jobs: [1] } },
    { kind: "job_info", data: { jobid: 1, rule_name: "evil", rule_msg: `msg ${PAYLOAD}`, output: ["out.txt"] } },
    { kind: "job_error", data: { jobid: 1, rule_name: "evil", message: `job failed ${PAYLOAD}` } },
    { kind: "job_logs", data: { job_id: 1, files: [{ path: "logs/evil.log", size: 60, truncated: false, text: `log ${PAYLOAD}` }] } },
    { kind: "error", data: { exception: "WorkflowError", message: `workflow failed ${PAYLOAD}` } },
    { kind: "run_finished", data: { outcome: "failed", exit_code: 1 } },
  ].map((e, seq) => ({ run_id: runId, seq, recorded_at: at(seq), ...e }));
  await flowo.admin.post("/events", { events });

  const noHtml = async () => {
    expect(await page.locator("img[src=x]").count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __flowoXss?: number }).__flowoXss)).toBeUndefined();
  };

  await page.goto("/runs");
  const row = page.locator(`[data-testid=run-row][data-run-id="${runId}"]`);
  await expect(row).toContainText(`<img src=x onerror=`);
  await noHtml();

  await page.goto(`/runs/${runId}`);
  await expect(page.getByTestId("run-header")).toContainText(`xss <img src=x`);
  await page.getByRole("tab", { name: /errors/i }).click();
  const errors = page.getByTestId("errors-panel");
  await expect(errors).toContainText(`workflow failed <img src=x onerror="window.__flowoXss=1"><script>`);
  await expect(errors).toContainText(`job failed <img src=x`);
  await noHtml();

  await page.getByRole("tab", { name: /jobs/i }).click();
  await page.locator("[data-testid=job-row]").first().click();
  await expect(page.getByTestId("job-drawer")).toContainText(`log <img src=x onerror=`);
  await noHtml();
});

// The connection indicator shows the live stream's real state: when the server goes away it
// leaves `live`, and when the server is back it returns to `live` and the events the plugin
// delivered in the meantime (it spools and retries) reach the open page without a reload. Twice:
// for a page that has already received live events (it resumes after the last one) and for a
// page that has received none yet.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { administer, connection, expect, expectSameDocument, logIn, markDocument, SANDBOXES, test } from "./fixtures";
import { FlowoServer, runDemo, type Snakemake } from "./support/flowo";

const SAMPLES = ["A", "B", "C", "D", "E", "F"];

for (const received of [true, false]) {
  const when = received ? "after the page received live events" : "before the page received any live event";
  test(`the indicator follows a server restart and the events sent meanwhile appear (${when})`, async ({ page }) => {
    // Its own server, so that stopping it disturbs no other test.
    const server = await FlowoServer.start(SANDBOXES);
    test.info().attachments.push({ name: "server sandbox", contentType: "text/plain", body: Buffer.from(server.sandbox.root) });
    let snakemake: Snakemake | undefined;
    try {
      const { ingestToken } = administer(server);
      await logIn(page, server);
      const demo = runDemo(server, ingestToken, "outage", { gated: true });
      snakemake = demo.snakemake;
      const { gates, workdir } = demo;
      const runId = await snakemake.runId();
      await page.goto(`${server.url}/runs/${runId}`);
      await expect(connection(page)).toHaveAttribute("data-state", "live");
      await markDocument(page);
      const node = (rule: string) => page.locator(`[data-testid=dag-node][data-rule="${rule}"]`);
      await expect(node("fetch")).toHaveAttribute("data-state", "running");

      // The rule whose jobs finish while the server is down, and the files they write.
      let during = "fetch";
      let outputs = (s: string) => join(workdir, "raw", `${s}.fastq`);
      if (received) {
        gates!.open("fetch");
        await expect(node("fetch")).toHaveAttribute("data-state", "succeeded");
        await expect(node("qc")).toHaveAttribute("data-state", "running");
        during = "qc";
        outputs = (s) => join(workdir, "qc", `${s}.txt`);
      }

      await server.stop("SIGKILL");
      await expect(connection(page)).not.toHaveAttribute("data-state", "live");

      // The jobs finish while the server is down: the plugin keeps their events and retries.
      gates!.open(during);
      await expect.poll(() => SAMPLES.every((s) => existsSync(outputs(s)))).toBe(true);
      await expect(connection(page)).not.toHaveAttribute("data-state", "live");
      await expect(node(during)).toHaveAttribute("data-state", "running");

      await server.restart();
      await expect(connection(page)).toHaveAttribute("data-state", "live", { timeout: 60_000 });
      await expect(node(during)).toHaveAttribute("data-state", "succeeded", { timeout: 60_000 });

      gates!.openAll();
      await expect(page.getByTestId("run-header")).toHaveAttribute("data-status", "succeeded", { timeout: 120_000 });
      await expectSameDocument(page);
      const finished = await snakemake.wait();
      expect(finished.code, finished.output).toBe(0);
    } finally {
      snakemake?.kill();
      await server.stop();
    }
  });
}

// Screenshots of every page for people to look at (test-results/screenshots/*.png): the login
// page, the runs list, a failed run's page with each tab, the job drawer, the dashboard and each
// settings tab. Each page must render its main element; the pictures themselves are not compared.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "@playwright/test";
import { connection, expect, test } from "./fixtures";
import { FRONTEND } from "./support/flowo";

const DIR = join(FRONTEND, "test-results", "screenshots");

/**
 * Waits until the page shows data (no spinner or skeleton left), then saves it: the whole page,
 * or only the viewport for overlays fixed to it (a drawer).
 */
async function shoot(page: Page, name: string, fullPage = true): Promise<void> {
  await expect(page.locator(".ant-spin-spinning")).toHaveCount(0);
  await expect(page.locator(".ant-skeleton-active")).toHaveCount(0);
  // Finished transitions (a drawer sliding in); endless ones (a pulsing badge) never finish.
  await page.waitForFunction(() =>
    document
      .getAnimations()
      .every((a) => a.playState !== "running" || a.effect?.getComputedTiming().endTime === Infinity),
  );
  mkdirSync(DIR, { recursive: true });
  await page.screenshot({ path: join(DIR, `${name}.png`), fullPage });
}

test("screenshots of every page", async ({ page, browser, baseURL, failedRun }) => {
  const loggedOut = await browser.newContext({ baseURL, viewport: { width: 1440, height: 900 } });
  try {
    const login = await loggedOut.newPage();
    await login.goto("/login");
    await expect(login.getByTestId("login")).toBeVisible();
    await shoot(login, "01-login");
  } finally {
    await loggedOut.close();
  }

  await page.goto("/runs");
  await expect(connection(page)).toHaveAttribute("data-state", "live");
  await expect(page.locator("[data-testid=run-row]").first()).toBeVisible();
  await shoot(page, "02-runs");

  await page.goto(`/runs/${failedRun.runId}`);
  await expect(page.getByTestId("run-header")).toBeVisible();
  await expect(page.locator("[data-testid=dag-node]").first()).toBeVisible();
  await page.getByRole("tab", { name: /jobs/i }).click();
  await expect(page.locator("[data-testid=job-row]").first()).toBeVisible();
  await shoot(page, "03-run-jobs");
  await page.getByRole("tab", { name: /timeline/i }).click();
  await expect(page.getByTestId("timeline")).toBeVisible();
  await shoot(page, "04-run-timeline");
  await page.getByRole("tab", { name: /errors/i }).click();
  await expect(page.getByTestId("error-item").first()).toBeVisible();
  await shoot(page, "05-run-errors");
  await page.getByRole("tab", { name: /code/i }).click();
  await expect(page.getByTestId("code-panel")).toBeVisible();
  await shoot(page, "06-run-code");

  await page.getByRole("tab", { name: /jobs/i }).click();
  await page.locator("[data-testid=job-row][data-status=failed]").first().click();
  await expect(page.getByTestId("job-drawer")).toBeVisible();
  await shoot(page, "07-job-drawer", false);

  await page.goto("/dashboard");
  await expect(connection(page)).toHaveAttribute("data-state", "live");
  await shoot(page, "08-dashboard");

  for (const [i, tab] of ["account", "tokens", "workspaces", "users"].entries()) {
    await page.goto(`/settings/${tab}`);
    await expect(connection(page)).toHaveAttribute("data-state", "live");
    await shoot(page, `${String(9 + i).padStart(2, "0")}-settings-${tab}`);
  }
});

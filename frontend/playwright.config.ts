// End-to-end tests of the dashboard (e2e/): Debian's chromium (/usr/bin/chromium) against a real
// `flowo serve` with the dashboard embedded and real Snakemake runs (see e2e/support/flowo.ts for
// FLOWO_BIN and FLOWO_E2E_VENV). One worker: the tests share one server per worker and the
// machine's cores with Snakemake.
import { defineConfig } from "@playwright/test";
import { CHROMIUM, CHROMIUM_ARGS } from "./chromium.mjs";


export default defineConfig({
  testDir: "e2e",
  outputDir: "test-results",
  workers: 1,
  retries: 0,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  // Safety nets only (a real Snakemake run takes ~15 s); no test asserts how long anything took.
  timeout: 240_000,
  expect: { timeout: 30_000 },
  reporter: [["list"], ["html", { open: "never", outputFolder: "playwright-report" }]],
  use: {
    browserName: "chromium",
    launchOptions: { executablePath: CHROMIUM, args: CHROMIUM_ARGS },
    viewport: { width: 1440, height: 900 },
    screenshot: "only-on-failure",
    trace: "retain-on-failure",
    actionTimeout: 30_000,
    navigationTimeout: 30_000,
  },
});

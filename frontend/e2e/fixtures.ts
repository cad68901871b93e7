// Test fixtures: one real `flowo serve` per Playwright worker (a fresh embedded store), its
// administrator, API clients, a browser page already logged in (one session per worker), and
// a finished failing run of the demo workflow that several tests read.
import { test as base, expect, request, type APIRequestContext, type Cookie, type Page } from "@playwright/test";
import { join } from "node:path";
import { Api, FRONTEND, FlowoServer, runDemo, type Finished } from "./support/flowo";

export { expect };

export const ADMIN = { email: "e2e-admin@flowo.test", password: "correct horse battery" };

export interface Flowo {
  server: FlowoServer;
  /** An admin-scoped API client (the administrator's token). */
  admin: Api;
  /** An ingest token of the administrator, for the plugin. */
  ingestToken: string;
}

export interface FailedRun {
  runId: string;
  finished: Finished;
}

/** Where each worker's servers keep their sandboxes (inside Playwright's output directory). */
export const SANDBOXES = join(FRONTEND, "test-results", "sandboxes");

/** Sets up the administrator of a fresh server: a password login and two tokens. */
export function administer(server: FlowoServer): Flowo {
  server.createUser(ADMIN.email, ADMIN.password, "admin");
  const admin = new Api(server.url, server.createToken(ADMIN.email, "e2e-admin", "admin"));
  const ingestToken = server.createToken(ADMIN.email, "e2e-ingest", "ingest");
  return { server, admin, ingestToken };
}

/**
 * The administrator's session cookies, from one password login (through the API). Logins are
 * limited per account (10 in a few minutes, successful ones included), so the pages of a
 * worker's tests share one session instead of logging in each.
 */
async function sessionOf(server: FlowoServer): Promise<Cookie[]> {
  const context = await request.newContext();
  try {
    await postLogin(context, server, ADMIN);
    return (await context.storageState()).cookies;
  } finally {
    await context.dispose();
  }
}

/** Logs the page's browser context in with e-mail and password (through the API). */
export async function logIn(page: Page, server: FlowoServer, who = ADMIN): Promise<void> {
  await postLogin(page.request, server, who);
}

/** Logs `context` in with e-mail and password; its cookies then carry the session. */
async function postLogin(context: APIRequestContext, server: FlowoServer, who: typeof ADMIN): Promise<void> {
  const res = await context.post(`${server.url}/api/v1/auth/login`, { data: who });
  expect(res.ok(), `login as ${who.email}: ${res.status()} ${await res.text()}`).toBe(true);
}

export const test = base.extend<{ loggedIn: boolean; page: Page }, { flowo: Flowo; adminSession: Cookie[]; failedRun: FailedRun }>({
  /** Whether `page` starts logged in as the administrator (`test.use({ loggedIn: false })`). */
  loggedIn: [true, { option: true }],

  flowo: [
    // Playwright reads the fixtures a fixture needs from this pattern; this one needs none.
    // eslint-disable-next-line no-empty-pattern
    async ({}, provide) => {
      const server = await FlowoServer.start(SANDBOXES);
      try {
        await provide(administer(server));
      } finally {
        await server.stop();
      }
    },
    { scope: "worker", timeout: 120_000 },
  ],

  adminSession: [async ({ flowo }, provide) => provide(await sessionOf(flowo.server)), { scope: "worker" }],

  failedRun: [
    async ({ flowo }, provide) => {
      const { snakemake } = runDemo(flowo.server, flowo.ingestToken, "demo-failing", {
        args: ["--keep-going", "--config", "fail=B"],
      });
      const runId = await snakemake.runId();
      const finished = await snakemake.wait();
      expect(finished.code, finished.output).not.toBe(0);
      await provide({ runId, finished });
    },
    { scope: "worker", timeout: 300_000 },
  ],

  baseURL: async ({ flowo }, provide) => provide(flowo.server.url),

  page: async ({ page, adminSession, loggedIn }, provide) => {
    if (loggedIn) await page.context().addCookies(adminSession);
    await provide(page);
  },
});

/** The connection indicator in the header. */
export const connection = (page: Page) => page.getByTestId("connection");

/**
 * Marks the page's document, so that a test can prove it saw changes without a reload (a reload
 * makes a new document without the mark).
 */
export async function markDocument(page: Page): Promise<void> {
  await page.evaluate(() => {
    (window as unknown as { __flowoE2eMark?: number }).__flowoE2eMark = 1;
  });
}

export async function expectSameDocument(page: Page): Promise<void> {
  const mark = await page.evaluate(() => (window as unknown as { __flowoE2eMark?: number }).__flowoE2eMark);
  expect(mark, "the page was reloaded").toBe(1);
}

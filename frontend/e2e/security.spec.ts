// The dashboard works under its Content-Security-Policy: every page loads and renders with no
// CSP violation (the browser reports each one as a `securitypolicyviolation` event and a
// console error) and no script error; the security headers are on the page and on the API.
// A write through the dashboard (creating a workspace) passes the CSRF checks.
import { expect, test, connection } from "./fixtures";

test("the dashboard runs under its CSP with no violation", async ({ page, flowo }) => {
  const problems: string[] = [];
  page.on("console", (msg) => {
    if (msg.type() === "error" || /Content Security Policy/i.test(msg.text())) {
      problems.push(`console ${msg.type()}: ${msg.text()}`);
    }
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  // Injected by the browser itself (not subject to the page's CSP): records every violation.
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      const w = window as unknown as { __csp?: string[] };
      (w.__csp ??= []).push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });

  const response = await page.goto("/runs");
  const headers = response!.headers();
  expect(headers["content-security-policy"]).toContain("script-src 'self'");
  expect(headers["content-security-policy"]).toContain("frame-ancestors 'none'");
  expect(headers["x-content-type-options"]).toBe("nosniff");
  expect(headers["x-frame-options"]).toBe("DENY");
  expect(headers["cross-origin-opener-policy"]).toBe("same-origin");
  await expect(connection(page)).toHaveAttribute("data-state", "live");

  for (const path of ["/dashboard", "/settings/account", "/settings/tokens", "/settings/workspaces", "/settings/users"]) {
    await page.goto(path);
    await expect(connection(page)).toHaveAttribute("data-state", "live");
    await page.waitForLoadState("networkidle");
  }

  // A cookie-authenticated write through the dashboard's own client carries its CSRF proof
  // (X-CSRF-Token; the browser adds Sec-Fetch-Site: same-origin) and passes.
  const name = `e2e-csp-${Date.now().toString(36)}`;
  await page.goto("/settings/workspaces");
  const created = page.waitForResponse((r) => r.url().endsWith("/api/v1/workspaces") && r.request().method() === "POST");
  await page.getByTestId("workspace-name").fill(name);
  await page.getByTestId("workspace-create").click();
  const answer = await created;
  expect(answer.status()).toBe(201);
  expect(answer.request().headers()["x-csrf-token"]).toBeTruthy();
  await expect(page.locator(`[data-testid=workspace-row][data-workspace="${name}"]`)).toBeVisible();
  // The same write from another site is refused, though the browser sends the cookie.
  const forged = await page.request.post(`${flowo.server.url}/api/v1/workspaces`, {
    data: { name: `${name}-forged` },
    headers: { "X-CSRF-Token": answer.request().headers()["x-csrf-token"], "Sec-Fetch-Site": "cross-site" },
  });
  expect(forged.status()).toBe(403);
  const workspaces = await flowo.admin.get<{ name: string }[]>("/workspaces");
  expect(workspaces.map((w) => w.name)).toContain(name);
  expect(workspaces.map((w) => w.name)).not.toContain(`${name}-forged`);

  const violations = await page.evaluate(() => (window as unknown as { __csp?: string[] }).__csp ?? []);
  expect(violations, "CSP violations").toEqual([]);
  expect(problems, "console errors").toEqual([]);

  // The watch works: an image from another origin is a violation it reports.
  await page.evaluate(() => {
    const img = document.createElement("img");
    img.src = "https://flowo.invalid/probe.png";
    document.body.append(img);
  });
  await expect
    .poll(() => page.evaluate(() => (window as unknown as { __csp?: string[] }).__csp ?? []))
    .toEqual([expect.stringContaining("img-src")]);
});

test("API answers carry the security headers and a CSP that allows nothing", async ({ page, flowo }) => {
  const res = await page.request.get(`${flowo.server.url}/api/v1/auth/me`);
  expect(res.status()).toBe(200);
  const headers = res.headers();
  expect(headers["content-type"]).toContain("application/json");
  expect(headers["content-security-policy"]).toContain("default-src 'none'");
  expect(headers["x-content-type-options"]).toBe("nosniff");
});

// API tokens in the settings: a new token's secret is shown once and works; revoking it marks its
// row revoked and the API refuses it from then on.
import { expect, test } from "./fixtures";

test("a token is created (secret shown once), works, and is refused once revoked", async ({ page, flowo }) => {
  const name = `e2e-token-${Date.now().toString(36)}`;
  await page.goto("/settings/tokens");
  await page.getByTestId("token-create").click();
  await page.getByTestId("token-name").fill(name);
  await page.getByTestId("token-create-submit").click();

  const secretBox = page.getByTestId("token-secret");
  await expect(secretBox).toBeVisible();
  const secret = ((await secretBox.textContent()) ?? "").trim();
  expect(secret).toMatch(/^\S{20,}$/);

  const me = (token: string) =>
    fetch(`${flowo.server.url}/api/v1/auth/me`, { headers: { Authorization: `Bearer ${token}` } });
  expect((await me(secret)).status).toBe(200);

  const row = page.locator(`[data-testid=token-row][data-token-name="${name}"]`);
  await page.getByTestId("token-secret-close").click();
  await expect(secretBox).toBeHidden();
  await expect(row).toHaveAttribute("data-state", "active");
  // Shown once: nowhere on the page any more, not even after a reload.
  await page.reload();
  await expect(row).toHaveAttribute("data-state", "active");
  await expect(page.getByText(secret)).toHaveCount(0);

  await row.getByTestId("token-revoke").click();
  // Revoking asks for confirmation.
  await page.getByTestId("token-revoke-confirm").click();
  await expect(row).toHaveAttribute("data-state", "revoked");
  expect((await me(secret)).status).toBe(401);
});

// Logging in: the one-time first-start link `flowo serve` prints, e-mail and password, and a
// wrong password.
import { connection, expect, test } from "./fixtures";

test.use({ loggedIn: false });

test("the first-start link logs in once and opens the account settings", async ({ page, flowo }) => {
  const link = flowo.server.firstLoginLink;
  expect(link, "flowo serve printed a first-login link on a fresh store").toBeTruthy();
  await page.goto(link!);
  await expect(page).toHaveURL(/\/settings\/account\?welcome=1$/);
  await expect(connection(page)).toHaveAttribute("data-state", "live");

  // The link works once: a second browser gets an error, not a session.
  const other = await page.context().browser()!.newContext();
  try {
    const second = await other.newPage();
    await second.goto(link!);
    await expect(second.getByTestId("login").getByRole("alert")).toBeVisible();
    await expect(second).toHaveURL(/\/login/);
  } finally {
    await other.close();
  }
});

test("a user logs in with e-mail and password", async ({ page, flowo }) => {
  await flowo.admin.post("/users", { email: "alice@flowo.test", password: "alice's password", role: "member" });
  await page.goto("/runs");
  // Not logged in: the login card, remembering where the user wanted to go.
  const login = page.getByTestId("login");
  await expect(login).toBeVisible();
  await login.getByLabel("E-mail").fill("alice@flowo.test");
  await login.getByLabel("Password").fill("alice's password");
  await login.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/runs$/);
  await expect(connection(page)).toHaveAttribute("data-state", "live");
  await expect(page.getByText("alice@flowo.test").first()).toBeVisible();
});

test("a wrong password shows an error and does not log in", async ({ page, flowo }) => {
  await flowo.admin.post("/users", { email: "bob@flowo.test", password: "bob's password", role: "viewer" });
  await page.goto("/login");
  const login = page.getByTestId("login");
  await login.getByLabel("E-mail").fill("bob@flowo.test");
  await login.getByLabel("Password").fill("not bob's password");
  await login.getByRole("button", { name: "Log in" }).click();
  await expect(login.getByRole("alert")).toBeVisible();
  await expect(page).toHaveURL(/\/login/);
  const me = await page.request.get("/api/v1/auth/me");
  expect(me.status()).toBe(401);
});

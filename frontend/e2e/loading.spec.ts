// Each page's code is a chunk of its own, loaded when first needed. When a chunk cannot be
// fetched (the server gone, or upgraded under an open page so that the old chunk's name is
// gone), the app says so with a way to reload, rather than going blank; a reload then works.
import { expect, test, connection } from "./fixtures";

test("a page whose code cannot be fetched says so, and reloading brings it", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (err) => errors.push(err.message));
  await page.route(/\/assets\/SettingsPage-[^/]+\.js$/, (route) => route.abort("connectionreset"));

  await page.goto("/runs");
  await expect(connection(page)).toHaveAttribute("data-state", "live");
  await page.getByRole("link", { name: "Settings" }).click();

  const failed = page.getByTestId("load-failed");
  await expect(failed).toBeVisible();
  await expect(failed).toContainText("Could not load this part of the dashboard");
  // The rest of the app is still there: its header and menu answer.
  await expect(page.getByTestId("user-menu")).toBeVisible();
  expect(errors, "uncaught page errors").toEqual([]);

  await page.unroute(/\/assets\/SettingsPage-[^/]+\.js$/);
  await failed.getByRole("button", { name: "Reload" }).click();
  await expect(page.getByTestId("settings")).toBeVisible();
  await expect(page.getByTestId("load-failed")).toHaveCount(0);
});

import { describe, expect, it } from "vitest";
import { Suspense } from "react";
import { act, render, screen } from "@testing-library/react";
import { preloadable } from "./preloadable";

function Page({ name }: { name: string }) {
  return <p>page {name}</p>;
}

/** A factory whose promise the test settles, counting its calls. */
function controlled() {
  const calls = { n: 0 };
  let resolve: (m: { default: typeof Page }) => void = () => {};
  let reject: (e: Error) => void = () => {};
  const factory = () => {
    calls.n += 1;
    return new Promise<{ default: typeof Page }>((res, rej) => {
      resolve = res;
      reject = rej;
    });
  };
  return { calls, factory, resolve: (m: { default: typeof Page }) => resolve(m), reject: (e: Error) => reject(e) };
}

// Every render sits under a Suspense boundary whose fallback must never show: the component
// must not suspend, whose reveal React would throttle.
const suspended = <p>suspended</p>;

describe("preloadable", () => {
  it("renders a loaded component at once, without the placeholder", async () => {
    const page = preloadable(async () => ({ default: Page }), <p>loading</p>);
    await page.load();
    render(
      <Suspense fallback={suspended}>
        <page.Component name="a" />
      </Suspense>,
    );
    expect(screen.getByText("page a")).toBeTruthy();
    expect(screen.queryByText("loading")).toBeNull();
  });

  it("shows its placeholder, without suspending, until the code is there, and loads it once", async () => {
    const code = controlled();
    const page = preloadable(code.factory, <p>loading</p>);
    render(
      <Suspense fallback={suspended}>
        <page.Component name="b" />
      </Suspense>,
    );
    expect(screen.getByText("loading")).toBeTruthy();
    expect(screen.queryByText("suspended")).toBeNull();
    void page.load();
    await act(async () => code.resolve({ default: Page }));
    expect(screen.getByText("page b")).toBeTruthy();
    expect(screen.queryByText("suspended")).toBeNull();
    expect(code.calls.n).toBe(1);
  });

  it("starts loading by itself when it renders before anything preloaded it", async () => {
    const code = controlled();
    const page = preloadable(code.factory, <p>loading</p>);
    render(<page.Component name="c" />);
    expect(code.calls.n).toBe(1);
    await act(async () => code.resolve({ default: Page }));
    expect(screen.getByText("page c")).toBeTruthy();
  });

  it("says so, with a way to reload, when the code cannot be loaded", async () => {
    const code = controlled();
    const page = preloadable(code.factory, <p>loading</p>);
    render(<page.Component name="d" />);
    await act(async () => code.reject(new Error("Failed to fetch dynamically imported module")));
    expect(screen.getByTestId("load-failed").textContent).toContain("Failed to fetch dynamically imported module");
    expect(screen.getByRole("button", { name: "Reload" })).toBeTruthy();
    await expect(page.load()).resolves.toBeUndefined();
  });
});

import { describe, expect, it } from "vitest";
import { Suspense } from "react";
import { act, render, screen } from "@testing-library/react";
import { preloadable } from "./preloadable";

function Page({ name }: { name: string }) {
  return <p>page {name}</p>;
}

describe("preloadable", () => {
  it("renders a loaded component at once, without the fallback", async () => {
    const page = preloadable(async () => ({ default: Page }));
    await page.load();
    render(
      <Suspense fallback={<p>loading</p>}>
        <page.Component name="a" />
      </Suspense>,
    );
    expect(screen.getByText("page a")).toBeTruthy();
    expect(screen.queryByText("loading")).toBeNull();
  });

  it("suspends until the code is there when it was not preloaded, and loads it once", async () => {
    let calls = 0;
    let resolve: (m: { default: typeof Page }) => void = () => {};
    const page = preloadable(() => {
      calls += 1;
      return new Promise<{ default: typeof Page }>((r) => (resolve = r));
    });
    render(
      <Suspense fallback={<p>loading</p>}>
        <page.Component name="b" />
      </Suspense>,
    );
    expect(screen.getByText("loading")).toBeTruthy();
    void page.load();
    await act(async () => resolve({ default: Page }));
    expect(await screen.findByText("page b")).toBeTruthy();
    expect(calls).toBe(1);
  });
});

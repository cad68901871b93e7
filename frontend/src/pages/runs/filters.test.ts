import { describe, expect, it } from "vitest";
import {
  currentCursor,
  filtersFromParams,
  filtersKey,
  filtersToParams,
  nextPage,
  pageCount,
  pageNumber,
  pageRequest,
  parseStatuses,
  previousPage,
  stackFor,
  type CursorStack,
} from "./filters";

describe("URL params ↔ filters", () => {
  it("reads every filter and drops invalid values", () => {
    const p = new URLSearchParams(
      "q=%20align%20&status=failed,bogus,running&tag=nightly&workspace=lab&from=2026-01-01T00:00:00.000Z&to=2026-02-01T00:00:00.000Z&sort=name&order=asc&limit=25",
    );
    expect(filtersFromParams(p)).toEqual({
      q: "align",
      status: "running,failed",
      tag: "nightly",
      workspace: "lab",
      from: "2026-01-01T00:00:00.000Z",
      to: "2026-02-01T00:00:00.000Z",
      sort: "name",
      order: "asc",
      limit: 25,
    });
    expect(filtersFromParams(new URLSearchParams("sort=size&order=up&limit=7&status=nope&q=%20"))).toEqual({});
  });

  it("leaves defaults out of the URL", () => {
    expect(filtersToParams({ sort: "started_at", order: "desc", limit: 50 }).toString()).toBe("");
    expect(filtersFromParams(new URLSearchParams("sort=started_at&order=desc&limit=50"))).toEqual({});
  });

  it("round-trips", () => {
    const f = { q: "x y", status: "lost,failed", workspace: "lab", sort: "last_event_at" as const, limit: 100 };
    const back = filtersFromParams(filtersToParams(f));
    expect(back).toEqual({ ...f, status: "failed,lost" });
    expect(filtersKey(back)).toBe(filtersKey(filtersFromParams(filtersToParams(back))));
  });

  it("parses status lists", () => {
    expect(parseStatuses("failed, running,failed")).toEqual(["running", "failed"]);
    expect(parseStatuses(undefined)).toEqual([]);
  });

  it("builds page requests with the page size and the cursor only when set", () => {
    expect(pageRequest({ q: "a" }, undefined)).toEqual({ q: "a", limit: 50 });
    expect(pageRequest({ limit: 25 }, "c1")).toEqual({ limit: 25, cursor: "c1" });
  });
});

describe("cursor stack", () => {
  it("goes forward and back", () => {
    let s: CursorStack = { key: "k", cursors: [] };
    expect(currentCursor(s)).toBeUndefined();
    expect(pageNumber(s)).toBe(1);
    s = nextPage(s, "a");
    s = nextPage(s, "b");
    expect(currentCursor(s)).toBe("b");
    expect(pageNumber(s)).toBe(3);
    s = previousPage(s);
    expect(currentCursor(s)).toBe("a");
    s = previousPage(previousPage(s));
    expect(pageNumber(s)).toBe(1);
  });

  it("starts again when the filters change", () => {
    const s = nextPage({ key: "q=a", cursors: [] }, "c");
    expect(stackFor(s, "q=a")).toBe(s);
    expect(stackFor(s, "q=b")).toEqual({ key: "q=b", cursors: [] });
  });

  it("counts pages", () => {
    expect(pageCount(0, 50)).toBe(1);
    expect(pageCount(101, 50)).toBe(3);
    expect(pageCount(100_000, 100)).toBe(1000);
    expect(pageCount(undefined, 50)).toBeUndefined();
  });
});

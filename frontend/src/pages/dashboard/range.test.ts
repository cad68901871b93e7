import { describe, expect, it } from "vitest";
import { choiceFromParams, choiceToParams, resolveRange } from "./range";

const NOW = Date.parse("2026-11-26T14:49:53.609Z");

describe("time-range presets", () => {
  it("counts back from now, floored to the minute, with an open end", () => {
    expect(resolveRange({ preset: "24h" }, NOW)).toEqual({ from: "2026-11-25T14:49:00.000Z" });
    expect(resolveRange({ preset: "7d" }, NOW)).toEqual({ from: "2026-11-19T14:49:00.000Z" });
    expect(resolveRange({ preset: "30d" }, NOW)).toEqual({ from: "2026-10-27T14:49:00.000Z" });
    expect(resolveRange({ preset: "all" }, NOW)).toEqual({});
  });

  it("gives one key per choice within a minute", () => {
    expect(resolveRange({ preset: "7d" }, NOW)).toEqual(resolveRange({ preset: "7d" }, NOW + 5_000));
  });

  it("passes custom ranges through", () => {
    const c = { preset: "custom" as const, from: "2026-01-01T00:00:00.000Z" };
    expect(resolveRange(c, NOW)).toEqual({ from: "2026-01-01T00:00:00.000Z", to: undefined });
  });

  it("reads and writes the URL", () => {
    expect(choiceFromParams(new URLSearchParams(""))).toEqual({ preset: "30d" });
    expect(choiceFromParams(new URLSearchParams("range=24h"))).toEqual({ preset: "24h" });
    expect(choiceFromParams(new URLSearchParams("range=bogus"))).toEqual({ preset: "30d" });
    expect(choiceFromParams(new URLSearchParams("range=24h&to=2026-02-01T00:00:00Z"))).toEqual({
      preset: "custom",
      from: undefined,
      to: "2026-02-01T00:00:00Z",
    });
    const base = new URLSearchParams("workspace=lab&range=7d");
    expect(choiceToParams({ preset: "all" }, base).toString()).toBe("workspace=lab&range=all");
    expect(choiceToParams({ preset: "30d" }, base).toString()).toBe("workspace=lab");
    expect(choiceToParams({ preset: "custom", from: "a", to: "b" }, base).toString()).toBe("workspace=lab&from=a&to=b");
  });
});

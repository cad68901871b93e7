import { describe, expect, it } from "vitest";
import { durationBetween, formatDuration, percent } from "./format";

describe("format", () => {
  it("formats durations at each scale", () => {
    expect(formatDuration(null)).toBe("–");
    expect(formatDuration(0.12)).toBe("120ms");
    expect(formatDuration(4.24)).toBe("4.2s");
    expect(formatDuration(42)).toBe("42s");
    expect(formatDuration(185)).toBe("3m 05s");
    expect(formatDuration(3720)).toBe("1h 02m");
  });
  it("measures running spans until now", () => {
    const now = Date.parse("2026-11-26T10:00:10Z");
    expect(durationBetween("2026-11-26T10:00:00Z", null, now)).toBe(10);
    expect(durationBetween("2026-11-26T10:00:00Z", "2026-11-26T10:00:03Z", now)).toBe(3);
    expect(durationBetween(null, null, now)).toBeNull();
  });
  it("caps percentages", () => {
    expect(percent(3, 0)).toBe(0);
    expect(percent(5, 4)).toBe(100);
    expect(percent(1, 3)).toBe(33);
  });
});

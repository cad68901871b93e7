// Time ranges of the dashboard: presets relative to when they were chosen, or a custom range,
// as kept in the URL (`range=7d`, or `from`/`to`).
export const PRESETS = [
  { key: "24h", label: "24 h", ms: 24 * 3600_000 },
  { key: "7d", label: "7 d", ms: 7 * 24 * 3600_000 },
  { key: "30d", label: "30 d", ms: 30 * 24 * 3600_000 },
  { key: "all", label: "All", ms: null },
] as const;

export type Preset = (typeof PRESETS)[number]["key"];
export const DEFAULT_PRESET: Preset = "30d";

/** What the URL says: a preset, or a custom range (either end may be open). */
export type RangeChoice = { preset: Preset } | { preset: "custom"; from?: string; to?: string };

export function choiceFromParams(p: URLSearchParams): RangeChoice {
  const from = p.get("from") || undefined;
  const to = p.get("to") || undefined;
  if (from || to) return { preset: "custom", from, to };
  const r = p.get("range");
  const preset = PRESETS.find((x) => x.key === r);
  return { preset: preset ? preset.key : DEFAULT_PRESET };
}

/** Writes a choice into search params, keeping the others (the workspace). */
export function choiceToParams(choice: RangeChoice, base: URLSearchParams): URLSearchParams {
  const p = new URLSearchParams(base);
  p.delete("range");
  p.delete("from");
  p.delete("to");
  if (choice.preset === "custom") {
    if (choice.from) p.set("from", choice.from);
    if (choice.to) p.set("to", choice.to);
  } else if (choice.preset !== DEFAULT_PRESET) {
    p.set("range", choice.preset);
  }
  return p;
}

/**
 * The `from`/`to` (RFC 3339) sent to `/stats`. A preset counts back from `now`, floored to
 * the minute so that one choice gives one query key; its end stays open so new runs count.
 */
export function resolveRange(choice: RangeChoice, now: number): { from?: string; to?: string } {
  if (choice.preset === "custom") return { from: choice.from, to: choice.to };
  const preset = PRESETS.find((x) => x.key === choice.preset);
  if (!preset || preset.ms === null) return {};
  const from = Math.floor((now - preset.ms) / 60_000) * 60_000;
  return { from: new Date(from).toISOString() };
}

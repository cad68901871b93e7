// API tokens as the settings page shows them: their state, what a user may grant, and the
// exact lines that set up `flowo login` or the Snakemake plugin with a new token.
import type { ApiToken, Role, TokenScope } from "../../api/types";

export type TokenState = "active" | "revoked" | "expired";

/** Revoked beats expired: a revoked token stays revoked whatever its expiry. */
export function tokenState(t: Pick<ApiToken, "revoked_at" | "expires_at">, now: number): TokenState {
  if (t.revoked_at) return "revoked";
  if (t.expires_at && Date.parse(t.expires_at) <= now) return "expired";
  return "active";
}

/**
 * Scopes worth granting: admin tokens only for administrators (the server refuses others);
 * viewers cannot send runs, so an ingest token would be refused at every use.
 */
export function grantableScopes(role: Role): TokenScope[] {
  if (role === "admin") return ["ingest", "read", "admin"];
  if (role === "member") return ["ingest", "read"];
  return ["read"];
}

export const SCOPE_HELP: Record<TokenScope, string> = {
  ingest: "send runs (the Snakemake plugin)",
  read: "read runs (flowo runs, scripts)",
  admin: "everything the owner may do",
};

/** `in 3 days`, `2 hours ago`: coarse, for lists. */
export function relative(t: string, now: number): string {
  const ms = Date.parse(t) - now;
  const abs = Math.abs(ms);
  const units: [number, string][] = [
    [86_400_000, "day"],
    [3_600_000, "hour"],
    [60_000, "minute"],
  ];
  let text = "less than a minute";
  for (const [size, name] of units) {
    if (abs >= size) {
      const n = Math.floor(abs / size);
      text = `${n} ${name}${n === 1 ? "" : "s"}`;
      break;
    }
  }
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

/** Quotes a word for a POSIX shell when it needs it. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface SetupLines {
  /** Saves server and token in the config file; the token is asked for (or read from stdin). */
  login: string;
  /** Everything in the environment, for one command. */
  env: string;
}

/**
 * The setup lines for a new token. `flowo login` takes the URL as a flag and reads the token
 * from a prompt (or stdin), never from a flag; the plugin reads FLOWO_URL and FLOWO_TOKEN.
 * A read token cannot send runs, so its environment line lists runs instead.
 */
export function setupLines(origin: string, secret: string, scope: TokenScope): SetupLines {
  const url = shellQuote(origin);
  const command = scope === "read" ? "flowo runs list" : "snakemake --logger flowo --cores 1";
  return {
    login: `flowo login --url ${url}`,
    env: `FLOWO_URL=${url} FLOWO_TOKEN=${shellQuote(secret)} ${command}`,
  };
}

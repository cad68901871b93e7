import { describe, expect, it } from "vitest";
import { grantableScopes, relative, setupLines, shellQuote, tokenState } from "./tokens";

const NOW = Date.parse("2026-11-26T12:00:00Z");

describe("token state", () => {
  it("is active, expired or revoked", () => {
    expect(tokenState({ revoked_at: null, expires_at: null }, NOW)).toBe("active");
    expect(tokenState({ revoked_at: null, expires_at: "2026-11-27T00:00:00Z" }, NOW)).toBe("active");
    expect(tokenState({ revoked_at: null, expires_at: "2026-11-26T12:00:00Z" }, NOW)).toBe("expired");
    expect(tokenState({ revoked_at: "2026-11-01T00:00:00Z", expires_at: "2026-11-02T00:00:00Z" }, NOW)).toBe("revoked");
  });

  it("describes times relative to now", () => {
    expect(relative("2026-11-29T13:00:00Z", NOW)).toBe("in 3 days");
    expect(relative("2026-11-26T10:59:00Z", NOW)).toBe("1 hour ago");
    expect(relative("2026-11-26T12:00:10Z", NOW)).toBe("in less than a minute");
  });
});

describe("scopes", () => {
  it("offers admin scope to admins only, ingest not to viewers", () => {
    expect(grantableScopes("admin")).toEqual(["ingest", "read", "admin"]);
    expect(grantableScopes("member")).toEqual(["ingest", "read"]);
    expect(grantableScopes("viewer")).toEqual(["read"]);
  });
});

describe("setup lines", () => {
  it("gives flowo login and the environment way", () => {
    expect(setupLines("https://flowo.lab.org", "flowo_abc123", "ingest")).toEqual({
      login: "flowo login --url https://flowo.lab.org",
      env: "FLOWO_URL=https://flowo.lab.org FLOWO_TOKEN=flowo_abc123 snakemake --logger flowo --cores 1",
    });
    expect(setupLines("http://127.0.0.1:3100", "t", "read").env).toBe("FLOWO_URL=http://127.0.0.1:3100 FLOWO_TOKEN=t flowo runs list");
  });

  it("quotes what the shell would split", () => {
    expect(shellQuote("a b")).toBe("'a b'");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote("flowo_0a9f")).toBe("flowo_0a9f");
  });
});

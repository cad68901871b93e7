import { describe, expect, it } from "vitest";
import { render, screen } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { MemoryRouter } from "react-router";
import { App as AntApp } from "antd";
import { keys } from "../../api/queries";
import type { ApiToken, CreatedToken, Me } from "../../api/types";
import { TokenSecretModal, TokensTab } from "./TokensTab";

const token = (id: string, name: string, extra: Partial<ApiToken> = {}): ApiToken => ({
  id,
  name,
  user_id: "u1",
  scope: "ingest",
  prefix: "flowo_abc123",
  created_at: "2026-11-01T00:00:00Z",
  ...extra,
});

const me: Me = {
  credential: "session",
  user: { id: "u1", email: "member@example.org", role: "member", disabled: false, created_at: "2026-11-01T00:00:00Z" },
  workspaces: [{ id: "ws-lab", name: "lab", created_at: "2026-11-01T00:00:00Z" }],
};

const wrap = (client: QueryClient, node: React.ReactNode) => (
  <QueryClientProvider client={client}>
    <MemoryRouter>
      <AntApp>{node}</AntApp>
    </MemoryRouter>
  </QueryClientProvider>
);

describe("TokensTab", () => {
  it("lists tokens with their state and a revoke button for those not revoked", () => {
    const client = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity, retry: false } } });
    client.setQueryData(keys.workspaces, me.workspaces);
    client.setQueryData(keys.tokens(false), [
      token("1", "laptop", { workspace_id: "ws-lab", last_used_at: "2026-11-02T00:00:00Z" }),
      token("2", "old", { expires_at: "2020-01-01T00:00:00Z" }),
      token("3", "gone", { revoked_at: "2026-11-03T00:00:00Z" }),
    ]);
    render(wrap(client, <TokensTab me={me} />));
    const rows = screen.getAllByTestId("token-row");
    expect(rows.map((r) => [r.dataset.tokenName, r.dataset.state])).toEqual([
      ["laptop", "active"],
      ["old", "expired"],
      ["gone", "revoked"],
    ]);
    expect(rows[0].textContent).toContain("lab");
    expect(rows.map((r) => r.querySelector("[data-testid=token-revoke]") !== null)).toEqual([true, true, false]);
    expect(screen.getByTestId("token-create")).toBeTruthy();
    // Members cannot switch to everyone's tokens.
    expect(screen.queryByTestId("tokens-all")).toBeNull();
  });

  it("shows a new token's secret once with its setup lines", () => {
    const created: CreatedToken = { ...token("9", "cluster"), secret: "flowo_0123456789abcdef" };
    render(wrap(new QueryClient(), <TokenSecretModal token={created} origin="https://flowo.lab.org" onClose={() => {}} />));
    expect(screen.getByTestId("token-secret").textContent).toBe("flowo_0123456789abcdef");
    expect(screen.getByTestId("token-setup-login").textContent).toBe("flowo login --url https://flowo.lab.org");
    expect(screen.getByTestId("token-setup-env").textContent).toBe(
      "FLOWO_URL=https://flowo.lab.org FLOWO_TOKEN=flowo_0123456789abcdef snakemake --logger flowo --cores 1",
    );
  });
});

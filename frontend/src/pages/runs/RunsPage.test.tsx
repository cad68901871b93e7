import { describe, expect, it } from "vitest";
import { render, screen } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { MemoryRouter } from "react-router";
import { App as AntApp } from "antd";
import { keys } from "../../api/queries";
import type { Me, Page, Run, Workspace } from "../../api/types";
import { tickerSubscribers } from "../../lib/ticker";
import RunsPage from "./RunsPage";

const lab: Workspace = { id: "ws-lab", name: "lab", created_at: "2026-11-01T00:00:00Z" };
const other: Workspace = { id: "ws-other", name: "other", created_at: "2026-11-01T00:00:00Z" };

function run(id: string, status: Run["status"], workspace_id: string, extra: Partial<Run> = {}): Run {
  return {
    id,
    name: `run ${id}`,
    status,
    workspace_id,
    dry_run: false,
    tags: ["nightly"],
    done: 5,
    total: 14,
    jobs: { running: 0, succeeded: 5, failed: status === "failed" ? 1 : 0, incomplete: 0, planned: 0 },
    error_count: status === "failed" ? 2 : 0,
    event_count: 49,
    host: "vm",
    started_at: "2026-11-26T14:49:53.609Z",
    finished_at: status === "running" ? null : "2026-11-26T14:50:55.609Z",
    last_event_at: "2026-11-26T14:50:55.609Z",
    ...extra,
  };
}

function renderPage(me: Me, runs: Run[], url = "/runs") {
  const client = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity, retry: false } } });
  client.setQueryData(keys.me, me);
  client.setQueryData(keys.workspaces, [lab, other]);
  const page: Page<Run> = { items: runs, next_cursor: "c2", total: 120 };
  client.setQueryData(keys.runs({ limit: 50 }), page);
  client.setQueryData(keys.runs({ status: "failed", limit: 25 }), { items: runs.filter((r) => r.status === "failed"), total: 1 });
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[url]}>
        <AntApp>
          <RunsPage />
        </AntApp>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

const member: Me = {
  credential: "session",
  user: { id: "u1", email: "member@example.org", role: "member", disabled: false, created_at: "2026-11-01T00:00:00Z" },
  workspaces: [lab],
};

describe("RunsPage", () => {
  it("renders one row per run with its id, status and workspace, and the pager", () => {
    renderPage(member, [run("a", "running", "ws-lab"), run("b", "failed", "ws-other"), run("c", "succeeded", "ws-lab")]);
    const rows = screen.getAllByTestId("run-row");
    expect(rows.map((r) => [r.dataset.runId, r.dataset.status])).toEqual([
      ["a", "running"],
      ["b", "failed"],
      ["c", "succeeded"],
    ]);
    expect(rows[1].textContent).toContain("other");
    expect(rows[1].textContent).toContain("5/14");
    expect(screen.getByTestId("runs-page").textContent).toBe("Page 1 of 3");
    expect(screen.getByTestId("runs-total").textContent).toBe("120 runs");
    expect(screen.getByTestId("runs-search")).toBeTruthy();
    // Only the running run follows the clock, through the one shared ticker.
    expect(tickerSubscribers()).toBe(1);
    // A member may delete runs of their workspaces only.
    expect(rows.map((r) => r.querySelector("[data-testid=run-delete]") !== null)).toEqual([true, false, true]);
  });

  it("reads filters from the URL", () => {
    renderPage(member, [run("a", "running", "ws-lab"), run("b", "failed", "ws-lab")], "/runs?status=failed&limit=25");
    expect(screen.getAllByTestId("run-row").map((r) => r.dataset.runId)).toEqual(["b"]);
    expect(screen.getByTestId("runs-page").textContent).toBe("Page 1 of 1");
  });

  it("offers no delete to viewers", () => {
    renderPage({ ...member, user: { ...member.user, role: "viewer" } }, [run("a", "failed", "ws-lab")]);
    expect(screen.queryByTestId("run-delete")).toBeNull();
  });
});

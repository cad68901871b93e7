import { describe, expect, it } from "vitest";
import type { RuleSummary } from "../../api/types";
import { layoutGraph, NODE_HEIGHT, RULE_STATE_COLORS, ruleProgress, ruleState } from "./dagModel";
import { STATUS_COLORS } from "../../lib/status";

function summary(jobs: Partial<RuleSummary["jobs"]>, planned: number | null = null): RuleSummary {
  return {
    rule: "r",
    jobs: { running: 0, succeeded: 0, failed: 0, incomplete: 0, planned: 0, ...jobs },
    planned,
    not_started: 0,
  };
}

describe("ruleState", () => {
  it("is failed when any job failed, even while others run", () => {
    expect(ruleState(summary({ failed: 1, running: 2, succeeded: 3 }, 10))).toBe("failed");
  });
  it("is running when a job runs and none failed", () => {
    expect(ruleState(summary({ running: 1, succeeded: 3 }, 10))).toBe("running");
  });
  it("is succeeded only when every planned job is done", () => {
    expect(ruleState(summary({ succeeded: 3 }, 3))).toBe("succeeded");
    expect(ruleState(summary({ succeeded: 3 }, 4))).toBe("planned");
    // Without a plan, the jobs seen are the total.
    expect(ruleState(summary({ succeeded: 2 }))).toBe("succeeded");
  });
  it("is planned with nothing started, with incomplete jobs, or without a summary", () => {
    expect(ruleState(summary({}, 5))).toBe("planned");
    expect(ruleState(summary({}))).toBe("planned");
    expect(ruleState(summary({ succeeded: 1, incomplete: 1 }))).toBe("planned");
    expect(ruleState(undefined)).toBe("planned");
  });
  it("maps every state to the shared status colour", () => {
    expect(RULE_STATE_COLORS.failed).toBe(STATUS_COLORS.failed);
    expect(RULE_STATE_COLORS.running).toBe(STATUS_COLORS.running);
    expect(RULE_STATE_COLORS.succeeded).toBe(STATUS_COLORS.succeeded);
    expect(RULE_STATE_COLORS.planned).toBe(STATUS_COLORS.planned);
  });
});

describe("ruleProgress", () => {
  it("counts done / running / failed / total", () => {
    expect(ruleProgress(summary({ succeeded: 2, running: 1, failed: 1 }, 10))).toEqual({ done: 2, running: 1, failed: 1, total: 10 });
    expect(ruleProgress(undefined)).toEqual({ done: 0, running: 0, failed: 0, total: 0 });
  });
});

describe("layoutGraph", () => {
  const graph = {
    nodes: [{ rule: "make_ref" }, { rule: "prepare" }, { rule: "count" }, { rule: "all" }],
    links: [
      { source: 0, target: 1 },
      { source: 1, target: 2 },
      { source: 2, target: 3 },
      { source: 0, target: 3 },
      { source: 0, target: 9 },
    ],
  };
  it("lays the graph out top to bottom", () => {
    const l = layoutGraph(graph);
    expect(l.nodes.map((n) => n.rule)).toEqual(["make_ref", "prepare", "count", "all"]);
    const y = l.nodes.map((n) => n.y);
    expect(y[1]).toBeGreaterThanOrEqual(y[0] + NODE_HEIGHT);
    expect(y[2]).toBeGreaterThan(y[1]);
    expect(y[3]).toBeGreaterThan(y[2]);
    expect(l.height).toBeGreaterThan(0);
  });
  it("drops links to unknown nodes", () => {
    expect(layoutGraph(graph).edges.map((e) => e.id)).toEqual(["n0-n1", "n1-n2", "n2-n3", "n0-n3"]);
  });
  it("is empty for no graph", () => {
    expect(layoutGraph(null).nodes).toEqual([]);
    expect(layoutGraph({ nodes: [], links: [] }).nodes).toEqual([]);
  });
});

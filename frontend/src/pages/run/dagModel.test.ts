import { describe, expect, it } from "vitest";
import type { RuleSummary } from "../../api/types";
import {
  cachedLayout,
  edgePath,
  edgeSegments,
  layoutGraph,
  NODE_HEIGHT,
  NODE_WIDTH,
  notRunLabel,
  RULE_STATE_COLORS,
  ruleNotRun,
  ruleProgress,
  ruleState,
  type GraphLayout,
  type Point,
} from "./dagModel";
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

describe("ruleNotRun", () => {
  it("marks planned rules of a finished run as not run", () => {
    expect(ruleNotRun(summary({}, 1), true)).toBe(true);
    expect(ruleNotRun(undefined, true)).toBe(true);
    // Some jobs done, the rest never ran.
    expect(ruleNotRun(summary({ succeeded: 2 }, 5), true)).toBe(true);
  });
  it("keeps them planned while the run is running", () => {
    expect(ruleNotRun(summary({}, 1), false)).toBe(false);
    expect(ruleNotRun(undefined, false)).toBe(false);
  });
  it("never marks a rule that succeeded, failed or is running", () => {
    expect(ruleNotRun(summary({ succeeded: 3 }, 3), true)).toBe(false);
    expect(ruleNotRun(summary({ failed: 1, succeeded: 1 }, 5), true)).toBe(false);
    expect(ruleNotRun(summary({ running: 1 }, 5), true)).toBe(false);
  });
  it("says how many jobs did not run when some did", () => {
    expect(notRunLabel(summary({}, 1))).toBe("not run");
    expect(notRunLabel(undefined)).toBe("not run");
    expect(notRunLabel(summary({ succeeded: 2 }, 5))).toBe("3 not run");
    expect(notRunLabel(summary({ succeeded: 2, incomplete: 1 }, 5))).toBe("2 not run");
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
  it("keeps layouts between page loads, by graph", () => {
    localStorage.clear();
    const fresh = cachedLayout(graph);
    expect(fresh).toEqual(layoutGraph(graph));
    const stored = localStorage.getItem("flowo.dag-layouts.v1") ?? "";
    expect(JSON.parse(stored)).toHaveLength(1);
    // A later load reads it back rather than laying out again (a marked entry comes back as
    // stored); another graph is laid out anew.
    expect(cachedLayout(JSON.parse(JSON.stringify(graph)))).toEqual(fresh);
    const marked = JSON.parse(stored) as [string, { width: number }][];
    marked[0][1].width = 12345;
    localStorage.setItem("flowo.dag-layouts.v1", JSON.stringify(marked));
    expect(cachedLayout(graph).width).toBe(12345);
    localStorage.setItem("flowo.dag-layouts.v1", stored);
    const other = { nodes: graph.nodes.slice(0, 2), links: [{ source: 0, target: 1 }] };
    expect(cachedLayout(other)).toEqual(layoutGraph(other));
    expect(JSON.parse(localStorage.getItem("flowo.dag-layouts.v1") ?? "")).toHaveLength(2);
    localStorage.setItem("flowo.dag-layouts.v1", "not json");
    expect(cachedLayout(graph)).toEqual(fresh);
  });
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

/** Points along every edge, to check where the drawn curves go. */
function samples(l: GraphLayout): { edge: string; source: string; target: string; p: Point }[] {
  const out: { edge: string; source: string; target: string; p: Point }[] = [];
  for (const e of l.edges)
    for (const [a, c1, c2, b] of edgeSegments(e.points))
      for (let i = 0; i <= 40; i++) {
        const t = i / 40;
        const u = 1 - t;
        const w = [u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t];
        out.push({
          edge: e.id,
          source: e.source,
          target: e.target,
          p: { x: w[0] * a.x + w[1] * c1.x + w[2] * c2.x + w[3] * b.x, y: w[0] * a.y + w[1] * c1.y + w[2] * c2.y + w[3] * b.y },
        });
      }
  return out;
}

/** Edges drawn across a node other than their own ends. */
function edgesBehindNodes(l: GraphLayout): string[] {
  const hits = new Set<string>();
  for (const s of samples(l))
    for (const n of l.nodes) {
      if (n.id === s.source || n.id === s.target) continue;
      if (s.p.x > n.x && s.p.x < n.x + NODE_WIDTH && s.p.y > n.y && s.p.y < n.y + NODE_HEIGHT) hits.add(`${s.edge} behind ${n.rule}`);
    }
  return [...hits];
}

describe("edge routing", () => {
  // The demo workflow (examples/snakemake/demo): fetch -> qc, fetch -> align, qc -> align, align -> report -> all.
  const demo = {
    nodes: [{ rule: "all" }, { rule: "report" }, { rule: "align" }, { rule: "fetch" }, { rule: "qc" }],
    links: [
      { source: 3, target: 4 },
      { source: 3, target: 2 },
      { source: 4, target: 2 },
      { source: 2, target: 1 },
      { source: 1, target: 0 },
    ],
  };
  it("stands the demo workflow in one column with no edge behind a node, in any link order", () => {
    for (const links of [demo.links, [...demo.links].reverse()]) {
      const l = layoutGraph({ ...demo, links });
      expect(edgesBehindNodes(l)).toEqual([]);
      // fetch -> qc -> align -> report -> all straight down; fetch -> align bends around qc.
      expect(new Set(l.nodes.map((n) => n.x)).size).toBe(1);
      const around = l.edges.find((e) => e.id === "n3-n2")!;
      expect(Math.min(...around.points.map((p) => Math.abs(p.x - (l.nodes[0].x + NODE_WIDTH / 2))))).toBe(0);
      expect(Math.max(...around.points.map((p) => Math.abs(p.x - (l.nodes[0].x + NODE_WIDTH / 2))))).toBeGreaterThan(NODE_WIDTH / 2);
    }
  });
  it("runs no edge behind a node in wider graphs", () => {
    const wide = {
      nodes: ["a", "b", "c", "d", "e", "f", "all"].map((rule) => ({ rule })),
      links: [
        [0, 1], [0, 2], [0, 3], [1, 4], [2, 4], [3, 5], [0, 5], [4, 6], [5, 6], [0, 6], [1, 6],
      ].map(([source, target]) => ({ source, target })),
    };
    expect(edgesBehindNodes(layoutGraph(wide))).toEqual([]);
    expect(edgesBehindNodes(layoutGraph(graphOf4))).toEqual([]);
  });
  it("starts at the source's bottom and ends at the target's top", () => {
    const l = layoutGraph(demo);
    const byId = new Map(l.nodes.map((n) => [n.id, n]));
    for (const e of l.edges) {
      const s = byId.get(e.source)!;
      const t = byId.get(e.target)!;
      expect(e.points[0]).toEqual({ x: s.x + NODE_WIDTH / 2, y: s.y + NODE_HEIGHT });
      expect(e.points[e.points.length - 1]).toEqual({ x: t.x + NODE_WIDTH / 2, y: t.y });
      expect(e.path.startsWith("M")).toBe(true);
    }
  });
  it("keeps the layout of a graph the same on every call", () => {
    expect(layoutGraph(demo)).toEqual(layoutGraph(demo));
  });
  it("draws a path through its points", () => {
    expect(edgePath([])).toBe("");
    expect(edgePath([{ x: 0, y: 0 }, { x: 10, y: 20 }])).toBe("M0,0 C0,10 10,10 10,20");
  });
});

const graphOf4 = {
  nodes: [{ rule: "make_ref" }, { rule: "prepare" }, { rule: "count" }, { rule: "all" }],
  links: [
    { source: 0, target: 1 },
    { source: 1, target: 2 },
    { source: 2, target: 3 },
    { source: 0, target: 3 },
  ],
};

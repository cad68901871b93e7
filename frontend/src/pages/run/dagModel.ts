// The rule DAG's data, apart from React: each rule's state and colour from its job counts, and
// the graph's layout (dagre, top to bottom), which depends on the graph alone so that job events
// never move a node.
import { Graph, layout } from "@dagrejs/dagre";
import type { RuleGraph, RuleSummary } from "../../api/types";
import { ruleTotal } from "../../lib/rules";
import { STATUS_COLORS } from "../../lib/status";

export type RuleState = "failed" | "running" | "succeeded" | "planned";

/** Failed if any job failed, else running if any runs, else succeeded if all are done, else planned. */
export function ruleState(r: RuleSummary | undefined): RuleState {
  if (!r) return "planned";
  if (r.jobs.failed > 0) return "failed";
  if (r.jobs.running > 0) return "running";
  const total = ruleTotal(r);
  if (total > 0 && r.jobs.succeeded >= total) return "succeeded";
  return "planned";
}

export const RULE_STATE_COLORS: Record<RuleState, string> = {
  failed: STATUS_COLORS.failed,
  running: STATUS_COLORS.running,
  succeeded: STATUS_COLORS.succeeded,
  planned: STATUS_COLORS.planned,
};

/** What a DAG node shows: done / running / failed / total. */
export interface RuleProgress {
  done: number;
  running: number;
  failed: number;
  total: number;
}

export function ruleProgress(r: RuleSummary | undefined): RuleProgress {
  if (!r) return { done: 0, running: 0, failed: 0, total: 0 };
  return { done: r.jobs.succeeded, running: r.jobs.running, failed: r.jobs.failed, total: ruleTotal(r) };
}

export const NODE_WIDTH = 190;
export const NODE_HEIGHT = 64;

export interface LaidOutNode {
  id: string;
  rule: string;
  /** Top-left corner. */
  x: number;
  y: number;
}

export interface GraphLayout {
  nodes: LaidOutNode[];
  edges: { id: string; source: string; target: string }[];
  width: number;
  height: number;
}

/** Nodes are keyed by index: a rule may appear once per topological level. */
const nodeId = (i: number) => `n${i}`;

/** Lays the rule graph out top to bottom; links to unknown nodes are dropped. */
export function layoutGraph(graph: RuleGraph | null | undefined): GraphLayout {
  const nodes = graph?.nodes ?? [];
  if (nodes.length === 0) return { nodes: [], edges: [], width: 0, height: 0 };
  const g = new Graph();
  g.setGraph({ rankdir: "TB", nodesep: 24, ranksep: 40, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  nodes.forEach((_, i) => g.setNode(nodeId(i), { width: NODE_WIDTH, height: NODE_HEIGHT }));
  const edges: GraphLayout["edges"] = [];
  const seen = new Set<string>();
  for (const l of graph?.links ?? []) {
    if (!nodes[l.source] || !nodes[l.target] || l.source === l.target) continue;
    const id = `${nodeId(l.source)}-${nodeId(l.target)}`;
    if (seen.has(id)) continue;
    seen.add(id);
    g.setEdge(nodeId(l.source), nodeId(l.target));
    edges.push({ id, source: nodeId(l.source), target: nodeId(l.target) });
  }
  layout(g);
  const out = nodes.map((n, i) => {
    const p = g.node(nodeId(i));
    return { id: nodeId(i), rule: n.rule, x: p.x - NODE_WIDTH / 2, y: p.y - NODE_HEIGHT / 2 };
  });
  const label = g.graph();
  return { nodes: out, edges, width: label.width ?? 0, height: label.height ?? 0 };
}

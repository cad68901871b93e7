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

/**
 * Whether a rule's remaining jobs will never run: the run is over (not `running`) and the rule
 * is still `planned` (e.g. downstream of a failure under --keep-going, or after an interrupt).
 */
export function ruleNotRun(r: RuleSummary | undefined, runOver: boolean): boolean {
  return runOver && ruleState(r) === "planned";
}

/** A not-run rule's label: "not run", or how many of its jobs did not run when some did. */
export function notRunLabel(r: RuleSummary | undefined): string {
  if (!r) return "not run";
  const total = ruleTotal(r);
  const ran = r.jobs.succeeded + r.jobs.failed + r.jobs.running + r.jobs.incomplete;
  return ran > 0 && total > ran ? `${total - ran} not run` : "not run";
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

export interface Point {
  x: number;
  y: number;
}

export interface LaidOutEdge {
  id: string;
  source: string;
  target: string;
  /** From the source's bottom centre to the target's top centre, around every other node. */
  points: Point[];
  /** SVG path through `points`. */
  path: string;
}

export interface GraphLayout {
  nodes: LaidOutNode[];
  edges: LaidOutEdge[];
  width: number;
  height: number;
}

/** Nodes are keyed by index: a rule may appear once per topological level. */
const nodeId = (i: number) => `n${i}`;

/**
 * Dagre's settings. A one-sided alignment (see `ALIGNMENTS`) keeps a chain of rules in one
 * straight column with side branches beside it, rather than the balanced layout's half-offset
 * nodes; the network-simplex ranker keeps edges short.
 */
export const DAG_LAYOUT = { rankdir: "TB", ranker: "network-simplex", nodesep: 40, edgesep: 20, ranksep: 48, marginx: 16, marginy: 16 } as const;

/**
 * Alignments tried, the one whose edges between nodes are straightest winning (the first on a
 * tie): which one-sided alignment keeps a chain straight depends on the graph's order, and the
 * balanced one (undefined) centres a rule over a fan of others.
 */
const ALIGNMENTS = ["UL", "UR", undefined] as const;

/**
 * Cubic segments through `points`, each leaving and entering vertically, so that a curve bends
 * only in the vertical gap between its two points.
 */
export function edgeSegments(points: Point[]): [Point, Point, Point, Point][] {
  const out: [Point, Point, Point, Point][] = [];
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1];
    const b = points[i];
    const my = (a.y + b.y) / 2;
    out.push([a, { x: a.x, y: my }, { x: b.x, y: my }, b]);
  }
  return out;
}

const r1 = (n: number) => Math.round(n * 10) / 10;

export function edgePath(points: Point[]): string {
  if (points.length === 0) return "";
  let d = `M${r1(points[0].x)},${r1(points[0].y)}`;
  for (const [a, c1, c2, b] of edgeSegments(points)) {
    if (a.x === b.x && a.y === b.y) continue;
    d += ` C${r1(c1.x)},${r1(c1.y)} ${r1(c2.x)},${r1(c2.y)} ${r1(b.x)},${r1(b.y)}`;
  }
  return d;
}

/**
 * Lays the rule graph out top to bottom; links to unknown nodes are dropped. Edges follow dagre's
 * routing (its points for the ranks an edge crosses), drawn straight down through each rank of
 * nodes and curving only between ranks, so that no edge runs behind a node.
 */
export function layoutGraph(graph: RuleGraph | null | undefined): GraphLayout {
  const nodes = graph?.nodes ?? [];
  if (nodes.length === 0) return { nodes: [], edges: [], width: 0, height: 0 };
  const links: { id: string; source: string; target: string }[] = [];
  const seen = new Set<string>();
  for (const l of graph?.links ?? []) {
    if (!nodes[l.source] || !nodes[l.target] || l.source === l.target) continue;
    const id = `${nodeId(l.source)}-${nodeId(l.target)}`;
    if (seen.has(id)) continue;
    seen.add(id);
    links.push({ id, source: nodeId(l.source), target: nodeId(l.target) });
  }
  const run = (align: (typeof ALIGNMENTS)[number]) => {
    const g = new Graph();
    g.setGraph(align ? { ...DAG_LAYOUT, align } : { ...DAG_LAYOUT });
    g.setDefaultEdgeLabel(() => ({}));
    nodes.forEach((_, i) => g.setNode(nodeId(i), { width: NODE_WIDTH, height: NODE_HEIGHT }));
    for (const e of links) g.setEdge(e.source, e.target);
    layout(g);
    const bend = links.reduce((sum, e) => sum + Math.abs(g.node(e.source).x - g.node(e.target).x), 0);
    return { g, bend };
  };
  let best = run(ALIGNMENTS[0]);
  for (const align of ALIGNMENTS.slice(1)) {
    const next = run(align);
    if (next.bend < best.bend) best = next;
  }
  const g = best.g;
  const out = nodes.map((n, i) => {
    const p = g.node(nodeId(i));
    return { id: nodeId(i), rule: n.rule, x: p.x - NODE_WIDTH / 2, y: p.y - NODE_HEIGHT / 2 };
  });
  const byId = new Map(out.map((n) => [n.id, n]));
  // The vertical centres of the ranks holding nodes (all nodes are the same height).
  const rankYs = out.map((n) => n.y + NODE_HEIGHT / 2);
  const inRank = (y: number) => rankYs.some((r) => Math.abs(r - y) < 0.5);
  let minX = 0;
  let maxX = 0;
  const edges = links.map((e) => {
    const s = byId.get(e.source) as LaidOutNode;
    const t = byId.get(e.target) as LaidOutNode;
    // Dagre's first and last points are where the edge meets the nodes' borders: replaced by the
    // handles (bottom and top centres). A point inside a rank is a dummy node beside that rank's
    // nodes: the edge passes it straight through the rank's whole height.
    const inner = (g.edge(e.source, e.target)?.points ?? []).slice(1, -1);
    const points: Point[] = [{ x: s.x + NODE_WIDTH / 2, y: s.y + NODE_HEIGHT }];
    for (const p of inner) {
      if (inRank(p.y)) points.push({ x: p.x, y: p.y - NODE_HEIGHT / 2 }, { x: p.x, y: p.y + NODE_HEIGHT / 2 });
      else points.push({ x: p.x, y: p.y });
    }
    points.push({ x: t.x + NODE_WIDTH / 2, y: t.y });
    for (const p of points) {
      minX = Math.min(minX, p.x);
      maxX = Math.max(maxX, p.x);
    }
    return { ...e, points, path: edgePath(points) };
  });
  const label = g.graph();
  const width = Math.max(label.width ?? 0, maxX) - Math.min(0, minX);
  return { nodes: out, edges, width, height: label.height ?? 0 };
}

/**
 * Where laid-out graphs are kept between page loads, and how many. The key names a version:
 * raise it whenever [`layoutGraph`]'s output changes for the same graph (its options and node
 * size are part of each entry's key already).
 */
const LAYOUT_STORE = "flowo.dag-layouts.v1";
const LAYOUTS_KEPT = 20;

/**
 * [`layoutGraph`], remembered by graph in localStorage: dagre's three layouts cost tens of
 * milliseconds on every load of a run page, and runs of one workflow share their graph.
 */
export function cachedLayout(graph: RuleGraph | null | undefined): GraphLayout {
  const nodes = graph?.nodes ?? [];
  if (nodes.length === 0) return layoutGraph(graph);
  const links = (graph?.links ?? []).map((l) => [l.source, l.target]);
  const key = JSON.stringify([DAG_LAYOUT, NODE_WIDTH, NODE_HEIGHT, nodes.map((n) => n.rule), links]);
  let stored: [string, GraphLayout][] = [];
  try {
    const parsed: unknown = JSON.parse(localStorage.getItem(LAYOUT_STORE) ?? "[]");
    if (Array.isArray(parsed)) stored = parsed as [string, GraphLayout][];
  } catch {
    // Unreadable or no storage: lay out afresh.
  }
  const hit = stored.find((e) => Array.isArray(e) && e[0] === key)?.[1];
  if (hit && Array.isArray(hit.nodes) && Array.isArray(hit.edges)) return hit;
  const layout = layoutGraph(graph);
  try {
    localStorage.setItem(LAYOUT_STORE, JSON.stringify([[key, layout], ...stored.filter((e) => e[0] !== key)].slice(0, LAYOUTS_KEPT)));
  } catch {
    // Full or no storage: the layout is used, just not kept.
  }
  return layout;
}

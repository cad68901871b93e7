// The run's rule graph: laid out once per graph (dagre), drawn with React Flow, each node showing
// its rule's live progress. Counts reach the nodes through a context, so a job event re-renders
// the node boxes but never rebuilds or re-lays-out the graph.
import { createContext, memo, useCallback, useContext, useMemo } from "react";
import { BaseEdge, Handle, MarkerType, Position, ReactFlow, type Edge, type EdgeProps, type Node, type NodeProps } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { Empty, Tooltip } from "antd";
import type { RuleGraph, RuleSummary } from "../../api/types";
import { formatDuration } from "../../lib/format";
import { STATUS_COLORS } from "../../lib/status";
import { cachedLayout, NODE_HEIGHT, NODE_WIDTH, notRunLabel, RULE_STATE_COLORS, ruleNotRun, ruleProgress, ruleState } from "./dagModel";

interface DagInfo {
  summaries: Map<string, RuleSummary>;
  selected: string | null;
  runOver: boolean;
}
const DagContext = createContext<DagInfo>({ summaries: new Map(), selected: null, runOver: false });

/** A not-run rule: dashed grey border over a hatched background. */
const NOT_RUN_BORDER = "#bfbfbf";
const NOT_RUN_BACKGROUND = "repeating-linear-gradient(135deg, #fafafa 0 6px, #f0f0f0 6px 12px)";

/** One rule: name, "done / running / failed / total" and a bar of the same. */
export const RuleCard = memo(function RuleCard({
  rule,
  summary,
  selected,
  runOver,
  onClick,
  children,
}: {
  rule: string;
  summary: RuleSummary | undefined;
  selected: boolean;
  /** The run has ended: rules still planned will not run. */
  runOver: boolean;
  onClick?: () => void;
  children?: React.ReactNode;
}) {
  const state = ruleState(summary);
  const notRun = ruleNotRun(summary, runOver);
  const p = ruleProgress(summary);
  const color = notRun ? NOT_RUN_BORDER : RULE_STATE_COLORS[state];
  const pct = (n: number) => (p.total > 0 ? `${(n / p.total) * 100}%` : "0%");
  const tip = summary
    ? `${rule}: ${p.done} done, ${p.running} running, ${p.failed} failed of ${p.total}` +
      (summary.jobs.incomplete ? `, ${summary.jobs.incomplete} incomplete` : "") +
      (summary.not_started ? `, ${summary.not_started} not started` : "") +
      (summary.duration_median != null ? `; median ${formatDuration(summary.duration_median)}` : "") +
      (notRun ? `; ${notRunLabel(summary)} (the run is over)` : "")
    : notRun
      ? `${rule}: not run (the run is over)`
      : rule;
  return (
    <Tooltip title={tip} mouseEnterDelay={0.4}>
      <div
        data-testid="dag-node"
        data-rule={rule}
        data-state={state}
        data-not-run={notRun ? "true" : undefined}
        onClick={onClick}
        role="button"
        aria-pressed={selected}
        style={{
          width: NODE_WIDTH,
          height: NODE_HEIGHT,
          boxSizing: "border-box",
          padding: "6px 10px",
          borderRadius: 6,
          background: notRun ? NOT_RUN_BACKGROUND : "#fff",
          borderStyle: notRun ? "dashed" : "solid",
          borderColor: color,
          borderWidth: "2px 2px 2px 6px",
          boxShadow: selected ? `0 0 0 3px ${color}55` : undefined,
          cursor: "pointer",
          fontSize: 12,
          lineHeight: "16px",
        }}
      >
        {children}
        <div style={{ display: "flex", alignItems: "baseline", gap: 6 }}>
          <div style={{ fontWeight: 600, overflow: "hidden", textOverflow: "ellipsis", whiteSpace: "nowrap", flex: "1 1 auto" }}>{rule}</div>
          {notRun && (
            <span data-testid="dag-node-not-run" style={{ flex: "none", color: "#8c8c8c", fontSize: 11, fontStyle: "italic" }}>
              {notRunLabel(summary)}
            </span>
          )}
        </div>
        <div style={{ color: "#595959", fontVariantNumeric: "tabular-nums" }} data-testid="dag-node-counts">
          {p.done} / {p.running} / {p.failed} / {p.total}
        </div>
        <div style={{ display: "flex", height: 5, marginTop: 4, background: "#f0f0f0", borderRadius: 3, overflow: "hidden" }}>
          <div style={{ width: pct(p.done), background: STATUS_COLORS.succeeded }} />
          <div style={{ width: pct(p.running), background: STATUS_COLORS.running }} />
          <div style={{ width: pct(p.failed), background: STATUS_COLORS.failed }} />
        </div>
      </div>
    </Tooltip>
  );
});

type RuleNode = Node<{ rule: string }, "rule">;

function RuleNodeView({ data }: NodeProps<RuleNode>) {
  const { summaries, selected, runOver } = useContext(DagContext);
  return (
    <RuleCard rule={data.rule} summary={summaries.get(data.rule)} selected={selected === data.rule} runOver={runOver}>
      <Handle type="target" position={Position.Top} style={{ visibility: "hidden" }} />
      <Handle type="source" position={Position.Bottom} style={{ visibility: "hidden" }} />
    </RuleCard>
  );
}

const nodeTypes = { rule: RuleNodeView };

type RoutedEdge = Edge<{ path: string }, "routed">;

/** An edge along the path laid out with the graph (around the nodes, not straight through them). */
function RoutedEdgeView({ id, data, markerEnd, style }: EdgeProps<RoutedEdge>) {
  return <BaseEdge id={id} path={data?.path ?? ""} markerEnd={markerEnd} style={style} />;
}

const edgeTypes = { routed: RoutedEdgeView };

/** Padding around the fitted graph; never zoomed in past 1. */
const FIT_VIEW = { padding: 0.1, maxZoom: 1 };

// Memoized: opening a job or changing tabs re-renders the run page, never the graph.
export const RuleDag = memo(function RuleDag({
  graph,
  summaries,
  selected,
  runOver,
  onSelect,
}: {
  graph: RuleGraph | null | undefined;
  summaries: RuleSummary[];
  selected: string | null;
  /** The run is no longer running: rules still planned are shown as not run. */
  runOver: boolean;
  onSelect: (rule: string | null) => void;
}) {
  // Depends on the graph only: job events never move a node.
  const layout = useMemo(() => cachedLayout(graph), [graph]);
  const nodes = useMemo<RuleNode[]>(
    () =>
      layout.nodes.map((n) => ({
        id: n.id,
        type: "rule",
        position: { x: n.x, y: n.y },
        width: NODE_WIDTH,
        height: NODE_HEIGHT,
        data: { rule: n.rule },
        draggable: false,
        connectable: false,
      })),
    [layout],
  );
  const edges = useMemo<RoutedEdge[]>(
    () =>
      layout.edges.map((e) => ({
        id: e.id,
        source: e.source,
        target: e.target,
        type: "routed",
        data: { path: e.path },
        markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16, color: "#8c8c8c" },
        style: { stroke: "#8c8c8c" },
      })),
    [layout],
  );
  const bySummary = useMemo(() => new Map(summaries.map((s) => [s.rule, s])), [summaries]);
  const info = useMemo(() => ({ summaries: bySummary, selected, runOver }), [bySummary, selected, runOver]);
  const onNodeClick = useCallback(
    (_: unknown, n: RuleNode) => onSelect(selected === n.data.rule ? null : n.data.rule),
    [onSelect, selected],
  );

  if (layout.nodes.length === 0) {
    // No rule graph (a parse failure, an old producer): the rules as a list.
    if (summaries.length === 0) return <Empty description="No rules recorded" image={Empty.PRESENTED_IMAGE_SIMPLE} />;
    return (
      <div data-testid="rule-list" style={{ display: "flex", flexWrap: "wrap", gap: 12 }}>
        {summaries.map((s) => (
          <RuleCard
            key={s.rule}
            rule={s.rule}
            summary={bySummary.get(s.rule)}
            selected={selected === s.rule}
            runOver={runOver}
            onClick={() => onSelect(selected === s.rule ? null : s.rule)}
          />
        ))}
      </div>
    );
  }
  const height = Math.max(220, Math.min(440, layout.height + 32));
  return (
    <DagContext.Provider value={info}>
      <div data-testid="dag" style={{ height, border: "1px solid #f0f0f0", borderRadius: 6 }}>
        <ReactFlow
          nodes={nodes}
          edges={edges}
          nodeTypes={nodeTypes}
          edgeTypes={edgeTypes}
          fitView
          fitViewOptions={FIT_VIEW}
          minZoom={0.05}
          maxZoom={2}
          nodesDraggable={false}
          nodesConnectable={false}
          elementsSelectable={false}
          onNodeClick={onNodeClick}
        />
      </div>
    </DagContext.Provider>
  );
});

// The run's Gantt chart: one bar per started job, coloured by status, running jobs reaching
// "now". ECharts is imported here alone (core + the custom series + three components + canvas),
// and this module is loaded only when the Timeline tab first opens.
import { useEffect, useMemo, useRef, useState } from "react";
import * as echarts from "echarts/core";
import { CustomChart } from "echarts/charts";
import { DataZoomComponent, GridComponent, TooltipComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";
import type { CustomSeriesRenderItem } from "echarts";
import { Alert, Empty, Skeleton, Space, Switch, Typography } from "antd";
import { useTimeline } from "../../api/queries";
import { errorMessage } from "../../api/client";
import type { JobStatus } from "../../api/types";
import { formatDuration, formatTime } from "../../lib/format";
import { JOB_STATUSES, STATUS_COLORS } from "../../lib/status";
import { ganttRows, type GanttRow } from "./timelineModel";

echarts.use([CustomChart, GridComponent, TooltipComponent, DataZoomComponent, CanvasRenderer]);

const HEIGHT = 560;
/** Rows shown at first; the vertical zoom scrolls through the rest. */
const WINDOW = 30;
/** How often bars of running jobs grow. */
const TICK_MS = 5000;

const escape = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);

const colorOf = (statusIndex: number) => STATUS_COLORS[JOB_STATUSES[statusIndex] as JobStatus] ?? "#999";

const renderItem: CustomSeriesRenderItem = (params, api) => {
  const row = api.value(2) as number;
  const start = api.coord([api.value(0), row]);
  const end = api.coord([api.value(1), row]);
  const h = Math.max(1, (api.size?.([0, 1]) as number[])[1] * 0.7);
  const sys = params.coordSys as unknown as { x: number; y: number; width: number; height: number };
  const shape = echarts.graphic.clipRectByRect(
    { x: start[0], y: start[1] - h / 2, width: Math.max(2, end[0] - start[0]), height: h },
    { x: sys.x, y: sys.y, width: sys.width, height: sys.height },
  );
  return shape ? { type: "rect", shape, style: { fill: colorOf(api.value(3) as number) } } : null;
};

export default function Timeline({
  runId,
  rule,
  live,
  endedAt,
  onOpenJob,
}: {
  runId: string;
  rule: string | null;
  /** The run is running: bars of running jobs grow. */
  live: boolean;
  /** When a run that no longer runs ended: unfinished bars stop there, not at "now". */
  endedAt: string | null | undefined;
  onOpenJob: (jobId: number) => void;
}) {
  const timeline = useTimeline(runId);
  const [groupByRule, setGroupByRule] = useState(false);
  const [now, setNow] = useState(() => Date.now());
  const end = live || !endedAt ? now : Date.parse(endedAt);
  const rows = useMemo(
    () => ganttRows(timeline.data ?? [], { rule, groupByRule, now: end }),
    [timeline.data, rule, groupByRule, end],
  );
  const anyOpen = useMemo(() => rows.some((r) => r.open && r.status === "running"), [rows]);
  useEffect(() => {
    if (!live || !anyOpen) return;
    const t = setInterval(() => setNow(Date.now()), TICK_MS);
    return () => clearInterval(t);
  }, [live, anyOpen]);

  const el = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.EChartsType | null>(null);
  const rowsRef = useRef<GanttRow[]>(rows);
  const openRef = useRef(onOpenJob);
  const liveRef = useRef(live);
  useEffect(() => {
    rowsRef.current = rows;
    openRef.current = onOpenJob;
    liveRef.current = live;
  });

  const hasRows = rows.length > 0;
  useEffect(() => {
    if (!el.current || !hasRows) return;
    const c = echarts.init(el.current, undefined, { renderer: "canvas" });
    chart.current = c;
    c.setOption({
      animation: false,
      grid: { left: 160, right: 40, top: 16, bottom: 64 },
      tooltip: {
        trigger: "item",
        formatter: (p: { dataIndex: number }) => {
          const r = rowsRef.current[p.dataIndex];
          if (!r) return "";
          return (
            `<b>${escape(r.rule)}</b> · job ${r.job_id}<br/>` +
            `status: ${escape(r.status)}<br/>` +
            `started: ${escape(formatTime(new Date(r.start).toISOString()))}<br/>` +
            `duration: ${escape(formatDuration((r.end - r.start) / 1000))}${r.open ? (liveRef.current ? " (so far)" : " (never finished)") : ""}`
          );
        },
      },
      xAxis: { type: "time", position: "top", splitLine: { show: true, lineStyle: { color: "#f0f0f0" } } },
      yAxis: { type: "category", inverse: true, axisTick: { show: false }, axisLabel: { fontSize: 11 }, data: [] },
      dataZoom: [
        { type: "slider", xAxisIndex: 0, filterMode: "weakFilter", height: 20, bottom: 16 },
        { type: "inside", xAxisIndex: 0, filterMode: "weakFilter", zoomOnMouseWheel: "ctrl", moveOnMouseWheel: false },
        { type: "slider", yAxisIndex: 0, filterMode: "filter", width: 16, right: 8, startValue: 0, endValue: WINDOW - 1, zoomLock: false },
        { type: "inside", yAxisIndex: 0, filterMode: "filter", zoomOnMouseWheel: false, moveOnMouseWheel: true },
      ],
      series: [
        {
          type: "custom",
          renderItem,
          encode: { x: [0, 1], y: 2 },
          progressive: 2000,
          progressiveThreshold: 3000,
          data: [],
        },
      ],
    });
    c.on("click", (p) => {
      const r = rowsRef.current[(p as { dataIndex: number }).dataIndex];
      if (r) openRef.current(r.job_id);
    });
    const ro = typeof ResizeObserver !== "undefined" ? new ResizeObserver(() => c.resize()) : null;
    ro?.observe(el.current);
    return () => {
      ro?.disconnect();
      c.dispose();
      chart.current = null;
    };
  }, [hasRows]);

  // New data (live events, the filter, the clock) replaces the series in place; zoom is kept.
  useEffect(() => {
    const c = chart.current;
    if (!c) return;
    const statusIndex = new Map(JOB_STATUSES.map((s, i) => [s, i]));
    c.setOption({
      yAxis: { data: rows.map((r) => `${r.rule} #${r.job_id}`) },
      series: [{ data: rows.map((r, i) => [r.start, r.end, i, statusIndex.get(r.status) ?? 0]) }],
    });
  }, [rows, hasRows]);

  if (timeline.isPending) return <Skeleton active />;
  if (timeline.isError) return <Alert type="error" showIcon title="Could not load the timeline" description={errorMessage(timeline.error)} />;
  return (
    <div data-testid="timeline">
      <Space style={{ marginBottom: 8 }}>
        <Typography.Text type="secondary" data-testid="timeline-count">
          {rows.length} started jobs
        </Typography.Text>
        <Switch size="small" checked={groupByRule} onChange={setGroupByRule} /> group by rule
      </Space>
      {hasRows ? (
        <div ref={el} data-testid="timeline-chart" style={{ height: HEIGHT, width: "100%" }} />
      ) : (
        <Empty description={rule ? `No started jobs for rule ${rule}` : "No started jobs"} image={Empty.PRESENTED_IMAGE_SIMPLE} />
      )}
    </div>
  );
}

// Statistics over runs: runs and jobs by status, per-rule durations and failure rates, and
// activity over time, for a workspace (or all the caller may read) and a time range.
import { useMemo, useState } from "react";
import { useSearchParams } from "react-router";
import { Alert, Card, Col, DatePicker, Empty, Row, Segmented, Select, Space, Statistic, Typography } from "antd";
import dayjs from "dayjs";
import { errorMessage } from "../../api/client";
import type { WorkspaceStats } from "../../api/types";
import { useStats, useWorkspaces } from "../../api/queries";
import { Chart } from "./Chart";
import { activity, barsHeight, durations, failures, rulesByDuration, rulesByFailure, statusDonut, totalOf } from "./options";
import { choiceFromParams, choiceToParams, PRESETS, resolveRange, type Preset, type RangeChoice } from "./range";

function ChartCard({ title, testId, empty, children }: { title: string; testId: string; empty: boolean; children: React.ReactNode }) {
  return (
    <Card title={title} size="small" data-testid={testId} style={{ height: "100%" }}>
      {empty ? <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description="No data in this range" /> : children}
    </Card>
  );
}

/** Runs per day over every day of the range, to today (`now`) for an open end, or from the first day with runs for "all". */
function ActivityChart({ days, from, to, now }: { days: WorkspaceStats["runs_per_day"]; from?: string; to?: string; now: number }) {
  const option = useMemo(() => activity(days, { from, to }, now), [days, from, to, now]);
  return <Chart option={option} height={240} />;
}

export default function DashboardPage() {
  const [params, setParams] = useSearchParams();
  const choice = choiceFromParams(params);
  const workspace = params.get("workspace") || undefined;
  // Presets count back from when they were chosen (or the page opened), not from each render.
  const [anchor, setAnchor] = useState(() => Date.now());
  const { from, to } = resolveRange(choice, anchor);
  const stats = useStats(workspace, from, to);
  const workspaces = useWorkspaces();

  const choose = (c: RangeChoice) => {
    setAnchor(Date.now());
    setParams((prev) => choiceToParams(c, prev));
  };
  const chooseWorkspace = (w?: string) =>
    setParams((prev) => {
      const p = new URLSearchParams(prev);
      if (w) p.set("workspace", w);
      else p.delete("workspace");
      return p;
    });

  const data = stats.data;
  const options = useMemo(() => {
    if (!data) return null;
    const byDuration = rulesByDuration(data.rules);
    const byFailure = rulesByFailure(data.rules);
    return {
      runs: statusDonut(data.runs_by_status, "runs"),
      jobs: statusDonut(data.jobs_by_status, "jobs"),
      durations: durations(byDuration),
      durationRows: byDuration.length,
      failures: failures(byFailure),
      failureRows: byFailure.length,
    };
  }, [data]);

  const runCount = totalOf(data?.runs_by_status);
  const jobCount = totalOf(data?.jobs_by_status);
  const customValue: [dayjs.Dayjs | null, dayjs.Dayjs | null] | null =
    choice.preset === "custom" ? [choice.from ? dayjs(choice.from) : null, choice.to ? dayjs(choice.to) : null] : null;

  return (
    <Space orientation="vertical" size="middle" style={{ width: "100%" }}>
      <Space wrap>
        <Select
          data-testid="dashboard-workspace"
          allowClear
          placeholder="All workspaces"
          style={{ minWidth: 180 }}
          loading={workspaces.isPending}
          value={workspace}
          options={(workspaces.data ?? []).map((w) => ({ value: w.name, label: w.name }))}
          onChange={(w?: string) => chooseWorkspace(w)}
        />
        <Segmented
          data-testid="dashboard-range"
          value={choice.preset === "custom" ? "custom" : choice.preset}
          options={[...PRESETS.map((p) => ({ value: p.key as string, label: p.label })), { value: "custom", label: "Custom" }]}
          onChange={(v) => {
            if (v !== "custom") choose({ preset: v as Preset });
          }}
        />
        <DatePicker.RangePicker
          showTime={{ format: "HH:mm" }}
          format="YYYY-MM-DD HH:mm"
          allowEmpty={[true, true]}
          value={customValue}
          onChange={(v) => {
            const f = v?.[0]?.toISOString();
            const t = v?.[1]?.toISOString();
            choose(f || t ? { preset: "custom", from: f, to: t } : { preset: "30d" });
          }}
        />
      </Space>

      {stats.isError && <Alert type="error" showIcon title={errorMessage(stats.error)} />}

      <Row gutter={[16, 16]}>
        <Col xs={12} md={6}>
          <Card size="small">
            <Statistic title="Runs" value={runCount} loading={stats.isPending} data-testid="stat-runs" />
          </Card>
        </Col>
        <Col xs={12} md={6}>
          <Card size="small">
            <Statistic
              title="Failed runs"
              value={data?.runs_by_status.failed ?? 0}
              loading={stats.isPending}
              styles={{ content: { color: data?.runs_by_status.failed ? "#ff4d4f" : undefined } }}
            />
          </Card>
        </Col>
        <Col xs={12} md={6}>
          <Card size="small">
            <Statistic title="Running now" value={data?.runs_by_status.running ?? 0} loading={stats.isPending} />
          </Card>
        </Col>
        <Col xs={12} md={6}>
          <Card size="small">
            <Statistic title="Jobs" value={jobCount} loading={stats.isPending} />
          </Card>
        </Col>

        {stats.isPending && (
          <Col span={24}>
            <Card loading />
          </Col>
        )}
        {options && (
          <>
            <Col xs={24} md={12}>
              <ChartCard title="Runs by status" testId="chart-runs-by-status" empty={runCount === 0}>
                <Chart option={options.runs} />
              </ChartCard>
            </Col>
            <Col xs={24} md={12}>
              <ChartCard title="Jobs by status" testId="chart-jobs-by-status" empty={jobCount === 0}>
                <Chart option={options.jobs} />
              </ChartCard>
            </Col>
            <Col span={24}>
              <ChartCard title="Runs per day (UTC)" testId="chart-activity" empty={(data?.runs_per_day.length ?? 0) === 0}>
                <ActivityChart days={data?.runs_per_day ?? []} from={from} to={to} now={anchor} />
              </ChartCard>
            </Col>
            <Col xs={24} lg={12}>
              <ChartCard title="Duration per rule (succeeded jobs)" testId="chart-rule-durations" empty={options.durationRows === 0}>
                <Chart option={options.durations} height={barsHeight(options.durationRows)} />
              </ChartCard>
            </Col>
            <Col xs={24} lg={12}>
              <ChartCard title="Failure rate per rule" testId="chart-rule-failures" empty={options.failureRows === 0}>
                <Chart option={options.failures} height={barsHeight(options.failureRows)} />
              </ChartCard>
            </Col>
          </>
        )}
      </Row>
      {data && data.rules.length > 25 && (
        <Typography.Text type="secondary">Per-rule charts show the 25 highest of {data.rules.length} rules.</Typography.Text>
      )}
    </Space>
  );
}

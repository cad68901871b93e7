// The run detail page (`/runs/:runId`): header, rule DAG and the Jobs | Timeline | Errors | Code
// tabs. The header and DAG render as soon as the run, graph and rule summaries arrive; the
// jobs stream in page by page behind them, and from then on the DAG's counts are derived from the
// jobs, which the live layer keeps current in place. Tab, rule and job live in the URL
// (`?tab=&rule=&job=`) so that every view can be shared.
import { useCallback, useLayoutEffect, useMemo, useRef } from "react";
import { useParams, useSearchParams } from "react-router";
import { Alert, Badge, Button, Card, Result, Skeleton, Tabs, Tag } from "antd";
import { Link } from "react-router";
import { ApiError, errorMessage } from "../../api/client";
import { useErrors, useGraph, useJobs, useRules, useRun } from "../../api/queries";
import type { RunView } from "../../api/types";
import { preloadable } from "../../lib/preloadable";
import { deriveRuleSummaries } from "../../lib/rules";
import { RunHeader } from "./RunHeader";
import { RuleDag } from "./RuleDag";
import { JobsTable } from "./JobsTable";
import { JobDrawer } from "./JobDrawer";
import { ErrorsPanel } from "./ErrorsPanel";
import { CodePanel } from "./CodePanel";

// ECharts (and the chart) load only when the Timeline tab first opens.
const Timeline = preloadable(() => import("./Timeline"), <Skeleton active />).Component;

export const TAB_KEYS = ["jobs", "timeline", "errors", "code"] as const;
export type TabKey = (typeof TAB_KEYS)[number];

export default function RunPage() {
  const { runId = "" } = useParams();
  const run = useRun(runId);
  // Started here, beside the run, rather than once the run has arrived: no request waterfall.
  // RunDetail's hooks then read the same queries.
  useGraph(runId);
  useRules(runId);
  useJobs(runId);
  useErrors(runId);
  if (run.isPending) {
    return (
      <Card>
        <Skeleton active paragraph={{ rows: 6 }} />
      </Card>
    );
  }
  if (run.isError) {
    if (run.error instanceof ApiError && run.error.status === 404) {
      return (
        <Result
          status="404"
          title="Run not found"
          subTitle="It may have been deleted, or it belongs to a workspace you are not a member of."
          extra={
            <Link to="/runs">
              <Button type="primary">All runs</Button>
            </Link>
          }
        />
      );
    }
    return <Result status="error" title="Could not load the run" subTitle={errorMessage(run.error)} />;
  }
  return <RunDetail run={run.data} />;
}

function RunDetail({ run }: { run: RunView }) {
  const runId = run.id;
  const [params, setParams] = useSearchParams();
  const tabParam = params.get("tab");
  const tab: TabKey = (TAB_KEYS as readonly string[]).includes(tabParam ?? "") ? (tabParam as TabKey) : "jobs";
  const rule = params.get("rule") || null;
  const jobParam = params.get("job");
  const jobId = jobParam !== null && /^\d+$/.test(jobParam) ? Number(jobParam) : undefined;

  // The router's setter changes with every change of the URL; the callbacks below do not, so
  // that opening a job or choosing a rule re-renders neither the jobs table nor the graph.
  const setParamsRef = useRef(setParams);
  useLayoutEffect(() => {
    setParamsRef.current = setParams;
  }, [setParams]);
  const setParam = useCallback(
    (changes: Record<string, string | null>) =>
      setParamsRef.current(
        (prev) => {
          const next = new URLSearchParams(prev);
          for (const [k, v] of Object.entries(changes)) {
            if (v === null || v === "") next.delete(k);
            else next.set(k, v);
          }
          return next;
        },
        { replace: true },
      ),
    [],
  );
  const selectRule = useCallback((r: string | null) => setParam({ rule: r }), [setParam]);
  const openJob = useCallback((id: number) => setParam({ job: String(id) }), [setParam]);
  const closeJob = useCallback(() => setParam({ job: null }), [setParam]);

  const graph = useGraph(runId);
  const rules = useRules(runId);
  const jobs = useJobs(runId);
  const errors = useErrors(runId);

  // While the jobs are still loading page by page, counts from a partial list would be wrong:
  // the server's summaries stand in until the whole list is there.
  const jobsComplete = jobs.data !== undefined && jobs.fetchStatus !== "fetching";
  const planned = run.detail.planned;
  const summaries = useMemo(
    () => (jobsComplete && jobs.data ? deriveRuleSummaries(jobs.data, planned, rules.data) : (rules.data ?? [])),
    [jobsComplete, jobs.data, planned, rules.data],
  );
  const ruleNames = useMemo(() => {
    const names = summaries.map((s) => s.rule);
    for (const n of graph.data?.nodes ?? run.detail.rulegraph?.nodes ?? []) if (!names.includes(n.rule)) names.push(n.rule);
    return names;
  }, [summaries, graph.data, run.detail.rulegraph]);
  const rulegraph = graph.data ?? run.detail.rulegraph;
  const fallbackJob = useMemo(() => (jobId === undefined ? undefined : jobs.data?.find((j) => j.job_id === jobId)), [jobs.data, jobId]);

  const errorCount = errors.data?.length ?? run.error_count;
  const tabs = [
    {
      key: "jobs",
      label: <span data-testid="tab-jobs">Jobs</span>,
      children: (
        <JobsTable
          jobs={jobs.data}
          loading={jobs.fetchStatus === "fetching"}
          error={jobs.error}
          rules={ruleNames}
          rule={rule}
          onRule={selectRule}
          onOpenJob={openJob}
        />
      ),
    },
    {
      key: "timeline",
      label: <span data-testid="tab-timeline">Timeline</span>,
      children: (
        <Timeline
          runId={runId}
          rule={rule}
          live={run.status === "running"}
          endedAt={run.finished_at ?? run.last_event_at}
          onOpenJob={openJob}
        />
      ),
    },
    {
      key: "errors",
      label: (
        <span data-testid="tab-errors">
          Errors{" "}
          <Badge
            count={errorCount}
            showZero
            color={errorCount > 0 ? "#ff4d4f" : "#d9d9d9"}
            size="small"
            data-testid="errors-count"
          />
        </span>
      ),
      children: <ErrorsPanel errors={errors.data} isPending={errors.isPending} error={errors.error} rule={rule} onOpenJob={openJob} />,
    },
    {
      key: "code",
      label: <span data-testid="tab-code">Code</span>,
      children: <CodePanel runId={runId} rules={ruleNames} rule={rule} />,
    },
  ];

  return (
    <div data-testid="run-page">
      <RunHeader run={run} />
      <Card
        size="small"
        title="Rules"
        style={{ marginBottom: 16 }}
        extra={<span style={{ color: "#8c8c8c", fontSize: 12 }}>done / running / failed / total · click a rule to filter</span>}
      >
        {graph.isError && (
          <Alert type="warning" showIcon style={{ marginBottom: 8 }} title={`Could not load the rule graph: ${errorMessage(graph.error)}`} />
        )}
        {rules.isError && (
          <Alert type="warning" showIcon style={{ marginBottom: 8 }} title={`Could not load the rule summaries: ${errorMessage(rules.error)}`} />
        )}
        {graph.isPending && !run.detail.rulegraph ? (
          <Skeleton active />
        ) : (
          <RuleDag graph={rulegraph} summaries={summaries} selected={rule} runOver={run.status !== "running"} onSelect={selectRule} />
        )}
      </Card>
      <Card size="small">
        {rule && (
          <Tag
            closable
            color="blue"
            onClose={(e) => {
              e.preventDefault();
              selectRule(null);
            }}
            data-testid="rule-filter"
            style={{ marginBottom: 8 }}
          >
            rule: {rule}
          </Tag>
        )}
        <Tabs activeKey={tab} onChange={(k) => setParam({ tab: k === "jobs" ? null : k })} items={tabs} />
      </Card>
      <JobDrawer runId={runId} jobId={jobId} fallback={fallbackJob} onClose={closeJob} />
    </div>
  );
}

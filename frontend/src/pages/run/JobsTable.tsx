// Every job of the run in a virtual table (smooth at 10,000+ rows): filters by rule (shared with
// the DAG's selection) and status, sorting by id, start and duration, done here on memoized data.
import { memo, useMemo, useState } from "react";
import { Alert, Space, Spin, Table, Typography } from "antd";
import type { TableColumnsType, TableProps } from "antd";
import type { JobBrief, JobStatus } from "../../api/types";
import { errorMessage } from "../../api/client";
import { StatusTag } from "../../components/StatusTag";
import { formatDuration, formatTime } from "../../lib/format";
import { JOB_STATUSES } from "../../lib/status";
import { filterJobs, formatWildcards, jobDuration, sortJobs, type JobSort, type JobSortKey } from "./jobsModel";

const TABLE_HEIGHT = 520;

export const JobsTable = memo(function JobsTable({
  jobs,
  loading,
  error,
  rules,
  rule,
  onRule,
  onOpenJob,
}: {
  jobs: JobBrief[] | undefined;
  /** More pages are on their way. */
  loading: boolean;
  error: unknown;
  /** Every rule name, for the rule filter. */
  rules: string[];
  rule: string | null;
  onRule: (rule: string | null) => void;
  onOpenJob: (jobId: number) => void;
}) {
  const [statuses, setStatuses] = useState<JobStatus[]>([]);
  const [sort, setSort] = useState<JobSort | null>(null);

  const filtered = useMemo(() => filterJobs(jobs ?? [], { rule, statuses }), [jobs, rule, statuses]);
  // Sorting by duration reads the clock once per change of the data, not per row render.
  const rows = useMemo(() => sortJobs(filtered, sort), [filtered, sort]);

  const columns = useMemo<TableColumnsType<JobBrief>>(() => {
    const order = (key: JobSortKey) => (sort?.key === key ? sort.order : null);
    return [
      { title: "Job", dataIndex: "job_id", key: "job_id", width: 80, sorter: true, sortOrder: order("job_id") },
      {
        title: "Rule",
        dataIndex: "rule",
        key: "rule",
        width: 180,
        ellipsis: true,
        filters: rules.map((r) => ({ text: r, value: r })),
        filterMultiple: false,
        filteredValue: rule ? [rule] : null,
        filterSearch: rules.length > 10,
      },
      {
        title: "Status",
        dataIndex: "status",
        key: "status",
        width: 120,
        filters: JOB_STATUSES.map((s) => ({ text: s, value: s })),
        filteredValue: statuses.length ? statuses : null,
        render: (s: JobStatus) => <StatusTag status={s} />,
      },
      {
        title: "Wildcards",
        key: "wildcards",
        width: 260,
        ellipsis: true,
        render: (_, j) => formatWildcards(j.detail?.wildcards),
      },
      {
        title: "Started",
        dataIndex: "started_at",
        key: "started_at",
        width: 180,
        sorter: true,
        sortOrder: order("started_at"),
        render: (t: string | null | undefined) => formatTime(t),
      },
      {
        title: "Duration",
        key: "duration",
        width: 110,
        sorter: true,
        sortOrder: order("duration"),
        render: (_, j) => formatDuration(jobDuration(j)),
      },
      { title: "Attempts", dataIndex: "attempts", key: "attempts", width: 90 },
      { title: "Threads", key: "threads", width: 90, render: (_, j) => j.detail?.threads ?? "–" },
    ];
  }, [rules, rule, statuses, sort]);

  const onChange: TableProps<JobBrief>["onChange"] = (_p, filters, sorter) => {
    const r = (filters.rule?.[0] as string | undefined) ?? null;
    if (r !== rule) onRule(r);
    setStatuses(((filters.status as JobStatus[] | null) ?? []).slice());
    const s = Array.isArray(sorter) ? sorter[0] : sorter;
    setSort(s?.order && s.columnKey ? { key: s.columnKey as JobSortKey, order: s.order } : null);
  };

  const onRow = (j: JobBrief) =>
    ({
      "data-testid": "job-row",
      "data-job-id": j.job_id,
      "data-status": j.status,
      onClick: () => onOpenJob(j.job_id),
      style: { cursor: "pointer" },
    }) as React.HTMLAttributes<HTMLElement>;

  if (error && !jobs) return <Alert type="error" showIcon title="Could not load the jobs" description={errorMessage(error)} />;
  return (
    <div data-testid="jobs-table">
      <Space style={{ marginBottom: 8 }}>
        <Typography.Text type="secondary" data-testid="jobs-count">
          {rows.length === (jobs?.length ?? 0) ? `${rows.length} jobs` : `${rows.length} of ${jobs?.length ?? 0} jobs`}
        </Typography.Text>
        {loading && (
          <Typography.Text type="secondary">
            <Spin size="small" /> loading jobs…
          </Typography.Text>
        )}
      </Space>
      <Table<JobBrief>
        virtual
        size="small"
        rowKey="job_id"
        columns={columns}
        dataSource={rows}
        pagination={false}
        scroll={{ x: 1110, y: TABLE_HEIGHT }}
        loading={!jobs && loading}
        onChange={onChange}
        onRow={onRow}
        showSorterTooltip={false}
      />
    </div>
  );
});

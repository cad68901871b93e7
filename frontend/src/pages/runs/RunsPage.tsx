// The runs list: search, filters, sort and size in the URL; pages from the server by cursor
// (never all runs at once); rows kept current by the live layer, which replaces them in every
// cached `["runs", filters]` query.
import { useMemo, useState, type HTMLAttributes } from "react";
import { Link, useSearchParams } from "react-router";
import { App, Button, DatePicker, Popconfirm, Progress, Select, Space, Table, Tag, Tooltip, Typography } from "antd";
import type { ColumnsType } from "antd/es/table";
import { DeleteOutlined, SortAscendingOutlined, SortDescendingOutlined } from "@ant-design/icons";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import dayjs from "dayjs";
import { api, errorMessage, unwrap } from "../../api/client";
import { keys, useMe, useRuns, useWorkspaces } from "../../api/queries";
import type { Me, Run } from "../../api/types";
import { StatusTag } from "../../components/StatusTag";
import { durationBetween, formatDuration, formatTime, percent } from "../../lib/format";
import { RUN_STATUSES } from "../../lib/status";
import { useNow } from "../../lib/ticker";
import { DebouncedInput } from "./DebouncedInput";
import {
  currentCursor,
  DEFAULT_PAGE_SIZE,
  filtersFromParams,
  filtersKey,
  filtersToParams,
  nextPage,
  PAGE_SIZES,
  pageCount,
  pageNumber,
  pageRequest,
  parseStatuses,
  previousPage,
  stackFor,
  type CursorStack,
  type ListFilters,
  type Sort,
} from "./filters";

const SORT_LABELS: Record<Sort, string> = {
  started_at: "Started",
  last_event_at: "Last event",
  name: "Name",
};

/** Whether the caller may delete runs of a workspace (the server's `can_modify`). */
export function canDeleteRun(me: Me | undefined, run: Run): boolean {
  if (!me) return false;
  if (me.user.role === "admin") return true;
  return me.user.role === "member" && me.workspaces.some((w) => w.id === run.workspace_id);
}

/** A run's duration; ticks with the shared clock only while the run is running. */
export function RunDuration({ run }: { run: Run }) {
  const running = run.status === "running" && !run.finished_at;
  const now = useNow(running);
  const end = run.finished_at ?? (running ? null : run.last_event_at);
  return <span data-testid="run-duration">{formatDuration(durationBetween(run.started_at, end, now))}</span>;
}

function RunProgress({ run }: { run: Run }) {
  const failed = run.status === "failed" || run.jobs.failed > 0;
  return (
    <Tooltip title={`${run.done} of ${run.total} jobs done${run.jobs.failed ? `, ${run.jobs.failed} failed` : ""}`}>
      <Progress
        data-testid="run-progress"
        size="small"
        style={{ minWidth: 120, margin: 0 }}
        percent={percent(run.done, run.total)}
        status={failed ? "exception" : run.status === "running" ? "active" : "normal"}
        format={() => `${run.done}/${run.total}`}
      />
    </Tooltip>
  );
}

export default function RunsPage() {
  const [params, setParams] = useSearchParams();
  const filters = useMemo(() => filtersFromParams(params), [params]);
  const key = filtersKey(filters);
  const [stackState, setStack] = useState<CursorStack>({ key, cursors: [] });
  const stack = stackFor(stackState, key);
  const limit = filters.limit ?? DEFAULT_PAGE_SIZE;

  const runs = useRuns(pageRequest(filters, currentCursor(stack)));
  const me = useMe();
  const workspaces = useWorkspaces();
  const wsName = useMemo(() => new Map((workspaces.data ?? []).map((w) => [w.id, w.name])), [workspaces.data]);
  const client = useQueryClient();
  const { message } = App.useApp();

  const remove = useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE("/api/v1/runs/{run_id}", { params: { path: { run_id: id } } })),
    onSuccess: (_data, id) => {
      message.success("Run deleted");
      client.removeQueries({ queryKey: keys.run(id) });
      void client.invalidateQueries({ queryKey: keys.runsAll });
      void client.invalidateQueries({ queryKey: ["stats"] });
    },
    onError: (err) => message.error(errorMessage(err)),
  });

  /** Changes filters (back to the first page, as the key changes). */
  const update = (patch: Partial<ListFilters>, replace = false) =>
    setParams((prev) => filtersToParams({ ...filtersFromParams(prev), ...patch }), { replace });

  const columns: ColumnsType<Run> = [
    {
      title: "Name",
      key: "name",
      render: (_, r) => (
        <Space orientation="vertical" size={0}>
          <Link to={`/runs/${r.id}`} data-testid="run-link">
            {r.name || r.id.slice(0, 8)}
          </Link>
          {r.dry_run && <Typography.Text type="secondary">dry run</Typography.Text>}
        </Space>
      ),
    },
    { title: "Status", key: "status", render: (_, r) => <StatusTag status={r.status} /> },
    { title: "Progress", key: "progress", width: 170, render: (_, r) => <RunProgress run={r} /> },
    {
      title: "Started",
      key: "started",
      render: (_, r) => <span style={{ whiteSpace: "nowrap" }}>{formatTime(r.started_at)}</span>,
    },
    { title: "Duration", key: "duration", render: (_, r) => <RunDuration run={r} /> },
    { title: "Host", key: "host", render: (_, r) => r.host ?? "–" },
    { title: "Workspace", key: "workspace", render: (_, r) => wsName.get(r.workspace_id) ?? "–" },
    {
      title: "Tags",
      key: "tags",
      render: (_, r) =>
        r.tags.map((t) => (
          <Tag key={t} style={{ cursor: "pointer" }} onClick={() => update({ tag: t })}>
            {t}
          </Tag>
        )),
    },
    {
      title: "Errors",
      key: "errors",
      align: "right",
      render: (_, r) =>
        r.error_count > 0 ? <Typography.Text type="danger">{r.error_count}</Typography.Text> : <Typography.Text type="secondary">0</Typography.Text>,
    },
    {
      title: "",
      key: "actions",
      width: 48,
      render: (_, r) =>
        canDeleteRun(me.data, r) && (
          <Popconfirm
            title="Delete this run?"
            description="Its jobs, events and errors are deleted too."
            okText="Delete"
            okButtonProps={{ danger: true, loading: remove.isPending }}
            onConfirm={() => remove.mutateAsync(r.id).catch(() => undefined)}
          >
            <Button type="text" danger size="small" icon={<DeleteOutlined />} aria-label="Delete run" data-testid="run-delete" />
          </Popconfirm>
        ),
    },
  ];

  const page = runs.data;
  const pages = pageCount(page?.total, limit);
  const filtered = Object.keys(filters).some((k) => !["sort", "order", "limit"].includes(k));
  const range: [dayjs.Dayjs | null, dayjs.Dayjs | null] | null =
    filters.from || filters.to ? [filters.from ? dayjs(filters.from) : null, filters.to ? dayjs(filters.to) : null] : null;

  return (
    <Space orientation="vertical" size="middle" style={{ width: "100%" }}>
      <Space wrap>
        <DebouncedInput
          data-testid="runs-search"
          placeholder="Search name, tags, directory, description"
          allowClear
          style={{ width: 300 }}
          value={filters.q}
          onCommit={(q) => update({ q: q.trim() || undefined }, true)}
        />
        <Select
          data-testid="runs-status"
          mode="multiple"
          allowClear
          placeholder="Status"
          style={{ minWidth: 160 }}
          value={parseStatuses(filters.status)}
          options={RUN_STATUSES.map((s) => ({ value: s, label: s }))}
          onChange={(v: string[]) => update({ status: v.length ? v.join(",") : undefined })}
        />
        <DebouncedInput
          data-testid="runs-tag"
          placeholder="Tag"
          allowClear
          style={{ width: 140 }}
          value={filters.tag}
          onCommit={(tag) => update({ tag: tag.trim() || undefined }, true)}
        />
        <Select
          data-testid="runs-workspace"
          allowClear
          placeholder="Workspace"
          style={{ minWidth: 150 }}
          loading={workspaces.isPending}
          value={filters.workspace}
          options={(workspaces.data ?? []).map((w) => ({ value: w.name, label: w.name }))}
          onChange={(w?: string) => update({ workspace: w })}
        />
        <DatePicker.RangePicker
          showTime={{ format: "HH:mm" }}
          format="YYYY-MM-DD HH:mm"
          allowEmpty={[true, true]}
          value={range}
          onChange={(v) => update({ from: v?.[0]?.toISOString(), to: v?.[1]?.toISOString() })}
        />
        <Space.Compact>
          <Select
            data-testid="runs-sort"
            style={{ width: 130 }}
            value={filters.sort ?? "started_at"}
            options={Object.entries(SORT_LABELS).map(([value, label]) => ({ value, label }))}
            onChange={(sort: Sort) => update({ sort })}
          />
          <Tooltip title={filters.order === "asc" ? "Ascending" : "Descending"}>
            <Button
              data-testid="runs-order"
              aria-label="Sort order"
              icon={filters.order === "asc" ? <SortAscendingOutlined /> : <SortDescendingOutlined />}
              onClick={() => update({ order: filters.order === "asc" ? "desc" : "asc" })}
            />
          </Tooltip>
        </Space.Compact>
        {filtered && (
          <Button type="link" onClick={() => setParams(filtersToParams({ sort: filters.sort, order: filters.order, limit: filters.limit }))}>
            Clear filters
          </Button>
        )}
      </Space>

      {runs.isError && (
        <Typography.Text type="danger" data-testid="runs-error">
          {errorMessage(runs.error)}
        </Typography.Text>
      )}

      <Table<Run>
        data-testid="runs-table"
        rowKey="id"
        size="small"
        columns={columns}
        dataSource={page?.items ?? []}
        loading={runs.isPending || (runs.isPlaceholderData && runs.isFetching)}
        pagination={false}
        scroll={{ x: "max-content" }}
        locale={{
          emptyText: filtered
            ? "No runs match these filters."
            : "No runs yet. Run Snakemake with --logger flowo to record one.",
        }}
        onRow={(r) =>
          ({ "data-testid": "run-row", "data-run-id": r.id, "data-status": r.status }) as HTMLAttributes<HTMLElement>
        }
      />

      <Space wrap style={{ width: "100%", justifyContent: "space-between" }}>
        <Typography.Text type="secondary" data-testid="runs-total">
          {page?.total !== undefined && page?.total !== null ? `${page.total.toLocaleString()} runs` : ""}
        </Typography.Text>
        <Space>
          <Button data-testid="runs-prev" disabled={stack.cursors.length === 0} onClick={() => setStack(previousPage(stack))}>
            Previous
          </Button>
          <Typography.Text data-testid="runs-page">
            Page {pageNumber(stack)}
            {pages ? ` of ${pages.toLocaleString()}` : ""}
          </Typography.Text>
          <Button
            data-testid="runs-next"
            disabled={!page?.next_cursor || runs.isPlaceholderData}
            onClick={() => page?.next_cursor && setStack(nextPage(stack, page.next_cursor))}
          >
            Next
          </Button>
          <Select
            data-testid="runs-page-size"
            style={{ width: 110 }}
            value={limit}
            options={PAGE_SIZES.map((n) => ({ value: n, label: `${n} / page` }))}
            onChange={(n: number) => update({ limit: n })}
          />
        </Space>
      </Space>
    </Space>
  );
}

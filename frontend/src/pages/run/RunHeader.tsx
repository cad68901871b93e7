// The run's header: what ran, where, how far it got and for how long (ticking while it runs),
// and deletion for users who may write.
import { memo, useEffect, useState } from "react";
import { useNavigate } from "react-router";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { App, Button, Descriptions, Progress, Space, Tag, Tooltip, Typography } from "antd";
import type { DescriptionsProps } from "antd";
import { DeleteOutlined } from "@ant-design/icons";
import { api, errorMessage, unwrap } from "../../api/client";
import { keys, useMe } from "../../api/queries";
import type { RunView } from "../../api/types";
import { StatusTag } from "../../components/StatusTag";
import { durationBetween, formatDuration, formatTime, percent } from "../../lib/format";

const NO_WRAP = { whiteSpace: "nowrap" } as const;

/** Items that take half a row on wide screens and a whole one on narrow ones. */
const WIDE = { xs: 1, sm: 1, md: 2, lg: 2, xl: 2, xxl: 2 };

/** The run's duration, re-rendering itself (only itself) every second while the run runs. */
function Duration({ run }: { run: RunView }) {
  const running = run.status === "running";
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [running]);
  const end = running ? null : (run.finished_at ?? run.last_event_at);
  return <span data-testid="run-duration">{formatDuration(durationBetween(run.started_at, end, now))}</span>;
}

function DeleteRun({ run }: { run: RunView }) {
  const { modal, message } = App.useApp();
  const client = useQueryClient();
  const navigate = useNavigate();
  const del = useMutation({
    mutationFn: () => unwrap(api.DELETE("/api/v1/runs/{run_id}", { params: { path: { run_id: run.id } } })),
    onSuccess: () => {
      client.removeQueries({ queryKey: keys.run(run.id) });
      void client.invalidateQueries({ queryKey: keys.runsAll });
      message.success(`Deleted run ${run.name ?? run.id}`);
      navigate("/runs");
    },
    onError: (err) => message.error(`Could not delete the run: ${errorMessage(err)}`),
  });
  return (
    <Button
      danger
      icon={<DeleteOutlined />}
      loading={del.isPending}
      data-testid="delete-run"
      onClick={() =>
        modal.confirm({
          title: `Delete run ${run.name ?? run.id}?`,
          content: "Everything recorded about this run (jobs, events, errors, sources) is deleted for good.",
          okText: "Delete",
          okButtonProps: { danger: true },
          onOk: () => del.mutateAsync().catch(() => undefined),
        })
      }
    >
      Delete
    </Button>
  );
}

export const RunHeader = memo(function RunHeader({ run }: { run: RunView }) {
  const me = useMe();
  const canWrite = me.data ? me.data.user.role !== "viewer" : false;
  const failed = run.jobs.failed;
  const items: DescriptionsProps["items"] = [
    // Short values stay on one line when long ones (workdir, command) widen their columns.
    { key: "started", label: "Started", children: <span style={NO_WRAP}>{formatTime(run.started_at)}</span> },
    { key: "duration", label: "Duration", children: <span style={NO_WRAP}><Duration run={run} /></span> },
    { key: "host", label: "Host", children: run.host ? `${run.user ? run.user + "@" : ""}${run.host}` : "–" },
    { key: "snakemake", label: "Snakemake", children: run.snakemake_version ?? "–" },
    {
      key: "workdir",
      label: "Workdir",
      span: WIDE,
      children: run.workdir ? (
        <Typography.Text code copyable>
          {run.workdir}
        </Typography.Text>
      ) : (
        "–"
      ),
    },
    {
      key: "command",
      label: "Command",
      span: WIDE,
      children: run.command_line ? (
        <Typography.Text code copyable={{ text: run.command_line }} data-testid="run-command" style={{ wordBreak: "break-all" }}>
          {run.command_line}
        </Typography.Text>
      ) : (
        "–"
      ),
    },
  ];
  if (run.tags.length > 0 || run.dry_run) {
    items.push({
      key: "tags",
      label: "Tags",
      span: WIDE,
      children: (
        <Space size={4} wrap>
          {run.dry_run && <Tag color="purple">dry run</Tag>}
          {run.tags.map((t) => (
            <Tag key={t}>{t}</Tag>
          ))}
        </Space>
      ),
    });
  }
  if (run.description) items.push({ key: "description", label: "Description", span: WIDE, children: run.description });
  return (
    <div data-testid="run-header" data-status={run.status} style={{ background: "#fff", padding: 16, borderRadius: 8, marginBottom: 16 }}>
      <div style={{ display: "flex", alignItems: "center", gap: 12, flexWrap: "wrap", marginBottom: 12 }}>
        <Typography.Title level={3} style={{ margin: 0 }} data-testid="run-name">
          {run.name ?? run.id}
        </Typography.Title>
        <StatusTag status={run.status} />
        {run.detail.exit_code != null && <Tag>exit {run.detail.exit_code}</Tag>}
        <div style={{ flex: 1, minWidth: 220, maxWidth: 480 }}>
          <Tooltip title={`${run.done} of ${run.total} jobs done${failed ? `, ${failed} failed` : ""}`}>
            <Progress
              data-testid="run-progress"
              percent={percent(run.done, run.total)}
              status={run.status === "failed" ? "exception" : run.status === "running" ? "active" : undefined}
              format={() => `${run.done} / ${run.total}`}
            />
          </Tooltip>
        </div>
        <div style={{ marginLeft: "auto" }}>{canWrite && <DeleteRun run={run} />}</div>
      </div>
      <Descriptions size="small" column={{ xs: 1, md: 2, xl: 4 }} items={items} />
    </div>
  );
});

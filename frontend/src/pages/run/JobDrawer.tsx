// One job in full: files, command, resources, why it ran, its failure and the tails of its log
// files as the producer shipped them. Every text from the run is shown as text, never as HTML.
import { Alert, Descriptions, type DescriptionsProps, Drawer, Empty, Skeleton, Space, Tag, Typography } from "antd";
import { useJob } from "../../api/queries";
import { errorMessage } from "../../api/client";
import type { Job, JobBrief, JobDetail } from "../../api/types";
import { StatusTag } from "../../components/StatusTag";
import { formatDuration, formatTime } from "../../lib/format";
import { jobDuration } from "./jobsModel";
import { preStyle } from "./CodeBlock";
import { messageWithoutException } from "./errorText";

/** A shipped log file (`job_logs` event data: `{ job_id, files: [CapturedText] }`). */
export interface LogTail {
  path: string;
  text: string;
  truncated: boolean;
  size: number;
}

/** Log tails of a job's `logs`, the newest of each path (the list is oldest first). */
export function logTails(logs: unknown[] | undefined): LogTail[] {
  const byPath = new Map<string, LogTail>();
  for (const entry of logs ?? []) {
    const files = (entry as { files?: unknown } | null)?.files;
    if (!Array.isArray(files)) continue;
    for (const f of files as Partial<LogTail>[]) {
      if (!f || typeof f.text !== "string") continue;
      const path = typeof f.path === "string" ? f.path : "";
      byPath.delete(path);
      byPath.set(path, { path, text: f.text, truncated: !!f.truncated, size: typeof f.size === "number" ? f.size : 0 });
    }
  }
  return [...byPath.values()];
}

const show = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v));

function FileList({ files }: { files: string[] | undefined }) {
  if (!files || files.length === 0) return <Typography.Text type="secondary">none</Typography.Text>;
  return (
    <div>
      {files.map((f, i) => (
        <div key={i}>
          <Typography.Text code copyable>
            {f}
          </Typography.Text>
        </div>
      ))}
    </div>
  );
}

function Section({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <div style={{ marginTop: 16 }}>
      <Typography.Title level={5} style={{ marginBottom: 8 }}>
        {title}
      </Typography.Title>
      {children}
    </div>
  );
}

/**
 * The facts table: what a brief has, and with the full detail (`d`) also where it ran, its
 * message, why it ran and its environment.
 */
function jobFacts(job: JobBrief, d: JobDetail | undefined): DescriptionsProps["items"] {
  const failure = d?.failure;
  const wildcards = Object.entries(job.detail?.wildcards ?? {});
  return [
    { key: "status", label: "Status", children: <StatusTag status={job.status} /> },
    {
      key: "rule",
      label: "Rule",
      children: (
        <>
          {job.rule}
          {d?.is_checkpoint && <Tag style={{ marginLeft: 8 }}>checkpoint</Tag>}
        </>
      ),
    },
    { key: "started", label: "Started", children: formatTime(job.started_at) },
    { key: "finished", label: "Finished", children: formatTime(job.finished_at) },
    { key: "duration", label: "Duration", children: formatDuration(jobDuration(job)) },
    { key: "attempts", label: "Attempts", children: job.attempts },
    { key: "threads", label: "Threads", children: job.detail?.threads ?? "–" },
    ...(d ? [{ key: "local", label: "Local", children: d.local == null ? "–" : d.local ? "yes" : "no" }] : []),
    ...(d?.message ? [{ key: "message", label: "Message", span: 2, children: d.message }] : []),
    {
      key: "wildcards",
      label: "Wildcards",
      span: 2,
      children: wildcards.length ? wildcards.map(([k, v]) => <Tag key={k}>{`${k}=${v}`}</Tag>) : "–",
    },
    ...(d ? [{ key: "reason", label: "Reason", span: 2, children: d.reason ?? "–" }] : []),
    ...(failure?.conda_env ? [{ key: "conda", label: "Conda env", span: 2, children: failure.conda_env }] : []),
    ...(failure?.container_img ? [{ key: "container", label: "Container", span: 2, children: failure.container_img }] : []),
  ];
}

function JobBody({ job, logs }: { job: Job; logs: unknown[] | undefined }) {
  const d = job.detail;
  const failure = d?.failure;
  // The exception's name is the alert's title: not repeated at the start of the message.
  const failureText = messageWithoutException(failure?.message, failure?.exception);
  const tails = logTails(logs);
  const resources = Object.entries(d?.resources ?? {});
  const bench = Object.entries(d?.benchmark_values ?? {});
  const facts = jobFacts(job, d);
  return (
    <>
      {failure && (failure.message || failure.exception) && (
        <Alert
          type="error"
          showIcon
          data-testid="job-failure"
          title={failure.exception ?? "Job failed"}
          description={
            failureText.trim() ? <pre style={{ ...preStyle, maxHeight: 300, background: "transparent" }}>{failureText}</pre> : null
          }
          style={{ marginBottom: 16 }}
        />
      )}
      <Descriptions size="small" column={2} bordered items={facts} />
      <Section title="Shell command">
        {d?.shellcmd ? <pre style={preStyle}>{d.shellcmd}</pre> : <Typography.Text type="secondary">none</Typography.Text>}
      </Section>
      <Section title="Inputs">
        <FileList files={d?.input} />
      </Section>
      <Section title="Outputs">
        <FileList files={d?.output} />
      </Section>
      <Section title="Logs">
        <FileList files={d?.log} />
        {tails.map((t) => (
          <div key={t.path} style={{ marginTop: 8 }} data-testid="job-log">
            <Space>
              <Typography.Text strong>{t.path || "log"}</Typography.Text>
              {t.truncated && <Tag color="warning">last part of {t.size} bytes</Tag>}
            </Space>
            <pre style={{ ...preStyle, maxHeight: 400 }}>{t.text}</pre>
          </div>
        ))}
        {(d?.log?.length ?? 0) > 0 && tails.length === 0 && (
          <Typography.Text type="secondary">No log contents were shipped for this job.</Typography.Text>
        )}
      </Section>
      <Section title="Resources">
        {resources.length ? (
          <Descriptions size="small" column={3} bordered items={resources.map(([k, v]) => ({ key: k, label: k, children: show(v) }))} />
        ) : (
          <Typography.Text type="secondary">none</Typography.Text>
        )}
      </Section>
      {(d?.benchmark || bench.length > 0) && (
        <Section title="Benchmark">
          {d?.benchmark && (
            <Typography.Text code copyable>
              {d.benchmark}
            </Typography.Text>
          )}
          {bench.length > 0 ? (
            <Descriptions
              size="small"
              column={3}
              bordered
              style={{ marginTop: 8 }}
              items={bench.map(([k, v]) => ({ key: k, label: k, children: v === null ? "NA" : show(v) }))}
            />
          ) : (
            <div>
              <Typography.Text type="secondary">No values shipped.</Typography.Text>
            </div>
          )}
        </Section>
      )}
      {failure && Object.keys(failure.aux ?? {}).length > 0 && (
        <Section title="Executor details">
          <pre style={preStyle}>{JSON.stringify(failure.aux, null, 2)}</pre>
        </Section>
      )}
    </>
  );
}

export function JobDrawer({
  runId,
  jobId,
  fallback,
  onClose,
}: {
  runId: string;
  jobId: number | undefined;
  /** The job from the loaded list: its facts show until the full job arrives. */
  fallback: JobBrief | undefined;
  onClose: () => void;
}) {
  const q = useJob(runId, jobId);
  const rule = q.data?.rule ?? fallback?.rule;
  return (
    <Drawer
      open={jobId !== undefined}
      onClose={onClose}
      size={760}
      title={jobId !== undefined ? `Job ${jobId}${rule ? ` · ${rule}` : ""}` : "Job"}
      destroyOnHidden
    >
      <div data-testid="job-drawer" data-job-id={jobId}>
        {q.data ? (
          <JobBody job={q.data} logs={q.data.logs} />
        ) : (
          <>
            {fallback && <Descriptions size="small" column={2} bordered items={jobFacts(fallback, undefined)} />}
            {q.isError ? (
              <Alert
                type="error"
                showIcon
                style={{ marginTop: fallback ? 16 : 0 }}
                title="Could not load the job"
                description={errorMessage(q.error)}
              />
            ) : q.isPending ? (
              <Skeleton active style={{ marginTop: fallback ? 16 : 0 }} />
            ) : (
              !fallback && <Empty />
            )}
          </>
        )}
      </div>
    </Drawer>
  );
}

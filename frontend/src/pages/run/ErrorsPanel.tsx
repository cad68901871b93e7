// Every run-level and job-level error of the run, message and exception as text.
import { memo, useMemo } from "react";
import { Alert, Button, Empty, Skeleton, Space, Tag, Typography } from "antd";
import type { RunError } from "../../api/types";
import { errorMessage } from "../../api/client";
import { formatTime } from "../../lib/format";
import { preStyle } from "./CodeBlock";
import { messageWithoutException } from "./errorText";

/** Errors of one rule (all when none is selected); workflow errors stay visible under a rule filter. */
export function errorsFor(errors: RunError[], rule: string | null): RunError[] {
  return rule ? errors.filter((e) => e.rule === rule || e.scope === "workflow") : errors;
}

export const ErrorsPanel = memo(function ErrorsPanel({
  errors,
  isPending,
  error,
  rule,
  onOpenJob,
}: {
  errors: RunError[] | undefined;
  isPending: boolean;
  error: unknown;
  rule: string | null;
  onOpenJob: (jobId: number) => void;
}) {
  const shown = useMemo(() => errorsFor(errors ?? [], rule), [errors, rule]);
  let body: React.ReactNode;
  if (error && !errors) body = <Alert type="error" showIcon title="Could not load the errors" description={errorMessage(error)} />;
  else if (isPending && !errors) body = <Skeleton active />;
  else if (shown.length === 0) body = <Empty description={rule ? `No errors for rule ${rule}` : "No errors"} image={Empty.PRESENTED_IMAGE_SIMPLE} />;
  else
    body = shown.map((e) => {
      // The exception's name is shown once, bold, above its message.
      const message = messageWithoutException(e.message, e.exception);
      return (
        <div
          key={e.seq}
          data-testid="error-item"
          data-scope={e.scope}
          style={{ border: "1px solid #ffccc7", background: "#fff2f0", borderRadius: 6, padding: 12, marginBottom: 12 }}
        >
          <Space wrap style={{ marginBottom: 8 }}>
            <Tag color={e.scope === "workflow" ? "volcano" : "red"}>{e.scope}</Tag>
            {e.exception && <Typography.Text strong>{e.exception}</Typography.Text>}
            {e.rule && <Typography.Text>rule {e.rule}</Typography.Text>}
            {e.job_id != null && (
              <Button size="small" type="link" onClick={() => onOpenJob(e.job_id as number)} data-testid="error-job">
                job {e.job_id}
              </Button>
            )}
            <Typography.Text type="secondary">{formatTime(e.recorded_at)}</Typography.Text>
          </Space>
          {message.trim() ? (
            <pre style={{ ...preStyle, maxHeight: 360, background: "#fff" }}>{message}</pre>
          ) : (
            <Typography.Text type="secondary">No message.</Typography.Text>
          )}
        </div>
      );
    });
  return <div data-testid="errors-panel">{body}</div>;
});

// A run or job status as a coloured tag.
import { Tag } from "antd";
import type { JobStatus, RunStatus } from "../api/types";
import { STATUS_TAG } from "../lib/status";

export function StatusTag({ status }: { status: RunStatus | JobStatus }) {
  return (
    <Tag color={STATUS_TAG[status]} data-status={status}>
      {status}
    </Tag>
  );
}

// One colour per status, shared by tags, the DAG, the timeline and the charts.
import type { JobStatus, RunStatus } from "../api/types";

export const STATUS_COLORS: Record<RunStatus | JobStatus, string> = {
  running: "#1677ff",
  succeeded: "#52c41a",
  failed: "#ff4d4f",
  interrupted: "#fa8c16",
  lost: "#8c8c8c",
  incomplete: "#faad14",
  planned: "#d9d9d9",
};

/** Ant Design tag colour names for statuses. */
export const STATUS_TAG: Record<RunStatus | JobStatus, string> = {
  running: "processing",
  succeeded: "success",
  failed: "error",
  interrupted: "warning",
  lost: "default",
  incomplete: "warning",
  planned: "default",
};

export const RUN_STATUSES: RunStatus[] = ["running", "succeeded", "failed", "interrupted", "lost"];
export const JOB_STATUSES: JobStatus[] = ["planned", "running", "succeeded", "failed", "incomplete"];

-- Indexes that serve the job sort by start time (jobs never started sort as -1) and the
-- running/lost split of the status filter.
DROP INDEX jobs_started;
CREATE INDEX jobs_started ON jobs (run_id, COALESCE(started_at, -1), job_id);
CREATE INDEX runs_status_last_event ON runs (status, last_event_at);

-- Per-rule rollups kept with every append (flowo_core::rollup): job counts by status and a
-- sketch of succeeded jobs' durations, per run and rule (a run's rule summary) and per
-- workspace, day of the run's start (UTC days since 1970-01-01) and rule, the same per month
-- (`month`: the day number of its first day; workspace statistics read whole months from it),
-- and run counts per workspace, day and stored status. The store fills them
-- from the jobs and runs already stored when it next opens (the settings key below).
CREATE TABLE run_rules (
    run_id           UUID NOT NULL,
    rule             TEXT NOT NULL,
    jobs_running     BIGINT NOT NULL,
    jobs_succeeded   BIGINT NOT NULL,
    jobs_failed      BIGINT NOT NULL,
    jobs_incomplete  BIGINT NOT NULL,
    jobs_planned     BIGINT NOT NULL,
    durations        TEXT NOT NULL,
    PRIMARY KEY (run_id, rule)
);

CREATE TABLE rule_days (
    workspace_id     UUID NOT NULL,
    day              BIGINT NOT NULL,
    rule             TEXT NOT NULL,
    jobs_running     BIGINT NOT NULL,
    jobs_succeeded   BIGINT NOT NULL,
    jobs_failed      BIGINT NOT NULL,
    jobs_incomplete  BIGINT NOT NULL,
    jobs_planned     BIGINT NOT NULL,
    durations        TEXT NOT NULL,
    PRIMARY KEY (workspace_id, day, rule)
);

CREATE TABLE rule_months (
    workspace_id     UUID NOT NULL,
    month            BIGINT NOT NULL,
    rule             TEXT NOT NULL,
    jobs_running     BIGINT NOT NULL,
    jobs_succeeded   BIGINT NOT NULL,
    jobs_failed      BIGINT NOT NULL,
    jobs_incomplete  BIGINT NOT NULL,
    jobs_planned     BIGINT NOT NULL,
    durations        TEXT NOT NULL,
    PRIMARY KEY (workspace_id, month, rule)
);

CREATE TABLE run_days (
    workspace_id  UUID NOT NULL,
    day           BIGINT NOT NULL,
    status        TEXT NOT NULL,
    runs          BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, day, status)
);

INSERT INTO settings (key, value) VALUES ('store.rollups', 'stale')
    ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- Per-rule rollups kept with every append (flowo_core::rollup): job counts by status and a
-- sketch of succeeded jobs' durations, per run and rule (a run's rule summary) and per
-- workspace, day of the run's start (UTC days since 1970-01-01) and rule, the same per month
-- (`month`: the day number of its first day; workspace statistics read whole months from it),
-- and run counts per workspace, day and stored status. The store fills them
-- from the jobs and runs already stored when it next opens (the settings key below).
CREATE TABLE run_rules (
    run_id           BLOB NOT NULL,
    rule             TEXT NOT NULL,
    jobs_running     INTEGER NOT NULL,
    jobs_succeeded   INTEGER NOT NULL,
    jobs_failed      INTEGER NOT NULL,
    jobs_incomplete  INTEGER NOT NULL,
    jobs_planned     INTEGER NOT NULL,
    durations        TEXT NOT NULL,
    PRIMARY KEY (run_id, rule)
);

CREATE TABLE rule_days (
    workspace_id     BLOB NOT NULL,
    day              INTEGER NOT NULL,
    rule             TEXT NOT NULL,
    jobs_running     INTEGER NOT NULL,
    jobs_succeeded   INTEGER NOT NULL,
    jobs_failed      INTEGER NOT NULL,
    jobs_incomplete  INTEGER NOT NULL,
    jobs_planned     INTEGER NOT NULL,
    durations        TEXT NOT NULL,
    PRIMARY KEY (workspace_id, day, rule)
);

CREATE TABLE rule_months (
    workspace_id     BLOB NOT NULL,
    month            INTEGER NOT NULL,
    rule             TEXT NOT NULL,
    jobs_running     INTEGER NOT NULL,
    jobs_succeeded   INTEGER NOT NULL,
    jobs_failed      INTEGER NOT NULL,
    jobs_incomplete  INTEGER NOT NULL,
    jobs_planned     INTEGER NOT NULL,
    durations        TEXT NOT NULL,
    PRIMARY KEY (workspace_id, month, rule)
);

CREATE TABLE run_days (
    workspace_id  BLOB NOT NULL,
    day           INTEGER NOT NULL,
    status        TEXT NOT NULL,
    runs          INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, day, status)
);

INSERT INTO settings (key, value) VALUES ('store.rollups', 'stale')
    ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- FlowO embedded store, schema 1. Times are microseconds since the Unix epoch (UTC).
CREATE TABLE workspaces (
    id          BLOB PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE runs (
    id                BLOB PRIMARY KEY NOT NULL,
    workspace_id      BLOB NOT NULL REFERENCES workspaces (id),
    status            TEXT NOT NULL,
    dry_run           BOOLEAN NOT NULL,
    name              TEXT NOT NULL,
    description       TEXT,
    tags              TEXT NOT NULL,
    workflow_id       TEXT,
    snakemake_version TEXT,
    host              TEXT,
    user              TEXT,
    command_line      TEXT,
    workdir           TEXT,
    snakefile         TEXT,
    cores             INTEGER,
    started_at        INTEGER NOT NULL,
    finished_at       INTEGER,
    last_event_at     INTEGER NOT NULL,
    done              INTEGER NOT NULL,
    total             INTEGER NOT NULL,
    jobs_running      INTEGER NOT NULL,
    jobs_succeeded    INTEGER NOT NULL,
    jobs_failed       INTEGER NOT NULL,
    jobs_incomplete   INTEGER NOT NULL,
    jobs_planned      INTEGER NOT NULL,
    error_count       INTEGER NOT NULL,
    event_count       INTEGER NOT NULL,
    last_seq          INTEGER,
    search            TEXT NOT NULL,
    detail            TEXT NOT NULL,
    fold_cursor       TEXT NOT NULL
);
CREATE INDEX runs_started ON runs (started_at, id);
CREATE INDEX runs_workspace_started ON runs (workspace_id, started_at, id);
CREATE INDEX runs_last_event ON runs (last_event_at, id);
CREATE INDEX runs_name ON runs (name, id);
CREATE INDEX runs_status_started ON runs (status, started_at, id);

CREATE TABLE run_tags (
    tag     TEXT NOT NULL,
    run_id  BLOB NOT NULL,
    PRIMARY KEY (tag, run_id)
) WITHOUT ROWID;
CREATE INDEX run_tags_run ON run_tags (run_id);

CREATE TABLE jobs (
    run_id       BLOB NOT NULL,
    job_id       INTEGER NOT NULL,
    rule         TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER,
    detail       TEXT NOT NULL,
    PRIMARY KEY (run_id, job_id)
) WITHOUT ROWID;
CREATE INDEX jobs_rule ON jobs (run_id, rule, job_id);
CREATE INDEX jobs_status ON jobs (run_id, status, job_id);
CREATE INDEX jobs_started ON jobs (run_id, started_at, job_id);

CREATE TABLE run_errors (
    run_id       BLOB NOT NULL,
    seq          INTEGER NOT NULL,
    recorded_at  INTEGER NOT NULL,
    scope        TEXT NOT NULL,
    exception    TEXT,
    message      TEXT,
    rule         TEXT,
    job_id       INTEGER,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE events (
    pos           INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id        BLOB NOT NULL,
    seq           INTEGER NOT NULL,
    workspace_id  BLOB NOT NULL,
    kind          TEXT NOT NULL,
    recorded_at   INTEGER NOT NULL,
    received_at   INTEGER NOT NULL,
    data          TEXT NOT NULL
);
CREATE UNIQUE INDEX events_run_seq ON events (run_id, seq);

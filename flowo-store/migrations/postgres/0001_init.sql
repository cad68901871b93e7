-- FlowO PostgreSQL store, schema 1. Times are microseconds since the Unix epoch (UTC).
CREATE TABLE workspaces (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE runs (
    id                UUID PRIMARY KEY,
    workspace_id      UUID NOT NULL REFERENCES workspaces (id),
    status            TEXT NOT NULL,
    dry_run           BOOLEAN NOT NULL,
    name              TEXT NOT NULL,
    description       TEXT,
    tags              TEXT NOT NULL,
    workflow_id       TEXT,
    snakemake_version TEXT,
    host              TEXT,
    "user"             TEXT,
    command_line      TEXT,
    workdir           TEXT,
    snakefile         TEXT,
    cores             BIGINT,
    started_at        BIGINT NOT NULL,
    finished_at       BIGINT,
    last_event_at     BIGINT NOT NULL,
    done              BIGINT NOT NULL,
    total             BIGINT NOT NULL,
    jobs_running      BIGINT NOT NULL,
    jobs_succeeded    BIGINT NOT NULL,
    jobs_failed       BIGINT NOT NULL,
    jobs_incomplete   BIGINT NOT NULL,
    jobs_planned      BIGINT NOT NULL,
    error_count       BIGINT NOT NULL,
    event_count       BIGINT NOT NULL,
    last_seq          BIGINT,
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
    run_id  UUID NOT NULL,
    PRIMARY KEY (tag, run_id)
);
CREATE INDEX run_tags_run ON run_tags (run_id);

CREATE TABLE jobs (
    run_id       UUID NOT NULL,
    job_id       BIGINT NOT NULL,
    rule         TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     BIGINT NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT,
    detail       TEXT NOT NULL,
    PRIMARY KEY (run_id, job_id)
);
CREATE INDEX jobs_rule ON jobs (run_id, rule, job_id);
CREATE INDEX jobs_status ON jobs (run_id, status, job_id);
CREATE INDEX jobs_started ON jobs (run_id, started_at, job_id);

CREATE TABLE run_errors (
    run_id       UUID NOT NULL,
    seq          BIGINT NOT NULL,
    recorded_at  BIGINT NOT NULL,
    scope        TEXT NOT NULL,
    exception    TEXT,
    message      TEXT,
    rule         TEXT,
    job_id       BIGINT,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE events (
    pos           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id        UUID NOT NULL,
    seq           BIGINT NOT NULL,
    workspace_id  UUID NOT NULL,
    kind          TEXT NOT NULL,
    recorded_at   BIGINT NOT NULL,
    received_at   BIGINT NOT NULL,
    data          TEXT NOT NULL
);
CREATE UNIQUE INDEX events_run_seq ON events (run_id, seq);
-- Text search over runs scans `search` in start order; pg_trgm is not assumed to be installed.

-- Users, workspace memberships, API tokens (hashes only) and server settings.
CREATE TABLE users (
    id             UUID PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    role           TEXT NOT NULL,
    disabled       BOOLEAN NOT NULL,
    password_hash  TEXT,
    created_at     BIGINT NOT NULL
);

CREATE TABLE memberships (
    workspace_id  UUID NOT NULL,
    user_id       UUID NOT NULL,
    added_at      BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE api_tokens (
    id            UUID PRIMARY KEY,
    user_id       UUID NOT NULL,
    name          TEXT NOT NULL,
    scope         TEXT NOT NULL,
    workspace_id  UUID,
    prefix        TEXT NOT NULL,
    hash          TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

-- The audit log: who created, changed, revoked or deleted what (users, tokens, workspaces,
-- memberships, runs). Appended to, never changed. `actor_id` is NULL and `actor` is 'cli' for
-- `flowo` commands acting on the database; `details` is JSON text without secrets.
CREATE TABLE audit_log (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor_id  UUID,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    details   TEXT NOT NULL
);

-- A trigram index over the runs' search text, so that a text search finds rare text without
-- reading every run. It needs the pg_trgm extension (in PostgreSQL's contrib, trusted since
-- PostgreSQL 13: a database owner may create it). Where it cannot be created, the migration
-- still applies and text search reads the runs as before; the store says so when it opens,
-- and makes the index then once the extension is there.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm is not available (%): run text search reads every run', SQLERRM;
END
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX runs_search_trgm ON runs USING gin (search gin_trgm_ops);
    END IF;
END
$$;

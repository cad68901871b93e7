-- A trigram index over the runs' search text (FTS5's trigram tokenizer), so that a text search
-- finds rare text without reading every run. FTS5 rows are numbered, runs are not (and an
-- implicit rowid may change in a VACUUM), so `run_search_ids` numbers them for it. The text is
-- lower-cased by the store, so the index is case-sensitive and searched with GLOB. Triggers keep
-- it in step with `runs`, whoever writes them.
CREATE TABLE run_search_ids (
    rowid   INTEGER PRIMARY KEY,
    run_id  BLOB NOT NULL UNIQUE
);
CREATE VIRTUAL TABLE run_search USING fts5 (
    search,
    tokenize = 'trigram case_sensitive 1',
    detail = 'none'
);

INSERT INTO run_search_ids (run_id) SELECT id FROM runs;
INSERT INTO run_search (rowid, search)
    SELECT i.rowid, r.search FROM run_search_ids AS i JOIN runs AS r ON r.id = i.run_id;

CREATE TRIGGER runs_search_insert AFTER INSERT ON runs BEGIN
    INSERT INTO run_search_ids (run_id) VALUES (new.id);
    INSERT INTO run_search (rowid, search) VALUES (last_insert_rowid(), new.search);
END;

CREATE TRIGGER runs_search_update AFTER UPDATE OF search ON runs
WHEN old.search IS NOT new.search BEGIN
    UPDATE run_search SET search = new.search
        WHERE rowid = (SELECT rowid FROM run_search_ids WHERE run_id = new.id);
END;

CREATE TRIGGER runs_search_delete AFTER DELETE ON runs BEGIN
    DELETE FROM run_search WHERE rowid = (SELECT rowid FROM run_search_ids WHERE run_id = old.id);
    DELETE FROM run_search_ids WHERE run_id = old.id;
END;

-- Each tag row keeps its run's start time, so that the runs of a tag are read in start order
-- from one index (the runs page filtered by a tag reads its page, not every run with the tag
-- found and sorted). The store writes it with the tag rows and when a run's start changes.
ALTER TABLE run_tags ADD COLUMN run_started_at BIGINT NOT NULL DEFAULT 0;
UPDATE run_tags SET run_started_at = runs.started_at FROM runs WHERE runs.id = run_tags.run_id;
CREATE INDEX run_tags_started ON run_tags (tag, run_started_at, run_id);

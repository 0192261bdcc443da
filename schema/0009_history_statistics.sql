-- 0009_history_statistics: a workflow's history is found by key however stale the
-- statistics.
--
-- The planner estimates how many rows one workflow's ID matches in the tables keyed by it
-- from the column's number of distinct values, which ANALYZE takes from a sample. A sample
-- taken while a few workflows had many steps each stores an absolute count (say 10), and
-- once the table holds a step or two for each of a million workflows the planner still
-- expects a tenth of the table per workflow: reading the histories of the workflows a claim
-- resumed (LoadStepsOf) and retention's deletes then scanned whole tables. A negative
-- n_distinct is a fraction of the rows, so the estimate grows with the table: -0.2 says
-- five rows per workflow, and the next ANALYZE uses it instead of its sample's count.
ALTER TABLE wfgen.steps ALTER COLUMN workflow_id SET (n_distinct = -0.2);
ALTER TABLE wfgen.messages ALTER COLUMN destination_id SET (n_distinct = -0.2);
ALTER TABLE wfgen.events ALTER COLUMN workflow_id SET (n_distinct = -0.2);
ALTER TABLE wfgen.streams ALTER COLUMN workflow_id SET (n_distinct = -0.2);

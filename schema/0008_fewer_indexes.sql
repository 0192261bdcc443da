-- 0008_fewer_indexes: every claim stops paying for an index that only takeover read.
--
-- A claim and a completion change a workflow's state, so neither can be a HOT update: each
-- inserts a new entry into every index whose predicate its new row matches. The executor
-- index cost every claim one more entry (and its WAL: about 5% of a one-step workflow's WAL
-- and 7% of the server's CPU, measured by the benchmark). What it served, finding a
-- stopped executor's running workflows, reads the running index instead: running rows are
-- bounded by the workers' slots (a suspended workflow goes back to enqueued), so that scan
-- is small.
DROP INDEX wfgen.workflows_executor;

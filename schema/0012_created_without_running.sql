-- 0012_created_without_running: a claim stops paying for an entry in the created index.
--
-- A claim changes a workflow's state, so it cannot be a HOT update: it inserts a new entry
-- into every index whose predicate its new row matches, the created index among them,
-- whose key (created_at) the claim does not change. Only the operator's list
-- (SearchWorkflows) reads this index, and it reads running workflows through the running
-- index instead: there are at most as many as the workers' slots (a suspended workflow goes
-- back to enqueued). That is one entry of the six a one-step workflow's claim and
-- completion add to the workflows' indexes: about 4% of its WAL and 3% of the server's CPU
-- in the benchmark.
--
-- The index now holds the list's whole order, created_at then seq (among workflows one
-- transaction created, the last enqueued first), so that a page of the list is read from
-- it in order rather than sorted from every workflow.
DROP INDEX wfgen.workflows_created;
CREATE INDEX workflows_created ON wfgen.workflows (created_at, seq) WHERE state IS DISTINCT FROM 'running';

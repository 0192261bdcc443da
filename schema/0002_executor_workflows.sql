-- 0002_executor_workflows: which workflows each executor runs, so that a workflow that no
-- live executor can run is reported (Status.Waiting, QueueDepths, a worker's warning)
-- instead of waiting in silence.

-- executor_workflows holds the workflows an executor registered, written when it starts.
-- code_hash is the hash it registered the workflow with; NULL for none, which runs a
-- workflow whatever hash it started under.
CREATE TABLE wfgen.executor_workflows (
    executor_id text NOT NULL REFERENCES wfgen.executors (id) ON DELETE CASCADE,
    name        text NOT NULL,
    code_hash   text,
    PRIMARY KEY (executor_id, name)
);
CREATE INDEX executor_workflows_name ON wfgen.executor_workflows (name);

-- live_executor_workflows is executor_workflows restricted to live executors: not stopped,
-- and holding a lease that has not expired. A workflow waiting in its queue can run only on
-- one of them that registered its name, with the workflow's code hash once it has one.
CREATE VIEW wfgen.live_executor_workflows AS
SELECT r.executor_id, r.name, r.code_hash
FROM wfgen.executor_workflows r
JOIN wfgen.executors e ON e.id = r.executor_id
WHERE e.stopped_at IS NULL AND e.lease_expires_at > now();

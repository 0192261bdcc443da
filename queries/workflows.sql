-- name: InsertWorkflows :many
-- InsertWorkflows enqueues (state 'enqueued') or starts (state 'running', owned by
-- executor_id) a batch of workflows in one statement. A row whose ID, or whose deduplication
-- ID in its queue, is taken is skipped and missing from the result: the caller then reads
-- what is there.
INSERT INTO wfgen.workflows (
    id, name, state, queue, priority, partition_key, dedup_id, input, max_recoveries,
    timeout_ms, available_at, executor_id, attempt, started_at, deadline
)
SELECT i.id, i.name, @state::text, i.queue, i.priority, NULLIF(i.partition_key, ''),
       NULLIF(i.dedup_id, ''), i.input::jsonb, i.max_recoveries, NULLIF(i.timeout_ms, 0),
       now() + i.delay_ms * interval '1 millisecond',
       NULLIF(@executor_id::text, ''),
       CASE WHEN @state::text = 'running' THEN 1 ELSE 0 END,
       CASE WHEN @state::text = 'running' THEN now() END,
       CASE WHEN @state::text = 'running' AND i.timeout_ms > 0
            THEN now() + i.timeout_ms * interval '1 millisecond' END
FROM (
    SELECT unnest(@ids::text[])             AS id,
           unnest(@names::text[])           AS name,
           unnest(@queues::text[])          AS queue,
           unnest(@priorities::int[])       AS priority,
           unnest(@partition_keys::text[])  AS partition_key,
           unnest(@dedup_ids::text[])       AS dedup_id,
           unnest(@inputs::text[])          AS input,
           unnest(@max_recoveries::int[])   AS max_recoveries,
           unnest(@timeouts_ms::bigint[])   AS timeout_ms,
           unnest(@delays_ms::bigint[])     AS delay_ms
) i
ON CONFLICT DO NOTHING
RETURNING id;

-- name: GetWorkflow :one
SELECT id, name, state, queue, priority, partition_key, dedup_id, error, code_hash, executor_id,
       attempt, recoveries, max_recoveries, deadline, created_at, available_at, started_at,
       updated_at, completed_at
FROM wfgen.workflows
WHERE id = @id;

-- name: FindDuplicate :one
-- FindDuplicate names the workflow that made an insert of (id, queue, dedup_id) conflict.
SELECT id, name, state, dedup_id
FROM wfgen.workflows
WHERE id = @id
   OR (queue = @queue AND dedup_id = NULLIF(@dedup_id::text, '') AND state IN ('enqueued', 'running'))
ORDER BY (id = @id) DESC
LIMIT 1;

-- name: GetResults :many
-- GetResults returns the outcome of those of the given workflows that are final.
SELECT id, name, state, output, error
FROM wfgen.workflows
WHERE id = ANY(@ids::text[])
  AND state IN ('succeeded', 'failed', 'cancelled', 'dead');

-- name: CancelWorkflow :one
-- CancelWorkflow ends an enqueued or running workflow. Its executor notices at its next step
-- and cannot complete it any more (completions require state 'running').
UPDATE wfgen.workflows
SET state = 'cancelled', error = @error::jsonb, completed_at = now(), updated_at = now()
WHERE id = @id AND state IN ('enqueued', 'running')
RETURNING executor_id;

-- name: RecoverExecutorWorkflows :many
-- RecoverExecutorWorkflows hands the running workflows of a crashed executor back to their
-- queues (keeping their place), or marks them dead once they have been recovered more than
-- max_recoveries times: a workflow that keeps killing its executors must not crash-loop the
-- fleet.
UPDATE wfgen.workflows
SET state = CASE WHEN recoveries >= max_recoveries THEN 'dead' ELSE 'enqueued' END,
    recoveries = recoveries + 1,
    executor_id = CASE WHEN recoveries >= max_recoveries THEN executor_id END,
    error = CASE WHEN recoveries >= max_recoveries
                 THEN jsonb_build_object('kind', 'dead', 'message',
                      format('gave up after %s recoveries: every executor running it stopped (crash, kill or lost lease)', recoveries + 1))
            END,
    completed_at = CASE WHEN recoveries >= max_recoveries THEN now() END,
    updated_at = now()
WHERE executor_id = @executor_id AND state = 'running'
RETURNING id, state;

-- name: DequeueWorkflows :many
-- DequeueWorkflows claims up to max_count available workflows of a queue for an executor,
-- in queue order (priority, then available_at, then enqueue order), skipping rows other
-- dequeuers hold. It claims only workflows the executor has registered, and a workflow that
-- already ran only on an executor registered with the same code hash (name_hashes holds
-- 'name:hash', or 'name:*' for a registration without a hash).
UPDATE wfgen.workflows w
SET state = 'running',
    executor_id = @executor_id,
    attempt = w.attempt + 1,
    started_at = coalesce(w.started_at, now()),
    deadline = coalesce(w.deadline, now() + w.timeout_ms * interval '1 millisecond'),
    code_hash = coalesce(w.code_hash, NULLIF((@code_hashes::text[])[array_position(@names::text[], w.name)], '')),
    updated_at = now()
FROM (
    SELECT q.id
    FROM wfgen.workflows q
    WHERE q.queue = @queue
      AND q.state = 'enqueued'
      AND q.available_at <= now()
      AND q.name = ANY(@names::text[])
      AND (q.code_hash IS NULL
           OR (q.name || ':' || q.code_hash) = ANY(@name_hashes::text[])
           OR (q.name || ':*') = ANY(@name_hashes::text[]))
    ORDER BY q.priority, q.available_at, q.seq
    LIMIT @max_count
    FOR UPDATE SKIP LOCKED
) c
WHERE w.id = c.id
RETURNING w.id, w.name, w.input, w.attempt, w.deadline, w.priority, w.seq;

-- name: DeleteFinished :one
-- DeleteFinished deletes up to batch_size workflows that became final before cutoff, oldest
-- first, with their steps, messages, events and streams, in one statement, and returns how
-- many workflows it deleted. Only one executor of a schema runs it at a time (a transaction-
-- level advisory lock, tried and not waited for: it returns -1 when another holds it), and it
-- skips rows others have locked, so it never waits on the hot paths. Workflows that are not
-- final are never touched; a child whose parent is deleted keeps its parent_id.
WITH lock AS MATERIALIZED (
    SELECT pg_try_advisory_xact_lock(hashtext(@lock_key::text)) AS held
), doomed AS MATERIALIZED (
    SELECT w.id
    FROM wfgen.workflows w, lock
    WHERE lock.held
      AND w.state IN ('succeeded', 'failed', 'cancelled', 'dead')
      AND w.completed_at < @cutoff::timestamptz
    ORDER BY w.completed_at
    LIMIT @batch_size::int
    FOR UPDATE OF w SKIP LOCKED
), doomed_ids AS MATERIALIZED (
    -- The deletes reach rows by key whatever the planner guesses of how many are doomed: a
    -- generic plan takes LIMIT @batch_size for thousands and would hash-join whole tables.
    SELECT array_agg(d.id) AS ids FROM doomed d
), steps AS (
    DELETE FROM wfgen.steps s WHERE s.workflow_id = ANY((SELECT ids FROM doomed_ids)::text[])
), messages AS (
    DELETE FROM wfgen.messages m WHERE m.destination_id = ANY((SELECT ids FROM doomed_ids)::text[])
), events AS (
    DELETE FROM wfgen.events e WHERE e.workflow_id = ANY((SELECT ids FROM doomed_ids)::text[])
), streams AS (
    DELETE FROM wfgen.streams s WHERE s.workflow_id = ANY((SELECT ids FROM doomed_ids)::text[])
), deleted AS (
    DELETE FROM wfgen.workflows w WHERE w.id = ANY((SELECT ids FROM doomed_ids)::text[])
    RETURNING w.id
)
SELECT CASE WHEN (SELECT held FROM lock) THEN (SELECT count(*) FROM deleted) ELSE -1 END::bigint AS deleted;

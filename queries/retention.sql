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
), steps AS (
    DELETE FROM wfgen.steps s USING doomed d WHERE s.workflow_id = d.id
), messages AS (
    DELETE FROM wfgen.messages m USING doomed d WHERE m.destination_id = d.id
), events AS (
    DELETE FROM wfgen.events e USING doomed d WHERE e.workflow_id = d.id
), streams AS (
    DELETE FROM wfgen.streams s USING doomed d WHERE s.workflow_id = d.id
), deleted AS (
    DELETE FROM wfgen.workflows w USING doomed d WHERE w.id = d.id
    RETURNING w.id
)
SELECT CASE WHEN (SELECT held FROM lock) THEN (SELECT count(*) FROM deleted) ELSE -1 END::bigint AS deleted;

-- name: DebounceWorkflow :one
-- DebounceWorkflow enqueues a debounced workflow, or updates the one waiting under the same
-- name and debounce key: the last call's input wins, and the start moves to period after
-- this call, but never past the deadline the first call set (first call + max delay; no
-- deadline without one). Only a workflow that never ran (attempt 0) is waiting so; once a
-- worker claims it, the next call debounces a new one.
INSERT INTO wfgen.workflows (
    id, name, state, queue, priority, partition_key, input, max_recoveries, timeout_ms,
    available_at, debounce_key, debounce_deadline, steps_expected
)
VALUES (
    @id, @name, 'enqueued', @queue, @priority,
    -- The empty key without one in a partitioned queue, as InsertWorkflows says.
    coalesce(NULLIF(@partition_key::text, ''),
             CASE WHEN EXISTS (SELECT 1 FROM wfgen.queues q WHERE q.name = @queue AND q.partition_concurrency > 0) THEN '' END),
    @input::jsonb,
    @max_recoveries, NULLIF(sqlc.arg(timeout_ms)::bigint, 0),
    least(now() + sqlc.arg(period_ms)::bigint * interval '1 millisecond',
          now() + NULLIF(sqlc.arg(max_delay_ms)::bigint, 0) * interval '1 millisecond'),
    @debounce_key::text,
    now() + NULLIF(sqlc.arg(max_delay_ms)::bigint, 0) * interval '1 millisecond',
    NULLIF(@steps_expected::int, 0)
)
ON CONFLICT (name, debounce_key) WHERE debounce_key IS NOT NULL AND state = 'enqueued' AND attempt = 0
DO UPDATE SET input = excluded.input,
              available_at = least(now() + sqlc.arg(period_ms)::bigint * interval '1 millisecond',
                                   wfgen.workflows.debounce_deadline),
              updated_at = now()
RETURNING id, available_at;

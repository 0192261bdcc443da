-- name: ListSchedules :many
-- ListSchedules returns every schedule registered by an executor that is alive or stopped
-- within the last hour (as ListExecutors), one row per workflow and configuration, with the
-- executors that registered it, whether one of them is alive, and the tick workflow with the
-- greatest tick: tick IDs are "<workflow>@<RFC 3339 UTC time>", so byte order is time order.
-- The strpos condition matches the predicate of the workflows_ticks index, which walks one
-- workflow's tick IDs backwards and stops at the first (0.3 ms for 20 schedules among a
-- million workflows, where a scan took 2.5 s).
SELECT s.workflow, s.spec, s.timezone, s.queue,
       array_agg(s.executor_id ORDER BY s.executor_id)::text[] AS executor_ids,
       bool_or(e.stopped_at IS NULL AND e.lease_expires_at > now())::bool AS alive,
       coalesce(last.id, '')::text AS last_tick_id, coalesce(last.state, '')::text AS last_tick_state
FROM wfgen.schedules s
JOIN wfgen.executors e ON e.id = s.executor_id
LEFT JOIN LATERAL (
    SELECT w.id, w.state FROM wfgen.workflows w
    WHERE w.name = s.workflow AND strpos(w.id, '@') > 0 AND starts_with(w.id, s.workflow || '@')
    ORDER BY w.id COLLATE "C" DESC
    LIMIT 1
) last ON true
WHERE e.stopped_at IS NULL OR e.stopped_at > now() - interval '1 hour'
GROUP BY s.workflow, s.spec, s.timezone, s.queue, last.id, last.state
ORDER BY s.workflow, s.spec, s.timezone, s.queue;

-- name: QueueThroughputs :many
-- QueueThroughputs counts, per queue, the workflows that reached a final state in the last
-- minute and the last five minutes, and those of the last five minutes that failed (failed
-- or dead). Queues with nothing finished in five minutes are not listed.
SELECT queue,
       count(*) FILTER (WHERE completed_at > now() - interval '1 minute')::int AS finished_1m,
       count(*)::int AS finished_5m,
       count(*) FILTER (WHERE state IN ('failed', 'dead'))::int AS failed_5m
FROM wfgen.workflows
WHERE completed_at > now() - interval '5 minutes'
  AND state IN ('succeeded', 'failed', 'cancelled', 'dead')
GROUP BY queue
ORDER BY queue;

-- name: WorkflowPayload :one
-- WorkflowPayload reads a workflow's input and output as stored (JSON).
SELECT input, output FROM wfgen.workflows WHERE id = @id;

-- name: WorkflowEvents :many
-- WorkflowEvents lists the latest value of every event key a workflow published.
SELECT key, value, version, updated_at FROM wfgen.events
WHERE workflow_id = @workflow_id
ORDER BY key;

-- name: WorkflowStreams :many
-- WorkflowStreams lists the values a workflow appended to its streams, at most max_rows of
-- them, by stream and offset; a closing row has no value.
SELECT stream, "offset", value, closed, step_id, created_at FROM wfgen.streams
WHERE workflow_id = @workflow_id
ORDER BY stream, "offset"
LIMIT @max_rows::int;

-- name: WorkflowMessages :many
-- WorkflowMessages lists the messages sent to a workflow, at most max_rows of them, in send
-- order, with when and by which step each was consumed.
SELECT seq, topic, payload, created_at, consumed_at, consumed_step FROM wfgen.messages
WHERE destination_id = @destination_id
ORDER BY seq
LIMIT @max_rows::int;

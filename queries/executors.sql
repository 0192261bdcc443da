-- name: RegisterExecutor :exec
-- RegisterExecutor records a starting executor, with the random instance of the process
-- that registers it. An executor that restarts under the same ID takes its row over.
INSERT INTO wfgen.executors (id, hostname, pid, lease_expires_at, instance)
VALUES (@id, @hostname, @pid, now() + sqlc.arg(lease_ms)::bigint * interval '1 millisecond', @instance::text)
ON CONFLICT (id) DO UPDATE
SET hostname = excluded.hostname,
    pid = excluded.pid,
    instance = excluded.instance,
    started_at = now(),
    heartbeat_at = now(),
    lease_expires_at = excluded.lease_expires_at,
    stopped_at = NULL;

-- name: RegisterExecutorWorkflows :exec
-- RegisterExecutorWorkflows records the workflows a starting executor registered, with the
-- code hash of each (empty for none), in place of those it registered before.
WITH forgotten AS (
    DELETE FROM wfgen.executor_workflows
    WHERE executor_id = @executor_id AND NOT (name = ANY(@names::text[]))
)
INSERT INTO wfgen.executor_workflows (executor_id, name, code_hash)
SELECT @executor_id, r.name, NULLIF(r.code_hash, '')
FROM (SELECT unnest(@names::text[]) AS name, unnest(@code_hashes::text[]) AS code_hash) r
ON CONFLICT (executor_id, name) DO UPDATE SET code_hash = excluded.code_hash;

-- name: LiveRegistrations :many
-- LiveRegistrations lists the live executors that registered each of the given workflow
-- names, with the code hash each registered it with (empty for none).
SELECT name, executor_id, coalesce(code_hash, '')::text AS code_hash
FROM wfgen.live_executor_workflows
WHERE name = ANY(@names::text[])
ORDER BY name, code_hash, executor_id;

-- name: Heartbeat :one
-- Heartbeat renews an executor's lease. It returns no row when the executor was declared
-- dead meanwhile (its workflows are being taken over): it must stop running them. It
-- returns the instance, host and PID of the process that registered the row last: another
-- than the caller's when a second process registered under the same ID.
UPDATE wfgen.executors
SET heartbeat_at = now(), lease_expires_at = now() + sqlc.arg(lease_ms)::bigint * interval '1 millisecond'
WHERE id = @id AND stopped_at IS NULL
RETURNING coalesce(instance, '')::text AS instance, hostname, pid;

-- name: MarkExecutorStopped :exec
UPDATE wfgen.executors SET stopped_at = now() WHERE id = @id;

-- name: ListExecutors :many
-- ListExecutors returns the executors that are alive or stopped within the last hour, with
-- how many workflows each runs.
SELECT e.id, e.hostname, e.pid, e.started_at, e.heartbeat_at, e.lease_expires_at, e.stopped_at,
       (e.stopped_at IS NULL AND e.lease_expires_at > now()) AS alive,
       (SELECT count(*) FROM wfgen.workflows w WHERE w.executor_id = e.id AND w.state = 'running') AS running
FROM wfgen.executors e
WHERE e.stopped_at IS NULL OR e.stopped_at > now() - interval '1 hour'
ORDER BY e.id;

-- name: DeleteStoppedExecutors :exec
-- DeleteStoppedExecutors forgets executors stopped for a day that own nothing.
DELETE FROM wfgen.executors e
WHERE e.stopped_at < now() - interval '1 day'
  AND NOT EXISTS (SELECT 1 FROM wfgen.workflows w WHERE w.executor_id = e.id AND w.state = 'running');

-- name: RegisterExecutorSchedules :exec
-- RegisterExecutorSchedules records the schedules a starting executor fires, in place of
-- those it registered before.
WITH forgotten AS (
    DELETE FROM wfgen.schedules
    WHERE executor_id = @executor_id AND NOT (workflow = ANY(@workflows::text[]))
)
INSERT INTO wfgen.schedules (executor_id, workflow, spec, timezone, queue)
SELECT @executor_id, r.workflow, r.spec, r.timezone, r.queue
FROM (SELECT unnest(@workflows::text[]) AS workflow, unnest(@specs::text[]) AS spec,
             unnest(@timezones::text[]) AS timezone, unnest(@queues::text[]) AS queue) r
ON CONFLICT (executor_id, workflow) DO UPDATE
SET spec = excluded.spec, timezone = excluded.timezone, queue = excluded.queue;

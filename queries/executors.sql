-- name: RegisterExecutor :exec
-- RegisterExecutor records a starting executor. An executor that restarts under the same ID
-- takes its row over.
INSERT INTO wfgen.executors (id, hostname, pid, lease_expires_at)
VALUES (@id, @hostname, @pid, now() + sqlc.arg(lease_ms)::bigint * interval '1 millisecond')
ON CONFLICT (id) DO UPDATE
SET hostname = excluded.hostname,
    pid = excluded.pid,
    started_at = now(),
    heartbeat_at = now(),
    lease_expires_at = excluded.lease_expires_at,
    stopped_at = NULL;

-- name: Heartbeat :one
-- Heartbeat renews an executor's lease. It returns no row when the executor was declared
-- dead meanwhile (its workflows are being taken over): it must stop running them.
UPDATE wfgen.executors
SET heartbeat_at = now(), lease_expires_at = now() + sqlc.arg(lease_ms)::bigint * interval '1 millisecond'
WHERE id = @id AND stopped_at IS NULL
RETURNING id;

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

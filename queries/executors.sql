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

-- name: UpsertQueue :exec
-- UpsertQueue records a queue's configuration as a starting worker declares it.
INSERT INTO wfgen.queues (name, concurrency, rate_limit, rate_period_ms, partition_concurrency, updated_at)
VALUES (@name, @concurrency, @rate_limit, @rate_period_ms, @partition_concurrency, now())
ON CONFLICT (name) DO UPDATE
SET concurrency = excluded.concurrency,
    rate_limit = excluded.rate_limit,
    rate_period_ms = excluded.rate_period_ms,
    partition_concurrency = excluded.partition_concurrency,
    updated_at = now();

-- name: LockQueue :exec
-- LockQueue serializes the dequeuers of a queue with global limits until their transaction
-- ends. Their counts must be read by later statements of the transaction: a statement's
-- snapshot is taken before it waits for the lock.
SELECT name FROM wfgen.queues WHERE name = @name FOR UPDATE;

-- name: CountRunning :one
SELECT count(*) FROM wfgen.workflows WHERE queue = @queue AND state = 'running';

-- name: CountRecentStarts :one
-- CountRecentStarts counts a rate-limited queue's starts within its window, and the time the
-- oldest of them leaves it.
SELECT count(*) AS starts,
       coalesce(min(started_at) + sqlc.arg(period_ms)::bigint * interval '1 millisecond', now())::timestamptz AS frees_at
FROM wfgen.queue_starts
WHERE queue = @queue AND started_at > now() - sqlc.arg(period_ms)::bigint * interval '1 millisecond';

-- name: RecordStarts :exec
-- RecordStarts logs n starts of a rate-limited queue and forgets those out of the window.
WITH forget AS (
    DELETE FROM wfgen.queue_starts
    WHERE queue = @queue AND started_at <= now() - sqlc.arg(period_ms)::bigint * interval '1 millisecond'
)
INSERT INTO wfgen.queue_starts (queue, started_at)
SELECT @queue, now() FROM generate_series(1, @n::int);

-- name: DequeuePartitioned :many
-- DequeuePartitioned is DequeueWorkflows for a queue whose partitions are limited to
-- partition_concurrency running workflows each. It looks at the first scan_limit candidates
-- of partitions below their limit, and takes from each partition no more than it has room
-- for. Callers hold the queue's lock (LockQueue).
WITH candidates AS (
    SELECT q.id, q.partition_key, q.priority, q.available_at, q.seq
    FROM wfgen.workflows q
    WHERE q.queue = @queue
      AND q.state = 'enqueued'
      AND q.available_at <= now()
      AND q.name = ANY(@names::text[])
      AND (q.code_hash IS NULL
           OR (q.name || ':' || q.code_hash) = ANY(@name_hashes::text[])
           OR (q.name || ':*') = ANY(@name_hashes::text[]))
      -- As in DequeueWorkflows: the claimer's lease must be valid now.
      AND EXISTS (SELECT 1 FROM wfgen.executors e
                  WHERE e.id = @executor_id AND e.stopped_at IS NULL AND e.lease_expires_at > clock_timestamp())
      AND (q.partition_key IS NULL OR (
          SELECT count(*) FROM wfgen.workflows r
          WHERE r.queue = @queue AND r.state = 'running' AND r.partition_key = q.partition_key
      ) < @partition_concurrency::int)
    ORDER BY q.priority, q.available_at, q.seq
    LIMIT @scan_limit::int
), ranked AS (
    SELECT c.id, c.partition_key, c.priority, c.available_at, c.seq,
           row_number() OVER (PARTITION BY c.partition_key ORDER BY c.priority, c.available_at, c.seq) AS rank_in_partition,
           (SELECT count(*) FROM wfgen.workflows r
            WHERE r.queue = @queue AND r.state = 'running' AND r.partition_key = c.partition_key) AS running
    FROM candidates c
), chosen AS (
    SELECT ranked.id
    FROM ranked
    WHERE ranked.partition_key IS NULL OR ranked.rank_in_partition + ranked.running <= @partition_concurrency::int
    ORDER BY ranked.priority, ranked.available_at, ranked.seq
    LIMIT @max_count::int
)
UPDATE wfgen.workflows w
SET state = 'running',
    executor_id = @executor_id,
    attempt = w.attempt + 1,
    started_at = coalesce(w.started_at, now()),
    deadline = coalesce(w.deadline, now() + w.timeout_ms * interval '1 millisecond'),
    code_hash = coalesce(w.code_hash, NULLIF((@code_hashes::text[])[array_position(@names::text[], w.name)], '')),
    updated_at = now()
FROM chosen
WHERE w.id = chosen.id
RETURNING w.id, w.name, w.input, w.attempt, w.deadline, w.priority, w.seq;

-- name: QueueDepths :many
-- QueueDepths counts the unfinished workflows of every queue by state; delayed counts the
-- enqueued ones that may not start yet.
SELECT queue, state, count(*) AS workflows,
       count(*) FILTER (WHERE available_at > now()) AS delayed
FROM wfgen.workflows
WHERE state IN ('enqueued', 'running')
GROUP BY queue, state
ORDER BY queue, state;

-- name: Announce :exec
-- Announce sends notifications on the schema's channel, in a transaction of their own that
-- does not wait for its commit to be flushed. A notifying transaction holds a database-wide
-- lock through its commit; here that is short, and the writes being announced committed
-- without it, in groups. A notification lost in a crash only costs a poll.
SELECT set_config('synchronous_commit', 'off', true), pg_notify(@channel::text, payload)
FROM unnest(@payloads::text[]) AS payload;

-- name: Listen :exec
-- Listen subscribes the connection to the schema's notifications (the channel is named like
-- the schema).
LISTEN wfgen;

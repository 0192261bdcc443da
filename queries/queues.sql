-- name: UpsertQueue :exec
-- UpsertQueue records a queue's configuration as a starting worker declares it. When that
-- makes the queue partitioned, its waiting workflows without a partition key get the empty
-- key (the partition without a limit: see InsertWorkflows): those enqueued before any worker
-- declared it partitioned, which a claim would otherwise find only at the queue's head.
-- That reads the queue's waiting workflows once; a queue partitioned already costs nothing.
WITH previous AS (
    SELECT q.partition_concurrency FROM wfgen.queues q WHERE q.name = @name
), upserted AS (
    INSERT INTO wfgen.queues (name, concurrency, rate_limit, rate_period_ms, partition_concurrency, updated_at)
    VALUES (@name, @concurrency, @rate_limit, @rate_period_ms, @partition_concurrency, now())
    ON CONFLICT (name) DO UPDATE
    SET concurrency = excluded.concurrency,
        rate_limit = excluded.rate_limit,
        rate_period_ms = excluded.rate_period_ms,
        partition_concurrency = excluded.partition_concurrency,
        updated_at = now()
    RETURNING name, partition_concurrency
)
UPDATE wfgen.workflows w
SET partition_key = ''
FROM upserted u
WHERE w.queue = u.name AND w.state = 'enqueued' AND w.partition_key IS NULL
  AND u.partition_concurrency > 0
  AND NOT EXISTS (SELECT 1 FROM previous p WHERE p.partition_concurrency > 0);

-- name: LockQueue :exec
-- LockQueue serializes the dequeuers of a queue with global limits until their transaction
-- ends. Their counts must be read by later statements of the transaction: a statement's
-- snapshot is taken before it waits for the lock.
--
-- It also bounds how long the transaction may sit idle (idle_timeout_ms): a dequeuer cut
-- off from the server between two of its statements (a network partition, a frozen VM)
-- would otherwise keep the queue locked, and every replica's dequeues of it waiting, until
-- the server noticed the lost connection, hours later with default TCP keepalives. After
-- the timeout the server ends that session, which releases the lock.
--
-- The runtime sends HotStatementSettings before it, in the same round trip: the claim and
-- the counts after it run their generic plans, without JIT.
WITH bounded AS (
    SELECT set_config('idle_in_transaction_session_timeout', sqlc.arg(idle_timeout_ms)::bigint::text, true),
           -- The claim commits asynchronously, as DequeueWorkflows says.
           set_config('synchronous_commit', 'off', true)
)
SELECT q.name FROM wfgen.queues q, bounded WHERE q.name = @name FOR UPDATE OF q;

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
-- partition_concurrency running workflows each. Callers hold the queue's lock (LockQueue).
--
-- It reads the first scan_limit available workflows in queue order (head), walking the
-- queue's priorities one index probe each as DequeueWorkflows does. When those are all
-- there is, or hold max_count that may start, it takes from them. Otherwise the head may be
-- full of partitions at their limit, with workflows of other partitions behind, so it also
-- visits every partition with waiting workflows, one probe each in workflows_partitions,
-- and takes the first workflows of each partition below its limit (tails). Either way it
-- reads a bounded part of the queue: a partition at its limit costs one probe however many
-- of its workflows wait. From the candidates it takes, in queue order, no more from a
-- partition than it has room for.
--
-- A workflow enqueued without a key into a partitioned queue has the empty key
-- (InsertWorkflows), whose partition has no limit, so that the visit finds such workflows
-- behind any backlog in one probe too. A workflow with no key at all (NULL: enqueued while
-- no worker had declared the queue partitioned yet) is not capped either, but is found only
-- in the head.
WITH RECURSIVE lease AS (
    -- As in DequeueWorkflows: the lease of the claimer must be valid now.
    SELECT 1 AS valid FROM wfgen.executors e
    WHERE e.id = @executor_id AND e.stopped_at IS NULL AND e.lease_expires_at > clock_timestamp()
), running AS (
    -- Bounded by the slots of the queue across all executors.
    SELECT r.partition_key, count(*)::int AS n
    FROM wfgen.workflows r
    WHERE r.queue = @queue AND r.state = 'running' AND r.partition_key IS NOT NULL
    GROUP BY r.partition_key
), priorities AS (
    (SELECT p.priority
     FROM wfgen.workflows p
     WHERE p.queue = @queue AND p.state = 'enqueued'
     ORDER BY p.priority
     LIMIT 1)
    UNION ALL
    SELECT (SELECT p.priority
            FROM wfgen.workflows p
            WHERE p.queue = @queue AND p.state = 'enqueued' AND p.priority > pr.priority
            ORDER BY p.priority
            LIMIT 1)
    FROM priorities pr
    WHERE pr.priority IS NOT NULL
), head AS (
    SELECT c.id, c.partition_key, c.priority, c.available_at, c.seq
    FROM priorities pr
    CROSS JOIN LATERAL (
        SELECT q.id, q.partition_key, q.priority, q.available_at, q.seq
        FROM wfgen.workflows q
        WHERE q.queue = @queue
          AND q.state = 'enqueued'
          AND q.priority = pr.priority
          AND q.available_at <= now()
          AND q.name = ANY(@names::text[])
          AND (q.code_hash IS NULL
               OR (q.name || ':' || q.code_hash) = ANY(@name_hashes::text[])
               OR (q.name || ':*') = ANY(@name_hashes::text[]))
        ORDER BY q.available_at, q.seq
        LIMIT @scan_limit::int
    ) c
    WHERE pr.priority IS NOT NULL
    LIMIT @scan_limit::int
), head_ranked AS (
    SELECT h.partition_key,
           row_number() OVER (PARTITION BY h.partition_key ORDER BY h.priority, h.available_at, h.seq) AS rank_in_partition
    FROM head h
), partitions AS (
    -- Only when the head is full and holds fewer than max_count that may start.
    -- Enqueued as a range of one value, as workflows_partitions says it: see there.
    (SELECT p.partition_key AS key
     FROM wfgen.workflows p
     WHERE p.queue = @queue AND p.state >= 'enqueued' AND p.state <= 'enqueued' AND p.partition_key IS NOT NULL
       AND (SELECT count(*) FROM head) >= @scan_limit::int
       AND (SELECT count(*) FROM head_ranked hr LEFT JOIN running ru ON ru.partition_key = hr.partition_key
            WHERE hr.partition_key IS NULL OR hr.partition_key = ''
               OR hr.rank_in_partition + coalesce(ru.n, 0) <= @partition_concurrency::int) < @max_count::int
     ORDER BY p.partition_key
     LIMIT 1)
    UNION ALL
    SELECT (SELECT p.partition_key
            FROM wfgen.workflows p
            WHERE p.queue = @queue AND p.state >= 'enqueued' AND p.state <= 'enqueued' AND p.partition_key IS NOT NULL
              AND p.partition_key > pt.key
            ORDER BY p.partition_key
            LIMIT 1)
    FROM partitions pt
    WHERE pt.key IS NOT NULL
), tails AS (
    -- Up to partition_concurrency of each partition below its limit (ranked below takes
    -- no more than its room), and up to max_count of the partition '', which has none.
    SELECT c.id, c.partition_key, c.priority, c.available_at, c.seq
    FROM partitions pt
    LEFT JOIN running ru ON ru.partition_key = pt.key
    CROSS JOIN LATERAL (
        SELECT q.id, q.partition_key, q.priority, q.available_at, q.seq
        FROM wfgen.workflows q
        WHERE q.queue = @queue
          AND q.state >= 'enqueued' AND q.state <= 'enqueued'
          -- The partition's key as a range of one value too, and ordered by it first, as
          -- workflows_partitions is: with an equality the planner drops the key from the
          -- order, and a plan through the dequeue index walked the whole queue for one
          -- partition (8,954 buffers in the plans test, against 89).
          AND q.partition_key >= pt.key AND q.partition_key <= pt.key
          AND q.available_at <= now()
          AND q.name = ANY(@names::text[])
          AND (q.code_hash IS NULL
               OR (q.name || ':' || q.code_hash) = ANY(@name_hashes::text[])
               OR (q.name || ':*') = ANY(@name_hashes::text[]))
        ORDER BY q.partition_key, q.priority, q.available_at, q.seq
        LIMIT CASE WHEN pt.key = '' THEN @max_count::int ELSE @partition_concurrency::int END
    ) c
    WHERE pt.key IS NOT NULL AND (pt.key = '' OR coalesce(ru.n, 0) < @partition_concurrency::int)
), candidates AS (
    SELECT h.id, h.partition_key, h.priority, h.available_at, h.seq FROM head h
    UNION
    SELECT t.id, t.partition_key, t.priority, t.available_at, t.seq FROM tails t
), ranked AS (
    SELECT c.id, c.partition_key, c.priority, c.available_at, c.seq,
           row_number() OVER (PARTITION BY c.partition_key ORDER BY c.priority, c.available_at, c.seq) AS rank_in_partition,
           coalesce(ru.n, 0) AS running
    FROM candidates c
    LEFT JOIN running ru ON ru.partition_key = c.partition_key
), chosen AS (
    SELECT ranked.id
    FROM ranked
    WHERE (ranked.partition_key IS NULL OR ranked.partition_key = '' OR ranked.rank_in_partition + ranked.running <= @partition_concurrency::int)
      AND EXISTS (SELECT 1 FROM lease)
    ORDER BY ranked.priority, ranked.available_at, ranked.seq
    LIMIT @max_count::int
)
UPDATE wfgen.workflows w
SET state = 'running',
    executor_id = @executor_id,
    attempt = w.attempt + 1,
    claim_token = @claim_token,
    started_at = coalesce(w.started_at, now()),
    deadline = coalesce(w.deadline, now() + w.timeout_ms * interval '1 millisecond'),
    code_hash = coalesce(w.code_hash, NULLIF((@code_hashes::text[])[array_position(@names::text[], w.name)], '')),
    waiting_for = NULL,
    updated_at = now()
-- By primary key, whatever the planner guesses of how many were chosen (as in
-- DequeueWorkflows).
WHERE w.id = ANY(ARRAY(SELECT chosen.id FROM chosen))
RETURNING w.id, w.name, w.input, w.attempt, w.deadline, w.priority, w.seq, w.queue, w.available_at, w.trace_context;

-- name: QueueDepths :many
-- QueueDepths counts the unfinished workflows of every queue by state; delayed counts the
-- enqueued ones that may not start yet, unrunnable those that may start but that no live
-- executor can run: none registered their name, or none with the code hash they started
-- under. It groups by name and code hash first, so that it asks that once per group.
WITH groups AS (
    SELECT queue, state, name, code_hash, count(*) AS workflows,
           count(*) FILTER (WHERE available_at > now()) AS delayed
    FROM wfgen.workflows
    WHERE state IN ('enqueued', 'running')
    GROUP BY queue, state, name, code_hash
)
SELECT g.queue, g.state, sum(g.workflows)::bigint AS workflows, sum(g.delayed)::bigint AS delayed,
       coalesce(sum(g.workflows - g.delayed) FILTER (WHERE g.state = 'enqueued' AND NOT EXISTS (
           SELECT 1 FROM wfgen.live_executor_workflows r
           WHERE r.name = g.name AND (g.code_hash IS NULL OR r.code_hash IS NULL OR r.code_hash = g.code_hash))), 0)::bigint AS unrunnable
FROM groups g
GROUP BY g.queue, g.state
ORDER BY g.queue, g.state;

-- name: UnrunnableWorkflows :many
-- UnrunnableWorkflows looks at the first scan_limit workflows that may start in each of the
-- given queues, in queue order, and counts those that no live executor can run (as in
-- QueueDepths) by name and code hash (empty for none); name_registered says whether a live
-- executor registered the name with another hash. No executor claims such workflows, so
-- they stay at the head of their queue, where this finds them without reading the backlog.
--
-- As the claims do, it walks each queue's distinct priorities and reads each only up to its
-- first workflow not yet available, so the workflows waiting in the queue cost it nothing.
WITH RECURSIVE priorities AS (
    SELECT q.queue,
           (SELECT p.priority FROM wfgen.workflows p
            WHERE p.queue = q.queue AND p.state = 'enqueued'
            ORDER BY p.priority LIMIT 1) AS priority
    FROM unnest(@queues::text[]) AS q(queue)
    UNION ALL
    SELECT pr.queue,
           (SELECT p.priority FROM wfgen.workflows p
            WHERE p.queue = pr.queue AND p.state = 'enqueued' AND p.priority > pr.priority
            ORDER BY p.priority LIMIT 1)
    FROM priorities pr
    WHERE pr.priority IS NOT NULL
), heads AS (
    SELECT h.queue, h.name, h.code_hash,
           row_number() OVER (PARTITION BY h.queue ORDER BY h.priority, h.available_at, h.seq) AS position
    FROM priorities pr
    CROSS JOIN LATERAL (
        SELECT w.queue, w.name, w.code_hash, w.priority, w.available_at, w.seq
        FROM wfgen.workflows w
        WHERE w.queue = pr.queue AND w.state = 'enqueued' AND w.priority = pr.priority
          AND w.available_at <= now()
        ORDER BY w.available_at, w.seq
        LIMIT @scan_limit::int
    ) h
    WHERE pr.priority IS NOT NULL
)
SELECT c.queue, c.name, coalesce(c.code_hash, '')::text AS code_hash, count(*) AS workflows,
       EXISTS (SELECT 1 FROM wfgen.live_executor_workflows r WHERE r.name = c.name) AS name_registered
FROM heads c
WHERE c.position <= @scan_limit::int
  AND NOT EXISTS (
    SELECT 1 FROM wfgen.live_executor_workflows r
    WHERE r.name = c.name AND (c.code_hash IS NULL OR r.code_hash IS NULL OR r.code_hash = c.code_hash))
GROUP BY c.queue, c.name, c.code_hash
ORDER BY c.queue, c.name, c.code_hash;

-- name: Announce :exec
-- Announce sends notifications on the schema's channel, in a transaction of their own that
-- does not wait for its commit to be flushed. A notifying transaction holds a database-wide
-- lock through its commit; here that is short, and the writes being announced committed
-- without it, in groups. A notification lost in a crash only costs a poll. An Enqueue that
-- finds its client idle sends it in the round trip of its insert, after the insert's
-- commit (dbschema.CommitThen); the announcer sends the rest.
SELECT set_config('synchronous_commit', 'off', true), pg_notify(@channel::text, payload)
FROM unnest(@payloads::text[]) AS payload;

-- name: Listen :exec
-- Listen subscribes the connection to the schema's notifications (the channel is named like
-- the schema).
LISTEN wfgen;

-- name: HotStatementSettings :exec
-- HotStatementSettings sets how the rest of the transaction is planned. The runtime sends
-- it in the same round trip (dbschema.Prefixed) as each statement of its hot path: claims
-- (a limited queue's LockQueue, for its whole transaction), checkpoint batches, the
-- histories of resumed workflows, results read by ID, and the look at queues' heads
-- (Client.hot in runtime/wf says which).
--
-- JIT off: over large tables the planner estimates a claim's plan dear enough for JIT (its
-- estimate of the available workflows cannot see that most enqueued ones are not due yet),
-- and JIT compiles it anew at every execution, 300 to 500 ms for a statement that runs in a
-- fraction of a millisecond.
--
-- Generic plans: PostgreSQL plans a prepared statement anew at each execution (a custom
-- plan) as long as the generic plan it keeps is estimated dearer than the custom ones were,
-- and for the short arrays of a lightly loaded worker (a checkpoint batch of one step, a
-- claim of one workflow) it always is. Planning these statements costs more than running
-- them: 1.3 ms against 0.2 ms per checkpoint batch of one step, 0.8 ms against 0.8 ms per
-- claim while sleepers wake (dev server). Forced, they are planned once per connection.
--
-- No sequential scans, no merge joins: a connection makes its generic plan at the
-- statement's first execution, perhaps on a new installation's nearly empty tables, and
-- keeps it until an ANALYZE of the table; a plan that read a table of ten pages whole
-- would read it whole at a million rows. Every row these statements touch is reached by
-- key, so with those two off the planner has nothing cheaper left than the key lookups,
-- however small the tables were (TestGenericPlansMadeOnEmptyTablesStillReachRowsByKey).
SELECT set_config('jit', 'off', true), set_config('plan_cache_mode', 'force_generic_plan', true),
       set_config('enable_seqscan', 'off', true), set_config('enable_mergejoin', 'off', true);

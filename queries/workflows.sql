-- name: InsertWorkflows :many
-- InsertWorkflows enqueues (state 'enqueued') or starts (state 'running', owned by
-- executor_id) a batch of workflows in one statement. A row whose ID, or whose deduplication
-- ID in its queue, is taken is skipped and missing from the result: the caller then reads
-- what is there.
--
-- A workflow without a partition key gets the empty key in a queue that a worker declared
-- partitioned (the queues table): the empty key's partition has no limit, and a claim finds
-- its workflows in one index probe behind any backlog (DequeuePartitioned).
--
-- With notify, enqueued workflows notify the schema's channel once per queue, with the delay
-- until the first of them may start; the notification is delivered when the transaction
-- commits. That is for enqueues in a caller's transaction, whose commit only the caller
-- sees. A transaction that notifies holds a database-wide lock through its commit, which
-- serializes concurrent committers: other enqueues announce afterwards (Announce).
WITH inserted AS (
    INSERT INTO wfgen.workflows (
        id, name, state, queue, priority, partition_key, dedup_id, input, max_recoveries,
        timeout_ms, available_at, executor_id, attempt, started_at, deadline, code_hash,
        parent_id, steps_expected, trace_context
    )
    SELECT i.id, i.name, @state::text, i.queue, i.priority,
           coalesce(NULLIF(i.partition_key, ''),
                    CASE WHEN i.queue = ANY(ARRAY(SELECT q.name FROM wfgen.queues q WHERE q.partition_concurrency > 0)) THEN '' END),
           NULLIF(i.dedup_id, ''), i.input::jsonb, i.max_recoveries, NULLIF(i.timeout_ms, 0),
           now() + i.delay_ms * interval '1 millisecond',
           -- Only a started workflow has an owner; an enqueued one gets its claimer's ID.
           CASE WHEN @state::text = 'running' THEN NULLIF(@executor_id::text, '') END,
           CASE WHEN @state::text = 'running' THEN 1 ELSE 0 END,
           CASE WHEN @state::text = 'running' THEN now() END,
           CASE WHEN @state::text = 'running' AND i.timeout_ms > 0
                THEN now() + i.timeout_ms * interval '1 millisecond' END,
           -- A started workflow runs this code now; an enqueued one gets the hash of the
           -- code that claims it.
           CASE WHEN @state::text = 'running' THEN NULLIF(@code_hash::text, '') END,
           NULLIF(@parent_id::text, ''), NULLIF(i.steps_expected, 0), NULLIF(@trace_context::text, '')
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
               unnest(@delays_ms::bigint[])     AS delay_ms,
               unnest(@steps_expected::int[])   AS steps_expected
    ) i
    -- A direct start makes this executor the owner: only while its lease is valid.
    WHERE @state::text <> 'running'
       OR EXISTS (SELECT 1 FROM wfgen.executors e
                  WHERE e.id = NULLIF(@executor_id::text, '') AND e.stopped_at IS NULL
                    AND e.lease_expires_at > clock_timestamp())
    ON CONFLICT DO NOTHING
    RETURNING id, queue, available_at
), notified AS (
    SELECT count(pg_notify(@channel::text, json_build_object(
               'k', 'e' /* notifier.KindEnqueued */, 'q', q.queue,
               'd', greatest(0, (extract(epoch FROM q.first_available - now()) * 1000)::bigint))::text)) AS n
    FROM (SELECT queue, min(available_at) AS first_available FROM inserted GROUP BY queue) q
    WHERE @state::text = 'enqueued' AND @notify::bool
)
SELECT inserted.id FROM inserted CROSS JOIN notified;

-- name: GetWorkflow :one
-- GetWorkflow reads a workflow's status; due says it is enqueued and may start now.
SELECT id, name, state, queue, priority, partition_key, dedup_id, error, code_hash, executor_id,
       attempt, recoveries, max_recoveries, deadline, created_at, available_at, started_at,
       updated_at, completed_at, (state = 'enqueued' AND available_at <= now())::bool AS due,
       waiting_for, steps_expected, parent_id,
       (SELECT count(*) FROM wfgen.steps s WHERE s.workflow_id = w.id)::int AS steps_done
FROM wfgen.workflows w
WHERE id = @id;

-- name: FindDuplicate :one
-- FindDuplicate names the workflow that made an insert of (id, queue, dedup_id) conflict.
-- same_input compares its stored input with the given one as jsonb values (key order and
-- spacing do not matter). It is true when the input is empty: the caller did not ask.
SELECT id, name, state, dedup_id,
       coalesce(input = NULLIF(@input::text, '')::jsonb, true)::bool AS same_input
FROM wfgen.workflows
WHERE id = @id
   OR (queue = @queue AND dedup_id = NULLIF(@dedup_id::text, '') AND state IN ('enqueued', 'running'))
ORDER BY (id = @id) DESC
LIMIT 1;

-- name: GetResults :many
-- GetResults returns the state of every one of the given workflows that exists, with the
-- output or error of those that are final. An ID it does not return belongs to no workflow
-- (or to one enqueued in a transaction that has not committed yet, which is invisible here).
SELECT id, name, state, output, error
FROM wfgen.workflows
WHERE id = ANY(@ids::text[]);

-- name: CancelWorkflow :one
-- CancelWorkflow ends an enqueued or running workflow, and its unfinished descendants (the
-- child workflows it started, theirs, and so on). The executors running them are told
-- through the schema's channel and stop them at their next step; they could not complete
-- them any more anyway (completions require state 'running'). A parent suspended until a
-- child of it completes is woken. It returns the executor that was running the workflow
-- itself.
WITH RECURSIVE tree AS (
    SELECT @id::text AS id
    UNION
    SELECT c.id FROM wfgen.workflows c JOIN tree t ON c.parent_id = t.id
    WHERE c.parent_id IS NOT NULL AND c.state IN ('enqueued', 'running')
), cancelled AS (
    UPDATE wfgen.workflows w
    SET state = 'cancelled',
        error = CASE WHEN w.id = @id::text THEN @error::jsonb ELSE @child_error::jsonb END,
        completed_at = now(), updated_at = now()
    FROM tree
    WHERE w.id = tree.id AND w.state IN ('enqueued', 'running')
    RETURNING w.id, w.executor_id, w.parent_id, w.attempt
), parents AS MATERIALIZED (
    -- Locked, and tested in their locked version, as in WriteCheckpoints.
    SELECT p.id, p.state, p.waiting_for
    FROM wfgen.workflows p
    WHERE p.id IN (SELECT parent_id FROM cancelled WHERE parent_id IS NOT NULL)
      AND p.id NOT IN (SELECT id FROM cancelled) -- cancelled with its child: nothing to wake
    ORDER BY p.id
    FOR NO KEY UPDATE OF p
), woken AS (
    UPDATE wfgen.workflows p
    SET available_at = now(), updated_at = now()
    FROM parents l
    WHERE p.id = l.id AND l.state = 'enqueued' AND l.waiting_for = 'child'
    RETURNING p.queue
), notified AS (
    SELECT count(pg_notify(@channel::text, json_build_object('k', 'x' /* notifier.KindCancelled */, 'id', id, 'x', executor_id, 'a', attempt)::text)) AS n
    FROM cancelled
), notified_woken AS (
    SELECT count(pg_notify(@channel::text, json_build_object('k', 'e' /* notifier.KindEnqueued */, 'q', q.queue, 'd', 0)::text)) AS n
    FROM (SELECT DISTINCT queue FROM woken) q
)
SELECT cancelled.executor_id FROM cancelled CROSS JOIN notified CROSS JOIN notified_woken
WHERE cancelled.id = @id::text;

-- name: DequeueWorkflows :many
-- DequeueWorkflows claims up to max_count available workflows of a queue for an executor,
-- in queue order (priority, then available_at, then enqueue order), skipping rows other
-- dequeuers hold. It claims only workflows the executor has registered, and a workflow that
-- already ran only on an executor registered with the same code hash (name_hashes holds
-- 'name:hash', or 'name:*' for a registration without a hash). Each claim increments the
-- workflow's attempt and gives it a new claim_token, the fencing token every later write of
-- the claimer carries with the attempt.
--
-- The claim commits asynchronously (synchronous_commit off): a server crash may lose it,
-- and then the workflow is claimed again under the same attempt, but never under the same
-- claim_token, so nothing the lost claim's execution writes is accepted. Its first
-- acknowledged write proves the claim durable: that commit's WAL flush covers the claim's.
--
-- Sleeping and delayed workflows wait in the same index as available ones, after them
-- within their priority. One ordered scan over the whole queue would read every one of them
-- whenever fewer than max_count are available (an idle worker's every claim), so the
-- claim walks the queue's distinct priorities instead, one index probe each (a loose index
-- scan, lowest first), and reads each priority only up to its first workflow not yet
-- available. The nested loop keeps the priorities' order, and the outer LIMIT stops it (and
-- its row locks) as soon as max_count are claimed.
--
-- A claim makes its rows' entries in the dequeue index dead, and only VACUUM removes them:
-- until it runs (after a fifth of a large table has changed, by default), every scan from
-- the head of a busy queue walks the entries of every workflow claimed since. With 200,000
-- of them a claim of 50 took 30 ms instead of 1 ms. So a worker that keeps finding a full
-- batch passes the queue position of the last workflow it claimed (after_priority,
-- after_at, after_seq): its priority is read from just after that position, and lower
-- priorities from their head. The zero position (0, the zero time, 0) reads every priority
-- from its head. The caller reads from the head again at least once per poll interval, and
-- whenever a claim finds fewer than it asked for, so that a workflow that becomes available
-- behind the position (handed back keeping its place, or enqueued by a transaction that
-- began before the position's workflow became available) waits for that read at most.
WITH RECURSIVE priorities AS (
    (SELECT least(
        -- The lowest priority below the position's, from its head, and the position's own
        -- priority (or the next) from just after the position.
        (SELECT p.priority
         FROM wfgen.workflows p
         WHERE p.queue = @queue AND p.state = 'enqueued' AND p.priority < @after_priority::int
         ORDER BY p.priority
         LIMIT 1),
        (SELECT p.priority
         FROM wfgen.workflows p
         WHERE p.queue = @queue AND p.state = 'enqueued'
           AND (p.priority, p.available_at, p.seq) > (@after_priority::int, @after_at::timestamptz, @after_seq::bigint)
         ORDER BY p.priority, p.available_at, p.seq
         LIMIT 1)) AS priority)
    UNION ALL
    SELECT (SELECT p.priority
            FROM wfgen.workflows p
            WHERE p.queue = @queue AND p.state = 'enqueued' AND p.priority > pr.priority
            ORDER BY p.priority
            LIMIT 1)
    FROM priorities pr
    WHERE pr.priority IS NOT NULL
), claimed AS (
    SELECT c.ctid
    FROM priorities pr
    CROSS JOIN LATERAL (
        SELECT q.ctid
        FROM wfgen.workflows q
        WHERE q.queue = @queue
          AND q.state = 'enqueued'
          AND q.priority = pr.priority
          -- After the position in its priority: a bound of the index scan, which starts there.
          AND (q.available_at, q.seq) > (CASE WHEN pr.priority = @after_priority::int THEN @after_at::timestamptz ELSE '-infinity' END,
                                         CASE WHEN pr.priority = @after_priority::int THEN @after_seq::bigint ELSE 0 END)
          AND q.available_at <= now()
          AND q.name = ANY(@names::text[])
          AND (q.code_hash IS NULL
               OR (q.name || ':' || q.code_hash) = ANY(@name_hashes::text[])
               OR (q.name || ':*') = ANY(@name_hashes::text[]))
          -- The claimer's lease must be valid now (at the claim itself, not its transaction's
          -- start, which may lie before a lock wait): an executor whose lease expired may have
          -- had its workflows taken over, and must not take more.
          AND EXISTS (SELECT 1 FROM wfgen.executors e
                      WHERE e.id = @executor_id AND e.stopped_at IS NULL AND e.lease_expires_at > clock_timestamp())
        ORDER BY q.available_at, q.seq
        LIMIT @max_count
        FOR UPDATE SKIP LOCKED
    ) c
    WHERE pr.priority IS NOT NULL
    LIMIT @max_count
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
-- By the row versions the claim locked (a TID scan: no second probe of the primary key per
-- workflow; a locked row cannot move before this statement updates it), whatever the
-- planner guesses of how many were claimed: a generic plan takes LIMIT @max_count for
-- thousands and would hash-join them with every workflow.
WHERE w.ctid = ANY(ARRAY(SELECT c.ctid FROM claimed c))
  -- The claim commits without waiting for its WAL flush: see the claim_token column.
  AND (SELECT set_config('synchronous_commit', 'off', true)) IS NOT NULL
RETURNING w.id, w.name, w.input, w.attempt, w.deadline, w.priority, w.seq, w.queue, w.available_at, w.trace_context;

-- name: RecoverWorkflows :many
-- RecoverWorkflows hands the running workflows of stopped executors back to their queues
-- (keeping their place), or marks them dead when they were recovered max_recoveries times
-- already: a workflow that keeps killing its executors must not crash-loop the fleet.
--
-- With an executor_id, it recovers that executor's workflows (a restarted process recovering
-- its predecessor's). Without, it marks the executors whose lease expired as stopped and
-- recovers the workflows of stopped or vanished executors; every executor runs it
-- periodically, and concurrent runs are harmless (a row is taken once).
WITH expired AS (
    UPDATE wfgen.executors
    SET stopped_at = now()
    WHERE @executor_id::text = '' AND stopped_at IS NULL AND lease_expires_at < now()
    RETURNING id
), recovered AS (
    UPDATE wfgen.workflows w
    SET state = CASE WHEN w.recoveries >= w.max_recoveries THEN 'dead' ELSE 'enqueued' END,
        recoveries = CASE WHEN w.recoveries >= w.max_recoveries THEN w.recoveries ELSE w.recoveries + 1 END,
        executor_id = CASE WHEN w.recoveries >= w.max_recoveries THEN w.executor_id END,
        error = CASE WHEN w.recoveries >= w.max_recoveries
                     THEN jsonb_build_object('kind', 'dead', 'message',
                          format('given up: its executor stopped (crash, kill or lost lease) during each of its %s runs, and MaxRecoveries is %s',
                                 w.recoveries + 1, w.max_recoveries))
                END,
        completed_at = CASE WHEN w.recoveries >= w.max_recoveries THEN now() END,
        updated_at = now()
    WHERE w.state = 'running'
      AND CASE WHEN @executor_id::text <> '' THEN w.executor_id = @executor_id::text
               ELSE w.executor_id IN (SELECT id FROM expired)
                    OR NOT EXISTS (SELECT 1 FROM wfgen.executors e
                                   WHERE e.id = w.executor_id AND e.stopped_at IS NULL)
          END
    RETURNING w.id, w.state, w.queue, w.executor_id
), notified AS (
    SELECT count(pg_notify(@channel::text, json_build_object('k', 'e' /* notifier.KindEnqueued */, 'q', q.queue, 'd', 0)::text)) AS n
    FROM (SELECT DISTINCT queue FROM recovered WHERE state = 'enqueued') q
)
SELECT recovered.id, recovered.state, recovered.executor_id FROM recovered CROSS JOIN notified;

-- name: ReleaseWorkflows :exec
-- ReleaseWorkflows hands workflows a stopping executor interrupted back to their queues at
-- once, without counting a recovery: another replica resumes them without waiting for the
-- lease to expire. It is fenced like every write of an owner: a workflow is released only
-- while it runs under the attempt the executor claimed it with (reached by primary key,
-- the state compared with an input value so that no partial index drives the plan).
WITH input AS MATERIALIZED (
    SELECT unnest(@ids::text[]) AS id, unnest(@attempts::int[]) AS attempt, unnest(@claim_tokens::bigint[]) AS claim_token,
           'running'::text AS owned_state
), released AS (
    UPDATE wfgen.workflows w
    SET state = 'enqueued', executor_id = NULL, updated_at = now()
    FROM input i
    WHERE w.id = i.id AND w.attempt = i.attempt AND w.claim_token = i.claim_token AND w.state = i.owned_state
      AND w.executor_id = @executor_id::text
    RETURNING w.queue
), notified AS (
    SELECT count(pg_notify(@channel::text, json_build_object('k', 'e' /* notifier.KindEnqueued */, 'q', q.queue, 'd', 0)::text)) AS n
    FROM (SELECT DISTINCT queue FROM released) q
)
SELECT n FROM notified;

-- name: LoadSteps :many
-- LoadSteps reads every checkpoint of a workflow, for replay.
SELECT step_id, name, output, error
FROM wfgen.steps
WHERE workflow_id = @workflow_id
ORDER BY step_id;

-- name: LoadStepsOf :many
-- LoadStepsOf is LoadSteps for the workflows one claim took to resume them: one round trip
-- for all their histories instead of one each. Each history is read by key, one lookup
-- per workflow: as one filter, workflow_id = ANY(ids), a table without statistics yet
-- (a new installation's, before autovacuum's first ANALYZE) looked as if a claim's hundred
-- workflows held half of it, and was read whole (2.3 ms a claim with 20,000 steps, against
-- 0.28 ms by key, in the benchmark's waits phase, and growing with the table). OFFSET 0
-- keeps the lateral subquery from being flattened into a join, which the planner then
-- made a hash join over the whole table.
SELECT s.workflow_id, s.step_id, s.name, s.output, s.error
FROM unnest(@workflow_ids::text[]) AS w(id)
CROSS JOIN LATERAL (
    SELECT workflow_id, step_id, name, output, error
    FROM wfgen.steps
    WHERE workflow_id = w.id
    OFFSET 0
) s
ORDER BY s.workflow_id, s.step_id;

-- name: ListSteps :many
SELECT * FROM wfgen.steps WHERE workflow_id = @workflow_id ORDER BY step_id;

-- name: WriteCheckpoints :many
-- WriteCheckpoints is the group commit: it records the step checkpoints and the workflow
-- completions of many executions in one statement (one round trip, one commit).
--
-- Every write is fenced: it applies only while its workflow is running under the attempt the
-- writer claimed it with (the fencing token, incremented by every claim). A step's workflow
-- row is locked in share mode as it is checked, so that an ownership change (a cancel, a
-- takeover, a hand-back, a new claim) either commits before this statement reads the row and
-- refuses the write, or waits for this statement's commit. A completion applies only under
-- the same fence, and only if the step it follows (after_step, -1 for none) was inserted by
-- this same statement.
--
-- Waiting workflows are suspended in it too, fenced as completions are: a thousand
-- workflows going to sleep together cost a statement, not a thousand commits. A Recv's
-- suspension (suspend_topics holds its topic, an empty one for a sleep) applies only if no
-- message of the topic is waiting, and an Await's (waiting for 'child', its children in
-- await_parent_ids and await_child_ids) only if one of its children is not final, neither
-- before this statement nor by a completion in it; both only in a batch that
-- LockSuspending began (see waiting).
--
-- It returns the steps it inserted apart from carried ones ('s'), the workflows it completed
-- with their attempt ('c': a carried step was inserted with its completion), the suspended
-- parents their children's completion woke ('w'), the workflows it suspended ('z') and the
-- Recvs and Awaits it did not suspend because what they wait for is there ('m'), the
-- second to fourth with their queues for the announcements the caller sends after the
-- commit: no notification here, it would serialize these commits, see Announce. A step
-- missing from the result was refused: its ID was recorded already (or, for a Recv's, its
-- message was consumed already), or its attempt no longer owns the workflow; StepOwners
-- tells which.
--
-- A completion may carry its execution's last step (done_carries_step, the step's fields in
-- done_step_*, its ID in after_step), when that step went into the same batch and consumes
-- no message: the step is then inserted only if the completion applied, its fence being the
-- completion's own row lock, so that the most common checkpoint (a workflow's last step and
-- its end) costs one probe of the workflow's row, not a share lock and then an update. A
-- carried step that conflicts with a recorded one fails the statement (the writer then
-- writes each checkpoint alone, and the execution replays what was recorded); it cannot,
-- since only the owner's attempt writes its steps and each step is submitted once.
--
-- A Recv's step consumes the message it records (step_consumes holds its seq, 0 for every
-- other step): the step is inserted only if the message is still unconsumed, locked as it
-- is checked, and the message is marked consumed by the step in the same statement, so
-- that a message is delivered exactly once: after a crash either both are written (the
-- replay returns the recorded message) or neither (the message waits for the next Recv).
-- Under the fence nothing else consumes the workflow's messages meanwhile; the check is
-- there so that the two writes can never part.
--
-- Rows are reached through their primary key only: the fence compares the state with a
-- value of the input rather than a constant, so that no partial index on state can drive
-- the plan, however few running rows the statistics claim.
WITH step_input AS (
    SELECT unnest(@step_workflow_ids::text[])        AS workflow_id,
           unnest(@step_ids::int[])                  AS step_id,
           unnest(@step_names::text[])               AS name,
           unnest(@step_outputs::text[])             AS output,
           unnest(@step_errors::text[])              AS error,
           unnest(@step_attempts::int[])             AS attempt,
           unnest(@step_claim_tokens::bigint[])      AS claim_token,
           unnest(@step_tries::int[])                AS tries,
           unnest(@step_started_at::timestamptz[])   AS started_at,
           unnest(@step_consumes::bigint[])          AS consumes,
           NULL::timestamptz                         AS unconsumed,
           'running'::text                           AS owned_state
), consumable AS MATERIALIZED (
    -- The messages that Recv steps consume, locked as the UPDATE below locks them, while
    -- unconsumed (tested in their locked version). They are reached by primary key: the
    -- test compares consumed_at with a value of the input rather than IS NULL, so that the
    -- partial index of pending messages, which would read every pending message of the
    -- destination, cannot drive the plan.
    SELECT m.seq
    FROM step_input s
    JOIN wfgen.messages m ON m.seq = s.consumes AND m.destination_id = s.workflow_id
    WHERE s.consumes > 0 AND m.consumed_at IS NOT DISTINCT FROM s.unconsumed
    FOR UPDATE OF m
), inserted AS (
    INSERT INTO wfgen.steps (workflow_id, step_id, name, output, error, attempt, tries, started_at)
    SELECT s.workflow_id, s.step_id, s.name, NULLIF(s.output, '')::json, NULLIF(s.error, '')::jsonb,
           s.attempt, s.tries, s.started_at
    FROM step_input s
    JOIN wfgen.workflows w ON w.id = s.workflow_id AND w.attempt = s.attempt AND w.claim_token = s.claim_token
                          AND w.state = s.owned_state
    WHERE s.consumes = 0 OR s.consumes IN (SELECT seq FROM consumable)
    FOR SHARE OF w
    ON CONFLICT (workflow_id, step_id) DO NOTHING
    RETURNING workflow_id, step_id, attempt
), consumed AS (
    -- The messages of the Recv steps inserted above. The OR keeps the EXISTS a hashed
    -- subplan, as in completed below: pulled up into a join of two CTE scans, whose sizes
    -- the planner cannot know, it became a nested loop, quadratic in the batch (8 ms of an
    -- 11 ms statement at 130 steps).
    UPDATE wfgen.messages m
    SET consumed_at = now(), consumed_step = s.step_id
    FROM step_input s
    WHERE m.seq = s.consumes AND s.consumes > 0
      AND (s.consumes <= 0 OR EXISTS (
          SELECT 1 FROM inserted i WHERE i.workflow_id = s.workflow_id AND i.step_id = s.step_id AND i.attempt = s.attempt))
), done_input AS MATERIALIZED (
    SELECT unnest(@done_ids::text[])        AS id,
           unnest(@done_attempts::int[])    AS attempt,
           unnest(@done_claim_tokens::bigint[]) AS claim_token,
           unnest(@done_states::text[])     AS state,
           unnest(@done_outputs::text[])    AS output,
           unnest(@done_errors::text[])     AS error,
           unnest(@done_after_steps::int[]) AS after_step,
           unnest(@done_carries_step::boolean[])         AS carries_step,
           unnest(@done_step_names::text[])              AS step_name,
           unnest(@done_step_outputs::text[])            AS step_output,
           unnest(@done_step_errors::text[])             AS step_error,
           unnest(@done_step_tries::int[])               AS step_tries,
           unnest(@done_step_started_at::timestamptz[])  AS step_started_at,
           'running'::text                  AS owned_state
), completed AS (
    UPDATE wfgen.workflows w
    SET state = d.state,
        output = NULLIF(d.output, '')::jsonb,
        error = NULLIF(d.error, '')::jsonb,
        completed_at = now(),
        updated_at = now()
    FROM done_input d
    WHERE w.id = d.id
      AND w.attempt = d.attempt
      AND w.claim_token = d.claim_token
      AND w.state = d.owned_state
      AND (d.after_step < 0 OR d.carries_step OR EXISTS (
          SELECT 1 FROM inserted i WHERE i.workflow_id = d.id AND i.step_id = d.after_step))
    RETURNING w.id, w.attempt, w.queue, w.parent_id, d.carries_step, d.after_step, d.step_name,
              d.step_output, d.step_error, d.step_tries, d.step_started_at
), carried AS (
    -- The last steps the completions above carried, under their fence (see above).
    INSERT INTO wfgen.steps (workflow_id, step_id, name, output, error, attempt, tries, started_at)
    SELECT c.id, c.after_step, c.step_name, NULLIF(c.step_output, '')::json, NULLIF(c.step_error, '')::jsonb,
           c.attempt, c.step_tries, c.step_started_at
    FROM completed c
    WHERE c.carries_step
), parents AS MATERIALIZED (
    -- The parents of completed children, locked (in ID order, so that writers of several
    -- processes cannot deadlock on them) as an UPDATE locks them. A parent suspends holding
    -- its row's lock and checks first whether its child is final: either this statement
    -- commits first and the check sees the child final, or the lock hands this statement
    -- the parent's suspended version. The wake-up tests that locked version, never the one
    -- this statement's snapshot saw, which may predate the suspension.
    SELECT p.id, p.state, p.waiting_for
    FROM wfgen.workflows p
    WHERE p.id IN (SELECT parent_id FROM completed WHERE parent_id IS NOT NULL)
    ORDER BY p.id
    FOR NO KEY UPDATE OF p
), woken AS (
    -- A parent suspended until a child completes goes back to running order at once.
    UPDATE wfgen.workflows p
    SET available_at = now(), updated_at = now()
    FROM parents l
    WHERE p.id = l.id AND l.state = 'enqueued' AND l.waiting_for = 'child'
    RETURNING p.id, p.queue
), suspend_input AS MATERIALIZED (
    SELECT unnest(@suspend_ids::text[])                  AS id,
           unnest(@suspend_attempts::int[])              AS attempt,
           unnest(@suspend_claim_tokens::bigint[])       AS claim_token,
           unnest(@suspend_available_at::timestamptz[])  AS available_at,
           unnest(@suspend_waiting_for::text[])          AS waiting_for,
           unnest(@suspend_topics::text[])               AS topic,
           'running'::text                               AS owned_state
), awaited AS MATERIALIZED (
    SELECT unnest(@await_parent_ids::text[]) AS parent_id,
           unnest(@await_child_ids::text[])  AS child_id
), waiting AS MATERIALIZED (
    -- The Recvs (topic set) that must not suspend: a message of their topic is waiting;
    -- and the Awaits whose children are all final. Their rows were locked by
    -- LockSuspending, in an earlier statement of this transaction, so this statement's
    -- snapshot has every message whose send held the lock, and every child's completion
    -- (whose statement locks its parent: see parents). A completion in this statement is
    -- not in its snapshot, and its wake-up (woken) sees the parent not yet suspended: the
    -- check reads completed for those. A child that no longer exists counts as final: the
    -- Await then reads it and says so.
    SELECT s.id, s.attempt
    FROM suspend_input s
    JOIN wfgen.workflows w ON w.id = s.id AND w.attempt = s.attempt AND w.claim_token = s.claim_token
                          AND w.state = s.owned_state
    WHERE (s.topic <> '' AND EXISTS (
              SELECT 1 FROM wfgen.messages m
              WHERE m.destination_id = s.id AND m.topic = s.topic AND m.consumed_at IS NULL))
       OR (s.waiting_for = 'child' AND NOT EXISTS (
              SELECT 1
              FROM awaited a
              JOIN wfgen.workflows c ON c.id = a.child_id
              WHERE a.parent_id = s.id
                AND c.state NOT IN ('succeeded', 'failed', 'cancelled', 'dead')
                AND NOT EXISTS (SELECT 1 FROM completed d WHERE d.id = a.child_id)))
), suspended AS (
    -- The workflow goes back to its queue until available_at (its slot and goroutine are
    -- freed; whichever executor is free when it is due resumes it from its history), and
    -- waiting_for says what else wakes it sooner. Under the same fence, unless what it
    -- waits for is there.
    UPDATE wfgen.workflows w
    SET state = 'enqueued', executor_id = NULL, available_at = s.available_at,
        waiting_for = s.waiting_for, updated_at = now()
    FROM suspend_input s
    WHERE w.id = s.id AND w.attempt = s.attempt AND w.claim_token = s.claim_token AND w.state = s.owned_state
      AND NOT EXISTS (SELECT 1 FROM waiting x WHERE x.id = s.id AND x.attempt = s.attempt)
    RETURNING w.id, w.attempt, w.queue
)
SELECT 's'::text AS kind, workflow_id AS id, step_id, attempt, ''::text AS queue FROM inserted
UNION ALL
SELECT 'c'::text AS kind, id, 0 AS step_id, attempt, queue FROM completed
UNION ALL
SELECT 'w'::text AS kind, id, 0 AS step_id, 0 AS attempt, queue FROM woken
UNION ALL
SELECT 'z'::text AS kind, id, 0 AS step_id, attempt, queue FROM suspended
UNION ALL
SELECT 'm'::text AS kind, id, 0 AS step_id, attempt, ''::text AS queue FROM waiting;

-- name: StepOwners :many
-- StepOwners tells, for workflows whose step checkpoints WriteCheckpoints refused, their
-- state and attempt now: a checkpoint whose attempt still owns its workflow was refused
-- because its step was recorded already; any other was fenced off. An attempt that has lost
-- its workflow never owns it again, so reading this after the write cannot take a fenced
-- checkpoint for a conflict.
SELECT w.id, w.state, w.attempt, w.claim_token
FROM wfgen.workflows w
WHERE w.id = ANY(@ids::text[]);

-- name: GetStep :one
SELECT step_id, name, output, error, attempt
FROM wfgen.steps
WHERE workflow_id = @workflow_id AND step_id = @step_id;

-- name: RecordStepInTx :execrows
-- RecordStepInTx records the checkpoint of a transactional step inside the step's own
-- transaction, so that the step's effects and its checkpoint commit together or not at
-- all. It is fenced as WriteCheckpoints is: the workflow row is locked in share mode as it
-- is checked, and the checkpoint applies only while the workflow runs under the attempt
-- that wrote it. It affects no row when refused: the step ID was recorded already, or the
-- attempt no longer owns the workflow (StepOwners tells which). The state is compared with
-- a value of the input, not a constant, for the reason WriteCheckpoints gives. It bounds
-- how long the transaction may sit idle after it (idle_timeout_ms), until its commit, as
-- LockQueue does: the row it locks in share mode would otherwise block every takeover while
-- an executor cut off from the server cannot commit.
WITH input AS (
    SELECT @workflow_id::text         AS workflow_id,
           @step_id::int              AS step_id,
           @name::text                AS name,
           @output::text              AS output,
           @attempt::int              AS attempt,
           @claim_token::bigint       AS claim_token,
           @tries::int                AS tries,
           @started_at::timestamptz   AS started_at,
           'running'::text            AS owned_state,
           set_config('idle_in_transaction_session_timeout', sqlc.arg(idle_timeout_ms)::bigint::text, true) AS bounded
)
INSERT INTO wfgen.steps (workflow_id, step_id, name, output, error, attempt, tries, started_at)
SELECT i.workflow_id, i.step_id, i.name, i.output::json, NULL, i.attempt, i.tries, i.started_at
FROM input i
JOIN wfgen.workflows w ON w.id = i.workflow_id AND w.attempt = i.attempt AND w.claim_token = i.claim_token
                        AND w.state = i.owned_state
FOR SHARE OF w
ON CONFLICT (workflow_id, step_id) DO NOTHING;

-- name: LockSuspending :exec
-- LockSuspending begins a WriteCheckpoints batch that suspends Recvs or Awaits: in one
-- round trip and one implicit transaction (dbschema.Prefixed), it locks their rows, fenced,
-- as a send locks its destination's and a child's completion its parent's. A send (or
-- completion) that held a lock has committed when WriteCheckpoints takes its snapshot,
-- which sees it; one that comes later waits for the commit and wakes the suspended
-- workflow. So no message, and no child's end, falls between the last look and the
-- suspension. Locked in ID order, as WriteCheckpoints locks parents. (Two
-- processes' batches can still deadlock, rarely: each locks a Recv's row here that the
-- other's completions wake as a parent. PostgreSQL breaks the cycle after deadlock_timeout
-- and the writer retries the failed batch.)
SELECT w.id
FROM (SELECT unnest(@ids::text[]) AS id, unnest(@attempts::int[]) AS attempt,
             unnest(@claim_tokens::bigint[]) AS claim_token, 'running'::text AS owned_state) s
JOIN wfgen.workflows w ON w.id = s.id AND w.attempt = s.attempt AND w.claim_token = s.claim_token
                      AND w.state = s.owned_state
ORDER BY w.id
FOR NO KEY UPDATE OF w;

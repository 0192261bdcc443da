-- name: SendMessage :one
-- SendMessage stores a message for a workflow, if the workflow exists, and wakes it when it
-- is suspended in a Recv of the message's topic: one statement, one round trip.
--
-- It locks the destination's row first (FOR NO KEY UPDATE, the lock an UPDATE takes, so
-- that two sends to one workflow queue up instead of deadlocking on a lock upgrade). A Recv
-- suspends holding that row's lock too (LockOwnedWorkflow) and checks for a message before
-- it suspends: either this send commits first and the check finds its message, or it waits
-- for the suspension to commit, and the lock hands it the row's new version, enqueued and
-- waiting for the topic, which it wakes. The wake-up tests the locked row (dest), never the
-- version the UPDATE's snapshot saw, which predates the suspension. The lock also keeps a
-- topic's order: a send takes its seq under it and commits before the next send to the
-- workflow gets one, so a Recv never sees a message while an older one is uncommitted.
--
-- With an idempotency key, a second send of the key to the same workflow stores nothing
-- (stored is false) and wakes nothing. found is false when no workflow has the ID.
WITH dest AS MATERIALIZED (
    SELECT w.id, w.state, w.waiting_for
    FROM wfgen.workflows w
    WHERE w.id = @destination_id
    FOR NO KEY UPDATE
), inserted AS (
    INSERT INTO wfgen.messages (destination_id, topic, payload, idempotency_key)
    SELECT d.id, @topic::text, @payload::jsonb, NULLIF(@idempotency_key::text, '')
    FROM dest d
    ON CONFLICT (destination_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING seq
), woken AS (
    UPDATE wfgen.workflows w
    SET available_at = now(), updated_at = now()
    FROM dest d
    WHERE w.id = d.id AND d.state = 'enqueued' AND d.waiting_for = 'recv:' || @topic::text
      AND EXISTS (SELECT 1 FROM inserted)
    RETURNING w.queue
)
SELECT EXISTS (SELECT 1 FROM dest)::bool AS found,
       EXISTS (SELECT 1 FROM inserted)::bool AS stored,
       coalesce((SELECT queue FROM woken), '')::text AS woken_queue;

-- name: ConsumeMessage :one
-- ConsumeMessage is a Recv that finds a message: it takes the oldest unconsumed message of
-- the topic, marks it consumed by the receiving step, and records that step's checkpoint
-- with the message as its output, all in one statement, so that a message is delivered
-- exactly once: after a crash either both are written (the replay returns the recorded
-- message) or neither (the message waits for the next Recv).
--
-- The write is fenced like every checkpoint: the workflow's row is locked in share mode and
-- must run under the receiving attempt. The row is locked only when a message is there, so
-- that looking while none is costs a read and writes nothing. found says a message was
-- there, owned that the attempt still owns the workflow; output is the recorded step
-- output, {"seq": ..., "message": ...}, empty unless both. A step already recorded at
-- step_id makes the statement fail with a unique violation, and nothing is consumed.
WITH msg AS MATERIALIZED (
    SELECT m.seq, m.payload
    FROM wfgen.messages m
    WHERE m.destination_id = @workflow_id AND m.topic = @topic::text AND m.consumed_at IS NULL
    ORDER BY m.seq
    LIMIT 1
    FOR UPDATE SKIP LOCKED
), fence AS MATERIALIZED (
    -- The owner's fence as values the planner does not see, so that the workflow is reached
    -- through its primary key, never through the partial index of running workflows that
    -- stale statistics can make look cheap (see WriteCheckpoints).
    SELECT @workflow_id::text AS id, @attempt::int AS attempt, @claim_token::bigint AS claim_token,
           @owned_state::text AS state
), owner AS MATERIALIZED (
    SELECT w.id
    FROM wfgen.workflows w, fence f
    WHERE w.id = f.id AND w.attempt = f.attempt AND w.claim_token = f.claim_token AND w.state = f.state
      AND EXISTS (SELECT 1 FROM msg)
    FOR SHARE OF w
), consumed AS (
    UPDATE wfgen.messages m
    SET consumed_at = now(), consumed_step = @step_id::int
    FROM msg, owner
    WHERE m.seq = msg.seq
    RETURNING m.seq, json_build_object('seq', m.seq, 'message', m.payload) AS output
), recorded AS (
    INSERT INTO wfgen.steps (workflow_id, step_id, name, output, attempt, tries, started_at)
    SELECT @workflow_id, @step_id::int, @step_name::text, c.output, @attempt, 1, @started_at
    FROM consumed c
    RETURNING output
)
SELECT EXISTS (SELECT 1 FROM msg)::bool AS found,
       EXISTS (SELECT 1 FROM owner)::bool AS owned,
       coalesce((SELECT output::text FROM recorded), '')::text AS output;

-- name: HasUnconsumedMessage :one
-- HasUnconsumedMessage tells a Recv about to suspend whether a message of its topic is
-- waiting: it runs in the suspending transaction, after the workflow's row is locked.
SELECT EXISTS (
    SELECT 1 FROM wfgen.messages
    WHERE destination_id = @workflow_id AND topic = @topic::text AND consumed_at IS NULL
)::bool AS pending;

-- name: SendMessage :one
-- SendMessage stores a message for a workflow, if the workflow exists, and wakes it when it
-- is suspended in a Recv of the message's topic: one statement, one round trip.
--
-- It locks the destination's row first (FOR NO KEY UPDATE, the lock an UPDATE takes, so
-- that two sends to one workflow queue up instead of deadlocking on a lock upgrade). A Recv
-- suspends holding that row's lock too (LockSuspending) and checks for a message before
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

-- name: SendMessages :many
-- SendMessages stores messages of one topic for workflows, all or none, in one statement: a
-- batch of SendMessage. Each destination is locked as SendMessage locks it, in ID order,
-- so that two batches (and LockSuspending, which locks in that order too) queue up rather
-- than deadlock. When any destination does not exist, nothing is stored and the missing
-- IDs are returned ('missing' rows). Otherwise the messages are stored in the order given
-- (so that one workflow receives its messages in that order), but for those whose
-- idempotency key its destination has stored already, including earlier in the batch; the
-- destinations that got a message are returned ('stored' rows), and the queues of those
-- woken from a Recv of the topic ('woken' rows, one per queue).
WITH input AS (
    SELECT unnest(@destination_ids::text[])  AS destination_id,
           unnest(@payloads::text[])         AS payload,
           unnest(@idempotency_keys::text[]) AS idempotency_key,
           generate_series(1, cardinality(@destination_ids::text[])) AS ord
), dest AS MATERIALIZED (
    SELECT w.id, w.state, w.waiting_for
    FROM wfgen.workflows w
    WHERE w.id = ANY(@destination_ids::text[])
    ORDER BY w.id
    FOR NO KEY UPDATE
), missing AS (
    SELECT DISTINCT i.destination_id
    FROM input i
    WHERE NOT EXISTS (SELECT 1 FROM dest d WHERE d.id = i.destination_id)
), inserted AS (
    INSERT INTO wfgen.messages (destination_id, topic, payload, idempotency_key)
    SELECT i.destination_id, @topic::text, i.payload::jsonb, NULLIF(i.idempotency_key, '')
    FROM input i
    WHERE NOT EXISTS (SELECT 1 FROM missing)
    ORDER BY i.ord
    ON CONFLICT (destination_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING destination_id
), woken AS (
    UPDATE wfgen.workflows w
    SET available_at = now(), updated_at = now()
    FROM dest d
    WHERE w.id = d.id AND d.state = 'enqueued' AND d.waiting_for = 'recv:' || @topic::text
      AND d.id IN (SELECT destination_id FROM inserted)
    RETURNING w.queue
)
SELECT 'missing'::text AS kind, destination_id::text AS value FROM missing
UNION ALL
SELECT DISTINCT 'stored'::text, destination_id::text FROM inserted
UNION ALL
SELECT DISTINCT 'woken'::text, queue::text FROM woken;

-- name: PeekMessage :one
-- PeekMessage is a Recv looking for a message: the oldest unconsumed message of the topic,
-- as the receiving step's output ({"seq": ..., "message": ...}). It only reads: the step's
-- checkpoint marks the message consumed, in the checkpoint writer's statement (see
-- WriteCheckpoints), and a Recv that finds nothing writes nothing. A send holds the
-- destination's row lock until it commits, so no older message of the topic is
-- uncommitted when a newer one is seen.
SELECT m.seq, json_build_object('seq', m.seq, 'message', m.payload)::text AS output
FROM wfgen.messages m
WHERE m.destination_id = @workflow_id AND m.topic = @topic::text AND m.consumed_at IS NULL
ORDER BY m.seq
LIMIT 1;

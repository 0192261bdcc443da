-- 0003_talk_and_wait: child workflows, durable sleep, messages, events, streams, debounce,
-- and static progress.

-- parent_id links a child workflow to the workflow that started it: cancelling the parent
-- cancels its unfinished children.
ALTER TABLE wfgen.workflows ADD COLUMN parent_id text;
CREATE INDEX workflows_parent ON wfgen.workflows (parent_id) WHERE parent_id IS NOT NULL;

-- waiting_for says why a workflow that ran is back in its queue, suspended until
-- available_at or until what it waits for wakes it sooner: 'sleep', 'recv:<topic>' (a
-- message on the topic wakes it), 'child' (a child's completion wakes it). NULL otherwise.
ALTER TABLE wfgen.workflows ADD COLUMN waiting_for text;

-- steps_expected is how many steps the workflow runs when its step sequence is static (the
-- generator counts them), for progress; NULL when unknown.
ALTER TABLE wfgen.workflows ADD COLUMN steps_expected integer;

-- A debounced workflow waits in its queue under its debounce key until no call with the key
-- came for its period, or until debounce_deadline; each call replaces its input. Only one
-- workflow per (name, key) is waiting so at a time: the one that never ran (attempt 0).
ALTER TABLE wfgen.workflows ADD COLUMN debounce_key text;
ALTER TABLE wfgen.workflows ADD COLUMN debounce_deadline timestamptz;
CREATE UNIQUE INDEX workflows_debounce ON wfgen.workflows (name, debounce_key)
    WHERE debounce_key IS NOT NULL AND state = 'enqueued' AND attempt = 0;

-- messages holds messages sent to workflows, by topic, in send order. Recv consumes the
-- oldest unconsumed one of its topic and records it as its step's output in the same
-- transaction, so a message is delivered exactly once.
CREATE TABLE wfgen.messages (
    seq             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    destination_id  text        NOT NULL,
    topic           text        NOT NULL,
    payload         jsonb       NOT NULL,
    -- idempotency_key makes a send idempotent: a second send with the key to the same
    -- workflow stores nothing. Sends from workflows use the sender's ID and step ID.
    idempotency_key text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    consumed_at     timestamptz,
    consumed_step   integer
);
CREATE INDEX messages_pending ON wfgen.messages (destination_id, topic, seq) WHERE consumed_at IS NULL;
CREATE UNIQUE INDEX messages_idempotency ON wfgen.messages (destination_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- events holds the latest value of each key a workflow published.
CREATE TABLE wfgen.events (
    workflow_id text        NOT NULL,
    key         text        NOT NULL,
    value       jsonb       NOT NULL,
    -- version counts the key's updates, 1 for its first value.
    version     integer     NOT NULL DEFAULT 1,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_id, key)
);

-- streams holds the values workflows appended to their named streams, in offset order (0
-- first); a row with closed set ends its stream and has no value.
CREATE TABLE wfgen.streams (
    workflow_id text        NOT NULL,
    stream      text        NOT NULL,
    "offset"    integer     NOT NULL,
    value       jsonb,
    closed      boolean     NOT NULL DEFAULT false,
    -- step_id is the step of the writer that appended the row: a step that runs again
    -- after a crash finds its row there rather than appending twice.
    step_id     integer     NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_id, stream, "offset"),
    UNIQUE (workflow_id, step_id)
);

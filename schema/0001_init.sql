-- 0001_init: workflows, their step checkpoints, executors, queues.
--
-- Every object lives in the schema named wfgen here; the runtime rewrites that name to the
-- configured schema (Config.Schema) before running any statement, so keep "wfgen" in this
-- file only as a schema qualifier.

CREATE SCHEMA IF NOT EXISTS wfgen;

-- migrations records which numbered files of schema/ have been applied.
CREATE TABLE wfgen.migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- workflows holds one row per workflow: its state, input, result and ownership.
--
-- States (see runtime/wf/doc.go for the state machine):
--   enqueued  waiting in its queue (available_at says from when)
--   running   owned by executor_id, which runs it
--   succeeded, failed, cancelled   final
--   dead      given up after more than max_recovery recoveries; kept for the operator
CREATE TABLE wfgen.workflows (
    id                text        PRIMARY KEY,
    -- seq orders workflows FIFO within a priority.
    seq               bigint      GENERATED ALWAYS AS IDENTITY,
    name              text        NOT NULL,
    state             text        NOT NULL CHECK (state IN ('enqueued', 'running', 'succeeded', 'failed', 'cancelled', 'dead')),
    queue             text        NOT NULL,
    priority          integer     NOT NULL DEFAULT 0,
    partition_key     text,
    dedup_id          text,
    input             jsonb       NOT NULL,
    output            jsonb,
    error             jsonb,
    -- code_hash is the registered hash of the code that first ran the workflow; only a
    -- worker registered with the same hash resumes it.
    code_hash         text,
    executor_id       text,
    -- attempt counts how often an executor has taken the workflow (1 on the first run). It is
    -- the fencing token: an executor writes the completion only for the attempt it holds.
    attempt           integer     NOT NULL DEFAULT 0,
    recoveries        integer     NOT NULL DEFAULT 0,
    max_recoveries    integer     NOT NULL,
    timeout_ms        bigint,
    deadline          timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    available_at      timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz
);

-- Dequeue walks this index in queue order.
CREATE INDEX workflows_dequeue ON wfgen.workflows (queue, priority, available_at, seq)
    WHERE state = 'enqueued';
-- Global and per-partition concurrency count running workflows of a queue.
CREATE INDEX workflows_running ON wfgen.workflows (queue, partition_key)
    WHERE state = 'running';
-- Takeover finds the workflows a dead executor owned.
CREATE INDEX workflows_executor ON wfgen.workflows (executor_id)
    WHERE state = 'running';
-- A deduplication ID is unique in its queue while the workflow is enqueued or running.
CREATE UNIQUE INDEX workflows_dedup ON wfgen.workflows (queue, dedup_id)
    WHERE dedup_id IS NOT NULL AND state IN ('enqueued', 'running');
CREATE INDEX workflows_created ON wfgen.workflows (created_at);

-- steps holds the checkpoint of every completed step: its output or its final error.
-- No foreign key to workflows: it would lock the workflow row on every checkpoint.
CREATE TABLE wfgen.steps (
    workflow_id  text        NOT NULL,
    step_id      integer     NOT NULL,
    name         text        NOT NULL,
    output       json,
    error        jsonb,
    -- attempt is the workflow attempt that recorded the step; tries is how many times the
    -- step function ran in it (retries included).
    attempt      integer     NOT NULL,
    tries        integer     NOT NULL,
    started_at   timestamptz NOT NULL,
    completed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_id, step_id)
);

-- executors holds one row per running process (Client.Start), renewed by heartbeats.
CREATE TABLE wfgen.executors (
    id               text        PRIMARY KEY,
    hostname         text        NOT NULL,
    pid              integer     NOT NULL,
    started_at       timestamptz NOT NULL DEFAULT now(),
    heartbeat_at     timestamptz NOT NULL DEFAULT now(),
    lease_expires_at timestamptz NOT NULL,
    stopped_at       timestamptz
);

-- queues holds the configuration of every declared queue. Dequeuers of a queue with a
-- global limit lock its row, which serializes them.
CREATE TABLE wfgen.queues (
    name                  text        PRIMARY KEY,
    concurrency           integer,
    rate_limit            integer,
    rate_period_ms        bigint,
    partition_concurrency integer,
    updated_at            timestamptz NOT NULL DEFAULT now()
);

-- queue_starts logs recent starts of rate-limited queues (a sliding window).
CREATE TABLE wfgen.queue_starts (
    queue      text        NOT NULL,
    started_at timestamptz NOT NULL
);
CREATE INDEX queue_starts_window ON wfgen.queue_starts (queue, started_at);

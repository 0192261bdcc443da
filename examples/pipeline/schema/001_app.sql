-- The pipeline application's own tables. They live in the schema that the connection's
-- search_path names ("pipeline" by default); the statements are idempotent, so every
-- process may apply them at start (see package data, Migrate).

-- A client of the analytics product, and a tenant of the monthly reports.
CREATE TABLE IF NOT EXISTS clients (
    id       bigint PRIMARY KEY,
    name     text   NOT NULL,
    channels text[] NOT NULL
);

-- What contacts of a client did on a channel: email sends, opens and clicks, landing page
-- visits and signups, and purchases (amount_cents > 0) attributed to the channel.
CREATE TABLE IF NOT EXISTS events (
    id           bigserial   PRIMARY KEY,
    client_id    bigint      NOT NULL REFERENCES clients (id),
    channel      text        NOT NULL,
    kind         text        NOT NULL,
    contact_id   bigint      NOT NULL,
    amount_cents bigint      NOT NULL DEFAULT 0,
    occurred_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS events_client_channel_time ON events (client_id, channel, occurred_at);

-- One row per channel pipeline that completed: written by a transactional step, so a crash
-- never stores a result twice.
CREATE TABLE IF NOT EXISTS results (
    id            bigserial   PRIMARY KEY,
    workflow_id   text        NOT NULL,
    client_id     bigint      NOT NULL,
    channel       text        NOT NULL,
    baseline_date date        NOT NULL,
    contacts      bigint      NOT NULL,
    segments      jsonb       NOT NULL,
    ltv_cents     bigint      NOT NULL,
    stored_at     timestamptz NOT NULL DEFAULT now()
);

-- One report per tenant and month: re-running the monthly fan-out writes nothing twice.
CREATE TABLE IF NOT EXISTS reports (
    client_id     bigint      NOT NULL,
    month         date        NOT NULL,
    events        bigint      NOT NULL,
    purchases     bigint      NOT NULL,
    revenue_cents bigint      NOT NULL,
    workflow_id   text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, month)
);

-- The object store that StorageCleanup tidies: temporary files ("tmp") become candidates
-- for deletion a day after their creation; exports are never deleted.
CREATE TABLE IF NOT EXISTS objects (
    key        text        PRIMARY KEY,
    client_id  bigint      NOT NULL,
    kind       text        NOT NULL,
    size_bytes bigint      NOT NULL,
    created_at timestamptz NOT NULL
);

-- Every object StorageCleanup deleted, with the workflow that did it.
CREATE TABLE IF NOT EXISTS deletions (
    key         text        PRIMARY KEY,
    workflow_id text        NOT NULL,
    deleted_at  timestamptz NOT NULL DEFAULT now()
);

-- When each step attempt ran and on which worker, by the worker's clock (read when the step
-- began and returned, not when the row is written): what the demo's summary reads to show
-- which workers ran a workflow and how many workflows of a queue ran at once.
CREATE TABLE IF NOT EXISTS activity (
    id          bigserial   PRIMARY KEY,
    workflow_id text        NOT NULL,
    queue       text        NOT NULL,
    step        text        NOT NULL,
    executor    text        NOT NULL,
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz
);
CREATE INDEX IF NOT EXISTS activity_workflow ON activity (workflow_id);

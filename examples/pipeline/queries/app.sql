-- The pipeline application's queries. Tables are unqualified: the connection's search_path
-- names the application's schema.

-- name: LockLoad :exec
-- Serializes loads of the data within the calling transaction.
SELECT pg_advisory_xact_lock(hashtext('wfgen pipeline load ' || current_schema()));

-- name: InsertClient :execrows
INSERT INTO clients (id, name, channels) VALUES (@id, @name, @channels)
ON CONFLICT (id) DO NOTHING;

-- name: CopyEvents :copyfrom
INSERT INTO events (client_id, channel, kind, contact_id, amount_cents, occurred_at)
VALUES (@client_id, @channel, @kind, @contact_id, @amount_cents, @occurred_at);

-- name: CopyObjects :copyfrom
INSERT INTO objects (key, client_id, kind, size_bytes, created_at)
VALUES (@key, @client_id, @kind, @size_bytes, @created_at);

-- name: ListClients :many
SELECT id, name, channels FROM clients ORDER BY id;

-- name: GetClient :one
SELECT id, name, channels FROM clients WHERE id = @id;

-- name: CountEvents :one
SELECT count(*)::bigint FROM events WHERE client_id = @client_id;

-- name: ChannelMetrics :one
-- A channel's reach, engagement and revenue in [since, until).
SELECT count(DISTINCT contact_id)::bigint                          AS contacts,
       count(*) FILTER (WHERE kind IN ('sent', 'visit'))::bigint   AS reach,
       count(*) FILTER (WHERE kind = 'open')::bigint               AS opens,
       count(*) FILTER (WHERE kind IN ('click', 'signup'))::bigint AS engagements,
       count(*) FILTER (WHERE kind = 'purchase')::bigint           AS purchases,
       coalesce(sum(amount_cents), 0)::bigint                      AS revenue_cents
FROM events
WHERE client_id = @client_id AND channel = @channel
  AND occurred_at >= @since AND occurred_at < @until;

-- name: ContactFeatures :many
-- Recency, frequency and monetary value of each contact of a channel in [since, until).
SELECT contact_id,
       count(*)::bigint                                      AS events,
       count(*) FILTER (WHERE kind = 'purchase')::bigint     AS purchases,
       coalesce(sum(amount_cents), 0)::bigint                AS revenue_cents,
       (sqlc.arg(until)::timestamptz::date - max(occurred_at)::date)::int AS recency_days
FROM events
WHERE client_id = @client_id AND channel = @channel
  AND occurred_at >= @since AND occurred_at < sqlc.arg(until)::timestamptz
GROUP BY contact_id
ORDER BY contact_id;

-- name: LifetimeValue :one
-- The expected lifetime value of a buyer of a channel: the average monthly revenue per
-- buyer over the 90 days before until, divided by the monthly churn (one minus the share of
-- buyers who bought again, capped at 90%).
WITH buyers AS (
    SELECT contact_id, sum(amount_cents) AS revenue, count(*) AS purchases
    FROM events
    WHERE client_id = @client_id AND channel = @channel AND kind = 'purchase'
      AND occurred_at >= @since AND occurred_at < @until
    GROUP BY contact_id
)
SELECT count(*)::bigint AS buyers,
       coalesce(round(avg(revenue) / 3.0
             / (1 - least(avg((purchases > 1)::int), 0.9))), 0)::bigint AS ltv_cents
FROM buyers;

-- name: InsertResult :one
INSERT INTO results (workflow_id, client_id, channel, baseline_date, contacts, segments, ltv_cents)
VALUES (@workflow_id, @client_id, @channel, @baseline_date, @contacts, @segments, @ltv_cents)
RETURNING id;

-- name: ListResults :many
SELECT id, workflow_id, client_id, channel, baseline_date, contacts, segments, ltv_cents
FROM results ORDER BY id;

-- name: MonthlyTotals :one
-- A tenant's activity in [since, until).
SELECT count(*)::bigint                                  AS events,
       count(*) FILTER (WHERE kind = 'purchase')::bigint AS purchases,
       coalesce(sum(amount_cents), 0)::bigint            AS revenue_cents
FROM events
WHERE client_id = @client_id AND occurred_at >= @since AND occurred_at < @until;

-- name: InsertReport :execrows
-- Stores a tenant's report of a month unless it exists: re-runs write nothing.
INSERT INTO reports (client_id, month, events, purchases, revenue_cents, workflow_id)
VALUES (@client_id, @month, @events, @purchases, @revenue_cents, @workflow_id)
ON CONFLICT (client_id, month) DO NOTHING;

-- name: ListReports :many
SELECT client_id, month, events, purchases, revenue_cents, workflow_id
FROM reports ORDER BY month, client_id;

-- name: CleanupCandidates :many
-- A batch of the objects a cleanup may delete, after a key (keyset pagination).
SELECT key FROM objects
WHERE kind = 'tmp' AND created_at < @cutoff AND key > @after
ORDER BY key
LIMIT @batch_size;

-- name: DeleteCandidates :many
-- Deletes those of keys that are still candidates: an object that is not one (any more),
-- or is gone already, is left alone, so a repeated delete deletes nothing.
DELETE FROM objects
WHERE key = ANY(@keys::text[]) AND kind = 'tmp' AND created_at < @cutoff
RETURNING key;

-- name: RecordDeletions :exec
INSERT INTO deletions (key, workflow_id)
SELECT unnest(@keys::text[]), @workflow_id::text
ON CONFLICT (key) DO NOTHING;

-- name: ListObjects :many
SELECT key, client_id, kind, size_bytes, created_at FROM objects ORDER BY key;

-- name: ListDeletions :many
SELECT key, workflow_id FROM deletions ORDER BY key;

-- name: StartActivity :one
-- Records a step attempt's start, at the time the worker read when the step began.
INSERT INTO activity (workflow_id, queue, step, executor, started_at)
VALUES (@workflow_id, @queue, @step, @executor, @started_at)
RETURNING id;

-- name: EndActivity :exec
-- Records a step attempt's end, at the time the worker read when the step returned.
UPDATE activity SET ended_at = @ended_at WHERE id = @id;

-- name: ListActivity :many
SELECT workflow_id, queue, step, executor, started_at, ended_at
FROM activity ORDER BY started_at, id;

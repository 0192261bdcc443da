-- name: SearchWorkflows :many
-- SearchWorkflows is the operator's list: the newest workflows matching every filter given
-- (an empty filter matches all), with the columns of GetWorkflow, a page at a time. stranded
-- keeps only workflows waiting in their queue that no live executor can run because none
-- registered their name with the code hash they started under.
--
-- Newest means created last, and among workflows created by one transaction (one
-- created_at), enqueued last (seq). The created index holds that order but leaves running
-- workflows out (a claim would pay for an entry in it), so the newest running ones (read
-- through the running index: there are at most as many as the workers' slots) and the
-- newest others (the created index, read backwards) are merged. Each part reads no more
-- than the end of the page (page_end: max_rows plus skip_rows).
WITH matching AS NOT MATERIALIZED (
    SELECT w.id, w.name, w.state, w.queue, w.priority, w.partition_key, w.dedup_id, w.error,
           w.code_hash, w.executor_id, w.attempt, w.recoveries, w.max_recoveries, w.deadline,
           w.created_at, w.available_at, w.started_at, w.updated_at, w.completed_at,
           w.waiting_for, w.steps_expected, w.parent_id, w.seq
    FROM wfgen.workflows w
    WHERE (cardinality(@states::text[]) = 0 OR w.state = ANY(@states::text[]))
      AND (@name::text = '' OR w.name = @name::text)
      AND (@queue::text = '' OR w.queue = @queue::text)
      AND (@executor_id::text = '' OR w.executor_id = @executor_id::text)
      AND (@parent_id::text = '' OR w.parent_id = @parent_id::text)
      AND (@id_prefix::text = '' OR starts_with(w.id, @id_prefix::text))
      AND (NOT @created_after_set::bool OR w.created_at >= @created_after::timestamptz)
      AND (NOT @created_before_set::bool OR w.created_at < @created_before::timestamptz)
      AND (NOT @stranded::bool OR (
          w.state = 'enqueued' AND w.code_hash IS NOT NULL
          AND EXISTS (SELECT 1 FROM wfgen.live_executor_workflows r WHERE r.name = w.name)
          AND NOT EXISTS (SELECT 1 FROM wfgen.live_executor_workflows r
                          WHERE r.name = w.name AND (r.code_hash IS NULL OR r.code_hash = w.code_hash))))
), page AS (
    (SELECT m.*
     FROM matching m
     WHERE m.state = 'running'
     ORDER BY m.created_at DESC, m.seq DESC
     LIMIT @page_end::int)
    UNION ALL
    (SELECT m.*
     FROM matching m
     WHERE m.state IS DISTINCT FROM 'running'
     ORDER BY m.created_at DESC, m.seq DESC
     LIMIT @page_end::int)
)
SELECT p.id, p.name, p.state, p.queue, p.priority, p.partition_key, p.dedup_id, p.error,
       p.code_hash, p.executor_id, p.attempt, p.recoveries, p.max_recoveries, p.deadline,
       p.created_at, p.available_at, p.started_at, p.updated_at, p.completed_at,
       (p.state = 'enqueued' AND p.available_at <= now())::bool AS due,
       p.waiting_for, p.steps_expected, p.parent_id,
       (SELECT count(*) FROM wfgen.steps s WHERE s.workflow_id = p.id)::int AS steps_done
FROM page p
ORDER BY p.created_at DESC, p.seq DESC
LIMIT @max_rows::int OFFSET @skip_rows::int;

-- name: ResumeWorkflow :one
-- ResumeWorkflow puts a cancelled, failed or dead workflow back in its queue, to continue
-- from its last completed step: the steps recorded after its last successful one (the
-- failures that ended it) are forgotten, so they run again; its error, recoveries and
-- deadline are reset (a timeout counts again from its next start). It keeps its code hash:
-- only a worker with that hash resumes it (fork it to run it under other code). With
-- notify, the workers of its queue are told when the caller's transaction commits.
WITH target AS MATERIALIZED (
    SELECT w.id FROM wfgen.workflows w
    WHERE w.id = @id AND w.state IN ('cancelled', 'failed', 'dead')
    FOR UPDATE
), last_ok AS (
    SELECT coalesce(max(s.step_id), 0) AS step_id
    FROM wfgen.steps s JOIN target t ON s.workflow_id = t.id
    WHERE s.error IS NULL
), forgotten AS (
    DELETE FROM wfgen.steps s USING target t
    WHERE s.workflow_id = t.id AND s.step_id > (SELECT step_id FROM last_ok)
    RETURNING s.step_id
), resumed AS (
    UPDATE wfgen.workflows w
    SET state = 'enqueued', executor_id = NULL, output = NULL, error = NULL, completed_at = NULL,
        recoveries = 0, deadline = NULL, waiting_for = NULL, available_at = now(), updated_at = now()
    FROM target t
    WHERE w.id = t.id
    RETURNING w.id, w.queue
), notified AS (
    SELECT count(pg_notify(@channel::text, json_build_object('k', 'e' /* notifier.KindEnqueued */, 'q', r.queue, 'd', 0)::text)) AS n
    FROM resumed r WHERE @notify::bool
)
SELECT r.queue, (SELECT count(*) FROM forgotten)::int AS forgotten_steps
FROM resumed r CROSS JOIN notified;

-- name: ForkWorkflow :one
-- ForkWorkflow starts a new workflow (new_id) from an existing one: the same name and input,
-- enqueued on queue (its own when empty), with the steps recorded before from_step copied,
-- so that it replays those and runs the rest. code_hash is the hash it must run under; empty
-- lets the first worker that claims it stamp its own (how a workflow stranded by a code
-- change moves onto the current code). Stream values appended by the copied steps are
-- copied too. It returns no row when no workflow has the source ID.
WITH src AS MATERIALIZED (
    SELECT * FROM wfgen.workflows WHERE id = @source_id::text
), inserted AS (
    INSERT INTO wfgen.workflows (id, name, state, queue, priority, partition_key, input,
                                 max_recoveries, timeout_ms, code_hash, steps_expected, attempt)
    SELECT @new_id::text, s.name, 'enqueued', coalesce(NULLIF(@queue::text, ''), s.queue), s.priority,
           -- The empty key without one in a partitioned queue, as InsertWorkflows says.
           coalesce(s.partition_key,
                    CASE WHEN EXISTS (SELECT 1 FROM wfgen.queues q
                                      WHERE q.name = coalesce(NULLIF(@queue::text, ''), s.queue) AND q.partition_concurrency > 0)
                         THEN '' END),
           s.input, s.max_recoveries, s.timeout_ms, NULLIF(@code_hash::text, ''),
           s.steps_expected,
           -- With copied steps, the copy counts as its first attempt: its first claim (attempt
           -- 2) reads the history, as a recovery does.
           CASE WHEN @from_step::int > 1 THEN 1 ELSE 0 END
    FROM src s
    RETURNING id, queue
), copied AS (
    INSERT INTO wfgen.steps (workflow_id, step_id, name, output, error, attempt, tries, started_at, completed_at)
    SELECT i.id, s.step_id, s.name, s.output, s.error, 0, s.tries, s.started_at, s.completed_at
    FROM wfgen.steps s CROSS JOIN inserted i
    WHERE s.workflow_id = @source_id::text AND s.step_id < @from_step::int
    RETURNING step_id
), copied_streams AS (
    INSERT INTO wfgen.streams (workflow_id, stream, "offset", value, closed, step_id, created_at)
    SELECT i.id, s.stream, s."offset", s.value, s.closed, s.step_id, s.created_at
    FROM wfgen.streams s CROSS JOIN inserted i
    WHERE s.workflow_id = @source_id::text AND s.step_id < @from_step::int
), notified AS (
    SELECT count(pg_notify(@channel::text, json_build_object('k', 'e' /* notifier.KindEnqueued */, 'q', i.queue, 'd', 0)::text)) AS n
    FROM inserted i WHERE @notify::bool
)
SELECT i.id, i.queue, (SELECT count(*) FROM copied)::int AS copied_steps
FROM inserted i CROSS JOIN notified;

-- name: DeleteWorkflow :one
-- DeleteWorkflow deletes a final workflow with its steps, messages, events and streams. It
-- returns the workflow's state, and deletes nothing unless that state is final.
WITH target AS MATERIALIZED (
    SELECT w.id, w.state FROM wfgen.workflows w WHERE w.id = @id FOR UPDATE
), final AS (
    SELECT id FROM target WHERE state IN ('succeeded', 'failed', 'cancelled', 'dead')
), steps AS (
    DELETE FROM wfgen.steps s USING final f WHERE s.workflow_id = f.id
), messages AS (
    DELETE FROM wfgen.messages m USING final f WHERE m.destination_id = f.id
), events AS (
    DELETE FROM wfgen.events e USING final f WHERE e.workflow_id = f.id
), streams AS (
    DELETE FROM wfgen.streams s USING final f WHERE s.workflow_id = f.id
), deleted AS (
    DELETE FROM wfgen.workflows w USING final f WHERE w.id = f.id
)
SELECT state FROM target;

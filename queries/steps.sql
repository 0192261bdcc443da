-- name: LoadSteps :many
-- LoadSteps reads every checkpoint of a workflow, for replay.
SELECT step_id, name, output, error
FROM wfgen.steps
WHERE workflow_id = @workflow_id
ORDER BY step_id;

-- name: ListSteps :many
SELECT * FROM wfgen.steps WHERE workflow_id = @workflow_id ORDER BY step_id;

-- name: WriteCheckpoints :many
-- WriteCheckpoints is the group commit: it records the step checkpoints and the workflow
-- completions of many executions in one statement (one round trip, one commit).
--
-- A step whose ID is already recorded is left alone (ON CONFLICT DO NOTHING) and is missing
-- from the result: the caller then reads what was recorded. A completion applies only while
-- the workflow is running under the caller's attempt (the fencing token), and only if the
-- step it follows (after_step, -1 for none) was inserted by this same statement. Completed
-- rows carry their queue, for the announcement the caller sends after the commit (no
-- notification here: it would serialize these commits, see Announce).
WITH step_input AS (
    SELECT unnest(@step_workflow_ids::text[])        AS workflow_id,
           unnest(@step_ids::int[])                  AS step_id,
           unnest(@step_names::text[])               AS name,
           unnest(@step_outputs::text[])             AS output,
           unnest(@step_errors::text[])              AS error,
           unnest(@step_attempts::int[])             AS attempt,
           unnest(@step_tries::int[])                AS tries,
           unnest(@step_started_at::timestamptz[])   AS started_at
), inserted AS (
    INSERT INTO wfgen.steps (workflow_id, step_id, name, output, error, attempt, tries, started_at)
    SELECT workflow_id, step_id, name, NULLIF(output, '')::json, NULLIF(error, '')::jsonb,
           attempt, tries, started_at
    FROM step_input
    ON CONFLICT (workflow_id, step_id) DO NOTHING
    RETURNING workflow_id, step_id
), done_input AS (
    SELECT unnest(@done_ids::text[])        AS id,
           unnest(@done_attempts::int[])    AS attempt,
           unnest(@done_states::text[])     AS state,
           unnest(@done_outputs::text[])    AS output,
           unnest(@done_errors::text[])     AS error,
           unnest(@done_after_steps::int[]) AS after_step
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
      AND w.state = 'running'
      AND (d.after_step < 0 OR EXISTS (
          SELECT 1 FROM inserted i WHERE i.workflow_id = d.id AND i.step_id = d.after_step))
    RETURNING w.id, w.queue
)
SELECT 's'::text AS kind, workflow_id AS id, step_id, ''::text AS queue FROM inserted
UNION ALL
SELECT 'c'::text AS kind, id, 0 AS step_id, queue FROM completed;

-- name: GetStep :one
SELECT step_id, name, output, error, attempt
FROM wfgen.steps
WHERE workflow_id = @workflow_id AND step_id = @step_id;

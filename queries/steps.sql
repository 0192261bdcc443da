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
-- Every write is fenced: it applies only while its workflow is running under the attempt the
-- writer claimed it with (the fencing token, incremented by every claim). The workflow rows
-- of the steps are locked in share mode in id order, so that an ownership change (a cancel,
-- a takeover, a hand-back, a new claim) either commits before this statement reads them and
-- refuses the write, or waits for this statement's commit.
--
-- Every step input comes back with its outcome: 'a' applied, 'c' conflict (its ID was
-- recorded already: the caller reads what was), 'f' fenced (refused: the workflow is not
-- running under that attempt any more; state says what it is now, '' when it is gone). A
-- completion applies only under the same fence, and only if the step it follows
-- (after_step, -1 for none) was inserted by this same statement; completed rows come back
-- with their queue, for the announcement the caller sends after the commit (no notification
-- here: it would serialize these commits, see Announce).
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
           unnest(@step_tries::int[])                AS tries,
           unnest(@step_started_at::timestamptz[])   AS started_at
), owners AS MATERIALIZED (
    SELECT w.id, w.state, w.attempt
    FROM wfgen.workflows w
    WHERE w.id = ANY(@step_workflow_ids::text[])
    ORDER BY w.id
    FOR SHARE
), fenced AS MATERIALIZED (
    SELECT s.*, coalesce(o.state, '') AS state,
           coalesce(o.state = 'running' AND o.attempt = s.attempt, false) AS owned
    FROM step_input s
    LEFT JOIN owners o ON o.id = s.workflow_id
), inserted AS (
    INSERT INTO wfgen.steps (workflow_id, step_id, name, output, error, attempt, tries, started_at)
    SELECT workflow_id, step_id, name, NULLIF(output, '')::json, NULLIF(error, '')::jsonb,
           attempt, tries, started_at
    FROM fenced
    WHERE owned
    ON CONFLICT (workflow_id, step_id) DO NOTHING
    RETURNING workflow_id, step_id
), done_input AS MATERIALIZED (
    SELECT unnest(@done_ids::text[])        AS id,
           unnest(@done_attempts::int[])    AS attempt,
           unnest(@done_states::text[])     AS state,
           unnest(@done_outputs::text[])    AS output,
           unnest(@done_errors::text[])     AS error,
           unnest(@done_after_steps::int[]) AS after_step,
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
      AND w.state = d.owned_state
      AND (d.after_step < 0 OR EXISTS (
          SELECT 1 FROM inserted i WHERE i.workflow_id = d.id AND i.step_id = d.after_step))
    RETURNING w.id, w.queue
)
SELECT 's'::text AS kind, f.workflow_id::text AS id, f.step_id::int AS step_id, f.attempt::int AS attempt,
       CASE WHEN i.workflow_id IS NOT NULL THEN 'a' WHEN f.owned THEN 'c' ELSE 'f' END::text AS outcome,
       f.state::text AS state, ''::text AS queue
FROM fenced f
LEFT JOIN inserted i ON i.workflow_id = f.workflow_id AND i.step_id = f.step_id AND f.owned
UNION ALL
SELECT 'c'::text AS kind, id, 0 AS step_id, 0 AS attempt, 'a'::text AS outcome, ''::text AS state, queue
FROM completed;

-- name: GetStep :one
SELECT step_id, name, output, error, attempt
FROM wfgen.steps
WHERE workflow_id = @workflow_id AND step_id = @step_id;

-- name: SetEvent :one
-- SetEvent publishes a workflow's event and records the step that published it, in one
-- statement: the event's new value is stored if and only if the step is, so an event is
-- written once however often its workflow runs again. Fenced like every write of an owner:
-- nothing is written unless the workflow runs under the given attempt, whose row is locked
-- in share mode as it is checked (see WriteCheckpoints). A step ID recorded already (by an
-- earlier run of the same attempt) writes nothing either.
--
-- owned is false when the write was fenced off; version is 0 when nothing was written.
WITH fence AS MATERIALIZED (
    -- The owner's fence as values the planner does not see, so that the workflow is reached
    -- through its primary key, never through the partial index of running workflows that
    -- stale statistics can make look cheap (see WriteCheckpoints).
    SELECT @workflow_id::text AS id, @attempt::int AS attempt, @claim_token::bigint AS claim_token,
           @owned_state::text AS state
), owner AS (
    SELECT w.id
    FROM wfgen.workflows w, fence f
    WHERE w.id = f.id AND w.attempt = f.attempt AND w.claim_token = f.claim_token AND w.state = f.state
    FOR SHARE OF w
), step AS (
    INSERT INTO wfgen.steps (workflow_id, step_id, name, output, attempt, tries, started_at)
    SELECT o.id, @step_id, @step_name, '{}'::json, @attempt, 1, @started_at
    FROM owner o
    ON CONFLICT (workflow_id, step_id) DO NOTHING
    RETURNING workflow_id
), event AS (
    INSERT INTO wfgen.events AS e (workflow_id, key, value)
    SELECT s.workflow_id, @key, @value::jsonb
    FROM step s
    ON CONFLICT (workflow_id, key) DO UPDATE
    SET value = excluded.value, version = e.version + 1, updated_at = now()
    RETURNING e.version
)
SELECT EXISTS (SELECT 1 FROM owner) AS owned,
       coalesce((SELECT version FROM event), 0)::int AS version;

-- name: GetEvent :one
-- GetEvent reads a workflow's state and the latest value of one of its events (NULL when
-- never set), in one snapshot: a final workflow without the value will never set it.
SELECT w.state, e.value, e.version
FROM wfgen.workflows w
LEFT JOIN wfgen.events e ON e.workflow_id = w.id AND e.key = @key
WHERE w.id = @workflow_id;

-- name: AppendStream :one
-- AppendStream appends a value to a workflow's stream, or closes the stream (closed true,
-- value NULL), and records the step that did it, in one statement: the row is stored if and
-- only if the step is, so a value is appended once however often its workflow runs again.
-- Its offset is the stream's next one (0 first). Fenced like every write of an owner, the
-- workflow's row locked in share mode as it is checked: only the owning attempt appends, so
-- two appends never race for an offset. A stream closed already takes nothing, and neither
-- does a step ID recorded already (by an earlier run of the same attempt).
--
-- owned is false when the write was fenced off; was_closed is true when the stream had been
-- closed; "offset" is -1 when nothing was written.
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
), last AS (
    -- The stream's last row, through the primary key: a closing row is always the last.
    SELECT s."offset", s.closed
    FROM wfgen.streams s
    WHERE s.workflow_id = @workflow_id AND s.stream = @stream
    ORDER BY s."offset" DESC
    LIMIT 1
), tail AS (
    SELECT coalesce(max(l."offset") + 1, 0)::int AS next_offset,
           coalesce(bool_or(l.closed), false) AS closed
    FROM last l
), step AS (
    INSERT INTO wfgen.steps (workflow_id, step_id, name, output, attempt, tries, started_at)
    SELECT o.id, @step_id, @step_name, json_build_object('offset', t.next_offset), @attempt, 1, @started_at
    FROM owner o, tail t
    WHERE NOT t.closed
    ON CONFLICT (workflow_id, step_id) DO NOTHING
    RETURNING workflow_id
), appended AS (
    INSERT INTO wfgen.streams (workflow_id, stream, "offset", value, closed, step_id)
    SELECT s.workflow_id, @stream, t.next_offset, sqlc.narg(value)::jsonb, @close::bool, @step_id
    FROM step s, tail t
    RETURNING "offset"
)
SELECT EXISTS (SELECT 1 FROM owner) AS owned,
       coalesce((SELECT closed FROM tail), false)::bool AS was_closed,
       coalesce((SELECT "offset" FROM appended), -1)::int AS "offset";

-- name: ReadStream :many
-- ReadStream reads a workflow's state, whether its stream is closed (its last row is the
-- closing one), and the stream's values from offset from_offset on, at most max_rows of
-- them, in one snapshot: a final workflow appends nothing more, so what this read finds is
-- all there will be. It returns one row with a NULL offset when there is no value to read,
-- none when the workflow does not exist.
SELECT w.state,
       coalesce((SELECT c.closed FROM wfgen.streams c
                 WHERE c.workflow_id = w.id AND c.stream = @stream
                 ORDER BY c."offset" DESC LIMIT 1), false)::bool AS closed,
       s."offset", s.value
FROM wfgen.workflows w
LEFT JOIN wfgen.streams s
    ON s.workflow_id = w.id AND s.stream = @stream AND s."offset" >= @from_offset AND NOT s.closed
WHERE w.id = @workflow_id
ORDER BY s."offset"
LIMIT @max_rows;

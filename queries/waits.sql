-- name: LockOwnedWorkflow :one
-- LockOwnedWorkflow locks a workflow its execution is about to suspend, fenced like every
-- write of an owner: it returns no row unless the workflow runs under the given attempt.
-- Holding the lock, the execution checks (in later statements, which see what committed
-- while it waited) whether what it waits for has come; a message send or a child's
-- completion that commits meanwhile waits for this lock and then wakes the suspended
-- workflow. So no wake-up falls between the check and the suspension.
--
-- It bounds how long the transaction may then sit idle (idle_timeout_ms), as LockQueue does:
-- an executor cut off from the server mid-transaction would otherwise keep the row locked,
-- and every takeover (RecoverWorkflows) waiting on it, until TCP keepalives give up.
--
-- The fence's values are in a materialized CTE, which the planner does not see into, so that
-- the row is reached through its primary key (see WriteCheckpoints).
WITH fence AS MATERIALIZED (
    SELECT @id::text AS id, @attempt::int AS attempt, @claim_token::bigint AS claim_token,
           @owned_state::text AS state,
           set_config('idle_in_transaction_session_timeout', sqlc.arg(idle_timeout_ms)::bigint::text, true) AS bounded
)
SELECT w.id, w.queue
FROM wfgen.workflows w, fence f
WHERE w.id = f.id AND w.attempt = f.attempt AND w.claim_token = f.claim_token AND w.state = f.state
FOR UPDATE OF w;

-- name: SuspendWorkflow :one
-- SuspendWorkflow hands a workflow whose code waits (a durable sleep, a Recv, a child's
-- result) back to its queue until available_at: its worker slot and goroutine are freed,
-- and whichever executor is free when it is due resumes it from its recorded history.
-- waiting_for says what else wakes it sooner. It is fenced like every write of an owner.
-- A wait that something else can end (a message, a child's completion) runs it in the
-- transaction of LockOwnedWorkflow, after checking that it has not ended; a sleep runs it
-- alone, one round trip.
-- Its fence is reached as LockOwnedWorkflow's is.
WITH fence AS MATERIALIZED (
    SELECT @id::text AS id, @attempt::int AS attempt, @claim_token::bigint AS claim_token,
           @owned_state::text AS state
)
UPDATE wfgen.workflows w
SET state = 'enqueued', executor_id = NULL, available_at = @available_at,
    waiting_for = @waiting_for::text, updated_at = now()
FROM fence f
WHERE w.id = f.id AND w.attempt = f.attempt AND w.claim_token = f.claim_token AND w.state = f.state
RETURNING w.queue;

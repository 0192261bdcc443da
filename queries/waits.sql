-- name: LockOwnedWorkflow :one
-- LockOwnedWorkflow locks a workflow its execution is about to suspend, fenced like every
-- write of an owner: it returns no row unless the workflow runs under the given attempt.
-- Holding the lock, the execution checks (in later statements, which see what committed
-- while it waited) whether what it waits for has come; a message send or a child's
-- completion that commits meanwhile waits for this lock and then wakes the suspended
-- workflow. So no wake-up falls between the check and the suspension.
SELECT w.id, w.queue
FROM wfgen.workflows w
WHERE w.id = @id AND w.attempt = @attempt AND w.state = @owned_state::text
FOR UPDATE;

-- name: SuspendWorkflow :exec
-- SuspendWorkflow hands a workflow whose code waits (a durable sleep, a Recv, a child's
-- result) back to its queue until available_at: its worker slot and goroutine are freed,
-- and whichever executor is free when it is due resumes it from its recorded history.
-- waiting_for says what else wakes it sooner. The caller holds the row's lock
-- (LockOwnedWorkflow) in the same transaction.
UPDATE wfgen.workflows
SET state = 'enqueued', executor_id = NULL, available_at = @available_at,
    waiting_for = @waiting_for::text, updated_at = now()
WHERE id = @id AND attempt = @attempt;

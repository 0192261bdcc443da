package db

// Written by hand, next to sqlc's output: the text of the statements that the runtime sends
// in a batch before another (dbschema.Prefixed) rather than through Queries.

// DisableJITSQL is the statement of DisableJIT.
const DisableJITSQL = disableJIT

// LockOwnedWorkflowSQL is the statement of LockOwnedWorkflow, and LockOwnedWorkflowArgs its
// arguments in the order the statement takes them: a Recv that suspends sends it before
// SuspendUnlessMessage, in one batch.
const LockOwnedWorkflowSQL = lockOwnedWorkflow

// LockOwnedWorkflowArgs returns arg as LockOwnedWorkflow passes it.
func LockOwnedWorkflowArgs(arg LockOwnedWorkflowParams) []any {
	return []any{arg.ID, arg.Attempt, arg.ClaimToken, arg.OwnedState, arg.IdleTimeoutMs}
}

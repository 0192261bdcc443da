package wf

// State is where a workflow is in its life. The states and their transitions:
//
//	enqueued ──dequeue/start──▶ running ──return──▶ succeeded | failed
//	    ▲                          │
//	    └── executor died, ────────┘   (more than MaxRecoveries times: ▶ dead)
//	        restarted or shut down
//
//	enqueued | running ──Cancel──▶ cancelled
//
// succeeded, failed, cancelled and dead are final. A dead workflow was recovered after a
// crash more often than its workflow allows ([MaxRecoveries]); it is kept, with its steps,
// for an operator to inspect.
type State string

// The workflow states.
const (
	StateEnqueued  State = "enqueued"
	StateRunning   State = "running"
	StateSucceeded State = "succeeded"
	StateFailed    State = "failed"
	StateCancelled State = "cancelled"
	StateDead      State = "dead"
)

// Final reports whether s is a final state: the workflow will not run again.
func (s State) Final() bool {
	switch s {
	case StateSucceeded, StateFailed, StateCancelled, StateDead:
		return true
	}
	return false
}

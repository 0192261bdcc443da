package wf

import (
	"context"
	"strconv"
)

// StepInfo describes the step attempt a step function runs in.
type StepInfo struct {
	WorkflowID string // the ID of the workflow the step belongs to
	Workflow   string // the workflow's name
	StepID     int    // the step's ID: its position in the workflow's sequence of steps
	Step       string // the step's name
	// Attempt is 1 on the step's first try, 2 on its first retry, and so on. Attempts are
	// counted within one execution of the workflow: a step that runs again because its
	// process died before its checkpoint counts from 1 again, since its earlier tries were
	// never recorded.
	Attempt int
}

// IdempotencyKey returns "<workflow ID>/<step ID>", which is the same for every attempt of
// the step, in every execution of its workflow (after a crash too), and differs for any other
// step. Pass it to systems that deduplicate requests (a payment API's idempotency key, a
// unique column), so that a step that runs again does not do its work twice.
func (s StepInfo) IdempotencyKey() string {
	return s.WorkflowID + "/" + strconv.Itoa(s.StepID)
}

type stepInfoKey struct{}

// CurrentStep returns the step attempt that ctx belongs to: ctx is the context.Context a
// step function receives (the generated step wrappers pass it to the annotated function), or
// one derived from it. ok is false outside a step, in the workflow's own wf.Context too.
func CurrentStep(ctx context.Context) (info StepInfo, ok bool) {
	p, ok := ctx.Value(stepInfoKey{}).(*StepInfo)
	if !ok {
		return StepInfo{}, false
	}
	return *p, true
}

// StepAttempt returns the attempt number of the step ctx belongs to: 1 on its first try, 2 on
// its first retry, and so on (see StepInfo.Attempt); 0 outside a step.
func StepAttempt(ctx context.Context) int {
	info, _ := CurrentStep(ctx)
	return info.Attempt
}

// withStep returns the context of one attempt of a step.
func withStep(ctx context.Context, info StepInfo) context.Context {
	return context.WithValue(ctx, stepInfoKey{}, &info)
}

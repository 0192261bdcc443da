package wf

import (
	"context"
	"time"
)

// Hooks observe workflows and steps as they run, for tracing and metrics (packages wfotel
// and wfprom implement them; Config.Hooks installs them). The runtime calls them on the
// goroutines of the workflows and of the checkpoint writer, so they must be safe for
// concurrent use and quick. A client without hooks pays nothing for them.
//
// Embed NoHooks to implement only some of them.
type Hooks interface {
	// WorkflowStarted is called when an execution of a workflow starts: its first run, or a
	// resumption (recovery, suspension, takeover) with Attempt > 1. The context it returns
	// is the workflow's: its steps' contexts derive from it (to carry a span).
	WorkflowStarted(ctx context.Context, w WorkflowEvent) context.Context
	// WorkflowEnded is called when the execution ends: outcome is "succeeded", "failed",
	// "suspended" (it waits in its queue and resumes later) or "interrupted" (cancelled,
	// stopped, handed over: another execution ends it); err is the workflow's error.
	WorkflowEnded(ctx context.Context, w WorkflowEvent, outcome string, err error)
	// StepAttempt is called before each attempt of a step function; end is called with the
	// attempt's error when it returns. The returned context is the attempt's.
	StepAttempt(ctx context.Context, s StepEvent) (attemptCtx context.Context, end func(err error))
	// CheckpointsWritten is called after each group commit of the checkpoint writer: how
	// many checkpoints (steps and completions) it wrote, how long the statement took, and its
	// error (nil when it committed).
	CheckpointsWritten(n int, took time.Duration, err error)
	// TraceContext returns what to store with the workflows enqueued or started under ctx
	// (such as a W3C traceparent), handed back as WorkflowEvent.TraceContext to every
	// execution, so that it links to its enqueuer's trace. "" stores nothing.
	TraceContext(ctx context.Context) string
}

// WorkflowEvent describes a workflow execution for Hooks.
type WorkflowEvent struct {
	ID, Name, Queue string
	// Attempt is the execution's attempt: 1 on the first run.
	Attempt int
	// Available is when the workflow could start (it was enqueued, or became due):
	// Started minus Available is how long it waited for a worker.
	Available, Started time.Time
	// TraceContext is what Hooks.TraceContext gave when the workflow was enqueued, or "".
	TraceContext string
}

// StepEvent describes a step attempt for Hooks.
type StepEvent struct {
	WorkflowID, Workflow string
	Step                 string
	StepID               int
	// Try counts the step function's calls in this execution, 1 first.
	Try int
}

// NoHooks implements Hooks doing nothing: embed it to implement some of them.
type NoHooks struct{}

// WorkflowStarted returns ctx.
func (NoHooks) WorkflowStarted(ctx context.Context, _ WorkflowEvent) context.Context { return ctx }

// WorkflowEnded does nothing.
func (NoHooks) WorkflowEnded(context.Context, WorkflowEvent, string, error) {}

// StepAttempt returns ctx and a function that does nothing.
func (NoHooks) StepAttempt(ctx context.Context, _ StepEvent) (context.Context, func(error)) {
	return ctx, func(error) {}
}

// CheckpointsWritten does nothing.
func (NoHooks) CheckpointsWritten(int, time.Duration, error) {}

// TraceContext returns "".
func (NoHooks) TraceContext(context.Context) string { return "" }

// MultiHooks calls each of hooks in turn (WorkflowStarted and StepAttempt pass the context
// each returns to the next).
func MultiHooks(hooks ...Hooks) Hooks { return multiHooks(hooks) }

type multiHooks []Hooks

func (m multiHooks) WorkflowStarted(ctx context.Context, w WorkflowEvent) context.Context {
	for _, h := range m {
		ctx = h.WorkflowStarted(ctx, w)
	}
	return ctx
}

func (m multiHooks) WorkflowEnded(ctx context.Context, w WorkflowEvent, outcome string, err error) {
	for _, h := range m {
		h.WorkflowEnded(ctx, w, outcome, err)
	}
}

func (m multiHooks) StepAttempt(ctx context.Context, s StepEvent) (context.Context, func(error)) {
	ends := make([]func(error), len(m))
	for i, h := range m {
		ctx, ends[i] = h.StepAttempt(ctx, s)
	}
	return ctx, func(err error) {
		for i := len(ends) - 1; i >= 0; i-- {
			ends[i](err)
		}
	}
}

// TraceContext is the first hook's that is not "".
func (m multiHooks) TraceContext(ctx context.Context) string {
	for _, h := range m {
		if tc := h.TraceContext(ctx); tc != "" {
			return tc
		}
	}
	return ""
}

func (m multiHooks) CheckpointsWritten(n int, took time.Duration, err error) {
	for _, h := range m {
		h.CheckpointsWritten(n, took, err)
	}
}

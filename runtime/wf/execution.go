package wf

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/wfgen/wfgen/runtime/internal/checkpoint"
	"github.com/wfgen/wfgen/runtime/internal/db"
)

// Context is the context of a running workflow, passed to the workflow function. It is a
// context.Context that ends when the workflow is cancelled, times out or is interrupted,
// and it carries what steps need to replay. Only the runtime creates Contexts.
type Context interface {
	context.Context
	// WorkflowID returns the running workflow's ID.
	WorkflowID() string
	// WorkflowName returns the running workflow's name.
	WorkflowName() string
	// Attempt returns how often an executor has taken this workflow, 1 on its first run.
	Attempt() int

	execution() *execution
}

type wfContext struct {
	context.Context
	x *execution
}

func (c *wfContext) WorkflowID() string    { return c.x.id }
func (c *wfContext) WorkflowName() string  { return c.x.wf.name }
func (c *wfContext) Attempt() int          { return int(c.x.attempt) }
func (c *wfContext) execution() *execution { return c.x }

// errRestart stops an execution whose step checkpoint lost to one recorded by another
// execution of the same workflow: it replays from the recorded history.
var errRestart = errors.New("wf: a step checkpoint conflicted with one recorded by another execution; replaying from the recorded history")

// maxRestarts bounds replays after checkpoint conflicts; past it the execution hands the
// workflow back to its queue.
const maxRestarts = 3

// execution is one run of a workflow in this process, from its first step (replayed or
// not) to its completion.
type execution struct {
	c            *Client
	wf           *registeredWorkflow
	id           string
	attempt      int32
	claimToken   int64  // with attempt, the fencing token of this execution's claim
	claimSeq     uint64 // the claim's place in Client.claims
	input        []byte
	deadline     time.Time // zero without a timeout
	queue        string    // for Hooks
	available    time.Time // for Hooks: when it could start
	traceContext string    // for Hooks: the enqueuer's
	ctx          context.Context
	cancel       context.CancelCauseFunc
	wfctx        *wfContext
	release      func() // frees the worker slot; runs once

	mu          sync.Mutex
	nextStep    int32
	history     map[int32]db.LoadStepsRow // nil on a first run: nothing is recorded yet
	pending     *checkpoint.Pending       // the last step's checkpoint, until known written
	abort       error                     // stops the execution: non-determinism, errRestart, a failed checkpoint
	interrupted bool                      // a step returned because the workflow was stopped
	ended       string                    // for Hooks: "succeeded" or "failed" once written
	endErr      error                     // for Hooks: the workflow's error
	inStep      bool                      // a step function is running
}

func newExecution(c *Client, reg *registeredWorkflow, id string, cl claim, input []byte, deadline *time.Time, release func()) *execution {
	if release == nil {
		release = func() {}
	}
	x := &execution{c: c, wf: reg, id: id, attempt: cl.attempt, claimToken: cl.token, claimSeq: cl.seq, input: input, release: sync.OnceFunc(release)}
	// Executions outlive Client.Stop's first phase (they may finish), so they do not derive
	// from the client's run context; Stop interrupts them through cancel.
	ctx, cancel := context.WithCancelCause(context.Background())
	if deadline != nil {
		var stop context.CancelFunc
		x.deadline = *deadline
		ctx, stop = context.WithDeadlineCause(ctx, *deadline, fmt.Errorf("%w: its deadline %s passed", ErrTimeout, deadline.Format(time.RFC3339)))
		parentCancel := cancel
		cancel = func(cause error) { parentCancel(cause); stop() }
	}
	x.ctx, x.cancel = ctx, cancel
	x.wfctx = &wfContext{Context: ctx, x: x}
	return x
}

// outcome is how an execution ended.
type outcome int

const (
	completed   outcome = iota // final state written (or found written by someone else)
	replay                     // a checkpoint conflicted: run again from the recorded history
	handBack                   // interrupted by Stop, or given up here: hand it back to its queue
	orphaned                   // interrupted by a lost lease: hand it back once the lease is ours again
	leftRunning                // interrupted otherwise (cancelled, superseded, database down)
	suspended                  // back in its queue until it is due: nothing left to do
)

// run executes the workflow to its completion, or until it is interrupted, and says which.
func (x *execution) run() (o outcome) {
	defer x.cancel(nil)
	defer x.release()
	if h := x.c.cfg.Hooks; h != nil {
		ev := WorkflowEvent{ID: x.id, Name: x.wf.name, Queue: x.queue, Attempt: int(x.attempt), Available: x.available, Started: time.Now(), TraceContext: x.traceContext}
		// Steps' contexts derive from the workflow's, so that they carry what the hook put
		// in it (a span); cancellation still comes from x.ctx, which it derives from.
		x.wfctx.Context = h.WorkflowStarted(x.ctx, ev)
		defer func() {
			outcome := "interrupted"
			switch {
			case o == suspended:
				outcome = "suspended"
			case o == completed && x.ended != "":
				outcome = x.ended
			}
			h.WorkflowEnded(x.wfctx.Context, ev, outcome, x.endErr)
		}()
	}
	// A first run has no history: nothing to read. A claim may have read it already, for
	// every workflow it took at once (x.history set).
	replaying := x.attempt > 1 && x.history == nil
	if x.history != nil {
		if cause := context.Cause(x.ctx); errors.Is(cause, ErrTimeout) {
			return x.complete(StateFailed, "", cause) // as below: claimed after its deadline
		}
	}
	for restarts := 0; ; restarts++ {
		if replaying {
			if err := x.loadHistory(); err != nil {
				if cause := context.Cause(x.ctx); errors.Is(cause, ErrTimeout) {
					// Claimed after its deadline (it was suspended, or waited in its queue
					// after a crash): it has timed out, whatever its history says.
					return x.complete(StateFailed, "", cause)
				}
				x.c.log.Error("wfgen: cannot read workflow history; it will resume on recovery", "workflow_id", x.id, "error", err)
				return x.interruptedOutcome()
			}
		}
		output, err := x.call()
		o := x.finish(output, err)
		if o != replay {
			return o
		}
		if restarts == maxRestarts {
			// Another execution keeps writing this workflow's steps: hand it back to its
			// queue, whoever claims it next replays everything recorded by then.
			x.c.log.Warn("wfgen: workflow keeps conflicting with another execution; handing it back to its queue", "workflow_id", x.id)
			return handBack
		}
		replaying = true
		x.mu.Lock()
		x.nextStep, x.pending, x.abort, x.interrupted, x.inStep = 0, nil, nil, false, false
		x.mu.Unlock()
	}
}

// interruptedOutcome says what to do with an execution that stopped without completing:
// hand it back if Stop interrupted it (or closed the writer under it), hand it back later if
// the lease was lost, leave it otherwise.
func (x *execution) interruptedOutcome() outcome {
	switch cause := context.Cause(x.ctx); {
	case cause == nil || cause == ErrInterrupted:
		return handBack
	case cause == errLeaseLost || cause == errClaimMayBeLost:
		return orphaned
	}
	return leftRunning
}

// loadHistory reads the recorded steps, retrying while the database is unreachable.
func (x *execution) loadHistory() error {
	backoff := 50 * time.Millisecond
	for {
		rows, err := x.c.hotQ.LoadSteps(x.ctx, x.id)
		if err == nil {
			x.history = make(map[int32]db.LoadStepsRow, len(rows))
			for _, r := range rows {
				x.history[r.StepID] = r
			}
			return nil
		}
		if x.ctx.Err() != nil {
			return context.Cause(x.ctx)
		}
		x.c.log.Warn("wfgen: reading workflow history failed; retrying", "workflow_id", x.id, "error", err)
		select {
		case <-x.ctx.Done():
			return context.Cause(x.ctx)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// call runs the workflow function; a panic becomes its error.
func (x *execution) call() (output string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: string(debug.Stack())}
		}
	}()
	return x.wf.run(x)
}

// finish records the outcome of a run.
func (x *execution) finish(output string, err error) outcome {
	x.mu.Lock()
	abort, interrupted := x.abort, x.interrupted
	x.mu.Unlock()
	switch {
	case errors.Is(abort, errRestart):
		return replay
	case isSuspended(abort):
		return suspended
	case isFenced(abort):
		// The database refused a write of this attempt: the workflow was cancelled, or
		// belongs to another attempt now. Its fate is not ours to write.
		x.c.log.Info("wfgen: stopped a workflow execution whose checkpoint was refused", "workflow_id", x.id, "attempt", x.attempt, "reason", abort)
		return completed
	case abort != nil:
		return x.complete(StateFailed, "", abort)
	case interrupted || (err != nil && x.ctx.Err() != nil):
		if cause := context.Cause(x.ctx); errors.Is(cause, ErrTimeout) {
			return x.complete(StateFailed, "", cause)
		}
		// Cancelled: already final in the database. Interrupted: it resumes from its
		// last completed step.
		return x.interruptedOutcome()
	case err != nil:
		return x.complete(StateFailed, "", err)
	default:
		return x.complete(StateSucceeded, output, nil)
	}
}

// complete writes the workflow's final state, together with its last step's checkpoint when
// that is still pending.
func (x *execution) complete(state State, output string, failure error) outcome {
	var stored storedError
	var errJSON string
	if failure != nil {
		stored = storedErrorOf(failure)
		errJSON = stored.json()
		// Logged before the failure is written: whoever reads it from the database, in any
		// process, finds the log already there.
		x.logFailure(stored)
	}
	x.mu.Lock()
	after := x.pending
	x.mu.Unlock()
	p := x.c.writer.SubmitCompletion(checkpoint.Completion{
		WorkflowID: x.id, Attempt: x.attempt, ClaimToken: x.claimToken, State: string(state), Output: output, Error: errJSON, After: after,
	})
	// The workflow's code is done: its slot can take the next workflow while the completion
	// is written. The row stays running until then, so global limits and recovery still
	// count it.
	x.release()
	applied, err := p.Wait(context.Background())
	if after != nil {
		stepApplied, stepErr := after.Wait(context.Background())
		switch {
		case stepErr == nil && !stepApplied:
			return replay
		case isFenced(stepErr):
			x.c.log.Info("wfgen: a finished workflow execution's last checkpoint was refused; leaving the workflow to its owner", "workflow_id", x.id, "attempt", x.attempt, "reason", stepErr)
			return completed
		case stepErr != nil && !errors.Is(stepErr, checkpoint.ErrClosed):
			// Postgres refused the last step's checkpoint: fail the workflow, saying why.
			x.mu.Lock()
			x.pending = nil
			x.mu.Unlock()
			return x.complete(StateFailed, "", fmt.Errorf("wf: recording the last step's checkpoint: %w", stepErr))
		}
	}
	switch {
	case errors.Is(err, checkpoint.ErrClosed):
		return handBack // stopping
	case err != nil && state == StateSucceeded:
		// Postgres refused the output (jsonb rejects some strings JSON allows, such as
		// \u0000): the workflow fails with a message saying so rather than running forever.
		x.c.log.Error("wfgen: workflow output cannot be stored", "workflow_id", x.id, "error", err)
		return x.complete(StateFailed, "", encodeFailure(fmt.Sprintf("output of workflow %q", x.wf.name), "JSON", err))
	case err != nil:
		x.c.log.Error("wfgen: recording workflow completion failed; it will resume on recovery", "workflow_id", x.id, "error", err)
		return leftRunning
	case !applied:
		// Cancelled meanwhile, or taken over by another executor: not ours to complete.
		x.c.log.Debug("wfgen: workflow completion not applied: cancelled or taken over", "workflow_id", x.id)
		return completed
	}
	x.c.waiter.completedHere(waitResult{row: db.GetResultsRow{
		ID: x.id, Name: x.wf.name, State: string(state), Output: []byte(output), Error: []byte(errJSON),
	}})
	x.c.watchers.signal(x.id) // parents awaiting it here, and readers of its streams
	x.ended, x.endErr = string(state), failure
	return completed
}

// logFailure logs a workflow that failed: a panic as an error, with its stack; any other
// failure (its code returned an error, it timed out, its history did not match) as a
// warning, since the workflow's caller gets the error too.
func (x *execution) logFailure(se storedError) {
	if se.Kind == kindPanic {
		x.c.log.Error("wfgen: workflow panicked", "workflow_id", x.id, "name", x.wf.name, "error", se.Message, "stack", se.Stack)
		return
	}
	x.c.log.Warn("wfgen: workflow failed", "workflow_id", x.id, "name", x.wf.name, "kind", se.Kind, "error", se.Message)
}

// beginStep assigns the next step ID and returns the step's recorded checkpoint, if any.
func (x *execution) beginStep(name string) (int32, *db.LoadStepsRow, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.abort != nil {
		return 0, nil, x.abort
	}
	if x.ctx.Err() != nil {
		x.interrupted = true
		return 0, nil, context.Cause(x.ctx)
	}
	if x.inStep {
		// Step IDs follow call order; steps started together would get them in whatever
		// order the goroutines happen to run, and replay would not match.
		x.abort = fmt.Errorf("wf: workflow %q (ID %s) started step %q while another of its steps was running: call a workflow's steps one after another, never from concurrent goroutines (fan out with child workflows instead)", x.wf.name, x.id, name)
		return 0, nil, x.abort
	}
	x.nextStep++
	id := x.nextStep
	rec, ok := x.history[id]
	if !ok {
		x.inStep = true
		return id, nil, nil
	}
	if rec.Name != name {
		x.abort = &NonDeterminismError{WorkflowID: x.id, StepID: int(id), Expected: name, Recorded: rec.Name}
		return 0, nil, x.abort
	}
	return id, &rec, nil
}

// currentStep is the ID of the step running now (the last one begun): steps run one at a
// time, from the workflow's goroutine.
func (x *execution) currentStep() int32 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.nextStep
}

// openStep begins a step call named name, for every kind of step (Step.Run and RunTx, the
// primitives' internal steps): it returns the recorded checkpoint of a step that is recorded
// (replay it), or the ID of a step to run, once the previous step's checkpoint is durable and
// while the lease is held. A step it opened ends with submitStep, or endStep.
func (x *execution) openStep(name string) (int32, *db.LoadStepsRow, error) {
	id, rec, err := x.beginStep(name)
	if err != nil || rec != nil {
		return id, rec, err
	}
	if err := x.awaitCheckpoint(); err != nil {
		x.endStep()
		return 0, nil, err
	}
	if !x.c.lease.Held() {
		// The lease service interrupts every execution when its lease can no longer be
		// trusted; a step must not start in the moment before it does.
		x.cancel(errLeaseLost)
		x.endStep()
		return 0, nil, x.interruption()
	}
	return id, nil, nil
}

// awaitCheckpoint waits until the previous step's checkpoint is written: a step runs only
// once everything before it is durable.
func (x *execution) awaitCheckpoint() error {
	x.mu.Lock()
	p := x.pending
	x.mu.Unlock()
	if p == nil {
		return nil
	}
	applied, err := p.Wait(x.ctx)
	x.mu.Lock()
	defer x.mu.Unlock()
	switch {
	case x.ctx.Err() != nil:
		x.interrupted = true
		return context.Cause(x.ctx)
	case errors.Is(err, checkpoint.ErrClosed):
		x.interrupted = true
		return ErrInterrupted
	case isFenced(err):
		x.abort = fenceError(err)
		return x.abort
	case err != nil:
		x.abort = fmt.Errorf("wf: recording a step checkpoint: %w", err)
		return x.abort
	case !applied:
		x.abort = errRestart
		return x.abort
	}
	if x.pending == p {
		x.pending = nil
	}
	return nil
}

// submitStep hands a step checkpoint to the writer without waiting: the next step (or the
// completion) waits for it.
func (x *execution) submitStep(s checkpoint.Step) {
	s.ClaimToken = x.claimToken
	p := x.c.writer.SubmitStep(s)
	x.mu.Lock()
	x.pending = p
	x.inStep = false
	x.mu.Unlock()
}

// endStep marks the running step as done without a checkpoint (it was interrupted).
func (x *execution) endStep() {
	x.mu.Lock()
	x.inStep = false
	x.mu.Unlock()
}

// interruption marks the run interrupted and returns why.
func (x *execution) interruption() error {
	x.mu.Lock()
	x.interrupted = true
	x.mu.Unlock()
	return context.Cause(x.ctx)
}

// isFenced reports whether err is (or wraps) a write the database refused because this
// execution's attempt no longer owns its workflow.
func isFenced(err error) bool {
	if err == nil {
		return false // without the allocation errors.As's target costs: this runs per workflow
	}
	var f *checkpoint.FencedError
	return errors.As(err, &f)
}

// fenceError is what the workflow's code sees at its next step once a write of its attempt
// was refused: ErrCancelled when the workflow was cancelled (also when the cancellation's
// notification was lost, since the refusal carries it), ErrInterrupted otherwise.
func fenceError(err error) error {
	var f *checkpoint.FencedError
	errors.As(err, &f)
	if f.State == string(StateCancelled) {
		return fmt.Errorf("%w: %w", ErrCancelled, err)
	}
	return fmt.Errorf("%w: %w", ErrInterrupted, err)
}

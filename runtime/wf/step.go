package wf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wfgen/wfgen/runtime/internal/checkpoint"
)

// Step is a step definition: a name, the type of its output and its retry policy. Steps do
// a workflow's I/O; the runtime checkpoints each completed step's output (or final error)
// before the workflow goes on, and on replay returns the recorded output without running
// the step again.
//
// A step that was running when its process crashed runs again on recovery: steps run at
// least once, so make them idempotent (use the workflow ID and step ID as idempotency keys
// towards other systems).
type Step[T any] struct {
	name string
	opts stepOptions
}

// NewStep defines a step whose output has type T. It panics on an empty name or invalid
// options: definitions are made at program start, where that is a programming error.
func NewStep[T any](name string, opts ...StepOption) *Step[T] {
	if strings.TrimSpace(name) == "" {
		panic("wf: NewStep: empty name")
	}
	return &Step[T]{name: name, opts: newStepOptions(name, opts)}
}

// Name returns the step's name, as recorded in the database.
func (s *Step[T]) Name() string { return s.name }

func (s *Step[T]) register(c *Client) error {
	if prev, dup := c.steps[s.name]; dup {
		if prev.def == any(s) {
			return nil
		}
		return fmt.Errorf("wf: step %q registered twice (outputs %s and %s)", s.name, prev.output, typeName[T]())
	}
	c.steps[s.name] = registeredStep{output: typeName[T](), def: s}
	return nil
}

// Run runs the step inside the workflow whose context is ctx: the Nth step call of an
// execution has step ID N. If step N is recorded (the workflow is resuming) Run returns the
// recorded output or error without calling fn; if the name recorded at N differs, Run
// returns a *NonDeterminismError and the workflow fails. Otherwise Run waits until the
// previous step's checkpoint is durable, calls fn (retrying as the step's options say),
// and records the outcome.
//
// The output returned is the one replay would return: the value after a round trip
// through JSON. When every attempt fails Run returns a *StepError wrapping each attempt's
// error. When the workflow is cancelled, times out or is interrupted, Run returns
// ErrCancelled, ErrTimeout or ErrInterrupted and records nothing.
//
// Call steps one after another from the workflow's goroutine: step IDs follow call order.
func (s *Step[T]) Run(ctx Context, fn func(context.Context) (T, error)) (T, error) {
	var zero T
	x := ctx.execution()
	id, out, done, err := s.start(x)
	if done || err != nil {
		return out, err
	}

	started := time.Now()
	out, tries, stepErr := s.attempts(x, id, fn)
	if stepErr != nil && x.ctx.Err() != nil {
		// The workflow is being cancelled or stopped: the step did not finish, so nothing
		// is recorded and it runs again when the workflow resumes.
		x.endStep()
		return zero, x.interruption()
	}
	cp := checkpoint.Step{WorkflowID: x.id, StepID: id, Name: s.name, Attempt: x.attempt, Tries: int32(tries), StartedAt: started}
	if stepErr == nil {
		out, cp.Output, stepErr = roundTrip(s.name, id, out)
	}
	if stepErr != nil {
		out = zero
		cp.Error = encodeError(stepErr)
	}
	x.submitStep(cp)
	return out, stepErr
}

// start begins a step call (openStep): for a step that is recorded it returns the recorded
// outcome (done); for one to run, its ID.
func (s *Step[T]) start(x *execution) (id int32, out T, done bool, err error) {
	id, rec, err := x.openStep(s.name)
	switch {
	case err != nil:
		return 0, out, true, err
	case rec != nil:
		out, err = s.replayed(id, rec)
		return id, out, true, err
	}
	return id, out, false, nil
}

// roundTrip encodes a step's output and decodes it again, so that a first run sees exactly
// what a replay will.
func roundTrip[T any](name string, id int32, out T) (T, string, error) {
	var zero T
	what := func() string { return fmt.Sprintf("output of step %q", name) }
	b, err := json.Marshal(out)
	if err != nil {
		return zero, "", &StepError{Step: name, StepID: int(id), Attempts: []error{encodeFailure(what(), typeName[T](), err)}}
	}
	if decodesToItself(out) {
		return out, string(b), nil
	}
	var replayed T
	if err := json.Unmarshal(b, &replayed); err != nil {
		return zero, "", &StepError{Step: name, StepID: int(id), Attempts: []error{
			decodeFailure(what(), typeName[T](), "its JSON encoding does not decode back: check its MarshalJSON and UnmarshalJSON", err),
		}}
	}
	return replayed, string(b), nil
}

// decodesToItself reports whether v's JSON encoding is known to decode to v exactly, so that
// decoding it can be skipped: the empty struct, which steps run for their effects return,
// booleans and integers, and strings of valid UTF-8 (encoding/json replaces invalid bytes).
// Named types are not among them: their methods may encode them otherwise.
func decodesToItself(v any) bool {
	switch v := v.(type) {
	case struct{}, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return true
	case string:
		return utf8.ValidString(v)
	}
	return false
}

// attempts calls fn until it succeeds, its error is final, the attempts run out or the
// workflow stops.
func (s *Step[T]) attempts(x *execution, id int32, fn func(context.Context) (T, error)) (T, int, error) {
	var zero T
	var errs []error
	info := StepInfo{WorkflowID: x.id, Workflow: x.wf.name, StepID: int(id), Step: s.name}
	for try := 1; ; try++ {
		info.Attempt = try
		out, err := s.attempt(x, info, fn)
		if err == nil {
			return out, try, nil
		}
		errs = append(errs, err)
		if x.ctx.Err() != nil || errors.Is(err, errCheckpointRefused) {
			return zero, try, err
		}
		if final := s.opts.final(err); final || try >= s.opts.maxAttempts {
			return zero, try, &StepError{Step: s.name, StepID: int(id), Attempts: errs, Final: final}
		}
		wait := s.opts.delay(try)
		x.c.log.Debug("wfgen: step failed; retrying", "workflow_id", x.id, "step", s.name, "step_id", id, "attempt", try, "retry_in", wait, "error", err)
		t := time.NewTimer(wait)
		select {
		case <-x.ctx.Done():
			t.Stop()
			return zero, try, context.Cause(x.ctx)
		case <-t.C:
		}
	}
}

// attempt runs one attempt with the step's info in its context, told to the client's hooks.
func (s *Step[T]) attempt(x *execution, info StepInfo, fn func(context.Context) (T, error)) (T, error) {
	h := x.c.cfg.Hooks
	if h == nil {
		return s.try(withStep(x.ctx, info), fn)
	}
	ctx, end := h.StepAttempt(x.wfctx.Context, StepEvent{WorkflowID: x.id, Workflow: x.wf.name, Step: s.name, StepID: info.StepID, Try: info.Attempt})
	out, err := s.try(withStep(ctx, info), fn)
	end(err)
	return out, err
}

// final reports whether a step's error ends its retries: it is marked with Final, or the
// step's RetryIf refuses it.
func (o *stepOptions) final(err error) bool {
	return markedFinal(err) || o.retryIf != nil && !o.retryIf(err)
}

// try runs one attempt; a panic becomes its error.
func (s *Step[T]) try(ctx context.Context, fn func(context.Context) (T, error)) (out T, err error) {
	if s.opts.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.timeout)
		defer cancel()
	}
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: string(debug.Stack())}
		}
	}()
	return fn(ctx)
}

// delay is the wait after the given failed attempt: exponential, capped, jittered.
func (o *stepOptions) delay(attempt int) time.Duration {
	d := float64(o.backoff) * math.Pow(o.factor, float64(attempt-1))
	d = min(d, float64(o.maxBackoff))
	if o.jitter > 0 {
		d *= 1 + o.jitter*(2*rand.Float64()-1)
	}
	return time.Duration(d)
}

package wf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wfgen/wfgen/runtime/internal/checkpoint"
	"github.com/wfgen/wfgen/runtime/internal/db"
)

// Event is a typed key whose latest value a workflow publishes for clients to read: its
// progress, an intermediate result, a URL a person should open. The workflow sets it with
// Set; any client (one that only enqueues too) reads it with Get or waits for it with Wait.
// Values are stored as JSON (jsonb), so they are readable from SQL as well.
//
// Define each event once, at package level, and share the definition between the workflow
// and its readers, so that both agree on T. Register it on the clients that use it:
// registration refuses two events of one key with different types.
type Event[T any] struct {
	key string
}

// NewEvent defines an event whose values have type T. It panics on an empty key:
// definitions are made at program start, where that is a programming error.
func NewEvent[T any](key string) *Event[T] {
	if strings.TrimSpace(key) == "" {
		panic("wf: NewEvent: empty key")
	}
	return &Event[T]{key: key}
}

// Key returns the event's key, as stored in the database.
func (e *Event[T]) Key() string { return e.key }

func (e *Event[T]) register(c *Client) error {
	return registerValueType(c, "event", e.key, typeName[T]())
}

// registerValueType remembers the type of the values of an event or a stream, and refuses
// another type under the same name: its readers would fail to decode what was written.
func registerValueType(c *Client, kind, name, typ string) error {
	if c.valueTypes == nil {
		c.valueTypes = map[string]string{}
	}
	k := kind + " " + name
	if prev, ok := c.valueTypes[k]; ok && prev != typ {
		return fmt.Errorf("wf: %s %q registered with two value types, %s and %s: define it once and share the definition", kind, name, prev, typ)
	}
	c.valueTypes[k] = typ
	return nil
}

// Set publishes v as the event's latest value, from the workflow whose context is ctx. It
// takes one step ID: the value is stored together with the step's checkpoint, in one
// statement, so it is written exactly once, however often the workflow replays or runs
// again after a crash (the event's version counts its writes). Readers in any process
// waiting for it wake at once.
//
// Set costs one round trip, after the previous step's checkpoint is durable; a replay costs
// none. It returns a *CodecError if v cannot be stored as JSON, and ErrCancelled, ErrTimeout
// or ErrInterrupted if the workflow stops meanwhile.
func (e *Event[T]) Set(ctx Context, v T) error {
	what := fmt.Sprintf("value of event %q", e.key)
	value, err := json.Marshal(v)
	if err != nil {
		return encodeFailure(what, typeName[T](), err)
	}
	x := ctx.execution()
	return x.writeStep("wf.event:"+e.key, what, typeName[T](), func(stepID int32, name string, started time.Time) (writeOutcome, error) {
		row, err := x.c.q.SetEvent(x.ctx, db.SetEventParams{
			WorkflowID: x.id, Attempt: x.attempt, ClaimToken: x.claimToken, OwnedState: string(StateRunning),
			StepID: stepID, StepName: name, StartedAt: started, Key: e.key, Value: value,
		})
		switch {
		case err != nil:
			return 0, err
		case !row.Owned:
			return writeFenced, nil
		case row.Version == 0:
			return writeRecordedAlready, nil
		}
		return writeDone, nil
	})
}

// Get returns the event's latest value in the workflow with the given ID, without waiting:
// ok is false while the workflow has not set it. An unknown workflow ID is an error that
// wraps ErrNotFound. Get costs one round trip.
func (e *Event[T]) Get(ctx context.Context, c *Client, workflowID string) (v T, ok bool, err error) {
	v, ok, _, err = e.get(ctx, c, workflowID)
	return v, ok, err
}

// get reads the event's value, and the workflow's state, in one snapshot.
func (e *Event[T]) get(ctx context.Context, c *Client, workflowID string) (v T, ok bool, state State, err error) {
	var zero T
	row, err := c.q.GetEvent(ctx, db.GetEventParams{Key: e.key, WorkflowID: workflowID})
	if errors.Is(err, pgx.ErrNoRows) {
		return zero, false, "", &notFoundError{id: workflowID}
	}
	if err != nil {
		return zero, false, "", c.dbError(fmt.Sprintf("reading event %q of workflow %s", e.key, workflowID), err)
	}
	if row.Value == nil {
		return zero, false, State(row.State), nil
	}
	if err := json.Unmarshal(row.Value, &v); err != nil {
		return zero, false, "", decodeFailure(fmt.Sprintf("event %q of workflow %s", e.key, workflowID), typeName[T](),
			"the workflow and this reader disagree on the event's type: define the event once and share the definition", err)
	}
	return v, true, State(row.State), nil
}

// Wait returns the event's value in the workflow with the given ID once the workflow has
// set it: at once if it has, otherwise as soon as it does (a change notification wakes the
// wait within milliseconds, from any process; a poll backs it up). Bound the wait with ctx
// (context.WithTimeout); Wait then returns ctx's error. If the workflow ends without
// setting the event, Wait returns an error saying so rather than waiting forever; an
// unknown workflow ID is an error that wraps ErrNotFound.
//
// Wait costs one round trip per look: one when the value is there, then one per change of
// the workflow (or poll) while it is not.
func (e *Event[T]) Wait(ctx context.Context, c *Client, workflowID string) (T, error) {
	var v T
	err := c.pollUntil(ctx, workflowID, func() (bool, error) {
		got, ok, state, err := e.get(ctx, c, workflowID)
		switch {
		case err != nil:
			return false, err
		case ok:
			v = got
			return true, nil
		case state.Final():
			return false, fmt.Errorf("wf: workflow %s is %s and never set event %q: it will not set it now", workflowID, state, e.key)
		}
		return false, nil
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// writeOutcome is what a workflow-side write that records its own step found.
type writeOutcome int

const (
	writeDone            writeOutcome = iota // written, with its step
	writeFenced                              // the workflow no longer runs under this attempt
	writeRecordedAlready                     // another run of this attempt recorded the step
	writeRefused                             // nothing written, nothing recorded: see the caller
)

// writeStep runs a workflow-side write (an event's value, a stream's value) as the step
// named name: write stores its data and the step's checkpoint in one statement, so the data
// is stored if and only if the step is, and a replay of a recorded step writes nothing. A
// failed write is retried while the database is unreachable: the statement is idempotent
// by its step ID, and a write that committed unseen is found recorded (the execution then
// replays, and passes the step). what and typ name the value for a *CodecError when
// Postgres refuses it.
//
// write returns writeRefused for a write its own rules refused (an append to a closed
// stream); writeStep then returns errRefused and records nothing: a replay meets the same
// refusal, since it depends only on the workflow's own earlier steps.
func (x *execution) writeStep(name, what, typ string, write func(stepID int32, name string, started time.Time) (writeOutcome, error)) error {
	id, rec, err := x.openStep(name)
	switch {
	case err != nil:
		return err
	case rec != nil && rec.Error != nil:
		return decodeStepError(name, int(id), rec.Error)
	case rec != nil:
		return nil
	}
	started := time.Now()
	backoff := 10 * time.Millisecond
	for {
		o, err := write(id, name, started)
		if err == nil {
			x.endStep()
			switch o {
			case writeDone:
				x.c.changed(x.id)
				return nil
			case writeFenced:
				x.mu.Lock()
				x.abort = fenceError(x.fencedNow())
				x.mu.Unlock()
				return x.abort
			case writeRecordedAlready:
				x.mu.Lock()
				x.abort = errRestart
				x.mu.Unlock()
				return x.abort
			}
			return errRefused
		}
		if x.ctx.Err() != nil {
			x.endStep()
			return x.interruption()
		}
		if checkpoint.Permanent(err) {
			x.endStep()
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22") {
				// A data exception: jsonb refuses some strings JSON allows, such as \u0000.
				return encodeFailure(what, typ, err)
			}
			return x.c.dbError(fmt.Sprintf("recording step %q (ID %d) of workflow %s", name, id, x.id), err)
		}
		x.c.log.Warn("wfgen: writing a workflow's step failed; retrying", "workflow_id", x.id, "step", name, "step_id", id, "retry_in", backoff, "error", err)
		t := time.NewTimer(backoff)
		select {
		case <-x.ctx.Done():
			t.Stop()
			x.endStep()
			return x.interruption()
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}

// errRefused is what writeStep returns for a write its caller's rules refused; the caller
// replaces it with its own error.
var errRefused = errors.New("wf: write refused")

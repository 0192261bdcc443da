package wf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"strings"
	"time"

	"github.com/wfgen/wfgen/runtime/internal/db"
)

// Stream is a named, typed, append-only sequence of values a workflow produces for clients
// to read as they come: log lines, tokens, partial results. The workflow appends with
// Append and ends the stream with Close; any client reads it with Read (what is there now)
// or All (everything, waiting for more). Each value has an offset, 0 for the first. Values
// are stored as JSON (jsonb), so they are readable from SQL as well.
//
// A stream ends when its workflow closes it or when the workflow becomes final (succeeds,
// fails, is cancelled): a final workflow appends nothing more, so readers never wait on it.
//
// Define each stream once, at package level, and share the definition between the workflow
// and its readers. Register it on the clients that use it: registration refuses two streams
// of one name with different types.
type Stream[T any] struct {
	name string
}

// NewStream defines a stream whose values have type T. It panics on an empty name:
// definitions are made at program start, where that is a programming error.
func NewStream[T any](name string) *Stream[T] {
	if strings.TrimSpace(name) == "" {
		panic("wf: NewStream: empty name")
	}
	return &Stream[T]{name: name}
}

// Name returns the stream's name, as stored in the database.
func (s *Stream[T]) Name() string { return s.name }

func (s *Stream[T]) register(c *Client) error {
	return registerValueType(c, "stream", s.name, typeName[T]())
}

// Append appends v to the stream of the workflow whose context is ctx, at the stream's next
// offset. It takes one step ID: the value is stored together with the step's checkpoint, in
// one statement, so it is appended exactly once and in order, however often the workflow
// replays or runs again after a crash. Readers in any process waiting for it wake at once.
//
// Append costs one round trip, after the previous step's checkpoint is durable; a replay
// costs none. Appending to a closed stream is an error (and records nothing). It returns a
// *CodecError if v cannot be stored as JSON, and ErrCancelled, ErrTimeout or ErrInterrupted
// if the workflow stops meanwhile.
func (s *Stream[T]) Append(ctx Context, v T) error {
	what := fmt.Sprintf("value of stream %q", s.name)
	value, err := json.Marshal(v)
	if err != nil {
		return encodeFailure(what, typeName[T](), err)
	}
	err = s.write(ctx, "wf.stream:"+s.name, what, value)
	if errors.Is(err, errRefused) {
		return fmt.Errorf("wf: cannot append to stream %q of workflow %s: the workflow closed it already; append every value before Close", s.name, ctx.WorkflowID())
	}
	return err
}

// Close ends the stream of the workflow whose context is ctx: readers get every value
// appended before, then the end. It takes one step ID and costs one round trip, like
// Append. Closing a closed stream does nothing. A workflow that becomes final without
// closing its streams ends them too.
func (s *Stream[T]) Close(ctx Context) error {
	err := s.write(ctx, "wf.stream.close:"+s.name, "", nil)
	if errors.Is(err, errRefused) {
		return nil // closed already
	}
	return err
}

// write appends a value, or the closing row when value is nil, as one step.
func (s *Stream[T]) write(ctx Context, step, what string, value []byte) error {
	x := ctx.execution()
	return x.writeStep(step, what, typeName[T](), func(stepID int32, name string, started time.Time) (writeOutcome, error) {
		row, err := x.c.q.AppendStream(x.ctx, db.AppendStreamParams{
			WorkflowID: x.id, Attempt: x.attempt, ClaimToken: x.claimToken, OwnedState: string(StateRunning), Stream: s.name,
			StepID: stepID, StepName: name, StartedAt: started, Value: value, Close: value == nil,
		})
		switch {
		case err != nil:
			return 0, err
		case !row.Owned:
			return writeFenced, nil
		case row.WasClosed:
			return writeRefused, nil
		case row.Offset < 0:
			return writeRecordedAlready, nil
		}
		return writeDone, nil
	})
}

// Read returns the stream's values in the workflow with the given ID from offset from on,
// in order, without waiting; closed is true when no more will come (the workflow closed the
// stream or is final). An unknown workflow ID is an error that wraps ErrNotFound. Read costs
// one round trip.
func (s *Stream[T]) Read(ctx context.Context, c *Client, workflowID string, from int) (vals []T, closed bool, err error) {
	if from < 0 || from > math.MaxInt32 {
		return nil, false, fmt.Errorf("wf: reading stream %q: offset %d is out of range: offsets start at 0", s.name, from)
	}
	vals, closed, _, err = s.read(ctx, c, workflowID, from, math.MaxInt32)
	return vals, closed, err
}

// allPage is how many values All reads per round trip.
const allPage = 500

// read reads at most limit values from offset from; full says it read limit values, so
// more may be there now.
func (s *Stream[T]) read(ctx context.Context, c *Client, workflowID string, from, limit int) (vals []T, closed, full bool, err error) {
	rows, err := c.q.ReadStream(ctx, db.ReadStreamParams{Stream: s.name, FromOffset: int32(from), WorkflowID: workflowID, MaxRows: int32(limit)})
	if err != nil {
		return nil, false, false, c.dbError(fmt.Sprintf("reading stream %q of workflow %s", s.name, workflowID), err)
	}
	if len(rows) == 0 {
		return nil, false, false, &notFoundError{id: workflowID}
	}
	for _, r := range rows {
		if r.Offset == nil {
			break // the workflow's row alone: no value from this offset on
		}
		var v T
		if err := json.Unmarshal(r.Value, &v); err != nil {
			return nil, false, false, decodeFailure(fmt.Sprintf("value %d of stream %q of workflow %s", *r.Offset, s.name, workflowID), typeName[T](),
				"the workflow and this reader disagree on the stream's type: define the stream once and share the definition", err)
		}
		vals = append(vals, v)
	}
	full = len(vals) == limit
	closed = !full && (rows[0].Closed || State(rows[0].State).Final())
	return vals, closed, full, nil
}

// All returns the stream's values in the workflow with the given ID from offset from on, in
// order, as they come: it yields what is there, then waits for more (a change notification
// wakes it within milliseconds, from any process; a poll backs it up), and ends once the
// workflow closed the stream or is final and every value was yielded. An error (ctx ended,
// an unknown workflow ID wrapping ErrNotFound, a value that does not decode) is yielded once,
// with a zero value, and ends the sequence. Bound the wait with ctx.
//
// All costs one round trip per look (up to 500 values each): one per change of the workflow
// (or poll) while it waits.
func (s *Stream[T]) All(ctx context.Context, c *Client, workflowID string, from int) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		if from < 0 || from > math.MaxInt32 {
			yield(zero, fmt.Errorf("wf: reading stream %q: offset %d is out of range: offsets start at 0", s.name, from))
			return
		}
		next, stopped := from, false
		err := c.pollUntil(ctx, workflowID, func() (bool, error) {
			for {
				vals, closed, full, err := s.read(ctx, c, workflowID, next, allPage)
				if err != nil {
					return false, err
				}
				for _, v := range vals {
					if !yield(v, nil) {
						stopped = true
						return true, nil
					}
					next++
				}
				if !full {
					return closed, nil
				}
			}
		})
		if err != nil && !stopped {
			yield(zero, err)
		}
	}
}

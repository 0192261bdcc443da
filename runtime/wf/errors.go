package wf

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"
)

// Sentinel errors. Compare with errors.Is.
var (
	// ErrNotFound: no workflow has the given ID.
	ErrNotFound = errors.New("wf: workflow not found")
	// ErrCancelled: the workflow was cancelled (Handle.Cancel). Inside a workflow, steps
	// started after the cancel return it.
	ErrCancelled = errors.New("wf: workflow cancelled")
	// ErrTimeout: the workflow ran past its deadline (WorkflowTimeout or WithTimeout).
	ErrTimeout = errors.New("wf: workflow timed out")
	// ErrDead: the workflow was recovered after crashes more often than MaxRecoveries allows
	// and was given up.
	ErrDead = errors.New("wf: workflow given up after too many recoveries")
	// ErrNotStarted: the operation runs workflows in this process and needs Client.Start.
	ErrNotStarted = errors.New("wf: client not started: call Client.Start before starting workflows in this process, or enqueue them for a worker")
	// ErrStopped: the client was stopped.
	ErrStopped = errors.New("wf: client stopped")
	// ErrPoolClosed: the pgxpool.Pool given to NewClient was closed.
	ErrPoolClosed = errors.New("wf: the database pool is closed: stop the wf.Client (Client.Stop) before closing its pgxpool.Pool")
	// ErrNotMigrated: wfgen's tables are missing from the configured schema.
	ErrNotMigrated = errors.New("wf: wfgen's tables are missing: start a worker (Client.Start applies migrations) or run `wfgen migrate`")
	// ErrInterrupted: this process stopped running the workflow (shutdown, lost lease); another
	// execution will resume it. Steps return it so that workflow code unwinds quickly.
	ErrInterrupted = errors.New("wf: workflow execution interrupted; it will resume from its last completed step")
)

// notFoundError names the workflow that was not found; errors.Is matches ErrNotFound.
type notFoundError struct {
	id  string
	why string // optional: why a workflow with that ID does not count
}

func (e *notFoundError) Error() string {
	if e.why != "" {
		return fmt.Sprintf("wf: workflow %q not found: %s", e.id, e.why)
	}
	return fmt.Sprintf("wf: workflow %q not found", e.id)
}

func (e *notFoundError) Unwrap() error { return ErrNotFound }

// wrongWorkflow is the error of a handle of workflow want whose ID belongs to a workflow
// named name.
func wrongWorkflow(id, name, want string) error {
	return &notFoundError{id: id, why: fmt.Sprintf("the ID belongs to workflow %q, not %q", name, want)}
}

// UnknownWorkflowError reports a workflow name that is not registered on the client that
// should run it.
type UnknownWorkflowError struct {
	Name string
}

func (e *UnknownWorkflowError) Error() string {
	return fmt.Sprintf("wf: workflow %q is not registered on this client: register it (the generated Register(c) does) before Client.Start", e.Name)
}

// IDConflictError reports a workflow ID that is already taken by a workflow of another name.
// Starting or enqueueing the same workflow under the same ID is not an error: it returns the
// existing workflow.
type IDConflictError struct {
	ID           string
	Name         string // the workflow the caller tried to start
	ExistingName string // the workflow that has the ID
}

func (e *IDConflictError) Error() string {
	return fmt.Sprintf("wf: workflow ID %q is already used by workflow %q, so it cannot start %q: choose another ID", e.ID, e.ExistingName, e.Name)
}

// InputMismatchError reports an enqueue or start under WithID(id, RequireSameInput) refused
// because the workflow that has the ID was stored with another input.
type InputMismatchError struct {
	ID       string
	Workflow string // the workflow's name
	State    State  // the existing workflow's state
}

func (e *InputMismatchError) Error() string {
	return fmt.Sprintf("wf: workflow ID %q already has a %q workflow (%s) whose stored input differs from this one: "+
		"an ID runs its workflow once, on the input stored first; enqueue this input under another ID, or follow the existing workflow with Get",
		e.ID, e.Workflow, e.State)
}

// DuplicateError reports an enqueue refused because a workflow with the same deduplication
// ID is enqueued or running in the queue. Pass ReturnExisting to WithDedupID to get that
// workflow's handle instead.
type DuplicateError struct {
	Queue      string
	DedupID    string
	ExistingID string // the workflow that holds the deduplication ID
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("wf: deduplication ID %q is held by workflow %q in queue %q until it finishes", e.DedupID, e.ExistingID, e.Queue)
}

// NonDeterminismError stops a workflow whose code called a different step at a step ID than
// the one recorded there: the code changed under a running workflow, or its control flow
// depends on something that is not a step (time, randomness, map order, goroutines).
type NonDeterminismError struct {
	WorkflowID string
	StepID     int
	Expected   string // the step the code called
	Recorded   string // the step recorded at StepID
}

func (e *NonDeterminismError) Error() string {
	return fmt.Sprintf("wf: non-determinism in workflow %q at step %d: the code called step %q but the recorded history has %q; keep workflow code deterministic (steps for I/O, time and randomness), or let running workflows finish before changing it", e.WorkflowID, e.StepID, e.Expected, e.Recorded)
}

// StepError is the error of a step that failed: every attempt it was allowed failed, or an
// attempt failed with a final error (Final, or an error the step's RetryIf refused). It wraps
// the error of each attempt, so errors.Is and errors.As see through it. A StepError replayed
// from the database after a restart carries the attempts' messages, and the coded errors
// among them (see RegisterErrorCode and CodedError), not the original error values.
type StepError struct {
	Step     string
	StepID   int
	Attempts []error
	// Final is true when the step stopped on a final error rather than because its attempts
	// ran out: the last attempt's error was marked with Final, or the step's RetryIf
	// refused it.
	Final bool
}

func (e *StepError) Error() string {
	final := ""
	if e.Final {
		final = " with a final error"
	}
	if len(e.Attempts) == 1 {
		return fmt.Sprintf("step %s failed%s: %v", e.Step, final, e.Attempts[0])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "step %s failed after %d attempts", e.Step, len(e.Attempts))
	if e.Final {
		b.WriteString(", the last with a final error")
	}
	for i, err := range e.Attempts {
		fmt.Fprintf(&b, "; attempt %d: %v", i+1, err)
	}
	return b.String()
}

// Unwrap returns the error of every attempt.
func (e *StepError) Unwrap() []error { return e.Attempts }

// PanicError is a panic in a step or a workflow, recovered and turned into an error.
type PanicError struct {
	Value any
	Stack string
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("panic: %v", e.Value)
}

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// CodecError reports a value that does not make its round trip through JSON: a workflow's
// input or output, or a step's output, that cannot be stored as JSON, or whose stored JSON
// does not decode as the Go type that reads it.
type CodecError struct {
	What string // for example `input of workflow "Checkout"`
	Type string // the Go type
	// Decode is true when stored JSON did not decode as Type (the code that stored it used
	// another type), false when a value of Type could not be encoded as JSON.
	Decode bool
	Err    error

	hint string // what to do about a decoding failure
}

// encodeFailure is the CodecError of a value of type typ that cannot be stored as JSON.
func encodeFailure(what, typ string, err error) *CodecError {
	return &CodecError{What: what, Type: typ, Err: err}
}

// decodeFailure is the CodecError of stored JSON that does not decode as typ; hint says
// what to do about it.
func decodeFailure(what, typ, hint string, err error) *CodecError {
	return &CodecError{What: what, Type: typ, Decode: true, Err: err, hint: hint}
}

func (e *CodecError) Error() string {
	if !e.Decode {
		return fmt.Sprintf("wf: %s (%s) cannot be stored as JSON: %v", e.What, e.Type, e.Err)
	}
	msg := fmt.Sprintf("wf: %s does not decode as %s: %v", e.What, e.Type, e.Err)
	if e.hint != "" {
		msg += "; " + e.hint
	}
	return msg
}

func (e *CodecError) Unwrap() error { return e.Err }

// WorkflowError is the error of a workflow that did not succeed, as Handle.Result returns it.
// It is read back from the database, so it is the same in every process: it carries the
// message of the error the workflow returned, not the error value. errors.Is matches
// ErrCancelled, ErrTimeout and ErrDead by kind, errors.As finds a NonDeterminismError, and
// the coded errors the workflow failed with (CodedError, and the types registered with
// RegisterErrorCode) are read back too: errors.As finds each as a CodedError, and a
// registered type's value as that type.
type WorkflowError struct {
	WorkflowID string
	Workflow   string // the workflow's name
	Kind       string // "error", "panic", "cancelled", "timeout", "dead", "nondeterminism", "input"
	// Message is the message of the error the workflow ended with, as the workflow's code
	// (or the runtime, for a cancel, a timeout or a dead workflow) returned it.
	Message string
	// Stack is the stack of the goroutine that panicked, for Kind "panic"; empty otherwise.
	Stack string

	nondeterminism *NonDeterminismError
	coded          []error // *RecordedError values, in the order errors.As met them
}

func (e *WorkflowError) Error() string {
	switch e.Kind {
	case kindCancelled:
		return fmt.Sprintf("workflow %s (%s) was cancelled", e.WorkflowID, e.Workflow)
	case kindDead:
		return fmt.Sprintf("workflow %s (%s) was %s", e.WorkflowID, e.Workflow, e.Message)
	}
	return fmt.Sprintf("workflow %s (%s) failed: %s", e.WorkflowID, e.Workflow, e.Message)
}

// Is matches the sentinel error of e's kind.
func (e *WorkflowError) Is(target error) bool {
	switch e.Kind {
	case kindCancelled:
		return target == ErrCancelled
	case kindTimeout:
		return target == ErrTimeout
	case kindDead:
		return target == ErrDead
	}
	return false
}

// Unwrap returns the NonDeterminismError behind a non-determinism failure and the coded
// errors the workflow failed with, as *RecordedError values.
func (e *WorkflowError) Unwrap() []error {
	var errs []error
	if e.nondeterminism != nil {
		errs = append(errs, e.nondeterminism)
	}
	return append(errs, e.coded...)
}

// Error kinds stored in the error column.
const (
	kindError          = "error"
	kindPanic          = "panic"
	kindCancelled      = "cancelled"
	kindTimeout        = "timeout"
	kindDead           = "dead"
	kindNondeterminism = "nondeterminism"
	kindInput          = "input"
)

// storedError is the JSON stored for a failed workflow or step.
type storedError struct {
	Kind     string   `json:"kind"`
	Message  string   `json:"message"`
	Attempts []string `json:"attempts,omitempty"`
	Stack    string   `json:"stack,omitempty"`
	StepID   int      `json:"step_id,omitempty"`
	Expected string   `json:"expected,omitempty"`
	Recorded string   `json:"recorded,omitempty"`
	// Final is set on a step error that stopped on a final error (StepError.Final).
	Final bool `json:"final,omitempty"`
	// Codes are the coded errors in the error's tree (see codesOf).
	Codes []storedCode `json:"codes,omitempty"`
}

// encodeError turns a workflow's or a step's error into the JSON stored for it.
func encodeError(err error) string {
	return storedErrorOf(err).json()
}

func (se storedError) json() string {
	b, _ := json.Marshal(se) // a struct of strings always encodes
	return string(b)
}

// storedErrorOf is what is stored of a workflow's or a step's error.
func storedErrorOf(err error) storedError {
	se := storedError{Kind: kindError, Message: err.Error()}
	var nd *NonDeterminismError
	var pe *PanicError
	var ce *CodecError
	var st *StepError
	switch {
	case errors.As(err, &nd):
		se.Kind, se.StepID, se.Expected, se.Recorded = kindNondeterminism, nd.StepID, nd.Expected, nd.Recorded
	case errors.Is(err, ErrCancelled):
		se.Kind = kindCancelled
	case errors.Is(err, ErrTimeout):
		se.Kind = kindTimeout
	case errors.As(err, &ce) && strings.HasPrefix(ce.What, "input"):
		se.Kind = kindInput
	case errors.As(err, &pe) && !errors.As(err, &st):
		se.Kind, se.Stack = kindPanic, pe.Stack
	}
	if errors.As(err, &st) {
		for _, a := range st.Attempts {
			se.Attempts = append(se.Attempts, a.Error())
		}
		se.Final = st.Final
	}
	se.Codes = codesOf(err)
	// Postgres's jsonb refuses \u0000, which an error message may well contain.
	for _, f := range []*string{&se.Message, &se.Stack} {
		*f = noNUL(*f)
	}
	for i := range se.Attempts {
		se.Attempts[i] = noNUL(se.Attempts[i])
	}
	return se
}

// noNUL replaces the NUL characters PostgreSQL's jsonb refuses.
func noNUL(s string) string { return strings.ReplaceAll(s, "\x00", "\uFFFD") }

// decodeWorkflowError reads a stored workflow error back.
func decodeWorkflowError(id, name string, raw []byte) *WorkflowError {
	var se storedError
	if err := json.Unmarshal(raw, &se); err != nil || se.Message == "" {
		se = storedError{Kind: kindError, Message: string(raw)}
	}
	e := &WorkflowError{WorkflowID: id, Workflow: name, Kind: se.Kind, Message: se.Message}
	switch se.Kind {
	case kindPanic:
		e.Stack = se.Stack
	case kindNondeterminism:
		e.nondeterminism = &NonDeterminismError{WorkflowID: id, StepID: se.StepID, Expected: se.Expected, Recorded: se.Recorded}
	}
	for _, c := range se.Codes {
		e.coded = append(e.coded, c.decode())
	}
	return e
}

// decodeStepError reads a recorded step error back for replay. Each attempt's coded errors
// are read back under that attempt, so errors.As finds them as it found the originals.
func decodeStepError(name string, id int, raw []byte) *StepError {
	var se storedError
	if err := json.Unmarshal(raw, &se); err != nil {
		return &StepError{Step: name, StepID: id, Attempts: []error{errors.New(string(raw))}}
	}
	msgs := se.Attempts
	if len(msgs) == 0 {
		msgs = []string{se.Message}
	}
	coded := make([][]error, len(msgs))
	for _, c := range se.Codes {
		i := c.Attempt - 1
		if i < 0 || i >= len(msgs) {
			i = len(msgs) - 1 // not numbered: the step's error as a whole, whose last attempt decided
		}
		coded[i] = append(coded[i], c.decode())
	}
	e := &StepError{Step: name, StepID: id, Final: se.Final}
	for i, msg := range msgs {
		if len(coded[i]) == 0 {
			e.Attempts = append(e.Attempts, errors.New(msg))
			continue
		}
		e.Attempts = append(e.Attempts, &recordedAttempt{msg: msg, coded: coded[i]})
	}
	return e
}

// recordedAttempt is an attempt's error read back from the database, with the coded errors
// it wrapped.
type recordedAttempt struct {
	msg   string
	coded []error
}

func (e *recordedAttempt) Error() string   { return e.msg }
func (e *recordedAttempt) Unwrap() []error { return e.coded }

// dbError turns database errors that users can act on into wfgen's errors.
func (c *Client) dbError(doing string, err error) error {
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, puddle.ErrClosedPool):
		return fmt.Errorf("%s: %w", doing, ErrPoolClosed)
	case errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000"):
		// undefined_table, invalid_schema_name
		return fmt.Errorf("%s: %w (schema %q: %s)", doing, ErrNotMigrated, c.cfg.Schema, pgErr.Message)
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%s: %w", doing, ErrNotFound)
	}
	return fmt.Errorf("wf: %s: %w", doing, err)
}

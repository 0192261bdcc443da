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

	"github.com/wfgen/wfgen/runtime/internal/db"
	"github.com/wfgen/wfgen/runtime/internal/dbschema"
)

// Handle refers to one workflow, typed by its output. Handles are cheap: Workflow.Get makes
// one from an ID without touching the database. A nil or zero Handle refers to nothing: its
// ID is "" and its other methods return an error wrapping ErrNotFound.
type Handle[Out any] struct {
	c    *Client
	id   string
	name string
}

// errNoWorkflow is the error of the methods of a handle that refers to nothing.
var errNoWorkflow = fmt.Errorf("wf: the handle is nil or a zero value and refers to no workflow: get handles from Enqueue, Start or Get: %w", ErrNotFound)

// ID returns the workflow's ID, or "" for a handle that refers to nothing.
func (h *Handle[Out]) ID() string {
	if h == nil {
		return ""
	}
	return h.id
}

// Client returns the client the handle reads through (nil for a handle that refers to
// nothing). Generated accessors use it to read a workflow's events and streams and to send
// it messages.
func (h *Handle[Out]) Client() *Client {
	if h == nil {
		return nil
	}
	return h.c
}

// refersToNothing reports whether h is nil or a zero value.
func (h *Handle[Out]) refersToNothing() bool { return h == nil || h.c == nil }

// Status is a snapshot of a workflow's progress.
type Status struct {
	ID           string
	Workflow     string // the workflow's name
	State        State
	Queue        string
	Priority     int
	PartitionKey string // WithPartitionKey's key; empty for none
	DedupID      string
	// ExecutorID is the executor running the workflow, or the last one that did.
	ExecutorID string
	// Attempt counts how often an executor has taken the workflow (1 on its first run).
	Attempt int
	// Recoveries counts how often it was resumed after its executor stopped.
	Recoveries  int
	CodeHash    string
	Error       string // the error message of a workflow that did not succeed
	CreatedAt   time.Time
	AvailableAt time.Time // when it may start (later than CreatedAt when delayed)
	StartedAt   time.Time // zero until it first runs
	UpdatedAt   time.Time
	CompletedAt time.Time // zero until it is final
	Deadline    time.Time // zero without a timeout
	// ParentID is the workflow that started this one as its child, or "".
	ParentID string
	// WaitingFor says what a workflow that ran and gave its slot back waits for, until
	// AvailableAt at the latest: "sleep", "child" (a child's result), or "recv:" and a
	// topic. Empty otherwise.
	WaitingFor string
	// StepsDone counts the workflow's recorded steps; StepsExpected is how many a run takes
	// when wfgen could count them (its step sequence is static), 0 otherwise. Together they
	// are its progress, without the workflow publishing anything.
	StepsDone, StepsExpected int
	// Waiting says why a workflow that is enqueued and may start does not, when no live
	// executor (started, not stopped, its lease renewed) can run it: none registered its
	// name, or none registered it with the code hash it started under, such as after a
	// deploy of changed code while it ran. Empty otherwise: once a worker that can run it
	// starts, it runs.
	Waiting string
}

// Status returns the workflow's current status, or an error wrapping ErrNotFound.
func (h *Handle[Out]) Status(ctx context.Context) (Status, error) {
	if h.refersToNothing() {
		return Status{}, errNoWorkflow
	}
	return h.c.status(ctx, h.id, h.name)
}

// status reads workflow id's status; a workflow of another name than name (unless "") is
// not found.
func (c *Client) status(ctx context.Context, id, name string) (Status, error) {
	r, err := c.q.GetWorkflow(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Status{}, &notFoundError{id: id}
	}
	if err != nil {
		return Status{}, c.dbError("reading workflow status", err)
	}
	if name != "" && r.Name != name {
		return Status{}, wrongWorkflow(id, r.Name, name)
	}
	st := []Status{statusOf(r)}
	if err := c.explainWaits(ctx, st, []bool{r.Due}); err != nil {
		return Status{}, err
	}
	return st[0], nil
}

// Result waits until the workflow is final and returns its output, or its error as a
// *WorkflowError (errors.Is matches ErrCancelled, ErrTimeout and ErrDead). It returns
// ctx's error if ctx ends first; the workflow goes on.
//
// For an ID that no workflow has, Result returns an error wrapping ErrNotFound at once. A
// workflow enqueued in a transaction (EnqueueTx) does not exist for other connections until
// that transaction commits: call Result after the commit, or it reports ErrNotFound.
func (h *Handle[Out]) Result(ctx context.Context) (Out, error) {
	var zero Out
	if h.refersToNothing() {
		return zero, errNoWorkflow
	}
	r, err := h.c.waiter.wait(ctx, h.id, h.name)
	if err != nil {
		return zero, err
	}
	return h.outcome(r)
}

// Poll returns the workflow's outcome if it is final, without waiting: done is false (and
// err nil) while it is enqueued or running. Once done, out and err are what Result returns.
// It reads the database once: an HTTP handler that reports progress calls it rather than
// Status and then Result. For an ID that no workflow has it returns an error wrapping
// ErrNotFound.
func (h *Handle[Out]) Poll(ctx context.Context) (out Out, done bool, err error) {
	var zero Out
	if h.refersToNothing() {
		return zero, false, errNoWorkflow
	}
	rows, err := h.c.hotQ.GetResults(ctx, []string{h.id})
	if err != nil {
		return zero, false, h.c.dbError("reading workflow result", err)
	}
	if len(rows) == 0 {
		return zero, false, &notFoundError{id: h.id}
	}
	if !State(rows[0].State).Final() {
		if rows[0].Name != h.name {
			return zero, false, wrongWorkflow(h.id, rows[0].Name, h.name)
		}
		return zero, false, nil
	}
	out, err = h.outcome(rows[0])
	return out, true, err
}

// outcome decodes the result of a final workflow: its output, or its error.
func (h *Handle[Out]) outcome(r db.GetResultsRow) (Out, error) {
	var zero Out
	if r.Name != h.name {
		return zero, wrongWorkflow(h.id, r.Name, h.name)
	}
	if State(r.State) != StateSucceeded {
		return zero, decodeWorkflowError(r.ID, r.Name, r.Error)
	}
	var out Out
	if err := json.Unmarshal(r.Output, &out); err != nil {
		return zero, decodeFailure(fmt.Sprintf("output of workflow %q (ID %s)", h.name, h.id), typeName[Out](),
			"the worker and this client disagree on its type: deploy the same version to both", err)
	}
	return out, nil
}

// Cancel cancels the workflow if it is enqueued or running, together with its unfinished
// child workflows (and theirs). A running workflow stops at its next step: the step returns
// ErrCancelled, and no step starts after it. Cancelling a final workflow does nothing. A
// cancellation that PostgreSQL rolls back to break a deadlock (with a checkpoint batch
// locking the same workflows in another order) is tried again, up to five times.
func (h *Handle[Out]) Cancel(ctx context.Context) error {
	if h.refersToNothing() {
		return errNoWorkflow
	}
	return h.c.cancel(ctx, h.id)
}

func (c *Client) cancel(ctx context.Context, id string) error {
	// The statement locks the workflow's tree row by row, in its own order; a checkpoint
	// batch locking some of those rows in another order can deadlock with it, and PostgreSQL
	// may abort either. Cancelling is idempotent: try again (in the caller's transaction,
	// CancelWorkflowTx, the error is the caller's to handle).
	err := c.retryRolledBack(ctx, "cancelling workflow "+id, func() error {
		return c.cancelThrough(ctx, c.rw.Wrap(c.pool), id)
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	x := c.executions[id]
	c.mu.Unlock()
	if x != nil {
		x.cancel(ErrCancelled)
	}
	c.waiter.completedElsewhere([]string{id})
	return nil
}

// rolledBackTries bounds the attempts of an idempotent write that PostgreSQL rolls back to
// break a conflict (a deadlock with a checkpoint batch that locks some of its rows in
// another order).
const rolledBackTries = 5

// retryRolledBack runs write, which must be idempotent, until PostgreSQL does not roll it
// back to break a conflict, at most rolledBackTries times or until ctx ends, and returns its
// last error. what names it in the log.
func (c *Client) retryRolledBack(ctx context.Context, what string, write func() error) error {
	for try := 1; ; try++ {
		err := write()
		if !isTransactionRollback(err) || try == rolledBackTries || ctx.Err() != nil {
			return err
		}
		c.log.Debug("wfgen: a write was rolled back to break a conflict; trying again", "what", what, "error", err)
	}
}

// isTransactionRollback reports whether PostgreSQL rolled back err's statement to resolve a
// conflict (a deadlock, a serialization failure): running it again may succeed.
func isTransactionRollback(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "40")
}

// cancelThrough cancels workflow id and its unfinished descendants through conn; the
// executors running them are told when the write commits.
func (c *Client) cancelThrough(ctx context.Context, conn dbschema.DBTX, id string) error {
	q := db.New(conn)
	_, err := q.CancelWorkflow(ctx, db.CancelWorkflowParams{
		ID: id, Channel: c.channel,
		Error:      []byte(encodeError(ErrCancelled)),
		ChildError: []byte(encodeError(fmt.Errorf("%w: a workflow it descends from (%s) was cancelled", ErrCancelled, id))),
	})
	if errors.Is(err, pgx.ErrNoRows) {
		// Not enqueued or running: final already, or unknown.
		if _, err := q.GetWorkflow(ctx, id); errors.Is(err, pgx.ErrNoRows) {
			return &notFoundError{id: id}
		} else if err != nil {
			return c.dbError("cancelling workflow", err)
		}
		return nil
	}
	if err != nil {
		return c.dbError("cancelling workflow", err)
	}
	return nil
}

func statusOf(r db.GetWorkflowRow) Status {
	s := Status{
		ID:           r.ID,
		Workflow:     r.Name,
		State:        State(r.State),
		Queue:        r.Queue,
		Priority:     int(r.Priority),
		Attempt:      int(r.Attempt),
		Recoveries:   int(r.Recoveries),
		CreatedAt:    r.CreatedAt,
		AvailableAt:  r.AvailableAt,
		UpdatedAt:    r.UpdatedAt,
		PartitionKey: deref(r.PartitionKey),
		DedupID:      deref(r.DedupID),
		ExecutorID:   deref(r.ExecutorID),
		CodeHash:     deref(r.CodeHash),
		StartedAt:    derefTime(r.StartedAt),
		CompletedAt:  derefTime(r.CompletedAt),
		Deadline:     derefTime(r.Deadline),
		ParentID:     deref(r.ParentID),
		StepsDone:    int(r.StepsDone),
	}
	if r.StepsExpected != nil {
		s.StepsExpected = int(*r.StepsExpected)
	}
	if r.State == string(StateEnqueued) {
		s.WaitingFor = deref(r.WaitingFor)
	}
	if r.Error != nil {
		s.Error = decodeWorkflowError(r.ID, r.Name, r.Error).Message
	}
	return s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

package wf

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/wfgen/wfgen/runtime/internal/db"
	"github.com/wfgen/wfgen/runtime/internal/dbschema"
)

// The operator's API: cancel, resume, fork and delete any workflow by ID, untyped, as the
// wfgen command and the dashboard do. Each write has a ...Tx variant that makes it part of
// the caller's transaction; the workers hear of it when that transaction commits.

// Status returns the status of the workflow with the given ID, whatever its workflow, or an
// error wrapping ErrNotFound.
func (c *Client) Status(ctx context.Context, id string) (Status, error) {
	return c.status(ctx, id, "")
}

// CancelWorkflow cancels the workflow with the given ID, as Handle.Cancel does: an enqueued
// or running workflow and its unfinished descendants end as cancelled; a final one is left
// alone. An unknown ID is an error wrapping ErrNotFound.
func (c *Client) CancelWorkflow(ctx context.Context, id string) error {
	return c.cancel(ctx, id)
}

// CancelWorkflowTx is CancelWorkflow inside the caller's transaction tx.
func (c *Client) CancelWorkflowTx(ctx context.Context, tx pgx.Tx, id string) error {
	return c.cancelThrough(ctx, c.rw.Wrap(tx), id)
}

// ResumeWorkflow puts a cancelled, failed or dead workflow back in its queue: it continues
// from its last completed step. The steps recorded after its last successful one (the
// failure that ended it) are forgotten and run again; its error, recovery count and deadline
// are reset. It keeps its code hash, so only a worker running the same code resumes it; to
// run it under changed code, fork it. Resuming any other workflow is an error saying its
// state; an unknown ID is an error wrapping ErrNotFound.
func (c *Client) ResumeWorkflow(ctx context.Context, id string) error {
	queue, err := c.resume(ctx, c.rw.Wrap(c.pool), id, false)
	if err == nil {
		c.requeued([]string{queue})
		c.changed(id) // waiters that kept its final result forget it
	}
	return err
}

// ResumeWorkflowTx is ResumeWorkflow inside the caller's transaction tx.
func (c *Client) ResumeWorkflowTx(ctx context.Context, tx pgx.Tx, id string) error {
	_, err := c.resume(ctx, c.rw.Wrap(tx), id, true)
	if err == nil {
		c.waiter.forget(id)
	}
	return err
}

func (c *Client) resume(ctx context.Context, conn dbschema.DBTX, id string, notify bool) (string, error) {
	q := db.New(conn)
	r, err := q.ResumeWorkflow(ctx, db.ResumeWorkflowParams{ID: id, Channel: c.channel, Notify: notify})
	if errors.Is(err, pgx.ErrNoRows) {
		return "", c.notInState(ctx, q, id, "resume", "only a cancelled, failed or dead workflow resumes")
	}
	if err != nil {
		return "", c.dbError("resuming workflow "+id, err)
	}
	c.log.Info("wfgen: workflow resumed", "workflow_id", id, "forgotten_steps", r.ForgottenSteps)
	return r.Queue, nil
}

// ForkOptions say how ForkWorkflow starts the new workflow.
type ForkOptions struct {
	// FromStep is the first step the new workflow runs: the steps recorded before it are
	// copied (it replays them), and it runs this one and the rest. 1 runs everything again.
	// With copied steps, the copy counts as the fork's first attempt: its Status.Attempt
	// is 2 when it first runs.
	FromStep int
	// ID is the new workflow's ID. Default: a new UUID.
	ID string
	// Queue is the queue it waits in. Default: the original's.
	Queue string
	// CodeHash is the code hash it must run under. Default: none, so that the first worker
	// that claims it runs it under its own code: how a workflow stranded by a code change
	// moves onto the current code (its copied steps must still fit that code).
	CodeHash string
}

// ForkWorkflow starts a new workflow from the one with the given ID (in any state): the same
// workflow name and input, with the steps recorded before opts.FromStep copied, and returns
// the new workflow's ID. Stream values those steps appended are copied too; events and
// messages are not. An unknown ID is an error wrapping ErrNotFound.
func (c *Client) ForkWorkflow(ctx context.Context, id string, opts ForkOptions) (string, error) {
	r, err := c.fork(ctx, c.rw.Wrap(c.pool), id, opts, false)
	if err != nil {
		return "", err
	}
	c.requeued([]string{r.Queue})
	return r.ID, nil
}

// ForkWorkflowTx is ForkWorkflow inside the caller's transaction tx.
func (c *Client) ForkWorkflowTx(ctx context.Context, tx pgx.Tx, id string, opts ForkOptions) (string, error) {
	r, err := c.fork(ctx, c.rw.Wrap(tx), id, opts, true)
	if err != nil {
		return "", err
	}
	return r.ID, nil
}

func (c *Client) fork(ctx context.Context, conn dbschema.DBTX, id string, opts ForkOptions, notify bool) (db.ForkWorkflowRow, error) {
	if opts.FromStep < 1 {
		return db.ForkWorkflowRow{}, fmt.Errorf("wf: ForkWorkflow: FromStep is %d: give the first step to run again, 1 for all", opts.FromStep)
	}
	if opts.ID == "" {
		opts.ID = uuid.Must(uuid.NewV7()).String()
	}
	r, err := db.New(conn).ForkWorkflow(ctx, db.ForkWorkflowParams{
		SourceID: id, NewID: opts.ID, Queue: opts.Queue, CodeHash: opts.CodeHash, FromStep: int32(opts.FromStep),
		Channel: c.channel, Notify: notify,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return r, c.dbError("forking workflow "+id, err) // wraps ErrNotFound
	}
	if err != nil {
		return r, c.dbError(fmt.Sprintf("forking workflow %s as %s", id, opts.ID), err)
	}
	c.log.Info("wfgen: workflow forked", "workflow_id", id, "fork_id", r.ID, "copied_steps", r.CopiedSteps)
	return r, nil
}

// DeleteWorkflow deletes a final workflow with its steps, messages, events and streams. A
// workflow that is not final is refused (cancel it first); an unknown ID is an error
// wrapping ErrNotFound.
func (c *Client) DeleteWorkflow(ctx context.Context, id string) error {
	return c.delete(ctx, c.rw.Wrap(c.pool), id)
}

// DeleteWorkflowTx is DeleteWorkflow inside the caller's transaction tx.
func (c *Client) DeleteWorkflowTx(ctx context.Context, tx pgx.Tx, id string) error {
	return c.delete(ctx, c.rw.Wrap(tx), id)
}

func (c *Client) delete(ctx context.Context, conn dbschema.DBTX, id string) error {
	state, err := db.New(conn).DeleteWorkflow(ctx, id)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return &notFoundError{id: id}
	case err != nil:
		return c.dbError("deleting workflow "+id, err)
	case !State(state).Final():
		return fmt.Errorf("wf: workflow %s is %s: only a final workflow is deleted; cancel it first", id, state)
	}
	return nil
}

// notInState explains why a write that needs a workflow in some states found none: the
// workflow does not exist, or is in another state.
func (c *Client) notInState(ctx context.Context, q *db.Queries, id, doing, rule string) error {
	r, err := q.GetWorkflow(ctx, id)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return &notFoundError{id: id}
	case err != nil:
		return c.dbError("reading workflow "+id, err)
	}
	return fmt.Errorf("wf: cannot %s workflow %s: it is %s, and %s", doing, id, r.State, rule)
}

package wf

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/wfgen/wfgen/runtime/internal/db"
)

// StepStatus is the recorded checkpoint of one completed step.
type StepStatus struct {
	ID     int
	Name   string
	Output string // the output as JSON; empty when the step failed
	Error  string // the final error's message; empty when the step succeeded
	// Attempt is the workflow attempt that ran the step; Tries counts the step function's
	// calls in it (retries included).
	Attempt     int
	Tries       int
	StartedAt   time.Time
	CompletedAt time.Time
}

// Steps returns the completed steps of a workflow, in step ID order. A step that is running
// or was interrupted is not listed.
func (c *Client) Steps(ctx context.Context, workflowID string) ([]StepStatus, error) {
	rows, err := c.q.ListSteps(ctx, workflowID)
	if err != nil {
		return nil, c.dbError("listing steps", err)
	}
	out := make([]StepStatus, len(rows))
	for i, r := range rows {
		out[i] = StepStatus{
			ID: int(r.StepID), Name: r.Name, Output: string(r.Output),
			Attempt: int(r.Attempt), Tries: int(r.Tries), StartedAt: r.StartedAt, CompletedAt: r.CompletedAt,
		}
		if r.Error != nil {
			out[i].Error = decodeStepError(r.Name, int(r.StepID), r.Error).Error()
		}
	}
	return out, nil
}

// QueueDepth counts the unfinished workflows of one queue.
type QueueDepth struct {
	Queue    string
	Enqueued int // may start now
	Delayed  int // enqueued, waiting for their start time
	// Unrunnable counts the enqueued workflows that may start but that no live executor can
	// run (Status.Waiting says why); they are not counted in Enqueued.
	Unrunnable int
	Running    int
}

// QueueDepths counts the unfinished workflows of every queue that has any, by state.
func (c *Client) QueueDepths(ctx context.Context) ([]QueueDepth, error) {
	rows, err := c.q.QueueDepths(ctx)
	if err != nil {
		return nil, c.dbError("counting queue depths", err)
	}
	var out []QueueDepth
	for _, r := range rows {
		if len(out) == 0 || out[len(out)-1].Queue != r.Queue {
			out = append(out, QueueDepth{Queue: r.Queue})
		}
		d := &out[len(out)-1]
		switch State(r.State) {
		case StateEnqueued:
			d.Enqueued, d.Delayed, d.Unrunnable = int(r.Workflows-r.Delayed-r.Unrunnable), int(r.Delayed), int(r.Unrunnable)
		case StateRunning:
			d.Running = int(r.Workflows)
		}
	}
	return out, nil
}

// ExecutorStatus describes one executor (a started Client).
type ExecutorStatus struct {
	ID             string
	Hostname       string
	PID            int
	StartedAt      time.Time
	HeartbeatAt    time.Time // its last heartbeat
	LeaseExpiresAt time.Time
	StoppedAt      time.Time // zero while it runs
	// Alive is true while the executor renews its lease.
	Alive bool
	// Running counts the workflows it owns.
	Running int
}

// Executors lists the executors that run, and those that stopped within the last hour.
func (c *Client) Executors(ctx context.Context) ([]ExecutorStatus, error) {
	rows, err := c.q.ListExecutors(ctx)
	if err != nil {
		return nil, c.dbError("listing executors", err)
	}
	out := make([]ExecutorStatus, len(rows))
	for i, r := range rows {
		out[i] = ExecutorStatus{
			ID: r.ID, Hostname: r.Hostname, PID: int(r.Pid), StartedAt: r.StartedAt,
			HeartbeatAt: r.HeartbeatAt, LeaseExpiresAt: r.LeaseExpiresAt, StoppedAt: derefTime(r.StoppedAt),
			Alive: r.Alive != nil && *r.Alive, Running: int(r.Running),
		}
	}
	return out, nil
}

// ListOptions filters ListWorkflows; zero fields match everything, and a workflow must
// match every field that is set.
type ListOptions struct {
	// State and States keep workflows in one of the given states.
	State      State
	States     []State
	Queue      string
	ExecutorID string
	Workflow   string // the workflow's name
	// ParentID keeps the children of a workflow; IDPrefix the workflows whose ID starts
	// with it.
	ParentID string
	IDPrefix string
	// CreatedAfter and CreatedBefore keep workflows created in [CreatedAfter, CreatedBefore).
	CreatedAfter, CreatedBefore time.Time
	// Stranded keeps the workflows waiting in their queue that no live executor runs
	// because the ones that registered their name run other code (another code hash):
	// resume them by deploying that code again, or fork them onto the current code
	// (ForkWorkflow).
	Stranded bool
	// Limit caps the result (default 100); Offset skips that many of the newest first, for
	// paging.
	Limit, Offset int
}

// ListWorkflows returns the newest workflows that match opts, newest first (among
// workflows enqueued in one transaction, the last enqueued first): for example every
// running workflow of a queue, with the executor that runs each.
func (c *Client) ListWorkflows(ctx context.Context, opts ListOptions) ([]Status, error) {
	if opts.Limit <= 0 {
		opts.Limit = 100
	}
	opts.Limit = min(opts.Limit, math.MaxInt32)
	states := make([]string, 0, len(opts.States)+1)
	for _, s := range opts.States {
		states = append(states, string(s))
	}
	if opts.State != "" {
		states = append(states, string(opts.State))
	}
	skip := min(max(opts.Offset, 0), math.MaxInt32)
	rows, err := c.q.SearchWorkflows(ctx, db.SearchWorkflowsParams{
		States: states, Name: opts.Workflow, Queue: opts.Queue, ExecutorID: opts.ExecutorID,
		ParentID: opts.ParentID, IDPrefix: opts.IDPrefix,
		CreatedAfterSet: !opts.CreatedAfter.IsZero(), CreatedAfter: opts.CreatedAfter,
		CreatedBeforeSet: !opts.CreatedBefore.IsZero(), CreatedBefore: opts.CreatedBefore,
		Stranded: opts.Stranded, MaxRows: int32(opts.Limit), SkipRows: int32(skip),
		PageEnd: int32(min(int64(opts.Limit)+int64(skip), math.MaxInt32)),
	})
	if err != nil {
		return nil, c.dbError("listing workflows", err)
	}
	out := make([]Status, len(rows))
	due := make([]bool, len(rows))
	for i, r := range rows {
		out[i], due[i] = statusOf(db.GetWorkflowRow(r)), r.Due
	}
	if err := c.explainWaits(ctx, out, due); err != nil {
		return nil, err
	}
	return out, nil
}

// explainWaits fills in Status.Waiting for the workflows that may start (due), from the
// live executors that registered them, in one query.
func (c *Client) explainWaits(ctx context.Context, sts []Status, due []bool) error {
	var names []string
	for i, st := range sts {
		if due[i] {
			names = append(names, st.Workflow)
		}
	}
	if len(names) == 0 {
		return nil
	}
	regs, err := c.q.LiveRegistrations(ctx, names)
	if err != nil {
		return c.dbError("reading which executors run the workflows", err)
	}
	for i := range sts {
		if due[i] {
			sts[i].Waiting = waitingReason(sts[i].Workflow, sts[i].CodeHash, regs)
		}
	}
	return nil
}

// waitingReason says why workflow name, started under codeHash (empty if it never started),
// cannot run on the live executors that registered workflows (regs, ordered by name and
// code hash); empty if one of them can run it. A registration without a hash runs any hash,
// as the dequeue does.
func waitingReason(name, codeHash string, regs []db.LiveRegistrationsRow) string {
	var hashes []string // "hash on executor, executor"
	last := ""
	for _, r := range regs {
		if r.Name != name {
			continue
		}
		if codeHash == "" || r.CodeHash == "" || r.CodeHash == codeHash {
			return ""
		}
		if len(hashes) > 0 && r.CodeHash == last {
			hashes[len(hashes)-1] += ", " + r.ExecutorID
		} else {
			hashes = append(hashes, r.CodeHash+" on "+r.ExecutorID)
		}
		last = r.CodeHash
	}
	if len(hashes) == 0 {
		return notRegisteredReason(name)
	}
	return fmt.Sprintf("%s (live executors have: %s)", wrongHashReason(name, codeHash), strings.Join(hashes, "; "))
}

func notRegisteredReason(name string) string {
	return fmt.Sprintf("no live executor has registered workflow %q", name)
}

func wrongHashReason(name, codeHash string) string {
	return fmt.Sprintf("no live executor runs workflow %q with code hash %s", name, codeHash)
}

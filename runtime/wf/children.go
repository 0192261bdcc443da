package wf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/wfgen/wfgen/runtime/internal/checkpoint"
	"github.com/wfgen/wfgen/runtime/internal/db"
)

// EnqueueChild enqueues a child workflow from the workflow whose context is ctx, and returns
// its handle; Await waits for its result durably. The call is a step: its ID, and so the
// child's, is recorded, and a replay returns the same child without enqueueing another.
// The child's ID is its parent's ID followed by "/" and the call's step ID, unless WithID
// gives one. Parent and child are linked: cancelling the parent cancels the child while it
// is unfinished, and Status.ParentID names the parent.
//
// It costs one insert and one checkpoint. Use EnqueueChildren to fan out many children in
// one of each.
func (w *Workflow[In, Out]) EnqueueChild(ctx Context, in In, opts ...EnqueueOption) (*Handle[Out], error) {
	hs, err := w.children(ctx, "enqueue", false, []In{in}, opts)
	if err != nil {
		return nil, err
	}
	return hs[0], nil
}

// EnqueueChildren enqueues one child workflow per input, in one statement and one step (one
// checkpoint holds every child's ID), and returns their handles in the order of ins. The
// children's IDs are their parent's ID followed by "/", the call's step ID, "/" and their
// index in ins. WithID and WithDedupID, which name a single workflow, are refused.
func (w *Workflow[In, Out]) EnqueueChildren(ctx Context, ins []In, opts ...EnqueueOption) ([]*Handle[Out], error) {
	return w.children(ctx, "enqueue", true, ins, opts)
}

// StartChild is EnqueueChild for a child that runs in this process now, without going
// through its queue (as Start does): the client running the parent must have the child's
// workflow registered. Only WithID and WithTimeout apply.
func (w *Workflow[In, Out]) StartChild(ctx Context, in In, opts ...EnqueueOption) (*Handle[Out], error) {
	hs, err := w.children(ctx, "start", false, []In{in}, opts)
	if err != nil {
		return nil, err
	}
	return hs[0], nil
}

// children runs the step that stores the children (how: "enqueue" or "start").
func (w *Workflow[In, Out]) children(ctx Context, how string, many bool, ins []In, opts []EnqueueOption) ([]*Handle[Out], error) {
	x := ctx.execution()
	o := w.enqueueOptions(opts)
	switch {
	case many && (o.id != "" || o.dedupID != ""):
		return nil, errors.New("wf: EnqueueChildren: WithID and WithDedupID name a single workflow; use EnqueueChild for each")
	case how == "start" && len(o.queueOnly) > 0:
		return nil, fmt.Errorf("wf: %s applies to EnqueueChild only; StartChild runs the child here and now", o.queueOnly[0])
	}
	step := &Step[[]string]{name: "wf." + how + "Child:" + w.name, opts: newStepOptions("", []StepOption{MaxAttempts(5), Backoff(100 * time.Millisecond)})}
	ids, err := step.Run(ctx, func(sctx context.Context) ([]string, error) {
		return w.storeChildren(sctx, x, how, many, ins, o)
	})
	if err != nil {
		return nil, err
	}
	hs := make([]*Handle[Out], len(ids))
	for i, id := range ids {
		hs[i] = w.Get(x.c, id)
	}
	return hs, nil
}

// storeChildren inserts the children of step x.currentStep(); a child whose ID exists (the
// step ran before a crash, and runs again) is the same child.
func (w *Workflow[In, Out]) storeChildren(ctx context.Context, x *execution, how string, many bool, ins []In, o enqueueOptions) ([]string, error) {
	stepID := x.currentStep()
	tc := x.c.traceContext(ctx)
	reqs := make([]insertRequest, len(ins))
	for i, in := range ins {
		r, err := w.request(in, o)
		if err != nil {
			return nil, err
		}
		r.traceContext = tc
		switch {
		case o.id != "":
		case many:
			r.id = fmt.Sprintf("%s/%d/%d", x.id, stepID, i)
		default:
			r.id = fmt.Sprintf("%s/%d", x.id, stepID)
		}
		r.parentID = x.id
		reqs[i] = r
	}
	if how == "start" {
		return w.startChild(ctx, x, reqs[0], o)
	}
	ids, err := x.c.insert(ctx, x.c.rw.Wrap(x.c.pool), reqs, StateEnqueued, false)
	if err != nil {
		return nil, err
	}
	x.c.announcer.Enqueued(o.queue, reqs[0].delayMs)
	x.c.wakeQueue(o.queue)
	return ids, nil
}

// startChild stores a child as running here and runs it.
func (w *Workflow[In, Out]) startChild(ctx context.Context, x *execution, r insertRequest, o enqueueOptions) ([]string, error) {
	c := x.c
	c.mu.Lock()
	reg := c.workflows[w.name]
	c.mu.Unlock()
	if reg == nil {
		return nil, fmt.Errorf("wf: StartChild: %w: register it on the client that runs the parent, or use EnqueueChild", &UnknownWorkflowError{Name: w.name})
	}
	if !c.lease.Held() {
		return nil, errNoLease
	}
	id, inserted, err := c.insertOne(ctx, c.rw.Wrap(c.pool), r, StateRunning, false)
	if err != nil {
		return nil, err
	}
	if inserted {
		var deadline *time.Time
		if o.timeout > 0 {
			d := time.Now().Add(o.timeout)
			deadline = &d
		}
		if !c.launch(reg, id, claim{id: id, attempt: 1}, []byte(r.input), deadline, nil, r.queue, time.Now(), r.traceContext, nil) {
			// Stopping: the child is stored as running here and resumes on recovery.
			return nil, ErrStopped
		}
	}
	return []string{id}, nil
}

// awaitedOutcome is the recorded outcome of a workflow a parent awaited: its final state,
// output and error, as the workflows table has them.
type awaitedOutcome struct {
	State  string          `json:"state"`
	Output json.RawMessage `json:"output,omitempty"`
	Error  json.RawMessage `json:"error,omitempty"`
}

// Await waits, inside the workflow whose context is ctx, until the workflow h refers to (a
// child, or any other) is final, and returns its output or its error, as Result does. The
// wait is a step: the outcome is recorded, and a replay returns it without waiting again.
//
// A wait longer than Config.SuspendAfter gives the worker slot back: the parent is
// suspended, Await returns a *SuspendedError that the workflow function must return, and
// the child's completion wakes the parent, which resumes on whichever executor is free. So
// a parent waiting for children never holds a slot the children need (a queue with a
// global limit cannot deadlock on them). Use Result, not Await, outside workflows.
//
// It costs one read (and one checkpoint) when the child is done; a suspension costs one
// short transaction, and the resumption a claim and a replay.
func (h *Handle[Out]) Await(ctx Context) (Out, error) {
	var zero Out
	if h.refersToNothing() {
		return zero, errNoWorkflow
	}
	x := ctx.execution()
	name := "wf.await:" + h.name
	id, rec, err := x.openStep(name)
	if err != nil {
		return zero, err
	}
	if rec != nil {
		var o awaitedOutcome
		if err := json.Unmarshal(rec.Output, &o); err != nil {
			return zero, decodeFailure(fmt.Sprintf("recorded outcome of step %q (ID %d)", name, id), "awaited outcome", "the step was recorded by another version of wfgen", err)
		}
		return h.outcome(db.GetResultsRow{ID: h.id, Name: h.name, State: o.State, Output: o.Output, Error: o.Error})
	}
	started := time.Now()
	wake, stop := x.c.watch(h.id)
	defer stop()
	var row db.GetResultsRow
	var lookErr error
	look := func() (bool, error) {
		rows, err := x.c.hotQ.GetResults(x.ctx, []string{h.id})
		switch {
		case err == nil && len(rows) == 0:
			err = &notFoundError{id: h.id}
		case err == nil && rows[0].Name != h.name:
			err = wrongWorkflow(h.id, rows[0].Name, h.name)
		}
		if err != nil {
			return endsOnNotFound(err, &lookErr)
		}
		row = rows[0]
		return State(row.State).Final(), nil
	}
	for {
		done, err := x.waitOrSuspend(time.Now().Add(childWaitBackstop), waitingChild, look, wake, []string{h.id})
		if err != nil {
			x.endStep()
			return zero, err
		}
		if done && (lookErr != nil || State(row.State).Final()) {
			break
		}
		// The suspension found the workflow final after the last look: read its outcome
		// (on the next pass, at once).
	}
	if lookErr != nil {
		x.endStep()
		return zero, lookErr
	}
	o := awaitedOutcome{State: row.State, Output: row.Output, Error: row.Error}
	b, err := json.Marshal(o)
	if err != nil {
		x.endStep()
		return zero, err
	}
	x.submitStep(checkpoint.Step{WorkflowID: x.id, StepID: id, Name: name, Output: string(b), Attempt: x.attempt, Tries: 1, StartedAt: started})
	return h.outcome(row)
}

// AwaitAll waits, inside the workflow whose context is ctx, until every workflow of hs is
// final, and returns their outputs in the order of hs. When some failed, it returns the
// outputs of the others (the zero value in place of each failed one) and an error joining
// the failures (errors.Join), each as Result would return it; errors.As finds a
// *WorkflowError among them.
//
// It is one step, however many handles: the outcomes are recorded together, and a replay
// returns them without waiting again. Awaiting children one by one with Await costs a
// checkpoint each, and so a commit each in turn; AwaitAll costs a read of the unfinished
// ones per wake-up and one checkpoint. It gives the worker slot back as Await does, after
// Config.SuspendAfter, and each child's completion wakes the parent to look again.
//
// A handle that refers to no workflow, or to one that does not exist, is an error at once,
// and nothing is recorded.
func AwaitAll[Out any](ctx Context, hs []*Handle[Out]) ([]Out, error) {
	for _, h := range hs {
		if h.refersToNothing() {
			return nil, errNoWorkflow
		}
	}
	x := ctx.execution()
	// Every call is a step, even with no handles, so that the step IDs that follow do not
	// depend on how many there were.
	name := "wf.awaitAll"
	if len(hs) > 0 {
		name += ":" + hs[0].name
	}
	id, rec, err := x.openStep(name)
	if err != nil {
		return nil, err
	}
	outcomes := make([]awaitedOutcome, len(hs))
	if rec != nil {
		if err := json.Unmarshal(rec.Output, &outcomes); err != nil || len(outcomes) != len(hs) {
			if err == nil {
				err = fmt.Errorf("%d outcomes recorded for %d handles", len(outcomes), len(hs))
			}
			return nil, decodeFailure(fmt.Sprintf("recorded outcomes of step %q (ID %d)", name, id), "awaited outcomes",
				"the step was recorded by another version of the workflow's code or of wfgen: the workflow must await the same handles when it replays", err)
		}
		return awaitedOutputs(hs, outcomes)
	}

	ids := make([]string, len(hs))
	byID := make(map[string][]int, len(hs)) // a handle may appear more than once
	for i, h := range hs {
		ids[i] = h.id
		byID[h.id] = append(byID[h.id], i)
	}
	pending := slices.Clone(ids)
	slices.Sort(pending)
	pending = slices.Compact(pending)
	// unfinished reads the outcomes of the given workflows, records those of the final ones,
	// and returns the others.
	unfinished := func(of []string) ([]string, error) {
		rows, err := x.c.hotQ.GetResults(x.ctx, of)
		if err != nil {
			return nil, err
		}
		found := make(map[string]bool, len(rows))
		var left []string
		for _, r := range rows {
			found[r.ID] = true
			for _, i := range byID[r.ID] {
				if r.Name != hs[i].name {
					return nil, wrongWorkflow(r.ID, r.Name, hs[i].name)
				}
			}
			if !State(r.State).Final() {
				left = append(left, r.ID)
				continue
			}
			for _, i := range byID[r.ID] {
				outcomes[i] = awaitedOutcome{State: r.State, Output: r.Output, Error: r.Error}
			}
		}
		for _, id := range of {
			if !found[id] {
				return nil, &notFoundError{id: id}
			}
		}
		return left, nil
	}
	started := time.Now()
	wake, stop := x.c.watchAll(pending)
	defer stop()
	var lookErr error
	// Children completing in this process wake the wait at every checkpoint batch; reading
	// thousands of pending outcomes at each would take the CPU the children need. So a look
	// comes no sooner than four times the last one's duration after it ended.
	var lastEnd time.Time
	var lastTook time.Duration
	look := func() (bool, error) {
		if wait := time.Until(lastEnd.Add(4 * lastTook)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-x.ctx.Done():
				t.Stop()
				return false, nil // the wait sees the interruption
			case <-t.C:
			}
		}
		began := time.Now()
		defer func() { lastEnd = time.Now(); lastTook = lastEnd.Sub(began) }()
		left, err := unfinished(pending)
		if err != nil {
			return endsOnNotFound(err, &lookErr)
		}
		pending = left
		return len(pending) == 0, nil
	}
	for {
		done, err := x.waitOrSuspend(time.Now().Add(childWaitBackstop), waitingChild, look, wake, pending)
		if err != nil {
			x.endStep()
			return nil, err
		}
		if done && (lookErr != nil || len(pending) == 0) {
			break
		}
		// The suspension found them all final after the last look: read their outcomes
		// (on the next pass, at once).
	}
	if lookErr != nil {
		x.endStep()
		return nil, lookErr
	}
	b, err := json.Marshal(outcomes)
	if err != nil {
		x.endStep()
		return nil, err
	}
	x.submitStep(checkpoint.Step{WorkflowID: x.id, StepID: id, Name: name, Output: string(b), Attempt: x.attempt, Tries: 1, StartedAt: started})
	return awaitedOutputs(hs, outcomes)
}

// endsOnNotFound is what a wait's look does with its error: a workflow that does not exist
// (or is another workflow) ends the wait, the error kept in *ended for the caller to return;
// any other error is logged and retried by the wait.
func endsOnNotFound(err error, ended *error) (bool, error) {
	var nf *notFoundError
	if errors.As(err, &nf) {
		*ended = err
		return true, nil
	}
	return false, err
}

// awaitedOutputs turns the outcomes AwaitAll recorded into outputs and a joined error.
func awaitedOutputs[Out any](hs []*Handle[Out], outcomes []awaitedOutcome) ([]Out, error) {
	outs := make([]Out, len(hs))
	var errs []error
	for i, h := range hs {
		o := outcomes[i]
		out, err := h.outcome(db.GetResultsRow{ID: h.id, Name: h.name, State: o.State, Output: o.Output, Error: o.Error})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		outs[i] = out
	}
	return outs, errors.Join(errs...)
}

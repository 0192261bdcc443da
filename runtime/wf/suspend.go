package wf

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wfgen/wfgen/runtime/internal/checkpoint"
)

// What a suspended workflow waits for (the waiting_for column): the statements that can wake
// it early match these.
const (
	waitingSleep = "sleep"
	waitingChild = "child"
	waitingRecv  = "recv:" // followed by the topic
)

// suspendForever stands for "no time limit" in available_at: a message, or a child's
// completion, wakes such a workflow.
var suspendForever = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// childWaitBackstop bounds a suspension until a child completes: the child's completion
// wakes its parent in the statement that writes it, and this catches the rare ways a child
// becomes final without that statement (given up as dead after repeated crashes).
const childWaitBackstop = 5 * time.Minute

// SuspendedError is what a waiting primitive (Sleep, Recv, Await) returns when the workflow
// gave its worker slot back to wait in its queue: return it from the workflow function, as
// every error of the primitives. The workflow resumes when it is due, on whichever executor is
// free, replaying its recorded steps up to the wait, which then returns normally. Nothing
// after the wait runs in the suspended execution: its next step returns the same error.
type SuspendedError struct {
	WorkflowID string
	// Until is when the workflow is due again at the latest.
	Until time.Time
	// For says what it waits for: "sleep", "child", or "recv:" and a topic.
	For string
}

func (e *SuspendedError) Error() string {
	until := "it is woken"
	if e.Until.Before(suspendForever) {
		until = e.Until.Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("wf: workflow %s is suspended (waiting for %s) until %s: return this error from the workflow function; it resumes where it waited", e.WorkflowID, e.For, until)
}

func isSuspended(err error) bool {
	if err == nil {
		return false // without the allocation errors.As's target costs: this runs per workflow
	}
	var s *SuspendedError
	return errors.As(err, &s)
}

// suspend gives the execution's slot back: unless what it waits for is there, the
// workflow goes back to its queue until until (or until what waitingFor names wakes it),
// and the execution ends with a *SuspendedError. The previous step's checkpoint is made
// durable first. It reports true when the wait turned out to be over (a Recv's message is
// waiting, or children, the workflows an Await waits for, are all final); the execution
// goes on.
//
// The checkpoint writer suspends it, with the other executions' checkpoints and
// suspensions, in one commit: a sleep unconditionally, a Recv (waitingFor "recv:topic")
// and an Await (children set) after locking the workflow's row, unless what they wait for
// is there (see WriteCheckpoints).
func (x *execution) suspend(until time.Time, waitingFor string, children []string) (bool, error) {
	if err := x.awaitCheckpoint(); err != nil {
		return false, err
	}
	if !x.deadline.IsZero() && x.deadline.Before(until) {
		// Due at its deadline at the latest, to time out then rather than at its wake-up.
		until = x.deadline
	}
	topic, _ := strings.CutPrefix(waitingFor, waitingRecv)
	queue, resumed, err := x.suspendByWriter(until, waitingFor, topic, children)
	switch {
	case err == nil && resumed:
		return true, nil
	case err == nil:
		if delay := time.Until(until); until.Before(suspendForever) {
			x.c.announcer.Enqueued(queue, max(delay.Milliseconds(), 1))
		}
		x.c.log.Debug("wfgen: workflow suspended", "workflow_id", x.id, "waiting_for", waitingFor, "until", until)
		x.mu.Lock()
		x.abort = &SuspendedError{WorkflowID: x.id, Until: until, For: waitingFor}
		x.mu.Unlock()
		return false, x.abort
	case x.ctx.Err() != nil:
		return false, x.interruption()
	case isFenced(err):
		x.mu.Lock()
		x.abort = fenceError(err)
		x.mu.Unlock()
		return false, x.abort
	}
	return false, err
}

// suspendByWriter suspends the workflow through the checkpoint writer and returns its
// queue; a Recv's (topic set) only if no message of the topic is waiting, an Await's
// (children set) only if a child is not final (else resumed). The writer retries a failed
// write until it succeeds or is closed; the wait ends early when the execution is stopped.
func (x *execution) suspendByWriter(until time.Time, waitingFor, topic string, children []string) (queue string, resumed bool, err error) {
	p := x.c.writer.SubmitSuspension(checkpoint.Suspension{
		WorkflowID: x.id, Attempt: x.attempt, ClaimToken: x.claimToken, AvailableAt: until, WaitingFor: waitingFor, Topic: topic,
		Children: children,
	})
	applied, err := p.Wait(x.ctx)
	switch {
	case errors.Is(err, checkpoint.ErrClosed):
		x.mu.Lock()
		x.interrupted = true
		x.mu.Unlock()
		return "", false, ErrInterrupted
	case err != nil:
		return "", false, err
	case p.Ready():
		return "", true, nil
	case !applied:
		return "", false, x.fencedNow()
	}
	return p.Queue(), false, nil
}

// fencedNow builds the refusal of a write of this execution's attempt, with the workflow's
// state now.
func (x *execution) fencedNow() error {
	f := &checkpoint.FencedError{WorkflowID: x.id, Attempt: x.attempt}
	if r, err := x.c.q.GetWorkflow(x.ctx, x.id); err == nil {
		f.State = r.State
	}
	return f
}

// waitOrSuspend waits in the slot until until, or ctx's end, for at most SuspendAfter, then
// suspends. wake, when set, is a channel that says to look again; look, when set, reports
// whether the wait is over (it runs first and at each wake, and must be cheap). It returns
// true when look said so, false at until, or the error that ended the wait (a
// *SuspendedError when the workflow was suspended).
func (x *execution) waitOrSuspend(until time.Time, waitingFor string, look func() (bool, error), wake <-chan struct{}, children []string) (bool, error) {
	holdUntil := time.Now().Add(x.c.cfg.SuspendAfter)
	poll := 10 * time.Millisecond
	for {
		if look != nil {
			ok, err := look()
			if err != nil && x.ctx.Err() == nil {
				x.c.log.Warn("wfgen: checking a workflow's wait failed; retrying", "workflow_id", x.id, "waiting_for", waitingFor, "error", err)
			}
			if ok {
				return true, nil
			}
		}
		now := time.Now()
		if !now.Before(until) {
			return false, nil
		}
		if !now.Before(holdUntil) {
			ok, err := x.suspend(until, waitingFor, children)
			x.mu.Lock()
			stopped := x.abort != nil || x.interrupted
			x.mu.Unlock()
			if err == nil || stopped || x.ctx.Err() != nil {
				return ok, err
			}
			// The database is unreachable: wait here, and try again later.
			x.c.log.Warn("wfgen: suspending a waiting workflow failed; it waits in its slot", "workflow_id", x.id, "error", err)
			holdUntil = now.Add(max(x.c.cfg.SuspendAfter, time.Second))
		}
		next := min(until.Sub(now), holdUntil.Sub(now))
		if look != nil {
			next = min(next, poll)
			poll = min(2*poll, time.Second)
		}
		t := time.NewTimer(max(next, 0))
		select {
		case <-x.ctx.Done():
			t.Stop()
			return false, x.interruption()
		case _, open := <-wake:
			t.Stop()
			if !open {
				wake = nil // a closed channel says it once; a watch says it at each change
			}
		case <-t.C:
		}
	}
}

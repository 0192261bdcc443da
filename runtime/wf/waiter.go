package wf

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/puddle/v2"

	"github.com/wfgen/wfgen/runtime/internal/db"
)

// Bounds of the result waiter.
const (
	// recentResults is how many results of workflows completed in this process are kept for
	// waits that begin just after the completion; recentResultMax caps one result's size.
	recentResults   = 4096
	recentResultMax = 64 << 10
	// resultPollMin and resultPollMax bound the interval of the fallback poll of every
	// awaited workflow, which finds what notifications missed.
	resultPollMin = 10 * time.Millisecond
	resultPollMax = time.Second
)

// resultWaiter serves Handle.Result. All waits of a client share one poller. Workflows that
// finish in this process are delivered at once, without a query, also to a wait that begins
// just after (the recent results are kept for that); those finishing elsewhere
// are announced by notifications, after which the poller reads just them. A periodic poll
// of every awaited workflow, slowing down while nothing finishes, covers lost notifications.
//
// A wait begins with a read of its workflow, so a wait for an ID that no workflow has ends
// at once with ErrNotFound. Only a read that began after the wait did can say so: the
// workflow may have been stored just before the wait began, after an earlier read.
type resultWaiter struct {
	c *Client

	mu      sync.Mutex
	waits   map[string][]wait
	due     map[string]bool // awaited workflows to read at the next wake-up
	pollAll bool            // read every awaited workflow at the next wake-up
	polling bool
	wake    chan struct{}
	round   uint64 // counts the poller's reads

	recent      map[string]waitResult // results of workflows completed here, newest last in order
	recentOrder []string
}

type waitResult struct {
	row db.GetResultsRow
	err error
}

// wait is one Handle.Result waiting.
type wait struct {
	ch    chan waitResult
	name  string // the workflow the handle expects
	round uint64 // the first read of the poller that began after the wait did
}

func newResultWaiter(c *Client) *resultWaiter {
	return &resultWaiter{
		c: c, waits: map[string][]wait{}, due: map[string]bool{}, wake: make(chan struct{}, 1),
		recent: map[string]waitResult{},
	}
}

// wait blocks until workflow id is final or ctx ends. It reports a notFoundError for an ID
// that no workflow has, or that a workflow of another name than the expected one has.
func (w *resultWaiter) wait(ctx context.Context, id, name string) (db.GetResultsRow, error) {
	ch := make(chan waitResult, 1)
	w.mu.Lock()
	if r, ok := w.recent[id]; ok {
		w.mu.Unlock()
		return r.row, r.err
	}
	w.waits[id] = append(w.waits[id], wait{ch: ch, name: name, round: w.round})
	w.due[id] = true
	if !w.polling {
		w.polling = true
		// Completions elsewhere are announced on the schema's channel.
		go w.c.listen()
		go w.poll()
	}
	w.mu.Unlock()
	w.signal()
	select {
	case r := <-ch:
		return r.row, r.err
	case <-ctx.Done():
		w.remove(id, ch)
		return db.GetResultsRow{}, ctx.Err()
	}
}

func (w *resultWaiter) remove(id string, ch chan waitResult) {
	w.mu.Lock()
	defer w.mu.Unlock()
	waits := w.waits[id]
	for i, wt := range waits {
		if wt.ch == ch {
			waits = append(waits[:i], waits[i+1:]...)
			break
		}
	}
	if len(waits) == 0 {
		delete(w.waits, id)
	} else {
		w.waits[id] = waits
	}
}

// completedElsewhere is told the IDs a completion notification names (nil: some completed,
// which is not said): read those that are awaited.
func (w *resultWaiter) completedElsewhere(ids []string) {
	w.mu.Lock()
	if ids == nil {
		w.pollAll = true
	}
	marked := ids == nil
	for _, id := range ids {
		if _, ok := w.waits[id]; ok {
			w.due[id] = true
			marked = true
		}
	}
	w.mu.Unlock()
	if marked {
		w.signal()
	}
}

// kick makes the poller read every awaited workflow now.
func (w *resultWaiter) kick() {
	w.mu.Lock()
	w.pollAll = true
	w.mu.Unlock()
	w.signal()
}

func (w *resultWaiter) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// deliver hands a final workflow to its waiters.
func (w *resultWaiter) deliver(r waitResult) {
	w.end(r.row.ID, func(wait) (waitResult, bool) { return r, true })
}

// read hands what the poller read of an awaited workflow to the waits it ends: all when the
// workflow is final, and at once those expecting a workflow of another name.
func (w *resultWaiter) read(r db.GetResultsRow) {
	final := State(r.State).Final()
	w.end(r.ID, func(wt wait) (waitResult, bool) {
		if wt.name != r.Name {
			return waitResult{err: wrongWorkflow(r.ID, r.Name, wt.name)}, true
		}
		return waitResult{row: r}, final
	})
}

// notFound ends the waits for workflow id that began before read round did: that read
// found no workflow with the ID. Later waits stay, for the next read.
func (w *resultWaiter) notFound(id string, round uint64) {
	w.end(id, func(wt wait) (waitResult, bool) {
		return waitResult{err: &notFoundError{id: id}}, wt.round <= round
	})
}

// end ends the waits for workflow id for which outcome says so, with the result it gives.
func (w *resultWaiter) end(id string, outcome func(wait) (waitResult, bool)) {
	type ended struct {
		ch chan waitResult
		r  waitResult
	}
	var done []ended
	w.mu.Lock()
	waits := w.waits[id]
	kept := waits[:0]
	for _, wt := range waits {
		if r, ok := outcome(wt); ok {
			done = append(done, ended{wt.ch, r})
		} else {
			kept = append(kept, wt)
		}
	}
	if len(kept) == 0 {
		delete(w.waits, id)
		delete(w.due, id)
	} else {
		w.waits[id] = kept
	}
	w.mu.Unlock()
	for _, e := range done {
		e.ch <- e.r
	}
}

// completedHere delivers the result of a workflow this process completed, and keeps it for
// waits that begin soon after.
func (w *resultWaiter) completedHere(r waitResult) {
	if len(r.row.Output)+len(r.row.Error) <= recentResultMax {
		w.mu.Lock()
		if _, ok := w.recent[r.row.ID]; !ok {
			if len(w.recentOrder) == recentResults {
				delete(w.recent, w.recentOrder[0])
				w.recentOrder = w.recentOrder[1:]
			}
			w.recentOrder = append(w.recentOrder, r.row.ID)
		}
		w.recent[r.row.ID] = r
		w.mu.Unlock()
	}
	w.deliver(r)
}

// poll runs while anyone waits.
func (w *resultWaiter) poll() {
	interval := resultPollMin
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		all := false
		select {
		case <-w.wake:
			// Waits that begin while a read is in flight are read together next.
		case <-timer.C:
			all = true
		}
		w.mu.Lock()
		if len(w.waits) == 0 {
			w.polling = false
			clear(w.due)
			w.pollAll = false
			w.mu.Unlock()
			return
		}
		all = all || w.pollAll
		var ids []string
		if all {
			ids = make([]string, 0, len(w.waits))
			for id := range w.waits {
				ids = append(ids, id)
			}
		} else {
			for id := range w.due {
				if _, ok := w.waits[id]; ok {
					ids = append(ids, id)
				}
			}
		}
		clear(w.due)
		w.pollAll = false
		round := w.round
		w.round++
		w.mu.Unlock()
		if len(ids) == 0 {
			continue
		}

		rows, err := w.c.hotQ.GetResults(context.Background(), ids)
		switch {
		case errors.Is(err, puddle.ErrClosedPool):
			// Nothing can be read any more: fail every wait.
			w.failAll(w.c.dbError("waiting for results", err))
			continue
		case err != nil:
			w.c.log.Warn("wfgen: reading workflow results failed", "error", err)
		}
		if err == nil && len(rows) < len(ids) {
			found := make(map[string]bool, len(rows))
			for _, r := range rows {
				found[r.ID] = true
			}
			for _, id := range ids {
				if !found[id] {
					w.notFound(id, round)
				}
			}
		}
		final := 0
		for _, r := range rows {
			if State(r.State).Final() {
				final++
			}
			w.read(r)
		}
		if all {
			// The fallback poll slows down while it finds nothing.
			if final > 0 {
				interval = resultPollMin
			} else {
				interval = min(2*interval, resultPollMax)
			}
			timer.Reset(interval)
		}
	}
}

func (w *resultWaiter) failAll(err error) {
	w.mu.Lock()
	all := w.waits
	w.waits = map[string][]wait{}
	w.mu.Unlock()
	for _, waits := range all {
		for _, wt := range waits {
			wt.ch <- waitResult{err: err}
		}
	}
}

// forget drops the kept result of workflow id: it was resumed, and is not final any more.
func (w *resultWaiter) forget(id string) {
	w.mu.Lock()
	delete(w.recent, id)
	w.mu.Unlock()
}

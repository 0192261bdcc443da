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
type resultWaiter struct {
	c *Client

	mu      sync.Mutex
	waits   map[string][]chan waitResult
	due     map[string]bool // awaited workflows to read at the next wake-up
	pollAll bool            // read every awaited workflow at the next wake-up
	polling bool
	wake    chan struct{}

	recent      map[string]waitResult // results of workflows completed here, newest last in order
	recentOrder []string
}

type waitResult struct {
	row db.GetResultsRow
	err error
}

func newResultWaiter(c *Client) *resultWaiter {
	return &resultWaiter{
		c: c, waits: map[string][]chan waitResult{}, due: map[string]bool{}, wake: make(chan struct{}, 1),
		recent: map[string]waitResult{},
	}
}

// wait blocks until workflow id is final or ctx ends.
func (w *resultWaiter) wait(ctx context.Context, id string) (db.GetResultsRow, error) {
	ch := make(chan waitResult, 1)
	w.mu.Lock()
	if r, ok := w.recent[id]; ok {
		w.mu.Unlock()
		return r.row, r.err
	}
	w.waits[id] = append(w.waits[id], ch)
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
	chans := w.waits[id]
	for i, c := range chans {
		if c == ch {
			chans = append(chans[:i], chans[i+1:]...)
			break
		}
	}
	if len(chans) == 0 {
		delete(w.waits, id)
	} else {
		w.waits[id] = chans
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
	w.mu.Lock()
	chans := w.waits[r.row.ID]
	delete(w.waits, r.row.ID)
	delete(w.due, r.row.ID)
	w.mu.Unlock()
	for _, ch := range chans {
		ch <- r
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
		w.mu.Unlock()
		if len(ids) == 0 {
			continue
		}

		rows, err := w.c.q.GetResults(context.Background(), ids)
		switch {
		case errors.Is(err, puddle.ErrClosedPool):
			// Nothing can be read any more: fail every wait.
			w.failAll(w.c.dbError("waiting for results", err))
			continue
		case err != nil:
			w.c.log.Warn("wfgen: reading workflow results failed", "error", err)
		}
		for _, r := range rows {
			w.deliver(waitResult{row: r})
		}
		if all {
			// The fallback poll slows down while it finds nothing.
			if len(rows) > 0 {
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
	waits := w.waits
	w.waits = map[string][]chan waitResult{}
	w.mu.Unlock()
	for _, chans := range waits {
		for _, ch := range chans {
			ch <- waitResult{err: err}
		}
	}
}

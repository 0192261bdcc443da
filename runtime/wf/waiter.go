package wf

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/puddle/v2"

	"github.com/wfgen/wfgen/runtime/internal/db"
)

// Polling bounds of the result waiter.
const (
	resultPollMin = 10 * time.Millisecond
	resultPollMax = time.Second
)

// resultWaiter serves Handle.Result. All waits of a client share one poller, which asks for
// every awaited workflow in one query; workflows that finish in this process are delivered
// at once, without a query.
type resultWaiter struct {
	c *Client

	mu      sync.Mutex
	waits   map[string][]chan waitResult
	polling bool
	fresh   bool // a wait began since the last poll: poll fast again
	wake    chan struct{}
}

type waitResult struct {
	row db.GetResultsRow
	err error
}

func newResultWaiter(c *Client) *resultWaiter {
	return &resultWaiter{c: c, waits: map[string][]chan waitResult{}, wake: make(chan struct{}, 1)}
}

// wait blocks until workflow id is final or ctx ends.
func (w *resultWaiter) wait(ctx context.Context, id string) (db.GetResultsRow, error) {
	ch := make(chan waitResult, 1)
	w.mu.Lock()
	w.waits[id] = append(w.waits[id], ch)
	w.fresh = true
	if !w.polling {
		// Completions elsewhere are announced on the schema's channel.
		go w.c.listen()
		w.polling = true
		go w.poll()
	}
	w.mu.Unlock()
	w.kick()
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

// awaitsAny reports whether any of ids is awaited.
func (w *resultWaiter) awaitsAny(ids []string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		if _, ok := w.waits[id]; ok {
			return true
		}
	}
	return false
}

// kick makes the poller query now.
func (w *resultWaiter) kick() {
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
	w.mu.Unlock()
	for _, ch := range chans {
		ch <- r
	}
}

// poll runs while anyone waits, querying all awaited workflows at once. The interval grows
// while nothing finishes and shrinks when something does.
func (w *resultWaiter) poll() {
	interval := resultPollMin
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-w.wake:
		case <-timer.C:
		}
		w.mu.Lock()
		if len(w.waits) == 0 {
			w.polling = false
			w.mu.Unlock()
			return
		}
		ids := make([]string, 0, len(w.waits))
		for id := range w.waits {
			ids = append(ids, id)
		}
		fresh := w.fresh
		w.fresh = false
		w.mu.Unlock()

		rows, err := w.c.q.GetResults(context.Background(), ids)
		switch {
		case errors.Is(err, puddle.ErrClosedPool):
			// Nothing can be read any more: fail every wait.
			w.failAll(w.c.dbError("waiting for results", err))
			continue
		case err != nil:
			w.c.log.Warn("wfgen: polling workflow results failed", "error", err)
		}
		for _, r := range rows {
			w.deliver(waitResult{row: r})
		}
		if len(rows) > 0 || fresh {
			interval = resultPollMin
		} else {
			interval = min(2*interval, resultPollMax)
		}
		timer.Reset(interval)
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

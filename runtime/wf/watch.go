package wf

import (
	"context"
	"sync"
	"time"
)

// watchers wakes the waits for a workflow's messages, events and stream values (Recv in an
// execution, Event.Wait and Stream.All in any client): a KindChanged notification about the
// workflow, from any process, or a change made in this one, signals every watcher of it.
// Its completion or cancellation does too (a stream of a final workflow is over). Waits
// also poll, slowing down to a second, for what notifications miss.
type watchers struct {
	mu sync.Mutex
	m  map[string]map[chan struct{}]struct{}
}

// watch returns a channel that receives after each change of workflow id, and the function
// that stops watching. Changes that happen while nobody reads are merged into one.
func (c *Client) watch(id string) (<-chan struct{}, func()) {
	return c.watchAll([]string{id})
}

// watchAll is watch for several workflows at once: one channel receives after a change of
// any of them.
func (c *Client) watchAll(ids []string) (<-chan struct{}, func()) {
	c.listen() // waits in a client that runs nothing must hear other processes too
	ch := make(chan struct{}, 1)
	w := &c.watchers
	w.mu.Lock()
	if w.m == nil {
		w.m = map[string]map[chan struct{}]struct{}{}
	}
	for _, id := range ids {
		if w.m[id] == nil {
			w.m[id] = map[chan struct{}]struct{}{}
		}
		w.m[id][ch] = struct{}{}
	}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		for _, id := range ids {
			delete(w.m[id], ch)
			if len(w.m[id]) == 0 {
				delete(w.m, id)
			}
		}
		w.mu.Unlock()
	}
}

// signal wakes the watchers of the given workflows; none means every watcher.
func (w *watchers) signal(ids ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	wake := func(set map[chan struct{}]struct{}) {
		for ch := range set {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	if len(ids) == 0 {
		for _, set := range w.m {
			wake(set)
		}
		return
	}
	for _, id := range ids {
		wake(w.m[id])
	}
}

// changed tells watchers here at once, and other processes through a notification, that
// workflow id got a message, published an event or a stream value, or was resumed.
func (c *Client) changed(id string) {
	c.waiter.forget(id)
	c.watchers.signal(id)
	c.announcer.Changed(id)
}

// pollUntil calls look until it reports done, ctx ends, or look fails: at each change of
// workflow id, and otherwise at a poll interval growing from 10ms to a second.
func (c *Client) pollUntil(ctx context.Context, id string, look func() (bool, error)) error {
	ch, stop := c.watch(id)
	defer stop()
	poll := 10 * time.Millisecond
	for {
		done, err := look()
		if err != nil || done {
			return err
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		case <-ch:
			t.Stop()
		case <-t.C:
			poll = min(2*poll, time.Second)
		}
	}
}

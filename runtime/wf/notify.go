package wf

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wfgen/wfgen/runtime/internal/db"
	"github.com/wfgen/wfgen/runtime/internal/notifier"
)

// newListener returns the listener of the schema's channel. It connects once listen starts
// it.
func (c *Client) newListener() (*notifier.Listener, error) {
	return notifier.New(notifier.Config{
		Connect: func(ctx context.Context) (notifier.Conn, error) {
			conn, err := pgx.ConnectConfig(ctx, c.pool.Config().ConnConfig.Copy())
			if err != nil {
				return nil, err
			}
			if err := db.New(c.rw.Wrap(conn)).Listen(ctx); err != nil {
				conn.Close(context.WithoutCancel(ctx))
				return nil, err
			}
			return conn, nil
		},
		Notify:    c.notified,
		Connected: c.wakeAll,
		Logger:    c.log,
	})
}

// listen starts the client's notification listener unless it runs already, and returns a
// channel closed once it listens. Workers start it in Start; a client that only waits for
// results starts it at its first wait. Stop stops it.
func (c *Client) listen() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.listening && c.phase != phaseStopped {
		c.listening = true
		// Started once, on a context of its own: Stop ends it.
		_ = c.listener.Start(context.Background())
	}
	return c.listener.Listening()
}

// notified routes a notification to the fetchers, waiters and executions it concerns.
func (c *Client) notified(n notifier.Notification) {
	switch n.Kind {
	case notifier.KindEnqueued:
		for _, f := range c.fetcherList() {
			if f.q.name != n.Queue {
				continue
			}
			if n.DelayMs <= 0 {
				f.kick()
			} else {
				f.wakeAt(time.Now().Add(time.Duration(n.DelayMs) * time.Millisecond))
			}
		}
	case notifier.KindCompleted:
		c.waiter.completedElsewhere(n.IDs)
		// A completion frees a slot of a queue with a global limit, whoever ran it.
		for _, f := range c.fetcherList() {
			if f.q.limited() && slices.Contains(n.Queues, f.q.name) {
				f.kick()
			}
		}
	case notifier.KindCancelled:
		c.waiter.completedElsewhere([]string{n.Workflow})
		if n.Executor == c.cfg.ExecutorID {
			c.mu.Lock()
			x := c.executions[n.Workflow]
			c.mu.Unlock()
			if x != nil {
				x.cancel(ErrCancelled)
			}
		}
	}
}

// wakeAll makes every fetcher and the result waiter look now: after the listener
// (re)connects, notifications may have been missed.
func (c *Client) wakeAll() {
	for _, f := range c.fetcherList() {
		f.kick()
	}
	c.waiter.kick()
}

func (c *Client) fetcherList() []*fetcher {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fetchers
}

// Bounds of announcements.
const (
	// maxPayload keeps a notification under PostgreSQL's payload limit (8000 bytes).
	maxPayload = 7000
	// maxPendingIDs caps the completed IDs kept for announcing; past it (the database is
	// unreachable, say), completions are announced without IDs and waiters read everything.
	maxPendingIDs = 20000
)

// announcer sends the notifications of enqueues and completions made outside callers'
// transactions, once they committed: whatever queues up while a send is in flight goes in
// the next one, in one statement (see the Announce query for why not in the writes
// themselves). Notifications are hints, so a failed send is logged and dropped: pollers
// find the work anyway.
type announcer struct {
	c *Client

	mu       sync.Mutex
	enqueued map[string]int64 // queue -> delay (ms) until the first new work may start
	ids      []string         // completed workflows
	queues   map[string]bool  // their queues
	tooMany  bool             // ids overflowed: announce completions without them
	sending  bool
	idle     chan struct{} // closed when a burst of sends ends
}

func newAnnouncer(c *Client) *announcer {
	return &announcer{c: c, enqueued: map[string]int64{}, queues: map[string]bool{}}
}

// enqueue announces new work in queue that may start after delayMs.
func (a *announcer) enqueue(queue string, delayMs int64) {
	a.mu.Lock()
	if d, ok := a.enqueued[queue]; !ok || delayMs < d {
		a.enqueued[queue] = delayMs
	}
	a.startLocked()
	a.mu.Unlock()
}

// complete announces completed workflows and their queues.
func (a *announcer) complete(ids, queues []string) {
	a.mu.Lock()
	if len(a.ids)+len(ids) > maxPendingIDs {
		a.tooMany, a.ids = true, nil
	} else if !a.tooMany {
		a.ids = append(a.ids, ids...)
	}
	for _, q := range queues {
		a.queues[q] = true
	}
	a.startLocked()
	a.mu.Unlock()
}

func (a *announcer) startLocked() {
	if a.sending {
		return
	}
	a.sending = true
	a.idle = make(chan struct{})
	go a.send()
}

// send sends what is pending until nothing is.
func (a *announcer) send() {
	for {
		a.mu.Lock()
		payloads := a.payloadsLocked()
		if len(payloads) == 0 {
			a.sending = false
			close(a.idle)
			a.mu.Unlock()
			return
		}
		a.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := a.c.q.Announce(ctx, db.AnnounceParams{Channel: a.c.channel, Payloads: payloads})
		cancel()
		if err != nil {
			a.c.log.Warn("wfgen: sending notifications failed; workers and waiters poll instead", "error", err)
		}
	}
}

// payloadsLocked takes what is pending and encodes it as notifications.
func (a *announcer) payloadsLocked() []string {
	var out []string
	add := func(n notifier.Notification) {
		b, _ := json.Marshal(n) // strings and numbers always encode
		out = append(out, string(b))
	}
	for q, d := range a.enqueued {
		add(notifier.Notification{Kind: notifier.KindEnqueued, Queue: q, DelayMs: d})
	}
	clear(a.enqueued)
	if len(a.queues) == 0 {
		return out
	}
	queues := make([]string, 0, len(a.queues))
	for q := range a.queues {
		queues = append(queues, q)
	}
	if a.tooMany {
		add(notifier.Notification{Kind: notifier.KindCompleted, Queues: queues})
	}
	for ids := a.ids; len(ids) > 0; {
		n, size := 0, 0
		for n < len(ids) && size+len(ids[n])+3 < maxPayload {
			size += len(ids[n]) + 3
			n++
		}
		n = max(n, 1)
		add(notifier.Notification{Kind: notifier.KindCompleted, IDs: ids[:n], Queues: queues})
		ids = ids[n:]
	}
	a.ids, a.tooMany = a.ids[:0], false
	clear(a.queues)
	return out
}

// flush waits until what is pending has been sent, or ctx ends.
func (a *announcer) flush(ctx context.Context) {
	a.mu.Lock()
	sending, idle := a.sending, a.idle
	a.mu.Unlock()
	if !sending {
		return
	}
	select {
	case <-idle:
	case <-ctx.Done():
	}
}

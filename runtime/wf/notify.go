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

// notification is a payload of the schema's channel (see queries/): k says what happened.
type notification struct {
	Kind     string   `json:"k"`
	Queue    string   `json:"q"`   // e: the queue that got work
	DelayMs  int64    `json:"d"`   // e: until the first of it may start
	IDs      []string `json:"ids"` // c: completed workflows (absent when too many)
	Queues   []string `json:"qs"`  // c: their queues
	Workflow string   `json:"id"`  // x: the cancelled workflow
	Executor string   `json:"x"`   // x: the executor that was running it
}

// listen starts the client's notification listener unless it runs already, and returns a
// channel closed once it listens. Workers start it in Start; a client that only waits for
// results starts it at its first wait. Stop ends it.
func (c *Client) listen() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.listening || c.phase == phaseStopped {
		return c.listenReady
	}
	c.listening = true
	ready := make(chan struct{})
	c.listenReady = ready
	var once sync.Once
	ctx, cancel := context.WithCancel(context.Background())
	c.stopListening = cancel
	l := &notifier.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			return pgx.ConnectConfig(ctx, c.pool.Config().ConnConfig.Copy())
		},
		Listen: func(ctx context.Context, conn *pgx.Conn) error {
			return db.New(c.rw.Wrap(conn)).Listen(ctx)
		},
		Notify: c.notified,
		Connected: func() {
			once.Do(func() { close(ready) })
			c.wakeAll()
		},
		Logger: c.log,
	}
	c.listener.Add(1)
	go func() {
		defer c.listener.Done()
		l.Run(ctx)
	}()
	return ready
}

// notified routes a notification to the fetchers, waiters and executions it concerns.
func (c *Client) notified(payload string) {
	var n notification
	if err := json.Unmarshal([]byte(payload), &n); err != nil {
		c.log.Debug("wfgen: ignoring a malformed notification", "payload", payload, "error", err)
		return
	}
	switch n.Kind {
	case "e":
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
	case "c":
		c.waiter.completedElsewhere(n.IDs)
		// A completion frees a slot of a queue with a global limit, whoever ran it.
		for _, f := range c.fetcherList() {
			if f.q.limited() && slices.Contains(n.Queues, f.q.name) {
				f.kick()
			}
		}
	case "x":
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

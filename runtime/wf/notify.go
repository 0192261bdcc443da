package wf

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wfgen/wfgen/runtime/internal/announcer"
	"github.com/wfgen/wfgen/runtime/internal/db"
	"github.com/wfgen/wfgen/runtime/internal/dbschema"
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
		Lost:      func(error) { c.claimsMayBeLost() },
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
		// On a context of its own: Stop ends it.
		mustStart(context.Background(), c.listener)
	}
	return c.listener.Listening()
}

// notified routes a notification to the queue workers, waiters and executions it concerns.
func (c *Client) notified(n notifier.Notification) {
	switch n.Kind {
	case notifier.KindEnqueued:
		for _, w := range c.workerList() {
			if w.q.name != n.Queue {
				continue
			}
			if n.DelayMs <= 0 {
				w.loop.Kick()
			} else {
				w.loop.WakeAt(time.Now().Add(time.Duration(n.DelayMs) * time.Millisecond))
			}
		}
	case notifier.KindChanged:
		c.waiter.forget(n.Workflow) // a resumed workflow is no longer final
		c.watchers.signal(n.Workflow)
	case notifier.KindCompleted:
		c.waiter.completedElsewhere(n.IDs)
		if len(n.IDs) > 0 {
			c.watchers.signal(n.IDs...)
		}
		// A completion frees a slot of a queue with a global limit, whoever ran it.
		for _, w := range c.workerList() {
			if w.q.limited() && slices.Contains(n.Queues, w.q.name) {
				w.loop.Kick()
			}
		}
	case notifier.KindCancelled:
		c.waiter.completedElsewhere([]string{n.Workflow})
		c.watchers.signal(n.Workflow)
		if n.Executor == c.cfg.ExecutorID {
			c.mu.Lock()
			x := c.executions[n.Workflow]
			if x == nil && n.Attempt > 0 {
				c.rememberEarlyCancel(claimedAttempt{n.Workflow, n.Attempt})
			}
			c.mu.Unlock()
			if x != nil {
				x.cancel(ErrCancelled)
			}
		}
	}
}

// wakeAll makes every queue worker and the result waiter look now: after the listener
// (re)connects, notifications may have been missed.
func (c *Client) wakeAll() {
	for _, w := range c.workerList() {
		w.loop.Kick()
	}
	c.waiter.kick()
	c.watchers.signal()
}

func (c *Client) workerList() []*queueWorker {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.workers
}

// newAnnouncer returns the announcer of the enqueues and completions this client writes
// outside callers' transactions. It sends in a statement of its own rather than in the
// writes themselves: see the Announce query for why.
func (c *Client) newAnnouncer() (*announcer.Announcer, error) {
	return announcer.New(announcer.Config{
		Send: func(ctx context.Context, payloads []string) error {
			return c.q.Announce(ctx, db.AnnounceParams{Channel: c.channel, Payloads: payloads})
		},
		Logger: c.log,
	})
}

// requeued announces queues that got work to run now: suspended workflows that were woken,
// resumed or forked ones.
func (c *Client) requeued(queues []string) {
	for _, q := range queues {
		c.announcer.Enqueued(q, 0)
		c.wakeQueue(q)
	}
}

// claimedAttempt names one claim of a workflow: each claim increments the attempt.
type claimedAttempt struct {
	id      string
	attempt int32
}

// earlyCancelMemory is how long a cancellation that found no execution is kept for launch
// (see Client.earlyCancels); a claim is launched within milliseconds of its commit.
const earlyCancelMemory = time.Minute

// rememberEarlyCancel keeps a cancellation of an attempt this executor claimed but has not
// launched yet (or has already ended: then no launch matches it, since a new claim is a
// new attempt, and it is forgotten after earlyCancelMemory). c.mu is held.
func (c *Client) rememberEarlyCancel(a claimedAttempt) {
	now := time.Now()
	for k, at := range c.earlyCancels {
		if now.Sub(at) > earlyCancelMemory {
			delete(c.earlyCancels, k)
		}
	}
	c.earlyCancels[a] = now
}

// idleEnqueue reports whether a single enqueue outside a caller's transaction finds this
// client idle: no other such enqueue in flight, and nothing being announced. Call done once
// the enqueue returns, whatever idle says.
//
// An idle enqueue announces itself, in the round trip of its insert (announcingEnqueue):
// handing the announcement to the announcer would cost one more round trip, after the
// caller has its answer, on the way from the enqueue to the workflow's start. Enqueues that
// overlap leave it to the announcer, which sends one notification for many: each
// notifying transaction takes a database-wide lock through its commit, in turn.
func (c *Client) idleEnqueue() (idle bool, done func()) {
	n := c.enqueuing.Add(1)
	return n == 1 && c.announcer.Idle(), func() { c.enqueuing.Add(-1) }
}

// announcingEnqueue returns the pool with each statement committed in a transaction of its
// own and followed, in the same round trip, by the announcement of r's enqueue (see
// dbschema.CommitThen).
func (c *Client) announcingEnqueue(r insertRequest) dbschema.DBTX {
	payload := announcer.EnqueuedPayload(r.queue, r.delayMs)
	args := db.AnnounceArgs(db.AnnounceParams{Channel: c.channel, Payloads: []string{payload}})
	return c.rw.Wrap(dbschema.CommitThen(c.pool, db.AnnounceSQL, args...))
}

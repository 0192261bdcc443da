// Package announcer sends the notifications of enqueues and completions that were written
// outside callers' transactions, once they committed.
//
// Announcements are batched: whatever queues up while a send is in flight goes in the next
// one, in one statement, so that a burst of enqueues or completions costs a few sends, not
// one each. Enqueues are announced once per queue, with the shortest delay announced for it;
// completed workflow IDs are split over as many notifications as PostgreSQL's payload limit
// requires. Notifications only make things faster (pollers find the work anyway), so a failed
// send is logged and dropped, and past MaxPendingIDs waiting IDs (the database is
// unreachable, say) completions are announced without their IDs.
//
// The announcer has no goroutine while it has nothing to send: the first announcement of a
// burst starts one, which returns once everything is sent. So it needs no Start, and a
// client that only enqueues announces too; Flush is its Stop.
package announcer

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/wfgen/wfgen/runtime/internal/notifier"
)

// Bounds of announcements.
const (
	// MaxPayload bounds the IDs of one completion notification, in bytes of JSON, which keeps
	// the notification under PostgreSQL's payload limit (8000 bytes).
	MaxPayload = 7000
	// MaxPendingIDs caps the completed IDs kept for announcing; past it, completions are
	// announced without IDs, and waiters read every workflow they wait for.
	MaxPendingIDs = 20000
	// DefaultSendTimeout bounds one send.
	DefaultSendTimeout = 10 * time.Second
)

// Config configures an Announcer.
type Config struct {
	// Send sends the payloads as notifications on the schema's channel, in one statement.
	Send func(ctx context.Context, payloads []string) error
	// Logger receives failed sends. Default slog.Default().
	Logger *slog.Logger
	// SendTimeout bounds one send. Default DefaultSendTimeout.
	SendTimeout time.Duration
}

func (c *Config) validate() error {
	if c.Send == nil {
		return errors.New("announcer: Config.Send is not set")
	}
	if c.SendTimeout < 0 {
		return errors.New("announcer: Config.SendTimeout must not be negative")
	}
	if c.SendTimeout == 0 {
		c.SendTimeout = DefaultSendTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Announcer batches announcements and sends them. It is safe for concurrent use.
type Announcer struct {
	cfg Config

	mu       sync.Mutex
	enqueued map[string]pendingWork // by queue
	ids      []string               // completed workflows
	queues   map[string]bool        // their queues
	tooMany  bool                   // ids overflowed: announce completions without them
	changed  map[string]bool        // workflows whose messages, events or streams changed
	sending  bool
	idle     chan struct{} // closed when a burst of sends ends
}

// New returns an Announcer, or the error of the first field of cfg that is wrong.
func New(cfg Config) (*Announcer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Announcer{cfg: cfg, enqueued: map[string]pendingWork{}, queues: map[string]bool{}, changed: map[string]bool{}}, nil
}

// pendingWork is what is to be announced of one queue: work that may start now, and the
// soonest of the work that may start later. Both are kept: announcing only the soonest
// would leave the delayed work without a wake-up, and workers that do not poll would never
// start it.
type pendingWork struct {
	now     bool
	delayMs int64 // 0: no delayed work
}

// Enqueued announces new work in queue that may start after delayMs.
func (a *Announcer) Enqueued(queue string, delayMs int64) {
	a.mu.Lock()
	w := a.enqueued[queue]
	switch {
	case delayMs <= 0:
		w.now = true
	case w.delayMs == 0 || delayMs < w.delayMs:
		w.delayMs = delayMs
	}
	a.enqueued[queue] = w
	a.startLocked()
	a.mu.Unlock()
}

// Idle reports whether nothing is being sent or waits to be: an enqueue that finds the
// announcer idle gains nothing by waiting for it, and may announce itself.
func (a *Announcer) Idle() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.sending
}

// Completed announces completed workflows and their queues.
func (a *Announcer) Completed(ids, queues []string) {
	a.mu.Lock()
	if len(a.ids)+len(ids) > MaxPendingIDs {
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

// Changed announces that a workflow got a message, or published an event or a stream value.
// Past MaxPendingIDs waiting workflows, further ones are dropped: their waiters poll.
func (a *Announcer) Changed(workflowID string) {
	a.mu.Lock()
	if len(a.changed) < MaxPendingIDs {
		a.changed[workflowID] = true
	}
	a.startLocked()
	a.mu.Unlock()
}

func (a *Announcer) startLocked() {
	if a.sending {
		return
	}
	a.sending = true
	a.idle = make(chan struct{})
	go a.send()
}

// send sends what is pending until nothing is.
func (a *Announcer) send() {
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
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.SendTimeout)
		err := a.cfg.Send(ctx, payloads)
		cancel()
		if err != nil {
			a.cfg.Logger.Warn("wfgen: sending notifications failed; workers and waiters poll instead", "error", err)
		}
	}
}

// EnqueuedPayload is the notification of work enqueued in queue, of which the first may
// start after delayMs: what Enqueued announces, for an enqueue that sends it itself.
func EnqueuedPayload(queue string, delayMs int64) string {
	b, _ := json.Marshal(notifier.Notification{Kind: notifier.KindEnqueued, Queue: queue, DelayMs: delayMs}) // strings and numbers always encode
	return string(b)
}

// payloadsLocked takes what is pending and encodes it as notifications.
func (a *Announcer) payloadsLocked() []string {
	var out []string
	add := func(n notifier.Notification) {
		b, _ := json.Marshal(n) // strings and numbers always encode
		out = append(out, string(b))
	}
	for q, w := range a.enqueued {
		if w.now {
			out = append(out, EnqueuedPayload(q, 0))
		}
		if w.delayMs > 0 {
			out = append(out, EnqueuedPayload(q, w.delayMs))
		}
	}
	clear(a.enqueued)
	for id := range a.changed {
		add(notifier.Notification{Kind: notifier.KindChanged, Workflow: id})
	}
	clear(a.changed)
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
		for n < len(ids) && size+len(ids[n])+3 < MaxPayload {
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

// Flush waits until what is pending has been sent, or ctx ends.
func (a *Announcer) Flush(ctx context.Context) {
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

// Package notifier listens to the schema's notification channel on a connection of its own
// and hands every payload to a callback.
//
// Notifications only make things faster: whatever they announce, pollers find too. So the
// listener reconnects with a backoff when its connection fails, and after every (re)connect
// tells its owner, which then looks for what it may have missed.
package notifier

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// Listener runs LISTEN on a dedicated connection.
type Listener struct {
	// Connect opens the dedicated connection.
	Connect func(ctx context.Context) (*pgx.Conn, error)
	// Listen subscribes conn to the channel.
	Listen func(ctx context.Context, conn *pgx.Conn) error
	// Notify receives each payload, on the listener's goroutine: keep it short.
	Notify func(payload string)
	// Connected runs after each successful (re)connect.
	Connected func()
	Logger    *slog.Logger
}

// Run listens until ctx ends.
func (l *Listener) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := l.session(ctx)
		if ctx.Err() != nil {
			return
		}
		l.Logger.Warn("wfgen: notification listener lost its connection; reconnecting (workers poll meanwhile)", "retry_in", backoff, "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// session connects, listens and dispatches until the connection fails.
func (l *Listener) session(ctx context.Context) error {
	conn, err := l.Connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := l.Listen(ctx, conn); err != nil {
		return err
	}
	if l.Connected != nil {
		l.Connected()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		l.Notify(n.Payload)
	}
}

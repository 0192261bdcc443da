// Package notifier listens to the schema's notification channel on a connection of its own
// and hands every notification to a callback.
//
// Notifications only make things faster: whatever they announce, pollers find too. So the
// listener reconnects with a backoff when its connection fails, and after every (re)connect
// tells its owner, which then looks for what it may have missed. A payload that is not a
// Notification is logged at debug level and dropped.
package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wfgen/wfgen/runtime/internal/clock"
	"github.com/wfgen/wfgen/runtime/internal/startstop"
)

// Reconnection backoff.
const (
	// MinReconnectBackoff is how long the listener waits after its first failed connection.
	MinReconnectBackoff = 100 * time.Millisecond
	// MaxReconnectBackoff caps the wait, which doubles after every failure.
	MaxReconnectBackoff = 5 * time.Second
)

// Conn is a connection subscribed to the channel. A *pgx.Conn is one.
type Conn interface {
	// WaitForNotification returns the next notification, or an error when the connection
	// fails or ctx ends.
	WaitForNotification(ctx context.Context) (*pgconn.Notification, error)
	// Close closes the connection.
	Close(ctx context.Context) error
}

// Config configures a Listener.
type Config struct {
	// Connect opens a connection of the listener's own and subscribes it to the channel.
	Connect func(ctx context.Context) (Conn, error)
	// Notify receives each notification, on the listener's goroutine: keep it short.
	Notify func(Notification)
	// Connected runs after each successful (re)connect, on the listener's goroutine. Nil:
	// nothing runs.
	Connected func()
	// Lost runs when a connection that listened fails, on the listener's goroutine, before
	// the backoff: the server may have restarted. Nil: nothing runs.
	Lost func(err error)
	// Clock is the time source of the backoff. Default clock.Real{}.
	Clock clock.Clock
	// Logger receives lost connections and malformed payloads. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) validate() error {
	switch {
	case c.Connect == nil:
		return errors.New("notifier: Config.Connect is not set")
	case c.Notify == nil:
		return errors.New("notifier: Config.Notify is not set")
	}
	startstop.Defaults(&c.Clock, &c.Logger)
	return nil
}

// Listener listens from Start until Stop.
type Listener struct {
	cfg       Config
	loop      startstop.Loop
	listening chan struct{} // closed at the first successful connect
	once      sync.Once
}

// New returns a Listener, or the error of the first field of cfg that is wrong. It does not
// connect until Start.
func New(cfg Config) (*Listener, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Listener{cfg: cfg, listening: make(chan struct{})}, nil
}

// Start starts listening, in a goroutine of its own, until Stop or until ctx ends. It
// returns an error when the listener has been started before.
func (l *Listener) Start(ctx context.Context) error {
	if err := l.loop.Start(ctx, l.run); err != nil {
		return fmt.Errorf("notifier: %w", err)
	}
	return nil
}

// Stop stops listening, closes the connection, and returns once the listener's goroutine has
// returned. It does nothing on a listener that was not started, and can be called more than
// once.
func (l *Listener) Stop() { l.loop.Stop() }

// Listening returns a channel that is closed once the listener has connected for the first
// time and listens. It stays open while the listener has not.
func (l *Listener) Listening() <-chan struct{} { return l.listening }

func (l *Listener) run(ctx context.Context) {
	backoff := MinReconnectBackoff
	for ctx.Err() == nil {
		connected, err := l.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if connected {
			// A connection that worked and was lost starts the backoff over: the server
			// is likely back, and notifications are missed while we wait.
			backoff = MinReconnectBackoff
			if l.cfg.Lost != nil {
				l.cfg.Lost(err)
			}
		}
		l.cfg.Logger.Warn("wfgen: notification listener lost its connection; reconnecting (workers poll meanwhile)", "retry_in", backoff, "error", err)
		select {
		case <-ctx.Done():
			return
		case <-l.cfg.Clock.After(backoff):
		}
		backoff = min(2*backoff, MaxReconnectBackoff)
	}
}

// session connects, listens and dispatches until the connection fails; connected says
// whether it got to listen.
func (l *Listener) session(ctx context.Context) (connected bool, err error) {
	conn, err := l.cfg.Connect(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	l.once.Do(func() { close(l.listening) })
	if l.cfg.Connected != nil {
		l.cfg.Connected()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		l.dispatch(n.Payload)
	}
}

// dispatch decodes a payload and hands it to Notify.
func (l *Listener) dispatch(payload string) {
	var n Notification
	if err := json.Unmarshal([]byte(payload), &n); err != nil {
		l.cfg.Logger.Debug("wfgen: ignoring a malformed notification", "payload", payload, "error", err)
		return
	}
	l.cfg.Notify(n)
}

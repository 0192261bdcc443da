// Package startstop is what the runtime's background services share: each is started by
// the client with Start, runs one goroutine of its own, and is stopped by the client with
// Stop, which returns once that goroutine has. The client runs no background loop inline.
package startstop

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/wfgen/wfgen/runtime/internal/clock"
)

// Service is a background service of the runtime.
type Service interface {
	// Start starts the service's goroutine and returns without waiting for it. The service
	// runs until Stop or until ctx ends.
	Start(ctx context.Context) error
	// Stop stops the service and returns once its goroutine has returned.
	Stop()
}

// Defaults fills a service's time source and logger when its Config leaves them unset:
// clock.Real{} and slog.Default(). Every service's Config validation calls it.
func Defaults(c *clock.Clock, l **slog.Logger) {
	if *c == nil {
		*c = clock.Real{}
	}
	if *l == nil {
		*l = slog.Default()
	}
}

// ErrStartedTwice is returned by Start on a service started before: a service runs once.
var ErrStartedTwice = errors.New("started twice")

// Loop runs the goroutine of a service from Start until Stop. A service embeds one, or
// holds one and forwards Start and Stop to it. The zero value is ready to use.
type Loop struct {
	mu     sync.Mutex
	cancel context.CancelFunc // set by Start
	done   chan struct{}      // closed when run returns
}

// Start runs run in a goroutine of its own with a context that Stop cancels (and that ends
// with ctx). It returns ErrStartedTwice when the loop was started before, even if it has
// stopped since.
func (l *Loop) Start(ctx context.Context, run func(ctx context.Context)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancel != nil {
		return ErrStartedTwice
	}
	ctx, l.cancel = context.WithCancel(ctx)
	l.done = make(chan struct{})
	go func() {
		defer close(l.done)
		run(ctx)
	}()
	return nil
}

// Stop cancels the context of run and returns once run has returned. It does nothing on a
// loop that was not started, and can be called more than once, also concurrently.
func (l *Loop) Stop() {
	l.mu.Lock()
	cancel, done := l.cancel, l.done
	l.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

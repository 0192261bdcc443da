package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wfgen/wfgen/runtime/internal/clock"
	"github.com/wfgen/wfgen/runtime/internal/startstop"
)

// CleanupInterval is how often the service runs Config.Cleanup.
const CleanupInterval = time.Hour

// ErrDeclaredDead is returned by Config.Renew when the database no longer counts the
// executor as alive: its lease expired, and others may have taken its workflows over.
var ErrDeclaredDead = errors.New("lease: the executor was declared dead")

// Config configures a Lease.
type Config struct {
	// ExecutorID names the executor in logs.
	ExecutorID string
	// Duration is how long a renewal keeps the lease. It must be positive.
	Duration time.Duration
	// Interval is how often the lease is renewed, and how long one renewal may take. It must
	// be positive and below Duration/2, so that the lease survives a failed renewal.
	Interval time.Duration

	// Register records the executor with a fresh lease.
	Register func(ctx context.Context) error
	// Renew renews the lease. It returns ErrDeclaredDead (or an error wrapping it) when the
	// database declared the executor dead.
	Renew func(ctx context.Context) error
	// Interrupt interrupts every execution of the executor, which can no longer prove that
	// it owns them, and returns how many it interrupted.
	Interrupt func() int

	// HandBackOrphans hands the workflows that Interrupt stopped back to their queues; it
	// runs after each successful renewal. Nil: nothing runs.
	HandBackOrphans func(ctx context.Context)
	// TakeOver takes over the workflows of dead executors; it runs after each successful
	// renewal, and its error is logged. Nil: nothing runs.
	//
	// The follow-ups (HandBackOrphans, TakeOver, Cleanup) share a context that ends one
	// Interval after they begin: a database that hangs must not keep the service from its
	// next renewal, nor from giving up a lease it can no longer trust.
	TakeOver func(ctx context.Context) error
	// Cleanup forgets executors stopped long ago; it runs after the first successful renewal
	// and then every CleanupInterval, and its error is logged. Nil: nothing runs.
	Cleanup func(ctx context.Context) error

	// Clock is the time source. Default clock.Real{}.
	Clock clock.Clock
	// Logger receives failed renewals and interruptions. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) validate() error {
	switch {
	case c.Register == nil:
		return errors.New("lease: Config.Register is not set")
	case c.Renew == nil:
		return errors.New("lease: Config.Renew is not set")
	case c.Interrupt == nil:
		return errors.New("lease: Config.Interrupt is not set")
	case c.Duration <= 0:
		return errors.New("lease: Config.Duration must be positive")
	case c.Interval <= 0:
		return errors.New("lease: Config.Interval must be positive")
	case c.Interval >= c.Duration/2:
		return fmt.Errorf("lease: Config.Interval (%s) must be below half of Config.Duration (%s)", c.Interval, c.Duration)
	}
	startstop.Defaults(&c.Clock, &c.Logger)
	return nil
}

// Lease renews an executor's lease from Start until Stop, and says whether it is held.
type Lease struct {
	cfg  Config
	loop startstop.Loop

	mu   sync.Mutex
	sent time.Time // when the last successful renewal or registration was sent

	// Owned by the loop.
	fenced      bool      // Interrupt ran since the last successful renewal
	lastErr     error     // of the last failed renewal
	lastCleanup time.Time // when Cleanup last ran
}

// New returns a Lease, or the error of the first field of cfg that is wrong. The lease is not
// held until Register succeeds, and not renewed until Start.
func New(cfg Config) (*Lease, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Lease{cfg: cfg}, nil
}

// Register registers the executor (Config.Register) and, when that succeeds, counts the
// lease as renewed when Register was called.
func (l *Lease) Register(ctx context.Context) error {
	sent := l.cfg.Clock.Now()
	err := l.cfg.Register(ctx)
	if err == nil {
		l.renewed(sent)
	}
	return err
}

// Held reports whether the executor can be sure it still holds its lease: its last
// successful renewal or registration was sent less than Duration-Interval ago.
func (l *Lease) Held() bool {
	l.mu.Lock()
	sent := l.sent
	l.mu.Unlock()
	return l.cfg.Clock.Now().Sub(sent) < l.cfg.Duration-l.cfg.Interval
}

// renewed records that a renewal sent at sent succeeded.
func (l *Lease) renewed(sent time.Time) {
	l.mu.Lock()
	l.sent = sent
	l.mu.Unlock()
}

// Start starts renewing the lease, in a goroutine of its own, until Stop or until ctx ends.
// It returns an error when the lease has been started before.
func (l *Lease) Start(ctx context.Context) error {
	if err := l.loop.Start(ctx, l.run); err != nil {
		return fmt.Errorf("lease: %w", err)
	}
	return nil
}

// Stop stops renewing the lease, interrupting a renewal in flight, and returns once the
// service's goroutine has returned. The lease then expires after Duration, unless the
// executor is marked stopped. Stop does nothing on a lease that was not started, and can be
// called more than once.
func (l *Lease) Stop() { l.loop.Stop() }

func (l *Lease) run(ctx context.Context) {
	interval := l.cfg.Interval
	next := l.cfg.Clock.Now().Add(interval)
	timer := l.cfg.Clock.NewTimer(interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C():
		}
		// As with a time.Ticker: when the last beat ran past the next ones, this one runs
		// at once and those are dropped.
		if missed := l.cfg.Clock.Now().Sub(next) / interval; missed > 0 {
			next = next.Add(missed * interval)
		}
		next = next.Add(interval)
		l.beat(ctx)
		timer.Reset(next.Sub(l.cfg.Clock.Now()))
	}
}

// beat renews the lease once and reacts to the outcome.
func (l *Lease) beat(ctx context.Context) {
	// A lease that cannot be trusted any more is given up before this renewal, which may
	// hang for a whole interval: the executions stop before the database can see the lease
	// expire. (With Duration a multiple of Interval, as by default, the trust window ends
	// on a beat.)
	if !l.fenced && !l.Held() {
		why := l.lastErr
		if why == nil {
			why = errors.New("no renewal succeeded within the window")
		}
		l.fence(why)
	}
	sent := l.cfg.Clock.Now()
	// A database that hangs must count as a failed renewal, not stop the clock.
	rctx, cancel := context.WithTimeout(ctx, l.cfg.Interval)
	err := l.cfg.Renew(rctx)
	cancel()
	switch {
	case ctx.Err() != nil:
		return
	case errors.Is(err, ErrDeclaredDead):
		n := l.cfg.Interrupt()
		l.cfg.Logger.Error("wfgen: this executor was declared dead (its lease expired), so its workflows are taken over; interrupted them and registering again",
			"executor_id", l.cfg.ExecutorID, "interrupted", n)
		rctx, cancel := context.WithTimeout(ctx, l.cfg.Interval)
		err := l.Register(rctx)
		cancel()
		if err != nil {
			l.cfg.Logger.Error("wfgen: registering the executor again failed", "error", err)
			return
		}
		l.fenced = false
	case err != nil:
		l.lastErr = err
		if !l.fenced && !l.Held() {
			l.fence(err)
		} else {
			l.cfg.Logger.Warn("wfgen: heartbeat failed", "executor_id", l.cfg.ExecutorID, "error", err)
		}
		return
	default:
		l.renewed(sent)
		l.fenced, l.lastErr = false, nil
	}
	fctx, fcancel := context.WithTimeout(ctx, l.cfg.Interval)
	defer fcancel()
	ctx = fctx
	// The lease is ours: hand back the workflows the lost one made us interrupt, unless
	// another executor has taken them meanwhile.
	if l.cfg.HandBackOrphans != nil {
		l.cfg.HandBackOrphans(ctx)
	}
	if l.cfg.TakeOver != nil {
		if err := l.cfg.TakeOver(ctx); err != nil && ctx.Err() == nil {
			l.cfg.Logger.Warn("wfgen: taking over workflows of dead executors failed", "error", err)
		}
	}
	// Executors under a new ID per process (the default hostname-pid) leave a row each.
	if l.cfg.Cleanup != nil && l.cfg.Clock.Now().Sub(l.lastCleanup) > CleanupInterval {
		l.lastCleanup = l.cfg.Clock.Now()
		if err := l.cfg.Cleanup(ctx); err != nil && ctx.Err() == nil {
			l.cfg.Logger.Warn("wfgen: forgetting long-stopped executors failed", "error", err)
		}
	}
}

// fence interrupts the executions of an executor that can no longer trust its lease; err is
// why the last renewal failed.
func (l *Lease) fence(err error) {
	l.fenced = true
	n := l.cfg.Interrupt()
	l.cfg.Logger.Error("wfgen: cannot renew this executor's lease; interrupted its workflows so that another replica can take them over",
		"executor_id", l.cfg.ExecutorID, "interrupted", n, "error", err)
}

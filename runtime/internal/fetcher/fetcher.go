// Package fetcher decides when a worker fetches work from one of its queues: the fetch loop.
//
// The loop fetches while the worker has free slots (Config.Free) and the last fetch got all
// it asked for (more is probably waiting), then sleeps until it is kicked (an enqueue was
// announced, a slot was freed), until a time it was told work becomes due (WakeAt), or for
// Config.PollInterval: notifications can be lost, and polling finds what they announced.
//
// Two fetches are at least Config.Cooldown apart unless the last one got all it asked for.
// The cooldown spaces out the fetches that notifications trigger on an idle queue (many
// replicas woken by each enqueue), while a backlog is worked at full speed: slots freed by a
// batch of completions are filled at once.
//
// A fetch that fails is retried after a backoff that starts at MinErrorBackoff and doubles
// up to MaxErrorBackoff, until one succeeds.
//
// What a fetch does (claim rows, start executions, count slots) is the caller's: the loop
// only calls Config.Fetch, which returns how many workflows it claimed and, for a queue whose
// rate limit held it back, when the limit has room again.
package fetcher

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

// Timings and bounds.
const (
	// DefaultMaxBatch caps the workflows one fetch asks for.
	DefaultMaxBatch = 200
	// MinErrorBackoff is how long the loop waits after a fetch failed.
	MinErrorBackoff = 100 * time.Millisecond
	// MaxErrorBackoff caps the wait, which doubles after each failure in a row.
	MaxErrorBackoff = 5 * time.Second
	// WakeDelay is how long after the time given to WakeAt the loop fetches: a few
	// milliseconds, so that the database sees the work as due.
	WakeDelay = 5 * time.Millisecond
)

// Config configures a Fetcher.
type Config struct {
	// Queue names the queue in logs.
	Queue string
	// Fetch claims up to n workflows and starts them. It returns how many it claimed, and,
	// when a rate limit held it back, when the limit has room again (zero otherwise).
	Fetch func(ctx context.Context, n int) (claimed int, roomAt time.Time, err error)
	// Free returns how many more workflows the worker may claim now.
	Free func() int
	// MaxBatch caps the n of one Fetch. Default DefaultMaxBatch.
	MaxBatch int
	// PollInterval is how long the loop sleeps when nothing wakes it. It must be positive.
	PollInterval time.Duration
	// Cooldown is the least time between two fetches, but for those that follow a fetch
	// that got all it asked for. Zero: none.
	Cooldown time.Duration
	// Clock is the time source. Default clock.Real{}.
	Clock clock.Clock
	// Logger receives failed fetches. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) validate() error {
	switch {
	case c.Fetch == nil:
		return errors.New("fetcher: Config.Fetch is not set")
	case c.Free == nil:
		return errors.New("fetcher: Config.Free is not set")
	case c.MaxBatch < 0:
		return errors.New("fetcher: Config.MaxBatch must not be negative")
	case c.PollInterval <= 0:
		return errors.New("fetcher: Config.PollInterval must be positive")
	case c.Cooldown < 0:
		return errors.New("fetcher: Config.Cooldown must not be negative")
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	startstop.Defaults(&c.Clock, &c.Logger)
	return nil
}

// Fetcher runs the fetch loop of one queue from Start until Stop. Kick and WakeAt are safe
// to call at any time, from any goroutine.
type Fetcher struct {
	cfg  Config
	loop startstop.Loop

	kicked chan struct{} // Kick: fetch now
	rearm  chan struct{} // WakeAt moved the wake-up earlier: the sleeping loop recomputes it

	mu       sync.Mutex
	wakeTime time.Time // when to fetch for work known to become due; zero: none
}

// New returns a Fetcher, or the error of the first field of cfg that is wrong. It does not
// fetch until Start.
func New(cfg Config) (*Fetcher, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Fetcher{cfg: cfg, kicked: make(chan struct{}, 1), rearm: make(chan struct{}, 1)}, nil
}

// Start starts the loop, in a goroutine of its own, until Stop or until ctx ends. It returns
// an error when the fetcher has been started before.
func (f *Fetcher) Start(ctx context.Context) error {
	if err := f.loop.Start(ctx, f.run); err != nil {
		return fmt.Errorf("fetcher: %w", err)
	}
	return nil
}

// Stop stops the loop, interrupting a fetch in flight, and returns once the loop has
// returned. It does nothing on a fetcher that was not started, and can be called more than
// once.
func (f *Fetcher) Stop() { f.loop.Stop() }

// Kick makes the loop fetch as soon as it is done with what it does now. Kicks while it is
// busy make one fetch.
func (f *Fetcher) Kick() {
	select {
	case f.kicked <- struct{}{}:
	default:
	}
}

// WakeAt makes the loop fetch at t plus WakeDelay, unless it is to wake sooner already for
// work that becomes due: many delayed enqueues cost one wake-up, not one each.
func (f *Fetcher) WakeAt(t time.Time) {
	if !f.setWakeTime(t) {
		return
	}
	select {
	case f.rearm <- struct{}{}:
	default:
	}
}

// setWakeTime moves the wake-up to t plus WakeDelay if that is sooner, and reports whether it
// did.
func (f *Fetcher) setWakeTime(t time.Time) bool {
	t = t.Add(WakeDelay)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.wakeTime.IsZero() && !f.wakeTime.After(t) {
		return false
	}
	f.wakeTime = t
	return true
}

func (f *Fetcher) run(ctx context.Context) {
	var last time.Time // when the last fetch began
	backlog := false   // the last fetch got all it asked for: more is probably waiting
	errBackoff := MinErrorBackoff
	timer := f.cfg.Clock.NewTimer(f.cfg.PollInterval)
	timer.Stop()
	for {
		if free := f.cfg.Free(); free > 0 {
			if wait := f.cfg.Cooldown - f.cfg.Clock.Now().Sub(last); wait > 0 && !backlog {
				if !sleep(ctx, timer, wait) {
					return
				}
			}
			last = f.cfg.Clock.Now()
			asked := min(free, f.cfg.MaxBatch)
			n, roomAt, err := f.cfg.Fetch(ctx, asked)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				f.cfg.Logger.Warn("wfgen: fetching work failed", "queue", f.cfg.Queue, "retry_in", errBackoff, "error", err)
				if !sleep(ctx, timer, errBackoff) {
					return
				}
				errBackoff = min(2*errBackoff, MaxErrorBackoff)
				continue
			}
			errBackoff = MinErrorBackoff
			backlog = n == asked
			if !roomAt.IsZero() {
				// Rate-limited: look again when the window has room.
				f.setWakeTime(roomAt)
			}
			if backlog {
				continue
			}
		}
		if !f.idle(ctx, timer) {
			return
		}
	}
}

// sleep waits for d on timer. It returns false if ctx ended first.
func sleep(ctx context.Context, timer clock.Timer, d time.Duration) bool {
	timer.Reset(d)
	select {
	case <-ctx.Done():
		timer.Stop()
		return false
	case <-timer.C():
		return true
	}
}

// idle sleeps until the loop is kicked, until the wake time, or for PollInterval, whichever
// comes first. It returns false if ctx ended first.
func (f *Fetcher) idle(ctx context.Context, timer clock.Timer) bool {
	pollAt := f.cfg.Clock.Now().Add(f.cfg.PollInterval)
	for {
		at := pollAt
		f.mu.Lock()
		if !f.wakeTime.IsZero() && f.wakeTime.Before(at) {
			at = f.wakeTime
		}
		f.mu.Unlock()
		timer.Reset(at.Sub(f.cfg.Clock.Now()))
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-f.kicked:
			timer.Stop()
			return true
		case <-f.rearm:
			timer.Stop()
			continue
		case <-timer.C():
		}
		now := f.cfg.Clock.Now()
		f.mu.Lock()
		due := !f.wakeTime.IsZero() && !f.wakeTime.After(now)
		if due {
			f.wakeTime = time.Time{}
		}
		f.mu.Unlock()
		if due || !pollAt.After(now) {
			return true
		}
	}
}

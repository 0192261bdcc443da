package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/wfgen/wfgen/runtime/internal/clock"
	"github.com/wfgen/wfgen/runtime/internal/startstop"
)

// Retry timings.
const (
	// MinRetryBackoff is how long a schedule waits after its first failed enqueue of a tick.
	MinRetryBackoff = 100 * time.Millisecond
	// MaxRetryBackoff caps the wait between two attempts to enqueue a tick: once the
	// database is back, a pending tick is enqueued within about this long.
	MaxRetryBackoff = 5 * time.Second
	// DefaultAttemptTimeout bounds one attempt to enqueue a tick.
	DefaultAttemptTimeout = 10 * time.Second
)

// Schedule is what the scheduler needs to know of one schedule.
type Schedule struct {
	// Name names the schedule in logs: the name of the scheduled workflow.
	Name string
	// Cron is the parsed cron spec. A cron.ConstantDelaySchedule (an "@every" spec) ticks
	// on the multiples of its delay (time.Time.Truncate's), not at its delay after the
	// start, so that every executor computes the same ticks whenever it started.
	Cron cron.Schedule
	// Location is the time zone Cron is read in.
	Location *time.Location
	// Backfill is how far before its start the scheduler fires the ticks it finds there.
	// Zero: none, the first tick fired is the first after the start.
	Backfill time.Duration
	// RetryWindow is how long after a tick the scheduler keeps trying to enqueue it. It
	// must be positive.
	RetryWindow time.Duration
	// TickID returns the ID of a tick's run, which the database lets only one run have.
	TickID func(tick time.Time) string
	// Enqueue enqueues the run of tick under the ID id. Enqueueing an ID that exists
	// already must succeed and do nothing.
	Enqueue func(ctx context.Context, id string, tick time.Time) error
}

// next returns the schedule's first tick after t, or the zero time when there is none.
func (s *Schedule) next(t time.Time) time.Time {
	if every, ok := s.Cron.(cron.ConstantDelaySchedule); ok {
		return t.Truncate(every.Delay).Add(every.Delay)
	}
	return s.Cron.Next(t.In(s.Location))
}

// Config configures a Scheduler.
type Config struct {
	// Schedules are the schedules to fire.
	Schedules []Schedule
	// Clock is the time source. Default clock.Real{}.
	Clock clock.Clock
	// Logger receives retries and given-up ticks. Default slog.Default().
	Logger *slog.Logger
	// AttemptTimeout bounds one attempt to enqueue a tick. Default DefaultAttemptTimeout.
	AttemptTimeout time.Duration
}

func (c *Config) validate() error {
	for i, s := range c.Schedules {
		var missing string
		switch {
		case s.Name == "":
			missing = "Name"
		case s.Cron == nil:
			missing = "Cron"
		case s.Location == nil:
			missing = "Location"
		case s.TickID == nil:
			missing = "TickID"
		case s.Enqueue == nil:
			missing = "Enqueue"
		}
		if missing != "" {
			return fmt.Errorf("scheduler: Config.Schedules[%d] (%q): %s is not set", i, s.Name, missing)
		}
		if s.Backfill < 0 {
			return fmt.Errorf("scheduler: Config.Schedules[%d] (%q): Backfill must not be negative", i, s.Name)
		}
		if s.RetryWindow <= 0 {
			return fmt.Errorf("scheduler: Config.Schedules[%d] (%q): RetryWindow must be positive", i, s.Name)
		}
	}
	if c.AttemptTimeout < 0 {
		return errors.New("scheduler: Config.AttemptTimeout must not be negative")
	}
	if c.AttemptTimeout == 0 {
		c.AttemptTimeout = DefaultAttemptTimeout
	}
	startstop.Defaults(&c.Clock, &c.Logger)
	return nil
}

// Scheduler fires schedules from Start until Stop.
type Scheduler struct {
	cfg  Config
	loop startstop.Loop
}

// New returns a Scheduler of cfg's schedules, or the error of the first field that is
// wrong. The scheduler does not run until Start.
func New(cfg Config) (*Scheduler, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Scheduler{cfg: cfg}, nil
}

// Start starts firing the schedules, in a goroutine of their own, until Stop or until ctx
// ends. It returns an error when the scheduler has been started before.
func (s *Scheduler) Start(ctx context.Context) error {
	if err := s.loop.Start(ctx, s.run); err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	return nil
}

// Stop stops firing, interrupting an enqueue in flight, and returns once the scheduler's
// goroutine has returned. Pending ticks are forgotten. Stop does nothing on a scheduler
// that was not started, and can be called more than once.
func (s *Scheduler) Stop() { s.loop.Stop() }

// pending is the state of one schedule: the ticks from due on (those not after now) are
// the ones still to enqueue, in order.
type pending struct {
	*Schedule
	due      time.Time     // the oldest tick not yet enqueued; zero once the schedule never ticks again
	retryAt  time.Time     // when the failed enqueue of due is tried again; zero when none failed
	backoff  time.Duration // the wait after the next failure
	failures int           // failed attempts to enqueue due
}

func (s *Scheduler) run(ctx context.Context) {
	now := s.cfg.Clock.Now()
	schedules := make([]*pending, len(s.cfg.Schedules))
	for i := range s.cfg.Schedules {
		p := &pending{Schedule: &s.cfg.Schedules[i]}
		// Backfill: the ticks within the window before now were missed while no executor
		// ran (or ran already: their IDs make that harmless).
		p.due = p.next(now.Add(-p.Backfill))
		if p.due.IsZero() {
			s.cfg.Logger.Warn("wfgen: schedule never ticks: its cron spec matches no time in the next five years", "workflow", p.Name)
		}
		schedules[i] = p
	}
	for {
		var wake time.Time
		for _, p := range schedules {
			s.fire(ctx, p)
			if ctx.Err() != nil {
				return
			}
			if at := p.wakeAt(); !at.IsZero() && (wake.IsZero() || at.Before(wake)) {
				wake = at
			}
		}
		var timer <-chan time.Time // nil, never ready, when no schedule ticks again
		if !wake.IsZero() {
			timer = s.cfg.Clock.After(wake.Sub(s.cfg.Clock.Now()))
		}
		select {
		case <-ctx.Done():
			return
		case <-timer:
		}
	}
}

// wakeAt returns when p has something to do: its next tick, or its next retry.
func (p *pending) wakeAt() time.Time {
	if !p.retryAt.IsZero() {
		return p.retryAt
	}
	return p.due
}

// fire enqueues p's due ticks in order, until one fails or none is left. It does nothing
// while p waits to retry a failed tick.
func (s *Scheduler) fire(ctx context.Context, p *pending) {
	for {
		now := s.cfg.Clock.Now()
		if p.due.IsZero() || p.due.After(now) || now.Before(p.retryAt) {
			return
		}
		if now.Sub(p.due) > p.RetryWindow {
			s.giveUp(p, now)
			continue
		}
		id := p.TickID(p.due)
		actx, cancel := context.WithTimeout(ctx, s.cfg.AttemptTimeout)
		err := p.Enqueue(actx, id, p.due)
		cancel()
		if ctx.Err() != nil {
			return // stopping: the error, if any, says so
		}
		if err != nil {
			p.failures++
			p.backoff = min(max(2*p.backoff, MinRetryBackoff), MaxRetryBackoff)
			p.retryAt = s.cfg.Clock.Now().Add(p.backoff)
			s.cfg.Logger.Warn("wfgen: enqueueing a scheduled workflow failed; retrying (ticks due meanwhile wait behind it)",
				"workflow", p.Name, "tick", p.due, "id", id, "attempts", p.failures, "retry_in", p.backoff,
				"retry_until", p.due.Add(p.RetryWindow), "error", err)
			return
		}
		if p.failures > 0 {
			s.cfg.Logger.Info("wfgen: scheduled workflow enqueued after failed attempts", "workflow", p.Name, "tick", p.due, "id", id, "failed_attempts", p.failures)
		}
		p.advance()
	}
}

// giveUp drops p's due ticks that are older than its retry window, with one error log
// naming them.
func (s *Scheduler) giveUp(p *pending, now time.Time) {
	first, last, n := p.due, p.due, 0
	for !p.due.IsZero() && now.Sub(p.due) > p.RetryWindow {
		last = p.due
		n++
		p.advance()
	}
	if n == 1 {
		s.cfg.Logger.Error("wfgen: giving up a scheduled tick that could not be enqueued within its retry window", "workflow", p.Name, "tick", first, "id", p.TickID(first), "retry_window", p.RetryWindow)
		return
	}
	s.cfg.Logger.Error("wfgen: giving up scheduled ticks that could not be enqueued within their retry window", "workflow", p.Name, "ticks", n, "first_tick", first, "first_id", p.TickID(first),
		"last_tick", last, "last_id", p.TickID(last), "retry_window", p.RetryWindow)
}

// advance moves p on to its next tick, with a fresh backoff.
func (p *pending) advance() {
	p.due = p.next(p.due)
	p.retryAt, p.backoff, p.failures = time.Time{}, 0, 0
}

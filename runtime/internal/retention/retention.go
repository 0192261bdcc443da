// Package retention deletes finished workflows once they are older than the retention
// period, with their steps, messages, events and streams.
//
// Every executor runs the service; at each pass one of them does the work (the delete takes
// a transaction-level advisory lock, tried and not waited for) and the others find the lock
// taken and skip the pass. A pass deletes in bounded batches, oldest first, pausing between
// batches and stopping after MaxBatches, so that it never holds many locks or long
// transactions, and skips rows others hold, so that the hot paths never wait for it.
package retention

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/wfgen/wfgen/runtime/internal/clock"
	"github.com/wfgen/wfgen/runtime/internal/startstop"
)

// Defaults.
const (
	// DefaultInterval is the time between two passes.
	DefaultInterval = time.Minute
	// DefaultBatchSize is how many workflows one statement deletes at most.
	DefaultBatchSize = 1000
	// DefaultMaxBatches bounds one pass: what is left waits for the next.
	DefaultMaxBatches = 100
	// DefaultPause is the wait between two batches of a pass.
	DefaultPause = 20 * time.Millisecond
)

// ErrLocked is what Delete returns when another executor is deleting.
var ErrLocked = errors.New("retention: another executor is deleting")

// Config configures a Service.
type Config struct {
	// Delete deletes up to batch workflows that became final before cutoff and returns how
	// many it deleted, or ErrLocked.
	Delete func(ctx context.Context, cutoff time.Time, batch int) (int, error)
	// Retention is how long finished workflows are kept. It must be positive.
	Retention time.Duration
	// Interval is the time between two passes. Default DefaultInterval.
	Interval time.Duration
	// BatchSize, MaxBatches and Pause shape a pass; defaults DefaultBatchSize,
	// DefaultMaxBatches and DefaultPause.
	BatchSize  int
	MaxBatches int
	Pause      time.Duration

	Clock  clock.Clock
	Logger *slog.Logger
}

func (c *Config) validate() error {
	switch {
	case c.Delete == nil:
		return errors.New("retention: Config.Delete is not set")
	case c.Retention <= 0:
		return errors.New("retention: Config.Retention must be positive")
	case c.Interval < 0 || c.BatchSize < 0 || c.MaxBatches < 0 || c.Pause < 0:
		return errors.New("retention: Config.Interval, BatchSize, MaxBatches and Pause must not be negative")
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.MaxBatches == 0 {
		c.MaxBatches = DefaultMaxBatches
	}
	if c.Pause == 0 {
		c.Pause = DefaultPause
	}
	startstop.Defaults(&c.Clock, &c.Logger)
	return nil
}

// Service runs passes every Interval until stopped.
type Service struct {
	cfg  Config
	loop startstop.Loop
}

// New returns a Service, or the error of the first field of cfg that is wrong.
func New(cfg Config) (*Service, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Service{cfg: cfg}, nil
}

// Start starts the passes; the first comes one Interval after the start.
func (s *Service) Start(ctx context.Context) error { return s.loop.Start(ctx, s.run) }

// Stop stops the service, interrupting a pass, and returns once it has.
func (s *Service) Stop() { s.loop.Stop() }

func (s *Service) run(ctx context.Context) {
	t := s.cfg.Clock.NewTimer(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		s.Pass(ctx)
		t.Reset(s.cfg.Interval)
	}
}

// Pass deletes what is due, in batches, and returns how many workflows it deleted.
func (s *Service) Pass(ctx context.Context) int {
	cutoff := s.cfg.Clock.Now().Add(-s.cfg.Retention)
	total := 0
	for batch := 0; batch < s.cfg.MaxBatches; batch++ {
		if batch > 0 {
			select {
			case <-ctx.Done():
				return total
			case <-s.cfg.Clock.After(s.cfg.Pause):
			}
		}
		n, err := s.cfg.Delete(ctx, cutoff, s.cfg.BatchSize)
		switch {
		case errors.Is(err, ErrLocked):
			return total
		case err != nil:
			if ctx.Err() == nil {
				s.cfg.Logger.Warn("wfgen: deleting finished workflows failed; retrying at the next pass", "error", err)
			}
			return total
		}
		total += n
		if n < s.cfg.BatchSize {
			break
		}
	}
	if total > 0 {
		s.cfg.Logger.Debug("wfgen: deleted finished workflows past their retention", "workflows", total, "finished_before", cutoff)
	}
	return total
}

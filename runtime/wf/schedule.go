package wf

import (
	"context"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// Tick is the time a schedule fired for: the scheduled time, not the time the workflow
// happened to start. It is the input of scheduled workflows.
type Tick struct {
	time.Time
}

// cronParser reads standard five-field cron specs ("0 3 1 * *") and descriptors ("@daily",
// "@every 15m"). wfgen validates annotations with the same parser.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseCron parses a cron spec as schedules do: five fields (minute hour day-of-month month
// day-of-week) or a descriptor such as @hourly, @daily or @every 10m.
func ParseCron(spec string) (cron.Schedule, error) {
	return cronParser.Parse(spec)
}

// ScheduleOption configures a schedule (NewSchedule).
type ScheduleOption func(*Schedule)

// ScheduleTimezone sets the IANA time zone the cron spec is read in. Default UTC.
func ScheduleTimezone(name string) ScheduleOption {
	return func(s *Schedule) { s.timezone = name }
}

// ScheduleQueue sets the queue the scheduled workflows are enqueued on. Default: the
// workflow's queue.
func ScheduleQueue(name string) ScheduleOption {
	return func(s *Schedule) { s.queue = name }
}

// ScheduleBackfill makes a schedule fire, when its workers start again after everything was
// down, the ticks it missed within window before now. Default 0: missed ticks are skipped.
func ScheduleBackfill(window time.Duration) ScheduleOption {
	return func(s *Schedule) { s.backfill = window }
}

// Schedule runs a workflow at every tick of a cron spec, exactly once per tick however many
// workers register it: each tick's workflow has the ID "<workflow name>@<tick, RFC 3339 in
// UTC>", and the database lets only one workflow have an ID.
type Schedule struct {
	workflow string
	spec     string
	timezone string
	queue    string
	backfill time.Duration

	cron     cron.Schedule
	location *time.Location
	err      error // reported by Register
	enqueue  enqueueFunc
}

// NewSchedule schedules w on the cron spec. An invalid spec or time zone is reported by
// Register.
func NewSchedule[Out any](w *Workflow[Tick, Out], spec string, opts ...ScheduleOption) *Schedule {
	s := &Schedule{workflow: w.name, spec: spec, timezone: "UTC", queue: w.opts.queue}
	for _, opt := range opts {
		opt(s)
	}
	s.enqueue = func(ctx context.Context, c *Client, tick time.Time, id, queue string) error {
		_, err := w.Enqueue(ctx, c, Tick{tick}, WithID(id), WithQueue(queue))
		return err
	}
	if s.cron, s.err = ParseCron(spec); s.err != nil {
		s.err = fmt.Errorf("wf: schedule of workflow %q: cron spec %q: %w (use five fields, minute hour day-of-month month day-of-week, or a descriptor such as @daily or @every 1h)", w.name, spec, s.err)
		return s
	}
	if s.location, s.err = time.LoadLocation(s.timezone); s.err != nil {
		s.err = fmt.Errorf("wf: schedule of workflow %q: time zone %q: %w (use an IANA name such as UTC or Europe/Paris)", w.name, s.timezone, s.err)
		return s
	}
	if s.backfill < 0 {
		s.err = fmt.Errorf("wf: schedule of workflow %q: ScheduleBackfill must not be negative", w.name)
	}
	return s
}

// Workflow returns the name of the scheduled workflow.
func (s *Schedule) Workflow() string { return s.workflow }

// Spec returns the cron spec.
func (s *Schedule) Spec() string { return s.spec }

// enqueueFunc enqueues a scheduled workflow's run for one tick.
type enqueueFunc func(ctx context.Context, c *Client, tick time.Time, id, queue string) error

func (s *Schedule) register(c *Client) error {
	if s.err != nil {
		return s.err
	}
	if prev, dup := c.schedules[s.workflow]; dup && prev != s {
		return fmt.Errorf("wf: workflow %q has two schedules", s.workflow)
	}
	c.schedules[s.workflow] = s
	return nil
}

// next returns the schedule's first tick after t. @every schedules tick on multiples of
// their interval, so that every replica computes the same ticks.
func (s *Schedule) next(t time.Time) time.Time {
	if every, ok := s.cron.(cron.ConstantDelaySchedule); ok {
		return t.Truncate(every.Delay).Add(every.Delay)
	}
	return s.cron.Next(t.In(s.location))
}

// tickID is the ID of the workflow a tick runs: unique per (workflow, tick).
func (s *Schedule) tickID(tick time.Time) string {
	return s.workflow + "@" + tick.UTC().Format(time.RFC3339)
}

// fire enqueues the run of one tick; a tick that another replica (or an earlier run of
// this one) already enqueued is left alone.
func (s *Schedule) fire(ctx context.Context, c *Client, tick time.Time) {
	if err := s.enqueue(ctx, c, tick, s.tickID(tick), s.queue); err != nil && ctx.Err() == nil {
		c.log.Error("wfgen: enqueueing a scheduled workflow failed", "workflow", s.workflow, "tick", tick, "error", err)
	}
}

// runSchedules fires every schedule's ticks until ctx ends. Every replica runs it; the
// tick IDs make each tick run once.
func (c *Client) runSchedules(ctx context.Context, schedules []*Schedule) {
	now := time.Now()
	next := make([]time.Time, len(schedules))
	for i, s := range schedules {
		// Backfill: the ticks missed within the window (IDs skip those already run).
		if s.backfill > 0 {
			for t := s.next(now.Add(-s.backfill)); !t.After(now); t = s.next(t) {
				s.fire(ctx, c, t)
			}
		}
		next[i] = s.next(now)
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		soonest := 0
		for i := range next {
			if next[i].Before(next[soonest]) {
				soonest = i
			}
		}
		timer.Reset(time.Until(next[soonest]))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := time.Now()
		for i, s := range schedules {
			for !next[i].After(now) {
				s.fire(ctx, c, next[i])
				next[i] = s.next(next[i])
			}
		}
	}
}

package wf

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/wfgen/wfgen/runtime/internal/scheduler"
)

// DefaultTickRetryWindow is how long after a tick a worker keeps retrying to enqueue the
// tick's workflow when that fails (the database is unreachable, say), unless the schedule's
// ScheduleBackfill window is longer. A tick older than its window is dropped with an error
// log: a run for a tick from hours ago is rarely wanted.
const DefaultTickRetryWindow = time.Hour

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

// ScheduleBackfill makes a worker that starts fire the schedule's ticks within window before
// its start: the ticks missed while no worker ran (ticks that did run are not run again).
// Default 0: those ticks are skipped.
//
// The window also bounds the retries of ticks missed while a worker ran but could not reach
// the database: each is retried until it is enqueued, as long as it is no older than window
// or DefaultTickRetryWindow, whichever is larger, and dropped with an error log after that.
func ScheduleBackfill(window time.Duration) ScheduleOption {
	return func(s *Schedule) { s.backfill = window }
}

// Schedule runs a workflow at every tick of a cron spec, exactly once per tick however many
// workers register it: each tick's workflow has the ID "<workflow name>@<tick, RFC 3339 in
// UTC>", and the database lets only one workflow have an ID. A tick whose enqueue fails is
// retried until it succeeds, within a retry window (see ScheduleBackfill).
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

// Trigger enqueues the scheduled workflow's run for the tick at, by hand, as the scheduler
// enqueues a tick: under the tick's ID ("<workflow name>@<tick>") and on the schedule's
// queue. A tick has one run however it comes: triggering a tick that the scheduler fired,
// or that was triggered before, returns the ID of that run and starts no second one, and
// the scheduler firing a tick that was triggered finds its run. It returns the run's ID;
// the workflow's Get gives its handle.
//
// at is truncated to the second, as tick IDs are, and is the run's wf.Tick. A time that is
// not a tick of the cron spec is a run of its own: Trigger(ctx, c, time.Now()) runs the
// workflow now, once per second at most. c need not be started nor have the schedule
// registered: an API server triggers ticks that its workers run.
func (s *Schedule) Trigger(ctx context.Context, c *Client, at time.Time) (string, error) {
	if s.err != nil {
		return "", s.err
	}
	tick := at.Truncate(time.Second).In(s.location)
	id := s.tickID(tick)
	if err := s.enqueue(ctx, c, tick, id, s.queue); err != nil {
		return "", fmt.Errorf("wf: triggering tick %s of workflow %q: %w", tick.Format(time.RFC3339), s.workflow, err)
	}
	return id, nil
}

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

// tickID is the ID of the workflow a tick runs: unique per (workflow, tick).
func (s *Schedule) tickID(tick time.Time) string {
	return s.workflow + "@" + tick.UTC().Format(time.RFC3339)
}

// newScheduler returns the service that fires the client's schedules, in the order of their
// workflows' names.
func (c *Client) newScheduler() (*scheduler.Scheduler, error) {
	names := slices.Sorted(maps.Keys(c.schedules))
	schedules := make([]scheduler.Schedule, len(names))
	for i, name := range names {
		s := c.schedules[name]
		schedules[i] = scheduler.Schedule{
			Name:        s.workflow,
			Cron:        s.cron,
			Location:    s.location,
			Backfill:    s.backfill,
			RetryWindow: max(s.backfill, DefaultTickRetryWindow),
			TickID:      s.tickID,
			Enqueue: func(ctx context.Context, id string, tick time.Time) error {
				return s.enqueue(ctx, c, tick, id, s.queue)
			},
		}
	}
	return scheduler.New(scheduler.Config{Schedules: schedules, Logger: c.log})
}

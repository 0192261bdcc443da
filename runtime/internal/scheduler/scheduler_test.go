package scheduler_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/internal/clock"
	"github.com/wfgen/wfgen/runtime/internal/scheduler"
	"github.com/wfgen/wfgen/runtime/internal/startstop/startstoptest"
	"github.com/wfgen/wfgen/runtime/internal/testlog"
)

// errUnreachable stands for the database being down.
var errUnreachable = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

// start is the fake clock's time when a test starts: half a second past a whole second, so
// that ticks of "@every 1s" fall on whole seconds after it.
var start = time.Date(2025, 1, 1, 0, 0, 0, 500_000_000, time.UTC)

// bundle is what a test needs: a scheduler on a fake clock whose enqueues are recorded and
// can be made to fail, and its logs.
type bundle struct {
	clock     *clock.Fake
	scheduler *scheduler.Scheduler
	logs      *testlog.Recorder

	mu       sync.Mutex
	attempts []string        // the IDs of every enqueue attempt, in order
	enqueued []string        // the IDs of every successful enqueue, in order
	failing  map[string]bool // schedules whose enqueues fail
	hang     bool            // enqueues hang until their context ends
	entered  chan struct{}   // receives when an enqueue starts hanging
}

func setup(t *testing.T, now time.Time, schedules ...scheduler.Schedule) *bundle {
	t.Helper()
	return setupConfig(t, now, scheduler.Config{Schedules: schedules})
}

// setupConfig is setup with a config of the test's: its clock, logger and the enqueues of
// its schedules are the bundle's.
func setupConfig(t *testing.T, now time.Time, cfg scheduler.Config) *bundle {
	t.Helper()
	b := &bundle{clock: clock.NewFake(now), logs: testlog.New(t), failing: map[string]bool{}, entered: make(chan struct{}, 1)}
	schedules := cfg.Schedules
	for i := range schedules {
		name := schedules[i].Name
		schedules[i].TickID = func(tick time.Time) string { return name + "@" + tick.UTC().Format(time.RFC3339) }
		schedules[i].Enqueue = func(ctx context.Context, id string, _ time.Time) error { return b.enqueue(ctx, name, id) }
	}
	cfg.Clock, cfg.Logger = b.clock, b.logs.Logger()
	s, err := scheduler.New(cfg)
	require.NoError(t, err)
	require.NoError(t, s.Start(t.Context()))
	t.Cleanup(s.Stop)
	b.scheduler = s
	return b
}

// every returns a schedule named name on spec, retrying ticks for an hour.
func every(t *testing.T, name, spec string) scheduler.Schedule {
	t.Helper()
	c, err := cron.ParseStandard(spec)
	require.NoError(t, err)
	return scheduler.Schedule{Name: name, Cron: c, Location: time.UTC, RetryWindow: time.Hour}
}

func (b *bundle) enqueue(ctx context.Context, schedule, id string) error {
	b.mu.Lock()
	b.attempts = append(b.attempts, id)
	failing, hang := b.failing[schedule], b.hang
	b.mu.Unlock()
	if hang {
		select {
		case b.entered <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return ctx.Err()
	}
	if failing {
		return errUnreachable
	}
	b.mu.Lock()
	b.enqueued = append(b.enqueued, id)
	b.mu.Unlock()
	return nil
}

func (b *bundle) setFailing(schedule string, failing bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failing[schedule] = failing
}

func (b *bundle) setHanging(hang bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hang = hang
}

// Attempts and Enqueued return copies of what the scheduler did so far.
func (b *bundle) Attempts() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.attempts...)
}

func (b *bundle) Enqueued() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.enqueued...)
}

// wake returns when the scheduler will next wake up, once it waits.
func (b *bundle) wake(t *testing.T) time.Time {
	t.Helper()
	deadlines, err := b.clock.WaitForTimers(t.Context(), 1)
	require.NoError(t, err)
	require.Len(t, deadlines, 1, "the scheduler waits for one thing at a time")
	return deadlines[0]
}

// advance moves the clock by d and returns when the scheduler, done with what came due,
// will next wake up.
func (b *bundle) advance(t *testing.T, d time.Duration) time.Time {
	t.Helper()
	b.clock.Advance(d)
	return b.wake(t)
}

// advanceTo moves the clock to the scheduler's next wake-up and returns the one after.
func (b *bundle) advanceTo(t *testing.T, wake time.Time) time.Time {
	t.Helper()
	return b.advance(t, wake.Sub(b.clock.Now()))
}

// runUntil lets the scheduler work until the clock reads until.
func (b *bundle) runUntil(t *testing.T, until time.Time) {
	t.Helper()
	for wake := b.wake(t); !wake.After(until); {
		wake = b.advanceTo(t, wake)
	}
	b.advance(t, until.Sub(b.clock.Now()))
}

// ids returns the IDs of the ticks of workflow w at the given seconds after midnight, 1 January 2025.
func ids(w string, seconds ...int) []string {
	var out []string
	for _, s := range seconds {
		out = append(out, w+"@"+time.Date(2025, 1, 1, 0, 0, s, 0, time.UTC).Format(time.RFC3339))
	}
	return out
}

func seconds(from, to int) []int {
	var out []int
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func TestTicksAreEnqueuedInOrder(t *testing.T) {
	t.Parallel()
	b := setup(t, start, every(t, "w", "@every 1s"))
	require.Equal(t, start.Add(500*time.Millisecond), b.wake(t), "the first tick is the first whole second after the start")
	require.Empty(t, b.Attempts())

	// The clock jumps over three ticks at once: all three are enqueued, in order.
	wake := b.advance(t, 3*time.Second)
	require.Equal(t, ids("w", 1, 2, 3), b.Enqueued())
	require.Equal(t, start.Add(3500*time.Millisecond), wake)
	b.advanceTo(t, wake)
	require.Equal(t, ids("w", 1, 2, 3, 4), b.Enqueued())
	require.Equal(t, b.Enqueued(), b.Attempts(), "an enqueue that succeeded is not repeated")
}

func TestTicksFollowTheCronSpec(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	now := time.Date(2025, 1, 1, 10, 7, 0, 0, time.UTC)
	for _, tc := range []struct {
		spec     string
		location *time.Location
		want     time.Time
	}{
		// @every ticks on multiples of its delay, whenever the executor started.
		{"@every 15m", time.UTC, time.Date(2025, 1, 1, 10, 15, 0, 0, time.UTC)},
		{"@every 1h", paris, time.Date(2025, 1, 1, 11, 0, 0, 0, time.UTC)},
		{"0 3 * * *", time.UTC, time.Date(2025, 1, 2, 3, 0, 0, 0, time.UTC)},
		{"0 3 * * *", paris, time.Date(2025, 1, 2, 2, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.spec+" "+tc.location.String(), func(t *testing.T) {
			t.Parallel()
			s := every(t, "w", tc.spec)
			s.Location = tc.location
			b := setup(t, now, s)
			require.True(t, tc.want.Equal(b.wake(t)), "first tick: want %s, got %s", tc.want, b.wake(t))
		})
	}
}

func TestBackfillEnqueuesTheTicksOfItsWindowAtStart(t *testing.T) {
	t.Parallel()
	s := every(t, "w", "@every 1s")
	s.Backfill = 3 * time.Second
	b := setup(t, start, s)
	require.Equal(t, start.Add(500*time.Millisecond), b.wake(t))
	// The ticks within 3s before 00:00:00.5: 23:59:58, 23:59:59 and 00:00:00.
	require.Equal(t, []string{"w@2024-12-31T23:59:58Z", "w@2024-12-31T23:59:59Z", "w@2025-01-01T00:00:00Z"}, b.Enqueued())
}

func TestFailedEnqueueIsRetriedUntilItSucceeds(t *testing.T) {
	t.Parallel()
	b := setup(t, start, every(t, "w", "@every 1s"))
	b.setFailing("w", true)
	wake := b.advanceTo(t, b.wake(t)) // tick 00:00:01 comes due; its enqueue fails
	require.Equal(t, ids("w", 1), b.Attempts())

	// Retries back off, doubling from 100ms up to 5s; the ticks that come due meanwhile
	// wait behind the failed one.
	var waits []time.Duration
	for range 8 {
		waits = append(waits, wake.Sub(b.clock.Now()))
		wake = b.advanceTo(t, wake)
	}
	require.Equal(t, []time.Duration{
		100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second, 5 * time.Second,
	}, waits)
	require.Equal(t, ids("w", 1, 1, 1, 1, 1, 1, 1, 1, 1), b.Attempts(), "only the oldest pending tick is tried")
	require.Empty(t, b.Enqueued())
	require.Len(t, b.logs.Find(slog.LevelWarn, "enqueueing a scheduled workflow failed"), 9)
	now := b.clock.Now()
	require.Equal(t, time.Date(2025, 1, 1, 0, 0, 17, 300_000_000, time.UTC), now)

	// The database is back: at the next retry the failed tick, then every tick that came
	// due meanwhile, is enqueued once, in order.
	b.setFailing("w", false)
	b.advanceTo(t, wake)
	require.Equal(t, ids("w", seconds(1, 22)...), b.Enqueued())
	require.Len(t, b.logs.Find(slog.LevelInfo, "enqueued after failed attempts"), 1)
	require.Empty(t, b.logs.Find(slog.LevelError, ""))
}

func TestHangingEnqueueCountsAsAFailedAttempt(t *testing.T) {
	t.Parallel()
	// A database that hangs: each attempt ends after AttemptTimeout (real time, which is
	// what the context of a query runs on) and is retried like any failure.
	b := setupConfig(t, start, scheduler.Config{Schedules: []scheduler.Schedule{every(t, "w", "@every 1s")}, AttemptTimeout: time.Millisecond})
	b.setHanging(true)
	wake := b.advanceTo(t, b.wake(t))
	require.Equal(t, start.Add(600*time.Millisecond), wake, "retried after 100ms")
	failed := b.logs.Find(slog.LevelWarn, "enqueueing a scheduled workflow failed")
	require.Len(t, failed, 1)
	require.ErrorIs(t, failed[0]["error"].(error), context.DeadlineExceeded)

	b.setHanging(false)
	b.advanceTo(t, wake)
	require.Equal(t, ids("w", 1), b.Enqueued())
}

func TestTickOlderThanItsRetryWindowIsGivenUp(t *testing.T) {
	t.Parallel()
	s := every(t, "w", "@every 1s")
	s.RetryWindow = 10500 * time.Millisecond
	b := setup(t, start, s)
	b.setFailing("w", true)
	// Attempts at 00:00:01, then 100ms, 300ms, 700ms, 1.5s, 3.1s, 6.3s and 11.3s later: the
	// last finds tick 00:00:01 older than its window, gives it up and tries 00:00:02.
	wake := b.wake(t)
	for len(b.logs.Find(slog.LevelError, "")) == 0 {
		wake = b.advanceTo(t, wake)
	}
	require.Equal(t, time.Date(2025, 1, 1, 0, 0, 12, 300_000_000, time.UTC), b.clock.Now())
	gaveUp := b.logs.Find(slog.LevelError, "giving up a scheduled tick")
	require.Len(t, gaveUp, 1)
	require.Equal(t, ids("w", 1)[0], gaveUp[0]["id"], "the log names the tick")
	require.Equal(t, ids("w", 2)[0], b.Attempts()[len(b.Attempts())-1])

	b.setFailing("w", false)
	b.advanceTo(t, wake)
	require.Equal(t, ids("w", seconds(2, 12)...), b.Enqueued(), "the given-up tick is never enqueued; the others are")
}

func TestTicksOlderThanTheWindowAreGivenUpWithOneLog(t *testing.T) {
	t.Parallel()
	s := every(t, "w", "@every 1s")
	s.RetryWindow = 5 * time.Second
	b := setup(t, start, s)
	b.setFailing("w", true)
	b.advanceTo(t, b.wake(t))
	// The next retry comes long after (a process suspended for a minute, say): at 00:01:01
	// every tick older than 5s is dropped, and one log names the first and the last.
	b.setFailing("w", false)
	b.advance(t, time.Minute)
	gaveUp := b.logs.Find(slog.LevelError, "giving up scheduled ticks")
	require.Len(t, gaveUp, 1)
	require.Equal(t, int64(55), gaveUp[0]["ticks"])
	require.Equal(t, ids("w", 1)[0], gaveUp[0]["first_id"])
	require.Equal(t, ids("w", 55)[0], gaveUp[0]["last_id"])
	require.Equal(t, ids("w", seconds(56, 61)...), b.Enqueued(), "a tick exactly as old as the window is still enqueued")
}

func TestFailingScheduleDoesNotHoldUpAnother(t *testing.T) {
	t.Parallel()
	b := setup(t, start, every(t, "a", "@every 1s"), every(t, "b", "@every 1s"))
	b.setFailing("a", true)
	b.runUntil(t, start.Add(3*time.Second))
	require.Equal(t, ids("b", 1, 2, 3), b.Enqueued())
	b.setFailing("a", false)
	b.runUntil(t, start.Add(6*time.Second))
	enqueued := b.Enqueued()
	require.Subset(t, enqueued, ids("a", seconds(1, 6)...))
	require.Subset(t, enqueued, ids("b", seconds(1, 6)...))
	require.Len(t, enqueued, 12)
}

func TestStopEndsTheLoopPromptly(t *testing.T) {
	t.Parallel()
	// The fake clock does not move after the setup: a scheduler that stops does so without
	// waiting for any timer.
	t.Run("waiting for a tick", func(t *testing.T) {
		t.Parallel()
		b := setup(t, start, every(t, "w", "@daily"))
		b.wake(t)
		startstoptest.StopWithin(t, b.scheduler)
	})
	t.Run("backing off", func(t *testing.T) {
		t.Parallel()
		b := setup(t, start, every(t, "w", "@every 1s"))
		b.setFailing("w", true)
		b.advanceTo(t, b.wake(t))
		startstoptest.StopWithin(t, b.scheduler)
		require.Len(t, b.Attempts(), 1)
	})
	t.Run("enqueueing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, start, every(t, "w", "@every 1s"))
		b.wake(t)
		b.setHanging(true)
		b.clock.Advance(time.Second)
		<-b.entered
		startstoptest.StopWithin(t, b.scheduler)
		require.Empty(t, b.logs.Find(slog.LevelWarn, ""), "an enqueue interrupted by Stop is no failure")
	})
	t.Run("never ticking", func(t *testing.T) {
		t.Parallel()
		b := setup(t, start, every(t, "w", "0 0 30 2 *"))
		startstoptest.StopWithin(t, b.scheduler)
		require.Empty(t, b.Attempts())
		require.Len(t, b.logs.Find(slog.LevelWarn, "schedule never ticks"), 1)
	})
}

func TestNewSaysWhichFieldIsWrong(t *testing.T) {
	t.Parallel()
	s := every(t, "w", "@every 1s")
	s.TickID = func(time.Time) string { return "" }
	s.Enqueue = func(context.Context, string, time.Time) error { return nil }
	s.RetryWindow = 0
	_, err := scheduler.New(scheduler.Config{Schedules: []scheduler.Schedule{s}})
	require.EqualError(t, err, `scheduler: Config.Schedules[0] ("w"): RetryWindow must be positive`)
	s.RetryWindow, s.Enqueue = time.Hour, nil
	_, err = scheduler.New(scheduler.Config{Schedules: []scheduler.Schedule{s}})
	require.EqualError(t, err, `scheduler: Config.Schedules[0] ("w"): Enqueue is not set`)
}

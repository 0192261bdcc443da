package fetcher_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/internal/clock"
	"github.com/wfgen/wfgen/runtime/internal/fetcher"
	"github.com/wfgen/wfgen/runtime/internal/startstop/startstoptest"
	"github.com/wfgen/wfgen/runtime/internal/testlog"
)

// errUnreachable stands for the database being down.
var errUnreachable = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

var start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

const poll = time.Second

// bundle is a fetch loop on a fake clock whose fetches the test answers one by one.
type bundle struct {
	clock   *clock.Fake
	fetcher *fetcher.Fetcher
	logs    *testlog.Recorder
	free    atomic.Int32
	fetches chan fetch
}

// fetch is a call of Config.Fetch, waiting for the test's answer.
type fetch struct {
	n     int
	reply chan result
}

type result struct {
	claimed int
	roomAt  time.Time
	err     error
}

// setup starts a loop with 500 free slots, polling every second, without cooldown unless
// cfg has one.
func setup(t *testing.T, cfg fetcher.Config) *bundle {
	t.Helper()
	b := &bundle{clock: clock.NewFake(start), logs: testlog.New(t), fetches: make(chan fetch)}
	b.free.Store(500)
	cfg.Queue = "mail"
	cfg.Fetch = func(ctx context.Context, n int) (int, time.Time, error) {
		f := fetch{n: n, reply: make(chan result)}
		select {
		case b.fetches <- f:
		case <-ctx.Done():
			return 0, time.Time{}, ctx.Err()
		}
		select {
		case r := <-f.reply:
			return r.claimed, r.roomAt, r.err
		case <-ctx.Done():
			return 0, time.Time{}, ctx.Err()
		}
	}
	cfg.Free = func() int { return int(b.free.Load()) }
	cfg.PollInterval = poll
	cfg.Clock, cfg.Logger = b.clock, b.logs.Logger()
	f, err := fetcher.New(cfg)
	require.NoError(t, err)
	require.NoError(t, f.Start(t.Context()))
	t.Cleanup(f.Stop)
	b.fetcher = f
	return b
}

// next returns the size of the next fetch and answers it.
func (b *bundle) next(t *testing.T, r result) int {
	t.Helper()
	f := <-b.fetches
	f.reply <- r
	return f.n
}

// wake returns when the loop will fetch next, once it sleeps.
func (b *bundle) wake(t *testing.T) time.Time {
	t.Helper()
	deadlines, err := b.clock.WaitForTimers(t.Context(), 1)
	require.NoError(t, err)
	require.Len(t, deadlines, 1, "the loop sleeps on one timer")
	return deadlines[0]
}

// sleeps returns how long the loop sleeps for, once it sleeps.
func (b *bundle) sleeps(t *testing.T) time.Duration {
	t.Helper()
	return b.wake(t).Sub(b.clock.Now())
}

// advanceTo moves the clock to the loop's next wake-up.
func (b *bundle) advanceTo(t *testing.T) {
	t.Helper()
	b.clock.Advance(b.sleeps(t))
}

func TestFetchesWhileThereIsABacklog(t *testing.T) {
	t.Parallel()
	b := setup(t, fetcher.Config{Cooldown: 2 * time.Millisecond})
	// A fetch that gets all it asked for is followed by another at once, cooldown or not.
	f := <-b.fetches
	require.Equal(t, fetcher.DefaultMaxBatch, f.n)
	// Fewer free slots before the answer: the loop fetches again as soon as it has it.
	b.free.Store(120)
	f.reply <- result{claimed: fetcher.DefaultMaxBatch}
	require.Equal(t, 120, b.next(t, result{claimed: 120}), "as many as there are free slots")
	require.Equal(t, 120, b.next(t, result{claimed: 7}))
	require.Equal(t, poll, b.sleeps(t), "a fetch that got less than it asked for: the queue is drained")
}

func TestCooldownSpacesOutFetchesOfAnIdleQueue(t *testing.T) {
	t.Parallel()
	b := setup(t, fetcher.Config{Cooldown: 2 * time.Millisecond})
	f := <-b.fetches
	b.clock.Advance(time.Millisecond)
	b.fetcher.Kick()
	f.reply <- result{}
	require.Equal(t, time.Millisecond, b.sleeps(t), "kicked 1ms after the last fetch began: waits the rest of the cooldown")
	b.advanceTo(t)
	f = <-b.fetches
	b.clock.Advance(5 * time.Millisecond)
	b.fetcher.Kick()
	f.reply <- result{}
	b.next(t, result{}) // the cooldown has passed: at once
	require.Equal(t, poll, b.sleeps(t))
}

func TestSleepsUntilKickedOrPolled(t *testing.T) {
	t.Parallel()
	b := setup(t, fetcher.Config{})
	b.next(t, result{})
	require.Equal(t, poll, b.sleeps(t))

	b.fetcher.Kick()
	b.next(t, result{})
	require.Equal(t, poll, b.sleeps(t), "the poll interval counts from the last sleep")

	b.advanceTo(t)
	b.next(t, result{})

	// No free slot: the loop does not fetch, however often it is kicked, until a slot is
	// free.
	b.free.Store(0)
	b.advanceTo(t)
	b.fetcher.Kick()
	require.Equal(t, poll, b.sleeps(t))
	b.free.Store(3)
	b.fetcher.Kick()
	require.Equal(t, 3, b.next(t, result{}))

	// Kicks while a fetch is in flight make one more fetch after it.
	b.fetcher.Kick()
	f := <-b.fetches
	b.fetcher.Kick()
	b.fetcher.Kick()
	f.reply <- result{}
	b.next(t, result{})
	require.Equal(t, poll, b.sleeps(t))
}

func TestBacksOffOnErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, fetcher.Config{})
	var waits []time.Duration
	for range 8 {
		b.next(t, result{err: errUnreachable})
		waits = append(waits, b.sleeps(t))
		b.advanceTo(t)
	}
	require.Equal(t, []time.Duration{
		100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second, 5 * time.Second,
	}, waits)
	failed := b.logs.Find(slog.LevelWarn, "fetching work failed")
	require.Len(t, failed, 8)
	require.Equal(t, "mail", failed[0]["queue"])

	b.next(t, result{}) // after the last backoff
	require.Equal(t, poll, b.sleeps(t))
	b.fetcher.Kick()
	b.next(t, result{err: errUnreachable})
	require.Equal(t, fetcher.MinErrorBackoff, b.sleeps(t), "a success resets the backoff")
}

func TestWakesAtAScheduledTime(t *testing.T) {
	t.Parallel()
	b := setup(t, fetcher.Config{})
	// A rate limit holds the fetch back until 300ms from now.
	b.next(t, result{claimed: 2, roomAt: start.Add(300 * time.Millisecond)})
	require.Equal(t, 300*time.Millisecond+fetcher.WakeDelay, b.sleeps(t))
	b.advanceTo(t)
	b.next(t, result{})
	require.Equal(t, poll, b.sleeps(t), "the wake-up is used up")

	// Wake-ups announced while a fetch is in flight: the soonest counts, and polling
	// bounds it.
	b.fetcher.Kick()
	f := <-b.fetches
	now := b.clock.Now()
	b.fetcher.WakeAt(now.Add(500 * time.Millisecond))
	b.fetcher.WakeAt(now.Add(200 * time.Millisecond))
	b.fetcher.WakeAt(now.Add(400 * time.Millisecond))
	f.reply <- result{}
	require.Equal(t, 200*time.Millisecond+fetcher.WakeDelay, b.sleeps(t))
	b.advanceTo(t)
	b.next(t, result{})

	b.fetcher.Kick()
	f = <-b.fetches
	b.fetcher.WakeAt(b.clock.Now().Add(time.Hour))
	f.reply <- result{}
	require.Equal(t, poll, b.sleeps(t))

	// A wake-up announced while the loop sleeps moves its wake-up earlier.
	b.fetcher.WakeAt(b.clock.Now().Add(100 * time.Millisecond))
	b.clock.Advance(100*time.Millisecond + fetcher.WakeDelay)
	b.next(t, result{})
}

func TestStopEndsTheLoopPromptly(t *testing.T) {
	t.Parallel()
	// The fake clock does not move: a loop that stops does so without waiting for a timer.
	t.Run("sleeping", func(t *testing.T) {
		t.Parallel()
		b := setup(t, fetcher.Config{})
		b.next(t, result{})
		b.wake(t)
		startstoptest.StopWithin(t, b.fetcher)
	})
	t.Run("fetching", func(t *testing.T) {
		t.Parallel()
		b := setup(t, fetcher.Config{})
		<-b.fetches // and never answered
		startstoptest.StopWithin(t, b.fetcher)
		require.Empty(t, b.logs.Find(slog.LevelWarn, ""), "a fetch interrupted by Stop is no failure")
	})
	t.Run("backing off", func(t *testing.T) {
		t.Parallel()
		b := setup(t, fetcher.Config{})
		b.next(t, result{err: errUnreachable})
		b.wake(t)
		startstoptest.StopWithin(t, b.fetcher)
	})
	t.Run("cooling down", func(t *testing.T) {
		t.Parallel()
		b := setup(t, fetcher.Config{Cooldown: time.Second})
		b.next(t, result{})
		b.wake(t)
		b.fetcher.Kick()
		require.Equal(t, time.Second, b.sleeps(t))
		startstoptest.StopWithin(t, b.fetcher)
	})
}

func TestNewSaysWhichFieldIsWrong(t *testing.T) {
	t.Parallel()
	cfg := fetcher.Config{
		Fetch: func(context.Context, int) (int, time.Time, error) { return 0, time.Time{}, nil },
		Free:  func() int { return 0 },
	}
	_, err := fetcher.New(cfg)
	require.EqualError(t, err, "fetcher: Config.PollInterval must be positive")
	cfg.PollInterval, cfg.Free = time.Second, nil
	_, err = fetcher.New(cfg)
	require.EqualError(t, err, "fetcher: Config.Free is not set")
}

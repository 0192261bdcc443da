package retention_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/internal/clock"
	"github.com/wfgen/wfgen/runtime/internal/retention"
	"github.com/wfgen/wfgen/runtime/internal/testlog"
)

var start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// table is a fake of the delete statement: finished workflows left, and the calls made.
type table struct {
	mu      sync.Mutex
	left    int
	locked  bool
	fail    error
	cutoffs []time.Time
}

func (tb *table) delete(_ context.Context, cutoff time.Time, batch int) (int, error) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.cutoffs = append(tb.cutoffs, cutoff)
	switch {
	case tb.locked:
		return 0, retention.ErrLocked
	case tb.fail != nil:
		return 0, tb.fail
	}
	n := min(batch, tb.left)
	tb.left -= n
	return n, nil
}

func (tb *table) calls() int {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return len(tb.cutoffs)
}

func newService(t *testing.T, tb *table, clk *clock.Fake) *retention.Service {
	t.Helper()
	s, err := retention.New(retention.Config{
		Delete: tb.delete, Retention: 24 * time.Hour, Interval: time.Minute, BatchSize: 10, MaxBatches: 3,
		Pause: time.Millisecond, Clock: clk, Logger: testlog.New(t).Logger(),
	})
	require.NoError(t, err)
	return s
}

func TestAPassDeletesInBoundedBatchesWhatIsPastTheRetention(t *testing.T) {
	t.Parallel()
	tb := &table{left: 25}
	clk := clock.NewFake(start)
	s := newService(t, tb, clk)
	done := make(chan int)
	go func() { done <- s.Pass(context.Background()) }()
	for range 2 { // the pauses between batches
		_, err := clk.WaitForTimers(t.Context(), 1)
		require.NoError(t, err)
		clk.Advance(time.Millisecond)
	}
	require.Equal(t, 25, <-done)
	require.Equal(t, 3, tb.calls(), "10, 10, then 5: fewer than a batch, nothing is left")
	require.Equal(t, start.Add(-24*time.Hour), tb.cutoffs[0])

	// A pass stops after MaxBatches; the next pass deletes the rest.
	tb.left = 100
	go func() { done <- s.Pass(context.Background()) }()
	for range 2 {
		_, err := clk.WaitForTimers(t.Context(), 1)
		require.NoError(t, err)
		clk.Advance(time.Millisecond)
	}
	require.Equal(t, 30, <-done)
	require.Equal(t, 70, tb.left)
}

func TestAPassEndsWhenAnotherExecutorDeletesOrTheDatabaseFails(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(start)
	locked := &table{left: 100, locked: true}
	require.Zero(t, newService(t, locked, clk).Pass(context.Background()))
	require.Equal(t, 1, locked.calls())

	failing := &table{left: 100, fail: errors.New("connection refused")}
	require.Zero(t, newService(t, failing, clk).Pass(context.Background()))
	require.Equal(t, 1, failing.calls())
}

func TestPassesRunEveryInterval(t *testing.T) {
	t.Parallel()
	tb := &table{}
	clk := clock.NewFake(start)
	s := newService(t, tb, clk)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(s.Stop)
	for i := 1; i <= 3; i++ {
		_, err := clk.WaitForTimers(t.Context(), 1)
		require.NoError(t, err)
		clk.Advance(time.Minute)
		require.Eventually(t, func() bool { return tb.calls() == i }, 10*time.Second, time.Millisecond)
	}
	require.Equal(t, start.Add(3*time.Minute-24*time.Hour), tb.cutoffs[2], "each pass counts from its own time")
}

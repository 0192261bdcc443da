package clock_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/internal/clock"
)

var start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func fired(c <-chan time.Time) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestFakeTimersFireWhenAdvanceReachesTheirDeadline(t *testing.T) {
	t.Parallel()
	f := clock.NewFake(start)
	soon, later := f.After(time.Second), f.After(3*time.Second)
	require.True(t, fired(f.After(0)), "a timer of zero has passed already")

	f.Advance(999 * time.Millisecond)
	require.False(t, fired(soon))
	f.Advance(time.Millisecond)
	require.Equal(t, start.Add(time.Second), f.Now())
	require.True(t, fired(soon))
	require.False(t, fired(later))
	f.Advance(5 * time.Second)
	require.True(t, fired(later))
}

func TestFakeWaitForTimersReturnsOnceTheCodeUnderTestWaits(t *testing.T) {
	t.Parallel()
	f := clock.NewFake(start)
	go func() {
		<-f.After(2 * time.Second)
		f.After(time.Second) // the next wait starts from the new time
	}()
	deadlines, err := f.WaitForTimers(t.Context(), 1)
	require.NoError(t, err)
	require.Equal(t, []time.Time{start.Add(2 * time.Second)}, deadlines)
	f.Advance(2 * time.Second)
	deadlines, err = f.WaitForTimers(t.Context(), 1)
	require.NoError(t, err)
	require.Equal(t, []time.Time{start.Add(3 * time.Second)}, deadlines)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = f.WaitForTimers(ctx, 2)
	require.ErrorIs(t, err, context.Canceled)
}

func TestFakeTimerFiresOnceAfterEachReset(t *testing.T) {
	t.Parallel()
	f := clock.NewFake(start)
	timer := f.NewTimer(time.Second)
	f.Advance(time.Second)
	require.True(t, fired(timer.C()))
	require.False(t, fired(timer.C()), "a timer fires once")

	timer.Reset(2 * time.Second)
	f.Advance(time.Second)
	require.False(t, fired(timer.C()))
	timer.Reset(2 * time.Second) // from now: the deadline moves
	f.Advance(time.Second)
	require.False(t, fired(timer.C()))
	f.Advance(time.Second)
	require.True(t, fired(timer.C()))

	timer.Reset(0)
	require.True(t, fired(timer.C()), "a reset of zero fires at once")
}

func TestFakeTimerDeliversNothingStaleAfterStopOrReset(t *testing.T) {
	t.Parallel()
	f := clock.NewFake(start)
	timer := f.NewTimer(time.Second)
	f.Advance(time.Second) // fired, not received
	timer.Reset(time.Second)
	require.False(t, fired(timer.C()), "Reset drops the time of a firing nobody received")

	timer.Stop()
	f.Advance(time.Hour)
	require.False(t, fired(timer.C()), "a stopped timer does not fire")
	deadlines, err := f.WaitForTimers(t.Context(), 0)
	require.NoError(t, err)
	require.Empty(t, deadlines, "a stopped timer is not pending")

	timer.Reset(time.Second)
	deadlines, err = f.WaitForTimers(t.Context(), 1)
	require.NoError(t, err)
	require.Equal(t, []time.Time{f.Now().Add(time.Second)}, deadlines)
}

package startstop_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/internal/startstop"
)

func TestStopCancelsTheLoopAndWaitsForIt(t *testing.T) {
	t.Parallel()
	var l startstop.Loop
	returned := false
	require.NoError(t, l.Start(t.Context(), func(ctx context.Context) {
		<-ctx.Done()
		time.Sleep(10 * time.Millisecond) // unwinding takes a while: Stop waits
		returned = true
	}))
	var wg sync.WaitGroup
	for range 3 { // concurrent Stops all wait
		wg.Go(func() {
			l.Stop()
			require.True(t, returned)
		})
	}
	wg.Wait()
	l.Stop() // again: does nothing
}

func TestLoopRunsOnce(t *testing.T) {
	t.Parallel()
	var l startstop.Loop
	l.Stop() // not started: does nothing
	require.NoError(t, l.Start(t.Context(), func(ctx context.Context) { <-ctx.Done() }))
	require.ErrorIs(t, l.Start(t.Context(), func(context.Context) {}), startstop.ErrStartedTwice)
	l.Stop()
	require.ErrorIs(t, l.Start(t.Context(), func(context.Context) {}), startstop.ErrStartedTwice)
}

func TestLoopEndsWithItsContext(t *testing.T) {
	t.Parallel()
	var l startstop.Loop
	ctx, cancel := context.WithCancel(t.Context())
	ended := make(chan struct{})
	require.NoError(t, l.Start(ctx, func(ctx context.Context) {
		<-ctx.Done()
		close(ended)
	}))
	cancel()
	<-ended
	l.Stop()
}

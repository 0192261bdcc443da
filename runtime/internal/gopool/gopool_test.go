package gopool

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/internal/clock"
)

func TestAFinishedFunctionsGoroutineRunsTheNext(t *testing.T) {
	p := New(clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))) // never advanced: nobody idles out
	defer p.Close()
	for i := range 100 {
		done := make(chan struct{})
		p.Go(func() { close(done) })
		<-done
		// Every goroutine is back to waiting for work (or about to block on it: a call in
		// that instant starts another goroutine, which is rare and harmless).
		require.Eventually(t, func() bool { return p.waiting.Load() == p.started.Load() }, 5*time.Second, time.Millisecond, "call %d", i)
	}
	require.LessOrEqual(t, p.started.Load(), int64(10), "100 calls one after another reuse their goroutines")
}

func TestBusyGoroutinesAreNotWaitedFor(t *testing.T) {
	p := New(clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))) // never advanced: nobody idles out
	defer p.Close()
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(10)
	for range 10 {
		p.Go(func() { wg.Done(); <-release })
	}
	wg.Wait() // all ten run at once: Go never waits for a busy goroutine
	require.EqualValues(t, 10, p.started.Load())
	close(release)
}

func TestIdleGoroutinesExitAfterTheIdleTimeoutAndAtClose(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p := New(clk)
	done := make(chan struct{})
	p.Go(func() { close(done) })
	<-done
	_, err := clk.WaitForTimers(t.Context(), 1)
	require.NoError(t, err)
	clk.Advance(IdleTimeout - time.Millisecond)
	require.EqualValues(t, 1, p.live.Load(), "idle for less than IdleTimeout: it stays")
	clk.Advance(time.Millisecond)
	require.Eventually(t, func() bool { return p.live.Load() == 0 }, 5*time.Second, time.Millisecond)

	q := New(clk)
	ran := make(chan struct{})
	q.Go(func() { close(ran) })
	<-ran
	q.Close()
	require.Eventually(t, func() bool { return q.live.Load() == 0 }, 5*time.Second, time.Millisecond)

	after := make(chan struct{})
	q.Go(func() { close(after) }) // still runs after Close
	<-after
	require.Eventually(t, func() bool { return q.live.Load() == 0 }, 5*time.Second, time.Millisecond)
}

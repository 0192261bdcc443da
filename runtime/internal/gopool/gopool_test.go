package gopool

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAFinishedFunctionsGoroutineRunsTheNext(t *testing.T) {
	p := newPool(time.Minute)
	defer p.Close()
	for i := range 100 {
		done := make(chan struct{})
		p.Go(func() { close(done) })
		<-done
		require.Eventually(t, func() bool { return p.waiting.Load() == 1 }, 5*time.Second, time.Millisecond, "call %d", i)
	}
	require.EqualValues(t, 1, p.started.Load(), "one goroutine ran them all")
}

func TestBusyGoroutinesAreNotWaitedFor(t *testing.T) {
	p := newPool(time.Minute)
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
	p := newPool(20 * time.Millisecond)
	done := make(chan struct{})
	p.Go(func() { close(done) })
	<-done
	require.Eventually(t, func() bool { return p.live.Load() == 0 }, 5*time.Second, time.Millisecond)

	q := newPool(time.Hour)
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

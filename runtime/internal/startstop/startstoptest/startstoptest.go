// Package startstoptest checks the Stop of a service in its tests.
package startstoptest

import (
	"testing"
	"time"
)

// StopWithin stops s, failing the test if Stop hangs, then stops it again, which must do
// nothing.
func StopWithin(t testing.TB, s interface{ Stop() }) {
	t.Helper()
	stopped := make(chan struct{})
	go func() {
		s.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(30 * time.Second): // a hang, not a slow machine
		t.Fatal("Stop did not return")
	}
	s.Stop() // again: does nothing
}

// Package clock is the time source of the runtime's background services: the real clock in
// production, and a fake one that tests move by hand, so that a service's timing (ticks,
// backoffs, windows) is tested without waiting and without depending on the machine's speed.
package clock

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Clock tells the time and waits.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives the time once d has passed. A d of zero or less
	// has passed already.
	After(d time.Duration) <-chan time.Time
}

// Real is the system clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// After returns time.After(d).
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Fake is a clock that stands still until Advance moves it. Its timers fire when Advance
// reaches their deadline. It is safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	timers  []fakeTimer
	changed chan struct{} // closed and replaced whenever timers change
}

type fakeTimer struct {
	deadline time.Time
	c        chan time.Time
}

// NewFake returns a fake clock that reads now.
func NewFake(now time.Time) *Fake {
	return &Fake{now: now, changed: make(chan struct{})}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// After returns a channel that receives the fake time once Advance has moved it by d.
func (f *Fake) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := make(chan time.Time, 1)
	if d <= 0 {
		c <- f.now
		return c
	}
	f.timers = append(f.timers, fakeTimer{deadline: f.now.Add(d), c: c})
	f.notify()
	return c
}

// Advance moves the clock forward by d and fires the timers whose deadline it reached.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	pending := f.timers[:0]
	for _, t := range f.timers {
		if t.deadline.After(f.now) {
			pending = append(pending, t)
			continue
		}
		t.c <- f.now
	}
	clear(f.timers[len(pending):])
	f.timers = pending
	f.notify()
}

// WaitForTimers blocks until at least n timers are pending (created by After and not yet
// fired), or ctx ends, and returns the deadlines of the pending timers, earliest first. A
// test calls it to know that the code under test has finished reacting to the last Advance
// and waits again.
func (f *Fake) WaitForTimers(ctx context.Context, n int) ([]time.Time, error) {
	for {
		f.mu.Lock()
		if len(f.timers) >= n {
			deadlines := make([]time.Time, len(f.timers))
			for i, t := range f.timers {
				deadlines[i] = t.deadline
			}
			f.mu.Unlock()
			slices.SortFunc(deadlines, time.Time.Compare)
			return deadlines, nil
		}
		changed := f.changed
		f.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// notify wakes WaitForTimers. f.mu must be held.
func (f *Fake) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

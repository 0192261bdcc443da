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
	// NewTimer returns a timer that fires once d has passed. A loop that waits again and
	// again resets one timer instead of calling After each time, which allocates.
	NewTimer(d time.Duration) Timer
}

// Timer fires once, when the duration given to NewTimer or to its last Reset has passed.
// Like a time.Timer since Go 1.23, it never delivers a time from before its last Reset or
// Stop.
type Timer interface {
	// C returns the channel the timer sends the time on when it fires.
	C() <-chan time.Time
	// Reset makes the timer fire once d has passed from now, whether it fired or not. A d of
	// zero or less fires it at once.
	Reset(d time.Duration)
	// Stop keeps the timer from firing until the next Reset.
	Stop()
}

// Real is the system clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// After returns time.After(d).
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// NewTimer returns a time.Timer.
func (Real) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time   { return r.t.C }
func (r realTimer) Reset(d time.Duration) { r.t.Reset(d) }
func (r realTimer) Stop()                 { r.t.Stop() }

// Fake is a clock that stands still until Advance moves it. Its timers fire when Advance
// reaches their deadline. It is safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer  // the pending timers: set and not yet fired
	changed chan struct{} // closed and replaced whenever timers change
}

type fakeTimer struct {
	f        *Fake
	deadline time.Time
	c        chan time.Time // holds at most the one time the timer fired at
	pending  bool
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
	return f.NewTimer(d).C()
}

// NewTimer returns a timer that fires once Advance has moved the clock by d.
func (f *Fake) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{f: f, c: make(chan time.Time, 1)}
	f.mu.Lock()
	defer f.mu.Unlock()
	t.startLocked(d)
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Reset(d time.Duration) {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.stopLocked()
	t.startLocked(d)
}

func (t *fakeTimer) Stop() {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.stopLocked()
	t.f.notify()
}

// startLocked sets t to fire after d. t.f.mu must be held, and t stopped.
func (t *fakeTimer) startLocked(d time.Duration) {
	f := t.f
	if d <= 0 {
		t.c <- f.now
		return
	}
	t.deadline, t.pending = f.now.Add(d), true
	f.timers = append(f.timers, t)
	f.notify()
}

// stopLocked unsets t and drops a time it fired at but nobody received. t.f.mu must be held.
func (t *fakeTimer) stopLocked() {
	select {
	case <-t.c:
	default:
	}
	if t.pending {
		t.pending = false
		t.f.timers = slices.DeleteFunc(t.f.timers, func(p *fakeTimer) bool { return p == t })
	}
}

// Advance moves the clock forward by d and fires the timers whose deadline it reached.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	f.timers = slices.DeleteFunc(f.timers, func(t *fakeTimer) bool {
		if t.deadline.After(f.now) {
			return false
		}
		t.pending = false
		t.c <- f.now // never blocks: a pending timer's channel is empty
		return true
	})
	f.notify()
}

// WaitForTimers blocks until at least n timers are pending (set by After, NewTimer or Reset,
// and neither fired nor stopped), or ctx ends, and returns the deadlines of the pending
// timers, earliest first. A test calls it to know that the code under test has finished
// reacting to the last Advance and waits again.
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

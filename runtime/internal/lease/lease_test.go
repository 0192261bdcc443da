package lease_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/internal/clock"
	"github.com/wfgen/wfgen/runtime/internal/lease"
	"github.com/wfgen/wfgen/runtime/internal/startstop/startstoptest"
	"github.com/wfgen/wfgen/runtime/internal/testlog"
)

// errUnreachable stands for the database being down.
var errUnreachable = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

var start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// The lease of the tests: renewed every 2s, trusted for 8s after a renewal was sent.
const (
	duration = 10 * time.Second
	interval = 2 * time.Second
)

// bundle is a lease on a fake clock whose renewals the test answers one by one (or
// answerRenewals does), and which counts what the lease made the executor do.
type bundle struct {
	clock    *clock.Fake
	lease    *lease.Lease
	logs     *testlog.Recorder
	renewals chan chan error // each renewal, waiting for the test's answer

	mu                                                   sync.Mutex
	registerErr                                          error
	hangFollowUps                                        bool
	answerRenewals                                       func(context.Context) error
	registered, interrupted, handedBack, tookOver, clean int
}

func setup(t *testing.T) *bundle {
	t.Helper()
	return setupConfig(t, lease.Config{Duration: duration, Interval: interval})
}

// setupConfig is setup with the durations of cfg. The executor is registered at start.
func setupConfig(t *testing.T, cfg lease.Config) *bundle {
	t.Helper()
	b := &bundle{clock: clock.NewFake(start), logs: testlog.New(t), renewals: make(chan chan error)}
	count := func(n *int) {
		b.mu.Lock()
		defer b.mu.Unlock()
		*n++
	}
	cfg.ExecutorID = "exec-1"
	cfg.Register = func(context.Context) error {
		count(&b.registered)
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.registerErr
	}
	cfg.Renew = func(ctx context.Context) error {
		b.mu.Lock()
		answerRenewals := b.answerRenewals
		b.mu.Unlock()
		if answerRenewals != nil {
			return answerRenewals(ctx)
		}
		// Buffered: an answer the renewal no longer waits for (its Interval of real time
		// ran out on a stalled machine) must not block the test forever; the test then
		// fails on what the lease did instead.
		answer := make(chan error, 1)
		select {
		case b.renewals <- answer:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case err := <-answer:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	cfg.Interrupt = func() int {
		count(&b.interrupted)
		return 3
	}
	cfg.HandBackOrphans = func(context.Context) { count(&b.handedBack) }
	cfg.TakeOver = func(ctx context.Context) error {
		count(&b.tookOver)
		b.mu.Lock()
		hang := b.hangFollowUps
		b.mu.Unlock()
		if hang { // as a query on a database that stopped answering
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	cfg.Cleanup = func(context.Context) error {
		count(&b.clean)
		return nil
	}
	cfg.Clock, cfg.Logger = b.clock, b.logs.Logger()
	l, err := lease.New(cfg)
	require.NoError(t, err)
	require.NoError(t, l.Register(t.Context()))
	require.NoError(t, l.Start(t.Context()))
	t.Cleanup(l.Stop)
	b.lease = l
	return b
}

// counts returns how often the lease registered the executor, interrupted its executions,
// handed back orphans, took over dead executors' workflows and cleaned up, so far.
func (b *bundle) counts() [5]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return [5]int{b.registered, b.interrupted, b.handedBack, b.tookOver, b.clean}
}

// setAnswerRenewals makes answer answer the renewals from now on, instead of the test.
func (b *bundle) setAnswerRenewals(answer func(context.Context) error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.answerRenewals = answer
}

func (b *bundle) setRegisterErr(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.registerErr = err
}

// wake returns when the lease will renew next, once it waits for that.
func (b *bundle) wake(t *testing.T) time.Time {
	t.Helper()
	deadlines, err := b.clock.WaitForTimers(t.Context(), 1)
	require.NoError(t, err)
	require.Len(t, deadlines, 1)
	return deadlines[0]
}

// tick moves the clock to the next renewal, once the lease waits for it.
func (b *bundle) tick(t *testing.T) {
	t.Helper()
	b.clock.Advance(b.wake(t).Sub(b.clock.Now()))
}

// beat moves the clock to the next renewal, answers it with err, and returns once the lease
// has reacted and waits for the renewal after.
func (b *bundle) beat(t *testing.T, err error) {
	t.Helper()
	b.tick(t)
	(<-b.renewals) <- err
	b.wake(t)
}

// since returns how long ago start was on the fake clock.
func (b *bundle) since() time.Duration { return b.clock.Now().Sub(start) }

func TestRenewalsKeepTheLeaseAndRunTheFollowUps(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.True(t, b.lease.Held(), "registered")
	require.Equal(t, start.Add(interval), b.wake(t))
	for range 3 {
		b.beat(t, nil)
	}
	require.Equal(t, 6*time.Second, b.since())
	require.True(t, b.lease.Held())
	require.Equal(t, [5]int{1, 0, 3, 3, 1}, b.counts(), "each renewal hands back orphans and takes over; cleanup runs at the first")

	// Cleanup runs again once CleanupInterval has passed since it ran, at 2s.
	for b.since() <= interval+lease.CleanupInterval {
		b.beat(t, nil)
	}
	require.Equal(t, 2, b.counts()[4])
	require.Empty(t, b.logs.Find(slog.LevelWarn, ""))
	require.Empty(t, b.logs.Find(slog.LevelError, ""))
}

func TestFailedRenewalsInterruptOnceTheLeaseCannotBeTrusted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Renewals at 2s, 4s and 6s fail: the registration, sent at 0, still holds the lease.
	for range 3 {
		b.beat(t, errUnreachable)
	}
	require.True(t, b.lease.Held())
	require.Equal(t, [5]int{1, 0, 0, 0, 0}, b.counts(), "no follow-up without a renewal")
	require.Len(t, b.logs.Find(slog.LevelWarn, "heartbeat failed"), 3)

	// The lease cannot be trusted from Duration-Interval after the last renewal was sent,
	// whether or not a renewal runs then.
	b.clock.Advance(1999 * time.Millisecond)
	require.True(t, b.lease.Held())
	b.clock.Advance(time.Millisecond)
	require.False(t, b.lease.Held())
	answer := <-b.renewals
	require.Equal(t, 1, b.counts()[1], "interrupted before the renewal of 8s, which may hang for an interval")
	answer <- errUnreachable
	b.wake(t)
	require.Equal(t, 1, b.counts()[1])
	interrupted := b.logs.Find(slog.LevelError, "cannot renew this executor's lease")
	require.Len(t, interrupted, 1)
	require.Equal(t, int64(3), interrupted[0]["interrupted"])

	for range 3 {
		b.beat(t, errUnreachable)
	}
	require.Equal(t, 1, b.counts()[1], "interrupted once while the lease is lost")
	require.Len(t, b.logs.Find(slog.LevelWarn, "heartbeat failed"), 7, "each failed renewal is a warning; the interruption is the error")

	// The database is back: the lease is held again, and the interrupted workflows are
	// handed back.
	b.beat(t, nil)
	require.Equal(t, 16*time.Second, b.since())
	require.True(t, b.lease.Held())
	require.Equal(t, [5]int{1, 1, 1, 1, 1}, b.counts())

	// Lost again: interrupted again, 8s after the last renewal was sent.
	for b.since() < 24*time.Second {
		b.beat(t, errUnreachable)
	}
	require.False(t, b.lease.Held())
	require.Equal(t, 2, b.counts()[1])
}

func TestDeclaredDeadInterruptsAndRegistersAgain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.beat(t, fmt.Errorf("heartbeat: %w", lease.ErrDeclaredDead))
	require.Equal(t, [5]int{2, 1, 1, 1, 1}, b.counts(), "interrupted, registered again, then the follow-ups")
	require.Len(t, b.logs.Find(slog.LevelError, "declared dead"), 1)
	require.True(t, b.lease.Held())

	// Registering again fails: the lease holds until its window ends, as for any failure.
	b.setRegisterErr(errUnreachable)
	b.beat(t, lease.ErrDeclaredDead)
	require.Equal(t, [5]int{3, 2, 1, 1, 1}, b.counts(), "no follow-up")
	require.Len(t, b.logs.Find(slog.LevelError, "registering the executor again failed"), 1)
	require.True(t, b.lease.Held(), "the registration sent at 2s holds the lease until 10s")
	b.setRegisterErr(nil)
	b.beat(t, lease.ErrDeclaredDead)
	require.Equal(t, [5]int{4, 3, 2, 2, 1}, b.counts())
	require.True(t, b.lease.Held())
}

func TestHangingRenewalCountsAsFailed(t *testing.T) {
	t.Parallel()
	// The renewal's timeout is Interval of real time, which is what a query's context
	// runs on.
	b := setupConfig(t, lease.Config{Duration: time.Second, Interval: 10 * time.Millisecond})
	// Not handed to the test: a test goroutine slowed down for more than those 10ms (as
	// under a loaded race build) would otherwise wait for a renewal that gave up already.
	b.setAnswerRenewals(func(ctx context.Context) error { // as a database that stopped answering
		<-ctx.Done()
		return ctx.Err()
	})
	b.tick(t)
	b.wake(t) // returns once the lease waits for its next renewal: this one gave up
	failed := b.logs.Find(slog.LevelWarn, "heartbeat failed")
	require.Len(t, failed, 1)
	require.ErrorIs(t, failed[0]["error"].(error), context.DeadlineExceeded)
}

func TestRenewalsFollowATickerBeat(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.tick(t)
	answer := <-b.renewals
	// The renewal of 2s takes until 7.5s: it ran past the beats of 4s and 6s. The next
	// renewal runs at once, and the one after on the beat, at 8s.
	b.clock.Advance(5500 * time.Millisecond)
	answer <- nil
	(<-b.renewals) <- nil
	require.Equal(t, start.Add(8*time.Second), b.wake(t))
}

func TestStopReturnsPromptly(t *testing.T) {
	t.Parallel()
	t.Run("waiting", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.wake(t)
		startstoptest.StopWithin(t, b.lease)
	})
	t.Run("renewing", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.tick(t)
		<-b.renewals // and never answered
		startstoptest.StopWithin(t, b.lease)
		require.Empty(t, b.logs.Find(slog.LevelWarn, ""), "a renewal interrupted by Stop is no failure")
		require.Equal(t, [5]int{1, 0, 0, 0, 0}, b.counts())
	})
}

func TestNotHeldBeforeRegistering(t *testing.T) {
	t.Parallel()
	l, err := lease.New(lease.Config{
		Duration: duration, Interval: interval,
		Register:  func(context.Context) error { return errUnreachable },
		Renew:     func(context.Context) error { return nil },
		Interrupt: func() int { return 0 },
	})
	require.NoError(t, err)
	require.False(t, l.Held())
	require.ErrorIs(t, l.Register(t.Context()), errUnreachable)
	require.False(t, l.Held())
}

func TestNewSaysWhichFieldIsWrong(t *testing.T) {
	t.Parallel()
	cfg := lease.Config{
		Duration: duration, Interval: interval,
		Register: func(context.Context) error { return nil },
		Renew:    func(context.Context) error { return nil },
	}
	_, err := lease.New(cfg)
	require.EqualError(t, err, "lease: Config.Interrupt is not set")
	cfg.Interrupt = func() int { return 0 }
	cfg.Interval = 5 * time.Second
	_, err = lease.New(cfg)
	require.EqualError(t, err, "lease: Config.Interval (5s) must be below half of Config.Duration (10s)")
}

func TestAFollowUpThatHangsDoesNotHoldUpTheLease(t *testing.T) {
	t.Parallel()
	// The follow-ups' timeout is Interval of real time, which is what a query's context runs
	// on.
	b := setupConfig(t, lease.Config{Duration: time.Second, Interval: 10 * time.Millisecond})
	b.mu.Lock()
	b.hangFollowUps = true
	b.mu.Unlock()
	// Answered at once, not by the test, as in TestHangingRenewalCountsAsFailed.
	b.setAnswerRenewals(func(context.Context) error { return nil })
	for range 2 {
		b.tick(t)
		b.wake(t) // returns once the lease waits for its next renewal: TakeOver gave up
	}
	require.Equal(t, 2, b.counts()[3])
	require.Empty(t, b.logs.Find(slog.LevelWarn, "heartbeat failed"))
}

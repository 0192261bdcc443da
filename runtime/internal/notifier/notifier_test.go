package notifier_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/internal/clock"
	"github.com/wfgen/wfgen/runtime/internal/notifier"
	"github.com/wfgen/wfgen/runtime/internal/startstop/startstoptest"
	"github.com/wfgen/wfgen/runtime/internal/testlog"
)

var errRefused = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

var start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// bundle is a listener on a fake clock whose connections the test hands out one by one.
type bundle struct {
	clock    *clock.Fake
	listener *notifier.Listener
	logs     *testlog.Recorder
	dials    chan dial                  // what the next Connect returns
	notified chan notifier.Notification // what Notify received
	connects chan struct{}              // receives at every Connected
}

type dial struct {
	conn *fakeConn
	err  error
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{
		clock: clock.NewFake(start), logs: testlog.New(t), dials: make(chan dial),
		notified: make(chan notifier.Notification, 10), connects: make(chan struct{}, 10),
	}
	l, err := notifier.New(notifier.Config{
		Connect: func(ctx context.Context) (notifier.Conn, error) {
			select {
			case d := <-b.dials:
				if d.err != nil {
					return nil, d.err
				}
				return d.conn, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		},
		Notify:    func(n notifier.Notification) { b.notified <- n },
		Connected: func() { b.connects <- struct{}{} },
		Clock:     b.clock,
		Logger:    b.logs.Logger(),
	})
	require.NoError(t, err)
	require.NoError(t, l.Start(t.Context()))
	t.Cleanup(l.Stop)
	b.listener = l
	return b
}

// connect hands the listener a working connection, and returns it once the listener listens
// on it.
func (b *bundle) connect(t *testing.T) *fakeConn {
	t.Helper()
	conn := newFakeConn()
	b.dials <- dial{conn: conn}
	<-b.connects
	return conn
}

// fakeConn is a connection subscribed to the channel: the test sends its notifications and
// makes it fail.
type fakeConn struct {
	payloads  chan string
	fail      chan error
	closed    chan struct{}
	closeOnce sync.Once
}

func newFakeConn() *fakeConn {
	return &fakeConn{payloads: make(chan string), fail: make(chan error), closed: make(chan struct{})}
}

func (c *fakeConn) WaitForNotification(ctx context.Context) (*pgconn.Notification, error) {
	select {
	case p := <-c.payloads:
		return &pgconn.Notification{Channel: "wfgen", Payload: p}, nil
	case err := <-c.fail:
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *fakeConn) Close(context.Context) error {
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}

func TestNotificationsAreDecodedAndHandedOn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	select {
	case <-b.listener.Listening():
		t.Fatal("listening before connecting")
	default:
	}
	conn := b.connect(t)
	<-b.listener.Listening()

	conn.payloads <- `{"k":"e","q":"mail","d":250}`
	require.Equal(t, notifier.Notification{Kind: notifier.KindEnqueued, Queue: "mail", DelayMs: 250}, <-b.notified)
	conn.payloads <- `not json`
	conn.payloads <- `{"k":"c","ids":["a","b"],"qs":["mail"]}`
	require.Equal(t, notifier.Notification{Kind: notifier.KindCompleted, IDs: []string{"a", "b"}, Queues: []string{"mail"}}, <-b.notified,
		"a malformed payload is dropped")
	require.Len(t, b.logs.Find(slog.LevelDebug, "ignoring a malformed notification"), 1)
	conn.payloads <- `{"k":"x","id":"w1","x":"exec-1"}`
	require.Equal(t, notifier.Notification{Kind: notifier.KindCancelled, Workflow: "w1", Executor: "exec-1"}, <-b.notified)
}

func TestLostConnectionIsReopenedAfterABackoff(t *testing.T) {
	t.Parallel()
	b := setup(t)
	conn := b.connect(t)
	conn.fail <- errRefused
	<-conn.closed
	require.Len(t, b.logs.Find(slog.LevelWarn, "notification listener lost its connection"), 1)

	// Reconnecting fails too: the listener waits 100ms, then twice as long after each
	// failure, up to 5s.
	var waits []time.Duration
	for range 8 {
		deadlines, err := b.clock.WaitForTimers(t.Context(), 1)
		require.NoError(t, err)
		waits = append(waits, deadlines[0].Sub(b.clock.Now()))
		b.clock.Advance(deadlines[0].Sub(b.clock.Now()))
		b.dials <- dial{err: errRefused}
	}
	require.Equal(t, []time.Duration{
		100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second, 5 * time.Second,
	}, waits)

	// Back: Connected runs again, so that its owner looks for what it missed.
	deadlines, err := b.clock.WaitForTimers(t.Context(), 1)
	require.NoError(t, err)
	b.clock.Advance(deadlines[0].Sub(b.clock.Now()))
	conn = b.connect(t)
	conn.payloads <- `{"k":"e","q":"mail"}`
	require.Equal(t, notifier.KindEnqueued, (<-b.notified).Kind)

	// Lost again: a connection that worked starts the backoff over.
	conn.fail <- errRefused
	deadlines, err = b.clock.WaitForTimers(t.Context(), 1)
	require.NoError(t, err)
	require.Equal(t, 100*time.Millisecond, deadlines[0].Sub(b.clock.Now()))
}

func TestStopEndsTheListenerPromptly(t *testing.T) {
	t.Parallel()
	t.Run("connecting", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		startstoptest.StopWithin(t, b.listener)
	})
	t.Run("listening", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		conn := b.connect(t)
		startstoptest.StopWithin(t, b.listener)
		<-conn.closed
		require.Empty(t, b.logs.Find(slog.LevelWarn, ""), "a connection closed by Stop is not lost")
	})
	t.Run("backing off", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.dials <- dial{err: errRefused}
		_, err := b.clock.WaitForTimers(t.Context(), 1)
		require.NoError(t, err)
		startstoptest.StopWithin(t, b.listener)
	})
}

func TestNewSaysWhichFieldIsWrong(t *testing.T) {
	t.Parallel()
	_, err := notifier.New(notifier.Config{Notify: func(notifier.Notification) {}})
	require.EqualError(t, err, "notifier: Config.Connect is not set")
	_, err = notifier.New(notifier.Config{Connect: func(context.Context) (notifier.Conn, error) { return nil, errRefused }})
	require.EqualError(t, err, "notifier: Config.Notify is not set")
}

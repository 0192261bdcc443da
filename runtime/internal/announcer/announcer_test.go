package announcer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/internal/announcer"
	"github.com/wfgen/wfgen/runtime/internal/notifier"
	"github.com/wfgen/wfgen/runtime/internal/testlog"
)

// pgPayloadLimit is PostgreSQL's limit on a notification's payload, in bytes.
const pgPayloadLimit = 8000

// bundle is an announcer whose sends the test receives one by one and answers.
type bundle struct {
	announcer *announcer.Announcer
	logs      *testlog.Recorder
	sends     chan send
}

// send is one call of Config.Send: the test answers it on reply.
type send struct {
	payloads []string
	reply    chan error
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{logs: testlog.New(t), sends: make(chan send)}
	a, err := announcer.New(announcer.Config{
		Send: func(ctx context.Context, payloads []string) error {
			s := send{payloads: payloads, reply: make(chan error)}
			select {
			case b.sends <- s:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case err := <-s.reply:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		},
		Logger: b.logs.Logger(),
	})
	require.NoError(t, err)
	b.announcer = a
	return b
}

// next returns the next send's notifications, decoded, and lets it return err.
func (b *bundle) next(t *testing.T, err error) ([]notifier.Notification, []string) {
	t.Helper()
	s := <-b.sends
	var out []notifier.Notification
	for _, p := range s.payloads {
		var n notifier.Notification
		require.NoError(t, json.Unmarshal([]byte(p), &n), p)
		out = append(out, n)
	}
	s.reply <- err
	return out, s.payloads
}

// idle fails the test unless the announcer has nothing left to send.
func (b *bundle) idle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	b.announcer.Flush(ctx)
	require.NoError(t, ctx.Err(), "Flush did not return")
}

func TestAnnouncementsMadeDuringASendGoInTheNextOne(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.announcer.Enqueued("mail", 0)
	s := <-b.sends // in flight: what follows waits for it

	b.announcer.Enqueued("mail", 500)
	b.announcer.Enqueued("mail", 100)
	b.announcer.Enqueued("sms", 0)
	b.announcer.Completed([]string{"w1", "w2"}, []string{"mail"})
	b.announcer.Completed([]string{"w3"}, []string{"sms"})
	s.reply <- nil

	got, _ := b.next(t, nil)
	require.Len(t, got, 3, "one send, one notification per queue enqueued and one of completions")
	require.ElementsMatch(t, []notifier.Notification{
		{Kind: notifier.KindEnqueued, Queue: "mail", DelayMs: 100}, // the shortest delay announced
		{Kind: notifier.KindEnqueued, Queue: "sms"},
	}, got[:2])
	require.Equal(t, notifier.KindCompleted, got[2].Kind)
	require.Equal(t, []string{"w1", "w2", "w3"}, got[2].IDs)
	require.ElementsMatch(t, []string{"mail", "sms"}, got[2].Queues)
	b.idle(t)
}

func TestWorkForNowAndDelayedWorkOfAQueueAreBothAnnounced(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.announcer.Enqueued("sms", 0)
	s := <-b.sends // in flight: both of what follows go in the next send
	b.announcer.Enqueued("mail", 400)
	b.announcer.Enqueued("mail", 0)
	s.reply <- nil
	got, _ := b.next(t, nil)
	require.ElementsMatch(t, []notifier.Notification{
		{Kind: notifier.KindEnqueued, Queue: "mail"},               // wakes workers now
		{Kind: notifier.KindEnqueued, Queue: "mail", DelayMs: 400}, // and again when it is due
	}, got, "announcing only the work for now would leave the delayed work without a wake-up")
	b.idle(t)
}

func TestCompletedIDsAreSplitUnderThePayloadLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var ids []string
	for i := range 1000 {
		ids = append(ids, fmt.Sprintf("0198c2a4-7b1e-7c3d-9f00-%012d", i)) // a UUID's length
	}
	b.announcer.Completed(ids, []string{"mail"})

	got, payloads := b.next(t, nil)
	require.Greater(t, len(got), 1)
	var announced []string
	for i, n := range got {
		require.Equal(t, notifier.KindCompleted, n.Kind)
		require.Equal(t, []string{"mail"}, n.Queues)
		require.Less(t, len(payloads[i]), pgPayloadLimit)
		require.Less(t, len(payloads[i]), announcer.MaxPayload+100, "every payload but the last is filled up to MaxPayload")
		if i < len(got)-1 {
			require.Greater(t, len(payloads[i]), announcer.MaxPayload-50)
		}
		announced = append(announced, n.IDs...)
	}
	require.Equal(t, ids, announced, "every ID once, in order")
	b.idle(t)
}

func TestAnIDLongerThanThePayloadLimitIsSentAlone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	long := strings.Repeat("x", announcer.MaxPayload)
	b.announcer.Completed([]string{"a", long, "b"}, []string{"q"})
	got, _ := b.next(t, nil)
	require.Len(t, got, 3)
	require.Equal(t, [][]string{{"a"}, {long}, {"b"}}, [][]string{got[0].IDs, got[1].IDs, got[2].IDs})
	b.idle(t)
}

func TestTooManyPendingIDsAreAnnouncedWithoutIDs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.announcer.Enqueued("q", 0)
	s := <-b.sends // the database hangs: completions pile up
	for i := range announcer.MaxPendingIDs / 100 {
		b.announcer.Completed(make([]string, 100), []string{fmt.Sprint("q", i%2)})
	}
	b.announcer.Completed([]string{"one too many"}, []string{"q2"})
	b.announcer.Completed([]string{"and more"}, []string{"q2"})
	s.reply <- nil

	got, _ := b.next(t, nil)
	require.Len(t, got, 1, "the completions are announced in one notification, without IDs")
	require.Equal(t, notifier.KindCompleted, got[0].Kind)
	require.Nil(t, got[0].IDs)
	require.ElementsMatch(t, []string{"q0", "q1", "q2"}, got[0].Queues)

	b.announcer.Completed([]string{"w"}, []string{"q"})
	got, _ = b.next(t, nil)
	require.Equal(t, []string{"w"}, got[0].IDs, "once sent, IDs are announced again")
	b.idle(t)
}

func TestFailedSendIsLoggedAndDropped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.announcer.Enqueued("q", 0)
	b.next(t, errors.New("connection refused"))
	b.idle(t)
	require.Len(t, b.logs.Find(slog.LevelWarn, "sending notifications failed"), 1)

	b.announcer.Enqueued("r", 0)
	got, _ := b.next(t, nil)
	require.Equal(t, []notifier.Notification{{Kind: notifier.KindEnqueued, Queue: "r"}}, got, "the failed send is not retried")
	b.idle(t)
}

func TestFlushWaitsForPendingSendsUntilItsContextEnds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.announcer.Flush(t.Context()) // nothing pending: returns at once

	b.announcer.Enqueued("q", 0)
	s := <-b.sends
	flushed := make(chan struct{})
	go func() {
		b.announcer.Flush(t.Context())
		close(flushed)
	}()
	b.announcer.Enqueued("r", 0)
	s.reply <- nil
	s = <-b.sends // of "r": Flush waits for it too
	select {
	case <-flushed:
		t.Fatal("Flush returned while a send was pending")
	default:
	}
	s.reply <- nil
	<-flushed

	b.announcer.Enqueued("s", 0)
	s = <-b.sends // hangs
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	b.announcer.Flush(ctx) // returns: its context ended
	s.reply <- nil
}

func TestNewSaysWhichFieldIsWrong(t *testing.T) {
	t.Parallel()
	_, err := announcer.New(announcer.Config{})
	require.EqualError(t, err, "announcer: Config.Send is not set")
	_, err = announcer.New(announcer.Config{Send: func(context.Context, []string) error { return nil }, SendTimeout: -1})
	require.EqualError(t, err, "announcer: Config.SendTimeout must not be negative")
}

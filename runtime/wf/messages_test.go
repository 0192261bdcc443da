package wf_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/internal/checkpoint"
	"github.com/wfgen/wfgen/runtime/internal/db"
	"github.com/wfgen/wfgen/runtime/internal/dbschema"
	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wftest"
)

// A message a workflow received, with the attempt that returned it from Recv.
type received struct {
	Msgs     []string
	Attempts []int
	TimedOut int
}

// recvN receives n messages of the topic, each waited for without a timeout.
func recvN[T any](ctx wf.Context, topic *wf.Topic[T], n int) ([]T, error) {
	var got []T
	for range n {
		msg, ok, err := topic.Recv(ctx, 0)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errors.New("a Recv without timeout returned no message")
		}
		got = append(got, msg)
	}
	return got, nil
}

func TestAMessageSentBeforeRecvIsDeliveredOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	orders := wf.NewTopic[string]("orders")
	gate := wf.NewStep[int]("gate")
	open := make(chan struct{})
	w := wf.NewWorkflow("early-bird", func(ctx wf.Context, _ int) (received, error) {
		var r received
		// The message is sent while this step holds the workflow before its Recv.
		if _, err := gate.Run(ctx, func(context.Context) (int, error) { <-open; return 0, nil }); err != nil {
			return r, err
		}
		for {
			msg, ok, err := orders.Recv(ctx, 200*time.Millisecond)
			if err != nil {
				return r, err
			}
			if !ok {
				r.TimedOut++
				return r, nil
			}
			r.Msgs = append(r.Msgs, msg)
		}
	})
	b.start(t, w, gate, orders)
	h, err := w.Enqueue(b.ctx, b.client, 0)
	require.NoError(t, err)
	require.NoError(t, orders.Send(b.ctx, b.client, h.ID(), "first"))
	close(open)
	r, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"first"}, r.Msgs, "the message sent before Recv waited for it, and came once")
	require.Equal(t, 1, r.TimedOut)
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.messages WHERE consumed_at IS NOT NULL AND consumed_step = 3`))
	require.Zero(t, b.count(t, `SELECT count(*) FROM %s.messages WHERE consumed_at IS NULL`))
}

func TestMessagesOfATopicAreReceivedInSendOrder(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	nums := wf.NewTopic[int]("nums")
	other := wf.NewTopic[int]("other")
	gate := wf.NewStep[int]("gate")
	open := make(chan struct{})
	w := wf.NewWorkflow("ordered", func(ctx wf.Context, n int) ([]int, error) {
		if _, err := gate.Run(ctx, func(context.Context) (int, error) { <-open; return 0, nil }); err != nil {
			return nil, err
		}
		return recvN(ctx, nums, n)
	})
	b.start(t, w, gate, nums, other)
	h, err := w.Enqueue(b.ctx, b.client, 20)
	require.NoError(t, err)
	var want []int
	for i := range 20 {
		require.NoError(t, nums.Send(b.ctx, b.client, h.ID(), i*7))
		require.NoError(t, other.Send(b.ctx, b.client, h.ID(), -i), "another topic's messages do not mix in")
		want = append(want, i*7)
		if i == 10 {
			close(open) // half sent before the first Recv, half while it receives
		}
	}
	got, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Equal(t, 20, b.count(t, `SELECT count(*) FROM %s.messages WHERE topic = 'other' AND consumed_at IS NULL`))
}

func TestRecvTimesOutAndTheTimeoutSurvivesAReplay(t *testing.T) {
	t.Parallel()
	// Every wait suspends at once: the Recv's wait ends in its queue, and the workflow
	// resumes (a replay) at its deadline.
	b := setup(t, wf.Config{SuspendAfter: -1})
	pings := wf.NewTopic[string]("pings")
	w := wf.NewWorkflow("impatient", func(ctx wf.Context, _ int) (received, error) {
		var r received
		for range 2 {
			// Long enough to be recorded before it runs out, on a loaded machine too (with
			// 300ms, one of four race suites side by side timed out without suspending).
			_, ok, err := pings.Recv(ctx, time.Second)
			if err != nil {
				return r, err
			}
			if !ok {
				r.TimedOut++
			}
		}
		// A last suspension replays both timed-out Recvs, with a message waiting.
		if err := wf.Sleep(ctx, 500*time.Millisecond); err != nil {
			return r, err
		}
		return r, nil
	})
	b.start(t, w, pings)
	h, err := w.Enqueue(b.ctx, b.client, 0)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, err := h.Status(b.ctx)
		return err == nil && st.WaitingFor == "sleep"
	}, 20*time.Second, 5*time.Millisecond)
	require.NoError(t, pings.Send(b.ctx, b.client, h.ID(), "too late"))

	r, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 2, r.TimedOut, "the replayed Recvs returned their recorded timeouts, not the message")
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.messages WHERE consumed_at IS NULL`), "the late message is still there")

	// Each Recv returned at its recorded deadline or later, never earlier.
	steps, err := b.client.Steps(b.ctx, h.ID())
	require.NoError(t, err)
	require.Len(t, steps, 5)
	for _, i := range []int{0, 2} {
		require.Equal(t, "wf.recv.deadline", steps[i].Name)
		require.Equal(t, "wf.recv:pings", steps[i+1].Name)
		require.Equal(t, "{}", steps[i+1].Output)
		require.Equal(t, 2+i/2, steps[i+1].Attempt, "each Recv suspended and timed out in the run that resumed at its deadline")
		var deadline time.Time
		require.NoError(t, json.Unmarshal([]byte(steps[i].Output), &deadline))
		require.False(t, steps[i+1].StartedAt.Before(deadline), "timed out before its deadline")
	}
}

func TestALongRecvSuspendsAndASendWakesIt(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{SuspendAfter: -1})
	signals := wf.NewTopic[string]("signals")
	w := wf.NewWorkflow("patient", func(ctx wf.Context, timeout time.Duration) (received, error) {
		var r received
		msg, ok, err := signals.Recv(ctx, timeout)
		if err != nil {
			return r, err
		}
		if ok {
			r.Msgs = append(r.Msgs, msg)
		}
		r.Attempts = append(r.Attempts, ctx.Attempt())
		return r, nil
	})
	// One slot: the suspended Recv must free it for the next workflow.
	b.start(t, w, signals, wf.NewQueue(wf.DefaultQueue, wf.WorkerConcurrency(1)))
	h, err := w.Enqueue(b.ctx, b.client, time.Hour)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, err := h.Status(b.ctx)
		return err == nil && st.WaitingFor == "recv:signals"
	}, 20*time.Second, 5*time.Millisecond)
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, wf.StateEnqueued, st.State)
	require.Empty(t, st.ExecutorID, "a suspended workflow belongs to no executor")
	require.True(t, st.AvailableAt.After(time.Now().Add(50*time.Minute)), "suspended until its deadline, an hour away")

	// The slot is free: another workflow runs, and times out, meanwhile.
	other, err := w.Enqueue(b.ctx, b.client, time.Millisecond)
	require.NoError(t, err)
	r, err := other.Result(b.ctx)
	require.NoError(t, err)
	require.Empty(t, r.Msgs)

	// Sends wake it long before its deadline; the key makes the second one a no-op.
	require.NoError(t, signals.Send(b.ctx, b.client, h.ID(), "go", wf.WithIdempotencyKey("k1")))
	require.NoError(t, signals.Send(b.ctx, b.client, h.ID(), "go again", wf.WithIdempotencyKey("k1")))
	r, err = h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"go"}, r.Msgs)
	require.Equal(t, []int{2}, r.Attempts, "resumed by a second claim")
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.messages WHERE destination_id = $1`, h.ID()), "the second send with the key stored nothing")
	st, err = h.Status(b.ctx)
	require.NoError(t, err)
	require.Empty(t, st.WaitingFor)

	// The key counts per destination, and only a key makes a send idempotent.
	require.NoError(t, signals.Send(b.ctx, b.client, other.ID(), "late", wf.WithIdempotencyKey("k1")))
	require.NoError(t, signals.Send(b.ctx, b.client, other.ID(), "late"))
	require.NoError(t, signals.Send(b.ctx, b.client, other.ID(), "late"))
	require.Equal(t, 3, b.count(t, `SELECT count(*) FROM %s.messages WHERE destination_id = $1`, other.ID()))
	require.ErrorContains(t, signals.Send(b.ctx, b.client, other.ID(), "x", wf.WithIdempotencyKey("wfgen:mine")), "reserved")
}

func TestSendFromWorkflowDeliversExactlyOnceAcrossReplays(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{SuspendAfter: -1})
	notes := wf.NewTopic[string]("notes")
	receiver := wf.NewWorkflow("receiver", func(ctx wf.Context, n int) ([]string, error) {
		got, err := recvN(ctx, notes, n)
		if err != nil {
			return nil, err
		}
		// Nothing more comes: each send was stored once.
		if _, ok, err := notes.Recv(ctx, 200*time.Millisecond); err != nil || ok {
			return nil, fmt.Errorf("a third message came (%v), or %v", ok, err)
		}
		return got, nil
	})
	var runs atomic.Int32
	sender := wf.NewWorkflow("sender", func(ctx wf.Context, to string) (int, error) {
		runs.Add(1)
		if err := notes.SendFromWorkflow(ctx, to, "hello from "+ctx.WorkflowID()); err != nil {
			return 0, err
		}
		// Suspends: the resumed run replays the send. (Long enough to be recorded before it
		// is over, on a loaded machine too: a nap that is over by then does not suspend.)
		if err := wf.Sleep(ctx, 500*time.Millisecond); err != nil {
			return 0, err
		}
		return ctx.Attempt(), nil
	})
	b.start(t, receiver, sender, notes)
	rh, err := receiver.Enqueue(b.ctx, b.client, 2)
	require.NoError(t, err)
	var senders []*wf.Handle[int]
	for _, id := range []string{"sender-1", "sender-2"} {
		sh, err := sender.Enqueue(b.ctx, b.client, rh.ID(), wf.WithID(id))
		require.NoError(t, err)
		senders = append(senders, sh)
	}
	for _, sh := range senders {
		attempt, err := sh.Result(b.ctx)
		require.NoError(t, err)
		require.Equal(t, 2, attempt, "the sender suspended and replayed its send")
	}
	require.EqualValues(t, 4, runs.Load())

	got, err := rh.Result(b.ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"hello from sender-1", "hello from sender-2"}, got)
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM %s.messages`))
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM %s.messages WHERE idempotency_key = 'wfgen:' || substr(payload #>> '{}', 12) || ':1'`),
		"keyed by the sender's ID and step ID")
}

func TestASendStepThatRunsAgainAfterACrashStoresNothingTwice(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{SuspendAfter: -1})
	notes := wf.NewTopic[string]("notes")
	_, to := rerunSendStep(t, b, 1, "wf.send:notes", func(ctx wf.Context, to []string) error {
		return notes.SendFromWorkflow(ctx, to[0], "once")
	}, notes)
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.messages WHERE destination_id = $1`, to[0]), "the step stored its message once")
}

// rerunSendStep runs a workflow whose first step sends (send, from the workflow) to
// destinations finished workflows, then waits in a Recv. Once it is suspended there, the
// send step's checkpoint (named step) is deleted, as if the process had died after the
// send's statement committed and before its checkpoint did, and the workflow goes on: the
// step runs again. It checks that it did, recorded by the second run, and returns the
// sender's ID and the destinations.
func rerunSendStep(t *testing.T, b *bundle, destinations int, step string, send func(ctx wf.Context, to []string) error, defs ...wf.Definition) (string, []string) {
	t.Helper()
	proceed := wf.NewTopic[bool]("proceed")
	box := wf.NewWorkflow("box", func(ctx wf.Context, _ int) (int, error) { return 0, nil })
	var sends atomic.Int32
	sender := wf.NewWorkflow("resender", func(ctx wf.Context, to []string) (int, error) {
		if err := send(ctx, to); err != nil {
			return 0, err
		}
		sends.Add(1)
		// Suspends until the test has removed the send's checkpoint.
		if _, _, err := proceed.Recv(ctx, 0); err != nil {
			return 0, err
		}
		return ctx.Attempt(), nil
	})
	b.start(t, append(defs, box, sender, proceed)...)
	// The destinations finished: messages to them are stored all the same.
	var to []string
	for range destinations {
		bh, err := box.Enqueue(b.ctx, b.client, 0)
		require.NoError(t, err)
		_, err = bh.Result(b.ctx)
		require.NoError(t, err)
		to = append(to, bh.ID())
	}

	sh, err := sender.Enqueue(b.ctx, b.client, to)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, err := sh.Status(b.ctx)
		return err == nil && st.WaitingFor == "recv:proceed"
	}, 20*time.Second, 5*time.Millisecond)
	b.exec(t, `DELETE FROM %s.steps WHERE workflow_id = $1 AND name = $2`, sh.ID(), step)
	require.NoError(t, proceed.Send(b.ctx, b.client, sh.ID(), true))
	attempt, err := sh.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 2, attempt)
	require.EqualValues(t, 2, sends.Load(), "the send step ran twice")
	steps, err := b.client.Steps(b.ctx, sh.ID())
	require.NoError(t, err)
	require.Equal(t, step, steps[0].Name)
	require.Equal(t, 2, steps[0].Attempt, "recorded by the run that sent again")
	return sh.ID(), to
}

func TestSendToAnUnknownWorkflowSaysNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	notes := wf.NewTopic[string]("notes")
	err := notes.Send(b.ctx, b.client, "nobody", "hi")
	require.ErrorIs(t, err, wf.ErrNotFound)
	require.ErrorContains(t, err, `"nobody"`)

	sender := wf.NewWorkflow("lost-sender", func(ctx wf.Context, to string) (string, error) {
		err := notes.SendFromWorkflow(ctx, to, "hi")
		if !errors.Is(err, wf.ErrNotFound) {
			return "", fmt.Errorf("want ErrNotFound, got %v", err)
		}
		return err.Error(), nil
	})
	b.start(t, sender, notes)
	h, err := sender.Enqueue(b.ctx, b.client, "nobody-either")
	require.NoError(t, err)
	msg, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Contains(t, msg, `"nobody-either"`)
	require.Zero(t, b.count(t, `SELECT count(*) FROM %s.messages`))
	steps, err := b.client.Steps(b.ctx, h.ID())
	require.NoError(t, err)
	require.Len(t, steps, 1)
	require.Equal(t, 1, steps[0].Tries, "a missing destination is not retried")
}

func TestAMessageThatDoesNotDecodeIsAClearError(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	asText := wf.NewTopic[string]("mixed")
	asNumber := wf.NewTopic[int]("mixed")
	w := wf.NewWorkflow("strict", func(ctx wf.Context, _ int) (string, error) {
		msg, _, err := asText.Recv(ctx, 0)
		return msg, err
	})
	b.start(t, w, asText)
	h, err := w.Enqueue(b.ctx, b.client, 0)
	require.NoError(t, err)
	require.NoError(t, asNumber.Send(b.ctx, b.client, h.ID(), 42))
	_, err = h.Result(b.ctx)
	require.ErrorContains(t, err, `message 1 on topic "mixed" does not decode as string`)

	err = asText.Send(b.ctx, b.client, h.ID(), "nul \x00 byte")
	var codec *wf.CodecError
	require.ErrorAs(t, err, &codec, "jsonb refuses \\u0000: %v", err)
}

func TestTopicsOfOneNameMustShareTheirType(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	err := b.client.Register(wf.NewTopic[string]("t"), wf.NewTopic[string]("t"), wf.NewTopic[int]("t"))
	require.ErrorContains(t, err, `topic "t" registered with two value types, string and int`)
	require.PanicsWithValue(t, "wf: NewTopic: empty name", func() { wf.NewTopic[int](" ") })
	require.Equal(t, "t", wf.NewTopic[int]("t").Name())
}

// The crash test's worker: a workflow that receives a message, hangs in a step (in the
// first worker only, until it is SIGKILLed), then receives another.
func init() {
	helperRoles["recv-twice"] = func(pool *pgxpool.Pool, schema string, cfg *wf.Config) []wf.Definition {
		cfg.LeaseDuration, cfg.HeartbeatInterval, cfg.SuspendAfter = testLease, countedHeartbeat, -1
		_, defs := recvTwice(pool, schema, os.Getenv(helperBlockEnv) != "")
		return defs
	}
}

func recvTwice(pool *pgxpool.Pool, schema string, hang bool) (*wf.Workflow[int, []string], []wf.Definition) {
	topic := wf.NewTopic[string]("jobs")
	between := wf.NewStep[int]("between")
	w := wf.NewWorkflow("recv-twice", func(ctx wf.Context, _ int) ([]string, error) {
		first, _, err := topic.Recv(ctx, 0)
		if err != nil {
			return nil, err
		}
		if _, err := between.Run(ctx, func(sctx context.Context) (int, error) {
			if _, err := pool.Exec(sctx, fmt.Sprintf(`INSERT INTO %s.executions (workflow_id, step, pid, attempt) VALUES ($1, 3, $2, $3)`, schema),
				ctx.WorkflowID(), os.Getpid(), ctx.Attempt()); err != nil {
				return 0, err
			}
			if hang {
				select {} // until SIGKILL
			}
			return 0, nil
		}); err != nil {
			return nil, err
		}
		second, _, err := topic.Recv(ctx, 0)
		if err != nil {
			return nil, err
		}
		return []string{first, second}, nil
	})
	return w, []wf.Definition{w, topic, between}
}

func TestAMessageConsumedBeforeASIGKILLIsDeliveredOnceAfterTakeover(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `CREATE TABLE %s.executions (workflow_id text, step int, pid int, attempt int)`)
	w, _ := recvTwice(b.pool, b.schema, false)
	jobs := wf.NewTopic[string]("jobs")

	first := startHelper(t, "recv-twice", append(helperEnv(b.schema, "recv-victim"), helperBlockEnv+"=1")...)
	h, err := w.Enqueue(b.ctx, b.client, 0)
	require.NoError(t, err)
	// The worker suspends the workflow in its first Recv (it suspends every wait at once).
	require.Eventually(t, func() bool {
		st, err := h.Status(b.ctx)
		return err == nil && st.WaitingFor == "recv:jobs"
	}, 30*time.Second, 10*time.Millisecond)
	require.NoError(t, jobs.Send(b.ctx, b.client, h.ID(), "one"))
	// Woken, it consumed the message and hangs in the next step: kill it there.
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM %s.executions`) == 1
	}, 30*time.Second, 10*time.Millisecond, "the worker never received the message")
	require.NoError(t, jobs.Send(b.ctx, b.client, h.ID(), "two"))
	first.kill(t)
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.messages WHERE consumed_at IS NOT NULL`))

	// Another worker takes the workflow over once the victim's lease has expired.
	second := startHelper(t, "recv-twice", helperEnv(b.schema, "recv-heir")...)
	got, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"one", "two"}, got, "the first message was not delivered again, the second was delivered")
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM %s.messages WHERE consumed_at IS NOT NULL`))
	require.Equal(t, 2, b.count(t, `SELECT count(DISTINCT consumed_step) FROM %s.messages`))
	steps, err := b.client.Steps(b.ctx, h.ID())
	require.NoError(t, err)
	require.Len(t, steps, 5)
	require.Equal(t, "wf.recv:jobs", steps[1].Name)
	require.Equal(t, 2, steps[1].Attempt, "the first message was consumed by the run that was killed")
	require.Less(t, steps[1].Attempt, steps[4].Attempt, "and the second by the run that took over")
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM %s.executions`), "the step after the first Recv ran again after the kill, once")
	second.stop(t)
}

func TestAMessageSentWhileItsReceiverSuspendsIsNeverLost(t *testing.T) {
	t.Parallel()
	// Every Recv suspends as soon as it finds nothing, and waits an hour: a wake-up lost
	// between its look and its suspension would leave it asleep past the test's deadline.
	b := setup(t, wf.Config{SuspendAfter: -1})
	pokes := wf.NewTopic[int]("pokes")
	w := wf.NewWorkflow("poked", func(ctx wf.Context, n int) (int, error) {
		sum := 0
		for range n {
			v, ok, err := pokes.Recv(ctx, time.Hour)
			if err != nil {
				return 0, err
			}
			if !ok {
				return 0, errors.New("timed out")
			}
			sum += v
		}
		return sum, nil
	})
	b.start(t, w, pokes, wf.NewQueue(wf.DefaultQueue, wf.WorkerConcurrency(20)))
	const workflows, each = 30, 5
	hs, err := w.EnqueueMany(b.ctx, b.client, slices.Repeat([]int{each}, workflows))
	require.NoError(t, err)
	var wg sync.WaitGroup
	for k, h := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// Each message goes once the previous one is received: while the Recv that
				// waits for it looks, suspends, or sleeps suspended.
				for b.count(t, `SELECT count(*) FROM %s.messages WHERE destination_id = $1 AND consumed_at IS NOT NULL`, h.ID()) < i {
					time.Sleep(time.Millisecond)
				}
				// Every other one waits until its Recv has suspended: on a fast machine the
				// sends would otherwise always come before the receivers look, and no Recv
				// would suspend.
				for (k+i)%2 == 0 && b.count(t, `SELECT count(*) FROM %s.workflows WHERE id = $1 AND state = 'enqueued' AND waiting_for = 'recv:pokes'`, h.ID()) == 0 {
					time.Sleep(time.Millisecond)
				}
				require.NoError(t, pokes.Send(b.ctx, b.client, h.ID(), i+1))
			}
		}()
	}
	wg.Wait()
	for _, h := range hs {
		sum, err := h.Result(b.ctx)
		require.NoError(t, err)
		require.Equal(t, each*(each+1)/2, sum)
	}
	require.Positive(t, b.count(t, `SELECT count(*) FROM %s.workflows WHERE attempt > 1`), "no Recv suspended: the test tested nothing")
}

// The protocol that keeps a send from falling between a Recv's last look and its
// suspension, statement by statement: the checkpoint writer's batch locks the workflow's
// row (LockSuspending) and only then checks for a message, in WriteCheckpoints, whose
// snapshot follows the lock. A send that holds the row's lock when the suspension comes has
// its message seen; a send that comes after the suspension wakes the workflow.
// Deterministic, unlike racing real sends.
// runningWriter returns a checkpoint writer on the test's schema, running until the test
// ends, that begins the batches that suspend Recvs and Awaits with LockSuspending, as the
// client's does.
func runningWriter(t *testing.T, b *bundle) *checkpoint.Writer {
	t.Helper()
	rw := dbschema.NewRewriter(b.schema)
	w := checkpoint.New(b.queries(), checkpoint.Options{LockFirst: func(lock db.LockSuspendingParams) checkpoint.Querier {
		return db.New(rw.Wrap(dbschema.Prefixed(b.pool, rw.SQL(db.LockSuspendingSQL), db.LockSuspendingArgs(lock)...)))
	}})
	go w.Run()
	t.Cleanup(func() { w.Close(context.Background()) })
	return w
}

func TestARecvSuspensionAndASendNeverMissEachOther(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries, attempt, claim_token) VALUES
		('receiver', 'w', 'running', 'q', '{}', 1, 1, 7)`)
	rw := dbschema.NewRewriter(b.schema)
	w := runningWriter(t, b)
	suspend := func(attempt int32) *checkpoint.Pending {
		return w.SubmitSuspension(checkpoint.Suspension{
			WorkflowID: "receiver", Attempt: attempt, ClaimToken: 7, AvailableAt: time.Now().Add(time.Hour), WaitingFor: "recv:t", Topic: "t",
		})
	}

	// A send holds the row's lock, uncommitted, when the suspension comes: the suspension
	// waits for it, then sees its message, and does not suspend.
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer tx.Rollback(b.ctx) //nolint:errcheck // a no-op after Commit
	sent, err := db.New(rw.Wrap(tx)).SendMessage(b.ctx, db.SendMessageParams{DestinationID: "receiver", Topic: "t", Payload: []byte(`1`)})
	require.NoError(t, err)
	require.True(t, sent.Stored)
	require.Empty(t, sent.WokenQueue, "the receiver runs: nothing to wake")
	p := suspend(1)
	waitUntilBlockedBy(t, b, tx, "the suspension never waited for the send's lock")
	require.NoError(t, tx.Commit(b.ctx))
	applied, err := p.Wait(b.ctx)
	require.NoError(t, err)
	require.False(t, applied)
	require.True(t, p.Ready(), "the suspension saw the message the send committed while it waited")
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.workflows WHERE id = 'receiver' AND state = 'running'`))

	// Received, the message is consumed; the suspension then suspends, and the next send
	// wakes the workflow.
	b.exec(t, `UPDATE %s.messages SET consumed_at = now(), consumed_step = 1`)
	p = suspend(1)
	applied, err = p.Wait(b.ctx)
	require.NoError(t, err)
	require.True(t, applied)
	require.False(t, p.Ready())
	require.Equal(t, "q", p.Queue())
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.workflows WHERE id = 'receiver' AND state = 'enqueued' AND waiting_for = 'recv:t' AND available_at > now() + interval '50 minutes'`))
	sent, err = db.New(rw.Wrap(b.pool)).SendMessage(b.ctx, db.SendMessageParams{DestinationID: "receiver", Topic: "t", Payload: []byte(`2`)})
	require.NoError(t, err)
	require.Equal(t, "q", sent.WokenQueue, "a send after the suspension wakes the workflow")
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.workflows WHERE id = 'receiver' AND available_at <= now()`))

	// A suspension of an attempt that no longer owns the workflow writes nothing, even with
	// a message waiting, and does not say that one is.
	b.exec(t, `UPDATE %s.workflows SET state = 'running', attempt = 2 WHERE id = 'receiver'`)
	p = suspend(1)
	applied, err = p.Wait(b.ctx)
	require.NoError(t, err)
	require.False(t, applied)
	require.False(t, p.Ready())
}

// BenchmarkSendRecv measures a message's trip from a client's Send to a running workflow's
// Recv and back through the workflow's completion: ping-pong with one workflow at a time
// (latency), and 100 workflows receiving at once (throughput).
func BenchmarkSendRecv(b *testing.B) {
	for _, concurrent := range []int{1, 100} {
		b.Run(fmt.Sprintf("workflows=%d", concurrent), func(b *testing.B) {
			ctx := context.Background()
			c := wftest.NewClient(b, wf.Config{SuspendAfter: time.Minute})
			topic := wf.NewTopic[int]("bench")
			const per = 10
			w := wf.NewWorkflow("bench-recv", func(ctx wf.Context, _ int) (int, error) {
				sum := 0
				for range per {
					v, _, err := topic.Recv(ctx, 0)
					if err != nil {
						return 0, err
					}
					sum += v
				}
				return sum, nil
			})
			if err := c.Register(w, topic, wf.NewQueue(wf.DefaultQueue, wf.WorkerConcurrency(concurrent))); err != nil {
				b.Fatal(err)
			}
			wftest.Start(b, c)
			var elapsed time.Duration
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				hs, err := w.EnqueueMany(ctx, c, make([]int, concurrent))
				if err != nil {
					b.Fatal(err)
				}
				var wg sync.WaitGroup
				for _, h := range hs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range per {
							if err := topic.Send(ctx, c, h.ID(), i); err != nil {
								b.Error(err)
								return
							}
						}
						if _, err := h.Result(ctx); err != nil {
							b.Error(err)
						}
					}()
				}
				wg.Wait()
				elapsed += time.Since(start)
			}
			b.ReportMetric(float64(per*concurrent*b.N)/elapsed.Seconds(), "messages/s")
		})
	}
}

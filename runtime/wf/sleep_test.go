package wf_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/wf"
)

func TestAShortSleepWaitsInItsSlot(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{SuspendAfter: time.Minute})
	nap := wf.NewWorkflow("nap", func(ctx wf.Context, d time.Duration) (int, error) {
		if err := wf.Sleep(ctx, d); err != nil {
			return 0, err
		}
		return ctx.Attempt(), nil
	})
	b.start(t, nap)
	began := time.Now()
	h, err := nap.Enqueue(b.ctx, b.client, 50*time.Millisecond)
	require.NoError(t, err)
	attempt, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, attempt, "a sleep shorter than SuspendAfter does not leave its slot")
	require.GreaterOrEqual(t, time.Since(began), 50*time.Millisecond)
}

func TestALongSleepGivesItsSlotBackAndWakesOnceWhenDue(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{SuspendAfter: -1})
	var before, after atomic.Int32
	step := wf.NewStep[int]("count")
	var woke atomic.Int64
	nap := wf.NewWorkflow("long-nap", func(ctx wf.Context, d time.Duration) (int, error) {
		if _, err := step.Run(ctx, func(context.Context) (int, error) { return int(before.Add(1)), nil }); err != nil {
			return 0, err
		}
		if err := wf.Sleep(ctx, d); err != nil {
			return 0, err
		}
		woke.Store(time.Now().UnixNano())
		if _, err := step.Run(ctx, func(context.Context) (int, error) { return int(after.Add(1)), nil }); err != nil {
			return 0, err
		}
		return ctx.Attempt(), nil
	})
	// One slot: a suspended sleeper must free it for the next workflow.
	b.start(t, nap, step, wf.NewQueue(wf.DefaultQueue, wf.WorkerConcurrency(1)))
	sleeper, err := nap.Enqueue(b.ctx, b.client, 1500*time.Millisecond)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, err := sleeper.Status(b.ctx)
		return err == nil && st.WaitingFor == "sleep"
	}, 10*time.Second, 10*time.Millisecond)
	st, err := sleeper.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, wf.StateEnqueued, st.State)
	require.Empty(t, st.ExecutorID, "a suspended workflow belongs to no executor")

	// The slot is free: a short workflow runs while the first sleeps.
	quick, err := nap.Enqueue(b.ctx, b.client, 0)
	require.NoError(t, err)
	_, err = quick.Result(b.ctx)
	require.NoError(t, err)
	st, err = sleeper.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, wf.StateEnqueued, st.State, "the sleeper is still asleep while the other one ran")

	attempt, err := sleeper.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 2, attempt, "resumed by a second claim")
	require.False(t, time.Unix(0, woke.Load()).Before(st.AvailableAt), "woke before it was due")
	require.EqualValues(t, 2, before.Load(), "the step before the sleep ran once per workflow")
	require.EqualValues(t, 2, after.Load())
	st, err = sleeper.Status(b.ctx)
	require.NoError(t, err)
	require.Empty(t, st.WaitingFor)
	require.Equal(t, 3, st.StepsDone)
}

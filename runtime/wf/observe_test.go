package wf_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wftest"
)

func TestSchedulesListsEachRegisteredScheduleWithItsLastAndNextTick(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{ExecutorID: "sched-exec"})
	ticker := wf.NewWorkflow("nightly", func(ctx wf.Context, tick wf.Tick) (string, error) {
		return tick.Format(time.RFC3339), nil
	})
	nightly := wf.NewSchedule(ticker, "0 3 * * *", wf.ScheduleTimezone("Europe/Paris"), wf.ScheduleQueue("night"))
	before := time.Now()
	jan := time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC)
	feb := time.Date(2026, 2, 1, 2, 0, 0, 0, time.UTC)
	// Triggered out of order: the last tick is the latest by time, not the latest enqueued.
	_, err := nightly.Trigger(b.ctx, b.client, feb)
	require.NoError(t, err)
	_, err = nightly.Trigger(b.ctx, b.client, jan)
	require.NoError(t, err)

	none, err := b.client.Schedules(b.ctx)
	require.NoError(t, err)
	require.Empty(t, none, "a schedule is listed once an executor registered it")

	b.start(t, ticker, nightly)
	got, err := b.client.Schedules(b.ctx)
	require.NoError(t, err)
	require.Len(t, got, 1)
	s := got[0]
	require.Equal(t, "nightly", s.Workflow)
	require.Equal(t, "0 3 * * *", s.Spec)
	require.Equal(t, "Europe/Paris", s.Timezone)
	require.Equal(t, "night", s.Queue)
	require.Equal(t, []string{"sched-exec"}, s.ExecutorIDs)
	require.True(t, s.Alive)
	require.Equal(t, "nightly@2026-02-01T02:00:00Z", s.LastTickID)
	require.True(t, feb.Equal(s.LastTick), "last tick %v", s.LastTick)
	require.Contains(t, []wf.State{wf.StateEnqueued, wf.StateRunning, wf.StateSucceeded}, s.LastTickState)
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	next := s.NextTick.In(paris)
	require.True(t, next.After(before), "next tick %v is in the future", next)
	require.Equal(t, []int{3, 0, 0}, []int{next.Hour(), next.Minute(), next.Second()}, "next tick %v is at 03:00 in Paris", next)
	require.Less(t, next.Sub(before), 25*time.Hour)

	// A stopped executor's schedule is still listed for an hour, as not alive.
	require.NoError(t, b.client.Stop(b.ctx))
	got, err = b.client.Schedules(b.ctx)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.False(t, got[0].Alive)

	// The executor restarts without the schedule: it is forgotten.
	again := wftest.NewClient(t, wf.Config{Schema: b.schema, ExecutorID: "sched-exec"})
	require.NoError(t, again.Register(ticker))
	wftest.Start(t, again)
	got, err = again.Schedules(b.ctx)
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestQueueThroughputsCountsWorkflowsThatEndedInTheLastMinuteAndFiveMinutes(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	w := wf.NewWorkflow("tp.Job", func(ctx wf.Context, fail bool) (int, error) {
		if fail {
			return 0, errors.New("job failed")
		}
		return 1, nil
	}, wf.WorkflowQueue("tp"))
	b.start(t, w)
	var ids []string
	for _, fail := range []bool{false, false, false, true, true} {
		h, err := w.Enqueue(b.ctx, b.client, fail)
		require.NoError(t, err)
		_, _ = h.Result(b.ctx)
		ids = append(ids, h.ID())
	}
	// One success and one failure ended three minutes ago, one success ten minutes ago.
	b.exec(t, `UPDATE %s.workflows SET completed_at = now() - interval '3 minutes' WHERE id = ANY($1)`, []string{ids[0], ids[3]})
	b.exec(t, `UPDATE %s.workflows SET completed_at = now() - interval '10 minutes' WHERE id = $1`, ids[1])

	got, err := b.client.QueueThroughputs(b.ctx)
	require.NoError(t, err)
	require.Equal(t, []wf.QueueThroughput{{Queue: "tp", Finished1m: 2, Finished5m: 4, Failed5m: 2}}, got)
}

func TestWorkflowPayloadReturnsTheStoredInputAndOutput(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	type order struct {
		Item string `json:"item"`
		N    int    `json:"n"`
	}
	w := wf.NewWorkflow("payload.Order", func(ctx wf.Context, o order) (map[string]int, error) {
		if o.N < 0 {
			return nil, errors.New("negative count")
		}
		return map[string]int{o.Item: o.N}, nil
	})
	b.start(t, w)
	h, err := w.Enqueue(b.ctx, b.client, order{Item: "pen", N: 3})
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.NoError(t, err)
	p, err := b.client.WorkflowPayload(b.ctx, h.ID())
	require.NoError(t, err)
	require.JSONEq(t, `{"item":"pen","n":3}`, string(p.Input))
	require.JSONEq(t, `{"pen":3}`, string(p.Output))

	failed, err := w.Enqueue(b.ctx, b.client, order{Item: "pen", N: -1})
	require.NoError(t, err)
	_, err = failed.Result(b.ctx)
	require.Error(t, err)
	p, err = b.client.WorkflowPayload(b.ctx, failed.ID())
	require.NoError(t, err)
	require.JSONEq(t, `{"item":"pen","n":-1}`, string(p.Input))
	require.Nil(t, p.Output, "a failed workflow has no output")

	_, err = b.client.WorkflowPayload(b.ctx, "no-such-workflow")
	require.ErrorIs(t, err, wf.ErrNotFound)
}

func TestWorkflowActivityListsItsEventsStreamValuesAndMessages(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	stage := wf.NewEvent[string]("stage")
	lines := wf.NewStream[string]("lines")
	orders := wf.NewTopic[int]("orders")
	w := wf.NewWorkflow("activity.Talker", func(ctx wf.Context, _ int) (int, error) {
		if err := stage.Set(ctx, "started"); err != nil {
			return 0, err
		}
		if err := lines.Append(ctx, "one"); err != nil {
			return 0, err
		}
		if err := lines.Append(ctx, "two"); err != nil {
			return 0, err
		}
		if err := lines.Close(ctx); err != nil {
			return 0, err
		}
		n, ok, err := orders.Recv(ctx, time.Minute)
		if err != nil || !ok {
			return 0, errors.Join(err, errors.New("no order came"))
		}
		return n, stage.Set(ctx, "done")
	})
	b.start(t, w, stage, lines, orders)
	h, err := w.Enqueue(b.ctx, b.client, 0)
	require.NoError(t, err)
	require.NoError(t, orders.Send(b.ctx, b.client, h.ID(), 7))
	n, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 7, n)
	require.NoError(t, orders.Send(b.ctx, b.client, h.ID(), 8)) // never received

	a, err := b.client.WorkflowActivity(b.ctx, h.ID())
	require.NoError(t, err)
	require.Len(t, a.Events, 1)
	require.Equal(t, "stage", a.Events[0].Key)
	require.JSONEq(t, `"done"`, string(a.Events[0].Value))
	require.Equal(t, 2, a.Events[0].Version)

	require.Len(t, a.Streams, 3)
	require.JSONEq(t, `"one"`, string(a.Streams[0].Value))
	require.JSONEq(t, `"two"`, string(a.Streams[1].Value))
	require.Equal(t, []int{0, 1, 2}, []int{a.Streams[0].Offset, a.Streams[1].Offset, a.Streams[2].Offset})
	require.True(t, a.Streams[2].Closed)
	require.Nil(t, a.Streams[2].Value)

	require.Len(t, a.Messages, 2)
	require.Equal(t, "orders", a.Messages[0].Topic)
	require.JSONEq(t, `7`, string(a.Messages[0].Payload))
	require.False(t, a.Messages[0].ConsumedAt.IsZero())
	require.Positive(t, a.Messages[0].ConsumedStep)
	require.JSONEq(t, `8`, string(a.Messages[1].Payload))
	require.True(t, a.Messages[1].ConsumedAt.IsZero())

	empty, err := b.client.WorkflowActivity(b.ctx, "no-such-workflow")
	require.NoError(t, err)
	require.Equal(t, wf.WorkflowActivity{}, empty)
}

package wf_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wftest"
)

type progress struct {
	Done  int `json:"done"`
	Total int `json:"total"`
}

// reader returns a client on the test's schema that never starts, like an API server: what
// it reads and waits for comes from the worker through the database and its notifications.
func reader(t *testing.T, b *bundle) *wf.Client {
	t.Helper()
	c, err := wf.NewClient(b.pool, wf.Config{Schema: b.schema, Logger: wftest.Logger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Stop(context.Background())) })
	return c
}

// gate is a step that blocks its workflow until the test opens it.
type gate struct {
	step   *wf.Step[int]
	opened chan struct{}
	once   sync.Once
}

func newGate(name string) *gate {
	return &gate{step: wf.NewStep[int](name), opened: make(chan struct{})}
}

func (g *gate) pass(ctx wf.Context) error {
	_, err := g.step.Run(ctx, func(sctx context.Context) (int, error) {
		select {
		case <-g.opened:
			return 0, nil
		case <-sctx.Done():
			return 0, sctx.Err()
		}
	})
	return err
}

func (g *gate) open() { g.once.Do(func() { close(g.opened) }) }

func TestAnotherClientReadsTheLatestEventAndWaitsForOneSetLater(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	prog := wf.NewEvent[progress]("progress")
	url := wf.NewEvent[string]("report-url")
	g := newGate("hold")
	w := wf.NewWorkflow("report", func(ctx wf.Context, total int) (string, error) {
		for done := 1; done <= total; done++ {
			if err := prog.Set(ctx, progress{Done: done, Total: total}); err != nil {
				return "", err
			}
		}
		if err := g.pass(ctx); err != nil {
			return "", err
		}
		if err := url.Set(ctx, "https://example.com/r/1"); err != nil {
			return "", err
		}
		return "ok", nil
	})
	b.start(t, w, prog, url, g.step)
	api := reader(t, b)
	require.NoError(t, api.Register(prog, url))

	h, err := w.Enqueue(b.ctx, api, 3)
	require.NoError(t, err)
	// The first value set wakes a waiter; by the time it reads, later ones may be there.
	first, err := prog.Wait(b.ctx, api, h.ID())
	require.NoError(t, err)
	require.Equal(t, 3, first.Total)
	require.Eventually(t, func() bool {
		p, ok, err := prog.Get(b.ctx, api, h.ID())
		return err == nil && ok && p == progress{Done: 3, Total: 3}
	}, 10*time.Second, 10*time.Millisecond)

	// The URL is set only once the gate opens: Get does not wait, Wait does.
	_, ok, err := url.Get(b.ctx, api, h.ID())
	require.NoError(t, err)
	require.False(t, ok, "not set yet")
	got := make(chan string, 1)
	waitErr := make(chan error, 1)
	go func() {
		v, err := url.Wait(b.ctx, api, h.ID())
		waitErr <- err
		got <- v
	}()
	g.open()
	require.NoError(t, <-waitErr)
	require.Equal(t, "https://example.com/r/1", <-got)
	_, err = h.Result(b.ctx)
	require.NoError(t, err)

	// Each Set wrote once: the version counts three progress values.
	require.Equal(t, 3, b.count(t, `SELECT version FROM %s.events WHERE workflow_id = $1 AND key = 'progress'`, h.ID()))
	// Readable from SQL too.
	require.Equal(t, 3, b.count(t, `SELECT (value->>'done')::int FROM %s.events WHERE workflow_id = $1 AND key = 'progress'`, h.ID()))
}

func TestAnEventSetBeforeAnInterruptionIsNotWrittenAgainWhenTheWorkflowReplays(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{ExecutorID: "replaying"})
	prog := wf.NewEvent[int]("stage")
	entered := make(chan struct{}, 1)
	hold := wf.NewStep[int]("hold")
	define := func(block bool) *wf.Workflow[int, int] {
		return wf.NewWorkflow("staged", func(ctx wf.Context, _ int) (int, error) {
			if err := prog.Set(ctx, 1); err != nil {
				return 0, err
			}
			if _, err := hold.Run(ctx, func(sctx context.Context) (int, error) {
				if block {
					entered <- struct{}{}
					<-sctx.Done()
					return 0, sctx.Err()
				}
				return 0, nil
			}); err != nil {
				return 0, err
			}
			return 0, prog.Set(ctx, 2)
		})
	}
	w := define(true)
	require.NoError(t, b.client.Register(w, prog, hold))
	require.NoError(t, b.client.Start(b.ctx))
	h, err := w.Start(b.ctx, b.client, 0)
	require.NoError(t, err)
	<-entered
	stopCtx, cancel := context.WithTimeout(b.ctx, 50*time.Millisecond)
	defer cancel()
	_ = b.client.Stop(stopCtx) // interrupts the workflow in "hold"

	// The same executor comes back and replays: the first Set is recorded, and passes.
	again := wftest.NewClient(t, wf.Config{Schema: b.schema, ExecutorID: "replaying"})
	w2 := define(false)
	require.NoError(t, again.Register(w2, prog, hold))
	wftest.Start(t, again)
	_, err = w2.Get(again, h.ID()).Result(b.ctx)
	require.NoError(t, err)
	v, ok, err := prog.Get(b.ctx, again, h.ID())
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 2, v)
	require.Equal(t, 2, b.count(t, `SELECT version FROM %s.events WHERE workflow_id = $1`, h.ID()),
		"two Sets, each written once, though the workflow ran twice")
	steps, err := again.Steps(b.ctx, h.ID())
	require.NoError(t, err)
	require.Len(t, steps, 3)
	require.Equal(t, "wf.event:stage", steps[0].Name)
	require.Equal(t, "wf.event:stage", steps[2].Name)
}

func TestAnEventWriteThatCommittedUnseenIsNotWrittenAgain(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	ev := wf.NewEvent[string]("state")
	g := newGate("hold")
	w := wf.NewWorkflow("unseen", func(ctx wf.Context, _ int) (int, error) {
		if err := g.pass(ctx); err != nil {
			return 0, err
		}
		if err := ev.Set(ctx, "mine"); err != nil {
			return 0, err
		}
		return ctx.Attempt(), nil
	})
	b.start(t, w, ev, g.step)
	h, err := w.Enqueue(b.ctx, b.client, 0, wf.WithID("unseen-1"))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, err := h.Status(b.ctx)
		return err == nil && st.State == wf.StateRunning
	}, 10*time.Second, 10*time.Millisecond)
	// What a Set leaves behind when it commits and its connection drops before the answer
	// arrives: its step at ID 2 and the event, under the running attempt.
	b.exec(t, `INSERT INTO %[1]s.steps (workflow_id, step_id, name, output, attempt, tries, started_at)
		SELECT id, 2, 'wf.event:state', '{}', attempt, 1, now() FROM %[1]s.workflows WHERE id = 'unseen-1'`)
	b.exec(t, `INSERT INTO %s.events (workflow_id, key, value) VALUES ('unseen-1', 'state', '"mine"')`)
	g.open()
	attempt, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, attempt, "the execution replayed in place")
	require.Equal(t, 1, b.count(t, `SELECT version FROM %s.events WHERE workflow_id = 'unseen-1'`),
		"the Set found its step recorded and wrote nothing")
}

func TestWaitingForAnEventOfAWorkflowThatFinishedWithoutSettingItSaysSo(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	never := wf.NewEvent[int]("never")
	w := wf.NewWorkflow("silent", func(ctx wf.Context, _ int) (int, error) { return 1, nil })
	b.start(t, w, never)
	api := reader(t, b)
	h, err := w.Enqueue(b.ctx, api, 0)
	require.NoError(t, err)
	_, err = never.Wait(b.ctx, api, h.ID())
	require.ErrorContains(t, err, fmt.Sprintf("workflow %s is succeeded and never set event \"never\"", h.ID()))
	_, ok, err := never.Get(b.ctx, api, h.ID())
	require.NoError(t, err)
	require.False(t, ok)

	_, _, err = never.Get(b.ctx, api, "no-such-workflow")
	require.ErrorIs(t, err, wf.ErrNotFound)
	_, err = never.Wait(b.ctx, api, "no-such-workflow")
	require.ErrorIs(t, err, wf.ErrNotFound)
}

func TestWaitForAnEventEndsWithItsContext(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	later := wf.NewEvent[int]("later")
	g := newGate("hold")
	w := wf.NewWorkflow("slow-publisher", func(ctx wf.Context, _ int) (int, error) {
		if err := g.pass(ctx); err != nil {
			return 0, err
		}
		return 0, later.Set(ctx, 7)
	})
	b.start(t, w, later, g.step)
	t.Cleanup(g.open)
	h, err := w.Enqueue(b.ctx, b.client, 0)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(b.ctx, 100*time.Millisecond)
	defer cancel()
	_, err = later.Wait(ctx, b.client, h.ID())
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestEventsOfOneKeyWithTwoTypesAreRefusedAtRegistration(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	err := b.client.Register(wf.NewEvent[int]("progress"), wf.NewEvent[string]("progress"))
	require.ErrorContains(t, err, `event "progress" registered with two value types, int and string`)
	require.NoError(t, b.client.Register(wf.NewEvent[int]("count"), wf.NewEvent[int]("count")), "the same type twice is fine")
	require.PanicsWithValue(t, "wf: NewEvent: empty key", func() { wf.NewEvent[int]("") })
}

func TestAnEventValueOfAnotherTypeIsAClearError(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	asText := wf.NewEvent[string]("mixed")
	asNumber := wf.NewEvent[int]("mixed")
	w := wf.NewWorkflow("mixer", func(ctx wf.Context, _ int) (int, error) { return 0, asText.Set(ctx, "text") })
	b.start(t, w, asText)
	h, err := w.Enqueue(b.ctx, b.client, 0)
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.NoError(t, err)
	_, _, err = asNumber.Get(b.ctx, b.client, h.ID())
	var ce *wf.CodecError
	require.ErrorAs(t, err, &ce)
	require.True(t, ce.Decode)
	require.ErrorContains(t, err, fmt.Sprintf(`event "mixed" of workflow %s does not decode as int`, h.ID()))
}

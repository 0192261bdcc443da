package wf_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/internal/gopool"
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

// sleeper records the time its step after a sleep of 1.5s runs, in the executions table.
func sleeper(pool *pgxpool.Pool, schema string) (*wf.Workflow[int, time.Time], []wf.Definition) {
	after := wf.NewStep[time.Time]("after-sleep")
	w := wf.NewWorkflow("sleeper", func(ctx wf.Context, n int) (time.Time, error) {
		if err := wf.Sleep(ctx, 1500*time.Millisecond); err != nil {
			return time.Time{}, err
		}
		return after.Run(ctx, func(sctx context.Context) (time.Time, error) {
			var at time.Time
			err := pool.QueryRow(sctx, fmt.Sprintf(`INSERT INTO %s.executions (workflow_id, step, pid) VALUES ($1, 2, $2) RETURNING at`, schema),
				ctx.WorkflowID(), os.Getpid()).Scan(&at)
			return at, err
		})
	})
	return w, []wf.Definition{after, w}
}

func sleeperRole(pool *pgxpool.Pool, schema string, cfg *wf.Config) []wf.Definition {
	cfg.SuspendAfter = time.Hour // asleep in its slot: the kill catches it there
	cfg.LeaseDuration, cfg.HeartbeatInterval = testLease, countedHeartbeat
	_, defs := sleeper(pool, schema)
	return defs
}

func TestAWorkflowAsleepWhenItsWorkerIsKilledWakesOnceOnTime(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `CREATE TABLE %s.executions (workflow_id text, step int, pid int, at timestamptz DEFAULT clock_timestamp())`)
	w, _ := sleeper(b.pool, b.schema)
	first := startHelper(t, "sleeper", helperSchemaEnv+"="+b.schema, helperExecutorEnv+"=sleeper-1")
	h, err := w.Enqueue(b.ctx, b.client, 1)
	require.NoError(t, err)
	// Asleep once its wake-up time is recorded.
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM %s.steps WHERE workflow_id = $1 AND name = 'wf.sleep'`, h.ID()) == 1
	}, 30*time.Second, 10*time.Millisecond)
	first.kill(t)

	// Another replica takes it over once the lease expires, and it sleeps only what is left.
	second := startHelper(t, "sleeper", helperSchemaEnv+"="+b.schema, helperExecutorEnv+"=sleeper-2")
	woke, err := h.Result(b.ctx)
	require.NoError(t, err)
	var due time.Time
	require.NoError(t, b.pool.QueryRow(b.ctx, fmt.Sprintf(`SELECT (output #>> '{}')::timestamptz FROM %s.steps WHERE workflow_id = $1 AND name = 'wf.sleep'`, b.schema), h.ID()).Scan(&due))
	require.False(t, woke.Before(due), "woke at %s, before its recorded wake-up time %s", woke, due)
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.executions WHERE workflow_id = $1`, h.ID()), "the step after the sleep ran once")
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 2, st.Attempt)
	second.stop(t)
}

func TestTenThousandSleepingWorkflowsHoldNoSlotAndNoGoroutine(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{SuspendAfter: -1})
	// Ten thousand claims, steps and suspensions take a while under the race detector.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	b.ctx = ctx
	nap := wf.NewWorkflow("hour-nap", func(ctx wf.Context, n int) (int, error) {
		if err := wf.Sleep(ctx, time.Hour); err != nil {
			return 0, err
		}
		return n, nil
	})
	b.start(t, nap, wf.NewQueue(wf.DefaultQueue, wf.WorkerConcurrency(100)))
	// Let the client's own goroutines settle before counting.
	_, err := nap.Enqueue(b.ctx, b.client, -1)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM %s.workflows WHERE waiting_for = 'sleep'`) == 1
	}, 30*time.Second, 10*time.Millisecond)
	baseline := goroutinesSettled()

	const n = 10_000
	ins := make([]int, n)
	for i := range ins {
		ins[i] = i
	}
	_, err = nap.EnqueueMany(b.ctx, b.client, ins)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM %s.workflows WHERE waiting_for = 'sleep' AND state = 'enqueued'`) == n+1
	}, 3*time.Minute, 50*time.Millisecond)
	depths, err := b.client.QueueDepths(b.ctx)
	require.NoError(t, err)
	require.Len(t, depths, 1)
	require.Equal(t, 0, depths[0].Running, "no workflow holds a slot")
	require.Equal(t, n+1, depths[0].Delayed, "every one waits in its queue until it is due")
	after := goroutinesSettled()
	t.Logf("goroutines: %d before the 10,000 sleepers, %d with them asleep", baseline, after)
	require.Less(t, after-baseline, 100, "sleeping workflows hold goroutines")
}

// goroutinesSettled counts goroutines once the count stops falling (finished executions and
// timers unwind, and the goroutines kept for the next executions exit idle).
func goroutinesSettled() int {
	time.Sleep(gopool.IdleTimeout)
	n := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m >= n {
			return m
		}
		n = m
	}
	return n
}

func TestASuspendedWorkflowTimesOutAtItsDeadlineNotAtItsWakeUp(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{SuspendAfter: -1})
	nap := wf.NewWorkflow("nap-past-deadline", func(ctx wf.Context, n int) (int, error) {
		if err := wf.Sleep(ctx, time.Hour); err != nil {
			return 0, err
		}
		return n, nil
	})
	b.start(t, nap)
	h, err := nap.Enqueue(b.ctx, b.client, 1, wf.WithTimeout(300*time.Millisecond))
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.ErrorIs(t, err, wf.ErrTimeout)
}

func TestASuspensionFromAnAttemptThatLostItsWorkflowIsRefused(t *testing.T) {
	t.Parallel()
	logger, logs := recordLogs(t)
	b := setup(t, wf.Config{SuspendAfter: 300 * time.Millisecond, Logger: logger})
	nap := wf.NewWorkflow("fenced-nap", func(ctx wf.Context, n int) (int, error) {
		if err := wf.Sleep(ctx, time.Hour); err != nil {
			return 0, err
		}
		return n, nil
	})
	b.start(t, nap)
	h, err := nap.Enqueue(b.ctx, b.client, 1)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM %s.steps WHERE workflow_id = $1 AND name = 'wf.sleep'`, h.ID()) == 1
	}, 10*time.Second, 5*time.Millisecond)
	// While it waits in its slot, another executor claims the workflow (its notification
	// never comes here): the suspension this attempt then writes must be refused.
	b.exec(t, `UPDATE %s.workflows SET attempt = attempt + 1, executor_id = 'another' WHERE id = $1`, h.ID())
	require.Eventually(t, func() bool {
		for _, r := range logs.find(slog.LevelInfo, "wfgen: stopped a workflow execution whose checkpoint was refused") {
			if r["workflow_id"] == h.ID() {
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond)
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, wf.StateRunning, st.State, "the other executor's workflow is left as it was")
	require.Equal(t, 2, st.Attempt)
	require.Equal(t, "another", st.ExecutorID)
	require.Empty(t, st.WaitingFor)
}

func TestAWorkflowAsleepInItsSlotWhenItsWorkerStopsIsHandedBackAndWakesOnce(t *testing.T) {
	t.Parallel()
	var after atomic.Int32
	step := wf.NewStep[int]("after-nap")
	nap := wf.NewWorkflow("stopped-nap", func(ctx wf.Context, n int) (int, error) {
		if err := wf.Sleep(ctx, time.Second); err != nil {
			return 0, err
		}
		return step.Run(ctx, func(context.Context) (int, error) { return int(after.Add(1)), nil })
	})
	b := setup(t, wf.Config{SuspendAfter: time.Hour, ExecutorID: "first"})
	b.start(t, nap, step)
	h, err := nap.Enqueue(b.ctx, b.client, 1)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM %s.steps WHERE workflow_id = $1 AND name = 'wf.sleep'`, h.ID()) == 1
	}, 10*time.Second, 5*time.Millisecond)
	// A graceful stop that does not wait out the sleep interrupts it and hands the workflow
	// back to its queue at once.
	stopCtx, cancel := context.WithTimeout(b.ctx, 50*time.Millisecond)
	defer cancel()
	require.Error(t, b.client.Stop(stopCtx))
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, wf.StateEnqueued, st.State, "handed back, not left running")

	second, err := wf.NewClient(b.pool, wf.Config{Schema: b.schema, ExecutorID: "second", SuspendAfter: time.Hour})
	require.NoError(t, err)
	require.NoError(t, second.Register(nap, step))
	require.NoError(t, second.Start(b.ctx))
	t.Cleanup(func() { _ = second.Stop(context.Background()) })
	n, err := nap.Get(second, h.ID()).Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the step after the sleep ran once")
	st, err = h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, "second", st.ExecutorID)
	var due time.Time
	require.NoError(t, b.pool.QueryRow(b.ctx, fmt.Sprintf(`SELECT (output #>> '{}')::timestamptz FROM %s.steps WHERE workflow_id = $1 AND name = 'wf.sleep'`, b.schema), h.ID()).Scan(&due))
	require.False(t, st.CompletedAt.Before(due), "completed at %s, before its wake-up time %s", st.CompletedAt, due)
}

func TestSleepersComingDueTogetherResumeFromTheirOwnHistories(t *testing.T) {
	t.Parallel()
	// Workflows that resume together are claimed together, and their histories read in one
	// statement: each must replay its own steps, never run them again, and never another's.
	b := setup(t, wf.Config{SuspendAfter: -1})
	var mu sync.Mutex
	calls := map[int]int{}
	first := wf.NewStep[int]("before-nap")
	second := wf.NewStep[string]("after-nap")
	nap := wf.NewWorkflow("together-nap", func(ctx wf.Context, n int) (string, error) {
		v, err := first.Run(ctx, func(context.Context) (int, error) {
			mu.Lock()
			calls[n]++
			mu.Unlock()
			return 10 * n, nil
		})
		if err != nil {
			return "", err
		}
		// Long enough to be recorded before it is over, on a loaded machine too: with 300ms,
		// 2 of 300 naps were over by then (four race suites side by side), and a nap that is
		// over does not suspend.
		if err := wf.Sleep(ctx, time.Second); err != nil {
			return "", err
		}
		return second.Run(ctx, func(context.Context) (string, error) { return fmt.Sprintf("%d:%d", n, v), nil })
	})
	b.start(t, first, second, nap, wf.NewQueue(wf.DefaultQueue, wf.WorkerConcurrency(100)))
	const n = 300
	ins := make([]int, n)
	for i := range ins {
		ins[i] = i
	}
	hs, err := nap.EnqueueMany(b.ctx, b.client, ins)
	require.NoError(t, err)
	for i, h := range hs {
		out, err := h.Result(b.ctx)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("%d:%d", i, 10*i), out)
		st, err := h.Status(b.ctx)
		require.NoError(t, err)
		require.Equal(t, 2, st.Attempt, "workflow %d was suspended once and resumed once", i)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		require.Equal(t, 1, calls[i], "the step before the nap of workflow %d ran again", i)
	}
}

package wf_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wftest"
)

// blockingWorkflow runs steps "a" and "b", then blocks in "c" until its context ends.
func blockingWorkflow(name string, entered chan<- struct{}, runs *sync.Map) (*wf.Workflow[int, int], []wf.Definition) {
	a, b, c := wf.NewStep[int]("a"), wf.NewStep[int]("b"), wf.NewStep[int]("c")
	count := func(step string) {
		v, _ := runs.LoadOrStore(step, new(atomic.Int32))
		v.(*atomic.Int32).Add(1)
	}
	w := wf.NewWorkflow(name, func(ctx wf.Context, in int) (int, error) {
		x, err := a.Run(ctx, func(context.Context) (int, error) { count("a"); return in + 1, nil })
		if err != nil {
			return 0, err
		}
		y, err := b.Run(ctx, func(context.Context) (int, error) { count("b"); return x * 10, nil })
		if err != nil {
			return 0, err
		}
		return c.Run(ctx, func(sctx context.Context) (int, error) {
			count("c")
			if entered != nil {
				entered <- struct{}{}
				<-sctx.Done()
				return 0, sctx.Err()
			}
			return y + 1, nil
		})
	})
	return w, []wf.Definition{w, a, b, c}
}

func runsOf(runs *sync.Map, step string) int {
	v, ok := runs.Load(step)
	if !ok {
		return 0
	}
	return int(v.(*atomic.Int32).Load())
}

func TestStopInterruptsAStepWhichRunsAgainOnRecoveryAndNothingElseDoes(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{ExecutorID: "restarting"})
	entered := make(chan struct{}, 1)
	var runs sync.Map
	w, defs := blockingWorkflow("interruptible", entered, &runs)
	require.NoError(t, b.client.Register(defs...))
	require.NoError(t, b.client.Start(b.ctx))
	h, err := w.Start(b.ctx, b.client, 4)
	require.NoError(t, err)
	<-entered
	stopCtx, cancel := context.WithTimeout(b.ctx, 50*time.Millisecond)
	defer cancel()
	require.ErrorContains(t, b.client.Stop(stopCtx), "1 workflows still running were interrupted")
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, wf.StateEnqueued, st.State, "Stop hands an interrupted workflow back to its queue")
	steps, err := b.client.Steps(b.ctx, h.ID())
	require.NoError(t, err)
	require.Len(t, steps, 2, "steps a and b are recorded; the interrupted c is not")

	// The same executor comes back (a restart) and finishes the workflow.
	w2, defs2 := blockingWorkflow("interruptible", nil, &runs)
	again := wftest.NewClient(t, wf.Config{Schema: b.schema, ExecutorID: "restarting"})
	require.NoError(t, again.Register(defs2...))
	wftest.Start(t, again)
	out, err := w2.Get(again, h.ID()).Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 51, out)
	require.Equal(t, 1, runsOf(&runs, "a"))
	require.Equal(t, 1, runsOf(&runs, "b"))
	require.Equal(t, 2, runsOf(&runs, "c"))
}

func TestNonDeterminismStopsTheWorkflowNamingWhatDiffers(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{ExecutorID: "changing"})
	entered := make(chan struct{}, 1)
	var runs sync.Map
	w, defs := blockingWorkflow("evolving", entered, &runs)
	require.NoError(t, b.client.Register(defs...))
	require.NoError(t, b.client.Start(b.ctx))
	h, err := w.Start(b.ctx, b.client, 1, wf.WithID("evolving-1"))
	require.NoError(t, err)
	<-entered
	stopCtx, cancel := context.WithTimeout(b.ctx, 50*time.Millisecond)
	defer cancel()
	_ = b.client.Stop(stopCtx)

	// The code changed while the workflow was interrupted: step 2 is now "audit".
	a, audit := wf.NewStep[int]("a"), wf.NewStep[int]("audit")
	var auditRan atomic.Bool
	changed := wf.NewWorkflow("evolving", func(ctx wf.Context, in int) (int, error) {
		if _, err := a.Run(ctx, func(context.Context) (int, error) { return 0, nil }); err != nil {
			return 0, err
		}
		// Even code that swallows the error cannot complete the workflow.
		_, _ = audit.Run(ctx, func(context.Context) (int, error) { auditRan.Store(true); return 0, nil })
		return 99, nil
	})
	again := wftest.NewClient(t, wf.Config{Schema: b.schema, ExecutorID: "changing"})
	require.NoError(t, again.Register(changed, a, audit))
	wftest.Start(t, again)
	_, err = changed.Get(again, h.ID()).Result(b.ctx)
	var nd *wf.NonDeterminismError
	require.ErrorAs(t, err, &nd)
	require.Equal(t, wf.NonDeterminismError{WorkflowID: "evolving-1", StepID: 2, Expected: "audit", Recorded: "b"}, *nd)
	require.Contains(t, err.Error(), `at step 2: the code called step "audit" but the recorded history has "b"`)
	require.False(t, auditRan.Load())
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, wf.StateFailed, st.State)
}

func TestReplicasMigratingTogetherApplyEachMigrationOnce(t *testing.T) {
	t.Parallel()
	schema := wftest.Schema(t)
	pool := wftest.Pool(t)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := wf.NewClient(pool, wf.Config{Schema: schema})
			if err == nil {
				_, err = c.Migrate(context.Background())
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	var applied, distinct int
	require.NoError(t, pool.QueryRow(context.Background(),
		fmt.Sprintf(`SELECT count(*), count(DISTINCT version) FROM %s.migrations`, schema)).Scan(&applied, &distinct))
	require.Equal(t, distinct, applied)
	require.GreaterOrEqual(t, applied, 1)
}

func TestAnUnmigratedSchemaSaysHowToMigrate(t *testing.T) {
	t.Parallel()
	c, err := wf.NewClient(wftest.Pool(t), wf.Config{Schema: wftest.Schema(t)})
	require.NoError(t, err)
	w := wf.NewWorkflow("w", func(ctx wf.Context, _ struct{}) (int, error) { return 1, nil })
	_, err = w.Enqueue(context.Background(), c, struct{}{})
	require.ErrorIs(t, err, wf.ErrNotMigrated)
	require.ErrorContains(t, err, "wfgen migrate")
}

func TestBadConfigIsRefusedNamingTheField(t *testing.T) {
	t.Parallel()
	_, err := wf.NewClient(wftest.Pool(t), wf.Config{Schema: "Bad-Name"})
	require.ErrorContains(t, err, "Config.Schema")
	_, err = wf.NewClient(nil, wf.Config{})
	require.ErrorContains(t, err, "pgxpool.Pool")
}

func TestAClosedPoolGivesErrPoolClosed(t *testing.T) {
	t.Parallel()
	schema := wftest.Schema(t)
	pool, err := pgxpool.New(context.Background(), wftest.Pool(t).Config().ConnString())
	require.NoError(t, err)
	c, err := wf.NewClient(pool, wf.Config{Schema: schema})
	require.NoError(t, err)
	_, err = c.Migrate(context.Background())
	require.NoError(t, err)
	w := wf.NewWorkflow("w", func(ctx wf.Context, _ struct{}) (int, error) { return 1, nil })
	h, err := w.Enqueue(context.Background(), c, struct{}{})
	require.NoError(t, err)
	pool.Close()
	_, err = w.Enqueue(context.Background(), c, struct{}{})
	require.ErrorIs(t, err, wf.ErrPoolClosed)
	require.ErrorContains(t, err, "Client.Stop")
	_, err = h.Result(context.Background())
	require.ErrorIs(t, err, wf.ErrPoolClosed)
}

func TestACancelledCallerContextStoresNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	w := wf.NewWorkflow("w", func(ctx wf.Context, _ struct{}) (int, error) { return 1, nil })
	ctx, cancel := context.WithCancel(b.ctx)
	cancel()
	_, err := w.Enqueue(ctx, b.client, struct{}{}, wf.WithID("not-stored"))
	require.ErrorIs(t, err, context.Canceled)
	_, err = w.Get(b.client, "not-stored").Status(b.ctx)
	require.ErrorIs(t, err, wf.ErrNotFound)
}

// victimClient returns a client (cfg, on the test's schema) on a pool of its own, so that
// killing its connections touches nobody else, and kill, which terminates every connection
// of that pool and returns how many it terminated.
func victimClient(t *testing.T, b *bundle, cfg wf.Config) (*wf.Client, func() int) {
	t.Helper()
	pc := b.pool.Config().Copy()
	victim := "victim_" + b.schema
	pc.ConnConfig.RuntimeParams["application_name"] = victim
	pool, err := pgxpool.NewWithConfig(b.ctx, pc)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	cfg.Schema, cfg.Logger = b.schema, wftest.Logger(t)
	c, err := wf.NewClient(pool, cfg)
	require.NoError(t, err)
	return c, func() int {
		var killed int
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE application_name = $1`, victim).Scan(&killed))
		return killed
	}
}

func TestWorkflowsSurviveTheirDatabaseConnectionsBeingKilled(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	c, kill := victimClient(t, b, wf.Config{PollInterval: 20 * time.Millisecond})

	const workflows, steps = 40, 8
	var stepRuns sync.Map // "workflow/step" -> runs
	var defs []wf.Definition
	var ss []*wf.Step[int]
	for i := range steps {
		s := wf.NewStep[int](fmt.Sprintf("s%d", i))
		ss = append(ss, s)
		defs = append(defs, s)
	}
	w := wf.NewWorkflow("resilient", func(ctx wf.Context, in int) (int, error) {
		acc := in
		for i, s := range ss {
			var err error
			acc, err = s.Run(ctx, func(context.Context) (int, error) {
				v, _ := stepRuns.LoadOrStore(fmt.Sprintf("%s/%d", ctx.WorkflowID(), i), new(atomic.Int32))
				v.(*atomic.Int32).Add(1)
				time.Sleep(15 * time.Millisecond)
				return acc + i, nil
			})
			if err != nil {
				return 0, err
			}
		}
		return acc, nil
	})
	require.NoError(t, c.Register(append(defs, w)...))
	wftest.Start(t, c)

	ins := make([]int, workflows)
	for i := range ins {
		ins[i] = i
	}
	hs, err := w.EnqueueMany(b.ctx, c, ins)
	require.NoError(t, err)

	// Kill every backend of the worker's pool, a few times, while the workflows run.
	total := 0
	for range 4 {
		time.Sleep(30 * time.Millisecond)
		total += kill()
	}
	require.Positive(t, total, "no connection was killed: the test tested nothing")
	for i, h := range hs {
		out, err := h.Result(b.ctx)
		require.NoError(t, err)
		require.Equal(t, i+steps*(steps-1)/2, out)
	}
	// No step recorded as completed ran twice: count runs per step against what is recorded.
	for _, h := range hs {
		recorded, err := c.Steps(b.ctx, h.ID())
		require.NoError(t, err)
		require.Len(t, recorded, steps)
		for _, s := range recorded {
			v, _ := stepRuns.Load(fmt.Sprintf("%s/%d", h.ID(), s.ID-1))
			runs := int(v.(*atomic.Int32).Load())
			// A step runs again only if the connection died while its checkpoint was in
			// flight; it then ran at most twice, and the record says which attempt won.
			require.LessOrEqual(t, runs, 2, "step %d of %s", s.ID, h.ID())
		}
	}
}

// Every message is received exactly once, in order, while the receivers' database
// connections are killed: each Recv's consume rides in a checkpoint batch (retried when its
// connection dies, and found recorded when the commit got through unseen), and every wait
// suspends at once, so that the batches that suspend Recvs are cut too.
func TestMessagesAreReceivedOnceWhileTheReceiversConnectionsAreKilled(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	c, kill := victimClient(t, b, wf.Config{PollInterval: 20 * time.Millisecond, SuspendAfter: -1})

	const workflows, messages = 20, 10
	numbers := wf.NewTopic[int]("numbers")
	w := wf.NewWorkflow("receiver", func(ctx wf.Context, _ int) ([]int, error) {
		var got []int
		for range messages {
			v, ok, err := numbers.Recv(ctx, time.Hour)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, errors.New("timed out")
			}
			got = append(got, v)
		}
		return got, nil
	})
	require.NoError(t, c.Register(w, numbers))
	wftest.Start(t, c)
	hs, err := w.EnqueueMany(b.ctx, c, make([]int, workflows))
	require.NoError(t, err)

	// The sends go through the test's own client, whose connections live.
	var wg sync.WaitGroup
	for _, h := range hs {
		wg.Go(func() {
			for i := range messages {
				require.NoError(t, numbers.Send(b.ctx, b.client, h.ID(), i))
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	// Kill the receivers' connections every 50 ms until they are all done.
	total, rounds := 0, 0
	for b.count(t, `SELECT count(*) FROM %s.workflows WHERE state = 'succeeded'`) < workflows && rounds < 200 {
		time.Sleep(50 * time.Millisecond)
		total += kill()
		rounds++
	}
	wg.Wait()
	require.Positive(t, total, "no connection was killed: the test tested nothing")
	t.Logf("%d connections killed in %d rounds", total, rounds)

	want := make([]int, messages)
	for i := range want {
		want[i] = i
	}
	for _, h := range hs {
		got, err := h.Result(b.ctx)
		require.NoError(t, err)
		require.Equal(t, want, got, "every message once, in send order")
	}
	require.Equal(t, workflows*messages, b.count(t, `SELECT count(*) FROM %s.messages WHERE consumed_at IS NOT NULL`))
	require.Equal(t, workflows*messages, b.count(t, `SELECT count(DISTINCT (destination_id, consumed_step)) FROM %s.messages`),
		"each message consumed by a step of its own")
	require.Equal(t, workflows*messages, b.count(t, `SELECT count(*) FROM %s.steps WHERE name = 'wf.recv:numbers'`))
}

func TestAStartedWorkflowResumesOnlyOnCodeWithItsHash(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{ExecutorID: "deploying"})
	entered := make(chan struct{}, 1)
	var runs sync.Map
	// version builds the workflow as a deployment of the given code hash registers it.
	version := func(hash string, entered chan<- struct{}) (*wf.Workflow[int, int], []wf.Definition) {
		a, c := wf.NewStep[int]("a"), wf.NewStep[int]("c")
		w := wf.NewWorkflow("versioned", func(ctx wf.Context, in int) (int, error) {
			if _, err := a.Run(ctx, func(context.Context) (int, error) { return in, nil }); err != nil {
				return 0, err
			}
			return c.Run(ctx, func(sctx context.Context) (int, error) {
				v, _ := runs.LoadOrStore(hash, new(atomic.Int32))
				v.(*atomic.Int32).Add(1)
				if entered != nil {
					entered <- struct{}{}
					<-sctx.Done()
					return 0, sctx.Err()
				}
				return in * 2, nil
			})
		}, wf.CodeHash(hash))
		return w, []wf.Definition{w, a, c}
	}
	v1, defs := version("v1", entered)
	require.NoError(t, b.client.Register(defs...))
	require.NoError(t, b.client.Start(b.ctx))
	started, err := v1.Start(b.ctx, b.client, 4)
	require.NoError(t, err)
	<-entered
	stopCtx, cancel := context.WithTimeout(b.ctx, 20*time.Millisecond)
	defer cancel()
	_ = b.client.Stop(stopCtx)

	// Version 2 is deployed: it runs new workflows but leaves the v1 one alone.
	v2, defs2 := version("v2", nil)
	next := wftest.NewClient(t, wf.Config{Schema: b.schema, ExecutorID: "v2-worker", PollInterval: 20 * time.Millisecond})
	require.NoError(t, next.Register(defs2...))
	wftest.Start(t, next)
	fresh, err := v2.Enqueue(b.ctx, next, 5)
	require.NoError(t, err)
	out, err := fresh.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 10, out)
	time.Sleep(100 * time.Millisecond) // several polls
	st, err := started.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, wf.StateEnqueued, st.State, "v2 must not replay v1's history")
	require.Equal(t, "v1", st.CodeHash)

	// A worker still on v1 resumes it.
	v1again, defs1 := version("v1", nil)
	old := wftest.NewClient(t, wf.Config{Schema: b.schema, ExecutorID: "v1-worker"})
	require.NoError(t, old.Register(defs1...))
	wftest.Start(t, old)
	out, err = v1again.Get(old, started.ID()).Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 8, out)
	require.Equal(t, 1, runsOf(&runs, "v2"), "v2 ran only its own workflow")
}

func TestStepsStartedConcurrentlyStopTheWorkflowWithAClearError(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	slow := wf.NewStep[int]("slow")
	w := wf.NewWorkflow("racy", func(ctx wf.Context, _ struct{}) (int, error) {
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = slow.Run(ctx, func(context.Context) (int, error) { time.Sleep(50 * time.Millisecond); return 1, nil })
			}()
		}
		wg.Wait()
		return 0, nil
	})
	b.start(t, w, slow)
	h, err := w.Start(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.ErrorContains(t, err, "call a workflow's steps one after another, never from concurrent goroutines")
}

func TestAStepRecordedByAnotherExecutionIsAdoptedNotOverwritten(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	var runs atomic.Int32
	first := wf.NewStep[string]("first")
	w := wf.NewWorkflow("contested", func(ctx wf.Context, _ struct{}) (string, error) {
		return first.Run(ctx, func(sctx context.Context) (string, error) {
			runs.Add(1)
			// A stale executor running the same workflow records this step first.
			_, err := b.pool.Exec(sctx, fmt.Sprintf(`INSERT INTO %s.steps (workflow_id, step_id, name, output, attempt, tries, started_at)
				VALUES ($1, 1, 'first', '"theirs"', 0, 1, now()) ON CONFLICT DO NOTHING`, b.schema), ctx.WorkflowID())
			return "ours", err
		})
	})
	b.start(t, w, first)
	h, err := w.Start(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, "theirs", out, "the workflow completes on the recorded output, as any replay would")
	require.EqualValues(t, 1, runs.Load(), "the replay did not run the recorded step again")
	steps, err := b.client.Steps(b.ctx, h.ID())
	require.NoError(t, err)
	require.Equal(t, `"theirs"`, steps[0].Output)
}

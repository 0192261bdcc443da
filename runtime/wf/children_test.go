package wf_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/wf"
)

func TestAParentFansOutChildrenAndAwaitsTheirResults(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	square := wf.NewWorkflow("square", func(ctx wf.Context, n int) (int, error) {
		if n < 0 {
			return 0, errors.New("negative")
		}
		return n * n, nil
	})
	sum := wf.NewWorkflow("sum-of-squares", func(ctx wf.Context, ns []int) (int, error) {
		hs, err := square.EnqueueChildren(ctx, ns)
		if err != nil {
			return 0, err
		}
		total := 0
		for _, h := range hs {
			v, err := h.Await(ctx)
			if err != nil {
				return 0, err
			}
			total += v
		}
		one, err := square.EnqueueChild(ctx, 10)
		if err != nil {
			return 0, err
		}
		v, err := one.Await(ctx)
		return total + v, err
	})
	b.start(t, square, sum)

	h, err := sum.Enqueue(b.ctx, b.client, []int{1, 2, 3}, wf.WithID("parent"))
	require.NoError(t, err)
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 1+4+9+100, out)

	// The children's IDs derive from the parent's and the step's, and name their parent.
	for _, id := range []string{"parent/1/0", "parent/1/1", "parent/1/2", "parent/5"} {
		st, err := square.Get(b.client, id).Status(b.ctx)
		require.NoError(t, err, id)
		require.Equal(t, "parent", st.ParentID, id)
		require.Equal(t, wf.StateSucceeded, st.State, id)
	}
	require.Equal(t, 4, b.count(t, `SELECT count(*) FROM %s.workflows WHERE parent_id = 'parent'`))

	// A child's failure is the parent's to handle, as Result returns it.
	bad, err := sum.Enqueue(b.ctx, b.client, []int{2, -1})
	require.NoError(t, err)
	_, err = bad.Result(b.ctx)
	var we *wf.WorkflowError
	require.ErrorAs(t, err, &we)
	require.Contains(t, err.Error(), "negative")
}

func TestAParentAwaitingChildrenGivesItsSlotToThem(t *testing.T) {
	t.Parallel()
	// One slot in one queue: a parent that held it while awaiting its child would wait
	// forever, since the child needs that slot.
	b := setup(t, wf.Config{SuspendAfter: 20 * time.Millisecond})
	child := wf.NewWorkflow("slow-child", func(ctx wf.Context, n int) (int, error) {
		if err := wf.Sleep(ctx, 100*time.Millisecond); err != nil {
			return 0, err
		}
		return n + 1, nil
	})
	parent := wf.NewWorkflow("waiting-parent", func(ctx wf.Context, n int) (int, error) {
		h, err := child.EnqueueChild(ctx, n)
		if err != nil {
			return 0, err
		}
		return h.Await(ctx)
	})
	b.start(t, child, parent, wf.NewQueue(wf.DefaultQueue, wf.WorkerConcurrency(1), wf.GlobalConcurrency(1)))
	h, err := parent.Enqueue(b.ctx, b.client, 41)
	require.NoError(t, err)
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 42, out)
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Greater(t, st.Attempt, 1, "the parent was suspended and resumed")
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.workflows WHERE parent_id = $1`, h.ID()), "resuming did not start another child")
}

func TestCancellingAParentCancelsItsUnfinishedChildren(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	blocked := wf.NewStep[int]("blocked")
	leaf := wf.NewWorkflow("leaf", func(ctx wf.Context, n int) (int, error) {
		return blocked.Run(ctx, func(sctx context.Context) (int, error) {
			<-sctx.Done()
			return 0, sctx.Err()
		})
	})
	quick := wf.NewWorkflow("quick", func(ctx wf.Context, n int) (int, error) { return n, nil })
	middle := wf.NewWorkflow("middle", func(ctx wf.Context, n int) (int, error) {
		h, err := leaf.EnqueueChild(ctx, n)
		if err != nil {
			return 0, err
		}
		return h.Await(ctx)
	})
	root := wf.NewWorkflow("root", func(ctx wf.Context, n int) (int, error) {
		q, err := quick.EnqueueChild(ctx, n)
		if err != nil {
			return 0, err
		}
		if _, err := q.Await(ctx); err != nil {
			return 0, err
		}
		h, err := middle.EnqueueChild(ctx, n)
		if err != nil {
			return 0, err
		}
		return h.Await(ctx)
	})
	b.start(t, blocked, leaf, quick, middle, root)
	h, err := root.Enqueue(b.ctx, b.client, 1, wf.WithID("root"))
	require.NoError(t, err)
	grandchild := leaf.Get(b.client, "root/3/1")
	require.Eventually(t, func() bool {
		st, err := grandchild.Status(b.ctx)
		return err == nil && st.State == wf.StateRunning
	}, 10*time.Second, 10*time.Millisecond)

	require.NoError(t, h.Cancel(b.ctx))
	require.Equal(t, 3, b.count(t, `SELECT count(*) FROM %s.workflows WHERE id IN ('root', 'root/3', 'root/3/1') AND state = 'cancelled'`))
	_, err = grandchild.Result(b.ctx)
	require.ErrorIs(t, err, wf.ErrCancelled)
	st, err := quick.Get(b.client, "root/1").Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, wf.StateSucceeded, st.State, "a finished child stays as it was")
}

func TestAChildIsStartedInTheParentsProcess(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	child := wf.NewWorkflow("here-child", func(ctx wf.Context, n int) (string, error) {
		return fmt.Sprint(n), nil
	})
	parent := wf.NewWorkflow("here-parent", func(ctx wf.Context, n int) (string, error) {
		h, err := child.StartChild(ctx, n)
		if err != nil {
			return "", err
		}
		return h.Await(ctx)
	})
	b.start(t, child, parent)
	h, err := parent.Start(b.ctx, b.client, 7)
	require.NoError(t, err)
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, "7", out)
	st, err := child.Get(b.client, h.ID()+"/1").Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, b.client.ExecutorID(), st.ExecutorID)
}

// family is the crash test's parent and child: the child records each run of its step in
// the executions table and, when blockChild is set, hangs in it.
func family(pool *pgxpool.Pool, schema string, blockChild bool) (*wf.Workflow[int, int], []wf.Definition) {
	work := wf.NewStep[int]("child-work")
	child := wf.NewWorkflow("crash-child", func(ctx wf.Context, n int) (int, error) {
		return work.Run(ctx, func(sctx context.Context) (int, error) {
			if _, err := pool.Exec(sctx, fmt.Sprintf(`INSERT INTO %s.executions (workflow_id, step, pid) VALUES ($1, 1, $2)`, schema), ctx.WorkflowID(), os.Getpid()); err != nil {
				return 0, err
			}
			if blockChild {
				select {} // until SIGKILL
			}
			return 2 * n, nil
		})
	})
	parent := wf.NewWorkflow("crash-parent", func(ctx wf.Context, n int) (int, error) {
		h, err := child.EnqueueChild(ctx, n)
		if err != nil {
			return 0, err
		}
		return h.Await(ctx)
	})
	return parent, []wf.Definition{work, child, parent}
}

func familyRole(pool *pgxpool.Pool, schema string, cfg *wf.Config) []wf.Definition {
	cfg.SuspendAfter = time.Hour // the parent waits in its slot: the kill catches it there
	_, defs := family(pool, schema, os.Getenv(helperBlockEnv) != "")
	return defs
}

func TestASIGKILLedParentResumesWithoutASecondChild(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `CREATE TABLE %s.executions (workflow_id text, step int, pid int, at timestamptz DEFAULT now())`)
	parent, _ := family(b.pool, b.schema, false)
	env := []string{helperSchemaEnv + "=" + b.schema, helperExecutorEnv + "=family-worker"}
	first := startHelper(t, "family", append(env, helperBlockEnv+"=1")...)
	h, err := parent.Enqueue(b.ctx, b.client, 21, wf.WithID("family"))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM %s.executions`) == 1
	}, 30*time.Second, 10*time.Millisecond, "the child never ran")
	first.kill(t) // parent awaiting, child inside its step

	second := startHelper(t, "family", env...)
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 42, out)
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.workflows WHERE parent_id = 'family'`), "one child, however often the parent ran")
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM %s.executions WHERE workflow_id = 'family/1'`), "the child's step was running at the kill, and ran again")
	second.stop(t)
}

func TestThousandsOfChildrenAreOneStepAndOneInsert(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	const n = 2000
	leaf := wf.NewWorkflow("fan-leaf", func(ctx wf.Context, i int) (int, error) { return i, nil })
	fan := wf.NewWorkflow("fan-out", func(ctx wf.Context, n int) (int, error) {
		ins := make([]int, n)
		for i := range ins {
			ins[i] = i
		}
		hs, err := leaf.EnqueueChildren(ctx, ins)
		return len(hs), err
	})
	b.start(t, leaf, fan, wf.NewQueue(wf.DefaultQueue, wf.WorkerConcurrency(50)))
	h, err := fan.Enqueue(b.ctx, b.client, n, wf.WithID("fan"))
	require.NoError(t, err)
	got, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, n, got)
	steps, err := b.client.Steps(b.ctx, "fan")
	require.NoError(t, err)
	require.Len(t, steps, 1, "one checkpoint holds every child")
	require.Equal(t, "wf.enqueueChild:fan-leaf", steps[0].Name)
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM %s.workflows WHERE parent_id = 'fan' AND state = 'succeeded'`) == n
	}, 50*time.Second, 20*time.Millisecond)
}

func TestAChildCompletingAsItsParentSuspendsWakesTheParent(t *testing.T) {
	t.Parallel()
	// Children end about when their parents give their slots back: a completion committing
	// between a parent's last look and its suspension must still wake it. Without the wake,
	// a parent would sleep until its backstop, minutes later, and the test would time out.
	b := setup(t, wf.Config{SuspendAfter: 15 * time.Millisecond})
	const parents = 40
	child := wf.NewWorkflow("racing-child", func(ctx wf.Context, n int) (int, error) {
		if err := wf.Sleep(ctx, time.Duration(10+n%10)*time.Millisecond); err != nil {
			return 0, err
		}
		return n, nil
	})
	parent := wf.NewWorkflow("racing-parent", func(ctx wf.Context, n int) (int, error) {
		h, err := child.EnqueueChild(ctx, n)
		if err != nil {
			return 0, err
		}
		return h.Await(ctx)
	})
	b.start(t, child, parent, wf.NewQueue(wf.DefaultQueue, wf.WorkerConcurrency(2*parents)))
	ins := make([]int, parents)
	for i := range ins {
		ins[i] = i
	}
	hs, err := parent.EnqueueMany(b.ctx, b.client, ins)
	require.NoError(t, err)
	for i, h := range hs {
		out, err := h.Result(b.ctx)
		require.NoError(t, err)
		require.Equal(t, i, out)
	}
}

func TestAwaitAllWaitsForEveryChildInOneStep(t *testing.T) {
	t.Parallel()
	// One slot, held by nobody while the parent waits: the parent must give it back
	// (suspend) for its children to run, and their completions must wake it.
	b := setup(t, wf.Config{SuspendAfter: 20 * time.Millisecond})
	child := wf.NewWorkflow("all-child", func(ctx wf.Context, n int) (int, error) {
		if err := wf.Sleep(ctx, time.Duration(n%3)*10*time.Millisecond); err != nil {
			return 0, err
		}
		if n < 0 {
			return 0, fmt.Errorf("child %d refuses", n)
		}
		return n * n, nil
	})
	parent := wf.NewWorkflow("all-parent", func(ctx wf.Context, ns []int) ([]int, error) {
		hs, err := child.EnqueueChildren(ctx, ns)
		if err != nil {
			return nil, err
		}
		outs, err := wf.AwaitAll(ctx, hs)
		if err != nil {
			return outs, err
		}
		// A wait after AwaitAll suspends the parent again: its replay must return the
		// recorded outcomes without awaiting again. (Long enough to outlast SuspendAfter
		// with room on a loaded machine: a 30ms nap was once over before it suspended.)
		if err := wf.Sleep(ctx, 500*time.Millisecond); err != nil {
			return nil, err
		}
		return outs, nil
	})
	b.start(t, child, parent, wf.NewQueue(wf.DefaultQueue, wf.WorkerConcurrency(1), wf.GlobalConcurrency(1)))

	ns := []int{1, 2, 3, 4, 5, 6, 7}
	h, err := parent.Enqueue(b.ctx, b.client, ns, wf.WithID("all"))
	require.NoError(t, err)
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, []int{1, 4, 9, 16, 25, 36, 49}, out, "outputs in the order of the handles")
	steps, err := b.client.Steps(b.ctx, "all")
	require.NoError(t, err)
	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = s.Name
	}
	require.Equal(t, []string{"wf.enqueueChild:all-child", "wf.awaitAll:all-child", "wf.sleep"}, names, "one step awaits every child")
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Greater(t, st.Attempt, 2, "the parent was suspended while its children ran, and after")

	// Failures come back joined, each as Result returns it; the others' outputs with them.
	bad, err := parent.Enqueue(b.ctx, b.client, []int{2, -1, 3, -4})
	require.NoError(t, err)
	_, err = bad.Result(b.ctx)
	var we *wf.WorkflowError
	require.ErrorAs(t, err, &we)
	require.Contains(t, err.Error(), "child -1 refuses")
	require.Contains(t, err.Error(), "child -4 refuses")
}

func TestAwaitAllOfAnUnknownWorkflowFailsAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	other := wf.NewWorkflow("all-other", func(ctx wf.Context, n int) (int, error) { return n, nil })
	parent := wf.NewWorkflow("all-unknown", func(ctx wf.Context, n int) (int, error) {
		hs := []*wf.Handle[int]{other.Get(b.client, "no-such-workflow")}
		_, err := wf.AwaitAll(ctx, hs)
		return 0, err
	})
	b.start(t, other, parent)
	h, err := parent.Enqueue(b.ctx, b.client, 0, wf.WithID("unknown-parent"))
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.ErrorContains(t, err, `workflow "no-such-workflow" not found`)
	steps, err := b.client.Steps(b.ctx, "unknown-parent")
	require.NoError(t, err)
	require.Empty(t, steps, "nothing is recorded for a wait on nothing")
}

func TestChildrenCompletingAsTheirParentSuspendsInAwaitAllWakeIt(t *testing.T) {
	t.Parallel()
	// As TestAChildCompletingAsItsParentSuspendsWakesTheParent, with several children per
	// parent: the last completion may commit between the parent's last look and its
	// suspension. Without the wake, a parent would sleep until its backstop, minutes later.
	b := setup(t, wf.Config{SuspendAfter: 15 * time.Millisecond})
	const parents, children = 20, 4
	child := wf.NewWorkflow("racing-all-child", func(ctx wf.Context, n int) (int, error) {
		if err := wf.Sleep(ctx, time.Duration(10+n%10)*time.Millisecond); err != nil {
			return 0, err
		}
		return n, nil
	})
	parent := wf.NewWorkflow("racing-all-parent", func(ctx wf.Context, n int) (int, error) {
		ins := make([]int, children)
		for i := range ins {
			ins[i] = n*children + i
		}
		hs, err := child.EnqueueChildren(ctx, ins)
		if err != nil {
			return 0, err
		}
		outs, err := wf.AwaitAll(ctx, hs)
		sum := 0
		for _, o := range outs {
			sum += o
		}
		return sum, err
	})
	b.start(t, child, parent, wf.NewQueue(wf.DefaultQueue, wf.WorkerConcurrency(2*parents)))
	ins := make([]int, parents)
	for i := range ins {
		ins[i] = i
	}
	hs, err := parent.EnqueueMany(b.ctx, b.client, ins)
	require.NoError(t, err)
	for i, h := range hs {
		out, err := h.Result(b.ctx)
		require.NoError(t, err)
		require.Equal(t, children*children*i+children*(children-1)/2, out)
	}
}

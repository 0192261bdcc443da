package wf_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/wf"
)

// threeSteps runs steps a, b, c; b fails while broken is set. runs counts each step's calls.
func threeSteps(broken *atomic.Bool, runs map[string]*atomic.Int32, opts ...wf.WorkflowOption) (*wf.Workflow[int, string], []wf.Definition) {
	defs := []wf.Definition{}
	var steps []*wf.Step[string]
	for _, name := range []string{"a", "b", "c"} {
		runs[name] = &atomic.Int32{}
		s := wf.NewStep[string]("admin-" + name)
		steps = append(steps, s)
		defs = append(defs, s)
	}
	w := wf.NewWorkflow("admin-three", func(ctx wf.Context, n int) (string, error) {
		out := ""
		for i, s := range steps {
			name := []string{"a", "b", "c"}[i]
			v, err := s.Run(ctx, func(context.Context) (string, error) {
				runs[name].Add(1)
				if name == "b" && broken.Load() {
					return "", errors.New("b is broken")
				}
				return fmt.Sprintf("%s%d", name, n), nil
			})
			if err != nil {
				return "", err
			}
			out += v
		}
		return out, nil
	}, opts...)
	return w, append(defs, w)
}

func TestAFailedWorkflowResumesFromItsLastCompletedStep(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	var broken atomic.Bool
	broken.Store(true)
	runs := map[string]*atomic.Int32{}
	w, defs := threeSteps(&broken, runs)
	b.start(t, defs...)
	h, err := w.Enqueue(b.ctx, b.client, 1)
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.ErrorContains(t, err, "b is broken")

	require.ErrorContains(t, b.client.ResumeWorkflow(b.ctx, "no-such-id"), "not found")
	broken.Store(false)
	require.NoError(t, b.client.ResumeWorkflow(b.ctx, h.ID()))
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, "a1b1c1", out)
	require.EqualValues(t, 1, runs["a"].Load(), "a completed before the failure and is not run again")
	require.EqualValues(t, 2, runs["b"].Load(), "the failed step runs again")
	require.EqualValues(t, 1, runs["c"].Load())

	err = b.client.ResumeWorkflow(b.ctx, h.ID())
	require.ErrorContains(t, err, "it is succeeded, and only a cancelled, failed or dead workflow resumes")
}

func TestACancelledWorkflowResumesInTheCallersTransaction(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	w := wf.NewWorkflow("admin-cancelled", func(ctx wf.Context, n int) (int, error) { return n, nil })
	h, err := w.Enqueue(b.ctx, b.client, 5) // no worker yet: it waits
	require.NoError(t, err)
	require.NoError(t, b.client.CancelWorkflow(b.ctx, h.ID()))
	b.start(t, w)

	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	require.NoError(t, b.client.ResumeWorkflowTx(b.ctx, tx, h.ID()))
	require.NoError(t, tx.Rollback(b.ctx))
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, wf.StateCancelled, st.State, "a rolled back resume resumes nothing")

	tx, err = b.pool.Begin(b.ctx)
	require.NoError(t, err)
	require.NoError(t, b.client.ResumeWorkflowTx(b.ctx, tx, h.ID()))
	require.NoError(t, tx.Commit(b.ctx))
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 5, out)
}

func TestAForkReplaysTheStepsBeforeItsStartAndRunsTheRest(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	var broken atomic.Bool
	runs := map[string]*atomic.Int32{}
	w, defs := threeSteps(&broken, runs)
	b.start(t, defs...)
	h, err := w.Enqueue(b.ctx, b.client, 2)
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.NoError(t, err)

	id, err := b.client.ForkWorkflow(b.ctx, h.ID(), wf.ForkOptions{FromStep: 3, ID: "forked"})
	require.NoError(t, err)
	require.Equal(t, "forked", id)
	out, err := w.Get(b.client, id).Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, "a2b2c2", out)
	require.EqualValues(t, 1, runs["a"].Load())
	require.EqualValues(t, 1, runs["b"].Load(), "steps 1 and 2 were copied: replayed, not run")
	require.EqualValues(t, 2, runs["c"].Load())

	_, err = b.client.ForkWorkflow(b.ctx, "no-such-id", wf.ForkOptions{FromStep: 1})
	require.ErrorIs(t, err, wf.ErrNotFound)
	_, err = b.client.ForkWorkflow(b.ctx, h.ID(), wf.ForkOptions{})
	require.ErrorContains(t, err, "FromStep")
}

func TestAWorkflowStrandedByACodeChangeIsListedAndForkedOntoTheCurrentCode(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	var broken atomic.Bool
	runs := map[string]*atomic.Int32{}
	w, defs := threeSteps(&broken, runs, wf.CodeHash("new"))
	b.start(t, defs...)
	h, err := w.Enqueue(b.ctx, b.client, 3, wf.WithDelay(time.Hour))
	require.NoError(t, err)
	// It started under the old code, which no executor runs any more.
	b.exec(t, `UPDATE %s.workflows SET code_hash = 'old', available_at = now() WHERE id = $1`, h.ID())
	require.Eventually(t, func() bool {
		sts, err := b.client.ListWorkflows(b.ctx, wf.ListOptions{Stranded: true})
		return err == nil && len(sts) == 1 && sts[0].ID == h.ID() && sts[0].Waiting != ""
	}, 10*time.Second, 20*time.Millisecond)

	id, err := b.client.ForkWorkflow(b.ctx, h.ID(), wf.ForkOptions{FromStep: 1})
	require.NoError(t, err)
	out, err := w.Get(b.client, id).Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, "a3b3c3", out)
	st, err := w.Get(b.client, id).Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, "new", st.CodeHash)
	require.NoError(t, b.client.CancelWorkflow(b.ctx, h.ID()))
	require.NoError(t, b.client.DeleteWorkflow(b.ctx, h.ID()))
	_, err = h.Status(b.ctx)
	require.ErrorIs(t, err, wf.ErrNotFound)
}

func TestDeleteRefusesAWorkflowThatIsNotFinal(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	w := wf.NewWorkflow("admin-waiting", func(ctx wf.Context, n int) (int, error) { return n, nil })
	h, err := w.Enqueue(b.ctx, b.client, 1)
	require.NoError(t, err)
	require.ErrorContains(t, b.client.DeleteWorkflow(b.ctx, h.ID()), "is enqueued: only a final workflow is deleted; cancel it first")
	require.ErrorIs(t, b.client.DeleteWorkflow(b.ctx, "no-such-id"), wf.ErrNotFound)
}

func TestListWorkflowsFiltersAndPages(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	child := wf.NewWorkflow("list-child", func(ctx wf.Context, n int) (int, error) { return n, nil })
	parent := wf.NewWorkflow("list-parent", func(ctx wf.Context, n int) (int, error) {
		hs, err := child.EnqueueChildren(ctx, []int{1, 2, 3})
		if err != nil {
			return 0, err
		}
		for _, h := range hs {
			if _, err := h.Await(ctx); err != nil {
				return 0, err
			}
		}
		return n, nil
	})
	b.start(t, child, parent)
	h, err := parent.Enqueue(b.ctx, b.client, 1, wf.WithID("list-p"))
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.NoError(t, err)
	waiting := wf.NewWorkflow("list-unrun", func(ctx wf.Context, n int) (int, error) { return n, nil })
	_, err = waiting.Enqueue(b.ctx, b.client, 1, wf.WithID("other"))
	require.NoError(t, err)

	ids := func(opts wf.ListOptions) []string { return listedIDs(t, b, opts) }
	require.Equal(t, []string{"list-p/1/2", "list-p/1/1", "list-p/1/0"}, ids(wf.ListOptions{ParentID: "list-p"}), "newest first")
	require.Equal(t, []string{"list-p/1/1"}, ids(wf.ListOptions{ParentID: "list-p", Limit: 1, Offset: 1}))
	require.Len(t, ids(wf.ListOptions{IDPrefix: "list-p"}), 4)
	require.Equal(t, []string{"other"}, ids(wf.ListOptions{States: []wf.State{wf.StateEnqueued, wf.StateRunning}}))
	require.Len(t, ids(wf.ListOptions{States: []wf.State{wf.StateEnqueued, wf.StateSucceeded}}), 5)
	require.Empty(t, ids(wf.ListOptions{CreatedBefore: time.Now().Add(-time.Hour)}))
	require.Len(t, ids(wf.ListOptions{CreatedAfter: time.Now().Add(-time.Hour), Workflow: "list-child"}), 3)
}

// listedIDs returns the IDs ListWorkflows lists for opts, in its order.
func listedIDs(t *testing.T, b *bundle, opts wf.ListOptions) []string {
	t.Helper()
	sts, err := b.client.ListWorkflows(b.ctx, opts)
	require.NoError(t, err)
	var out []string
	for _, s := range sts {
		out = append(out, s.ID)
	}
	return out
}

// Running workflows are listed through another index than the rest (see 0012's migration):
// the list still interleaves them newest first, and pages across both.
func TestTheListMergesRunningWorkflowsWithTheOthersNewestFirst(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	g := newGate("mix-gate")
	held := wf.NewWorkflow("mix-held", func(ctx wf.Context, n int) (int, error) { return n, g.pass(ctx) })
	quick := wf.NewWorkflow("mix-quick", func(ctx wf.Context, n int) (int, error) { return n, nil })
	b.start(t, held, quick)
	t.Cleanup(g.open) // before the client stops: cleanups run last first

	// mix-1 (done), mix-2 (running), mix-3 (done), mix-4 (running), mix-5 (done), each
	// enqueued after the one before it started, so that their created_at differ.
	var want []string
	for i := 1; i <= 5; i++ {
		id := fmt.Sprintf("mix-%d", i)
		want = append([]string{id}, want...)
		if i%2 == 1 {
			h, err := quick.Enqueue(b.ctx, b.client, i, wf.WithID(id))
			require.NoError(t, err)
			_, err = h.Result(b.ctx)
			require.NoError(t, err)
			continue
		}
		_, err := held.Enqueue(b.ctx, b.client, i, wf.WithID(id))
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			st, err := b.client.Status(b.ctx, id)
			return err == nil && st.State == wf.StateRunning
		}, 10*time.Second, 5*time.Millisecond)
	}

	ids := func(opts wf.ListOptions) []string {
		opts.IDPrefix = "mix-"
		return listedIDs(t, b, opts)
	}
	require.Equal(t, want, ids(wf.ListOptions{}), "newest first, running or not")
	for skip := range want {
		require.Equal(t, want[skip:skip+1], ids(wf.ListOptions{Limit: 1, Offset: skip}), "page %d", skip)
	}
	require.Equal(t, []string{"mix-4", "mix-3", "mix-2"}, ids(wf.ListOptions{Limit: 3, Offset: 1}))
	require.Equal(t, []string{"mix-4", "mix-2"}, ids(wf.ListOptions{State: wf.StateRunning}))
	require.Equal(t, []string{"mix-5", "mix-3", "mix-1"}, ids(wf.ListOptions{State: wf.StateSucceeded}))
	require.Empty(t, ids(wf.ListOptions{Offset: 5}))
}

func TestADeadWorkflowResumesAfterItsLastCompletedStepAndNeverRerunsAnEarlierOne(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `CREATE TABLE %s.executions (workflow_id text, step int, pid int, at timestamptz DEFAULT now())`)
	w, _ := fiveSteps(b.pool, b.schema, 0)
	env := []string{helperSchemaEnv + "=" + b.schema, helperExecutorEnv + "=dies-once"}

	first := startHelper(t, "five-steps", append(env, helperBlockEnv+"=3")...)
	h, err := w.Enqueue(b.ctx, b.client, "in", wf.WithID("given-up"))
	require.NoError(t, err)
	// No recovery allowed: the first crash gives the workflow up as dead.
	b.exec(t, `UPDATE %s.workflows SET max_recoveries = 0 WHERE id = 'given-up'`)
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM %s.executions WHERE workflow_id = 'given-up' AND step = 3`) == 1
	}, 30*time.Second, 10*time.Millisecond, "the worker never reached step 3")
	first.kill(t) // SIGKILL, inside step 3

	// The restarted worker finds its dead predecessor's workflow and gives it up.
	second := startHelper(t, "five-steps", env...)
	_, err = h.Result(b.ctx)
	require.ErrorIs(t, err, wf.ErrDead)

	require.NoError(t, b.client.ResumeWorkflow(b.ctx, h.ID()))
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, "in>1>4>9>16>25", out)
	perStep := map[int]int{}
	rows, err := b.pool.Query(b.ctx, fmt.Sprintf(`SELECT step, count(*) FROM %s.executions WHERE workflow_id = 'given-up' GROUP BY step`, b.schema))
	require.NoError(t, err)
	for rows.Next() {
		var step, n int
		require.NoError(t, rows.Scan(&step, &n))
		perStep[step] = n
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[int]int{1: 1, 2: 1, 3: 2, 4: 1, 5: 1}, perStep,
		"steps 1-2 completed before the crash and never ran again; step 3 ran once before it and once after the resume")
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, wf.StateSucceeded, st.State)
	second.stop(t)
}

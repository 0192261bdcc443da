package wf_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/wf"
)

func TestRetentionDeletesFinishedWorkflowsPastItWithEverythingTheyRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	progress := wf.NewEvent[int]("progress")
	log := wf.NewStream[string]("log")
	step := wf.NewStep[int]("one")
	work := wf.NewWorkflow("kept-or-not", func(ctx wf.Context, n int) (int, error) {
		if _, err := step.Run(ctx, func(context.Context) (int, error) { return n, nil }); err != nil {
			return 0, err
		}
		if err := progress.Set(ctx, n); err != nil {
			return 0, err
		}
		return n, log.Append(ctx, "done")
	})
	b.start(t, progress, log, step, work)
	var ids []string
	for i := range 3 {
		h, err := work.Enqueue(b.ctx, b.client, i, wf.WithID(fmt.Sprintf("done-%d", i)))
		require.NoError(t, err)
		_, err = h.Result(b.ctx)
		require.NoError(t, err)
		ids = append(ids, h.ID())
	}
	// done-0 and done-1 finished 40 days ago; done-2 just now. A workflow of a name no worker
	// runs waits, unfinished, as long as any.
	b.exec(t, `UPDATE %s.workflows SET completed_at = now() - interval '40 days' WHERE id IN ('done-0', 'done-1')`)
	waiting := wf.NewWorkflow("nobody-runs-it", func(ctx wf.Context, n int) (int, error) { return n, nil })
	_, err := waiting.Enqueue(b.ctx, b.client, 1, wf.WithID("waiting"))
	require.NoError(t, err)
	b.exec(t, `UPDATE %s.workflows SET created_at = now() - interval '90 days' WHERE id = 'waiting'`)
	b.exec(t, `INSERT INTO %s.messages (destination_id, topic, payload) VALUES ('done-0', 't', '1'), ('waiting', 't', '2')`)

	cutoff := time.Now().Add(-wf.DefaultRetention)
	// One executor deletes at a time: while another holds the lock, nothing happens.
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	_, err = tx.Exec(b.ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "wfgen-retention:"+b.schema)
	require.NoError(t, err)
	n, err := b.client.DeleteFinished(b.ctx, cutoff, 1)
	require.NoError(t, err)
	require.Zero(t, n)
	require.NoError(t, tx.Rollback(b.ctx))

	// Batches of one, oldest first.
	n, err = b.client.DeleteFinished(b.ctx, cutoff, 1)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = b.client.DeleteFinished(b.ctx, cutoff, 10)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = b.client.DeleteFinished(b.ctx, cutoff, 10)
	require.NoError(t, err)
	require.Zero(t, n)

	for _, table := range []string{"workflows WHERE id", "steps WHERE workflow_id", "events WHERE workflow_id", "streams WHERE workflow_id", "messages WHERE destination_id"} {
		require.Zero(t, b.count(t, `SELECT count(*) FROM %s.`+table+` IN ('done-0', 'done-1')`), table)
		require.Positive(t, b.count(t, `SELECT count(*) FROM %s.`+table+` IN ('done-2', 'waiting')`), table)
	}
	_, err = work.Get(b.client, "done-0").Status(b.ctx)
	require.ErrorIs(t, err, wf.ErrNotFound)
}

func TestRetentionKeepsTheTablesBoundedUnderASteadyWorkload(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{Retention: 300 * time.Millisecond, RetentionInterval: 50 * time.Millisecond})
	var ran atomic.Int32
	step := wf.NewStep[int]("steady-step")
	progress := wf.NewEvent[int]("steady-progress")
	work := wf.NewWorkflow("steady", func(ctx wf.Context, n int) (int, error) {
		v, err := step.Run(ctx, func(context.Context) (int, error) { ran.Add(1); return n, nil })
		if err != nil {
			return 0, err
		}
		return v, progress.Set(ctx, v)
	})
	b.start(t, step, progress, work)

	const rounds, perRound = 12, 100
	var done [][]string // the IDs of each round
	peak := 0
	for r := range rounds {
		ins := make([]int, perRound)
		for i := range ins {
			ins[i] = r*perRound + i
		}
		hs, err := work.EnqueueMany(b.ctx, b.client, ins)
		require.NoError(t, err)
		var ids []string
		for _, h := range hs {
			ids = append(ids, h.ID())
		}
		// Wait for the round by its rows, not its results: a result read after the retention
		// would find its workflow deleted, as it should.
		require.Eventually(t, func() bool {
			return b.count(t, `SELECT count(*) FROM %s.workflows WHERE id = ANY($1) AND state <> 'succeeded'`, ids) == 0
		}, 30*time.Second, 5*time.Millisecond, "round %d never finished", r)
		done = append(done, ids)
		if r < 2 {
			continue
		}
		// The service deletes every workflow two rounds old (finished longer than the
		// retention ago) with its steps and events: what is kept does not grow with the work
		// done. The wait is only the test's bound, should the machine be slow.
		old := done[r-2]
		require.Eventually(t, func() bool {
			return b.count(t, `SELECT count(*) FROM %s.workflows WHERE id = ANY($1)`, old) == 0
		}, 30*time.Second, 20*time.Millisecond, "round %d was never deleted", r-2)
		require.Zero(t, b.count(t, `SELECT count(*) FROM %s.steps WHERE workflow_id = ANY($1)`, old))
		require.Zero(t, b.count(t, `SELECT count(*) FROM %s.events WHERE workflow_id = ANY($1)`, old))
		kept := b.count(t, `SELECT count(*) FROM %s.workflows`)
		require.LessOrEqual(t, kept, 2*perRound, "after round %d", r)
		require.LessOrEqual(t, b.count(t, `SELECT count(*) FROM %s.steps`), 2*2*perRound, "after round %d", r)
		peak = max(peak, kept)
	}
	require.EqualValues(t, rounds*perRound, ran.Load(), "every workflow ran its step once")
	t.Logf("%d workflows run in %d rounds; at most %d kept after a round", rounds*perRound, rounds, peak)
}

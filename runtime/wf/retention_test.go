package wf_test

import (
	"context"
	"fmt"
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

package wf_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/internal/checkpoint"
	"github.com/wfgen/wfgen/runtime/internal/db"
	"github.com/wfgen/wfgen/runtime/internal/dbschema"
	"github.com/wfgen/wfgen/runtime/wf"
)

// An Await's suspension, written by the checkpoint writer, and the completion of a child it
// waits for, written by any writer, never miss each other: the completion either comes
// before the suspension's check, which sees it, or after the suspension, which it wakes;
// and a completion in the suspension's own statement counts too.
func TestAnAwaitSuspensionAndItsChildsCompletionNeverMissEachOther(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries, attempt, claim_token, parent_id) VALUES
		('parent', 'w', 'running', 'q', '{}', 1, 1, 7, NULL),
		('child-1', 'w', 'running', 'q', '{}', 1, 1, 3, 'parent'),
		('child-2', 'w', 'running', 'q', '{}', 1, 1, 3, 'parent'),
		('child-3', 'w', 'running', 'q', '{}', 1, 1, 3, 'parent')`)
	rw := dbschema.NewRewriter(b.schema)
	w := runningWriter(t, b)
	suspend := func(children ...string) *checkpoint.Pending {
		return w.SubmitSuspension(checkpoint.Suspension{
			WorkflowID: "parent", Attempt: 1, ClaimToken: 7, AvailableAt: time.Now().Add(time.Hour), WaitingFor: "child", Children: children,
		})
	}
	// complete is a child's checkpoint batch: its completion.
	complete := func(q *db.Queries, child string) []db.WriteCheckpointsRow {
		rows, err := q.WriteCheckpoints(b.ctx, db.WriteCheckpointsParams{
			DoneIds: []string{child}, DoneAttempts: []int32{1}, DoneClaimTokens: []int64{3},
			DoneStates: []string{"succeeded"}, DoneOutputs: []string{"1"}, DoneErrors: []string{""}, DoneAfterSteps: []int32{-1},
		})
		require.NoError(t, err)
		return rows
	}
	parentIs := func(state string) {
		t.Helper()
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.workflows WHERE id = 'parent' AND state = $1`, state))
	}

	// A child's completion holds the parent's lock, uncommitted, when the suspension comes:
	// the suspension waits for it, then sees the child final, and does not suspend.
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer tx.Rollback(b.ctx) //nolint:errcheck // a no-op after Commit
	require.Len(t, complete(db.New(rw.Wrap(tx)), "child-1"), 1)
	p := suspend("child-1")
	waitUntilBlockedBy(t, b, tx, "the suspension never waited for the completion's lock of the parent")
	require.NoError(t, tx.Commit(b.ctx))
	applied, err := p.Wait(b.ctx)
	require.NoError(t, err)
	require.False(t, applied)
	require.True(t, p.Ready(), "the suspension saw the child the completion ended while it waited")
	parentIs("running")

	// The child's completion and the parent's suspension in one statement: the completion's
	// wake-up sees the parent not yet suspended, so the suspension must see the completion.
	stx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer stx.Rollback(b.ctx) //nolint:errcheck // a no-op after Commit
	sq := db.New(rw.Wrap(stx))
	require.NoError(t, sq.LockSuspending(b.ctx, db.LockSuspendingParams{Ids: []string{"parent"}, Attempts: []int32{1}, ClaimTokens: []int64{7}}))
	rows, err := sq.WriteCheckpoints(b.ctx, db.WriteCheckpointsParams{
		DoneIds: []string{"child-2"}, DoneAttempts: []int32{1}, DoneClaimTokens: []int64{3},
		DoneStates: []string{"succeeded"}, DoneOutputs: []string{"2"}, DoneErrors: []string{""}, DoneAfterSteps: []int32{-1},
		SuspendIds: []string{"parent"}, SuspendAttempts: []int32{1}, SuspendClaimTokens: []int64{7},
		SuspendAvailableAt: []time.Time{time.Now().Add(time.Hour)}, SuspendWaitingFor: []string{"child"}, SuspendTopics: []string{""},
		AwaitParentIds: []string{"parent"}, AwaitChildIds: []string{"child-2"},
	})
	require.NoError(t, err)
	require.NoError(t, stx.Commit(b.ctx))
	kinds := map[string]string{}
	for _, r := range rows {
		kinds[r.ID] = r.Kind
	}
	require.Equal(t, map[string]string{"child-2": "c", "parent": "m"}, kinds, "the child completed, and the parent did not suspend")
	parentIs("running")

	// Waiting for all of two children, one of them still running: it suspends, and that
	// child's completion afterwards wakes it.
	p = suspend("child-1", "child-3")
	applied, err = p.Wait(b.ctx)
	require.NoError(t, err)
	require.True(t, applied)
	require.False(t, p.Ready())
	require.Equal(t, "q", p.Queue())
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.workflows WHERE id = 'parent' AND state = 'enqueued' AND waiting_for = 'child' AND available_at > now() + interval '50 minutes'`))
	rows = complete(b.queries(), "child-3")
	require.Contains(t, rows, db.WriteCheckpointsRow{Kind: "w", ID: "parent", Queue: "q"}, "the completion after the suspension wakes the parent")
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.workflows WHERE id = 'parent' AND available_at <= now()`))

	// A suspension of an attempt that no longer owns the workflow writes nothing, even with
	// every child final, and does not say that they are.
	b.exec(t, `UPDATE %s.workflows SET state = 'running', attempt = 2 WHERE id = 'parent'`)
	p = suspend("child-1")
	applied, err = p.Wait(b.ctx)
	require.NoError(t, err)
	require.False(t, applied)
	require.False(t, p.Ready())
}

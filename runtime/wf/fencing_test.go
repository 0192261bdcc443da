package wf_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/internal/checkpoint"
	"github.com/wfgen/wfgen/runtime/internal/db"
	"github.com/wfgen/wfgen/runtime/internal/dbschema"
	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wftest"
)

// queries returns the runtime's queries on the test's schema, for tests that drive the
// statements themselves.
func (b *bundle) queries() *db.Queries {
	return db.New(dbschema.NewRewriter(b.schema).Wrap(b.pool))
}

// staleAttemptFixture makes a test's schema with a workflow "owned", running under attempt 2
// (it was claimed again), and a cancelled one, "cancelled", and a checkpoint writer on it,
// not yet running: what the test submits before running it goes in one batch.
func staleAttemptFixture(t *testing.T) (*bundle, *checkpoint.Writer) {
	t.Helper()
	b := setup(t, wf.Config{})
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries, attempt) VALUES
		('owned', 'w', 'running', 'q', '{}', 1, 2),
		('cancelled', 'w', 'cancelled', 'q', '{}', 1, 1)`)
	return b, checkpoint.New(b.queries(), checkpoint.Options{})
}

func TestTheCheckpointWriterReportsExactlyWhichWritesWereRefused(t *testing.T) {
	t.Parallel()
	b, w := staleAttemptFixture(t)
	step := func(id string, stepID, attempt int32) *checkpoint.Pending {
		return w.SubmitStep(checkpoint.Step{WorkflowID: id, StepID: stepID, Name: "s", Output: `"` + id + `"`, Attempt: attempt, Tries: 1, StartedAt: time.Now()})
	}
	// Submitted before the writer runs, so that all go in one batch: the old attempt's
	// checkpoint of step 1 next to the new attempt's.
	stale := step("owned", 1, 1)
	current := step("owned", 1, 2)
	cancelled := step("cancelled", 1, 1)
	gone := step("nobody", 1, 1)
	staleDone := w.SubmitCompletion(checkpoint.Completion{WorkflowID: "owned", Attempt: 1, State: "succeeded", Output: `1`})
	go w.Run()
	t.Cleanup(func() { w.Close(context.Background()) })

	applied, err := current.Wait(b.ctx)
	require.NoError(t, err)
	require.True(t, applied, "the owner's checkpoint is stored")

	var fenced *checkpoint.FencedError
	applied, err = stale.Wait(b.ctx)
	require.False(t, applied)
	require.ErrorAs(t, err, &fenced, "a stale attempt's checkpoint is refused, not taken for the owner's")
	require.Equal(t, checkpoint.FencedError{WorkflowID: "owned", Attempt: 1, State: "running"}, *fenced)

	applied, err = cancelled.Wait(b.ctx)
	require.False(t, applied)
	require.ErrorAs(t, err, &fenced)
	require.Equal(t, "cancelled", fenced.State)

	applied, err = gone.Wait(b.ctx)
	require.False(t, applied)
	require.ErrorAs(t, err, &fenced)
	require.Equal(t, "", fenced.State)

	applied, err = staleDone.Wait(b.ctx)
	require.NoError(t, err)
	require.False(t, applied, "a stale attempt cannot complete the workflow")

	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.steps WHERE workflow_id = 'owned' AND step_id = 1 AND attempt = 2 AND output::text = '"owned"'`))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.steps`))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.workflows WHERE id = 'owned' AND state = 'running'`))
}

// A completion carries its execution's last step when both go in one batch: the step is
// recorded only under the completion's fence, and each attempt is told its own outcome,
// even when a stale attempt's step and completion share the batch with the owner's.
func TestACompletionCarryingItsLastStepAppliesBothOrNeither(t *testing.T) {
	t.Parallel()
	b, w := staleAttemptFixture(t)
	type run struct{ step, done *checkpoint.Pending }
	finish := func(id string, attempt int32, output string) run {
		step := w.SubmitStep(checkpoint.Step{WorkflowID: id, StepID: 1, Name: "last", Output: output, Attempt: attempt, Tries: 2, StartedAt: time.Now()})
		done := w.SubmitCompletion(checkpoint.Completion{WorkflowID: id, Attempt: attempt, State: "succeeded", Output: output, After: step})
		return run{step, done}
	}
	// Submitted before the writer runs, so that all go in one batch.
	stale := finish("owned", 1, `"stale"`)
	owner := finish("owned", 2, `"owner"`)
	cancelled := finish("cancelled", 1, `"cancelled"`)
	go w.Run()
	t.Cleanup(func() { w.Close(context.Background()) })

	for _, p := range []*checkpoint.Pending{owner.step, owner.done} {
		applied, err := p.Wait(b.ctx)
		require.NoError(t, err)
		require.True(t, applied, "the owner's last step and completion are stored")
	}
	var fenced *checkpoint.FencedError
	for _, r := range []struct {
		run
		state string
	}{{stale, "succeeded"}, {cancelled, "cancelled"}} {
		applied, err := r.done.Wait(b.ctx)
		require.NoError(t, err)
		require.False(t, applied, "a completion of an attempt that does not own its workflow")
		applied, err = r.step.Wait(b.ctx)
		require.False(t, applied)
		require.ErrorAs(t, err, &fenced, "its step is refused as fenced, not taken for a recorded one")
		require.Equal(t, r.state, fenced.State)
	}
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.steps`), "only the owner's step is recorded")
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.steps WHERE workflow_id = 'owned' AND step_id = 1 AND name = 'last'
		AND attempt = 2 AND tries = 2 AND output::text = '"owner"' AND error IS NULL`))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.workflows WHERE id = 'owned' AND state = 'succeeded' AND output = '"owner"'`))
}

// A carried step whose ID is recorded already (which only the owner's own earlier write
// could have done) fails the batch's statement; the writer then writes each checkpoint
// alone, the old way: the step is refused as recorded, the completion does not apply, and
// the execution would replay the recorded step instead of completing on top of its own.
func TestACarriedStepThatIsRecordedAlreadyLeavesTheWorkflowToReplay(t *testing.T) {
	t.Parallel()
	b, w := staleAttemptFixture(t)
	b.exec(t, `INSERT INTO %s.steps (workflow_id, step_id, name, output, attempt, tries, started_at)
		VALUES ('owned', 1, 'last', '"recorded"', 2, 1, now())`)
	step := w.SubmitStep(checkpoint.Step{WorkflowID: "owned", StepID: 1, Name: "last", Output: `"again"`, Attempt: 2, Tries: 1, StartedAt: time.Now()})
	done := w.SubmitCompletion(checkpoint.Completion{WorkflowID: "owned", Attempt: 2, State: "succeeded", Output: `"again"`, After: step})
	other := w.SubmitStep(checkpoint.Step{WorkflowID: "owned", StepID: 7, Name: "s", Output: `7`, Attempt: 2, Tries: 1, StartedAt: time.Now()})
	go w.Run()
	t.Cleanup(func() { w.Close(context.Background()) })

	applied, err := step.Wait(b.ctx)
	require.NoError(t, err, "recorded already is no error: the execution replays")
	require.False(t, applied)
	applied, err = done.Wait(b.ctx)
	require.NoError(t, err)
	require.False(t, applied, "no completion on top of a step whose recorded output differs")
	applied, err = other.Wait(b.ctx)
	require.NoError(t, err)
	require.True(t, applied, "the batch's other checkpoints are written alone")
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.steps WHERE workflow_id = 'owned' AND step_id = 1 AND output::text = '"recorded"'`))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.workflows WHERE id = 'owned' AND state = 'running'`))
}

// A Recv's step checkpoint consumes its message in the checkpoint writer's statement: the
// two are written together or not at all, in one batch with other executions' checkpoints.
func TestARecvsCheckpointConsumesItsMessageOnlyWhenTheStepIsRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	// "owner" runs under attempt 1; "lost" was claimed again (attempt 2); "taken" received
	// its message 1 at step 1 already.
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries, attempt) VALUES
		('owner', 'w', 'running', 'q', '{}', 1, 1),
		('lost', 'w', 'running', 'q', '{}', 1, 2),
		('taken', 'w', 'running', 'q', '{}', 1, 1)`)
	seq := func(to string) int64 {
		var s int64
		require.NoError(t, b.pool.QueryRow(b.ctx, fmt.Sprintf(`INSERT INTO %s.messages (destination_id, topic, payload) VALUES ($1, 't', '"m"') RETURNING seq`, b.schema), to).Scan(&s))
		return s
	}
	mine, lostOnes, takenOnes, othersMessage := seq("owner"), seq("lost"), seq("taken"), seq("lost")
	b.exec(t, `UPDATE %s.messages SET consumed_at = now(), consumed_step = 1 WHERE seq = $1`, takenOnes)

	w := checkpoint.New(b.queries(), checkpoint.Options{})
	recv := func(id string, stepID, attempt int32, consumes int64) *checkpoint.Pending {
		return w.SubmitStep(checkpoint.Step{WorkflowID: id, StepID: stepID, Name: "wf.recv:t", Output: `{}`, Attempt: attempt, Tries: 1, StartedAt: time.Now(), Consumes: consumes})
	}
	// All in one batch, beside a step that consumes nothing.
	received := recv("owner", 1, 1, mine)
	plain := w.SubmitStep(checkpoint.Step{WorkflowID: "owner", StepID: 2, Name: "s", Output: `1`, Attempt: 1, Tries: 1, StartedAt: time.Now()})
	fenced := recv("lost", 1, 1, lostOnes)
	again := recv("taken", 2, 1, takenOnes)
	notItsOwn := recv("taken", 3, 1, othersMessage)
	go w.Run()
	t.Cleanup(func() { w.Close(context.Background()) })

	for _, p := range []*checkpoint.Pending{received, plain} {
		applied, err := p.Wait(b.ctx)
		require.NoError(t, err)
		require.True(t, applied)
	}
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.messages WHERE seq = $1 AND consumed_step = 1 AND consumed_at IS NOT NULL`, mine),
		"the owner's Recv consumed its message with its step")

	var f *checkpoint.FencedError
	applied, err := fenced.Wait(b.ctx)
	require.False(t, applied)
	require.ErrorAs(t, err, &f, "a stale attempt's Recv is refused")
	require.Equal(t, 0, b.count(t, `SELECT count(*) FROM %s.messages WHERE destination_id = 'lost' AND consumed_at IS NOT NULL`),
		"and consumes nothing: the message waits for the owner's Recv")

	for _, p := range []*checkpoint.Pending{again, notItsOwn} {
		applied, err = p.Wait(b.ctx)
		require.NoError(t, err)
		require.False(t, applied, "a Recv of a message consumed already, or sent to another workflow, is not recorded: its execution replays")
	}
	require.Equal(t, 0, b.count(t, `SELECT count(*) FROM %s.steps WHERE workflow_id IN ('lost', 'taken')`))
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM %s.steps WHERE workflow_id = 'owner'`))
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM %s.messages WHERE consumed_at IS NOT NULL`), "the owner's, and the one consumed before")
}

// A sleep's suspension goes through the checkpoint writer: fenced like a completion, in
// one batch with other executions' writes.
func TestASuspensionInACheckpointBatchAppliesOnlyToTheOwnersAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries, attempt, executor_id) VALUES
		('sleeper', 'w', 'running', 'q', '{}', 1, 2, 'e'),
		('other', 'w', 'running', 'q2', '{}', 1, 1, 'e')`)
	w := checkpoint.New(b.queries(), checkpoint.Options{})
	until := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	suspend := func(id string, attempt int32) *checkpoint.Pending {
		return w.SubmitSuspension(checkpoint.Suspension{WorkflowID: id, Attempt: attempt, AvailableAt: until, WaitingFor: "sleep"})
	}
	stale := suspend("sleeper", 1)
	owner := suspend("sleeper", 2)
	step := w.SubmitStep(checkpoint.Step{WorkflowID: "other", StepID: 1, Name: "s", Output: `1`, Attempt: 1, Tries: 1, StartedAt: time.Now()})
	gone := suspend("nobody", 1)
	go w.Run()
	t.Cleanup(func() { w.Close(context.Background()) })

	applied, err := owner.Wait(b.ctx)
	require.NoError(t, err)
	require.True(t, applied)
	require.Equal(t, "q", owner.Queue(), "the queue to announce the suspended workflow on")
	applied, err = step.Wait(b.ctx)
	require.NoError(t, err)
	require.True(t, applied, "a step in the same batch")
	for _, p := range []*checkpoint.Pending{stale, gone} {
		applied, err = p.Wait(b.ctx)
		require.NoError(t, err)
		require.False(t, applied, "a stale attempt, or a workflow that is gone, suspends nothing")
	}
	var available time.Time
	require.NoError(t, b.pool.QueryRow(b.ctx, fmt.Sprintf(`SELECT available_at FROM %s.workflows
		WHERE id = 'sleeper' AND state = 'enqueued' AND waiting_for = 'sleep' AND executor_id IS NULL AND attempt = 2`, b.schema)).Scan(&available))
	require.True(t, until.Equal(available), "due at %v, not %v", until, available)
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.workflows WHERE id = 'other' AND state = 'running'`))
}

// A cancellation that reaches the executor between a workflow's claim and its launch (the
// claim commits first, and a notification can overtake the launch) still interrupts it:
// the executor remembers it for the claimed attempt. Here the launch is held back by a
// lock on the steps table, which the claim's read of the resumed workflows' histories
// waits for.
func TestACancellationArrivingBeforeItsClaimIsLaunchedStillInterruptsIt(t *testing.T) {
	t.Parallel()
	var started atomic.Int32
	blocked := wf.NewStep[int]("until-cancelled")
	flow := wf.NewWorkflow("cancelled-early", func(ctx wf.Context, n int) (int, error) {
		return blocked.Run(ctx, func(sctx context.Context) (int, error) {
			started.Add(1)
			<-sctx.Done()
			return 0, sctx.Err()
		})
	})
	b := setup(t, wf.Config{ExecutorID: "first"})
	b.start(t, flow, blocked)
	// Two, so that the next claim reads their histories together, before launching them.
	hs, err := flow.EnqueueMany(b.ctx, b.client, []int{1, 2})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return started.Load() == 2 }, 10*time.Second, 5*time.Millisecond)
	stopCtx, cancel := context.WithTimeout(b.ctx, 50*time.Millisecond)
	defer cancel()
	require.Error(t, b.client.Stop(stopCtx), "both interrupted and handed back, to resume under attempt 2")

	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer tx.Rollback(b.ctx) //nolint:errcheck // a no-op after Commit
	_, err = tx.Exec(b.ctx, fmt.Sprintf(`LOCK TABLE %s.steps IN ACCESS EXCLUSIVE MODE`, b.schema))
	require.NoError(t, err)

	second, err := wf.NewClient(b.pool, wf.Config{Schema: b.schema, ExecutorID: "second", Logger: wftest.Logger(t)})
	require.NoError(t, err)
	require.NoError(t, second.Register(flow, blocked))
	require.NoError(t, second.Start(b.ctx))
	// It claimed both, and waits for their histories behind the lock.
	waitUntilBlockedBy(t, b, tx, "the second executor never waited for the histories behind the lock")
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM %s.workflows WHERE executor_id = 'second' AND state = 'running' AND attempt = 2`))
	require.NoError(t, hs[0].Cancel(b.ctx))
	// Time for the notification to arrive before the launch: the test checks less, never
	// wrongly, if it comes later (it then finds the execution).
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, tx.Commit(b.ctx))

	require.Eventually(t, func() bool { return started.Load() >= 3 }, 10*time.Second, 5*time.Millisecond, "the other one resumed")
	require.NoError(t, hs[1].Cancel(b.ctx))
	stopCtx, cancel = context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	require.NoError(t, second.Stop(stopCtx), "no execution was left running: the early cancellation interrupted its workflow")
	require.Equal(t, int32(3), started.Load(), "the workflow cancelled before its launch ran no step")
}

// Cancelling locks a workflow tree row by row; a writer that locks the same rows in
// another order can deadlock with it, and when PostgreSQL aborts the cancellation, Cancel
// tries again rather than failing. The deadlock is made here by a transaction that holds
// the child's row, then asks for the parent's, which the cancellation holds.
func TestACancellationThatDeadlocksIsTriedAgain(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries, attempt, parent_id) VALUES
		('parent', 'w', 'running', 'q', '{}', 1, 1, NULL),
		('child', 'w', 'running', 'q', '{}', 1, 1, 'parent')`)
	// The cancellation locks the parent's row, then the child's.
	err := deadlockWith(t, b, "child", "parent", func() error { return b.client.CancelWorkflow(b.ctx, "parent") })
	require.NoError(t, err, "the deadlocked cancellation was tried again")
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM %s.workflows WHERE state = 'cancelled'`))
}

// deadlockWith makes op deadlock with a transaction, once: the transaction locks the row of
// workflow second, op (run in a goroutine) locks first's and waits for second's, then the
// transaction asks for first's. The transaction waits long before looking for deadlocks,
// so that op (the server's default deadlock_timeout, 1 s) is the one PostgreSQL aborts;
// the transaction then commits. It returns op's error.
func deadlockWith(t *testing.T, b *bundle, second, first string, op func() error) error {
	t.Helper()
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer tx.Rollback(b.ctx) //nolint:errcheck // a no-op after Commit
	_, err = tx.Exec(b.ctx, `SET LOCAL deadlock_timeout = '30s'`)
	require.NoError(t, err)
	lock := func(id string, mode string) error {
		_, err := tx.Exec(b.ctx, fmt.Sprintf(`SELECT 1 FROM %s.workflows WHERE id = $1 FOR NO KEY UPDATE %s`, b.schema, mode), id)
		return err
	}
	require.NoError(t, lock(second, ""))
	done := make(chan error, 1)
	go func() { done <- op() }()
	waitUntilBlockedBy(t, b, tx, "the operation never waited for %s's row", second)
	_, err = tx.Exec(b.ctx, "SAVEPOINT nowait")
	require.NoError(t, err)
	require.Error(t, lock(first, "NOWAIT"), "the operation holds %s's row while it waits for %s's", first, second)
	_, err = tx.Exec(b.ctx, "ROLLBACK TO SAVEPOINT nowait")
	require.NoError(t, err)
	// The cycle: PostgreSQL aborts the operation's statement, and this lock is granted.
	require.NoError(t, lock(first, ""))
	require.NoError(t, tx.Commit(b.ctx))
	return <-done
}

// waitUntilBlockedBy waits until one session waits for a lock that tx holds, and fails the
// test with msg if none does within 10 s.
func waitUntilBlockedBy(t *testing.T, b *bundle, tx pgx.Tx, msg string, args ...any) {
	t.Helper()
	var holder int
	require.NoError(t, tx.QueryRow(b.ctx, "SELECT pg_backend_pid()").Scan(&holder))
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid)) /* %s */`, holder) == 1
	}, 10*time.Second, 5*time.Millisecond, append([]any{msg}, args...)...)
}

func TestAnExecutorClaimsNothingOnceItsLeaseExpired(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	q := b.queries()
	require.NoError(t, q.RegisterExecutor(b.ctx, db.RegisterExecutorParams{ID: "late", Hostname: "h", Pid: 1, LeaseMs: 60_000}))
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries) VALUES ('w', 'w', 'enqueued', 'q', '{}', 1)`)
	executor := "late"
	claim := db.DequeueWorkflowsParams{ExecutorID: &executor, Queue: "q", Names: []string{"w"}, CodeHashes: []string{""}, NameHashes: []string{"w:*"}, MaxCount: 10}

	// Expired, but nobody has declared it dead yet: the claim itself checks the lease.
	b.exec(t, `UPDATE %s.executors SET lease_expires_at = clock_timestamp() - interval '1 millisecond' WHERE id = 'late'`)
	rows, err := q.DequeueWorkflows(b.ctx, claim)
	require.NoError(t, err)
	require.Empty(t, rows)
	b.exec(t, `UPDATE %s.executors SET lease_expires_at = clock_timestamp() + interval '1 minute', stopped_at = clock_timestamp() WHERE id = 'late'`)
	rows, err = q.DequeueWorkflows(b.ctx, claim)
	require.NoError(t, err)
	require.Empty(t, rows, "a stopped executor claims nothing")

	b.exec(t, `UPDATE %s.executors SET stopped_at = NULL WHERE id = 'late'`)
	rows, err = q.DequeueWorkflows(b.ctx, claim)
	require.NoError(t, err)
	require.Len(t, rows, 1, "with a valid lease it claims")
	require.Equal(t, int32(1), rows[0].Attempt, "each claim increments the attempt, the fencing token")
}

func TestACancellationWhoseNotificationWasLostStopsTheWorkflowAtItsNextStep(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	entered, release, returned := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var secondRan bool
	var seen error
	first, second := wf.NewStep[int]("first"), wf.NewStep[int]("second")
	w := wf.NewWorkflow("cancelled-quietly", func(ctx wf.Context, n int) (int, error) {
		defer close(returned)
		if _, err := first.Run(ctx, func(context.Context) (int, error) {
			close(entered)
			<-release // not the step's context: the cancellation is never heard
			return 1, nil
		}); err != nil {
			return 0, err
		}
		_, seen = second.Run(ctx, func(context.Context) (int, error) { secondRan = true; return 2, nil })
		return 0, seen
	})
	b.start(t, w, first, second)
	h, err := w.Enqueue(b.ctx, b.client, 1)
	require.NoError(t, err)
	<-entered
	// Cancelled by the real statement, with its notification sent where nobody listens:
	// lost, as a notification can be.
	_, err = b.queries().CancelWorkflow(b.ctx, db.CancelWorkflowParams{
		ID: h.ID(), Error: []byte(`{"kind": "cancelled", "message": "wf: workflow cancelled"}`), Channel: "nobody_listens",
	})
	require.NoError(t, err)
	close(release)

	_, err = h.Result(b.ctx)
	require.ErrorIs(t, err, wf.ErrCancelled)
	<-returned
	require.False(t, secondRan, "no step starts once the refused checkpoint said the workflow was cancelled")
	require.ErrorIs(t, seen, wf.ErrCancelled, "the workflow's code saw the cancellation at its next step")
	var fenced *checkpoint.FencedError
	require.True(t, errors.As(seen, &fenced))
	steps, err := b.client.Steps(b.ctx, h.ID())
	require.NoError(t, err)
	require.Empty(t, steps, "the checkpoint of a cancelled workflow's step is refused")
}

func TestAWorkerStopsClaimingWhileItsCompletionsWaitForTheWriter(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	bodies := make(chan string, 100)
	s := wf.NewStep[int]("one")
	w := wf.NewWorkflow("backpressured", func(ctx wf.Context, n int) (int, error) {
		out, err := s.Run(ctx, func(context.Context) (int, error) { return n, nil })
		bodies <- ctx.WorkflowID()
		return out, err
	})
	b.start(t, w, s, wf.NewQueue(wf.DefaultQueue, wf.WorkerConcurrency(2)))

	// The checkpoint writer stalls: a transaction holds the steps table.
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer tx.Rollback(context.Background()) //nolint:errcheck // a no-op after Commit
	_, err = tx.Exec(b.ctx, fmt.Sprintf(`LOCK TABLE %s.steps IN EXCLUSIVE MODE`, b.schema))
	require.NoError(t, err)

	hs, err := w.EnqueueMany(b.ctx, b.client, make([]int, 20))
	require.NoError(t, err)
	// Two slots, and eight more (four per slot) while the completions of the first ones
	// wait: ten bodies run, then the worker claims nothing more however often it looks (it
	// polls every 50ms, and every freed slot kicks it).
	const bound = 2 + 4*2
	for range bound {
		<-bodies
	}
	time.Sleep(500 * time.Millisecond)
	require.Empty(t, bodies, "the worker claimed more while its completions were not written")
	require.Equal(t, bound, b.count(t, `SELECT count(*) FROM %s.workflows WHERE state = 'running'`))

	require.NoError(t, tx.Commit(b.ctx))
	for _, h := range hs {
		_, err := h.Result(b.ctx)
		require.NoError(t, err)
	}
}

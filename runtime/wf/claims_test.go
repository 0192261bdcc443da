package wf_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
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

// A claim commits without waiting for its WAL flush, so a server crash can lose it; the
// workflow is then claimed again under the same attempt. These tests make that happen
// without a crash: they put the workflow's row back as it was before the claim.

func TestAClaimLostWithTheServerIsTakenAgainAndTheLostOnesExecutionWritesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	type run struct{ entered, release chan struct{} }
	first, second := wf.NewStep[string]("first"), wf.NewStep[string]("second")
	var mu sync.Mutex
	var seen error // what the lost claim's execution saw at its second step
	var w *wf.Workflow[int, string]
	defs := func(label string, r run, lost bool) []wf.Definition {
		def := wf.NewWorkflow("claim-lost", func(ctx wf.Context, n int) (string, error) {
			a, err := first.Run(ctx, func(context.Context) (string, error) {
				if lost {
					close(r.entered)
					<-r.release // not the step's context: it finishes whatever happens
				}
				return label, nil
			})
			if err != nil {
				return "", err
			}
			b, err := second.Run(ctx, func(context.Context) (string, error) {
				if !lost {
					close(r.entered)
					<-r.release
				}
				return label, nil
			})
			if lost {
				mu.Lock()
				seen = err
				mu.Unlock()
			}
			return a + "+" + b, err
		})
		if lost {
			w = def
		}
		// One slot: the executor whose claim is lost cannot take the workflow again itself.
		return []wf.Definition{def, first, second, wf.NewQueue(wf.DefaultQueue, wf.WorkerConcurrency(1))}
	}
	e1 := run{make(chan struct{}), make(chan struct{})}
	b.start(t, defs("e1", e1, true)...)
	h, err := w.Enqueue(b.ctx, b.client, 1, wf.WithID("claimed-twice"))
	require.NoError(t, err)
	<-e1.entered

	// The claim is lost: the row is as it was before it, and e1 does not know.
	b.exec(t, `UPDATE %s.workflows SET state = 'enqueued', attempt = attempt - 1, claim_token = 0,
	           executor_id = NULL, started_at = NULL, deadline = NULL WHERE id = 'claimed-twice'`)
	// e2 claims it again, under the same attempt, and holds it in its second step.
	e2 := run{make(chan struct{}), make(chan struct{})}
	c2 := wftest.NewClient(t, wf.Config{Schema: b.schema})
	require.NoError(t, c2.Register(defs("e2", e2, false)...))
	wftest.Start(t, c2)
	<-e2.entered
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, st.Attempt, "claimed again under the attempt of the lost claim")
	require.Equal(t, c2.ExecutorID(), st.ExecutorID)

	// e1's step returns: its checkpoint carries the same attempt, and is refused.
	close(e1.release)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return seen != nil
	}, 30*time.Second, 5*time.Millisecond, "e1's execution went on")
	require.ErrorIs(t, seen, wf.ErrInterrupted)
	var fenced *checkpoint.FencedError
	require.True(t, errors.As(seen, &fenced), "e1 was fenced off: %v", seen)

	close(e2.release)
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, "e2+e2", out, "only the second claim's execution wrote")
	steps, err := b.client.Steps(b.ctx, h.ID())
	require.NoError(t, err)
	require.Len(t, steps, 2)
	require.Equal(t, `"e2"`, steps[0].Output, "the lost claim's step was not recorded")
}

// terminateListener ends the backend of the client's notification listener, as a server
// crash would (it ends every connection at once).
func terminateListener(t *testing.T, b *bundle) {
	t.Helper()
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		                   WHERE pid <> pg_backend_pid() AND position('LISTEN' in query) > 0 AND position('%s' in query) > 0`) == 1
	}, 10*time.Second, 10*time.Millisecond, "no listener to terminate")
}

func TestALostConnectionInterruptsTheWorkflowsWhoseClaimsAreNotYetDurable(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	entered := make(chan struct{}, 2)
	var mu sync.Mutex
	var interrupted error
	first, second := wf.NewStep[int]("first"), wf.NewStep[int]("second")
	w := wf.NewWorkflow("young-claim", func(ctx wf.Context, n int) (int, error) {
		v, err := first.Run(ctx, func(sctx context.Context) (int, error) {
			if ctx.Attempt() == 1 {
				entered <- struct{}{}
				<-sctx.Done() // only an interruption ends the first attempt's first step
				mu.Lock()
				interrupted = context.Cause(sctx)
				mu.Unlock()
				return 0, context.Cause(sctx)
			}
			return 1, nil
		})
		if err != nil {
			return 0, err
		}
		return second.Run(ctx, func(context.Context) (int, error) { return v + 1, nil })
	})
	b.start(t, w, first, second)
	h, err := w.Enqueue(b.ctx, b.client, 0)
	require.NoError(t, err)
	<-entered
	// Nothing of this client has committed synchronously since the claim: it is not known
	// durable, and a server crash now could lose it.
	terminateListener(t, b)
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 2, out)
	mu.Lock()
	require.ErrorIs(t, interrupted, wf.ErrInterrupted, "the execution was interrupted")
	mu.Unlock()
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 2, st.Attempt, "handed back to its queue, and claimed again")
}

func TestALostConnectionLeavesTheWorkflowsWhoseClaimsAreDurable(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	entered, release := make(chan struct{}), make(chan struct{})
	first, second := wf.NewStep[int]("first"), wf.NewStep[int]("second")
	w := wf.NewWorkflow("durable-claim", func(ctx wf.Context, n int) (int, error) {
		v, err := first.Run(ctx, func(context.Context) (int, error) { return 1, nil })
		if err != nil {
			return 0, err
		}
		// The first step's checkpoint committed synchronously after the claim: the claim is
		// durable.
		return second.Run(ctx, func(sctx context.Context) (int, error) {
			close(entered)
			select {
			case <-release:
				return v + 1, nil
			case <-sctx.Done():
				return 0, context.Cause(sctx)
			}
		})
	})
	b.start(t, w, first, second)
	h, err := w.Enqueue(b.ctx, b.client, 0)
	require.NoError(t, err)
	<-entered
	terminateListener(t, b)
	time.Sleep(200 * time.Millisecond) // room for a wrong interruption to happen
	close(release)
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 2, out)
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, st.Attempt, "a durable claim's execution runs on through a lost connection")
}

func TestHotStatementsRunWithTheirSettingsAndTheSettingsEndWithThem(t *testing.T) {
	t.Parallel()
	// Claims and checkpoint batches go through dbschema.Prefixed(pool,
	// HotStatementSettings): JIT off, generic plans that read by key.
	ctx := context.Background()
	pool := wftest.Pool(t)
	q := dbschema.Prefixed(pool, db.HotStatementSettingsSQL)
	const settings = "SELECT current_setting('jit') || current_setting('plan_cache_mode') || current_setting('enable_seqscan') || current_setting('enable_mergejoin')"
	const hot = "off" + "force_generic_plan" + "off" + "off"
	var before string
	require.NoError(t, pool.QueryRow(ctx, settings).Scan(&before))
	require.NotEqual(t, hot, before)
	for range 3 { // and on the connection each lands on, nothing stays set
		rows, err := q.Query(ctx, settings+", current_setting('jit_above_cost')")
		require.NoError(t, err)
		var got, cost string
		require.True(t, rows.Next())
		require.NoError(t, rows.Scan(&got, &cost))
		require.False(t, rows.Next())
		require.NoError(t, rows.Err())
		rows.Close()
		require.Equal(t, hot, got)

		var after string
		require.NoError(t, pool.QueryRow(ctx, settings).Scan(&after))
		require.Equal(t, before, after, "the settings are local to the prefixed query's transaction")
	}
	// QueryRow and Exec are prefixed too.
	var got string
	require.NoError(t, q.QueryRow(ctx, settings).Scan(&got))
	require.Equal(t, hot, got)
	require.ErrorIs(t, q.QueryRow(ctx, "SELECT 1 WHERE false").Scan(&got), pgx.ErrNoRows)
	tag, err := q.Exec(ctx, "SELECT set_config('application_name', current_setting('jit'), true)")
	require.NoError(t, err)
	require.Equal(t, "SELECT 1", tag.String())
	// An error of the query is the query's.
	_, err = q.Query(ctx, "SELECT * FROM no_such_table_here")
	require.ErrorContains(t, err, "no_such_table_here")
	_, err = q.Exec(ctx, "DELETE FROM no_such_table_here")
	require.ErrorContains(t, err, "no_such_table_here")

	// Prefixes nest, in order (the checkpoint writer's LockSuspending comes after the
	// settings), and a prefix's error is the statement's.
	nested := dbschema.Prefixed(q, "SELECT set_config('application_name', current_setting('plan_cache_mode'), true)")
	require.NoError(t, nested.QueryRow(ctx, "SELECT current_setting('application_name')").Scan(&got))
	require.Equal(t, "force_generic_plan", got)
	_, err = dbschema.Prefixed(q, "SELECT * FROM no_such_prefix_table").Exec(ctx, "SELECT 1")
	require.ErrorContains(t, err, "no_such_prefix_table")
	_, err = dbschema.Prefixed(dbschema.Prefixed(pool, "SELECT * FROM no_such_inner_table"), "SELECT 1").Exec(ctx, "SELECT 1")
	require.ErrorContains(t, err, "no_such_inner_table")
	require.NoError(t, pool.QueryRow(ctx, "SELECT 1").Scan(new(int)), "the pool's connections are usable after failed batches")
}

func TestTheRuntimesLockingTransactionsCannotSitIdleForever(t *testing.T) {
	t.Parallel()
	// An executor cut off from the server in the middle of one of these transactions would
	// hold its locks (a queue's row, a workflow's row) and stall every other replica's
	// claims or takeovers until TCP keepalives gave up. Each bounds its idleness: after
	// idle_timeout_ms the server ends the session.
	b := setup(t, wf.Config{}) // a migrated schema; no executor runs, so nothing moves the rows
	rw := dbschema.NewRewriter(b.schema)
	_, err := b.pool.Exec(b.ctx, rw.SQL(`INSERT INTO wfgen.queues (name, concurrency) VALUES ('default', 1)`))
	require.NoError(t, err)
	const bound = 200 // ms
	for name, lock := range map[string]func(q *db.Queries) error{
		"LockQueue": func(q *db.Queries) error {
			return q.LockQueue(b.ctx, db.LockQueueParams{Name: wf.DefaultQueue, IdleTimeoutMs: bound})
		},
		"RecordStepInTx": func(q *db.Queries) error {
			_, err := q.RecordStepInTx(b.ctx, db.RecordStepInTxParams{WorkflowID: "no-such", StepID: 1, Name: "s", Output: "1", Attempt: 1, Tries: 1, StartedAt: time.Now(), IdleTimeoutMs: bound})
			return err
		},
	} {
		conn, err := b.pool.Acquire(b.ctx)
		require.NoError(t, err, name)
		tx, err := conn.Begin(b.ctx)
		require.NoError(t, err, name)
		require.NoError(t, lock(db.New(rw.Wrap(tx))), name)
		var setting string
		require.NoError(t, tx.QueryRow(b.ctx, "SELECT current_setting('idle_in_transaction_session_timeout')").Scan(&setting), name)
		require.Equal(t, "200ms", setting, name)
		time.Sleep(3 * bound * time.Millisecond) // idle in the transaction past the bound
		err = tx.Commit(b.ctx)
		require.Error(t, err, "%s: the server kept a session idle in its transaction past the bound", name)
		conn.Release()
	}
}

func TestCommitThenCommitsTheStatementBeforeItRunsTheOneAfter(t *testing.T) {
	t.Parallel()
	// An idle Enqueue goes through dbschema.CommitThen(pool, Announce): its insert commits in
	// a transaction of its own, and the announcement follows in the same round trip.
	b := setup(t, wf.Config{})
	b.exec(t, "CREATE TABLE %s.things (v int)")
	b.exec(t, "CREATE TABLE %s.seen (n bigint, same_tx bool)")
	after := func(conn dbschema.Batcher) dbschema.DBTX {
		// Counts the rows it sees committed, and says whether it runs in the transaction the
		// statement ran in (it must not: the statement's commit comes first).
		return dbschema.CommitThen(conn, fmt.Sprintf(
			"INSERT INTO %s.seen SELECT count(*), pg_current_xact_id_if_assigned() IS NOT NULL AND EXISTS (SELECT 1 FROM %[1]s.things WHERE xmin::text = pg_current_xact_id_if_assigned()::text) FROM %[1]s.things",
			b.schema))
	}
	q := after(b.pool)
	rows, err := q.Query(b.ctx, fmt.Sprintf("INSERT INTO %s.things VALUES (1), (2) RETURNING v", b.schema))
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowTo[int])
	require.NoError(t, err)
	require.Equal(t, []int{1, 2}, got)
	var seen int
	var sameTx bool
	require.NoError(t, b.pool.QueryRow(b.ctx, fmt.Sprintf("SELECT n, same_tx FROM %s.seen", b.schema)).Scan(&seen, &sameTx))
	require.Equal(t, 2, seen, "the statement after sees the statement's rows")
	require.False(t, sameTx, "the statement after runs in a transaction of its own")

	// Exec and QueryRow go the same way.
	tag, err := q.Exec(b.ctx, fmt.Sprintf("INSERT INTO %s.things VALUES (3)", b.schema))
	require.NoError(t, err)
	require.Equal(t, "INSERT 0 1", tag.String())
	require.NoError(t, q.QueryRow(b.ctx, fmt.Sprintf("SELECT count(*) FROM %s.things", b.schema)).Scan(&seen))
	require.Equal(t, 3, seen)
	require.Equal(t, 3, b.count(t, "SELECT count(*) FROM %s.seen"))

	// The statement after failing is not the statement's failure: what it committed stays.
	failing := dbschema.CommitThen(b.pool, "SELECT 1/0")
	_, err = failing.Exec(b.ctx, fmt.Sprintf("INSERT INTO %s.things VALUES (4)", b.schema))
	require.NoError(t, err)
	require.Equal(t, 4, b.count(t, "SELECT count(*) FROM %s.things"))

	// Its commit failing is the statement's failure too (a deferred constraint is checked at
	// the commit): an Enqueue through it reports no workflow its commit did not store.
	b.exec(t, "CREATE TABLE %s.deferred (v int UNIQUE DEFERRABLE INITIALLY DEFERRED)")
	rows, err = q.Query(b.ctx, fmt.Sprintf("INSERT INTO %s.deferred VALUES (1), (1) RETURNING v", b.schema))
	require.NoError(t, err)
	for rows.Next() {
	}
	require.ErrorContains(t, rows.Err(), "duplicate key")
	rows.Close()
	_, err = q.Exec(b.ctx, fmt.Sprintf("INSERT INTO %s.deferred VALUES (2), (2)", b.schema))
	require.ErrorContains(t, err, "duplicate key")
	require.Zero(t, b.count(t, "SELECT count(*) FROM %s.deferred"))
	require.Equal(t, 3, b.count(t, "SELECT count(*) FROM %s.seen"), "the statement after a failed commit does not run")

	// The statement failing is: nothing of it is committed, the statement after does not
	// run, and the pool's connections stay usable.
	for range 3 {
		_, err = q.Exec(b.ctx, fmt.Sprintf("INSERT INTO %s.things VALUES (1/0)", b.schema))
		require.ErrorContains(t, err, "division by zero")
		_, err = q.Query(b.ctx, "SELECT * FROM no_such_table_here")
		require.ErrorContains(t, err, "no_such_table_here")
	}
	require.Equal(t, 4, b.count(t, "SELECT count(*) FROM %s.things"))
	require.Equal(t, 3, b.count(t, "SELECT count(*) FROM %s.seen"))
	for range 5 {
		require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT 1").Scan(new(int)), "the pool's connections are usable after failed batches")
	}
}

func TestAnEnqueueOnAnIdleClientAnnouncesItself(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	w, defs := noopSteps("announced", 1)
	require.NoError(t, b.client.Register(defs...))
	// A connection of its own: one of the shared pool's could still listen for another test.
	conn, err := pgx.ConnectConfig(b.ctx, b.pool.Config().ConnConfig.Copy())
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(b.ctx, "LISTEN "+pgx.Identifier{b.schema}.Sanitize())
	require.NoError(t, err)

	// Alone, and then delayed: each notification names the queue and the delay.
	_, err = w.Enqueue(b.ctx, b.client, 1)
	require.NoError(t, err)
	_, err = w.Enqueue(b.ctx, b.client, 2, wf.WithDelay(time.Minute))
	require.NoError(t, err)
	for _, want := range []string{`"q":"default"}`, `"q":"default","d":60000}`} {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		n, err := conn.WaitForNotification(ctx)
		cancel()
		require.NoError(t, err)
		require.Contains(t, n.Payload, `"k":"e"`)
		require.Contains(t, n.Payload, want)
	}
	require.Equal(t, 2, b.count(t, "SELECT count(*) FROM %s.workflows WHERE state = 'enqueued'"))

	// Enqueues that overlap are announced too, by the announcer, fewer notifications than
	// enqueues; none is lost, and a duplicate ID still finds its workflow.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			_, err := w.Enqueue(b.ctx, b.client, i, wf.WithID(fmt.Sprintf("overlap-%d", i%10)))
			require.NoError(t, err)
		})
	}
	wg.Wait()
	require.Zero(t, wf.EnqueuesInFlight(b.client), "every enqueue, idle or not, counts itself out")
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	n, err := conn.WaitForNotification(ctx)
	require.NoError(t, err)
	require.Contains(t, n.Payload, `"q":"default"`)
	require.Equal(t, 12, b.count(t, "SELECT count(*) FROM %s.workflows WHERE state = 'enqueued'"))
}

// A claim updates the rows it locked by their address (ctid), not by primary key. Under
// claimers racing for one queue while other transactions keep updating the waiting rows
// (each update moves a row to a new address, which a claim's lock then follows), every
// workflow is claimed exactly once, under attempt 1, and every row a claim returns is the
// one it updated to running.
func TestConcurrentClaimsTakeEachWorkflowOnceWhileItsRowsMove(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	q := b.queries()
	const n, claimers, batch = 3000, 6, 25
	require.NoError(t, q.RegisterExecutor(b.ctx, db.RegisterExecutorParams{ID: "racer", Hostname: "h", Pid: 1, LeaseMs: 60_000}))
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries)
		SELECT 'w-' || i, 'w', 'enqueued', 'q', '{}', 1 FROM generate_series(1, `+fmt.Sprint(n)+`) i`)

	ctx, stopChurn := context.WithCancel(b.ctx)
	churned := make(chan int)
	go func() {
		moved := 0
		for ctx.Err() == nil {
			// A new version of 50 waiting rows, at new addresses, committed at once.
			tag, err := b.pool.Exec(ctx, fmt.Sprintf(`UPDATE %s.workflows SET updated_at = clock_timestamp()
				WHERE id IN (SELECT id FROM %s.workflows WHERE state = 'enqueued' ORDER BY random() LIMIT 50)`, b.schema, b.schema))
			if err == nil {
				moved += int(tag.RowsAffected())
			}
		}
		churned <- moved
	}()

	executor := "racer"
	params := db.DequeueWorkflowsParams{ExecutorID: &executor, Queue: "q", Names: []string{"w"}, CodeHashes: []string{""}, NameHashes: []string{"w:*"}, MaxCount: batch}
	var mu sync.Mutex
	claims := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, claimers)
	// A claim skips locked rows, and the churn locks up to 50 waiting rows at a time: near the
	// end it can hold all that are left, again and again. So a claimer stops when none wait,
	// not at its first empty claims; one that could never claim some row fails the test at
	// the deadline.
	deadline := time.Now().Add(time.Minute)
	waiting := func() (int, error) {
		var n int
		err := b.pool.QueryRow(b.ctx, fmt.Sprintf(`SELECT count(*) FROM %s.workflows WHERE state = 'enqueued'`, b.schema)).Scan(&n)
		return n, err
	}
	for range claimers {
		wg.Go(func() {
			for {
				rows, err := q.DequeueWorkflows(b.ctx, params)
				if err != nil {
					errs <- err
					return
				}
				if len(rows) == 0 {
					left, err := waiting()
					switch {
					case err != nil:
						errs <- err
						return
					case left == 0:
						return
					case time.Now().After(deadline):
						errs <- fmt.Errorf("%d workflows still waiting after a minute of claims", left)
						return
					}
					continue // the others, or the churn, hold the rest locked for a moment
				}
				mu.Lock()
				for _, r := range rows {
					claims[r.ID]++
					if r.Attempt != 1 {
						errs <- fmt.Errorf("%s claimed under attempt %d", r.ID, r.Attempt)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	stopChurn()
	t.Logf("the churn moved %d waiting rows while they were claimed", <-churned)
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for id, c := range claims {
		require.Equal(t, 1, c, "%s was claimed %d times", id, c)
	}
	require.Len(t, claims, n, "every workflow claimed")
	require.Equal(t, n, b.count(t, `SELECT count(*) FROM %s.workflows WHERE state = 'running' AND attempt = 1 AND executor_id = 'racer'`))
}

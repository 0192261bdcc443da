package wf_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wftest"
)

// tracked records when each run of its body starts and ends (on the database's clock, the
// one clock every process shares), on a queue with a global concurrency of 5 that each
// process works 2 at a time: three processes could run 6, so the global limit binds, and
// once 5 run, two processes are full and the third must be the one running the 5th.
func tracked(pool *pgxpool.Pool, schema string) (*wf.Workflow[int, int], []wf.Definition) {
	begin, work, end := wf.NewStep[int]("begin"), wf.NewStep[int]("work"), wf.NewStep[int]("end")
	q := wf.NewQueue("limited", wf.GlobalConcurrency(5), wf.WorkerConcurrency(2))
	w := wf.NewWorkflow("tracked", func(ctx wf.Context, n int) (int, error) {
		if _, err := begin.Run(ctx, func(sctx context.Context) (int, error) {
			_, err := pool.Exec(sctx, fmt.Sprintf(`INSERT INTO %s.runs (workflow_id, pid, started) VALUES ($1, $2, clock_timestamp())`, schema), ctx.WorkflowID(), os.Getpid())
			return 0, err
		}); err != nil {
			return 0, err
		}
		if _, err := work.Run(ctx, func(context.Context) (int, error) { time.Sleep(40 * time.Millisecond); return 0, nil }); err != nil {
			return 0, err
		}
		return end.Run(ctx, func(sctx context.Context) (int, error) {
			_, err := pool.Exec(sctx, fmt.Sprintf(`UPDATE %s.runs SET ended = clock_timestamp() WHERE workflow_id = $1`, schema), ctx.WorkflowID())
			return n, err
		})
	}, wf.WorkflowQueue("limited"))
	return w, []wf.Definition{w, begin, work, end, q}
}

func trackedRole(pool *pgxpool.Pool, schema string, _ *wf.Config) []wf.Definition {
	_, defs := tracked(pool, schema)
	return defs
}

// Takeover tests run with a short lease.
const (
	testLease     = 3 * time.Second
	testHeartbeat = 300 * time.Millisecond
	// countedHeartbeat is the heartbeat of the helper workers of tests that count a
	// workflow's attempts. A renewal gives up after the heartbeat interval of real time,
	// and a failed renewal rightly interrupts the workflows whose claims are not yet known
	// durable (a crashed server may have lost them), which adds an attempt such a test does
	// not expect: a helper process starved of CPU by race suites side by side missed 300ms.
	countedHeartbeat = time.Second
)

// slowSteps has five steps of 150ms, each recording its execution with the process and the
// workflow attempt that ran it.
func slowSteps(pool *pgxpool.Pool, schema string) (*wf.Workflow[int, int], []wf.Definition) {
	var steps []*wf.Step[int]
	defs := []wf.Definition{wf.NewQueue(wf.DefaultQueue, wf.WorkerConcurrency(4))}
	for i := 1; i <= 5; i++ {
		s := wf.NewStep[int](fmt.Sprintf("slow-%d", i))
		steps = append(steps, s)
		defs = append(defs, s)
	}
	w := wf.NewWorkflow("slow", func(ctx wf.Context, n int) (int, error) {
		acc := n
		for i, s := range steps {
			var err error
			acc, err = s.Run(ctx, func(sctx context.Context) (int, error) {
				if _, err := pool.Exec(sctx, fmt.Sprintf(`INSERT INTO %s.executions (workflow_id, step, pid, attempt) VALUES ($1, $2, $3, $4)`, schema),
					ctx.WorkflowID(), i+1, os.Getpid(), ctx.Attempt()); err != nil {
					return 0, err
				}
				time.Sleep(150 * time.Millisecond)
				return acc + i + 1, nil
			})
			if err != nil {
				return 0, err
			}
		}
		return acc, nil
	})
	return w, append(defs, w)
}

func slowStepsRole(pool *pgxpool.Pool, schema string, cfg *wf.Config) []wf.Definition {
	cfg.LeaseDuration, cfg.HeartbeatInterval = testLease, testHeartbeat
	_, defs := slowSteps(pool, schema)
	return defs
}

// suicidal's step kills its own process, every time it runs; healthy just works.
func suicidal(pool *pgxpool.Pool, schema string) (doomed *wf.Workflow[int, int], healthy *wf.Workflow[int, int], defs []wf.Definition) {
	die := wf.NewStep[int]("die")
	doomed = wf.NewWorkflow("doomed", func(ctx wf.Context, n int) (int, error) {
		return die.Run(ctx, func(sctx context.Context) (int, error) {
			if _, err := pool.Exec(sctx, fmt.Sprintf(`INSERT INTO %s.executions (workflow_id, step, pid, attempt) VALUES ($1, 1, $2, $3)`, schema),
				ctx.WorkflowID(), os.Getpid(), ctx.Attempt()); err != nil {
				return 0, err
			}
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		})
	}, wf.MaxRecoveries(2))
	healthy = wf.NewWorkflow("healthy", func(ctx wf.Context, n int) (int, error) { return n, nil })
	return doomed, healthy, []wf.Definition{doomed, healthy, die}
}

func suicidalRole(pool *pgxpool.Pool, schema string, _ *wf.Config) []wf.Definition {
	_, _, defs := suicidal(pool, schema)
	return defs
}

func helperEnv(schema, executor string) []string {
	return []string{helperSchemaEnv + "=" + schema, helperExecutorEnv + "=" + executor}
}

func TestThreeProcessesShareAGlobalConcurrencyOfFive(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `CREATE TABLE %s.runs (workflow_id text, pid int, started timestamptz, ended timestamptz)`)
	w, _ := tracked(b.pool, b.schema)
	var procs []*helperProc
	for i := range 3 {
		procs = append(procs, startHelper(t, "tracked", helperEnv(b.schema, fmt.Sprintf("limited-%d", i))...))
	}
	ins := make([]int, 60)
	for i := range ins {
		ins[i] = i
	}
	hs, err := w.EnqueueMany(b.ctx, b.client, ins)
	require.NoError(t, err)
	for i, h := range hs {
		out, err := h.Result(b.ctx)
		require.NoError(t, err)
		require.Equal(t, i, out)
	}
	// At the start of every run, count the runs going on: never more than 5.
	maxRunning := b.count(t, `SELECT max((SELECT count(*) FROM %[1]s.runs s WHERE s.started <= r.started AND s.ended > r.started)) FROM %[1]s.runs r`)
	require.LessOrEqual(t, maxRunning, 5)
	require.Greater(t, maxRunning, 1)
	require.Equal(t, 3, b.count(t, `SELECT count(DISTINCT pid) FROM %s.runs`), "every process did work")
	require.Equal(t, 60, b.count(t, `SELECT count(*) FROM %s.runs WHERE ended IS NOT NULL`))
	require.Equal(t, 60, b.count(t, `SELECT count(DISTINCT workflow_id) FROM %s.runs`), "every workflow ran exactly once")
	for _, p := range procs {
		p.stop(t)
	}
}

func TestSIGKILLedReplicasWorkflowsAreTakenOverWithinTheLease(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `CREATE TABLE %s.executions (workflow_id text, step int, pid int, attempt int, at timestamptz DEFAULT clock_timestamp())`)
	w, _ := slowSteps(b.pool, b.schema)
	var procs []*helperProc
	for i := range 3 {
		procs = append(procs, startHelper(t, "slow-steps", helperEnv(b.schema, fmt.Sprintf("replica-%d", i))...))
	}
	victim := procs[0]
	hs, err := w.EnqueueMany(b.ctx, b.client, make([]int, 24))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM %s.executions WHERE pid = $1`, victim.pid()) >= 6
	}, 30*time.Second, 10*time.Millisecond, "the victim never got to work")
	victim.kill(t)
	var killedAt time.Time
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT clock_timestamp()`).Scan(&killedAt))

	for _, h := range hs {
		out, err := h.Result(b.ctx)
		require.NoError(t, err)
		require.Equal(t, 15, out)
	}
	// No step ran again once it was recorded: every execution of a step belongs to the
	// attempt that recorded it, or to an earlier one that the victim was running.
	require.Zero(t, b.count(t, `SELECT count(*) FROM %[1]s.executions e JOIN %[1]s.steps s
		ON s.workflow_id = e.workflow_id AND s.step_id = e.step WHERE e.attempt > s.attempt`), "a completed step ran again")
	require.Zero(t, b.count(t, `SELECT count(*) FROM %[1]s.executions e JOIN %[1]s.steps s
		ON s.workflow_id = e.workflow_id AND s.step_id = e.step WHERE e.attempt < s.attempt AND e.pid <> $1`, victim.pid()))
	require.Zero(t, b.count(t, `SELECT count(*) FROM (SELECT 1 FROM %s.executions GROUP BY workflow_id, step, attempt HAVING count(*) > 1) d`))

	// The victim's unfinished workflows resumed elsewhere within the lease (plus the
	// heartbeat that notices, plus a margin).
	var takenOver int
	var slowest time.Duration
	require.NoError(t, b.pool.QueryRow(b.ctx, fmt.Sprintf(`
		SELECT count(*), coalesce(max(resumed - $2), '0')::interval
		FROM (SELECT e.workflow_id, min(e.at) AS resumed
		      FROM %[1]s.executions e
		      WHERE e.at > $2 AND e.pid <> $1
		        AND e.workflow_id IN (SELECT workflow_id FROM %[1]s.executions WHERE pid = $1)
		        AND e.attempt > 1
		      GROUP BY e.workflow_id) r`, b.schema), victim.pid(), killedAt).Scan(&takenOver, &slowest))
	require.Positive(t, takenOver, "nothing was taken over: the test tested nothing")
	require.LessOrEqual(t, slowest, testLease+testHeartbeat+1500*time.Millisecond)
	t.Logf("%d workflows taken over; the slowest resumed %s after the SIGKILL (lease %s)", takenOver, slowest, testLease)
	for _, p := range procs[1:] {
		p.stop(t)
	}
}

func TestAWorkflowThatKeepsKillingItsExecutorsIsGivenUpAsDead(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `CREATE TABLE %s.executions (workflow_id text, step int, pid int, attempt int, at timestamptz DEFAULT clock_timestamp())`)
	doomed, healthy, _ := suicidal(b.pool, b.schema)
	h, err := doomed.Enqueue(b.ctx, b.client, 1)
	require.NoError(t, err)

	// Restart the worker each time the workflow kills it, as a container runtime would.
	var alive *helperProc
	for range 6 {
		proc := startHelper(t, "suicidal", helperEnv(b.schema, "crash-looping")...)
		deadline := time.After(30 * time.Second)
	wait:
		for {
			select {
			case <-proc.exited:
				break wait // killed by the workflow: start the next one
			case <-deadline:
				t.Fatal("the worker neither died nor gave the workflow up")
			case <-time.After(20 * time.Millisecond):
				if st, err := h.Status(b.ctx); err == nil && st.State == wf.StateDead {
					alive = proc
					break wait
				}
			}
		}
		if alive != nil {
			break
		}
	}
	require.NotNil(t, alive, "the workflow was never given up")
	_, err = h.Result(b.ctx)
	require.ErrorIs(t, err, wf.ErrDead)
	require.ErrorContains(t, err, "during each of its 3 runs, and MaxRecoveries is 2")
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 2, st.Recoveries)
	require.Equal(t, 3, b.count(t, `SELECT count(*) FROM %s.executions`), "it ran once, then once per recovery")

	// The surviving worker goes on working.
	ok, err := healthy.Enqueue(b.ctx, b.client, 7)
	require.NoError(t, err)
	out, err := ok.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 7, out)
	alive.stop(t)
}

// leaseVictim blocks in its step on its first attempt only, until its context ends.
func leaseVictim() (*wf.Workflow[int, int], []wf.Definition, chan struct{}) {
	entered := make(chan struct{}, 10)
	s := wf.NewStep[int]("hold")
	w := wf.NewWorkflow("lease-victim", func(ctx wf.Context, n int) (int, error) {
		return s.Run(ctx, func(sctx context.Context) (int, error) {
			entered <- struct{}{}
			if ctx.Attempt() == 1 {
				<-sctx.Done()
				return 0, sctx.Err()
			}
			return n, nil
		})
	})
	return w, []wf.Definition{w, s}, entered
}

func TestAnExecutorDeclaredDeadInterruptsItsWorkflowsWhichThenResume(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{ExecutorID: "presumed-dead", LeaseDuration: time.Second, HeartbeatInterval: 100 * time.Millisecond})
	w, defs, entered := leaseVictim()
	b.start(t, defs...)
	h, err := w.Enqueue(b.ctx, b.client, 7)
	require.NoError(t, err)
	<-entered
	// A peer found the lease expired (a long pause, say) and declared the executor dead.
	b.exec(t, `UPDATE %s.executors SET stopped_at = now() WHERE id = 'presumed-dead'`)
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 7, out)
	require.Len(t, entered, 1, "the step ran once more, on the second attempt")
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 2, st.Attempt)
}

func TestAnExecutorWhoseDatabaseHangsFencesItselfAndResumesAfter(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{ExecutorID: "hung", LeaseDuration: time.Second, HeartbeatInterval: 100 * time.Millisecond})
	w, defs, entered := leaseVictim()
	b.start(t, defs...)
	h, err := w.Enqueue(b.ctx, b.client, 9)
	require.NoError(t, err)
	<-entered
	// Heartbeats hang on a lock for longer than the lease: the executor must stop its work.
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	_, err = tx.Exec(b.ctx, fmt.Sprintf(`SELECT 1 FROM %s.executors WHERE id = 'hung' FOR UPDATE`, b.schema))
	require.NoError(t, err)
	steps, err := b.client.Steps(b.ctx, h.ID())
	require.NoError(t, err)
	require.Empty(t, steps)
	time.Sleep(1500 * time.Millisecond)
	require.NoError(t, tx.Rollback(b.ctx))
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 9, out)
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 2, st.Attempt, "the interrupted workflow was handed back and claimed again")
}

// A process that starts under the executor ID of one that still runs hands that one's
// running workflows back, which its writer may be locking in another order. When
// PostgreSQL aborts the hand-back to break the deadlock, Start tries it again rather than
// failing, and each workflow is handed back once.
func TestAStartWhoseHandBackDeadlocksTriesItAgain(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{ExecutorID: "twin"})
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries, attempt, executor_id) VALUES
		('a', 'w', 'running', 'q', '{}', 5, 1, 'twin'),
		('b', 'w', 'running', 'q', '{}', 5, 1, 'twin')`)
	// The hand-back locks a's row, then b's.
	err := deadlockWith(t, b, "b", "a", func() error { return b.client.Start(b.ctx) })
	require.NoError(t, err, "the deadlocked hand-back was tried again")
	t.Cleanup(func() { require.NoError(t, b.client.Stop(context.Background())) })
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM %s.workflows WHERE state = 'enqueued' AND recoveries = 1`),
		"both were handed back, once")
}

// Two live processes must not share an executor ID: each hands the other's running
// workflows back when it starts, and their renewals keep one lease alive for both. The one
// whose registration the other took over says so at its next renewal, once.
func TestAProcessSaysSoWhenAnotherRegistersUnderItsExecutorID(t *testing.T) {
	t.Parallel()
	cfg := wf.Config{ExecutorID: "twin", LeaseDuration: time.Second, HeartbeatInterval: 50 * time.Millisecond}
	firstLog, firstRecords := recordLogs(t)
	cfg.Logger = firstLog
	b := setup(t, cfg)
	b.start(t)
	const said = "wfgen: another process registered under this executor's ID while this one runs; give every process its own Config.ExecutorID (the default, hostname-pid, is unique)"

	// Renewals alone say nothing.
	time.Sleep(200 * time.Millisecond)
	require.Empty(t, firstRecords.find(slog.LevelError, said))

	secondLog, secondRecords := recordLogs(t)
	second := wftest.NewClient(t, wf.Config{Schema: b.schema, ExecutorID: "twin", LeaseDuration: time.Second,
		HeartbeatInterval: 50 * time.Millisecond, Logger: secondLog})
	wftest.Start(t, second)
	require.Eventually(t, func() bool { return len(firstRecords.find(slog.LevelError, said)) > 0 },
		5*time.Second, 10*time.Millisecond, "the first process said nothing")
	// Many renewals later, still once; the second one's registration is its own.
	time.Sleep(300 * time.Millisecond)
	found := firstRecords.find(slog.LevelError, said)
	require.Len(t, found, 1)
	require.Equal(t, "twin", found[0]["executor_id"])
	require.Equal(t, fmt.Sprint(os.Getpid()), found[0]["other_pid"])
	require.Empty(t, secondRecords.find(slog.LevelError, said))
}

package wf_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/wf"
)

// ledgerTable is the application table the transactional steps of these tests write: the
// key is unique, and deferred, so that a duplicate fails at COMMIT rather than at INSERT.
const ledgerTable = `CREATE TABLE %s.ledger (
	key text,
	amount int,
	CONSTRAINT ledger_key_unique UNIQUE (key) DEFERRABLE INITIALLY DEFERRED
)`

func insertLedger(ctx context.Context, tx pgx.Tx, schema, key string, amount int) error {
	_, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s.ledger (key, amount) VALUES ($1, $2)`, schema), key, amount)
	return err
}

func TestTxStepCommitsItsWritesWithItsCheckpointAndReplayDoesNotRunItAgain(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{SuspendAfter: -1}) // the sleep suspends: the workflow resumes by replaying
	b.exec(t, ledgerTable)
	var runs atomic.Int32
	credit := wf.NewStep[int]("credit")
	w := wf.NewWorkflow("credit-then-sleep", func(ctx wf.Context, amount int) (int, error) {
		got, err := credit.RunTx(ctx, func(sctx context.Context, tx pgx.Tx) (int, error) {
			runs.Add(1)
			return amount * 2, insertLedger(sctx, tx, b.schema, ctx.WorkflowID(), amount)
		})
		if err != nil {
			return 0, err
		}
		// Long enough to be recorded before it is over, on a loaded machine too: a nap that
		// is over by then does not suspend.
		if err := wf.Sleep(ctx, 500*time.Millisecond); err != nil {
			return 0, err
		}
		return got, nil
	})
	b.start(t, w, credit)
	h, err := w.Enqueue(b.ctx, b.client, 21, wf.WithID("credit"))
	require.NoError(t, err)
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 42, out, "the replay returned the recorded output")
	require.Equal(t, int32(1), runs.Load(), "the replay did not run the step again")
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Greater(t, st.Attempt, 1, "the workflow was resumed after suspending")
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.ledger WHERE key = 'credit' AND amount = 21`))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.steps WHERE workflow_id = 'credit' AND name = 'credit' AND output::text = '42' AND tries = 1`))
}

func TestTxStepWhoseCommitFailsLeavesNoTraceAndIsRetried(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, ledgerTable)
	var tries atomic.Int32
	credit := wf.NewStep[int]("credit-twice", wf.MaxAttempts(2), wf.Backoff(0))
	w := wf.NewWorkflow("commit-fails-once", func(ctx wf.Context, _ struct{}) (int, error) {
		return credit.RunTx(ctx, func(sctx context.Context, tx pgx.Tx) (int, error) {
			n := int(tries.Add(1))
			if err := insertLedger(sctx, tx, b.schema, "k", n); err != nil {
				return 0, err
			}
			if n == 1 {
				// A duplicate of a deferred unique key: fine until COMMIT, which fails.
				return n, insertLedger(sctx, tx, b.schema, "k", n)
			}
			return n, nil
		})
	})
	b.start(t, w, credit)
	h, err := w.Enqueue(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 2, out)
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.ledger`), "the first attempt's writes were rolled back")
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.ledger WHERE amount = 2`))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.steps WHERE workflow_id = $1 AND tries = 2 AND output::text = '2'`, h.ID()))
}

func TestTxStepWhoseEveryCommitFailsFailsCleanlyWithNothingWritten(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, ledgerTable)
	credit := wf.NewStep[int]("credit-dup")
	w := wf.NewWorkflow("commit-always-fails", func(ctx wf.Context, _ struct{}) (int, error) {
		return credit.RunTx(ctx, func(sctx context.Context, tx pgx.Tx) (int, error) {
			if err := insertLedger(sctx, tx, b.schema, "dup", 1); err != nil {
				return 0, err
			}
			return 1, insertLedger(sctx, tx, b.schema, "dup", 2)
		})
	})
	b.start(t, w, credit)
	h, err := w.Enqueue(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.ErrorContains(t, err, "step credit-dup failed")
	require.ErrorContains(t, err, "committing the step's transaction")
	require.ErrorContains(t, err, "ledger_key_unique")
	require.Equal(t, 0, b.count(t, `SELECT count(*) FROM %s.ledger`))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.steps WHERE workflow_id = $1 AND output IS NULL AND error IS NOT NULL`, h.ID()),
		"the failure is recorded like any step's")
}

func TestTxStepWhoseCheckpointIsFencedOffRollsBackItsWrites(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, ledgerTable)
	seen := make(chan error, 1)
	credit := wf.NewStep[int]("credit-fenced", wf.MaxAttempts(3))
	w := wf.NewWorkflow("fenced-tx-step", func(ctx wf.Context, _ struct{}) (int, error) {
		out, err := credit.RunTx(ctx, func(sctx context.Context, tx pgx.Tx) (int, error) {
			if err := insertLedger(sctx, tx, b.schema, "fenced", 1); err != nil {
				return 0, err
			}
			// Another executor claims the workflow while the step's transaction is open.
			_, err := b.pool.Exec(sctx, fmt.Sprintf(`UPDATE %s.workflows SET attempt = attempt + 1 WHERE id = $1`, b.schema), ctx.WorkflowID())
			return 1, err
		})
		seen <- err
		return out, err
	})
	b.start(t, w, credit)
	_, err := w.Enqueue(b.ctx, b.client, struct{}{}, wf.WithID("fenced"))
	require.NoError(t, err)
	select {
	case err := <-seen:
		require.ErrorIs(t, err, wf.ErrInterrupted, "the step's attempt no longer owns the workflow")
	case <-b.ctx.Done():
		t.Fatal("the step never returned")
	}
	require.Equal(t, 0, b.count(t, `SELECT count(*) FROM %s.ledger`), "the refused checkpoint took the step's writes with it")
	require.Equal(t, 0, b.count(t, `SELECT count(*) FROM %s.steps WHERE workflow_id = 'fenced'`))
}

// txStepRole is the worker of the crash test: a workflow whose transactional step writes the
// ledger, notes (outside its transaction) that it did, and with helperBlockEnv set hangs
// before its transaction commits.
func txStepRole(pool *pgxpool.Pool, schema string, _ *wf.Config) []wf.Definition {
	w, step := txStepWorkflow(pool, schema, os.Getenv(helperBlockEnv) != "")
	return []wf.Definition{w, step}
}

func txStepWorkflow(pool *pgxpool.Pool, schema string, hang bool) (*wf.Workflow[int, int], *wf.Step[int]) {
	credit := wf.NewStep[int]("crash-credit")
	w := wf.NewWorkflow("crash-credit", func(ctx wf.Context, amount int) (int, error) {
		return credit.RunTx(ctx, func(sctx context.Context, tx pgx.Tx) (int, error) {
			if err := insertLedger(sctx, tx, schema, ctx.WorkflowID(), amount); err != nil {
				return 0, err
			}
			if _, err := pool.Exec(sctx, fmt.Sprintf(`INSERT INTO %s.executions (workflow_id, step, pid) VALUES ($1, 1, $2)`, schema),
				ctx.WorkflowID(), os.Getpid()); err != nil {
				return 0, err
			}
			if hang {
				select {} // written, not committed: hang here until SIGKILL
			}
			return amount, nil
		})
	})
	return w, credit
}

func TestSIGKILLBeforeATxStepCommitsLeavesNoWriteAndItsRerunWritesOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, ledgerTable)
	b.exec(t, `CREATE TABLE %s.executions (workflow_id text, step int, pid int, at timestamptz DEFAULT now())`)
	w, _ := txStepWorkflow(b.pool, b.schema, false)
	env := []string{helperSchemaEnv + "=" + b.schema, helperExecutorEnv + "=tx-crash-worker"}

	first := startHelper(t, "tx-step", append(env, helperBlockEnv+"=1")...)
	h, err := w.Enqueue(b.ctx, b.client, 7, wf.WithID("tx-crash"))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM %s.executions WHERE workflow_id = 'tx-crash'`) == 1
	}, 30*time.Second, 10*time.Millisecond, "the worker never reached its write")
	first.kill(t)
	require.Equal(t, 0, b.count(t, `SELECT count(*) FROM %s.ledger`), "the killed step's write never committed")
	require.Equal(t, 0, b.count(t, `SELECT count(*) FROM %s.steps WHERE workflow_id = 'tx-crash'`))

	second := startHelper(t, "tx-step", env...)
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 7, out)
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM %s.executions WHERE workflow_id = 'tx-crash'`), "the step ran again on takeover")
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.ledger WHERE key = 'tx-crash'`), "its effect exists exactly once")
	second.stop(t)
}

type greeter struct{ greeting string }

func TestStepsReachTheDependencyRegisteredOnTheirClient(t *testing.T) {
	t.Parallel()
	greet := wf.NewStep[string]("greet")
	w := wf.NewWorkflow("greet", func(ctx wf.Context, name string) (string, error) {
		g, err := wf.Dep[greeter](ctx)
		if err != nil {
			return "", err
		}
		return greet.Run(ctx, func(context.Context) (string, error) { return g.greeting + ", " + name, nil })
	})
	for _, greeting := range []string{"hello", "bonjour"} {
		t.Run(greeting, func(t *testing.T) {
			t.Parallel()
			b := setup(t, wf.Config{})
			b.start(t, w, greet, wf.Provide(&greeter{greeting: greeting}))
			h, err := w.Enqueue(b.ctx, b.client, "ada")
			require.NoError(t, err)
			out, err := h.Result(b.ctx)
			require.NoError(t, err)
			require.Equal(t, greeting+", ada", out)
		})
	}
}

func TestAStepWhoseDependencyIsMissingFailsItsWorkflowSayingWhatToRegister(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	w := wf.NewWorkflow("no-greeter", func(ctx wf.Context, name string) (string, error) {
		g, err := wf.Dep[greeter](ctx)
		if err != nil {
			return "", err
		}
		return g.greeting, nil
	})
	b.start(t, w)
	h, err := w.Enqueue(b.ctx, b.client, "ada")
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.ErrorContains(t, err, "*wf_test.greeter")
	require.ErrorContains(t, err, "pass one to the generated Register")
}

func TestProvideRefusesNilAndTwoValuesOfOneType(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	err := b.client.Register(wf.Provide[greeter](nil))
	require.ErrorContains(t, err, "the *wf_test.greeter given is nil")
	g := &greeter{}
	require.NoError(t, b.client.Register(wf.Provide(g), wf.Provide(g)))
	err = b.client.Register(wf.Provide(&greeter{}))
	require.ErrorContains(t, err, "two different *wf_test.greeter values")
	require.False(t, errors.Is(err, wf.ErrMissingDependency))
}

func TestATxStepCannotCommitItsOwnTransaction(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, ledgerTable)
	credit := wf.NewStep[int]("credit-commits")
	w := wf.NewWorkflow("step-commits", func(ctx wf.Context, _ struct{}) (int, error) {
		return credit.RunTx(ctx, func(sctx context.Context, tx pgx.Tx) (int, error) {
			if err := insertLedger(sctx, tx, b.schema, "early", 1); err != nil {
				return 0, err
			}
			return 1, tx.Commit(sctx)
		})
	})
	b.start(t, w, credit)
	h, err := w.Enqueue(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.ErrorContains(t, err, "must not commit or roll back its transaction")
	require.Equal(t, 0, b.count(t, `SELECT count(*) FROM %s.ledger`), "nothing committed without its checkpoint")
}

func TestTxStepWhoseConnectionDiesAtCommitIsRetried(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, ledgerTable)
	// At the first COMMIT that checks it, a deferred trigger kills its own connection (a
	// sequence, which no rollback undoes, says which COMMIT is the first).
	b.exec(t, `CREATE SEQUENCE %[1]s.cuts;
		CREATE FUNCTION %[1]s.cut() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF nextval('%[1]s.cuts') = 1 THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
			RETURN NULL;
		END $$;
		CREATE CONSTRAINT TRIGGER cut_at_commit AFTER INSERT ON %[1]s.ledger
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION %[1]s.cut()`)
	credit := wf.NewStep[int]("credit-cut", wf.MaxAttempts(2), wf.Backoff(0))
	w := wf.NewWorkflow("commit-cut", func(ctx wf.Context, _ struct{}) (int, error) {
		return credit.RunTx(ctx, func(sctx context.Context, tx pgx.Tx) (int, error) {
			return 5, insertLedger(sctx, tx, b.schema, "cut", 5)
		})
	})
	b.start(t, w, credit)
	h, err := w.Enqueue(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 5, out)
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.ledger`))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.steps WHERE workflow_id = $1 AND tries = 2`, h.ID()),
		"the attempt whose connection died at COMMIT failed and the next one committed")
}

// A COMMIT whose acknowledgement is lost may have committed: the next attempt finds the
// step's checkpoint recorded. It must roll its own writes back and return what was recorded.
func TestTxStepFindingItsCheckpointRecordedRollsBackAndReplaysTheRecord(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, ledgerTable)
	var runs atomic.Int32
	credit := wf.NewStep[int]("credit-recorded")
	w := wf.NewWorkflow("recorded-meanwhile", func(ctx wf.Context, _ struct{}) (int, error) {
		return credit.RunTx(ctx, func(sctx context.Context, tx pgx.Tx) (int, error) {
			runs.Add(1)
			if err := insertLedger(sctx, tx, b.schema, "again", 1); err != nil {
				return 0, err
			}
			// The earlier commit that landed unacknowledged.
			_, err := b.pool.Exec(sctx, fmt.Sprintf(`INSERT INTO %s.steps (workflow_id, step_id, name, output, attempt, tries, started_at)
				SELECT id, 1, 'credit-recorded', '99', attempt, 1, now() FROM %[1]s.workflows WHERE id = $1`, b.schema), ctx.WorkflowID())
			return 1, err
		})
	})
	b.start(t, w, credit)
	h, err := w.Enqueue(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 99, out, "the workflow replayed the recorded output")
	require.Equal(t, int32(1), runs.Load())
	require.Equal(t, 0, b.count(t, `SELECT count(*) FROM %s.ledger`), "the attempt that found the record rolled back")
}

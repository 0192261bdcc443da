package wf_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/wf"
)

// Worker processes for crash tests are this test binary, re-run with helperRoleEnv set:
// TestMain hands over to runHelper, which runs a worker until it is killed or told to stop
// (SIGTERM stops it gracefully).
const (
	helperRoleEnv     = "WFGEN_TEST_HELPER"
	helperSchemaEnv   = "WFGEN_TEST_SCHEMA"
	helperExecutorEnv = "WFGEN_TEST_EXECUTOR"
	helperBlockEnv    = "WFGEN_TEST_BLOCK_STEP" // the step that blocks forever once it has run
)

// fiveSteps is the crash tests' workflow: five steps, each recording its execution in the
// test's executions table, each output built from the previous one.
func fiveSteps(pool *pgxpool.Pool, schema string, blockAt int) (*wf.Workflow[string, string], []wf.Definition) {
	var steps []*wf.Step[string]
	defs := []wf.Definition{}
	for i := 1; i <= 5; i++ {
		s := wf.NewStep[string](fmt.Sprintf("step-%d", i))
		steps = append(steps, s)
		defs = append(defs, s)
	}
	w := wf.NewWorkflow("five-steps", func(ctx wf.Context, in string) (string, error) {
		acc := in
		for i, s := range steps {
			n := i + 1
			var err error
			acc, err = s.Run(ctx, func(sctx context.Context) (string, error) {
				if _, err := pool.Exec(sctx, fmt.Sprintf(`INSERT INTO %s.executions (workflow_id, step, pid) VALUES ($1, $2, $3)`, schema),
					ctx.WorkflowID(), n, os.Getpid()); err != nil {
					return "", err
				}
				if n == blockAt {
					select {} // hang here until SIGKILL
				}
				return fmt.Sprintf("%s>%d", acc, n*n), nil
			})
			if err != nil {
				return "", err
			}
		}
		return acc, nil
	})
	return w, append(defs, w)
}

// helperRoles are the worker processes tests can start: each returns what the worker
// registers, and may adjust its configuration.
var helperRoles = map[string]func(pool *pgxpool.Pool, schema string, cfg *wf.Config) []wf.Definition{
	"five-steps": func(pool *pgxpool.Pool, schema string, _ *wf.Config) []wf.Definition {
		blockAt, _ := strconv.Atoi(os.Getenv(helperBlockEnv))
		_, defs := fiveSteps(pool, schema, blockAt)
		return defs
	},
	"tracked":    trackedRole,
	"slow-steps": slowStepsRole,
	"suicidal":   suicidalRole,
	"ticker":     tickerRole,
	"family":     familyRole,
	"sleeper":    sleeperRole,
	"tx-step":    txStepRole,
}

func runHelper(role string) int {
	// The handler goes in first: the worker runs workflows while Start is still setting up,
	// and a test may stop it then. A SIGTERM that arrives before Start returns waits in the
	// channel, and the worker stops as soon as it has started.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
	ctx := context.Background()
	schema := os.Getenv(helperSchemaEnv)
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	defer pool.Close()
	cfg := wf.Config{Schema: schema, ExecutorID: os.Getenv(helperExecutorEnv), PollInterval: 50 * time.Millisecond}
	defs, ok := helperRoles[role]
	if !ok {
		fmt.Fprintln(os.Stderr, "helper: unknown role", role)
		return 2
	}
	toRegister := defs(pool, schema, &cfg)
	c, err := wf.NewClient(pool, cfg)
	if err == nil {
		err = c.Register(toRegister...)
	}
	if err == nil {
		err = c.Start(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	<-sigs
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.Stop(stopCtx); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	return 0
}

// helperProc is a running worker process. One goroutine waits for it; exited is closed
// when it has.
type helperProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // how it exited, once exited is closed
}

func (p *helperProc) pid() int { return p.cmd.Process.Pid }

// kill SIGKILLs the process and waits until it is gone.
func (p *helperProc) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Kill())
	<-p.exited
}

// stop stops the worker gracefully (SIGTERM) and checks that it exited cleanly.
func (p *helperProc) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	<-p.exited
	require.NoError(t, p.err)
}

// startHelper starts a worker process in the given role; it is killed at the end of the
// test if it still runs.
func startHelper(t *testing.T, role string, env ...string) *helperProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{helperRoleEnv + "=" + role}, env...)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(t, cmd.Start())
	p := &helperProc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

func TestSIGKILLedWorkerResumesFromItsLastCompletedStep(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `CREATE TABLE %s.executions (workflow_id text, step int, pid int, at timestamptz DEFAULT now())`)
	// This test's client only enqueues and reads results, like an API server.
	w, _ := fiveSteps(b.pool, b.schema, 0)
	env := []string{helperSchemaEnv + "=" + b.schema, helperExecutorEnv + "=crash-worker"}

	first := startHelper(t, "five-steps", append(env, helperBlockEnv+"=3")...)
	h, err := w.Enqueue(b.ctx, b.client, "in", wf.WithID("crashing"))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM %s.executions WHERE workflow_id = 'crashing' AND step = 3`) == 1
	}, 30*time.Second, 10*time.Millisecond, "the worker never reached step 3")
	first.kill(t) // SIGKILL, inside step 3
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, wf.StateRunning, st.State, "a killed worker leaves its workflow running")

	// A new process under the same executor ID resumes the workflow at once.
	second := startHelper(t, "five-steps", env...)
	out, err := h.Result(b.ctx)
	require.NoError(t, err)

	perStep := map[int]int{}
	rows, err := b.pool.Query(b.ctx, fmt.Sprintf(`SELECT step, count(*) FROM %s.executions WHERE workflow_id = 'crashing' GROUP BY step`, b.schema))
	require.NoError(t, err)
	for rows.Next() {
		var step, n int
		require.NoError(t, rows.Scan(&step, &n))
		perStep[step] = n
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[int]int{1: 1, 2: 1, 3: 2, 4: 1, 5: 1}, perStep,
		"steps 1-2 completed before the crash and never ran again; step 3 was running and ran again")

	st, err = h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, wf.StateSucceeded, st.State)
	require.Equal(t, 2, st.Attempt)
	require.Equal(t, 1, st.Recoveries)

	// The same input, never crashed, gives the same output.
	clean, err := w.Enqueue(b.ctx, b.client, "in", wf.WithID("clean"))
	require.NoError(t, err)
	cleanOut, err := clean.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, cleanOut, out)
	require.Equal(t, "in>1>4>9>16>25", out)
	second.stop(t)
}

package wf_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/internal/embedpg"
	"github.com/wfgen/wfgen/internal/testproxy"
	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wftest"
)

// Fault tests break PostgreSQL or an executor's connection to it under load, and check every
// promise afterwards from what the workflow bodies and steps recorded (in memory: the
// executors run in this process, on one clock):
//
//   - no workflow ran on two executors at once;
//   - the global concurrency limit held at every instant;
//   - no checkpoint was acknowledged without being stored: each workflow's output is made of
//     the outputs its steps returned to it, and must equal the recorded steps' outputs;
//   - no recorded step ran again in a later attempt;
//   - nothing was lost: every workflow succeeded;
//   - every tick of a schedule all executors fire ran, from before the fault to after it.

const (
	faultWorkflows   = 60
	faultSteps       = 5
	faultGlobalLimit = 5
)

// bodyRun is one run of a workflow body, from its call to its return.
type bodyRun struct {
	workflow, executor string
	attempt            int
	start, end         time.Time
}

// stepRun is one call of a step function.
type stepRun struct {
	workflow string
	step     int
	attempt  int
	executor string
}

type faultRecorder struct {
	mu     sync.Mutex
	bodies []*bodyRun
	steps  []stepRun
}

func (r *faultRecorder) begin(ctx wf.Context, executor string) *bodyRun {
	b := &bodyRun{workflow: ctx.WorkflowID(), executor: executor, attempt: ctx.Attempt(), start: time.Now()}
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.mu.Unlock()
	return b
}

func (r *faultRecorder) end(b *bodyRun) {
	r.mu.Lock()
	b.end = time.Now()
	r.mu.Unlock()
}

func (r *faultRecorder) step(s stepRun) {
	r.mu.Lock()
	r.steps = append(r.steps, s)
	r.mu.Unlock()
}

// faultDefs is what one executor registers: a queue with a global limit that the executors
// together could exceed, and a workflow of short steps whose outputs name the executor and
// attempt that produced them.
func faultDefs(rec *faultRecorder, executor string) (*wf.Workflow[int, string], []wf.Definition) {
	q := wf.NewQueue("faulty", wf.GlobalConcurrency(faultGlobalLimit), wf.WorkerConcurrency(3))
	defs := []wf.Definition{q}
	var steps []*wf.Step[string]
	for i := 1; i <= faultSteps; i++ {
		s := wf.NewStep[string](fmt.Sprintf("fault-step-%d", i), wf.MaxAttempts(1000), wf.Backoff(20*time.Millisecond), wf.MaxBackoff(200*time.Millisecond))
		steps = append(steps, s)
		defs = append(defs, s)
	}
	w := wf.NewWorkflow("faulty", func(ctx wf.Context, n int) (string, error) {
		run := rec.begin(ctx, executor)
		defer rec.end(run)
		var acc strings.Builder
		for i, s := range steps {
			out, err := s.Run(ctx, func(sctx context.Context) (string, error) {
				rec.step(stepRun{workflow: ctx.WorkflowID(), step: i + 1, attempt: ctx.Attempt(), executor: executor})
				select {
				case <-sctx.Done():
					return "", sctx.Err()
				case <-time.After(30 * time.Millisecond):
				}
				return fmt.Sprintf("%s/a%d/s%d", executor, ctx.Attempt(), i+1), nil
			})
			if err != nil {
				return "", err
			}
			acc.WriteString(out + ";")
		}
		return acc.String(), nil
	}, wf.WorkflowQueue("faulty"), wf.MaxRecoveries(100))
	tick := wf.NewWorkflow("fault-tick", func(ctx wf.Context, tick wf.Tick) (int, error) { return 0, nil }, wf.WorkflowQueue("ticks"))
	return w, append(defs, w, tick, wf.NewSchedule(tick, "@every 1s"))
}

// checkTicks waits until every tick of the fleet's schedule from the fault's start to after
// its end has run, once: a tick's workflow ID makes it one run, so a tick is either there (and
// succeeded) or lost.
func (r *faultRun) checkTicks(t *testing.T, faultStart, faultEnd time.Time) {
	t.Helper()
	c := r.clients[len(r.clients)-1]
	first, last := faultStart.Truncate(time.Second).Add(time.Second), faultEnd.Truncate(time.Second).Add(time.Second)
	var missing, states []string
	require.Eventually(t, func() bool {
		runs, err := c.ListWorkflows(r.ctx, wf.ListOptions{Workflow: "fault-tick", Limit: 10000})
		require.NoError(t, err)
		done := map[int64]bool{} // by Unix second
		states = states[:0]
		for _, run := range runs {
			states = append(states, run.ID+"="+string(run.State)+":"+run.Error)
			at, err := time.Parse(time.RFC3339, strings.TrimPrefix(run.ID, "fault-tick@"))
			require.NoError(t, err)
			if run.State == wf.StateSucceeded {
				done[at.Unix()] = true
			}
		}
		missing = nil
		for tick := first; !tick.After(last); tick = tick.Add(time.Second) {
			if !done[tick.Unix()] {
				missing = append(missing, tick.Format(time.TimeOnly))
			}
		}
		return len(missing) == 0
	}, 30*time.Second, 50*time.Millisecond, "ticks that did not run: %v (ticks: %v)", &missing, &states)
	t.Logf("every tick from %s to %s ran", first.Format(time.TimeOnly), last.Format(time.TimeOnly))
}

// faultRun is one fault test's fleet: executors in this process, each on a pool of its own.
type faultRun struct {
	ctx     context.Context
	schema  string
	rec     *faultRecorder
	clients []*wf.Client
	pools   []*pgxpool.Pool
	w       *wf.Workflow[int, string]
	handles []*wf.Handle[string]
}

// poolTo returns a pool of its own to the server at url.
func poolTo(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	cfg.MaxConns = 8
	cfg.ConnConfig.ConnectTimeout = time.Second
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// startFleet starts one executor per pool (executors named e0, e1...) on a fresh schema.
func startFleet(t *testing.T, schema string, pools ...*pgxpool.Pool) *faultRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	r := &faultRun{ctx: ctx, schema: schema, rec: &faultRecorder{}}
	for _, pool := range pools {
		r.add(t, pool)
	}
	return r
}

// add starts one more executor, on pool.
func (r *faultRun) add(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	executor := fmt.Sprintf("e%d", len(r.clients))
	c, err := wf.NewClient(pool, wf.Config{
		Schema: r.schema, ExecutorID: executor, LeaseDuration: testLease, HeartbeatInterval: testHeartbeat,
		PollInterval: 100 * time.Millisecond, Logger: wftest.Logger(t).With("executor", executor),
	})
	require.NoError(t, err)
	w, defs := faultDefs(r.rec, executor)
	require.NoError(t, c.Register(defs...))
	require.NoError(t, c.Start(r.ctx))
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Stop(stopCtx)
	})
	if r.w == nil {
		r.w = w
	}
	r.clients = append(r.clients, c)
	r.pools = append(r.pools, pool)
}

// enqueue enqueues the workload through the first executor's client.
func (r *faultRun) enqueue(t *testing.T) {
	t.Helper()
	ins := make([]int, faultWorkflows)
	for i := range ins {
		ins[i] = i
	}
	hs, err := r.w.EnqueueMany(r.ctx, r.clients[0], ins)
	require.NoError(t, err)
	r.handles = hs
}

// waitForSteps waits until the steps have run n times in all.
func (r *faultRun) waitForSteps(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		r.rec.mu.Lock()
		defer r.rec.mu.Unlock()
		return len(r.rec.steps) >= n
	}, time.Minute, 5*time.Millisecond)
}

// inFlight counts the bodies running now.
func (r *faultRun) inFlight() int {
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	n := 0
	for _, b := range r.rec.bodies {
		if b.end.IsZero() {
			n++
		}
	}
	return n
}

// check waits for every workflow and checks every promise; it returns the bodies, for the
// test's own assertions about what the fault did.
func (r *faultRun) check(t *testing.T) []bodyRun {
	t.Helper()
	c := r.clients[len(r.clients)-1]
	outputs := map[string]string{}
	for _, h := range r.handles {
		out, err := h.Result(r.ctx)
		require.NoError(t, err, "workflow %s was lost or failed", h.ID())
		outputs[h.ID()] = out
	}
	r.rec.mu.Lock()
	bodies := make([]bodyRun, len(r.rec.bodies))
	for i, b := range r.rec.bodies {
		bodies[i] = *b
	}
	steps := slices.Clone(r.rec.steps)
	r.rec.mu.Unlock()

	// No workflow ran on two executors at once.
	byWorkflow := map[string][]bodyRun{}
	for _, b := range bodies {
		require.False(t, b.end.IsZero(), "a body of %s on %s never returned", b.workflow, b.executor)
		byWorkflow[b.workflow] = append(byWorkflow[b.workflow], b)
	}
	for id, runs := range byWorkflow {
		for i, a := range runs {
			for _, b := range runs[i+1:] {
				if a.executor != b.executor {
					require.False(t, a.start.Before(b.end) && b.start.Before(a.end),
						"workflow %s ran on %s (attempt %d, %s-%s) and %s (attempt %d, %s-%s) at once",
						id, a.executor, a.attempt, a.start.Format(time.StampMicro), a.end.Format(time.StampMicro),
						b.executor, b.attempt, b.start.Format(time.StampMicro), b.end.Format(time.StampMicro))
				}
			}
		}
	}

	// The global limit held at every instant: count the bodies running at each start.
	maxRunning := 0
	for _, b := range bodies {
		n := 0
		for _, o := range bodies {
			if !o.start.After(b.start) && o.end.After(b.start) {
				n++
			}
		}
		maxRunning = max(maxRunning, n)
	}
	require.LessOrEqual(t, maxRunning, faultGlobalLimit, "the global concurrency limit was exceeded")

	// Every acknowledged checkpoint is stored, and no recorded step ran again later.
	for id, out := range outputs {
		recorded, err := c.Steps(r.ctx, id)
		require.NoError(t, err)
		require.Len(t, recorded, faultSteps, "workflow %s", id)
		var fromDB strings.Builder
		for _, s := range recorded {
			var o string
			require.NoError(t, json.Unmarshal([]byte(s.Output), &o))
			fromDB.WriteString(o + ";")
			for _, run := range steps {
				require.False(t, run.workflow == id && run.step == s.ID && run.attempt > s.Attempt,
					"step %d of %s ran again in attempt %d after attempt %d recorded it", s.ID, id, run.attempt, s.Attempt)
			}
		}
		require.Equal(t, fromDB.String(), out, "workflow %s used step outputs that are not the recorded ones", id)
	}
	t.Logf("%d workflows, %d body runs, %d step calls, at most %d running at once", len(outputs), len(bodies), len(steps), maxRunning)
	return bodies
}

func attemptsAfterFirst(bodies []bodyRun) int {
	n := 0
	for _, b := range bodies {
		if b.attempt > 1 {
			n++
		}
	}
	return n
}

// privateCluster starts a PostgreSQL cluster for one test, which it may crash and restart.
// It is durable: without synchronous commits a crash loses transactions that were reported
// committed, which no runtime can survive.
func privateCluster(t *testing.T) *embedpg.Server {
	t.Helper()
	srv, err := embedpg.Start(context.Background(), embedpg.Options{MaxConnections: 100, Durable: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop() })
	return srv
}

func faultSchema() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "fault_" + hex.EncodeToString(b[:])
}

func TestOutages(t *testing.T) {
	t.Parallel()
	srv := privateCluster(t)

	t.Run("PostgreSQL restarted immediately under load", func(t *testing.T) {
		r := startFleet(t, faultSchema(), poolTo(t, srv.URL), poolTo(t, srv.URL), poolTo(t, srv.URL))
		r.enqueue(t)
		r.waitForSteps(t, faultWorkflows) // well under way
		inFlight := r.inFlight()
		crashed := time.Now()
		require.NoError(t, srv.Crash())
		require.NoError(t, srv.Resume(context.Background()))
		t.Logf("PostgreSQL was down and recovering for %s", time.Since(crashed).Round(time.Millisecond))
		bodies := r.check(t)
		r.checkTicks(t, crashed, time.Now())
		require.Positive(t, inFlight, "nothing was running when PostgreSQL crashed: the test tested nothing")
		t.Logf("%d bodies were running at the crash; %d runs were later attempts", inFlight, attemptsAfterFirst(bodies))
	})

	t.Run("waiting workflows across a PostgreSQL restart", func(t *testing.T) {
		testWaitsAcrossARestart(t, srv)
	})

	t.Run("PostgreSQL down for longer than the lease", func(t *testing.T) {
		r := startFleet(t, faultSchema(), poolTo(t, srv.URL), poolTo(t, srv.URL), poolTo(t, srv.URL))
		r.enqueue(t)
		r.waitForSteps(t, faultWorkflows)
		halted := time.Now()
		require.NoError(t, srv.Halt())
		time.Sleep(testLease + time.Second)
		require.NoError(t, srv.Resume(context.Background()))
		resumed := time.Now()
		bodies := r.check(t)
		t.Logf("every workflow done %s after PostgreSQL was back", time.Since(resumed).Round(time.Millisecond))
		r.checkTicks(t, halted, resumed)
		// Every executor lost its lease: what ran was interrupted and ran again later.
		require.Positive(t, attemptsAfterFirst(bodies), "no workflow was interrupted: the test tested nothing")
		t.Logf("%d runs were later attempts", attemptsAfterFirst(bodies))
	})
}

func TestAnExecutorCutOffFromPostgreSQLLosesItsWorkflowsToTheOthers(t *testing.T) {
	t.Parallel()
	t.Run("its connections reset", func(t *testing.T) {
		t.Parallel()
		testCutOff(t, (*testproxy.Proxy).Cut)
	})
	t.Run("its traffic stops, and is delivered late", func(t *testing.T) {
		t.Parallel()
		testCutOff(t, (*testproxy.Proxy).Partition)
	})
}

// testCutOff cuts one executor of three off from PostgreSQL with cut, for longer than its
// lease, and checks every promise.
func testCutOff(t *testing.T, cutOff func(*testproxy.Proxy)) {
	pool, proxy := proxiedPool(t)
	url := os.Getenv("DATABASE_URL")
	r := startFleet(t, wftest.Schema(t), pool, poolTo(t, url), poolTo(t, url))
	r.enqueue(t)
	// Cut e0 off while it runs workflows, for longer than its lease: the others take them
	// over while it cannot even learn that it lost them.
	require.Eventually(t, func() bool {
		r.rec.mu.Lock()
		defer r.rec.mu.Unlock()
		for _, b := range r.rec.bodies {
			if b.executor == "e0" && b.end.IsZero() {
				return true
			}
		}
		return false
	}, time.Minute, time.Millisecond, "e0 never ran anything")
	cut := time.Now()
	cutOff(proxy)
	// What e0 ran as the cut took hold, as PostgreSQL sees it: nothing e0 sends from now on
	// arrives before the restore, and a claim it sent earlier either committed already or will
	// be refused for its expired lease.
	observer := r.clients[1]
	held, err := observer.ListWorkflows(r.ctx, wf.ListOptions{ExecutorID: "e0", States: []wf.State{wf.StateRunning}, Limit: 100})
	require.NoError(t, err)
	require.NotEmpty(t, held, "e0 ran nothing when it was cut off: the test tested nothing")
	// Keep e0 cut off until the others took over what it held (and for at least its lease):
	// restoring earlier would let e0, registered again, race them for its own workflows.
	time.Sleep(testLease + testHeartbeat)
	require.Eventually(t, func() bool {
		taken := false
		for _, h := range held {
			st, err := observer.Status(r.ctx, h.ID)
			require.NoError(t, err)
			switch {
			case st.ExecutorID != "e0" && st.Attempt > h.Attempt:
				taken = true
			case st.State == wf.StateRunning || st.State == wf.StateEnqueued:
				return false // not yet taken over
			}
		}
		return taken
	}, time.Minute, 10*time.Millisecond, "the others never took over e0's workflows %v", held)
	proxy.Restore()
	restored := time.Now()
	bodies := r.check(t)
	r.checkTicks(t, cut, restored)

	takenOver := map[string]bool{}
	onE0 := map[string]bool{}
	for _, b := range bodies {
		if b.executor == "e0" {
			onE0[b.workflow] = true
		}
	}
	var slowest time.Duration
	for _, b := range bodies {
		if b.executor != "e0" && onE0[b.workflow] && b.attempt > 1 && !takenOver[b.workflow] {
			takenOver[b.workflow] = true
			slowest = max(slowest, b.start.Sub(cut))
		}
	}
	require.NotEmpty(t, takenOver, "no workflow of the cut-off executor was taken over: the test tested nothing")
	t.Logf("%d workflows of the cut-off executor were taken over by the others, the last %s after the cut (lease %s)", len(takenOver), slowest.Round(time.Millisecond), testLease)
}

// testWaitsAcrossARestart crashes PostgreSQL while workflows are suspended in sleeps, in
// Recv and awaiting their children, and checks that every one of them wakes once,
// afterwards.
func testWaitsAcrossARestart(t *testing.T, srv *embedpg.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool := poolTo(t, srv.URL)
	c, err := wf.NewClient(pool, wf.Config{
		Schema: faultSchema(), LeaseDuration: testLease, HeartbeatInterval: testHeartbeat,
		PollInterval: 100 * time.Millisecond, SuspendAfter: -1, Logger: wftest.Logger(t),
	})
	require.NoError(t, err)
	var mu sync.Mutex
	woke := map[string]int{}
	after := wf.NewStep[int]("after-wait")
	record := func(ctx wf.Context) (int, error) {
		return after.Run(ctx, func(context.Context) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			woke[ctx.WorkflowID()]++
			return woke[ctx.WorkflowID()], nil
		})
	}
	napper := wf.NewWorkflow("napper", func(ctx wf.Context, n int) (int, error) {
		if err := wf.Sleep(ctx, 4*time.Second); err != nil { // time enough for all to suspend before the crash
			return 0, err
		}
		return record(ctx)
	})
	parent := wf.NewWorkflow("awaiting-parent", func(ctx wf.Context, n int) (int, error) {
		hs, err := napper.EnqueueChildren(ctx, []int{1, 2, 3})
		if err != nil {
			return 0, err
		}
		for _, h := range hs {
			if _, err := h.Await(ctx); err != nil {
				return 0, err
			}
		}
		return record(ctx)
	})
	signal := wf.NewTopic[int]("signal")
	receiver := wf.NewWorkflow("receiver", func(ctx wf.Context, n int) (int, error) {
		got, ok, err := signal.Recv(ctx, time.Hour)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, errors.New("timed out")
		}
		if _, err := record(ctx); err != nil {
			return 0, err
		}
		return got, nil
	})
	require.NoError(t, c.Register(after, napper, parent, signal, receiver))
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Stop(stopCtx)
	})
	naps, err := napper.EnqueueMany(ctx, c, make([]int, 20))
	require.NoError(t, err)
	parents, err := parent.EnqueueMany(ctx, c, make([]int, 5))
	require.NoError(t, err)
	receivers, err := receiver.EnqueueMany(ctx, c, make([]int, 5))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var sleeping, awaiting, receiving int
		err := pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FILTER (WHERE waiting_for = 'sleep'), count(*) FILTER (WHERE waiting_for = 'child'),
			count(*) FILTER (WHERE waiting_for = 'recv:signal') FROM %s.workflows`, c.Schema())).Scan(&sleeping, &awaiting, &receiving)
		return err == nil && sleeping == 20+15 && awaiting == 5 && receiving == 5
	}, time.Minute, 10*time.Millisecond, "every workflow suspended in its wait")

	require.NoError(t, srv.Crash())
	require.NoError(t, srv.Resume(context.Background()))

	// Messages sent after the restart wake the receivers; each gets its message once. A
	// send on a connection the restart broke fails: the client retries it, as an
	// application would, under an idempotency key that makes that safe.
	for i, h := range receivers {
		require.Eventually(t, func() bool {
			return signal.Send(ctx, c, h.ID(), i, wf.WithIdempotencyKey("after-restart")) == nil
		}, time.Minute, 50*time.Millisecond)
	}
	for i, h := range receivers {
		got, err := h.Result(ctx)
		require.NoError(t, err)
		require.Equal(t, i, got)
	}
	for _, h := range naps {
		n, err := h.Result(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n, "napper %s woke more than once", h.ID())
	}
	for _, h := range parents {
		n, err := h.Result(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n, "parent %s woke more than once", h.ID())
		var children int
		require.NoError(t, pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s.workflows WHERE parent_id = $1`, c.Schema()), h.ID()).Scan(&children))
		require.Equal(t, 3, children)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, woke, 20+15+5+5)
	for id, n := range woke {
		require.Equal(t, 1, n, "%s ran its step after the wait %d times", id, n)
	}
}

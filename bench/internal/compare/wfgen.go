package compare

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wfgen/wfgen/runtime/wf"
)

// benchInput is the input of every benchmark workflow and job: a sequence number, and for
// the latency phase the time of the enqueue call.
type benchInput struct {
	Seq        int   `json:"seq"`
	EnqueuedAt int64 `json:"enqueued_at,omitempty"` // Unix nanoseconds
}

// wfgenQueue is the queue every wfgen phase uses.
const wfgenQueue = "bench"

// wfgenWorker is a started wfgen client working one queue, with one workflow registered.
type wfgenWorker struct {
	e     *env
	pool  *pgxpool.Pool
	stmts *statementCounter
	c     *wf.Client
}

// startWfgen recreates wfgen's schema and starts a worker with the given workflow.
func startWfgen(ctx context.Context, e *env, flow wf.Definition, steps ...wf.Definition) (*wfgenWorker, error) {
	if !e.scaled() {
		if err := e.dropSchema(ctx, wfgenSchema); err != nil {
			return nil, err
		}
	}
	pool, stmts, err := e.newPool(ctx, e.cfg.poolSize(), e.wfgenSchemaName())
	if err != nil {
		return nil, err
	}
	c, err := wf.NewClient(pool, e.wfgenConfig("bench-worker"))
	if err == nil {
		err = c.Register(append([]wf.Definition{wf.NewQueue(wfgenQueue, wf.WorkerConcurrency(e.cfg.workers)), flow}, steps...)...)
	}
	if err == nil {
		err = c.Start(ctx)
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("starting wfgen: %w", err)
	}
	return &wfgenWorker{e: e, pool: pool, stmts: stmts, c: c}, nil
}

func (w *wfgenWorker) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := w.c.Stop(ctx)
	w.pool.Close()
	return err
}

func (e *env) wfgenConfig(executorID string) wf.Config {
	return wf.Config{
		Schema:        e.wfgenSchemaName(),
		ExecutorID:    executorID,
		Logger:        e.logger,
		PollInterval:  e.cfg.wfgenPoll,
		FetchCooldown: e.cfg.wfgenCooldown,
	}
}

// noopStep is the body of every benchmark step.
func noopStep(context.Context) (struct{}, error) { return struct{}{}, nil }

// countdown counts work that ran in this process and closes done when n units have.
type countdown struct {
	n    int64
	ran  atomic.Int64
	done chan struct{}
}

func newCountdown(n int) *countdown { return &countdown{n: int64(n), done: make(chan struct{})} }

func (c *countdown) tick() {
	if c.ran.Add(1) == c.n {
		close(c.done)
	}
}

// wfgenWork enqueues n workflows of the given number of no-op steps with one EnqueueMany
// while the worker is idle, then lets it work them. The enqueue phase is the EnqueueMany
// call; the work phase runs from its return to the moment Postgres shows all n succeeded.
func wfgenWork(ctx context.Context, e *env, n, steps int) (enqueue, work outcome, err error) {
	done := newCountdown(n)
	noop := wf.NewStep[struct{}]("noop")
	flow := wf.NewWorkflow("bench_steps", func(ctx wf.Context, in benchInput) (struct{}, error) {
		for range steps {
			if _, err := noop.Run(ctx, noopStep); err != nil {
				return struct{}{}, err
			}
		}
		done.tick()
		return struct{}{}, nil
	}, wf.WorkflowQueue(wfgenQueue))
	w, err := startWfgen(ctx, e, flow, noop)
	if err != nil {
		return enqueue, work, err
	}
	defer func() {
		if stopErr := w.stop(); err == nil && stopErr != nil {
			err = fmt.Errorf("stopping wfgen: %w", stopErr)
		}
	}()

	inputs := make([]benchInput, n)
	for i := range inputs {
		inputs[i].Seq = i
	}
	enqueue, work, err = e.timeWork(ctx, w.stmts, n, done, e.wfgenSucceededQuery(),
		func(ctx context.Context) error {
			_, err := flow.EnqueueMany(ctx, w.c, inputs)
			return err
		})
	if err != nil {
		return enqueue, work, err
	}
	if e.probe.postmaster != 0 {
		b, err := wfgenBreakdown(ctx, e)
		if err != nil {
			// The runtime's tables changed under the benchmark: report without it.
			fmt.Fprintf(e.log, "note: no wfgen time breakdown: %v\n", err)
		} else {
			work.breakdown = &b
		}
	}
	return enqueue, work, nil
}

// wfgenEnqueueSingle enqueues n workflows one Enqueue call at a time, from clients
// goroutines, through a client that is not started (as an API server enqueues). Nothing
// works the queue meanwhile.
func wfgenEnqueueSingle(ctx context.Context, e *env, n, clients int) (outcome, error) {
	if err := e.dropSchema(ctx, wfgenSchema); err != nil {
		return outcome{}, err
	}
	pool, stmts, err := e.newPool(ctx, clients+1, wfgenSchema)
	if err != nil {
		return outcome{}, err
	}
	defer pool.Close()
	c, err := wf.NewClient(pool, e.wfgenConfig("bench-api"))
	if err != nil {
		return outcome{}, err
	}
	defer c.Stop(context.WithoutCancel(ctx)) //nolint:errcheck // sends the last announcements before the pool closes
	if _, err := c.Migrate(ctx); err != nil {
		return outcome{}, err
	}
	flow := wf.NewWorkflow("bench_steps", func(wf.Context, benchInput) (struct{}, error) { return struct{}{}, nil }, wf.WorkflowQueue(wfgenQueue))
	return enqueueConcurrently(ctx, e, stmts, n, clients, func(ctx context.Context, i int) error {
		_, err := flow.Enqueue(ctx, c, benchInput{Seq: i})
		return err
	})
}

// enqueueConcurrently times n calls of enqueue, spread over clients goroutines.
func enqueueConcurrently(ctx context.Context, e *env, stmts *statementCounter, n, clients int, enqueue func(context.Context, int) error) (outcome, error) {
	e.settle(ctx)
	r0, err := e.probe.read(ctx, stmts)
	if err != nil {
		return outcome{}, err
	}
	var next atomic.Int64
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for g := range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := enqueue(ctx, i); err != nil {
					errs[g] = err
					return
				}
			}
		})
	}
	wg.Wait()
	end := time.Now()
	for _, err := range errs {
		if err != nil {
			return outcome{}, err
		}
	}
	r1, err := e.probe.read(ctx, stmts)
	if err != nil {
		return outcome{}, err
	}
	return outcome{units: n, elapsed: end.Sub(r0.at), cost: r1.since(r0)}, nil
}

// latencies are the enqueue-to-start samples of one latency phase.
type latencies struct {
	sameClient []time.Duration // enqueued through the worker's own client
	apiClient  []time.Duration // enqueued through another client, as an API server does
	call       []time.Duration // the Enqueue calls themselves (insert and commit)
	apiWake    []time.Duration // another client's samples from the Enqueue's return: the wake-up path
	ownWake    []time.Duration // the same for the worker's own client
	ownCall    []time.Duration // the worker's own client's Enqueue calls
	timeouts   int
}

// latencyRig is an idle wfgen worker on the current schema, with a second client on its own
// pool that never starts (as an API server enqueues), for enqueue-to-start samples.
type latencyRig struct {
	w       *wfgenWorker
	apiPool *pgxpool.Pool
	api     *wf.Client
	flow    *wf.Workflow[benchInput, struct{}]
	started chan latencyStart
	lat     latencies
}

// latencyStart is a sample's first step starting: its sequence number, and the time since
// its Enqueue call began, which the input carries.
type latencyStart struct {
	seq     int
	latency time.Duration
}

// startLatencyRig starts a worker and a second client on the schema e names now.
func startLatencyRig(ctx context.Context, e *env) (*latencyRig, error) {
	r := &latencyRig{started: make(chan latencyStart, 2*e.cfg.latencyN)}
	first := wf.NewStep[struct{}]("first")
	r.flow = wf.NewWorkflow("bench_latency", func(ctx wf.Context, in benchInput) (struct{}, error) {
		return first.Run(ctx, func(context.Context) (struct{}, error) {
			select {
			case r.started <- latencyStart{in.Seq, time.Since(time.Unix(0, in.EnqueuedAt))}:
			default:
			}
			return struct{}{}, nil
		})
	}, wf.WorkflowQueue(wfgenQueue))
	var err error
	if r.w, err = startWfgen(ctx, e, r.flow, first); err != nil {
		return nil, err
	}
	if r.apiPool, _, err = e.newPool(ctx, 2, e.wfgenSchemaName()); err == nil {
		r.api, err = wf.NewClient(r.apiPool, e.wfgenConfig("bench-api"))
	}
	if err != nil {
		r.stop(ctx)
		return nil, err
	}
	return r, nil
}

func (r *latencyRig) stop(ctx context.Context) {
	if r.api != nil {
		r.api.Stop(context.WithoutCancel(ctx)) //nolint:errcheck // sends the last announcements before the pool closes
	}
	if r.apiPool != nil {
		r.apiPool.Close()
	}
	r.w.stop() //nolint:errcheck // the samples are taken
}

// wfgenLatency measures enqueue-to-start on an idle worker: one workflow at a time, each
// enqueued after the previous one started plus a gap, alternately through the worker's own
// client and through a separate client on its own pool that never starts. The first step
// records the time since the Enqueue call began, which the input carries.
func wfgenLatency(ctx context.Context, e *env) (latencies, error) {
	// As the work phases do (once the rig is started): a checkpoint of what earlier phases
	// (or the seeding of -scale) left dirty must not fall into the samples, nor the catalog
	// changes of the rig's migration (catchUp).
	r, err := startLatencyRig(ctx, e)
	if err != nil {
		return latencies{}, err
	}
	defer r.stop(ctx)
	e.settle(ctx)
	err = sampleLatency(ctx, e, r)
	return r.lat, err
}

// sampleLatency takes enqueue-to-start samples from the rigs in turn, two at a time (one
// through the worker's own client, one through the other client) until each rig has
// latencyN of each kind, or the budget (latencyBudget per rig) is spent. Only one workflow
// is ever in flight, so every sample finds its worker idle, and rigs on two schemas sampled
// in turn see the same machine, moment by moment. The first round of the turn, one sample
// of each kind on each rig, is not kept: it is where each client's connection prepares and
// plans its statements (3.6 to 10.8 ms, always), as the phase of a workflow alone does
// untimed too.
func sampleLatency(ctx context.Context, e *env, rigs ...*latencyRig) error {
	deadline := time.Now().Add(time.Duration(len(rigs)) * e.cfg.latencyBudget)
	enough := func() bool {
		for _, r := range rigs {
			if len(r.lat.sameClient) < e.cfg.latencyN || len(r.lat.apiClient) < e.cfg.latencyN {
				return false
			}
		}
		return true
	}
	warmUp := 2 * len(rigs)
	for seq := 0; !enough(); seq++ {
		if time.Now().After(deadline) {
			break
		}
		r := rigs[(seq/2)%len(rigs)]
		kept := &r.lat
		if seq < warmUp {
			kept = &latencies{} // thrown away, but for its timeouts
		}
		c, samples := r.w.c, &kept.sameClient
		if seq%2 == 1 {
			c, samples = r.api, &kept.apiClient
		}
		begin := time.Now()
		if _, err := r.flow.Enqueue(ctx, c, benchInput{Seq: seq, EnqueuedAt: begin.UnixNano()}); err != nil {
			return err
		}
		call := time.Since(begin)
		kept.call = append(kept.call, call)
		timeout := time.After(e.cfg.latencyTimeout)
	wait:
		for {
			select {
			case s := <-r.started:
				if s.seq == seq {
					*samples = append(*samples, s.latency)
					if c == r.api {
						kept.apiWake = append(kept.apiWake, s.latency-call)
					} else {
						kept.ownWake = append(kept.ownWake, s.latency-call)
						kept.ownCall = append(kept.ownCall, call)
					}
					break wait
				}
			case <-timeout:
				// Count it at the timeout: the percentiles stay honest, and the run goes on.
				*samples = append(*samples, e.cfg.latencyTimeout)
				r.lat.timeouts++
				break wait
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		select {
		case <-time.After(e.cfg.latencyGap):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// wfgenBreakdown splits the time a worker slot spent on a workflow, from the timestamps
// the runtime records: claimed (workflows.started_at, the dequeue's transaction time), each
// step's start (steps.started_at, this process's clock) and the start of the transaction
// that recorded it (steps.completed_at), and the start of the transaction that recorded the
// completion (workflows.completed_at). Each figure is the p50 over the phase's workflows, in
// milliseconds. The server must run on this machine, so that the clocks agree.
const wfgenBreakdownSQL = `
WITH s AS (
    SELECT w.started_at AS claimed, w.completed_at AS completed, st.step_id,
           st.started_at AS step_started, st.completed_at AS step_recorded,
           lead(st.started_at) OVER (PARTITION BY st.workflow_id ORDER BY st.step_id) AS next_step_started
    FROM ` + wfgenSchema + `.workflows w JOIN ` + wfgenSchema + `.steps st ON st.workflow_id = w.id
    WHERE w.state = 'succeeded' AND w.completed_at >= $1
)
SELECT
    percentile_cont(0.5) WITHIN GROUP (ORDER BY 1000 * extract(epoch FROM step_started - claimed)) FILTER (WHERE step_id = 1),
    percentile_cont(0.5) WITHIN GROUP (ORDER BY 1000 * extract(epoch FROM step_recorded - step_started)),
    coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY 1000 * extract(epoch FROM next_step_started - step_recorded)) FILTER (WHERE next_step_started IS NOT NULL), 0),
    percentile_cont(0.5) WITHIN GROUP (ORDER BY 1000 * extract(epoch FROM completed - step_recorded)) FILTER (WHERE next_step_started IS NULL),
    percentile_cont(0.5) WITHIN GROUP (ORDER BY 1000 * extract(epoch FROM completed - claimed)) FILTER (WHERE step_id = 1)
FROM s`

// breakdown is wfgenBreakdownSQL's result.
type breakdown struct {
	claimToFirstStep  float64 // the dequeue's execution and commit, and the launch
	stepToCheckpoint  float64 // a finished step waiting for the checkpoint writer's next batch
	checkpointToNext  float64 // that batch's execution and commit, until the next step starts
	lastToCompletion  float64 // from the last step's batch to the completion's batch (0: same batch)
	claimToCompletion float64 // all of the above, per workflow
}

func wfgenBreakdown(ctx context.Context, e *env) (breakdown, error) {
	var b breakdown
	sql := strings.ReplaceAll(wfgenBreakdownSQL, wfgenSchema+".", e.wfgenSchemaName()+".")
	err := e.mon.QueryRow(ctx, sql, e.wfgenSince()).Scan(&b.claimToFirstStep, &b.stepToCheckpoint, &b.checkpointToNext, &b.lastToCompletion, &b.claimToCompletion)
	return b, err
}

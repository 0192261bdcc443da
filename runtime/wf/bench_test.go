package wf_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wftest"
)

// benchmarkWorkflows enqueues n workflows of the given number of no-op steps in one batch
// and works them to completion with 100 concurrent workflows, b.N times. It reports
// workflows/s and steps/s; the comparison with River and DBOS lives in bench/.
func benchmarkWorkflows(b *testing.B, n, steps int) {
	benchmarkWorkflowsAmong(b, n, steps, 0)
}

// benchmarkWorkflowsAmong is benchmarkWorkflows on tables that already hold history:
// finished one-step workflows with their steps, and a tenth as many queued in a queue nobody
// works. Statistics are taken before: they say that no workflow runs.
func benchmarkWorkflowsAmong(b *testing.B, n, steps, finished int) {
	ctx := context.Background()
	c := wftest.NewClient(b, wf.Config{})
	if finished > 0 {
		pool := wftest.Pool(b)
		for _, sql := range []string{
			`INSERT INTO %[1]s.workflows (id, name, state, queue, input, output, max_recoveries, attempt, executor_id, started_at, completed_at)
			 SELECT 'old-' || i, 'noop', 'succeeded', 'default', '0', '0', 10, 1, 'gone', now(), now() FROM generate_series(1, $1) i`,
			`INSERT INTO %[1]s.steps (workflow_id, step_id, name, output, attempt, tries, started_at)
			 SELECT 'old-' || i, 1, 'noop-0', '{}', 1, 1, now() FROM generate_series(1, $1) i`,
			`INSERT INTO %[1]s.workflows (id, name, state, queue, input, max_recoveries)
			 SELECT 'idle-' || i, 'noop', 'enqueued', 'nobody', '0', 10 FROM generate_series(1, $1 / 10) i`,
			`VACUUM ANALYZE %[1]s.workflows`,
			`VACUUM ANALYZE %[1]s.steps`,
		} {
			args := []any{finished}
			if strings.HasPrefix(sql, "VACUUM") {
				args = nil
			}
			if _, err := pool.Exec(ctx, fmt.Sprintf(sql, c.Schema()), args...); err != nil {
				b.Fatal(err)
			}
		}
	}
	w, defs := noopSteps("noop", steps)
	if err := c.Register(append(defs, wf.NewQueue(wf.DefaultQueue, wf.WorkerConcurrency(100)))...); err != nil {
		b.Fatal(err)
	}
	wftest.Start(b, c)
	elapsed := runWorkflows(b, ctx, c, w, n)
	b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "workflows/s")
	b.ReportMetric(float64(n*steps*b.N)/elapsed.Seconds(), "steps/s")
}

// noopSteps returns a workflow of the given number of steps that do nothing, and the
// definitions to register: its steps and itself.
func noopSteps(name string, steps int) (*wf.Workflow[int, int], []wf.Definition) {
	var ss []*wf.Step[struct{}]
	var defs []wf.Definition
	for i := range steps {
		s := wf.NewStep[struct{}](fmt.Sprintf("%s-%d", name, i))
		ss = append(ss, s)
		defs = append(defs, s)
	}
	w := wf.NewWorkflow(name, func(ctx wf.Context, _ int) (int, error) {
		for _, s := range ss {
			if _, err := s.Run(ctx, func(context.Context) (struct{}, error) { return struct{}{}, nil }); err != nil {
				return 0, err
			}
		}
		return 0, nil
	})
	return w, append(defs, w)
}

func BenchmarkOneStepWorkflows(b *testing.B) { benchmarkWorkflows(b, 5000, 1) }

// BenchmarkOneStepWorkflowsAmongAMillion works one-step workflows next to a million finished
// ones: the hot statements must not slow down as the tables grow.
func BenchmarkOneStepWorkflowsAmongAMillion(b *testing.B) {
	benchmarkWorkflowsAmong(b, 5000, 1, 1_000_000)
}
func BenchmarkTenStepWorkflows(b *testing.B) { benchmarkWorkflows(b, 1000, 10) }

// BenchmarkATenStepWorkflowAlone runs ten-step workflows one at a time, from Enqueue to
// Result: the latency of a lightly loaded worker, where every checkpoint batch holds one
// step and each step waits for the one before it to be written.
func BenchmarkATenStepWorkflowAlone(b *testing.B) {
	ctx := context.Background()
	c := wftest.NewClient(b, wf.Config{})
	w, defs := noopSteps("alone", 10)
	if err := c.Register(defs...); err != nil {
		b.Fatal(err)
	}
	wftest.Start(b, c)
	b.ResetTimer()
	for i := range b.N {
		h, err := w.Enqueue(ctx, c, i)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := h.Result(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/workflow")
}

// BenchmarkTxStepWorkflows works workflows of one transactional step writing one row, with
// 100 concurrent workflows: each step is a transaction of its own (begin, the write, the
// checkpoint, commit) rather than a share of a group commit, so compare it with
// BenchmarkOneStepWorkflows plus a write.
func BenchmarkTxStepWorkflows(b *testing.B) {
	const n = 2000
	ctx := context.Background()
	c := wftest.NewClient(b, wf.Config{})
	pool := wftest.Pool(b)
	if _, err := pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s.rows (workflow_id text PRIMARY KEY)`, c.Schema())); err != nil {
		b.Fatal(err)
	}
	insert := fmt.Sprintf(`INSERT INTO %s.rows (workflow_id) VALUES ($1)`, c.Schema())
	step := wf.NewStep[struct{}]("write")
	w := wf.NewWorkflow("tx-write", func(ctx wf.Context, _ int) (int, error) {
		_, err := step.RunTx(ctx, func(sctx context.Context, tx pgx.Tx) (struct{}, error) {
			_, err := tx.Exec(sctx, insert, ctx.WorkflowID())
			return struct{}{}, err
		})
		return 0, err
	})
	if err := c.Register(wf.NewQueue(wf.DefaultQueue, wf.WorkerConcurrency(100)), step, w); err != nil {
		b.Fatal(err)
	}
	wftest.Start(b, c)
	b.ReportMetric(float64(n*b.N)/runWorkflows(b, ctx, c, w, n).Seconds(), "workflows/s")
}

// runWorkflows enqueues n runs of w in one statement, b.N times, and returns the time until
// all had their results.
func runWorkflows(b *testing.B, ctx context.Context, c *wf.Client, w *wf.Workflow[int, int], n int) time.Duration {
	ins := make([]int, n)
	var elapsed time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		hs, err := w.EnqueueMany(ctx, c, ins)
		if err != nil {
			b.Fatal(err)
		}
		for _, h := range hs {
			if _, err := h.Result(ctx); err != nil {
				b.Fatal(err)
			}
		}
		elapsed += time.Since(start)
	}
	return elapsed
}

// BenchmarkParentsAwaitingChildrenGoToSleep enqueues 2,000 parents, each of which enqueues
// a child that sleeps for an hour and awaits it: every parent and child suspends at once
// (SuspendAfter -1). It times the EnqueueMany until all 4,000 are suspended, and reports
// the write transactions per workflow (transaction IDs assigned meanwhile).
func BenchmarkParentsAwaitingChildrenGoToSleep(b *testing.B) {
	const n = 2000
	ctx := context.Background()
	c := wftest.NewClient(b, wf.Config{SuspendAfter: -1})
	pool := wftest.Pool(b)
	child := wf.NewWorkflow("sleeper", func(ctx wf.Context, _ int) (int, error) {
		return 0, wf.Sleep(ctx, time.Hour)
	})
	parent := wf.NewWorkflow("awaiter", func(ctx wf.Context, _ int) (int, error) {
		h, err := child.EnqueueChild(ctx, 0)
		if err != nil {
			return 0, err
		}
		return h.Await(ctx)
	})
	if err := c.Register(child, parent); err != nil {
		b.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer c.Stop(ctx) //nolint:errcheck // the benchmark measured what it needed
	xids := func() int64 {
		var v int64
		if err := pool.QueryRow(ctx, "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint").Scan(&v); err != nil {
			b.Fatal(err)
		}
		return v
	}
	suspended := fmt.Sprintf("SELECT count(*) FROM %s.workflows WHERE state = 'enqueued' AND waiting_for IS NOT NULL", c.Schema())
	var elapsed time.Duration
	var writes int64
	for i := range b.N {
		x0 := xids()
		start := time.Now()
		if _, err := parent.EnqueueMany(ctx, c, make([]int, n)); err != nil {
			b.Fatal(err)
		}
		for {
			var got int
			if err := pool.QueryRow(ctx, suspended).Scan(&got); err != nil {
				b.Fatal(err)
			}
			if got == 2*n*(i+1) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		elapsed += time.Since(start)
		writes += xids() - x0
	}
	b.ReportMetric(float64(2*n*b.N)/elapsed.Seconds(), "workflows/s")
	b.ReportMetric(float64(writes)/float64(2*n*b.N), "write-txns/workflow")
}

// BenchmarkATenantBehindABusyTenant starts one tenant's workflows one at a time, from
// Enqueue to Result, in a queue limited to one running workflow per tenant where another
// tenant runs one and has backlog more waiting ahead of them (0 and 100,000 as
// sub-benchmarks): the busy tenant's backlog must not slow the others' starts.
func BenchmarkATenantBehindABusyTenant(b *testing.B) {
	for _, backlog := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("backlog=%d", backlog), func(b *testing.B) {
			ctx := context.Background()
			c := wftest.NewClient(b, wf.Config{})
			release, running := make(chan struct{}), make(chan struct{}, 1)
			defer close(release)
			work := wf.NewStep[struct{}]("work")
			w := wf.NewWorkflow("per-tenant", func(ctx wf.Context, tenant string) (struct{}, error) {
				return work.Run(ctx, func(context.Context) (struct{}, error) {
					if tenant == "busy" {
						running <- struct{}{}
						<-release
					}
					return struct{}{}, nil
				})
			}, wf.WorkflowQueue("tenants"))
			if err := c.Register(w, work, wf.NewQueue("tenants", wf.WorkerConcurrency(10), wf.PartitionConcurrency(1))); err != nil {
				b.Fatal(err)
			}
			busy := make([]string, backlog+1)
			for i := range busy {
				busy[i] = "busy"
			}
			if _, err := w.EnqueueMany(ctx, c, busy, wf.WithPartitionKey("busy")); err != nil {
				b.Fatal(err)
			}
			wftest.Start(b, c)
			<-running // the busy tenant's first workflow runs until the benchmark ends; the rest wait
			b.ResetTimer()
			for i := range b.N {
				h, err := w.Enqueue(ctx, c, "other", wf.WithPartitionKey(fmt.Sprint("tenant-", i)))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := h.Result(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/workflow")
		})
	}
}

// BenchmarkPartitionedWorkflows works one-step workflows of 1,000 tenants, 20 each, in a
// queue limited to one running workflow per tenant, with 100 slots: the claims' cost when
// every partition has work and none holds the others up.
func BenchmarkPartitionedWorkflows(b *testing.B) {
	const tenants, each = 1000, 20
	ctx := context.Background()
	c := wftest.NewClient(b, wf.Config{})
	work := wf.NewStep[struct{}]("work")
	w := wf.NewWorkflow("tenant-work", func(ctx wf.Context, _ int) (struct{}, error) {
		return work.Run(ctx, func(context.Context) (struct{}, error) { return struct{}{}, nil })
	}, wf.WorkflowQueue("tenants"))
	if err := c.Register(w, work, wf.NewQueue("tenants", wf.WorkerConcurrency(100), wf.PartitionConcurrency(1))); err != nil {
		b.Fatal(err)
	}
	wftest.Start(b, c)
	b.ResetTimer()
	var elapsed time.Duration
	for range b.N {
		b.StopTimer()
		ins := make([]int, each)
		var hs []*wf.Handle[struct{}]
		start := time.Now()
		for t := range tenants {
			h, err := w.EnqueueMany(ctx, c, ins, wf.WithPartitionKey(fmt.Sprint("tenant-", t)))
			if err != nil {
				b.Fatal(err)
			}
			hs = append(hs, h...)
		}
		start = time.Now()
		b.StartTimer()
		for _, h := range hs {
			if _, err := h.Result(ctx); err != nil {
				b.Fatal(err)
			}
		}
		elapsed += time.Since(start)
	}
	b.ReportMetric(float64(tenants*each*b.N)/elapsed.Seconds(), "workflows/s")
}

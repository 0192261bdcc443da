package compare

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"

	"github.com/cschleiden/go-workflows/backend"
	"github.com/cschleiden/go-workflows/backend/postgres"
	"github.com/cschleiden/go-workflows/client"
	"github.com/cschleiden/go-workflows/registry"
	"github.com/cschleiden/go-workflows/worker"
	"github.com/cschleiden/go-workflows/workflow"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// gowfFinished is go-workflows' core.WorkflowInstanceStateFinished in its instances table.
const gowfFinished = 2

// gowfCreators is how many goroutines create the instances: go-workflows has no batch or
// transactional enqueue, so each instance is its own transaction.
const gowfCreators = 16

// gowfInput is a workflow's input: its sequence number and how many activities it runs.
type gowfInput struct {
	Seq   int
	Steps int
}

// gowfWork runs n workflows of the given number of no-op activities on go-workflows'
// PostgreSQL backend. The instances are created while no worker runs (go-workflows has no
// batch enqueue; the creation is not timed as an enqueue figure); the work phase runs from
// the worker's start to the moment Postgres shows all n finished.
func gowfWork(ctx context.Context, e *env, n, steps int) (work outcome, err error) {
	if err := e.dropSchema(ctx, gowfSchema); err != nil {
		return work, err
	}
	if _, err := e.mon.Exec(ctx, "CREATE SCHEMA "+gowfSchema); err != nil {
		return work, err
	}
	// go-workflows speaks database/sql and its SQL names no schema: its connections come
	// from pgx's stdlib driver, with the search_path set and the statement counter attached.
	cc, err := pgx.ParseConfig(e.url)
	if err != nil {
		return work, fmt.Errorf("parsing DATABASE_URL: %w", err)
	}
	cc.RuntimeParams["search_path"] = gowfSchema
	stmts := newStatementCounter(gowfSchema)
	cc.Tracer = stmts
	db := sql.OpenDB(stdlib.GetConnector(*cc))
	db.SetMaxOpenConns(e.cfg.poolSize())
	db.SetMaxIdleConns(e.cfg.poolSize())
	defer db.Close()
	be := postgres.NewPostgresBackendWithDB(db,
		postgres.WithApplyMigrations(true),
		postgres.WithBackendOptions(
			backend.WithLogger(slog.New(slog.DiscardHandler)),
			backend.WithWorkerName("bench-gowf"),
		))

	done := newCountdown(n)
	last := func(_ context.Context, in gowfInput, i int) error {
		if i == in.Steps-1 {
			done.tick()
		}
		return nil
	}
	flow := func(ctx workflow.Context, in gowfInput) error {
		for i := range in.Steps {
			if _, err := workflow.ExecuteActivity[any](ctx, workflow.DefaultActivityOptions, "bench_noop", in, i).Get(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	opts := worker.DefaultOptions
	opts.WorkflowPollers = e.cfg.gowfPollers
	opts.ActivityPollers = e.cfg.gowfPollers
	opts.WorkflowPollingInterval = e.cfg.gowfPoll
	opts.ActivityPollingInterval = e.cfg.gowfPoll
	opts.MaxParallelWorkflowTasks = e.cfg.workers
	opts.MaxParallelActivityTasks = e.cfg.workers
	opts.WorkflowExecutorCacheSize = max(opts.WorkflowExecutorCacheSize, e.cfg.workers)
	opts.SingleWorkerMode = true
	w := worker.New(be, &opts)
	if err := w.RegisterWorkflow(flow, registry.WithName("bench_steps")); err != nil {
		return work, err
	}
	if err := w.RegisterActivity(last, registry.WithName("bench_noop")); err != nil {
		return work, err
	}

	c := client.New(be)
	if err := createConcurrently(ctx, n, func(ctx context.Context, i int) error {
		_, err := c.CreateWorkflowInstance(ctx, client.WorkflowInstanceOptions{InstanceID: fmt.Sprintf("bench-%d", i)}, "bench_steps", gowfInput{Seq: i, Steps: steps})
		return err
	}); err != nil {
		return work, fmt.Errorf("creating go-workflows instances: %w", err)
	}

	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		stop()
		if werr := w.WaitForCompletion(); err == nil && werr != nil {
			err = fmt.Errorf("stopping the go-workflows worker: %w", werr)
		}
	}()
	_, work, err = e.timeWork(ctx, stmts, n, done,
		fmt.Sprintf("SELECT count(*) FROM %s.instances WHERE state = %d", gowfSchema, gowfFinished),
		func(context.Context) error { return w.Start(wctx) })
	return work, err
}

// createConcurrently calls create for 0..n-1 from gowfCreators goroutines and returns the
// first error.
func createConcurrently(ctx context.Context, n int, create func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range gowfCreators {
		wg.Go(func() {
			for i := range next {
				if err := create(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

package compare

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/dbos-inc/dbos-transact-golang/dbos"
	"github.com/jackc/pgx/v5/pgxpool"
)

// dbosQueue is the queue the DBOS phases use.
const dbosQueue = "bench"

// dbosWork runs n workflows of the given number of no-op steps on DBOS. DBOS has no batch
// enqueue: the n Enqueue calls run inside one transaction of the benchmark's, so all n
// become visible to the (idle, launched) queue runner at its commit, as with one
// EnqueueMany. The enqueue phase is that transaction; the work phase runs from its commit to
// the moment Postgres shows all n succeeded.
func dbosWork(ctx context.Context, e *env, n, steps int) (enqueue, work outcome, err error) {
	d, err := newDBOS(ctx, e)
	if err != nil {
		return enqueue, work, err
	}
	defer func() {
		if stopErr := d.stop(); err == nil && stopErr != nil {
			err = stopErr
		}
	}()
	dctx, pool, stmts := d.ctx, d.pool, d.stmts

	done := newCountdown(n)
	flow := func(ctx dbos.Context, in benchInput) (struct{}, error) {
		for range steps {
			if _, err := dbos.RunAsStep(ctx, noopStep, dbos.WithStepName("noop")); err != nil {
				return struct{}{}, err
			}
		}
		done.tick()
		return struct{}{}, nil
	}
	dbos.RegisterWorkflow(dctx, flow, dbos.WithWorkflowName("bench_steps"))
	if _, err := dbos.RegisterQueue(dctx, dbosQueue,
		dbos.WithWorkerConcurrency(e.cfg.workers),
		dbos.WithQueueBasePollingInterval(e.cfg.dbosPoll)); err != nil {
		return enqueue, work, fmt.Errorf("registering the DBOS queue: %w", err)
	}
	if err := dbos.Launch(dctx); err != nil {
		return enqueue, work, fmt.Errorf("launching DBOS: %w", err)
	}

	return e.timeWork(ctx, stmts, n, done, "SELECT count(*) FROM "+dbosSchema+".workflow_status WHERE status = 'SUCCESS'",
		func(ctx context.Context) error {
			tx, err := pool.Begin(ctx)
			if err != nil {
				return err
			}
			defer tx.Rollback(context.WithoutCancel(ctx))
			for i := range n {
				if _, err := dbos.Enqueue[struct{}](dctx, dbosQueue, "bench_steps", benchInput{Seq: i}, dbos.WithEnqueueTransaction(tx)); err != nil {
					return err
				}
			}
			return tx.Commit(ctx)
		})
}

// dbosApp is a DBOS context on a fresh schema, not yet launched.
type dbosApp struct {
	ctx      dbos.Context
	pool     *pgxpool.Pool
	stmts    *statementCounter
	stopping *atomic.Bool
}

// newDBOS recreates DBOS's schema and creates a context on a pool of its own.
func newDBOS(ctx context.Context, e *env) (*dbosApp, error) {
	if err := e.dropSchema(ctx, dbosSchema); err != nil {
		return nil, err
	}
	pool, stmts, err := e.newPool(ctx, e.cfg.poolSize(), dbosSchema)
	if err != nil {
		return nil, err
	}
	stopping := new(atomic.Bool)
	dctx, err := dbos.NewContext(context.WithoutCancel(ctx), dbos.Config{
		AppName:        "wfgen-bench",
		SystemDBPool:   pool,
		DatabaseSchema: dbosSchema,
		Logger:         slog.New(untilStopped{e.logger.Handler(), stopping}),
		ExecutorID:     "bench-dbos",
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("creating the DBOS context: %w", err)
	}
	return &dbosApp{ctx: dctx, pool: pool, stmts: stmts, stopping: stopping}, nil
}

// stop shuts DBOS down and closes its pool (DBOS closes it too, on Shutdown).
func (d *dbosApp) stop() error {
	defer d.pool.Close()
	d.stopping.Store(true)
	if err := dbos.Shutdown(d.ctx, 30*time.Second); err != nil {
		return fmt.Errorf("stopping DBOS: %w", err)
	}
	return nil
}

// untilStopped passes log records on until stopped is set: DBOS logs the queries its queue
// runner has cancelled by its own shutdown as errors.
type untilStopped struct {
	slog.Handler
	stopped *atomic.Bool
}

func (h untilStopped) Handle(ctx context.Context, r slog.Record) error {
	if h.stopped.Load() {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h untilStopped) WithAttrs(attrs []slog.Attr) slog.Handler {
	return untilStopped{h.Handler.WithAttrs(attrs), h.stopped}
}

func (h untilStopped) WithGroup(name string) slog.Handler {
	return untilStopped{h.Handler.WithGroup(name), h.stopped}
}

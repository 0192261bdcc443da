package compare

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/dbos-inc/dbos-transact-golang/dbos"
)

// dbosQueue is the queue the DBOS phases use.
const dbosQueue = "bench"

// dbosWork runs n workflows of the given number of no-op steps on DBOS. DBOS has no batch
// enqueue: the n Enqueue calls run inside one transaction of the benchmark's, so all n
// become visible to the (idle, launched) queue runner at its commit, as with one
// EnqueueMany. The enqueue phase is that transaction; the work phase runs from its commit to
// the moment Postgres shows all n succeeded.
func dbosWork(ctx context.Context, e *env, n, steps int) (enqueue, work outcome, err error) {
	if err := e.dropSchema(ctx, dbosSchema); err != nil {
		return enqueue, work, err
	}
	pool, stmts, err := e.newPool(ctx, e.cfg.poolSize(), dbosSchema)
	if err != nil {
		return enqueue, work, err
	}
	defer pool.Close() // DBOS closes it too, on Shutdown
	var stopping atomic.Bool
	dctx, err := dbos.NewContext(context.WithoutCancel(ctx), dbos.Config{
		AppName:        "wfgen-bench",
		SystemDBPool:   pool,
		DatabaseSchema: dbosSchema,
		Logger:         slog.New(untilStopped{e.logger.Handler(), &stopping}),
		ExecutorID:     "bench-dbos",
	})
	if err != nil {
		return enqueue, work, fmt.Errorf("creating the DBOS context: %w", err)
	}
	defer func() {
		stopping.Store(true)
		if stopErr := dbos.Shutdown(dctx, 30*time.Second); err == nil && stopErr != nil {
			err = fmt.Errorf("stopping DBOS: %w", stopErr)
		}
	}()

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

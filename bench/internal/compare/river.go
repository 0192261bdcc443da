package compare

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// riverArgs is the no-op job: the same input as the workflows.
type riverArgs benchInput

func (riverArgs) Kind() string { return "bench_noop" }

type riverWorker struct {
	river.WorkerDefaults[riverArgs]
	done *countdown
}

func (w *riverWorker) Work(context.Context, *river.Job[riverArgs]) error {
	if w.done != nil {
		w.done.tick()
	}
	return nil
}

// riverClient recreates River's schema and returns a client on a fresh pool; with workers
// the client works the default queue (once started), without it only inserts.
func riverClient(ctx context.Context, e *env, poolSize int, done *countdown, workers int) (*river.Client[pgx.Tx], *pgxpool.Pool, *statementCounter, error) {
	if err := e.dropSchema(ctx, riverSchema); err != nil {
		return nil, nil, nil, err
	}
	if _, err := e.mon.Exec(ctx, "CREATE SCHEMA "+riverSchema); err != nil {
		return nil, nil, nil, err
	}
	pool, stmts, err := e.newPool(ctx, poolSize, riverSchema)
	if err != nil {
		return nil, nil, nil, err
	}
	driver := riverpgxv5.New(pool)
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Schema: riverSchema, Logger: e.logger})
	if err == nil {
		_, err = migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	}
	if err != nil {
		pool.Close()
		return nil, nil, nil, fmt.Errorf("migrating River: %w", err)
	}
	ws := river.NewWorkers()
	river.AddWorker(ws, &riverWorker{done: done})
	cfg := &river.Config{
		Schema:            riverSchema,
		Logger:            e.logger,
		Workers:           ws,
		FetchCooldown:     e.cfg.riverCooldown,
		FetchPollInterval: e.cfg.riverPoll,
	}
	if workers > 0 {
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: workers}}
	}
	client, err := river.NewClient(driver, cfg)
	if err != nil {
		pool.Close()
		return nil, nil, nil, err
	}
	return client, pool, stmts, nil
}

// riverWork inserts n no-op jobs with one InsertMany while the started client is idle, then
// lets it work them. The insert phase is the InsertMany call; the work phase runs from its
// return to the moment Postgres shows all n jobs completed (River records completions in
// batches, a few milliseconds after the job ran).
func riverWork(ctx context.Context, e *env, n int) (insert, work outcome, err error) {
	done := newCountdown(n)
	client, pool, stmts, err := riverClient(ctx, e, e.cfg.poolSize(), done, e.cfg.workers)
	if err != nil {
		return insert, work, err
	}
	defer pool.Close()
	if err := client.Start(ctx); err != nil {
		return insert, work, fmt.Errorf("starting River: %w", err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if stopErr := client.Stop(stopCtx); err == nil && stopErr != nil {
			err = fmt.Errorf("stopping River: %w", stopErr)
		}
	}()

	params := make([]river.InsertManyParams, n)
	for i := range params {
		params[i].Args = riverArgs{Seq: i}
	}
	return e.timeWork(ctx, stmts, n, done, "SELECT count(*) FROM "+riverSchema+".river_job WHERE state = 'completed'",
		func(ctx context.Context) error {
			_, err := client.InsertMany(ctx, params)
			return err
		})
}

// riverInsertSingle inserts n jobs one Insert call at a time, from clients goroutines,
// through an insert-only client. Nothing works the queue meanwhile.
func riverInsertSingle(ctx context.Context, e *env, n, clients int) (outcome, error) {
	client, pool, stmts, err := riverClient(ctx, e, clients+1, nil, 0)
	if err != nil {
		return outcome{}, err
	}
	defer pool.Close()
	return enqueueConcurrently(ctx, e, stmts, n, clients, func(ctx context.Context, i int) error {
		_, err := client.Insert(ctx, riverArgs{Seq: i}, nil)
		return err
	})
}

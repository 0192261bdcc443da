package compare

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// env is what every phase shares: the server, the monitor connection and the settings.
type env struct {
	cfg    config
	url    string
	mon    *pgx.Conn // reads counters and polls for completion; writes no table
	probe  *probe
	logger *slog.Logger // for the systems under test: warnings and errors only
	log    io.Writer    // progress lines

	noCheckpoint bool // CHECKPOINT was refused (not a superuser): do not try again

	scale *scaleState // -scale: the seeded schema, and whether a phase works in it now

	pools []*pgxpool.Pool // every pool newPool opened and not yet seen closed, for catchUp
}

// Schemas, one per system: each phase drops and recreates its system's schema.
const (
	wfgenSchema = "bench_wfgen"
	riverSchema = "bench_river"
	dbosSchema  = "bench_dbos"
	gowfSchema  = "bench_gowf"
)

// newPool opens a pool of exactly size connections, all opened before it returns, with a
// statement counter attached.
func (e *env) newPool(ctx context.Context, size int, schema string) (*pgxpool.Pool, *statementCounter, error) {
	return e.newPoolWith(ctx, size, schema, nil)
}

// newPoolWith is newPool with the session settings given, such as a search_path for a
// system whose SQL names no schema.
func (e *env) newPoolWith(ctx context.Context, size int, schema string, settings map[string]string) (*pgxpool.Pool, *statementCounter, error) {
	pc, err := pgxpool.ParseConfig(e.url)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing DATABASE_URL: %w", err)
	}
	for k, v := range settings {
		pc.ConnConfig.RuntimeParams[k] = v
	}
	stmts := newStatementCounter(schema)
	pc.MaxConns = int32(size)
	pc.MinConns = 0
	pc.ConnConfig.Tracer = stmts
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, nil, err
	}
	// Open every connection now, so that no system pays for connecting during a timed phase.
	conns := make([]*pgxpool.Conn, size)
	errs := make([]error, size)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() { conns[i], errs[i] = pool.Acquire(ctx) })
	}
	wg.Wait()
	for _, c := range conns {
		if c != nil {
			c.Release()
		}
	}
	if err := errors.Join(errs...); err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("opening %d connections: %w", size, err)
	}
	e.pools = append(e.pools, pool)
	return pool, stmts, nil
}

// catchUp runs an empty query on every idle connection of the open pools, so that each
// connection's server process has read the catalog changes of the schemas just dropped and
// created (migrations) before a timed phase. A server process that sat idle through a
// migration falls behind the server's queue of catalog invalidations, and once that queue
// fills PostgreSQL wakes the processes behind it one after another to read it. Unprompted,
// that wave (about 900 wake-ups of idle server processes, read from their context switches)
// reached a third of a second into the latency phase that followed. Closed pools are dropped
// from the list.
func (e *env) catchUp(ctx context.Context) error {
	open := e.pools[:0]
	var errs []error
	for _, p := range e.pools {
		if p.Stat().TotalConns() == 0 { // closed
			continue
		}
		open = append(open, p)
		errs = append(errs, emptyQueryOnIdle(ctx, p))
	}
	clear(e.pools[len(open):])
	e.pools = open
	return errors.Join(errs...)
}

// emptyQueryOnIdle runs SELECT 1 on each idle connection of p, all at once.
func emptyQueryOnIdle(ctx context.Context, p *pgxpool.Pool) error {
	conns := p.AcquireAllIdle(ctx)
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() { _, errs[i] = c.Exec(ctx, "SELECT 1") })
	}
	wg.Wait()
	for _, c := range conns {
		c.Release()
	}
	return errors.Join(errs...)
}

// dropSchema removes a system's schema and everything in it.
func (e *env) dropSchema(ctx context.Context, schema string) error {
	_, err := e.mon.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	return err
}

// settle starts a timed phase from the same state for every system: with the dirty pages of
// earlier phases written out, so that no checkpoint falls into this one and every phase pays
// the same full-page writes.
func (e *env) settle(ctx context.Context) {
	if err := e.catchUp(ctx); err != nil {
		fmt.Fprintf(e.log, "note: an empty query on a pool's idle connections failed (%v)\n", err)
	}
	if e.cfg.checkpoint && !e.noCheckpoint {
		if _, err := e.mon.Exec(ctx, "CHECKPOINT"); err != nil {
			fmt.Fprintf(e.log, "note: CHECKPOINT failed (%v); phases start without one\n", err)
			e.noCheckpoint = true
		}
	}
}

// waitForCount polls a count query on the monitor connection until it returns want, and
// returns the time the successful poll was sent: the work it counts was durable by then.
// Phases call it once their in-process counters say all work ran, so it only polls while the
// last writes land.
func (e *env) waitForCount(ctx context.Context, query string, want int64) (time.Time, error) {
	var got int64
	for {
		sent := time.Now()
		if err := e.mon.QueryRow(ctx, query).Scan(&got); err != nil {
			return time.Time{}, fmt.Errorf("polling for completion: %w", err)
		}
		if got >= want {
			return sent, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%d of %d done: %w", got, want, ctx.Err())
		case <-time.After(e.cfg.pollEvery):
		}
	}
}

// timeWork runs the protocol every work phase shares, once its system is started and idle:
// it reads the counters, enqueues all n units in one commit, waits until done says every
// unit ran in this process, then until countDone (a count query) shows all n durable. The
// enqueue outcome times the enqueue call; the work outcome runs from its return to the poll
// that saw all n.
func (e *env) timeWork(ctx context.Context, stmts *statementCounter, n int, done *countdown, countDone string, enqueue func(context.Context) error) (enq, work outcome, err error) {
	e.settle(ctx)
	r0, err := e.probe.read(ctx, stmts)
	if err != nil {
		return enq, work, err
	}
	if err := enqueue(ctx); err != nil {
		return enq, work, fmt.Errorf("enqueueing: %w", err)
	}
	enqueued := time.Now()
	r1, err := e.probe.read(ctx, stmts)
	if err != nil {
		return enq, work, err
	}
	enq = outcome{units: n, elapsed: enqueued.Sub(r0.at), cost: r1.since(r0)}

	select {
	case <-done.done:
	case <-ctx.Done():
		return enq, work, fmt.Errorf("%d of %d ran: %w", done.ran.Load(), n, ctx.Err())
	}
	finished, err := e.waitForCount(ctx, countDone, int64(n))
	if err != nil {
		return enq, work, err
	}
	r2, err := e.probe.read(ctx, stmts)
	if err != nil {
		return enq, work, err
	}
	work = outcome{units: n, elapsed: finished.Sub(enqueued), cost: r2.since(r1)}
	if e.cfg.walRecords {
		if work.wal, err = e.walRecords(ctx, r1.walBytes, r2.walBytes); err != nil {
			return enq, work, fmt.Errorf("reading the phase's WAL records: %w", err)
		}
	}
	return enq, work, nil
}

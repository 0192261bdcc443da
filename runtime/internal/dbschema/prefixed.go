package dbschema

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Batcher sends batches: pools, connections and transactions do.
type Batcher interface {
	DBTX
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Prefixed returns conn with every statement (Exec, Query, QueryRow) preceded by the
// statement prefix (with args), in one batch: one round trip, and one implicit transaction
// (or the caller's), so that a prefix such as set_config(..., true) applies to that
// statement alone, and a row lock the prefix takes is held when the statement takes its
// snapshot. The prefix's result is read and dropped; an error in it fails the statement.
// Wrap a Rewriter around it, not the other way round: the prefix is sent as written.
//
// Prefixes nest: Prefixed(Prefixed(pool, a), b) sends a, b, then the statement.
func Prefixed(conn Batcher, prefix string, args ...any) Batcher {
	return batched{prefixed{conn: conn, prefix: prefix, args: args}}
}

type prefixed struct {
	conn   Batcher
	prefix string
	args   []any
}

// SendBatch sends the prefix, then b's statements, in one batch; the results it returns
// begin with b's first statement.
func (p prefixed) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	all := &pgx.Batch{}
	all.Queue(p.prefix, p.args...)
	all.QueuedQueries = append(all.QueuedQueries, b.QueuedQueries...)
	br := p.conn.SendBatch(ctx, all)
	if _, err := br.Exec(); err != nil {
		return failedBatch{err: errors.Join(err, br.Close())}
	}
	return br
}

// batchSender is what Prefixed and CommitThen build on: batched sends each statement as
// a batch of one through it.
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// batched is a batchSender that also runs single statements (Query, Exec, QueryRow), each
// as a batch of one.
type batched struct{ batchSender }

func (b batched) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return queryVia(ctx, b.batchSender, sql, args)
}

func (b batched) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return execVia(ctx, b.batchSender, sql, args)
}

func (b batched) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return queryRowVia(ctx, b.batchSender, sql, args)
}

// sendVia sends sql alone as a batch through s.
func sendVia(ctx context.Context, s batchSender, sql string, args []any) (pgx.BatchResults, error) {
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	br := s.SendBatch(ctx, b)
	if f, ok := br.(failedBatch); ok {
		return nil, f.err
	}
	return br, nil
}

func queryVia(ctx context.Context, s batchSender, sql string, args []any) (pgx.Rows, error) {
	br, err := sendVia(ctx, s, sql, args)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		rows.Close()
		return nil, errors.Join(err, br.Close())
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func execVia(ctx context.Context, s batchSender, sql string, args []any) (pgconn.CommandTag, error) {
	br, err := sendVia(ctx, s, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	return tag, errors.Join(err, br.Close())
}

func queryRowVia(ctx context.Context, s batchSender, sql string, args []any) pgx.Row {
	rows, err := queryVia(ctx, s, sql, args)
	return batchRow{rows: rows, err: err}
}

// batchRow is QueryRow's row: the first of the rows, as pgx's own is.
type batchRow struct {
	rows pgx.Rows
	err  error
}

func (r batchRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// batchRows are the rows of a batch's last query. Closing the batch ends the implicit
// transaction: its error (a failed commit) is the rows' error, once they are read.
type batchRows struct {
	pgx.Rows
	br   pgx.BatchResults
	done bool
	err  error
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.finish()
}

func (r *batchRows) Close() {
	r.Rows.Close()
	_ = r.finish()
}

func (r *batchRows) finish() error {
	if !r.done {
		r.done = true
		r.Rows.Close()
		r.err = r.br.Close()
	}
	return r.err
}

// failedBatch is the result of a batch whose prefix failed: every statement's result is its
// error, which Close does not repeat.
type failedBatch struct{ err error }

func (f failedBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, f.err }
func (f failedBatch) Query() (pgx.Rows, error)         { return nil, f.err }
func (f failedBatch) QueryRow() pgx.Row                { return batchRow{err: f.err} }
func (f failedBatch) Close() error                     { return nil }
func (f failedBatch) Tx() pgx.Tx                       { return nil }

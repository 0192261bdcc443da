package dbschema

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// Batcher sends batches: pools, connections and transactions do.
type Batcher interface {
	DBTX
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Prefixed returns conn with every Query preceded by the statement prefix, in one batch:
// one round trip, and one implicit transaction (or the caller's), so that a prefix such as
// set_config(..., true) applies to that query alone. Exec and QueryRow go to conn unchanged.
// Wrap a Rewriter around it, not the other way round: the prefix is sent as written.
func Prefixed(conn Batcher, prefix string) DBTX {
	return prefixed{Batcher: conn, prefix: prefix}
}

type prefixed struct {
	Batcher
	prefix string
}

func (p prefixed) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	b := &pgx.Batch{}
	b.Queue(p.prefix)
	b.Queue(sql, args...)
	br := p.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		return nil, errors.Join(err, br.Close())
	}
	rows, err := br.Query()
	if err != nil {
		rows.Close()
		return nil, errors.Join(err, br.Close())
	}
	return &batchRows{Rows: rows, br: br}, nil
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

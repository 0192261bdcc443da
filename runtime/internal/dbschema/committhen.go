package dbschema

import (
	"context"
	"errors"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// CommitThen returns conn with every statement (Exec, Query, QueryRow) run in a
// transaction of its own, committed, and followed by the statement then (with args) in
// another, all in one batch: one round trip, where sending then after the statement's
// result came back would take a second. then is for work that must follow the commit and
// whose failure is not the statement's (a notification of what it committed): its result
// is read and dropped, and its error ignored. The statement's error, or its commit's, is
// the statement's; after a failed statement the server skips the rest, and the connection
// is left in a failed transaction, which pgxpool discards on release.
//
// conn must be a connection or a pool, not a transaction. Wrap a Rewriter around it, not
// the other way round: then is sent as written.
func CommitThen(conn Batcher, then string, args ...any) Batcher {
	return batched{commitThen{begun: prefixed{conn: conn, prefix: "BEGIN"}, then: then, args: args}}
}

type commitThen struct {
	begun prefixed // sends BEGIN first
	then  string
	args  []any
}

// SendBatch sends BEGIN, b's statements, COMMIT and then in one batch; the results it
// returns begin with b's first statement, and its Close reads the commit's.
func (c commitThen) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	all := &pgx.Batch{QueuedQueries: slices.Clone(b.QueuedQueries)}
	all.Queue("COMMIT")
	all.Queue(c.then, c.args...)
	br := c.begun.SendBatch(ctx, all)
	if f, ok := br.(failedBatch); ok {
		return f
	}
	return &thenResults{BatchResults: br, unread: len(b.QueuedQueries)}
}

// thenResults are the results of a CommitThen batch: the caller's statements', then, on
// Close, the commit's (an error) and the trailing statement's (ignored).
type thenResults struct {
	pgx.BatchResults
	unread int // the caller's statements whose results it has not read
}

func (r *thenResults) Exec() (pgconn.CommandTag, error) {
	r.unread--
	return r.BatchResults.Exec()
}

func (r *thenResults) Query() (pgx.Rows, error) {
	r.unread--
	return r.BatchResults.Query()
}

func (r *thenResults) QueryRow() pgx.Row {
	r.unread--
	return r.BatchResults.QueryRow()
}

func (r *thenResults) Close() error {
	for ; r.unread > 0; r.unread-- {
		if _, err := r.BatchResults.Exec(); err != nil {
			return errors.Join(err, r.BatchResults.Close())
		}
	}
	if _, err := r.BatchResults.Exec(); err != nil { // COMMIT
		return errors.Join(err, r.BatchResults.Close())
	}
	_, thenErr := r.BatchResults.Exec()
	// pgx's results repeat their first error from then on: the trailing statement's is not
	// the batch's.
	if err := r.BatchResults.Close(); err != nil && err != thenErr { //nolint:errorlint // the very error Exec returned
		return err
	}
	return nil
}

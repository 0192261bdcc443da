// Package dbschema points wfgen's SQL at the configured schema.
//
// The migrations in schema/ and the queries in queries/ name every object as wfgen.<name>,
// so that sqlc can check them. At run time a [Rewriter] replaces that schema name with the
// configured one, once per distinct statement, and [Rewriter.Wrap] applies it to every
// statement sent through a pool, a connection or a caller's transaction.
package dbschema

import (
	"context"
	"fmt"
	"regexp"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Default is the schema name written in schema/ and queries/, and the default schema.
const Default = "wfgen"

// validName keeps schema names to plain lower-case identifiers, which need no quoting rules
// beyond double quotes and look the same in psql as in the configuration.
var validName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// placeholder matches the schema name as a whole word: "wfgen.workflows" and "SCHEMA wfgen",
// never "wfgen_x".
var placeholder = regexp.MustCompile(`\bwfgen\b`)

// Validate reports whether name can be used as wfgen's schema.
func Validate(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("schema name %q is not a plain identifier: use lower-case letters, digits and underscores, starting with a letter or underscore, at most 63 characters", name)
	}
	return nil
}

// DBTX is the subset of pgx that sqlc's generated code uses; pools, connections and
// transactions all implement it.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Rewriter rewrites statements for one schema. It is safe for concurrent use.
type Rewriter struct {
	schema string
	quoted string
	cache  sync.Map // original SQL -> rewritten SQL
}

// NewRewriter returns a Rewriter for schema, which must pass [Validate].
func NewRewriter(schema string) *Rewriter {
	return &Rewriter{schema: schema, quoted: `"` + schema + `"`}
}

// Schema returns the schema name.
func (r *Rewriter) Schema() string { return r.schema }

// SQL returns query with the schema name replaced.
func (r *Rewriter) SQL(query string) string {
	if r.schema == Default {
		return query
	}
	if v, ok := r.cache.Load(query); ok {
		return v.(string)
	}
	out := placeholder.ReplaceAllLiteralString(query, r.quoted)
	r.cache.Store(query, out)
	return out
}

// Wrap returns conn with every statement rewritten.
func (r *Rewriter) Wrap(conn DBTX) DBTX {
	if r.schema == Default {
		return conn
	}
	return rewritten{conn: conn, r: r}
}

type rewritten struct {
	conn DBTX
	r    *Rewriter
}

func (w rewritten) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return w.conn.Exec(ctx, w.r.SQL(sql), args...)
}

func (w rewritten) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return w.conn.Query(ctx, w.r.SQL(sql), args...)
}

func (w rewritten) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return w.conn.QueryRow(ctx, w.r.SQL(sql), args...)
}

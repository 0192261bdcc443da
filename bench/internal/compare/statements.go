package compare

import (
	"context"
	"maps"
	"regexp"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
)

// statementCounter is a pgx tracer that counts the statements a pool sends, by kind. Every
// Query, QueryRow and Exec (BEGIN and COMMIT included), every batch, COPY and explicit
// prepare is one round trip to the server, so the total approximates round trips. pgxpool's
// liveness pings on acquire are not traced and not counted.
type statementCounter struct {
	schemas []string // schema names stripped from statement kinds

	kinds sync.Map // SQL text -> kind, so each distinct statement is classified once

	mu     sync.Mutex
	counts map[string]int64
}

func newStatementCounter(schemas ...string) *statementCounter {
	return &statementCounter{schemas: schemas, counts: map[string]int64{}}
}

// snapshot returns the counts so far.
func (s *statementCounter) snapshot() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.counts)
}

func (s *statementCounter) add(kind string) {
	s.mu.Lock()
	s.counts[kind]++
	s.mu.Unlock()
}

func (s *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	s.add(s.kind(data.SQL))
	return ctx
}

func (s *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (s *statementCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	kind := "batch"
	if data.Batch != nil && len(data.Batch.QueuedQueries) > 0 {
		kind = "batch of " + s.kind(data.Batch.QueuedQueries[0].SQL)
	}
	s.add(kind)
	return ctx
}

func (s *statementCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (s *statementCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

func (s *statementCounter) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceCopyFromStartData) context.Context {
	s.add("COPY " + s.strip(data.TableName.Sanitize()))
	return ctx
}

func (s *statementCounter) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}

func (s *statementCounter) TracePrepareStart(ctx context.Context, _ *pgx.Conn, data pgx.TracePrepareStartData) context.Context {
	s.add("prepare")
	return ctx
}

func (s *statementCounter) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

var (
	// sqlc (which wfgen and River use) starts each query with "-- name: QueryName :kind".
	sqlcName   = regexp.MustCompile(`--\s*name:\s*(\w+)`)
	lineBlanks = regexp.MustCompile(`\s+`)
)

// kind names a statement: its sqlc query name, or the start of its text without schema
// names.
func (s *statementCounter) kind(sql string) string {
	if k, ok := s.kinds.Load(sql); ok {
		return k.(string)
	}
	k := s.strip(classify(sql))
	if len(k) > 60 {
		k = k[:57] + "..."
	}
	s.kinds.Store(sql, k)
	return k
}

func classify(sql string) string {
	if m := sqlcName.FindStringSubmatch(sql); m != nil {
		return m[1]
	}
	// Drop comment lines and join the rest on one line.
	var lines []string
	for _, l := range strings.Split(sql, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "--") {
			lines = append(lines, t)
		}
	}
	return lineBlanks.ReplaceAllString(strings.Join(lines, " "), " ")
}

func (s *statementCounter) strip(k string) string {
	for _, schema := range s.schemas {
		k = strings.ReplaceAll(k, `"`+schema+`".`, "")
		k = strings.ReplaceAll(k, schema+".", "")
	}
	return k
}

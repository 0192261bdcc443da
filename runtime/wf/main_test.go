package wf_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wftest"
)

func TestMain(m *testing.M) {
	// Crash tests re-run this binary as a worker process (see crash_test.go).
	if role := os.Getenv(helperRoleEnv); role != "" {
		os.Exit(runHelper(role))
	}
	wftest.Main(m)
}

// bundle is what a test needs: a context, a client on a schema of its own and the pool.
type bundle struct {
	ctx    context.Context
	client *wf.Client
	pool   *pgxpool.Pool
	schema string
}

func setup(t *testing.T, cfg wf.Config) *bundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	c := wftest.NewClient(t, cfg)
	return &bundle{ctx: ctx, client: c, pool: wftest.Pool(t), schema: c.Schema()}
}

// start registers defs and starts the client.
func (b *bundle) start(t *testing.T, defs ...wf.Definition) {
	t.Helper()
	require.NoError(t, b.client.Register(defs...))
	wftest.Start(t, b.client)
}

// exec runs test-only SQL against the test's schema (its own tables, or assertions).
func (b *bundle) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	_, err := b.pool.Exec(b.ctx, fmt.Sprintf(sql, b.schema), args...)
	require.NoError(t, err)
}

func (b *bundle) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(b.ctx, fmt.Sprintf(sql, b.schema), args...).Scan(&n))
	return n
}

// logRecorder is a slog.Handler that keeps every record, for tests of what the runtime
// logs, and passes them on to the test's log.
type logRecorder struct {
	next    slog.Handler
	mu      sync.Mutex
	records []slog.Record
}

// recordLogs returns a logger for wf.Config.Logger and the recorder behind it.
func recordLogs(t *testing.T) (*slog.Logger, *logRecorder) {
	r := &logRecorder{next: wftest.Logger(t).Handler()}
	return slog.New(r), r
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *logRecorder) Handle(ctx context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.records = append(r.records, rec.Clone())
	r.mu.Unlock()
	if r.next.Enabled(ctx, rec.Level) {
		return r.next.Handle(ctx, rec)
	}
	return nil
}

// The runtime does not derive loggers; a recorder does not need to keep attributes apart.
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

// find returns the attributes of every record logged with msg at level.
func (r *logRecorder) find(level slog.Level, msg string) []map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]string
	for _, rec := range r.records {
		if rec.Level != level || rec.Message != msg {
			continue
		}
		attrs := map[string]string{}
		rec.Attrs(func(a slog.Attr) bool {
			attrs[a.Key] = a.Value.String()
			return true
		})
		out = append(out, attrs)
	}
	return out
}

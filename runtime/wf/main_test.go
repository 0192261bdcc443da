package wf_test

import (
	"context"
	"fmt"
	"os"
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

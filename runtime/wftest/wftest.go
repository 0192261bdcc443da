// Package wftest runs tests of workflows against a real PostgreSQL, each test in a schema
// of its own, so that the tests of many packages run in parallel against one server.
//
// Call Main from TestMain; then NewClient gives each test a client on a fresh, migrated
// schema:
//
//	func TestMain(m *testing.M) { wftest.Main(m) }
//
//	func TestCheckout(t *testing.T) {
//		t.Parallel()
//		c := wftest.NewClient(t, wf.Config{})
//		if err := c.Register(checkout, charge); err != nil { t.Fatal(err) }
//		wftest.Start(t, c)
//		h, err := checkout.Enqueue(ctx, c, Order{ID: 1})
//		...
//	}
//
// The server is the one DATABASE_URL names: `wfgen devdb` (a PostgreSQL for development,
// kept in a folder or throwaway), a container, CI's. When DATABASE_URL is not set, Main
// starts a throwaway cluster from the PostgreSQL binaries installed on the machine (initdb
// and postgres on PATH, or the newest under /usr/lib/postgresql/*/bin, Homebrew's
// opt/postgresql@*/bin, Postgres.app or /usr/pgsql-*/bin) for the package's tests and
// removes it afterwards; processes the tests start inherit its DATABASE_URL. When there are
// no binaries, Main says what to install and the tests fail. As `go test ./...` runs one
// test binary per package, each then starts a cluster of its own (a second or two each);
// with `wfgen devdb` running and DATABASE_URL exported they all share it.
//
// NewClient names each test's schema after the test, migrates it and drops it with
// everything in it when the test ends. A test's own tables (those its steps read and write)
// belong in that schema (Client.Schema) or in one Schema returns, on the shared Pool, so
// that parallel tests do not see each other's rows.
package wftest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wfgen/wfgen/internal/embedpg"
	"github.com/wfgen/wfgen/runtime/internal/db"
	"github.com/wfgen/wfgen/runtime/internal/dbschema"
	"github.com/wfgen/wfgen/runtime/wf"
)

// Main runs the tests of a package (m.Run) with a database and exits. It starts a throwaway
// PostgreSQL cluster when DATABASE_URL is not set, and stops it after the tests.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv("DATABASE_URL") == "" {
		srv, err := embedpg.Start(context.Background(), embedpg.Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "wftest: DATABASE_URL is not set and no throwaway PostgreSQL could be started (`wfgen devdb` in another terminal gives one to export as DATABASE_URL):", err)
			return 1
		}
		defer srv.Stop()
		os.Setenv("DATABASE_URL", srv.URL)
	}
	code := m.Run()
	poolMu.Lock()
	if pool != nil {
		pool.Close()
	}
	poolMu.Unlock()
	return code
}

var (
	poolMu sync.Mutex
	pool   *pgxpool.Pool
)

// Pool returns the pool to the test database that the tests of this process share.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	poolMu.Lock()
	defer poolMu.Unlock()
	if pool != nil {
		return pool
	}
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		t.Fatal("wftest: DATABASE_URL is not set: call wftest.Main(m) from TestMain (it starts a throwaway PostgreSQL), or set DATABASE_URL")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("wftest: DATABASE_URL: %v", err)
	}
	cfg.MaxConns = 40
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("wftest: connecting to DATABASE_URL: %v", err)
	}
	pool = p
	return pool
}

var nonIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// Schema returns the name of a schema that no other test uses, and drops the schema (with
// everything in it) when the test ends. It does not create it: migrating does.
func Schema(t testing.TB) string {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	name := strings.Trim(nonIdent.ReplaceAllString(strings.ToLower(t.Name()), "_"), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	schema := "wft_" + name + "_" + hex.EncodeToString(b[:])
	p := Pool(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := db.New(dbschema.NewRewriter(schema).Wrap(p)).DropSchema(ctx); err != nil {
			t.Logf("wftest: dropping schema %s: %v", schema, err)
		}
	})
	return schema
}

// NewClient returns a client on a fresh, migrated schema of its own (unless cfg.Schema
// names one), with a short poll interval. The client is not started (see Start).
func NewClient(t testing.TB, cfg wf.Config) *wf.Client {
	t.Helper()
	if cfg.Schema == "" {
		cfg.Schema = Schema(t)
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = Logger(t)
	}
	c, err := wf.NewClient(Pool(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c
}

// Start starts c and stops it when the test ends.
func Start(t testing.TB, c *wf.Client) {
	t.Helper()
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("wftest: stopping client: %v", err)
		}
	})
}

// Logger returns a logger that writes to the test's log (shown for failed tests and with
// -v) until the test's cleanups have run, and discards afterwards.
func Logger(t testing.TB) *slog.Logger {
	h := &testHandler{t: t, done: new(atomic.Bool)}
	// Registered before any client's Stop cleanup, so it runs after it: cleanups run last
	// registered, first run.
	t.Cleanup(func() { h.done.Store(true) })
	return slog.New(h)
}

type testHandler struct {
	t     testing.TB
	done  *atomic.Bool // shared by the handlers WithAttrs derives
	attrs []slog.Attr
}

func (h *testHandler) Enabled(context.Context, slog.Level) bool { return !h.done.Load() }

func (h *testHandler) Handle(_ context.Context, r slog.Record) error {
	if h.done.Load() {
		return nil
	}
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	for _, a := range h.attrs {
		b.WriteString(" " + a.String())
	}
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	h.t.Log(b.String())
	return nil
}

func (h *testHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &testHandler{t: h.t, done: h.done, attrs: append(slices.Clip(h.attrs), attrs...)}
}

func (h *testHandler) WithGroup(string) slog.Handler { return h }

package wf_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/internal/testproxy"
)

// proxiedPool returns a pool to the test database whose connections go through a proxy, and
// the proxy: cutting it takes this pool, and a client on it, off the database (as a network
// failure or a database restart would) while the other tests go on.
func proxiedPool(t *testing.T) (*pgxpool.Pool, *testproxy.Proxy) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(os.Getenv("DATABASE_URL"))
	require.NoError(t, err)
	port := strconv.Itoa(int(cfg.ConnConfig.Port))
	target := net.JoinHostPort(cfg.ConnConfig.Host, port)
	if strings.HasPrefix(cfg.ConnConfig.Host, "/") {
		target = filepath.Join(cfg.ConnConfig.Host, ".s.PGSQL."+port)
	}
	proxy := testproxy.Start(t, target)
	host, proxyPort, err := net.SplitHostPort(proxy.Addr())
	require.NoError(t, err)
	p, err := strconv.ParseUint(proxyPort, 10, 16)
	require.NoError(t, err)
	cfg.ConnConfig.Host, cfg.ConnConfig.Port = host, uint16(p)
	for _, fb := range cfg.ConnConfig.Fallbacks { // sslmode=prefer tries twice
		fb.Host, fb.Port = host, uint16(p)
	}
	cfg.MaxConns = 10
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close) // before the proxy stops: cleanups run last registered, first run
	return pool, proxy
}

// logWatch counts the log messages a client emits, and passes them on.
type logWatch struct {
	mu       sync.Mutex
	messages map[string]int
}

// logger returns a logger that counts messages into w and writes them to next.
func (w *logWatch) logger(next *slog.Logger) *slog.Logger {
	w.messages = map[string]int{}
	return slog.New(watchHandler{Handler: next.Handler(), w: w})
}

// count returns how many messages containing msg were logged.
func (w *logWatch) count(msg string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for m, c := range w.messages {
		if strings.Contains(m, msg) {
			n += c
		}
	}
	return n
}

type watchHandler struct {
	slog.Handler
	w *logWatch
}

func (h watchHandler) Handle(ctx context.Context, r slog.Record) error {
	h.w.mu.Lock()
	h.w.messages[r.Message]++
	h.w.mu.Unlock()
	return h.Handler.Handle(ctx, r)
}

func (h watchHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return watchHandler{Handler: h.Handler.WithAttrs(attrs), w: h.w}
}

func (h watchHandler) WithGroup(name string) slog.Handler {
	return watchHandler{Handler: h.Handler.WithGroup(name), w: h.w}
}

package cli_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/internal/wfgen/cli"
	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wftest"
)

// lockedBuffer is a bytes.Buffer that a running command writes while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestDashboardCommandServesTheDashboardWithTheTokenFromTheEnvironmentUntilInterrupted(t *testing.T) {
	t.Parallel()
	c := wftest.NewClient(t, wf.Config{})
	w := wf.NewWorkflow("ops.Waiting", func(ctx wf.Context, n int) (int, error) { return n, nil }, wf.WorkflowQueue("dash-q"))
	require.NoError(t, c.Register(w))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := w.Enqueue(ctx, c, 1, wf.WithID("waiting-1")) // no worker: it stays enqueued
	require.NoError(t, err)

	const token = "cli-dashboard-token-123"
	env := func(k string) string {
		if k == "WFGEN_DASHBOARD_TOKEN" {
			return token
		}
		return os.Getenv(k)
	}
	serving, stop := context.WithCancel(ctx)
	var stdout, stderr lockedBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- cli.RunContext(serving, "dashboard", []string{"-schema", c.Schema(), "-addr", "127.0.0.1:0"}, &stdout, &stderr, env)
	}()
	addr := regexp.MustCompile(`serving (http://\S+/) `)
	var base string
	require.Eventually(t, func() bool {
		m := addr.FindStringSubmatch(stdout.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	}, 30*time.Second, 10*time.Millisecond, "stdout: %s\nstderr: %s", &stdout, &stderr)

	get := func(path, bearer string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, "GET", base+path, nil)
		require.NoError(t, err)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	code, _ := get("", "")
	require.Equal(t, http.StatusUnauthorized, code, "reads need the token without -public-reads")
	code, body := get("", token)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `data-queue="dash-q"`)
	code, body = get("workflow?id="+h.ID(), token)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "ops.Waiting")

	stop()
	select {
	case code := <-exited:
		require.Equal(t, 0, code, stderr.String())
	case <-ctx.Done():
		t.Fatal("the dashboard did not stop when interrupted")
	}
	require.Contains(t, stdout.String(), "wfgen dashboard: stopped")
}

func TestDashboardCommandRefusesToServeWithoutAGoodToken(t *testing.T) {
	t.Parallel()
	c := wftest.NewClient(t, wf.Config{})
	noToken := func(k string) string {
		if k == "WFGEN_DASHBOARD_TOKEN" {
			return ""
		}
		return os.Getenv(k)
	}
	for args, want := range map[string]string{
		"":                  "no token: pass -token or set $WFGEN_DASHBOARD_TOKEN",
		"-token short":      "the token has 5 characters: use at least 16",
		"-public-reads":     "no token",
		"-addr 127.0.0.1:0": "no token",
	} {
		var stdout, stderr bytes.Buffer
		code := cli.Run("dashboard", append([]string{"-schema", c.Schema()}, strings.Fields(args)...), &stdout, &stderr, noToken)
		require.Equal(t, 2, code, args)
		require.Contains(t, stderr.String(), want, args)
	}
}

// Package browsertest runs the project's browser tests in a headless Chromium driven by
// chromedp (v0.23: actions are typed; run them with chromedp.Do, or chromedp.Run for one
// that returns a value, and select elements with chromedp.CSS("...")).
//
// Chromium is the Debian package `chromium`; `make test` installs it through the Makefile's
// `chromium` target. A test that needs the browser fails (it never skips) when no Chromium is
// found, with a message that says how to get one. WFGEN_CHROMIUM names another binary.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Timeout bounds everything one test does in its browser, so a page that never loads fails
// the test instead of hanging the run.
const Timeout = 2 * time.Minute

// candidates are the names Chromium goes by, in the order they are tried.
var candidates = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"}

// Path returns the Chromium binary the tests use: $WFGEN_CHROMIUM when set, otherwise the
// first of the usual names found on PATH, or "" when there is none.
func Path() string {
	if p := os.Getenv("WFGEN_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range candidates {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// startAttempts bounds the starts of one test's browser. Chromium, under the load of a
// whole `make test`, crashed once during its start-up (in a `.ci/run`: its crash handler's
// output and no DevTools address; not reproduced in 14 runs since): a browser that dies
// before it listens is started again, a few times, rather than failing a test that has
// not begun. Every failure of a started browser still fails the test.
const startAttempts = 3

// New starts a headless Chromium for t and returns a chromedp context for it; the browser
// is closed when t ends. It fails t when Chromium is not installed, or does not start.
func New(t testing.TB) context.Context {
	t.Helper()
	path := Path()
	if path == "" {
		t.Fatalf("browsertest: no Chromium found on PATH (tried %v): run `make chromium` (Debian package chromium) or set WFGEN_CHROMIUM to a Chromium binary", candidates)
	}
	for attempt := 1; ; attempt++ {
		ctx, err := start(t, path)
		if err == nil {
			return ctx
		}
		// chromedp (v0.23) says so when the process ended before printing its DevTools
		// address; anything else is not a start-up crash.
		if attempt == startAttempts || !strings.Contains(err.Error(), "chrome failed to start") {
			t.Fatalf("browsertest: starting %s: %v (reinstall it with `make chromium`, or set WFGEN_CHROMIUM)", path, err)
		}
		t.Logf("browsertest: %s exited while starting (attempt %d of %d), starting it again: %v", path, attempt, startAttempts, err)
	}
}

// start starts one browser for t, closed when t ends.
func start(t testing.TB, path string) (context.Context, error) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		// Containers and root users have no usable sandbox; the pages are our own.
		chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	ctx, cancelTimeout := context.WithTimeout(context.Background(), Timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	cancel := func() {
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
	}
	// Start the browser now, so a broken install fails here with its own message.
	if err := chromedp.Do(browserCtx); err != nil {
		cancel()
		return nil, err
	}
	t.Cleanup(cancel)
	return browserCtx, nil
}

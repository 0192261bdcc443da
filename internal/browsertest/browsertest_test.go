package browsertest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/wfgen/wfgen/internal/browsertest"
	_ "github.com/wfgen/wfgen/internal/testflags"
)

// The browser runs the page's script: a page whose text is written by JavaScript reads back
// as that text.
func TestTheBrowserLoadsAPageAndRunsItsScript(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>t</title><p id="out">static</p>
<script>document.getElementById("out").textContent = "from " + "script";</script>`)
	}))
	defer srv.Close()

	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#out")))
	if err != nil {
		t.Fatal(err)
	}
	if text != "from script" {
		t.Fatalf("the page's text is %q, want %q", text, "from script")
	}
}

// A browser that dies while it starts is started again: the first start of this binary
// exits before it listens, as a Chromium crashing at start-up does, and New still returns a
// browser that loads a page.
func TestABrowserThatDiesWhileStartingIsStartedAgain(t *testing.T) {
	chromium := browsertest.Path()
	if chromium == "" {
		t.Fatal("no Chromium found: run `make chromium`")
	}
	dir := t.TempDir()
	crashed := filepath.Join(dir, "crashed")
	script := filepath.Join(dir, "chromium")
	body := fmt.Sprintf("#!/bin/sh\nif [ ! -e %q ]; then touch %q; echo 'crashed on purpose' >&2; exit 1; fi\nexec %q \"$@\"\n", crashed, crashed, chromium)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WFGEN_CHROMIUM", script)

	ctx := browsertest.New(t)
	if _, err := os.Stat(crashed); err != nil {
		t.Fatalf("the first start did not run: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
}

package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wfgen/wfgen/examples/pipeline"
	"github.com/wfgen/wfgen/examples/pipeline/db"
	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wftest"
)

func TestMain(m *testing.M) { wftest.Main(m) }

// api serves the handler on schemas of its own with two clients' data; worker starts a
// worker on the same schemas.
type api struct {
	ctx    context.Context
	srv    *httptest.Server
	worker func()
}

func newAPI(t *testing.T) *api {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	appSchema, wfSchema := wftest.Schema(t), wftest.Schema(t)
	pool, err := pipeline.Connect(ctx, os.Getenv("DATABASE_URL"), appSchema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pipeline.Migrate(ctx, pool, appSchema); err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.Load(ctx, pool, pipeline.Generate(2), time.Now()); err != nil {
		t.Fatal(err)
	}
	c, err := wf.NewClient(pool, wf.Config{Schema: wfSchema, Logger: wftest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	dash, err := dashboard(c, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&server{wf: c, q: db.New(pool)}).routes(dash))
	t.Cleanup(srv.Close)
	return &api{ctx: ctx, srv: srv, worker: func() {
		w, err := wf.NewClient(pool, wf.Config{Schema: wfSchema, ExecutorID: "test-worker", PollInterval: 50 * time.Millisecond, Logger: wftest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := pipeline.Register(w, &pipeline.Steps{DB: pool, Executor: "test-worker"}); err != nil {
			t.Fatal(err)
		}
		wftest.Start(t, w)
	}}
}

// do sends a request and decodes the JSON answer into out, and returns the status code.
func (a *api) do(t *testing.T, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(a.ctx, method, a.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type %q, want JSON", method, path, ct)
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		t.Fatalf("%s %s: decoding the answer: %v", method, path, err)
	}
	return res.StatusCode
}

func TestErrorsAreJSONWithTheirStatus(t *testing.T) {
	a := newAPI(t)
	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		says                     string
	}{
		{"not JSON", "POST", "/pipeline/run/1", "{channels", http.StatusBadRequest, "body"},
		{"unknown field", "POST", "/pipeline/run/1", `{"chanels": ["email"]}`, http.StatusBadRequest, "unknown field"},
		{"bad date", "POST", "/pipeline/run/1", `{"baseline_date": "12/01/2026"}`, http.StatusBadRequest, "YYYY-MM-DD"},
		{"unknown channel", "POST", "/pipeline/run/1", `{"channels": ["sms"]}`, http.StatusBadRequest, `channel "sms"`},
		{"channel the client lacks", "POST", "/pipeline/run/1", `{"channels": ["landing_page"]}`, http.StatusBadRequest, "has no channel"},
		{"client ID not a number", "POST", "/pipeline/run/abc", `{}`, http.StatusBadRequest, "positive integer"},
		{"unknown client", "POST", "/pipeline/run/999", `{}`, http.StatusNotFound, "client 999 not found"},
		{"unknown run", "GET", "/pipeline/status/pipeline-1-nope", "", http.StatusNotFound, "no pipeline run"},
		{"unknown route", "GET", "/nope", "", http.StatusNotFound, "no route"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e ErrorResponse
			if code := a.do(t, tc.method, tc.path, tc.body, &e); code != tc.code || !strings.Contains(e.Error, tc.says) {
				t.Fatalf("%d %q, want %d and an error saying %q", code, e.Error, tc.code, tc.says)
			}
		})
	}
}

func TestRunReportsProgressAndResult(t *testing.T) {
	a := newAPI(t)
	var run RunResponse
	if code := a.do(t, "POST", "/pipeline/run/2", `{"channels": ["email", "landing_page"], "baseline_date": "2026-11-30"}`, &run); code != http.StatusAccepted {
		t.Fatalf("POST: %d, want 202", code)
	}
	var st RunStatus
	if code := a.do(t, "GET", run.StatusURL, "", &st); code != http.StatusOK || st.State != string(wf.StateEnqueued) || st.Result != nil {
		t.Fatalf("before any worker: %d %+v, want 200 and enqueued", code, st)
	}
	// A run whose ID was given without a body runs the client's channels.
	var run1 RunResponse
	if code := a.do(t, "POST", "/pipeline/run/1", "", &run1); code != http.StatusAccepted {
		t.Fatalf("POST without a body: %d, want 202", code)
	}
	a.worker()
	for st.State != string(wf.StateSucceeded) {
		if a.ctx.Err() != nil {
			t.Fatalf("the run did not succeed: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
		if code := a.do(t, "GET", run.StatusURL, "", &st); code != http.StatusOK {
			t.Fatalf("GET status: %d", code)
		}
		if st.Progress.Done > st.Progress.Total {
			t.Fatalf("progress %+v: more done than expected", st.Progress)
		}
	}
	if st.Result == nil || len(st.Result.Channels) != 2 || st.Progress.Percent != 100 || st.Progress.Done != st.Progress.Total || len(st.Progress.Channels) != 2 {
		t.Fatalf("succeeded run: %+v", st)
	}
	var list struct{ Runs []RunStatus }
	if code := a.do(t, "GET", "/pipeline/runs", "", &list); code != http.StatusOK || len(list.Runs) != 2 {
		t.Fatalf("GET /pipeline/runs: %d, %d runs, want 2", code, len(list.Runs))
	}
	res, err := http.Get(a.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s, want the HTML page", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

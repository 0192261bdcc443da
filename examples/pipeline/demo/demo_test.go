package demo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wfgen/wfgen/examples/pipeline"
	"github.com/wfgen/wfgen/examples/pipeline/demo"
	"github.com/wfgen/wfgen/internal/browsertest"
	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wftest"
)

func TestMain(m *testing.M) { wftest.Main(m) }

// TestDemo runs `make demo`'s flow: worker and API processes built from cmd/, pipelines
// submitted over HTTP, the monthly fan-out and a cleanup triggered by hand, a worker
// SIGKILLed midway; then it checks the summary and, while everything still runs, the API and
// the status page.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	inspected := false
	began := time.Now()
	sum, err := demo.Run(ctx, demo.Options{Inspect: func(ctx context.Context, apiURL string) error {
		inspected = true
		checkAPI(t, ctx, apiURL)
		checkStatusPage(t, apiURL)
		checkDashboard(t, ctx, apiURL)
		return nil
	}}, &out)
	t.Log("the demo printed:\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !inspected {
		t.Fatal("the demo did not call Inspect")
	}
	if p := sum.Problems(); len(p) > 0 {
		t.Fatalf("problems: %v", p)
	}

	// Every workflow succeeded: 6 client pipelines with 9 channel pipelines, the monthly
	// fan-out with 6 reports, a cleanup with its batches.
	count := map[string]int{}
	for _, w := range sum.Workflows {
		count[w.Workflow]++
		if w.State != wf.StateSucceeded {
			t.Errorf("%s (%s) ended %s", w.ID, w.Workflow, w.State)
		}
		if len(w.Workers) == 0 {
			t.Errorf("%s: no worker recorded", w.ID)
		}
	}
	want := map[string]int{
		pipeline.ClientPipelineName: 6, pipeline.EmailPipelineName: 6, pipeline.LandingPagePipelineName: 3,
	}
	for name, n := range want {
		if count[name] != n {
			t.Errorf("%d runs of %s, want %d", count[name], name, n)
		}
	}
	// The scheduled workflows ran once, triggered by hand, and once more for each tick of
	// their own that came due while the demo ran (the cleanup is hourly): runs are told
	// apart by the tick in their IDs.
	ended := time.Now()
	ownTicks := map[string]int{}
	for _, w := range sum.Workflows {
		_, at, _ := strings.Cut(w.ID, "@")
		if tick, err := time.Parse(time.RFC3339, at); err == nil && tick.After(began) && !tick.After(ended) {
			ownTicks[w.Workflow]++
		}
	}
	for _, name := range []string{pipeline.MonthlyReportsName, pipeline.StorageCleanupName} {
		if runs := count[name]; runs < 1 || runs > 1+ownTicks[name] {
			t.Errorf("%d runs of %s, %d of them for ticks while the demo ran: want 1 triggered by hand, plus those", runs, name, ownTicks[name])
		}
	}
	if count[pipeline.TenantReportName] != 6*count[pipeline.MonthlyReportsName] {
		t.Errorf("%d tenant reports for %d monthly runs, want 6 each", count[pipeline.TenantReportName], count[pipeline.MonthlyReportsName])
	}
	if count[pipeline.DeleteObjectsName] < 2 {
		t.Errorf("%d cleanup batches, want several", count[pipeline.DeleteObjectsName])
	}

	// A worker was killed while it ran workflows, and another finished some of them.
	if sum.Killed == "" || len(sum.KilledRunning) == 0 || len(sum.TakenOver) == 0 {
		t.Fatalf("killed %q while running %v, taken over %v: want a takeover", sum.Killed, sum.KilledRunning, sum.TakenOver)
	}
	for _, tk := range sum.TakenOver {
		if tk.From != sum.Killed || tk.To == sum.Killed || tk.To == "" {
			t.Errorf("takeover %+v", tk)
		}
	}
	if !strings.Contains(out.String(), "SIGKILL "+sum.Killed) {
		t.Errorf("the output does not say which worker was killed")
	}

	// The queues never ran more than their limits; the limited ones were used.
	if len(sum.Queues) != 3 {
		t.Fatalf("queues %+v, want channels, reports and cleanup", sum.Queues)
	}
	for _, q := range sum.Queues {
		if q.Observed > q.Limit || q.Observed == 0 {
			t.Errorf("queue %s: %d at once, limit %d", q.Name, q.Observed, q.Limit)
		}
	}

	// Every channel pipeline stored one result; reports and deletions as the data says.
	if len(sum.ResultsPerRun) != 9 {
		t.Errorf("%d channel pipelines with results, want 9", len(sum.ResultsPerRun))
	}
	for id, n := range sum.ResultsPerRun {
		if n != 1 {
			t.Errorf("%s stored %d results", id, n)
		}
	}
	if sum.Reports != sum.Tenants || sum.Tenants != 6 {
		t.Errorf("%d reports for %d tenants", sum.Reports, sum.Tenants)
	}
	if sum.WronglyDeleted != 0 || sum.Deleted != sum.Candidates || sum.Candidates == 0 {
		t.Errorf("deleted %d of %d candidates, %d non-candidates", sum.Deleted, sum.Candidates, sum.WronglyDeleted)
	}
}

// checkAPI checks, while the demo's processes run, that the API lists the runs as done and
// serves the status page.
func checkAPI(t *testing.T, ctx context.Context, apiURL string) {
	t.Helper()
	var list struct {
		Runs []struct {
			WorkflowID string `json:"workflow_id"`
			State      string `json:"state"`
			Progress   struct {
				Percent int `json:"percent"`
			} `json:"progress"`
			Result *pipeline.PipelineResult `json:"result"`
		} `json:"runs"`
	}
	get(t, ctx, apiURL+"/pipeline/runs", &list)
	if len(list.Runs) != 6 {
		t.Fatalf("GET /pipeline/runs: %d runs, want 6", len(list.Runs))
	}
	for _, r := range list.Runs {
		if r.State != string(wf.StateSucceeded) || r.Progress.Percent != 100 || r.Result == nil || len(r.Result.Channels) == 0 {
			t.Errorf("run %s: %s, %d%%, result %v", r.WorkflowID, r.State, r.Progress.Percent, r.Result)
		}
	}
	page := get(t, ctx, apiURL+"/", nil)
	if !strings.Contains(page, "Pipeline runs") {
		t.Errorf("GET /: not the status page:\n%s", page)
	}
}

// get fetches url and decodes its JSON into out unless out is nil; it returns the body.
func get(t *testing.T, ctx context.Context, url string, out any) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	return string(b)
}

// checkStatusPage opens the status page in a headless Chromium: it lists the demo's six
// runs as succeeded at 100%; a run started with its form appears and reaches succeeded
// without a reload, as the page refreshes itself.
func checkStatusPage(t *testing.T, apiURL string) {
	t.Helper()
	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(apiURL+"/"), chromedp.WaitVisible(chromedp.CSS(`tr[data-state="succeeded"]`))); err != nil {
		t.Fatalf("status page: %v", err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#runs tr")].map(r => r.dataset.state + " " + r.dataset.percent + " " + r.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 {
		t.Fatalf("the status page shows %d rows, want the 6 runs: %q", len(rows), rows)
	}
	for _, r := range rows {
		if !strings.HasPrefix(r, "succeeded 100 pipeline-") || !strings.Contains(r, "LTV $") {
			t.Errorf("row %q: want a succeeded run at 100%% with its lifetime value", r)
		}
	}

	// Start client 3's email pipeline with the form; the new row shows up and succeeds.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`input[name="client"]`), "3"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	); err != nil {
		t.Fatalf("starting a run from the page: %v", err)
	}
	msg, err := chromedp.Run(ctx, chromedp.Poll[string](`document.getElementById("message").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(msg, "Started pipeline-3-") {
		t.Fatalf("the form says %q, want the started run", msg)
	}
	id := strings.TrimPrefix(msg, "Started ")
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`tr[data-id="`+id+`"][data-state="succeeded"][data-percent="100"]`))); err != nil {
		t.Fatalf("the run %s started from the page did not show as succeeded: %v", id, err)
	}
}

// checkDashboard reads the dashboard the API mounts: open to read, closed to writes without
// the token.
func checkDashboard(t *testing.T, ctx context.Context, apiURL string) {
	t.Helper()
	page := func(path string) string {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, apiURL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s\n%s", path, resp.Status, body)
		}
		return string(body)
	}
	if queues := page("/wfgen/"); !strings.Contains(queues, "reports") || !strings.Contains(queues, "cleanup") {
		t.Errorf("the dashboard's Queues page lists no reports or cleanup queue:\n%s", queues)
	}
	if scheds := page("/wfgen/schedules"); !strings.Contains(scheds, pipeline.MonthlyReportsName) {
		t.Errorf("the dashboard's Schedules page does not list %s:\n%s", pipeline.MonthlyReportsName, scheds)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, apiURL+"/wfgen/workflow/cancel", strings.NewReader("id=nothing"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a cancel through the dashboard without its token answered %s, want 401", resp.Status)
	}
}

// Package demo runs the pipeline example end to end, as `make demo` shows it and as its
// end-to-end test checks it: a PostgreSQL (a throwaway one unless DATABASE_URL is set), the
// application's schema and data, three worker processes and the API server built from
// cmd/worker and cmd/api, pipelines submitted over HTTP with their progress printed, the
// monthly reports fan-out and a storage cleanup triggered by hand, one worker SIGKILLed in
// the middle and another taking its work over, and a summary of what ran where.
package demo

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wfgen/wfgen/examples/pipeline"
	"github.com/wfgen/wfgen/examples/pipeline/db"
	"github.com/wfgen/wfgen/internal/embedpg"
	"github.com/wfgen/wfgen/runtime/wf"
)

// Options configures a run of the demo. The zero value is `make demo`'s.
type Options struct {
	// DatabaseURL is the PostgreSQL server to use. Default $DATABASE_URL; when both are
	// empty, the demo starts a throwaway cluster from the PostgreSQL binaries on the machine.
	DatabaseURL string
	// Workers is how many worker processes to start. Default 3.
	Workers int
	// Clients is how many clients the data has, and how many pipelines are submitted.
	// Default 6.
	Clients int
	// Pace is how long each analytics step takes at least, so that progress is visible and a
	// worker dies in the middle of its work. Default 250ms.
	Pace time.Duration
	// Lease is the workers' lease: how long after a worker dies the others take its
	// workflows over. Default 2s.
	Lease time.Duration
	// Addr is the API server's address. Default localhost:8080 with Keep, else a free port.
	Addr string
	// Keep keeps the API server and the surviving workers running after the summary, until
	// ctx ends (Ctrl-C), to open the status page and the dashboard in a browser.
	Keep bool
	// Inspect, when set, is called after the summary with the API server's base URL, while
	// everything still runs (the end-to-end test checks the status page in a browser).
	Inspect func(ctx context.Context, apiURL string) error
}

func (o *Options) defaults() {
	if o.DatabaseURL == "" {
		o.DatabaseURL = os.Getenv("DATABASE_URL")
	}
	o.Workers = cmp.Or(o.Workers, 3)
	o.Clients = cmp.Or(o.Clients, 6)
	o.Pace = cmp.Or(o.Pace, 250*time.Millisecond)
	o.Lease = cmp.Or(o.Lease, 2*time.Second)
	if o.Addr == "" {
		o.Addr = "localhost:0"
		if o.Keep {
			o.Addr = "localhost:8080"
		}
	}
}

// Summary is what a run of the demo observed.
type Summary struct {
	// Workflows lists every workflow that ran, parents before their children.
	Workflows []WorkflowSummary
	// Queues lists the limited queues with the most workflows seen running at once.
	Queues []QueueSummary
	// Killed is the worker that was SIGKILLed, and KilledRunning the workflows it was
	// running then.
	Killed        string
	KilledRunning []string
	// TakenOver lists the workflows of KilledRunning that another worker finished.
	TakenOver []Takeover
	// ResultsPerRun counts the rows each channel pipeline stored in the results table.
	ResultsPerRun map[string]int
	// Tenants and Reports count the tenants and the monthly reports stored.
	Tenants, Reports int
	// Candidates counts the objects a cleanup may delete, Deleted those deleted, and
	// WronglyDeleted the deleted objects that were no candidates.
	Candidates, Deleted, WronglyDeleted int
	// APIURL is the API server's base URL.
	APIURL string
	// Elapsed is how long the demo ran, from the database start to the summary.
	Elapsed time.Duration
}

// WorkflowSummary is one workflow of the run.
type WorkflowSummary struct {
	ID, Workflow, Queue string
	State               wf.State
	Workers             []string // in the order they ran it
	Duration            time.Duration
	Parent              string
}

// QueueSummary compares the most workflows of a queue seen running at once with its limit.
type QueueSummary struct {
	Name     string
	Limit    int
	Observed int
	Rule     string // what the limit is
}

// Takeover is a workflow that the killed worker was running and another worker finished.
type Takeover struct {
	ID, From, To string
	// DoneBefore lists the steps the killed worker completed, and ResumedAt the step the
	// new owner started with (empty for a workflow whose steps the activity log does not
	// record: a parent that only starts and awaits children).
	DoneBefore []string
	ResumedAt  string
}

// Problems lists what went wrong in the run: a workflow that did not succeed, no takeover,
// a queue over its limit, a result stored other than once, a cleanup that deleted a
// non-candidate or missed one. It is empty for a good run.
func (s *Summary) Problems() []string {
	var out []string
	for _, w := range s.Workflows {
		if w.State != wf.StateSucceeded {
			out = append(out, fmt.Sprintf("workflow %s (%s) ended %s", w.ID, w.Workflow, w.State))
		}
	}
	if s.Killed != "" && len(s.TakenOver) == 0 {
		out = append(out, fmt.Sprintf("no other worker took over a workflow of the killed %s", s.Killed))
	}
	for _, q := range s.Queues {
		if q.Observed > q.Limit {
			out = append(out, fmt.Sprintf("queue %s ran %d workflows at once, over its limit of %d", q.Name, q.Observed, q.Limit))
		}
	}
	for id, n := range s.ResultsPerRun {
		if n != 1 {
			out = append(out, fmt.Sprintf("channel pipeline %s stored %d results, want 1", id, n))
		}
	}
	if s.Reports != s.Tenants {
		out = append(out, fmt.Sprintf("%d monthly reports stored for %d tenants", s.Reports, s.Tenants))
	}
	if s.WronglyDeleted > 0 || s.Deleted != s.Candidates {
		out = append(out, fmt.Sprintf("cleanup deleted %d of %d candidates and %d non-candidates", s.Deleted-s.WronglyDeleted, s.Candidates, s.WronglyDeleted))
	}
	return out
}

// Run runs the demo, printing what happens to out, and returns its summary. The error says
// what went wrong: a step of the demo that failed, or the Problems of the summary. Run
// stops what it started and removes what it created before it returns.
func Run(ctx context.Context, opts Options, out io.Writer) (*Summary, error) {
	opts.defaults()
	begin := time.Now()
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	var cleanups []func()
	defer func() {
		for _, f := range slices.Backward(cleanups) {
			f()
		}
	}()

	// The database: a throwaway cluster, or schemas of our own on the given server.
	appSchema, wfSchema := "pipeline", "wfgen"
	if opts.DatabaseURL == "" {
		say("database: DATABASE_URL is not set; starting a throwaway PostgreSQL")
		srv, err := embedpg.Start(ctx, embedpg.Options{})
		if err != nil {
			return nil, err
		}
		cleanups = append(cleanups, func() { _ = srv.Stop() })
		opts.DatabaseURL = srv.URL
		say("database: PostgreSQL on port %d", srv.Port())
	} else {
		var b [4]byte
		_, _ = rand.Read(b[:])
		suffix := hex.EncodeToString(b[:])
		appSchema, wfSchema = "pipeline_demo_"+suffix, "wfgen_demo_"+suffix
		say("database: DATABASE_URL, in schemas %s and %s (dropped at the end)", appSchema, wfSchema)
	}
	pool, err := pipeline.Connect(ctx, opts.DatabaseURL, appSchema)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, pool.Close)
	if appSchema != "pipeline" {
		cleanups = append(cleanups, func() {
			c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_, _ = pool.Exec(c, "DROP SCHEMA IF EXISTS "+appSchema+" CASCADE")
			_, _ = pool.Exec(c, "DROP SCHEMA IF EXISTS "+wfSchema+" CASCADE")
		})
	}
	if err := pipeline.Migrate(ctx, pool, appSchema); err != nil {
		return nil, err
	}
	data := pipeline.Generate(opts.Clients)
	if _, err := pipeline.Load(ctx, pool, data, time.Now()); err != nil {
		return nil, err
	}
	say("data: %d clients, %d events, %d objects in the store (schema %s)", len(data.Clients), len(data.Events), len(data.Objects), appSchema)
	// The demo's own client enqueues the scheduled runs by hand and reads the runtime's
	// tables for the summary; it runs nothing.
	c, err := wf.NewClient(pool, wf.Config{Schema: wfSchema, Logger: quietLogger()})
	if err != nil {
		return nil, err
	}
	if _, err := c.Migrate(ctx); err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp("", "wfgen-demo-")
	if err != nil {
		return nil, err
	}
	keepLogs := false // on failure, the processes' logs stay for a look
	cleanups = append(cleanups, func() {
		if !keepLogs {
			_ = os.RemoveAll(dir)
		}
	})
	t := time.Now()
	if err := build(ctx, dir); err != nil {
		return nil, err
	}
	say("build: cmd/worker and cmd/api in %s", time.Since(t).Round(100*time.Millisecond))

	common := []string{"-db", opts.DatabaseURL, "-schema", appSchema, "-wf-schema", wfSchema}
	workers := map[string]*proc{}
	var names []string
	for i := 1; i <= opts.Workers; i++ {
		name := fmt.Sprintf("worker-%d", i)
		p, _, err := start(ctx, dir, name, dir+"/worker", "worker "+name+": running",
			append(slices.Clone(common), "-id", name, "-lease", opts.Lease.String(), "-pace", opts.Pace.String())...)
		if err != nil {
			return nil, err
		}
		workers[name] = p
		names = append(names, name)
		cleanups = append(cleanups, func() { _ = p.stop(15 * time.Second) })
		say("%s: started, pid %d, lease %s", name, p.cmd.Process.Pid, opts.Lease)
	}
	// The dashboard's pages are open to read; its cancel, resume and fork need this token.
	dashToken := rand.Text()
	api, line, err := start(ctx, dir, "api", dir+"/api", "api: listening on ", append(slices.Clone(common), "-addr", opts.Addr, "-dashboard-token", dashToken)...)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { _ = api.stop(10 * time.Second) })
	apiURL := strings.TrimPrefix(line, "api: listening on ")
	say("api: %s, pid %d", apiURL, api.cmd.Process.Pid)

	// Pipelines, through HTTP.
	var runs []string
	for _, cl := range data.Clients {
		id, err := submit(ctx, apiURL, cl.ID)
		if err != nil {
			return nil, err
		}
		runs = append(runs, id)
		say("POST /pipeline/run/%d  {\"channels\": %q}  -> %s", cl.ID, cl.Channels, id)
	}
	// The monthly fan-out, by hand, under the tick's ID: triggered twice, it runs once.
	tick := time.Date(pipeline.DataEnd.Year(), pipeline.DataEnd.Month(), 1, 6, 0, 0, 0, time.UTC)
	monthly, err := pipeline.TriggerMonthlyReports(ctx, c, tick)
	if err != nil {
		return nil, err
	}
	again, err := pipeline.TriggerMonthlyReports(ctx, c, tick)
	if err != nil {
		return nil, err
	}
	say("MonthlyReports triggered by hand for the tick %s: %s (triggered again: %s, the same run)", tick.Format(time.RFC3339), monthly.ID(), again.ID())
	cleanup, err := pipeline.TriggerStorageCleanup(ctx, c, time.Now().Truncate(time.Hour))
	if err != nil {
		return nil, err
	}
	say("StorageCleanup triggered by hand: %s", cleanup.ID())

	// Progress, and a worker killed midway.
	sum := &Summary{APIURL: apiURL, ResultsPerRun: map[string]int{}}
	start := time.Now()
	last := ""
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		states, line, err := progress(ctx, c, apiURL, runs, monthly.ID(), cleanup.ID())
		if err != nil {
			return nil, err
		}
		if line != last {
			say("%5.1fs  %s", time.Since(start).Seconds(), line)
			last = line
		}
		if sum.Killed == "" && states.percent >= 25 {
			victim, running, err := pickVictim(ctx, c, names)
			if err != nil {
				return nil, err
			}
			if victim != "" {
				workers[victim].kill()
				sum.Killed, sum.KilledRunning = victim, running
				say("%5.1fs  SIGKILL %s (pid %d) while it runs %d workflows: %s", time.Since(start).Seconds(), victim, workers[victim].cmd.Process.Pid, len(running), strings.Join(running, ", "))
				say("        its lease expires in %s; then another worker takes them over from their last completed step", opts.Lease)
			}
		}
		if states.allFinal {
			if sum.Killed == "" {
				keepLogs = true
				return nil, fmt.Errorf("every workflow finished before a worker could be killed in the middle of one: raise -pace (logs in %s)", dir)
			}
			break
		}
		if time.Since(start) > 90*time.Second {
			keepLogs = true
			return nil, fmt.Errorf("the workflows did not finish within 90s: %s (logs in %s)", line, dir)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err := summarize(ctx, c, pool, data, sum); err != nil {
		return nil, err
	}
	sum.Elapsed = time.Since(begin)
	printSummary(out, sum)
	problems := sum.Problems()
	if len(problems) > 0 {
		keepLogs = true
		return sum, fmt.Errorf("the demo went wrong (logs in %s):\n  %s", dir, strings.Join(problems, "\n  "))
	}
	say("\nEverything succeeded in %s.", sum.Elapsed.Round(100*time.Millisecond))
	if opts.Inspect != nil {
		if err := opts.Inspect(ctx, apiURL); err != nil {
			return sum, err
		}
	}
	if opts.Keep {
		say("\nStill running (Ctrl-C stops everything):\n  status page  %s/\n  dashboard    %s/wfgen/  (token for cancel, resume and fork: %s)\n  API          curl -X POST %s/pipeline/run/1 -d '{\"channels\": [\"email\"]}'", apiURL, apiURL, dashToken, apiURL)
		<-ctx.Done()
		say("\nstopping")
	}
	// SIGTERM: the API server shuts down, the workers drain; each must exit cleanly.
	var stopped []string
	var stopErrs []error
	for _, p := range append([]*proc{api}, mapValues(workers, names)...) {
		if p.name == sum.Killed {
			continue
		}
		if err := p.stop(15 * time.Second); err != nil {
			stopErrs = append(stopErrs, err)
			continue
		}
		stopped = append(stopped, p.name)
	}
	if err := errors.Join(stopErrs...); err != nil {
		keepLogs = true
		return sum, fmt.Errorf("stopping the processes with SIGTERM: %w", err)
	}
	say("SIGTERM: %s stopped cleanly", strings.Join(stopped, ", "))
	return sum, nil
}

// mapValues returns m's values in the order of keys.
func mapValues[V any](m map[string]V, keys []string) []V {
	out := make([]V, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

// submit posts a client's pipeline to the API and returns its workflow ID.
func submit(ctx context.Context, apiURL string, client int64) (string, error) {
	body := fmt.Sprintf(`{"baseline_date": %q}`, pipeline.DataEnd.Format(pipeline.DateLayout))
	req, err := http.NewRequestWithContext(ctx, "POST", fmt.Sprintf("%s/pipeline/run/%d", apiURL, client), strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	var run struct {
		WorkflowID string `json:"workflow_id"`
		Error      string `json:"error"`
	}
	if code, err := doJSON(req, &run); err != nil {
		return "", err
	} else if code != http.StatusAccepted {
		return "", fmt.Errorf("POST /pipeline/run/%d: %d %s", client, code, run.Error)
	}
	return run.WorkflowID, nil
}

func doJSON(req *http.Request, out any) (int, error) {
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return res.StatusCode, fmt.Errorf("%s %s: %d, not JSON: %s", req.Method, req.URL.Path, res.StatusCode, bytes.TrimSpace(b))
	}
	return res.StatusCode, nil
}

type runStates struct {
	percent  int // of the pipelines' steps
	allFinal bool
}

// progress reads the pipelines' progress from the API and counts the fan-outs' finished
// children, and returns a line that says it.
func progress(ctx context.Context, c *wf.Client, apiURL string, runs []string, monthly, cleanup string) (runStates, string, error) {
	st := runStates{allFinal: true}
	var parts []string
	done, total := 0, 0
	for _, id := range runs {
		req, err := http.NewRequestWithContext(ctx, "GET", apiURL+"/pipeline/status/"+id, nil)
		if err != nil {
			return st, "", err
		}
		var rs struct {
			State    string `json:"state"`
			Error    string `json:"error"`
			Progress struct {
				Done, Total, Percent int
			} `json:"progress"`
		}
		if code, err := doJSON(req, &rs); err != nil {
			return st, "", err
		} else if code != http.StatusOK {
			return st, "", fmt.Errorf("GET /pipeline/status/%s: %d %s", id, code, rs.Error)
		}
		done += rs.Progress.Done
		total += rs.Progress.Total
		if !wf.State(rs.State).Final() {
			st.allFinal = false
		}
		client := strings.Split(id, "-")[1]
		parts = append(parts, fmt.Sprintf("c%s %3d%%", client, rs.Progress.Percent))
	}
	if total > 0 {
		st.percent = 100 * done / total
	}
	line := strings.Join(parts, "  ")
	for _, fan := range []struct{ name, id string }{{"reports", monthly}, {"cleanup", cleanup}} {
		parent, err := c.Status(ctx, fan.id)
		if err != nil {
			return st, "", err
		}
		children, err := c.ListWorkflows(ctx, wf.ListOptions{ParentID: fan.id})
		if err != nil {
			return st, "", err
		}
		finished := 0
		for _, ch := range children {
			if ch.State.Final() {
				finished++
			}
		}
		if !parent.State.Final() {
			st.allFinal = false
		}
		line += fmt.Sprintf("  | %s %d/%d", fan.name, finished, len(children))
	}
	if st.allFinal {
		// A schedule's own tick may have come due meanwhile (the cleanup is hourly), and
		// the summary lists every workflow: wait for those the demo did not start too.
		all, err := c.ListWorkflows(ctx, wf.ListOptions{Limit: 10000})
		if err != nil {
			return st, "", err
		}
		for _, w := range all {
			if !w.State.Final() {
				st.allFinal = false
				break
			}
		}
	}
	return st, line, nil
}

// pickVictim returns the worker that runs the most channel pipelines and reports, with the
// workflows it runs; "" when none runs any.
func pickVictim(ctx context.Context, c *wf.Client, names []string) (string, []string, error) {
	running, err := c.ListWorkflows(ctx, wf.ListOptions{State: wf.StateRunning, Limit: 1000})
	if err != nil {
		return "", nil, err
	}
	by := map[string][]string{}
	for _, r := range running {
		by[r.ExecutorID] = append(by[r.ExecutorID], r.ID)
	}
	victim := ""
	for _, n := range names {
		if len(by[n]) > len(by[victim]) {
			victim = n
		}
	}
	if victim == "" {
		return "", nil, nil
	}
	ids := by[victim]
	slices.Sort(ids)
	return victim, ids, nil
}

// summarize reads what ran where from the runtime's tables and the activity log, and checks
// the application's tables.
func summarize(ctx context.Context, c *wf.Client, pool *pgxpool.Pool, data pipeline.Dataset, sum *Summary) error {
	all, err := c.ListWorkflows(ctx, wf.ListOptions{Limit: 10000})
	if err != nil {
		return err
	}
	q := db.New(pool)
	activity, err := q.ListActivity(ctx)
	if err != nil {
		return err
	}
	workers := map[string][]string{}
	for _, a := range activity {
		if !slices.Contains(workers[a.WorkflowID], a.Executor) {
			workers[a.WorkflowID] = append(workers[a.WorkflowID], a.Executor)
		}
	}
	byID := map[string]wf.Status{}
	for _, st := range all {
		byID[st.ID] = st
		ws := workers[st.ID]
		if st.ExecutorID != "" && !slices.Contains(ws, st.ExecutorID) {
			ws = append(ws, st.ExecutorID)
		}
		var d time.Duration
		if !st.StartedAt.IsZero() && !st.CompletedAt.IsZero() {
			d = st.CompletedAt.Sub(st.StartedAt)
		}
		sum.Workflows = append(sum.Workflows, WorkflowSummary{ID: st.ID, Workflow: st.Workflow, Queue: st.Queue, State: st.State, Workers: ws, Duration: d, Parent: st.ParentID})
		if st.Workflow == pipeline.EmailPipelineName || st.Workflow == pipeline.LandingPagePipelineName {
			sum.ResultsPerRun[st.ID] = 0
		}
	}
	// Parents first, each followed by its children, in ID order.
	slices.SortFunc(sum.Workflows, func(a, b WorkflowSummary) int {
		return cmp.Compare(cmp.Or(a.Parent, a.ID)+"\x00"+a.ID, cmp.Or(b.Parent, b.ID)+"\x00"+b.ID)
	})
	for _, id := range sum.KilledRunning {
		st := byID[id]
		if st.ExecutorID == "" || st.ExecutorID == sum.Killed || !st.State.Final() {
			continue
		}
		tk := Takeover{ID: id, From: sum.Killed, To: st.ExecutorID}
		for _, a := range activity {
			if a.WorkflowID != id {
				continue
			}
			step := strings.TrimPrefix(a.Step, "pipeline.")
			if a.Executor == sum.Killed && a.EndedAt != nil {
				tk.DoneBefore = append(tk.DoneBefore, step)
			} else if a.Executor == st.ExecutorID && tk.ResumedAt == "" {
				tk.ResumedAt = step
			}
		}
		sum.TakenOver = append(sum.TakenOver, tk)
	}
	sum.Queues = concurrency(activity)

	results, err := q.ListResults(ctx)
	if err != nil {
		return err
	}
	for _, r := range results {
		sum.ResultsPerRun[r.WorkflowID]++
	}
	sum.Tenants = len(data.Clients)
	reports, err := q.ListReports(ctx)
	if err != nil {
		return err
	}
	sum.Reports = len(reports)
	candidates := map[string]bool{}
	for _, o := range data.Objects {
		if o.Candidate() {
			candidates[o.Key] = true
		}
	}
	sum.Candidates = len(candidates)
	deleted, err := q.ListDeletions(ctx)
	if err != nil {
		return err
	}
	for _, d := range deleted {
		sum.Deleted++
		if !candidates[d.Key] {
			sum.WronglyDeleted++
		}
	}
	// The store itself: every non-candidate is still there.
	left, err := q.ListObjects(ctx)
	if err != nil {
		return err
	}
	kept := map[string]bool{}
	for _, o := range left {
		kept[o.Key] = true
	}
	for _, o := range data.Objects {
		if !o.Candidate() && !kept[o.Key] {
			sum.WronglyDeleted++
		}
	}
	return nil
}

// queueLimits are the limited queues whose concurrency the summary measures.
var queueLimits = []QueueSummary{
	{Name: pipeline.ChannelRuns.Name(), Limit: pipeline.ChannelsConcurrency, Rule: "global concurrency"},
	{Name: pipeline.Reports.Name(), Limit: pipeline.ReportsConcurrency, Rule: "global concurrency"},
	{Name: pipeline.Cleanup.Name(), Limit: pipeline.CleanupConcurrency, Rule: fmt.Sprintf("global concurrency, and %d starts per %s", pipeline.CleanupRate, pipeline.CleanupRatePeriod)},
}

// concurrency measures, per limited queue, the most workflows running at once: a workflow
// runs on a worker at least from the start of its first step there to the end of its last
// one (these workflows never wait between steps), so overlapping spans are workflows that
// ran at the same time. Steps cut short by the SIGKILL never ended and are left out.
func concurrency(activity []db.ListActivityRow) []QueueSummary {
	type key struct{ workflow, executor string }
	type span struct {
		queue      string
		start, end time.Time
	}
	spans := map[key]*span{}
	for _, a := range activity {
		if a.EndedAt == nil {
			continue
		}
		k := key{a.WorkflowID, a.Executor}
		s, ok := spans[k]
		if !ok {
			spans[k] = &span{queue: a.Queue, start: a.StartedAt, end: *a.EndedAt}
			continue
		}
		if a.StartedAt.Before(s.start) {
			s.start = a.StartedAt
		}
		if a.EndedAt.After(s.end) {
			s.end = *a.EndedAt
		}
	}
	out := slices.Clone(queueLimits)
	for i := range out {
		type edge struct {
			at    time.Time
			delta int
		}
		var edges []edge
		for _, s := range spans {
			if s.queue == out[i].Name {
				edges = append(edges, edge{s.start, 1}, edge{s.end, -1})
			}
		}
		// Ends before starts at the same instant: touching spans do not overlap.
		slices.SortFunc(edges, func(a, b edge) int {
			return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.delta, b.delta))
		})
		n := 0
		for _, e := range edges {
			n += e.delta
			out[i].Observed = max(out[i].Observed, n)
		}
	}
	return out
}

// printSummary prints the summary's tables.
func printSummary(out io.Writer, s *Summary) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\nWorkflows\n  ID\tworkflow\tstate\tworkers\tduration\n")
	for _, w := range s.Workflows {
		id := w.ID
		if w.Parent != "" {
			id = "  " + id
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", id, strings.TrimPrefix(w.Workflow, "pipeline."), w.State, strings.Join(w.Workers, " > "), w.Duration.Round(10*time.Millisecond))
	}
	tw.Flush()
	if s.Killed != "" {
		fmt.Fprintf(out, "\nTakeover: %s was SIGKILLed while running %d workflows; the others finished them\n", s.Killed, len(s.KilledRunning))
		for _, t := range s.TakenOver {
			how := ""
			if t.ResumedAt != "" {
				done := "no step"
				if len(t.DoneBefore) > 0 {
					done = strings.Join(t.DoneBefore, ", ")
				}
				how = fmt.Sprintf("\t%s had completed %s; %s resumed at %s", t.From, done, t.To, t.ResumedAt)
			}
			fmt.Fprintf(tw, "  %s\t%s > %s%s\n", t.ID, t.From, t.To, how)
		}
		tw.Flush()
	}
	fmt.Fprintf(out, "\nQueues (most workflows seen running at once, against the limit)\n")
	for _, q := range s.Queues {
		verdict := "ok"
		if q.Observed > q.Limit {
			verdict = "OVER THE LIMIT"
		}
		fmt.Fprintf(tw, "  %s\t%d of %d\t%s\t%s\n", q.Name, q.Observed, q.Limit, q.Rule, verdict)
	}
	tw.Flush()
	once := 0
	for _, n := range s.ResultsPerRun {
		if n == 1 {
			once++
		}
	}
	fmt.Fprintf(out, "\nData\n  results: %d of %d channel pipelines stored exactly one result\n", once, len(s.ResultsPerRun))
	fmt.Fprintf(out, "  reports: %d for %d tenants\n", s.Reports, s.Tenants)
	fmt.Fprintf(out, "  cleanup: deleted %d of %d candidates, %d non-candidates\n", s.Deleted-s.WronglyDeleted, s.Candidates, s.WronglyDeleted)
}

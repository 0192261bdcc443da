package wfdash

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wfgen/wfgen/runtime/wf"
)

// view is what every page's template gets: the page's own data in Data, and what the
// layout needs.
type view struct {
	Prefix        string
	Title         string
	Nav           string // the navigation entry to highlight
	Authenticated bool
	CanSignIn     bool // a Token is set, so the sign-in form works
	RefreshMS     int64
	Next          string // the sign-in form's destination
	Problem       string // an error to show
	Notice        string // the outcome of an action
	Now           time.Time
	Data          any

	wrongToken bool
}

func (d *dashboard) newView(r *http.Request) *view {
	auth, wrong := d.credentials(r)
	v := &view{
		Prefix: d.opts.Prefix, Authenticated: auth, wrongToken: wrong, CanSignIn: d.opts.Token != "",
		Now: time.Now().UTC(),
	}
	if d.opts.Refresh > 0 {
		v.RefreshMS = d.opts.Refresh.Milliseconds()
	}
	return v
}

// parsePages parses each page's template with the layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(assets, "assets/pages/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		page := strings.TrimSuffix(path.Base(name), ".html")
		t, err := template.New(page).Funcs(funcs).ParseFS(assets, "assets/layout.html", name)
		if err != nil {
			return nil, fmt.Errorf("wfdash: parsing page %s: %w", page, err)
		}
		pages[page] = t
	}
	return pages, nil
}

// render writes page with v, or a plain 500 when the template fails (a bug).
func (d *dashboard) render(w http.ResponseWriter, status int, page string, v *view) {
	if v.Title == "" {
		v.Title = strings.ToUpper(page[:1]) + page[1:]
	}
	var buf bytes.Buffer
	if err := d.pages[page].ExecuteTemplate(&buf, "layout", v); err != nil {
		http.Error(w, "wfdash: rendering "+page+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// fail shows an error page.
func (d *dashboard) fail(w http.ResponseWriter, r *http.Request, status int, problem string) {
	v := d.newView(r)
	v.Title = http.StatusText(status)
	v.Problem = problem
	d.render(w, status, "error", v)
}

// failDB shows an error page for a failed read or write.
func (d *dashboard) failDB(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	if errors.Is(err, wf.ErrNotFound) {
		status = http.StatusNotFound
	}
	d.fail(w, r, status, err.Error())
}

// queueRow is one line of the Queues page.
type queueRow struct {
	Queue string
	wf.QueueDepth
	wf.QueueThroughput
}

func (d *dashboard) queuesPage(w http.ResponseWriter, r *http.Request, v *view) {
	depths, err := d.c.QueueDepths(r.Context())
	if err != nil {
		d.failDB(w, r, err)
		return
	}
	tps, err := d.c.QueueThroughputs(r.Context())
	if err != nil {
		d.failDB(w, r, err)
		return
	}
	byName := map[string]*queueRow{}
	var rows []*queueRow
	row := func(q string) *queueRow {
		if byName[q] == nil {
			byName[q] = &queueRow{Queue: q}
			rows = append(rows, byName[q])
		}
		return byName[q]
	}
	for _, dp := range depths {
		row(dp.Queue).QueueDepth = dp
	}
	for _, tp := range tps {
		row(tp.Queue).QueueThroughput = tp
	}
	slices.SortFunc(rows, func(a, b *queueRow) int { return strings.Compare(a.Queue, b.Queue) })
	v.Nav, v.Data = "queues", rows
	d.render(w, http.StatusOK, "queues", v)
}

// allStates are the workflow states, in the order the filters list them.
var allStates = []wf.State{wf.StateEnqueued, wf.StateRunning, wf.StateSucceeded, wf.StateFailed, wf.StateCancelled, wf.StateDead}

// workflowsData is the Workflows page's data.
type workflowsData struct {
	States                        map[wf.State]bool // the states filtered on
	AllStates                     []wf.State
	Name, Queue, IDPrefix, Parent string
	Executor                      string
	Page                          int // from 1
	Rows                          []wf.Status
	PrevURL, NextURL              string
}

func (d *dashboard) workflowsPage(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	data := workflowsData{
		States: map[wf.State]bool{}, AllStates: allStates,
		Name: q.Get("name"), Queue: q.Get("queue"), IDPrefix: q.Get("id"), Parent: q.Get("parent"),
		Executor: q.Get("executor"), Page: 1,
	}
	opts := wf.ListOptions{
		Workflow: data.Name, Queue: data.Queue, IDPrefix: data.IDPrefix, ParentID: data.Parent,
		ExecutorID: data.Executor, Limit: PageSize + 1,
	}
	for _, s := range q["state"] {
		if slices.Contains(allStates, wf.State(s)) {
			data.States[wf.State(s)] = true
			opts.States = append(opts.States, wf.State(s))
		}
	}
	if p, err := strconv.Atoi(q.Get("page")); err == nil && p > 1 {
		data.Page = p
	}
	opts.Offset = (data.Page - 1) * PageSize
	rows, err := d.c.ListWorkflows(r.Context(), opts)
	if err != nil {
		d.failDB(w, r, err)
		return
	}
	pageURL := func(page int) string {
		pq := url.Values{}
		for k, vs := range q {
			if k != "page" {
				pq[k] = vs
			}
		}
		if page > 1 {
			pq.Set("page", strconv.Itoa(page))
		}
		return d.opts.Prefix + "/workflows?" + pq.Encode()
	}
	if len(rows) > PageSize {
		rows = rows[:PageSize]
		data.NextURL = pageURL(data.Page + 1)
	}
	if data.Page > 1 {
		data.PrevURL = pageURL(data.Page - 1)
	}
	data.Rows = rows
	v.Nav, v.Data = "workflows", data
	d.render(w, http.StatusOK, "workflows", v)
}

// workflowData is the Workflow page's data.
type workflowData struct {
	Status    wf.Status
	Input     string // indented JSON
	Output    string
	Steps     []stepRow
	Activity  wf.WorkflowActivity
	Children  []wf.Status
	CanCancel bool
	CanResume bool
	// LastStep is the highest step a fork may start from: the step after the last
	// recorded one.
	LastStep int
}

// stepRow is one step of the timeline; X and W place its bar, in percent of the span from
// the first step's start to the last step's end.
type stepRow struct {
	wf.StepStatus
	Duration time.Duration
	X, W     float64
}

func (d *dashboard) workflowPage(w http.ResponseWriter, r *http.Request, v *view) {
	d.showWorkflow(w, r, v, r.URL.Query().Get("id"), http.StatusOK)
}

// showWorkflow renders the Workflow page of id with status (an action's error shows with
// its own status).
func (d *dashboard) showWorkflow(w http.ResponseWriter, r *http.Request, v *view, id string, status int) {
	ctx := r.Context()
	if id == "" {
		d.fail(w, r, http.StatusBadRequest, "Give the workflow's ID: workflow?id=<ID>.")
		return
	}
	st, err := d.c.Status(ctx, id)
	if err != nil {
		d.failDB(w, r, err)
		return
	}
	data := workflowData{Status: st, CanCancel: !st.State.Final()}
	data.CanResume = st.State == wf.StateCancelled || st.State == wf.StateFailed || st.State == wf.StateDead
	if err := d.loadWorkflow(ctx, &data); err != nil {
		d.failDB(w, r, err)
		return
	}
	switch q := r.URL.Query(); q.Get("done") {
	case "cancel":
		v.Notice = "Cancelled."
	case "resume":
		v.Notice = "Resumed: the workflow is back in its queue and continues after its last completed step."
	case "fork":
		v.Notice = fmt.Sprintf("Forked from workflow %s at step %s.", q.Get("from"), q.Get("step"))
	}
	v.Title, v.Nav, v.Data = "Workflow "+id, "workflows", data
	d.render(w, status, "workflow", v)
}

// loadWorkflow reads what the Workflow page shows besides the status.
func (d *dashboard) loadWorkflow(ctx context.Context, data *workflowData) error {
	id := data.Status.ID
	payload, err := d.c.WorkflowPayload(ctx, id)
	if err != nil {
		return err
	}
	data.Input, data.Output = indentJSON(payload.Input), indentJSON(payload.Output)
	steps, err := d.c.Steps(ctx, id)
	if err != nil {
		return err
	}
	data.Steps = timeline(steps)
	data.LastStep = 1
	if n := len(steps); n > 0 {
		data.LastStep = steps[n-1].ID + 1
	}
	if data.Activity, err = d.c.WorkflowActivity(ctx, id); err != nil {
		return err
	}
	data.Children, err = d.c.ListWorkflows(ctx, wf.ListOptions{ParentID: id, Limit: 200})
	return err
}

// timeline places each step on the span from the first step's start to the last end.
func timeline(steps []wf.StepStatus) []stepRow {
	rows := make([]stepRow, len(steps))
	if len(steps) == 0 {
		return rows
	}
	start, end := steps[0].StartedAt, steps[0].CompletedAt
	for _, s := range steps {
		if s.StartedAt.Before(start) {
			start = s.StartedAt
		}
		if s.CompletedAt.After(end) {
			end = s.CompletedAt
		}
	}
	span := float64(end.Sub(start))
	for i, s := range steps {
		rows[i] = stepRow{StepStatus: s, Duration: s.CompletedAt.Sub(s.StartedAt)}
		if span > 0 {
			rows[i].X = 100 * float64(s.StartedAt.Sub(start)) / span
			rows[i].W = max(100*float64(rows[i].Duration)/span, 0.5)
		} else {
			rows[i].W = 100
		}
		rows[i].X = min(rows[i].X, 99.5)
		rows[i].W = min(rows[i].W, 100-rows[i].X)
	}
	return rows
}

// indentJSON indents raw JSON for reading; "" for none.
func indentJSON(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		return string(raw)
	}
	return buf.String()
}

func (d *dashboard) executorsPage(w http.ResponseWriter, r *http.Request, v *view) {
	es, err := d.c.Executors(r.Context())
	if err != nil {
		d.failDB(w, r, err)
		return
	}
	v.Nav, v.Data = "executors", es
	d.render(w, http.StatusOK, "executors", v)
}

func (d *dashboard) schedulesPage(w http.ResponseWriter, r *http.Request, v *view) {
	ss, err := d.c.Schedules(r.Context())
	if err != nil {
		d.failDB(w, r, err)
		return
	}
	v.Nav, v.Data = "schedules", ss
	d.render(w, http.StatusOK, "schedules", v)
}

// cancel, resume and fork are the actions of the Workflow page. On success they go to the
// workflow's page (the fork's for a fork), which says what was done; on failure they show
// the page with the error.
func (d *dashboard) cancel(w http.ResponseWriter, r *http.Request, v *view) {
	id := r.PostFormValue("id")
	if err := d.c.CancelWorkflow(r.Context(), id); err != nil {
		d.actionFailed(w, r, v, id, "Cancel", err)
		return
	}
	d.done(w, r, id, url.Values{"done": {"cancel"}})
}

func (d *dashboard) resume(w http.ResponseWriter, r *http.Request, v *view) {
	id := r.PostFormValue("id")
	if err := d.c.ResumeWorkflow(r.Context(), id); err != nil {
		d.actionFailed(w, r, v, id, "Resume", err)
		return
	}
	d.done(w, r, id, url.Values{"done": {"resume"}})
}

func (d *dashboard) fork(w http.ResponseWriter, r *http.Request, v *view) {
	id := r.PostFormValue("id")
	step, err := strconv.Atoi(r.PostFormValue("from_step"))
	if err != nil || step < 1 {
		d.actionFailed(w, r, v, id, "Fork", fmt.Errorf("the step to fork from is %q: give a step number, 1 to run every step again", r.PostFormValue("from_step")))
		return
	}
	forkID, err := d.c.ForkWorkflow(r.Context(), id, wf.ForkOptions{FromStep: step})
	if err != nil {
		d.actionFailed(w, r, v, id, "Fork", err)
		return
	}
	d.done(w, r, forkID, url.Values{"done": {"fork"}, "from": {id}, "step": {strconv.Itoa(step)}})
}

// done redirects to workflow id's page, which reports the action from q.
func (d *dashboard) done(w http.ResponseWriter, r *http.Request, id string, q url.Values) {
	q.Set("id", id)
	http.Redirect(w, r, d.opts.Prefix+"/workflow?"+q.Encode(), http.StatusSeeOther)
}

// actionFailed shows the workflow's page with the action's error: 404 for an unknown
// workflow, 409 for one in a state that refuses the action.
func (d *dashboard) actionFailed(w http.ResponseWriter, r *http.Request, v *view, id, action string, err error) {
	if errors.Is(err, wf.ErrNotFound) {
		d.failDB(w, r, err)
		return
	}
	v.Problem = action + " failed: " + err.Error()
	r.URL.RawQuery = ""
	d.showWorkflow(w, r, v, id, http.StatusConflict)
}

package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wfgen/wfgen/examples/pipeline"
	"github.com/wfgen/wfgen/examples/pipeline/db"
	"github.com/wfgen/wfgen/runtime/wf"
)

// server answers the API's requests. It only enqueues workflows and reads them (and the
// application's clients): it runs nothing.
type server struct {
	wf *wf.Client
	q  *db.Queries
}

// routes returns the API's handler, with the dashboard under /wfgen/.
func (s *server) routes(dash http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /pipeline/run/{client_id}", s.run)
	mux.HandleFunc("GET /pipeline/status/{id...}", s.status)
	mux.HandleFunc("GET /pipeline/runs", s.runs)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, statusPage)
	})
	mux.Handle("/wfgen/", dash)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	})
	return mux
}

//go:embed status.html
var statusPage string

// RunRequest is the body of POST /pipeline/run/{client_id}. Both fields are optional: the
// client's channels, and the end of the generated data.
type RunRequest struct {
	Channels     []string `json:"channels"`
	BaselineDate string   `json:"baseline_date"`
}

// RunResponse is the answer to POST /pipeline/run/{client_id}.
type RunResponse struct {
	WorkflowID string `json:"workflow_id"`
	StatusURL  string `json:"status_url"`
}

// ChannelProgress is the progress of one channel pipeline of a run.
type ChannelProgress struct {
	WorkflowID string `json:"workflow_id"`
	Channel    string `json:"channel"`
	State      string `json:"state"`
	Step       string `json:"step"`
	Done       int    `json:"done"`
	Total      int    `json:"total"`
}

// RunProgress is how far a run got: the steps done and expected over its channels.
type RunProgress struct {
	Done     int               `json:"done"`
	Total    int               `json:"total"`
	Percent  int               `json:"percent"`
	Channels []ChannelProgress `json:"channels"`
}

// RunStatus is the answer to GET /pipeline/status/{id}, and an element of GET /pipeline/runs.
type RunStatus struct {
	WorkflowID  string                   `json:"workflow_id"`
	State       string                   `json:"state"`
	Executor    string                   `json:"executor,omitempty"`
	CreatedAt   time.Time                `json:"created_at"`
	CompletedAt *time.Time               `json:"completed_at,omitempty"`
	Progress    RunProgress              `json:"progress"`
	Result      *pipeline.PipelineResult `json:"result,omitempty"`
	Error       string                   `json:"error,omitempty"`
}

// ErrorResponse is the body of every error.
type ErrorResponse struct {
	Error string `json:"error"`
}

func (s *server) run(w http.ResponseWriter, r *http.Request) {
	clientID, err := strconv.ParseInt(r.PathValue("client_id"), 10, 64)
	if err != nil || clientID <= 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("client_id %q: want a positive integer", r.PathValue("client_id")))
		return
	}
	var req RunRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "body: "+err.Error()+`: want {"channels": ["email", "landing_page"], "baseline_date": "YYYY-MM-DD"}`)
		return
	}
	if req.BaselineDate == "" {
		req.BaselineDate = pipeline.DataEnd.Format(pipeline.DateLayout)
	}
	if _, err := time.Parse(pipeline.DateLayout, req.BaselineDate); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("baseline_date %q: want YYYY-MM-DD", req.BaselineDate))
		return
	}
	client, err := s.q.GetClient(r.Context(), clientID)
	if errors.Is(err, pgx.ErrNoRows) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("client %d not found", clientID))
		return
	} else if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if len(req.Channels) == 0 {
		req.Channels = client.Channels
	}
	for _, ch := range req.Channels {
		if !slices.Contains(pipeline.Channels, ch) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("channel %q: want one of %v", ch, pipeline.Channels))
			return
		}
		if !slices.Contains(client.Channels, ch) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("client %d has no channel %q (it has %v)", clientID, ch, client.Channels))
			return
		}
	}
	var suffix [3]byte
	_, _ = rand.Read(suffix[:])
	id := fmt.Sprintf("pipeline-%d-%s-%s", clientID, req.BaselineDate, hex.EncodeToString(suffix[:]))
	h, err := pipeline.EnqueueClientPipeline(r.Context(), s.wf, pipeline.PipelineRequest{ClientID: clientID, Channels: req.Channels, BaselineDate: req.BaselineDate}, wf.WithID(id))
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusAccepted, RunResponse{WorkflowID: h.ID(), StatusURL: "/pipeline/status/" + h.ID()})
}

func (s *server) status(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	st, err := s.wf.Status(r.Context(), id)
	if errors.Is(err, wf.ErrNotFound) || (err == nil && st.Workflow != pipeline.ClientPipelineName) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no pipeline run has the ID %q", id))
		return
	} else if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	rs, err := s.runStatus(r.Context(), st)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, rs)
}

func (s *server) runs(w http.ResponseWriter, r *http.Request) {
	runs, err := pipeline.ListClientPipelineRuns(r.Context(), s.wf, wf.ListOptions{Limit: 50})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := make([]RunStatus, 0, len(runs))
	for _, run := range runs {
		rs, err := s.runStatus(r.Context(), run.Status)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		out = append(out, rs)
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": out})
}

// runStatus reads a run's progress (its children's progress events) and, once it is final,
// its result or error.
func (s *server) runStatus(ctx context.Context, st wf.Status) (RunStatus, error) {
	rs := RunStatus{WorkflowID: st.ID, State: string(st.State), Executor: st.ExecutorID, CreatedAt: st.CreatedAt, Error: st.Error}
	if !st.CompletedAt.IsZero() {
		rs.CompletedAt = &st.CompletedAt
	}
	children, err := s.wf.ListWorkflows(ctx, wf.ListOptions{ParentID: st.ID})
	if err != nil {
		return RunStatus{}, err
	}
	// The run sets its plan before it starts its children, so that the total is known from
	// the start and the percentage never goes back.
	plan, _, err := pipeline.PlanEvent.Get(ctx, s.wf, st.ID)
	if err != nil {
		return RunStatus{}, err
	}
	rs.Progress.Total = len(plan) * pipeline.ChannelSteps
	rs.Progress.Channels = []ChannelProgress{}
	for _, c := range slices.Backward(children) { // oldest first
		p, _, err := pipeline.ProgressEvent.Get(ctx, s.wf, c.ID)
		if err != nil {
			return RunStatus{}, err
		}
		rs.Progress.Channels = append(rs.Progress.Channels, ChannelProgress{WorkflowID: c.ID, Channel: p.Channel, State: string(c.State), Step: p.Step, Done: p.Done, Total: p.Total})
		rs.Progress.Done += p.Done
	}
	if rs.Progress.Total > 0 {
		rs.Progress.Percent = 100 * rs.Progress.Done / rs.Progress.Total
	}
	if st.State == wf.StateSucceeded {
		out, _, err := pipeline.GetClientPipeline(s.wf, st.ID).Poll(ctx)
		if err != nil {
			return RunStatus{}, err
		}
		rs.Result = &out
		rs.Progress.Percent = 100
	}
	return rs, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, ErrorResponse{Error: msg})
}

package compare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wfgen/wfgen/runtime/wf"
)

// hotStatements are the sqlc queries of a one-step workflow's path whose plans -scale
// shows: the enqueue, the dequeue (claim), the checkpoint write (which records the step and
// the completion in one batch) and the release of unstarted claims when a worker stops.
var hotStatements = []string{"InsertWorkflows", "DequeueWorkflows", "WriteCheckpoints", "ReleaseWorkflows"}

// planWorkloads are capturePlans' workloads, in order.
var planWorkloads = []string{"one at a time", "batch"}

// statementPlan is the plan of one execution of a statement, as auto_explain reported it.
type statementPlan struct {
	State      string   `json:"state"` // "empty" or "scaled"
	Statement  string   `json:"statement"`
	Workload   string   `json:"workload"`    // "one at a time" or "batch"; see capturePlans
	Executions int      `json:"executions"`  // executions captured; this one is the median by duration
	DurationMS float64  `json:"duration_ms"` // its execution time (with ANALYZE's instrumentation)
	MaxMS      float64  `json:"max_ms"`      // the slowest captured execution's
	Nodes      []string `json:"nodes"`       // the plan's nodes that read or write a table, and its root, indented by depth
}

// explainNode is the part of EXPLAIN (FORMAT JSON, ANALYZE, BUFFERS) the report shows.
type explainNode struct {
	NodeType          string        `json:"Node Type"`
	Operation         string        `json:"Operation"`
	RelationName      string        `json:"Relation Name"`
	Alias             string        `json:"Alias"`
	IndexName         string        `json:"Index Name"`
	ActualRows        float64       `json:"Actual Rows"`
	ActualLoops       float64       `json:"Actual Loops"`
	ActualTotalTime   float64       `json:"Actual Total Time"`
	RowsRemovedFilter float64       `json:"Rows Removed by Filter"`
	SharedHit         int64         `json:"Shared Hit Blocks"`
	SharedRead        int64         `json:"Shared Read Blocks"`
	SharedDirtied     int64         `json:"Shared Dirtied Blocks"`
	Plans             []explainNode `json:"Plans"`
}

var autoExplainDuration = regexp.MustCompile(`duration: ([0-9.]+) ms`)

// planCollector receives auto_explain's notices: every statement a pool runs, with its plan.
type planCollector struct {
	mu       sync.Mutex
	plans    map[string][]statementPlan // by workload and statement: workload + "/" + statement
	workload string                     // the workload running now
	bad      int                        // notices it could not read
}

func (pc *planCollector) onNotice(_ *pgconn.PgConn, n *pgconn.Notice) {
	i := strings.Index(n.Message, "{")
	m := autoExplainDuration.FindStringSubmatch(n.Message)
	var doc struct {
		QueryText string      `json:"Query Text"`
		Plan      explainNode `json:"Plan"`
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if i < 0 || m == nil || json.Unmarshal([]byte(n.Message[i:]), &doc) != nil {
		pc.bad++
		return
	}
	name := sqlcName.FindStringSubmatch(doc.QueryText)
	if name == nil {
		return
	}
	d, _ := strconv.ParseFloat(m[1], 64)
	p := statementPlan{Statement: name[1], Workload: pc.workload, DurationMS: d}
	renderPlan(&p.Nodes, doc.Plan, 0)
	k := pc.workload + "/" + name[1]
	pc.plans[k] = append(pc.plans[k], p)
}

// renderPlan writes one line per node that reads or writes a table (and the root), and
// leaves out nodes that never ran: the rest (CTE scans, projections, aggregates of a few
// rows) costs nothing that grows with the tables.
func renderPlan(out *[]string, n explainNode, depth int) {
	if n.ActualLoops == 0 {
		return
	}
	defer func() {
		for _, c := range n.Plans {
			renderPlan(out, c, depth+1)
		}
	}()
	if depth > 0 && n.RelationName == "" {
		return
	}
	var b strings.Builder
	b.WriteString(strings.Repeat("  ", depth))
	b.WriteString(n.NodeType)
	if n.Operation != "" && n.NodeType == "ModifyTable" {
		b.WriteString(" " + n.Operation)
	}
	if n.IndexName != "" {
		b.WriteString(" using " + n.IndexName)
	}
	if n.RelationName != "" {
		b.WriteString(" on " + n.RelationName)
	}
	fmt.Fprintf(&b, "  rows=%g loops=%g time=%.3f ms buffers hit=%d", n.ActualRows, n.ActualLoops, n.ActualTotalTime, n.SharedHit)
	if n.SharedRead > 0 {
		fmt.Fprintf(&b, " read=%d", n.SharedRead)
	}
	if n.SharedDirtied > 0 {
		fmt.Fprintf(&b, " dirtied=%d", n.SharedDirtied)
	}
	if n.RowsRemovedFilter > 0 {
		fmt.Fprintf(&b, " removed by filter=%g", n.RowsRemovedFilter)
	}
	*out = append(*out, b.String())
}

// capturePlans runs two short untimed one-step workloads in the current state (a fresh
// schema, or the seeded one during withScaled) on a pool whose sessions load auto_explain
// with ANALYZE and BUFFERS and report each plan to the client as a notice: workflows one at
// a time (as in the latency phase: each dequeue finds one), then a batch of 2000 (as in the
// work phases). So the plans are those of the statements the runtime really sent, with
// their real parameters, in the real state; nothing else executes them. For each workload
// and hot statement it keeps the execution of median duration.
func capturePlans(ctx context.Context, e *env, state string) ([]statementPlan, error) {
	schema := e.wfgenSchemaName()
	if !e.scaled() {
		if err := e.dropSchema(ctx, schema); err != nil {
			return nil, err
		}
	}
	pc := &planCollector{plans: map[string][]statementPlan{}}
	cfg, err := pgxpool.ParseConfig(e.url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(e.cfg.poolSize())
	cfg.ConnConfig.OnNotice = pc.onNotice
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `LOAD 'auto_explain';
			SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on;
			SET auto_explain.log_buffers = on; SET auto_explain.log_format = json;
			SET auto_explain.log_level = notice; SET client_min_messages = notice`)
		if err != nil {
			return fmt.Errorf("loading auto_explain (needs a superuser): %w", err)
		}
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer pool.Close()

	// One at a time, as the latency phase: each workflow enqueued once the previous one
	// started, so that every dequeue finds one workflow and its queue otherwise idle.
	const oneAtATime, batch = 30, 2000
	started := make(chan struct{}, 1)
	noop := wf.NewStep[struct{}]("noop")
	flow := wf.NewWorkflow("bench_steps", func(ctx wf.Context, in benchInput) (struct{}, error) {
		if _, err := noop.Run(ctx, noopStep); err != nil {
			return struct{}{}, err
		}
		select {
		case started <- struct{}{}:
		default:
		}
		return struct{}{}, nil
	}, wf.WorkflowQueue(wfgenQueue))
	c, err := wf.NewClient(pool, e.wfgenConfig("bench-plans"))
	if err == nil {
		err = c.Register(wf.NewQueue(wfgenQueue, wf.WorkerConcurrency(e.cfg.workers)), flow, noop)
	}
	if err == nil {
		err = c.Start(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("starting wfgen for the plans: %w", err)
	}
	setWorkload := func(w string) {
		time.Sleep(100 * time.Millisecond) // let the previous workload's last writes land
		pc.mu.Lock()
		pc.workload = w
		pc.mu.Unlock()
	}
	setWorkload("one at a time")
	for i := 0; i < oneAtATime && err == nil; i++ {
		if _, err = flow.Enqueue(ctx, c, benchInput{Seq: i}); err != nil {
			break
		}
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			err = errors.New("a workflow did not start within 10s")
		case <-ctx.Done():
			err = ctx.Err()
		}
		time.Sleep(e.cfg.latencyGap)
	}
	// A batch, as the work phases: a queue full of work.
	if err == nil {
		setWorkload("batch")
		var hs []*wf.Handle[struct{}]
		if hs, err = flow.EnqueueMany(ctx, c, make([]benchInput, batch)); err == nil {
			for _, h := range hs {
				if _, err = h.Result(ctx); err != nil {
					break
				}
			}
		}
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if stopErr := c.Stop(stopCtx); err == nil {
		err = stopErr
	}
	if err != nil {
		return nil, err
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.bad > 0 {
		fmt.Fprintf(e.log, "note: %d auto_explain notices could not be read\n", pc.bad)
	}
	var out []statementPlan
	for _, workload := range planWorkloads {
		for _, name := range hotStatements {
			ps := pc.plans[workload+"/"+name]
			if len(ps) == 0 {
				continue
			}
			slices.SortFunc(ps, func(a, b statementPlan) int { return cmpFloat(a.DurationMS, b.DurationMS) })
			p := ps[len(ps)/2]
			p.State, p.Executions, p.MaxMS = state, len(ps), ps[len(ps)-1].DurationMS
			out = append(out, p)
		}
	}
	return out, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// runWfgenPlans captures the hot statements' plans in both states, once per run (round 1).
func runWfgenPlans(ctx context.Context, e *env, _ *results, round int) error {
	if !e.cfg.scale.on || round != 1 {
		return nil
	}
	empty, err := capturePlans(ctx, e, "empty")
	if err != nil {
		return fmt.Errorf("plans, empty tables: %w", err)
	}
	var scaled []statementPlan
	err = e.withScaled(ctx, func() error {
		var err error
		scaled, err = capturePlans(ctx, e, "scaled")
		return err
	})
	if err != nil {
		return fmt.Errorf("plans, scaled tables: %w", err)
	}
	e.scale.plans = map[string][]statementPlan{"empty": empty, "scaled": scaled}
	fmt.Fprintf(e.log, "round %d/%d  wfgen  plans captured: %d statements empty, %d scaled\n", round, e.cfg.rounds, len(empty), len(scaled))
	return nil
}

// printPlans writes the captured plans, each statement's two states one after the other.
func printPlans(w io.Writer, s *scaleState, label string) {
	if s == nil || s.plans == nil {
		return
	}
	fmt.Fprintf(w, "\nPlans of the hot statements (auto_explain, ANALYZE and BUFFERS, of the runtime's own executions in\nuntimed one-step workloads; the execution of median duration; only nodes that read or write a table),\nempty tables and%s\n", label)
	for _, workload := range planWorkloads {
		fmt.Fprintf(w, "-- workflows %s\n", workload)
		for _, name := range hotStatements {
			for _, state := range []string{"empty", "scaled"} {
				for _, p := range s.plans[state] {
					if p.Statement != name || p.Workload != workload {
						continue
					}
					fmt.Fprintf(w, "%s, %s: %.3f ms (median of %d executions; slowest %.3f ms)\n", p.Statement, p.State, p.DurationMS, p.Executions, p.MaxMS)
					for _, n := range p.Nodes {
						fmt.Fprintf(w, "    %s\n", n)
					}
				}
			}
		}
	}
}

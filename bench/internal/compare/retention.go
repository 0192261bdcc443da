package compare

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/wfgen/wfgen/runtime/wf"
)

// retentionSample is one second of the retention phase.
type retentionSample struct {
	AtS          float64 `json:"at_s"`
	WorkflowRows int64   `json:"workflow_rows"`
	StepRows     int64   `json:"step_rows"`
	Ran          int64   `json:"ran"` // workflows run so far
}

// retentionRun is the retention phase's outcome.
type retentionRun struct {
	Rate      int               `json:"rate_per_s"`
	Retention string            `json:"retention"`
	Interval  string            `json:"interval"`
	Samples   []retentionSample `json:"samples"`
}

// runWfgenRetention runs wfgen with a short Config.Retention under a steady enqueue rate
// and samples the sizes of its tables every second, once per run (round 1). Work starts
// from a fresh schema: the figure is whether the tables stop growing once retention
// deletes as fast as the load adds, and whether throughput keeps up with the load.
func runWfgenRetention(ctx context.Context, e *env, res *results, round int) error {
	if !e.cfg.scale.on || round != 1 {
		return nil
	}
	sc := e.cfg.scale
	if err := e.dropSchema(ctx, wfgenSchema); err != nil {
		return err
	}
	pool, _, err := e.newPool(ctx, e.cfg.poolSize(), wfgenSchema)
	if err != nil {
		return err
	}
	defer pool.Close()
	cfg := e.wfgenConfig("bench-retention")
	cfg.Retention, cfg.RetentionInterval = sc.retentionKeep, sc.retentionInterval
	c, err := wf.NewClient(pool, cfg)
	if err != nil {
		return err
	}
	ran := newCountdown(-1) // never closes done: the phase runs for a fixed time
	noop := wf.NewStep[struct{}]("noop")
	flow := wf.NewWorkflow("bench_steps", func(ctx wf.Context, in benchInput) (struct{}, error) {
		if _, err := noop.Run(ctx, noopStep); err != nil {
			return struct{}{}, err
		}
		ran.tick()
		return struct{}{}, nil
	}, wf.WorkflowQueue(wfgenQueue))
	if err := c.Register(wf.NewQueue(wfgenQueue, wf.WorkerConcurrency(e.cfg.workers)), flow, noop); err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("starting wfgen: %w", err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		c.Stop(stopCtx)
	}()

	// Enqueue in batches every 10 ms, at the rate asked for on average.
	const tick = 10 * time.Millisecond
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	loadErr := make(chan error, 1)
	begin := time.Now()
	go func() {
		t := time.NewTicker(tick)
		defer t.Stop()
		sent := 0
		for {
			select {
			case <-loadCtx.Done():
				loadErr <- nil
				return
			case now := <-t.C:
				want := int(now.Sub(begin).Seconds() * float64(sc.retentionRate))
				if want <= sent {
					continue
				}
				if _, err := flow.EnqueueMany(loadCtx, c, make([]benchInput, want-sent)); err != nil {
					if loadCtx.Err() != nil {
						loadErr <- nil
					} else {
						loadErr <- err
					}
					return
				}
				sent = want
			}
		}
	}()

	run := &retentionRun{Rate: sc.retentionRate, Retention: sc.retentionKeep.String(), Interval: sc.retentionInterval.String()}
	count := "SELECT (SELECT count(*) FROM " + wfgenSchema + ".workflows), (SELECT count(*) FROM " + wfgenSchema + ".steps)"
	sample := time.NewTicker(time.Second)
	defer sample.Stop()
	for time.Since(begin) < sc.retentionFor {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-loadErr:
			return fmt.Errorf("enqueueing: %w", err)
		case <-sample.C:
		}
		s := retentionSample{AtS: time.Since(begin).Seconds(), Ran: ran.ran.Load()}
		if err := e.mon.QueryRow(ctx, count).Scan(&s.WorkflowRows, &s.StepRows); err != nil {
			return err
		}
		run.Samples = append(run.Samples, s)
	}
	stopLoad()
	if err := <-loadErr; err != nil {
		return fmt.Errorf("enqueueing: %w", err)
	}
	if e.scale == nil {
		e.scale = &scaleState{}
	}
	e.scale.ret = run
	recordRetention(e, res, round, run)
	return nil
}

// recordRetention adds the retention phase's figures: the largest and last table sizes,
// the plateau (the largest size in the last third of the phase ÷ the largest in the
// middle third: about 1 when the tables stopped growing) and the throughput of the last
// two thirds against the enqueue rate.
func recordRetention(e *env, res *results, round int, run *retentionRun) {
	s := run.Samples
	if len(s) < 3 {
		return
	}
	maxOf := func(ss []retentionSample, f func(retentionSample) int64) float64 {
		var m int64
		for _, x := range ss {
			m = max(m, f(x))
		}
		return float64(m)
	}
	wfRows := func(x retentionSample) int64 { return x.WorkflowRows }
	stepRows := func(x retentionSample) int64 { return x.StepRows }
	third := len(s) / 3
	middle, last := s[third:2*third], s[2*third:]
	first, end := s[third], s[len(s)-1]
	throughput := float64(end.Ran-first.Ran) / (end.AtS - first.AtS)
	label := fmt.Sprintf("retention %s every %s, %d workflows/s enqueued: ", run.Retention, run.Interval, run.Rate)
	res.add("wfgen", spec{name: "retention_max_workflow_rows", label: label + "max workflow rows", unit: "rows", lower: true}, maxOf(s, wfRows))
	res.add("wfgen", spec{name: "retention_end_workflow_rows", label: label + "workflow rows at end", unit: "rows", lower: true}, float64(end.WorkflowRows))
	res.add("wfgen", spec{name: "retention_max_step_rows", label: label + "max step rows", unit: "rows", lower: true}, maxOf(s, stepRows))
	res.add("wfgen", spec{name: "retention_end_step_rows", label: label + "step rows at end", unit: "rows", lower: true}, float64(end.StepRows))
	res.add("wfgen", spec{name: "retention_plateau", unit: "ratio", lower: true}, maxOf(last, wfRows)/maxOf(middle, wfRows))
	res.add("wfgen", spec{name: "retention_workflows_per_s", label: label + "workflows run/s (last two thirds)", unit: "workflows/s"}, throughput)
	res.add("wfgen", spec{name: "retention_rate", unit: "workflows/s"}, float64(run.Rate))
	fmt.Fprintf(e.log, "round %d/%d  wfgen  retention              workflow rows each second: %s; %.0f workflows run/s\n", round, e.cfg.rounds, sampleList(s, wfRows), throughput)
}

func sampleList(s []retentionSample, f func(retentionSample) int64) string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprint(f(x))
	}
	return strings.Join(out, " ")
}

// retentionTargets: the tables stop growing, and the worker keeps up with the load.
var retentionTargets = []target{
	{name: "retention_plateau", label: "retention: max workflow rows, last third ÷ middle third of the phase", num: [2]string{"wfgen", "retention_plateau"}, atMost: 1.1, den: [2]string{}, scale: true},
	{name: "retention_throughput", label: "retention: workflows run/s ÷ enqueued/s", num: [2]string{"wfgen", "retention_workflows_per_s"}, den: [2]string{"wfgen", "retention_rate"}, atLeast: 0.95, scale: true},
}

// printRetention writes the table sizes the retention phase sampled.
func printRetention(w io.Writer, s *scaleState) {
	if s == nil || s.ret == nil {
		return
	}
	r := s.ret
	fmt.Fprintf(w, "\nRetention under a steady load (round 1: %d workflows/s enqueued, Config.Retention %s, RetentionInterval %s), rows each second:\n", r.Rate, r.Retention, r.Interval)
	fmt.Fprintf(w, "  workflows: %s\n", sampleList(r.Samples, func(x retentionSample) int64 { return x.WorkflowRows }))
	fmt.Fprintf(w, "  steps:     %s\n", sampleList(r.Samples, func(x retentionSample) int64 { return x.StepRows }))
}

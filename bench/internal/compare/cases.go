package compare

import (
	"context"
	"fmt"
	"io"
	"time"
)

// cases are the phases of a round, grouped: the cases of a group measure comparable work
// and run back to back.
var cases = []benchCase{
	{group: "one-step work", system: "wfgen", run: runWfgenOneStep},
	{group: "one-step work", system: "river", run: runRiverWork},
	{group: "one-step work", system: "dbos", run: runDBOSOneStep},
	{group: "one-step work", system: "gowf", run: runGowfOneStep},
	{group: "multi-step work", system: "wfgen", run: runWfgenMultiStep},
	{group: "multi-step work", system: "dbos", run: runDBOSMultiStep},
	{group: "multi-step work", system: "gowf", run: runGowfMultiStep},
	{group: "one workflow alone", system: "wfgen", run: runWfgenAlone},
	{group: "one workflow alone", system: "dbos", run: runDBOSAlone},
	{group: "single enqueue", system: "wfgen", run: runWfgenEnqueueSingle},
	{group: "single enqueue", system: "river", run: runRiverInsertSingle},
	// With -scale, on empty and scaled tables in turn, sample by sample: see scale.go.
	{group: "latency", system: "wfgen", run: runWfgenLatency},
	// -scale only (each returns at once without it): the scaled one-step work, beside one on
	// empty tables, which the growth ratio compares it with.
	{group: "one-step work, scaled", system: "wfgen", run: runWfgenOneStepBeside},
	{group: "one-step work, scaled", system: "wfgen", run: runWfgenOneStepScaled},
	{group: "plans", system: "wfgen", run: runWfgenPlans},
	{group: "retention", system: "wfgen", run: runWfgenRetention},
}

// Metric names of the targets.
const (
	wfgenOneStep    = "one_step_workflows_per_s"
	riverJobs       = "jobs_per_s"
	multiStepSteps  = "multi_step_steps_per_s"
	wfgenBatch      = "enqueue_batch_per_s"
	riverInsertMany = "insert_many_per_s"
	latencyAPIp50   = "latency_api_client_p50_ms"
	latencyOwnp50   = "latency_own_client_p50_ms"
	aloneP50        = "alone_p50_ms"
)

// targets are the goals of issues 3 and 12, as ratios of figures measured in the same run.
var targets = []target{
	{name: "one_step_vs_river", label: "wfgen one-step workflows/s ÷ River jobs/s", num: [2]string{"wfgen", wfgenOneStep}, den: [2]string{"river", riverJobs}, atLeast: 1.5, everyRound: 1.2},
	{name: "multi_step_vs_dbos", label: "wfgen steps/s ÷ DBOS steps/s (multi-step workflows)", num: [2]string{"wfgen", multiStepSteps}, den: [2]string{"dbos", multiStepSteps}, atLeast: 4},
	{name: "one_step_vs_gowf", label: "wfgen one-step workflows/s ÷ go-workflows one-step workflows/s", num: [2]string{"wfgen", wfgenOneStep}, den: [2]string{"gowf", wfgenOneStep}, atLeast: 1},
	{name: "multi_step_vs_gowf", label: "wfgen steps/s ÷ go-workflows steps/s (multi-step workflows)", num: [2]string{"wfgen", multiStepSteps}, den: [2]string{"gowf", multiStepSteps}, atLeast: 1},
	{name: "alone_dbos_vs_wfgen", label: "DBOS p50 ÷ wfgen p50, a multi-step workflow alone (start to result)", num: [2]string{"dbos", aloneP50}, den: [2]string{"wfgen", aloneP50}, atLeast: 1},
	{name: "batch_enqueue_vs_river", label: "wfgen EnqueueMany/s ÷ River InsertMany/s", num: [2]string{"wfgen", wfgenBatch}, den: [2]string{"river", riverInsertMany}, atLeast: 1},
	{name: "latency_api_client_p50", label: "wfgen p50 enqueue-to-start, another client (ms)", num: [2]string{"wfgen", latencyAPIp50}, below: 2},
	{name: "latency_api_client_p99", label: "wfgen p99 enqueue-to-start, another client (ms)", num: [2]string{"wfgen", latencyAPIp99}, below: 5},
	{name: "latency_own_client_p50", label: "wfgen p50 enqueue-to-start, worker's own client (ms)", num: [2]string{"wfgen", latencyOwnp50}, below: 5},
}

func init() { targets = append(append(targets, scaleTargets...), retentionTargets...) }

func rate(o outcome) float64 { return float64(o.units) / o.elapsed.Seconds() }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// progress prints one line per timed phase, as the run goes.
func progress(e *env, round int, system, what string, o outcome, unit string) {
	fmt.Fprintf(e.log, "round %d/%d  %-5s  %-22s %6d %s in %8s = %8.0f/s   %6.3g write txns, %6.3g statements per %s\n",
		round, e.cfg.rounds, system, what, o.units, unit+"s", o.elapsed.Round(time.Millisecond), rate(o),
		float64(o.cost.writeTxns)/float64(o.units), float64(o.cost.statements())/float64(o.units), unit)
}

func runWfgenOneStep(ctx context.Context, e *env, res *results, round int) error {
	enq, work, err := wfgenWork(ctx, e, e.cfg.oneStepN, 1)
	if err != nil {
		return err
	}
	recordEnqueue(e, res, round, costPhase{"wfgen", "enqueue_batch", "EnqueueMany", "workflow"},
		spec{name: wfgenBatch, label: "EnqueueMany (batch enqueue)", unit: "workflows/s"}, enq)
	recordWork(e, res, round, costPhase{"wfgen", "one_step", "one-step work", "workflow"},
		spec{name: wfgenOneStep, label: "one-step workflows", unit: "workflows/s"}, work)
	return nil
}

func runWfgenMultiStep(ctx context.Context, e *env, res *results, round int) error {
	_, work, err := wfgenWork(ctx, e, e.cfg.tenStepN, e.cfg.steps)
	if err != nil {
		return err
	}
	recordMultiStep(e, res, round, "wfgen", work)
	return nil
}

func runWfgenEnqueueSingle(ctx context.Context, e *env, res *results, round int) error {
	o, err := wfgenEnqueueSingle(ctx, e, e.cfg.singleN, e.cfg.singleClients)
	if err != nil {
		return err
	}
	recordEnqueue(e, res, round, costPhase{"wfgen", "enqueue_single", "Enqueue (single)", "workflow"},
		spec{name: "enqueue_single_per_s", label: fmt.Sprintf("Enqueue, one per call (%d callers)", e.cfg.singleClients), unit: "workflows/s"}, o)
	return nil
}

// runWfgenLatency samples enqueue-to-start on an idle worker; with -scale, on the empty
// schema and on the scaled one together, sample by sample in turn (see runWfgenLatencies).
func runWfgenLatency(ctx context.Context, e *env, res *results, round int) error {
	if e.cfg.scale.on {
		return runWfgenLatencies(ctx, e, res, round)
	}
	lat, err := wfgenLatency(ctx, e)
	if err != nil {
		return err
	}
	recordLatency(e, res, round, lat, false)
	return nil
}

// recordLatency prints a latency phase's line and records its figures, with the scaled
// schema's names and labels when scaled.
func recordLatency(e *env, res *results, round int, lat latencies, scaled bool) {
	what, suffix, label := "enqueue-to-start      ", "", ""
	if scaled {
		what, suffix, label = "enqueue-to-start, scaled ", scaledSuffix, e.scaledLabel()
	}
	fmt.Fprintf(e.log, "round %d/%d  wfgen  %s own client p50 %.2f ms p99 %.2f ms (%d samples); another client p50 %.2f ms p99 %.2f ms (%d samples); Enqueue call p50 %.2f ms; %d timeouts\n",
		round, e.cfg.rounds, what, ms(percentile(lat.sameClient, 50)), ms(percentile(lat.sameClient, 99)), len(lat.sameClient),
		ms(percentile(lat.apiClient, 50)), ms(percentile(lat.apiClient, 99)), len(lat.apiClient), ms(percentile(lat.call, 50)), lat.timeouts)
	add := func(name, l string, v time.Duration) {
		res.add("wfgen", spec{name: name + suffix, label: l + label, unit: "ms", lower: true}, ms(v))
	}
	addPercentile := func(name, l string, p float64, samples []time.Duration) {
		res.addPercentile("wfgen", spec{name: name + suffix, label: l + label, unit: "ms", lower: true}, p, samples)
	}
	addPercentile(latencyOwnp50, "enqueue-to-start p50, worker's own client", 50, lat.sameClient)
	addPercentile(latencyOwnp99, "enqueue-to-start p99, worker's own client", 99, lat.sameClient)
	addPercentile(latencyAPIp50, "enqueue-to-start p50, another client", 50, lat.apiClient)
	addPercentile(latencyAPIp99, "enqueue-to-start p99, another client", 99, lat.apiClient)
	add("enqueue_call_p50_ms", "Enqueue call p50 (insert and commit)", percentile(lat.call, 50))
	add("enqueue_call_p99_ms", "Enqueue call p99 (insert and commit)", percentile(lat.call, 99))
	add("latency_api_wake_p50_ms", "Enqueue's return → first step p50, another client", percentile(lat.apiWake, 50))
	add("latency_api_wake_p99_ms", "Enqueue's return → first step p99, another client", percentile(lat.apiWake, 99))
	add("latency_own_wake_p50_ms", "Enqueue's return → first step p50, worker's own client", percentile(lat.ownWake, 50))
	add("latency_own_wake_p99_ms", "Enqueue's return → first step p99, worker's own client", percentile(lat.ownWake, 99))
	add("enqueue_call_own_p99_ms", "Enqueue call p99, worker's own client", percentile(lat.ownCall, 99))
	if !scaled {
		res.add("wfgen", spec{name: "latency_samples", unit: "samples"}, float64(len(lat.sameClient)+len(lat.apiClient)))
	}
	res.add("wfgen", spec{name: "latency_timeouts" + suffix, unit: "samples", lower: true}, float64(lat.timeouts))
}

func runWfgenAlone(ctx context.Context, e *env, res *results, round int) error {
	took, err := wfgenAlone(ctx, e, e.cfg.aloneN, e.cfg.steps)
	if err != nil {
		return err
	}
	recordAlone(e, res, round, "wfgen", took)
	return nil
}

func runDBOSAlone(ctx context.Context, e *env, res *results, round int) error {
	took, err := dbosAlone(ctx, e, e.cfg.aloneN, e.cfg.steps)
	if err != nil {
		return err
	}
	recordAlone(e, res, round, "dbos", took)
	return nil
}

// recordAlone records a "one workflow alone" phase: p50 and p99 from start to result.
func recordAlone(e *env, res *results, round int, system string, took []time.Duration) {
	what := fmt.Sprintf("%d-step workflow alone, start to result", e.cfg.steps)
	fmt.Fprintf(e.log, "round %d/%d  %-5s  %-22s p50 %.2f ms p99 %.2f ms (%d workflows, one at a time)\n",
		round, e.cfg.rounds, system, fmt.Sprintf("%d-step alone", e.cfg.steps), ms(percentile(took, 50)), ms(percentile(took, 99)), len(took))
	res.add(system, spec{name: aloneP50, label: what + " p50", unit: "ms", lower: true}, ms(percentile(took, 50)))
	res.add(system, spec{name: "alone_p99_ms", label: what + " p99", unit: "ms", lower: true}, ms(percentile(took, 99)))
}

func runRiverWork(ctx context.Context, e *env, res *results, round int) error {
	insert, work, err := riverWork(ctx, e, e.cfg.oneStepN)
	if err != nil {
		return err
	}
	recordEnqueue(e, res, round, costPhase{"river", "insert_many", "InsertMany", "job"},
		spec{name: riverInsertMany, label: "InsertMany (batch insert)", unit: "jobs/s"}, insert)
	recordWork(e, res, round, costPhase{"river", "work", "work", "job"},
		spec{name: riverJobs, label: "no-op jobs", unit: "jobs/s"}, work)
	return nil
}

func runRiverInsertSingle(ctx context.Context, e *env, res *results, round int) error {
	o, err := riverInsertSingle(ctx, e, e.cfg.singleN, e.cfg.singleClients)
	if err != nil {
		return err
	}
	recordEnqueue(e, res, round, costPhase{"river", "insert_single", "Insert (single)", "job"},
		spec{name: "insert_single_per_s", label: fmt.Sprintf("Insert, one per call (%d callers)", e.cfg.singleClients), unit: "jobs/s"}, o)
	return nil
}

func runDBOSOneStep(ctx context.Context, e *env, res *results, round int) error {
	enq, work, err := dbosWork(ctx, e, e.cfg.oneStepN, 1)
	if err != nil {
		return err
	}
	recordEnqueue(e, res, round, costPhase{"dbos", "enqueue_in_tx", "Enqueue ×N in one tx", "workflow"},
		spec{name: "enqueue_in_tx_per_s", label: "Enqueue calls in one transaction", unit: "workflows/s"}, enq)
	recordWork(e, res, round, costPhase{"dbos", "one_step", "one-step work", "workflow"},
		spec{name: wfgenOneStep, label: "one-step workflows", unit: "workflows/s"}, work)
	return nil
}

func runDBOSMultiStep(ctx context.Context, e *env, res *results, round int) error {
	_, work, err := dbosWork(ctx, e, e.cfg.tenStepN, e.cfg.steps)
	if err != nil {
		return err
	}
	recordMultiStep(e, res, round, "dbos", work)
	return nil
}

// recordEnqueue records an enqueue phase: a progress line, its rate and its cost.
func recordEnqueue(e *env, res *results, round int, p costPhase, rateSpec spec, o outcome) {
	progress(e, round, p.system, p.label, o, p.unit)
	res.add(p.system, rateSpec, rate(o))
	res.addCost(p, o.cost, o.units)
}

// recordWork records a work phase: a progress line, its rate, its cost, the time a worker
// slot spent per unit of work (Little's law: workers ÷ throughput), and for wfgen where
// that time went.
func recordWork(e *env, res *results, round int, p costPhase, rateSpec spec, work outcome) {
	recordEnqueue(e, res, round, p, rateSpec, work)
	printWALRecords(e, round, p.system, p.label, work, p.unit)
	res.add(p.system, spec{name: p.phase + "_slot_ms_per_" + p.unit, unit: "ms/" + p.unit, lower: true}, float64(e.cfg.workers)/rate(work)*1000)
	if b := work.breakdown; b != nil {
		for _, seg := range []struct {
			name string
			v    float64
		}{
			{"claim_to_first_step", b.claimToFirstStep},
			{"step_to_checkpoint_batch", b.stepToCheckpoint},
			{"checkpoint_batch_to_next_step", b.checkpointToNext},
			{"last_step_batch_to_completion_batch", b.lastToCompletion},
			{"claim_to_completion_batch", b.claimToCompletion},
		} {
			res.add(p.system, spec{name: p.phase + "_p50_" + seg.name + "_ms", unit: "ms", lower: true}, seg.v)
		}
	}
}

// recordMultiStep records a multi-step work phase, with its steps per second.
func recordMultiStep(e *env, res *results, round int, system string, work outcome) {
	recordWork(e, res, round, costPhase{system, "multi_step", fmt.Sprintf("%d-step work", e.cfg.steps), "workflow"},
		spec{name: "multi_step_workflows_per_s", label: fmt.Sprintf("%d-step workflows", e.cfg.steps), unit: "workflows/s"}, work)
	res.add(system, spec{name: multiStepSteps, label: fmt.Sprintf("steps in %d-step workflows", e.cfg.steps), unit: "steps/s"}, rate(work)*float64(e.cfg.steps))
}

// report prints the figures, the targets, the costs and what each figure measures.
func report(w io.Writer, cfg config, res *results, evs []evaluation, took time.Duration) {
	fmt.Fprintf(w, "Figures (%d rounds: median, min, max; * the percentile over all rounds' samples, and the rounds' min and max)\n", cfg.rounds)
	res.printFigures(w)
	fmt.Fprintln(w, "\nTargets (ratios of the values above; per round: the same ratio within each round)")
	res.printTargets(w, evs)
	fmt.Fprintln(w, "\nCost per unit of work (medians)")
	res.printCosts(w)
	res.printBreakdown(w)
	if cfg.verbose {
		fmt.Fprintln(w, "\nStatements sent per unit of work, by kind (all rounds)")
		res.printStatements(w, 12)
	}
	fmt.Fprintf(w, `
What the figures time:
  work phases     N=%d one-step workflows (River: no-op jobs) or N=%d %d-step workflows, all
                  enqueued in one commit (wfgen EnqueueMany, River InsertMany, DBOS: N Enqueue
                  calls inside one transaction) while the started workers sit idle; timed from
                  that commit until Postgres shows all N succeeded (completed); steps/s is
                  workflows/s times the steps. No step touches the database.
  batch enqueue   the EnqueueMany / InsertMany call of the one-step phase: N rows, one commit.
  alone           %d %d-step workflows one at a time, each started in this process (wfgen
                  Workflow.Start, DBOS RunWorkflow: no queue) and waited for; p50 and p99.
  single enqueue  %d Enqueue / Insert calls, one workflow each, from %d goroutines through a
                  client that works nothing; timed from the first call to the last return.
  enqueue-to-start  from the start of an Enqueue call to the start of the workflow's first step,
                  one workflow at a time on an idle worker (a pause of %s after each start):
                  through the worker's own client, and through another client on its own pool
                  (an API server), alternately; p50 and p99 of up to %d samples each per round,
                  and over all rounds' samples (the figure the report and its targets use).
  cost            per unit of work, over the phase: write txns = transaction IDs assigned
                  (each a commit that waits for a WAL flush); WAL bytes written; statements the
                  system's pool sent (≈ round trips); CPU of this Go process (the system under
                  test plus the harness) and of all server processes; cores = CPU seconds per
                  second of the phase; other = the rest of the machine's busy time: other
                  users, and kernel threads (the filesystem journal committing our fsyncs).
Run took %s.
`, cfg.oneStepN, cfg.tenStepN, cfg.steps, cfg.aloneN, cfg.steps, cfg.singleN, cfg.singleClients, cfg.latencyGap, cfg.latencyN, took.Round(time.Second))
}

func runGowfOneStep(ctx context.Context, e *env, res *results, round int) error {
	work, err := gowfWork(ctx, e, min(e.cfg.gowfN, e.cfg.oneStepN), 1)
	if err != nil {
		return err
	}
	recordWork(e, res, round, costPhase{"gowf", "one_step", "one-step work", "workflow"},
		spec{name: wfgenOneStep, label: "one-step workflows", unit: "workflows/s"}, work)
	return nil
}

func runGowfMultiStep(ctx context.Context, e *env, res *results, round int) error {
	work, err := gowfWork(ctx, e, min(e.cfg.gowfNMulti, e.cfg.tenStepN), e.cfg.steps)
	if err != nil {
		return err
	}
	recordMultiStep(e, res, round, "gowf", work)
	return nil
}

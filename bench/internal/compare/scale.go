package compare

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wfgen/wfgen/runtime/wf"
)

// scaleConfig holds the settings of the growth phases (-scale): wfgen's one-step work and
// latency again, among many finished and queued workflows, the plans of the hot statements
// in both states, and retention under a steady load.
type scaleConfig struct {
	on       bool
	finished int
	queued   int

	retentionFor      time.Duration
	retentionRate     int
	retentionKeep     time.Duration
	retentionInterval time.Duration
}

func addScaleFlags(fs *flag.FlagSet, c *scaleConfig) {
	fs.BoolVar(&c.on, "scale", false, "also run wfgen's one-step work and latency among -scale-finished finished and -scale-queued queued workflows, print the hot statements' plans in both states, and run retention under a steady load")
	fs.IntVar(&c.finished, "scale-finished", 1_000_000, "-scale: finished workflows (one step each) seeded before the scaled phases")
	fs.IntVar(&c.queued, "scale-queued", 100_000, "-scale: workflows seeded in the benchmark's queue behind the measured work (available only a day later)")
	fs.DurationVar(&c.retentionFor, "retention-for", 30*time.Second, "-scale: length of the retention phase")
	fs.IntVar(&c.retentionRate, "retention-rate", 2000, "-scale: workflows enqueued per second in the retention phase")
	fs.DurationVar(&c.retentionKeep, "retention-keep", 5*time.Second, "-scale: wf.Config.Retention in the retention phase")
	fs.DurationVar(&c.retentionInterval, "retention-interval", time.Second, "-scale: wf.Config.RetentionInterval in the retention phase")
}

func (c scaleConfig) validate() error {
	if !c.on {
		return nil
	}
	switch {
	case c.finished < 0 || c.queued < 0:
		return errors.New("-scale-finished and -scale-queued must not be negative")
	case c.retentionFor < 5*time.Second || c.retentionRate < 100 || c.retentionKeep <= 0 || c.retentionInterval <= 0:
		return errors.New("-retention-for must be at least 5s, -retention-rate at least 100, -retention-keep and -retention-interval positive")
	}
	return nil
}

// scaledSchema holds the seeded tables. It is seeded once per run and kept across rounds;
// the other wfgen phases keep using wfgenSchema, which they recreate each time.
const scaledSchema = "bench_wfgen_scaled"

// scaleState is the seeded schema's state during a run.
type scaleState struct {
	seeded   bool
	seedTook time.Duration
	active   bool      // a phase works in scaledSchema now
	since    time.Time // the server's time when the active phase began: its rows are newer
	plans    map[string][]statementPlan
	ret      *retentionRun
}

func (e *env) scaled() bool { return e.scale != nil && e.scale.active }

// wfgenSchemaName is the schema wfgen works in: scaledSchema during a scaled phase.
func (e *env) wfgenSchemaName() string {
	if e.scaled() {
		return scaledSchema
	}
	return wfgenSchema
}

// wfgenSince bounds the current phase's workflows from below, in creation and completion
// time: the phase's start in the seeded schema (whose other rows were created and
// completed before it), and no bound in a fresh one.
func (e *env) wfgenSince() time.Time {
	if e.scaled() {
		return e.scale.since
	}
	return time.Time{}
}

// wfgenSucceededQuery counts the current phase's succeeded workflows. In the seeded schema
// it counts those completed since the phase began, through the index retention reads
// (workflows_finished): the created index leaves running workflows out, so a bound on
// created_at cannot use it, and each poll read the million seeded rows (45% more server
// CPU per workflow in the scaled phase, all of it the benchmark's own polling).
func (e *env) wfgenSucceededQuery() string {
	q := "SELECT count(*) FROM " + e.wfgenSchemaName() + ".workflows WHERE state = 'succeeded'"
	if e.scaled() {
		q += " AND completed_at >= '" + e.scale.since.UTC().Format(time.RFC3339Nano) + "'"
	}
	return q
}

// seedSQL fills the seeded schema: finished one-step workflows with their step, completed
// between two days and about a day and a half ago (in completion order, 50 ms apart), and
// workflows queued in the benchmark's queue that become available only a day from now
// (the last statement, whose $1 is the queued count). Their IDs are UUIDv7 of their creation
// time, as wfgen generates them (seedID): older than the measured workflows', so that the
// measured ones are added at the right end of the ID indexes, as in production, and not in
// the middle of a million rows with IDs of another form.
// They use the measured workflows' name and queue: the dequeue walks the same index
// entries as it would in production, but claims the measured work first (it is available
// earlier) and never claims these during the run.
var seedSQL = []string{
	`INSERT INTO %[1]s.workflows (id, name, state, queue, input, output, max_recoveries, attempt, executor_id, created_at, available_at, started_at, updated_at, completed_at)
	 SELECT ` + seedID("t", "i") + `, 'bench_steps', 'succeeded', '` + wfgenQueue + `', '{"seq": 0}', '{}', 10, 1, 'bench-seed', t, t, t, t, t
	 FROM generate_series(1, $1) i, LATERAL (SELECT now() - interval '2 days' + i * interval '50 ms' AS t) ts`,
	`INSERT INTO %[1]s.steps (workflow_id, step_id, name, output, attempt, tries, started_at, completed_at)
	 SELECT ` + seedID("t", "i") + `, 1, 'noop', '{}', 1, 1, t, t
	 FROM generate_series(1, $1) i, LATERAL (SELECT now() - interval '2 days' + i * interval '50 ms' AS t) ts`,
	`INSERT INTO %[1]s.workflows (id, name, state, queue, input, max_recoveries, created_at, available_at, updated_at)
	 SELECT ` + seedID("now() - interval '1 day' + i * interval '1 microsecond'", "-i") + `, 'bench_steps', 'enqueued', '` + wfgenQueue + `', '{"seq": 0}', 10, now() - interval '1 day', now() + interval '1 day', now() - interval '1 day'
	 FROM generate_series(1, $1) i`,
}

// seedID is SQL for a UUIDv7 string of the time at, in wfgen's form (lowercase, hyphens): its
// first 48 bits are at's Unix milliseconds; the rest is a hash of n, so that IDs of one
// millisecond differ.
func seedID(at, n string) string {
	ms := "lpad(to_hex((extract(epoch FROM " + at + ") * 1000)::bigint), 12, '0')"
	h := "md5((" + n + ")::text)"
	return "(substr(" + ms + ", 1, 8) || '-' || substr(" + ms + ", 9, 4) || '-7' || substr(" + h + ", 1, 3) || '-8' || substr(" + h + ", 4, 3) || '-' || substr(" + h + ", 7, 12))"
}

// seed creates scaledSchema with wfgen's tables (a client's Migrate) and fills it, then
// vacuums and analyzes it. It runs once per run, outside every timed phase.
func (e *env) seed(ctx context.Context) error {
	begin := time.Now()
	if err := e.dropSchema(ctx, scaledSchema); err != nil {
		return err
	}
	pool, _, err := e.newPool(ctx, 1, scaledSchema)
	if err != nil {
		return err
	}
	defer pool.Close()
	c, err := wf.NewClient(pool, wf.Config{Schema: scaledSchema, ExecutorID: "bench-seed", Logger: e.logger})
	if err != nil {
		return err
	}
	if _, err := c.Migrate(ctx); err != nil {
		return fmt.Errorf("migrating %s: %w", scaledSchema, err)
	}
	fmt.Fprintf(e.log, "scale: seeding %s with %d finished workflows (and their steps) and %d queued ones\n", scaledSchema, e.cfg.scale.finished, e.cfg.scale.queued)
	for i, q := range seedSQL {
		n := e.cfg.scale.finished
		if i == len(seedSQL)-1 {
			n = e.cfg.scale.queued
		}
		if _, err := e.mon.Exec(ctx, fmt.Sprintf(q, scaledSchema), n); err != nil {
			return fmt.Errorf("seeding %s: %w", scaledSchema, err)
		}
	}
	if err := e.vacuumScaled(ctx, true); err != nil {
		return err
	}
	e.scale.seeded, e.scale.seedTook = true, time.Since(begin)
	fmt.Fprintf(e.log, "scale: seeded in %s\n", e.scale.seedTook.Round(time.Millisecond))
	return nil
}

// vacuumScaled vacuums the seeded tables (and analyzes them after seeding), so that every
// scaled phase starts without the dead rows of the previous one, as the empty tables (made
// anew for each phase) start without any.
//
// INDEX_CLEANUP ON: a phase leaves dead rows in under 2% of a million rows' pages, and
// VACUUM then skips the indexes (PostgreSQL's bypass), leaving the dequeue index's entries of
// every workflow claimed so far in place. A claim from the queue's head walks them: the
// scaled enqueue-to-start p50 rose by about 0.05 ms a round (the own client's 1.04 to 1.14
// of the empty figure over four latency-only rounds), from the earlier phases' leftovers, not from the
// table's size.
func (e *env) vacuumScaled(ctx context.Context, analyze bool) error {
	opt := "INDEX_CLEANUP ON"
	if analyze {
		opt += ", ANALYZE"
	}
	_, err := e.mon.Exec(ctx, "VACUUM ("+opt+") "+scaledSchema+".workflows, "+scaledSchema+".steps", pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return fmt.Errorf("vacuuming %s: %w", scaledSchema, err)
	}
	return nil
}

// seedScaled seeds the scaled schema unless this run has.
func (e *env) seedScaled(ctx context.Context) error {
	if e.scale == nil {
		e.scale = &scaleState{}
	}
	if e.scale.seeded {
		return nil
	}
	return e.seed(ctx)
}

// withScaled runs a phase in the seeded schema, seeding it first if this run has not.
func (e *env) withScaled(ctx context.Context, phase func() error) error {
	if e.scale == nil || !e.scale.seeded {
		if err := e.seedScaled(ctx); err != nil {
			return err
		}
	} else {
		begin := time.Now()
		if err := e.vacuumScaled(ctx, false); err != nil {
			return err
		}
		fmt.Fprintf(e.log, "scale: vacuumed %s in %s\n", scaledSchema, time.Since(begin).Round(time.Millisecond))
	}
	if err := e.mon.QueryRow(ctx, "SELECT now()").Scan(&e.scale.since); err != nil {
		return err
	}
	e.scale.active = true
	defer func() { e.scale.active = false }()
	return phase()
}

// scaledLabel is appended to the labels of the scaled phases' figures.
func (e *env) scaledLabel() string {
	return fmt.Sprintf(", among %s finished + %s queued", count(e.cfg.scale.finished), count(e.cfg.scale.queued))
}

// count writes 1000000 as 1M and 100000 as 100k.
func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// Metric names of the scaled phases, and of the empty-table phase beside them.
const (
	scaledSuffix = "_scaled"
	besideSuffix = "_beside_scaled"
)

// runWfgenOneStepBeside runs wfgen's one-step work on empty tables once more, next to the
// scaled one (their order alternates by round), for the growth ratio: one-step phases a
// minute apart (the first of a round, and the scaled one after the other systems' phases)
// differ by 30% on this busy machine, phases a few seconds apart much less.
func runWfgenOneStepBeside(ctx context.Context, e *env, res *results, round int) error {
	if !e.cfg.scale.on {
		return nil
	}
	_, work, err := wfgenWork(ctx, e, e.cfg.oneStepN, 1)
	if err != nil {
		return err
	}
	progress(e, round, "wfgen", "one-step work, empty", work, "workflow")
	res.add("wfgen", spec{name: wfgenOneStep + besideSuffix, label: "one-step workflows, empty tables, beside the scaled phase", unit: "workflows/s"}, rate(work))
	return nil
}

func runWfgenOneStepScaled(ctx context.Context, e *env, res *results, round int) error {
	if !e.cfg.scale.on {
		return nil
	}
	return e.withScaled(ctx, func() error {
		enq, work, err := wfgenWork(ctx, e, e.cfg.oneStepN, 1)
		if err != nil {
			return err
		}
		recordEnqueue(e, res, round, costPhase{"wfgen", "enqueue_batch" + scaledSuffix, "EnqueueMany, scaled", "workflow"},
			spec{name: wfgenBatch + scaledSuffix, label: "EnqueueMany (batch enqueue)" + e.scaledLabel(), unit: "workflows/s"}, enq)
		recordWork(e, res, round, costPhase{"wfgen", "one_step" + scaledSuffix, "one-step work, scaled", "workflow"},
			spec{name: wfgenOneStep + scaledSuffix, label: "one-step workflows" + e.scaledLabel(), unit: "workflows/s"}, work)
		return nil
	})
}

// runWfgenLatencies samples enqueue-to-start on two idle workers, one on empty tables and
// one among the seeded workflows, in turn, one own-client and one other-client sample at a
// time (which goes first alternating by round), so that the growth ratios compare the two
// states under the same machine, moment by moment. As two phases back to back, the two
// states' p99s were compared across this machine's moods: per round, their ratios ranged
// from 0.55 to 1.66 in runs of the same code.
func runWfgenLatencies(ctx context.Context, e *env, res *results, round int) error {
	empty, err := startLatencyRig(ctx, e)
	if err != nil {
		return err
	}
	defer empty.stop(ctx)
	return e.withScaled(ctx, func() error {
		scaled, err := startLatencyRig(ctx, e)
		if err != nil {
			return err
		}
		defer scaled.stop(ctx)
		// As the work phases do: a checkpoint of what earlier phases (and the vacuum) left
		// dirty must not fall into the samples, nor the catalog changes of the empty rig's
		// migration (catchUp).
		e.settle(ctx)
		rigs := []*latencyRig{empty, scaled}
		if round%2 == 0 {
			rigs = []*latencyRig{scaled, empty}
		}
		if err := sampleLatency(ctx, e, rigs...); err != nil {
			return err
		}
		recordLatency(e, res, round, empty.lat, false)
		recordLatency(e, res, round, scaled.lat, true)
		return nil
	})
}

// Latency metrics the scaled targets compare.
const (
	latencyOwnp99 = "latency_own_client_p99_ms"
	latencyAPIp99 = "latency_api_client_p99_ms"
)

// scaleTargets are the growth goals of issue 12: the scaled figures within 10% of the
// empty-table ones measured in the same run.
var scaleTargets = []target{
	{name: "one_step_scaled_vs_empty", label: "wfgen one-step workflows/s, scaled ÷ empty beside it", num: [2]string{"wfgen", wfgenOneStep + scaledSuffix}, den: [2]string{"wfgen", wfgenOneStep + besideSuffix}, atLeast: 0.9, scale: true},
	{name: "latency_api_client_p50_scaled_vs_empty", label: "wfgen p50 enqueue-to-start, another client, scaled ÷ empty", num: [2]string{"wfgen", latencyAPIp50 + scaledSuffix}, den: [2]string{"wfgen", latencyAPIp50}, atMost: 1.1, scale: true},
	{name: "latency_api_client_p99_scaled_vs_empty", label: "wfgen p99 enqueue-to-start, another client, scaled ÷ empty", num: [2]string{"wfgen", latencyAPIp99 + scaledSuffix}, den: [2]string{"wfgen", latencyAPIp99}, atMost: 1.1, scale: true},
	{name: "latency_own_client_p50_scaled_vs_empty", label: "wfgen p50 enqueue-to-start, worker's own client, scaled ÷ empty", num: [2]string{"wfgen", latencyOwnp50 + scaledSuffix}, den: [2]string{"wfgen", latencyOwnp50}, atMost: 1.1, scale: true},
	{name: "latency_own_client_p99_scaled_vs_empty", label: "wfgen p99 enqueue-to-start, worker's own client, scaled ÷ empty", num: [2]string{"wfgen", latencyOwnp99 + scaledSuffix}, den: [2]string{"wfgen", latencyOwnp99}, atMost: 1.1, scale: true},
}

// jsonScale is the report's -scale section: the seeding, the plans and the retention
// samples (the scaled figures themselves are metrics like the others, named *_scaled).
type jsonScale struct {
	Finished    int                        `json:"finished"`
	Queued      int                        `json:"queued"`
	SeedSeconds float64                    `json:"seed_seconds"`
	Plans       map[string][]statementPlan `json:"plans,omitempty"` // by state: "empty", "scaled"
	Retention   *retentionRun              `json:"retention,omitempty"`
}

func scaleJSON(cfg config, s *scaleState) *jsonScale {
	if !cfg.scale.on || s == nil {
		return nil
	}
	return &jsonScale{Finished: cfg.scale.finished, Queued: cfg.scale.queued, SeedSeconds: s.seedTook.Seconds(), Plans: s.plans, Retention: s.ret}
}

// reportScale prints what -scale adds after the main report: the seeding, the plans and the
// retention samples.
func reportScale(w io.Writer, e *env) {
	if !e.cfg.scale.on || e.scale == nil {
		return
	}
	fmt.Fprintf(w, "\nScaled phases: %s with %d finished one-step workflows and their steps, and %d workflows queued\n", scaledSchema, e.cfg.scale.finished, e.cfg.scale.queued)
	fmt.Fprintf(w, "in the benchmark's queue available a day later (behind the measured work), seeded once in %s\n", e.scale.seedTook.Round(time.Second))
	printPlans(w, e.scale, e.scaledLabel())
	printRetention(w, e.scale)
}

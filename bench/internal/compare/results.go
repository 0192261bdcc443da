package compare

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// systems, in the order the report lists them.
var systems = []string{"wfgen", "river", "dbos", "gowf"}

// spec describes a metric.
type spec struct {
	name  string // key in the JSON report
	label string // row label in the table
	unit  string
	lower bool // lower is better
}

// metric is one figure of one system, measured once per round.
type metric struct {
	system string
	spec
	runs []float64
	// A percentile of latency samples (pct > 0) keeps every round's samples: its value is the
	// percentile over all of them, which a tail percentile needs (a p99 of one round's 1000
	// samples is its tenth-slowest, and moves by a quarter from round to round).
	pct     float64
	samples []time.Duration
}

func (m *metric) median() float64 { return median(m.runs) }

// value is the figure the report and the targets use: the percentile over all rounds'
// samples for a percentile metric, the median over the rounds for any other.
func (m *metric) value() float64 {
	if m.pct > 0 {
		return ms(percentile(m.samples, m.pct))
	}
	return m.median()
}

// costPhase names a phase whose cost per unit of work is reported.
type costPhase struct {
	system string
	phase  string // metric name prefix, e.g. "one_step"
	label  string // e.g. "one-step workflows"
	unit   string // e.g. "workflow"
}

// results collects the figures of every round.
type results struct {
	metrics map[[2]string]*metric // by system and name
	order   []*metric             // in the order first recorded
	phases  []costPhase
	// statements sums, per phase, the statements sent by kind and the units of work done.
	statements map[costPhase]map[string]int64
	units      map[costPhase]int64
}

func newResults() *results {
	return &results{
		metrics:    map[[2]string]*metric{},
		statements: map[costPhase]map[string]int64{},
		units:      map[costPhase]int64{},
	}
}

// add records one round's value of a metric.
func (r *results) add(system string, s spec, v float64) {
	k := [2]string{system, s.name}
	m := r.metrics[k]
	if m == nil {
		m = &metric{system: system, spec: s}
		r.metrics[k] = m
		r.order = append(r.order, m)
	}
	m.runs = append(m.runs, v)
}

// addPercentile records one round's percentile p of samples (in milliseconds), and keeps
// the samples for the percentile over all rounds (metric.value).
func (r *results) addPercentile(system string, s spec, p float64, samples []time.Duration) {
	r.add(system, s, ms(percentile(samples, p)))
	m := r.get(system, s.name)
	m.pct = p
	m.samples = append(m.samples, samples...)
}

func (r *results) get(system, name string) *metric { return r.metrics[[2]string{system, name}] }

// addCost records one round's cost of a phase, per unit of work and as cores used.
func (r *results) addCost(p costPhase, c cost, units int) {
	if !slices.Contains(r.phases, p) {
		r.phases = append(r.phases, p)
	}
	per := func(v float64) float64 { return v / float64(units) }
	cores := func(d time.Duration) float64 { return d.Seconds() / c.wall.Seconds() }
	name := func(what string) string { return p.phase + "_" + what + "_per_" + p.unit }
	r.add(p.system, spec{name: name("write_txns"), unit: "transactions/" + p.unit, lower: true}, per(float64(c.writeTxns)))
	r.add(p.system, spec{name: name("wal_bytes"), unit: "bytes/" + p.unit, lower: true}, per(float64(c.walBytes)))
	r.add(p.system, spec{name: name("statements"), unit: "statements/" + p.unit, lower: true}, per(float64(c.statements())))
	r.add(p.system, spec{name: name("go_cpu_us"), unit: "µs/" + p.unit, lower: true}, per(float64(c.goCPU.Microseconds())))
	r.add(p.system, spec{name: p.phase + "_go_cores", unit: "cores"}, cores(c.goCPU))
	if c.pgCPU >= 0 {
		r.add(p.system, spec{name: name("pg_cpu_us"), unit: "µs/" + p.unit, lower: true}, per(float64(c.pgCPU.Microseconds())))
		r.add(p.system, spec{name: p.phase + "_pg_cores", unit: "cores"}, cores(c.pgCPU))
	}
	if c.otherCPU >= 0 {
		r.add(p.system, spec{name: p.phase + "_other_cores", unit: "cores"}, cores(c.otherCPU))
	}
	if r.statements[p] == nil {
		r.statements[p] = map[string]int64{}
	}
	for k, v := range c.stmts {
		r.statements[p][k] += v
	}
	r.units[p] += int64(units)
}

// target is a goal printed as pass or fail: the ratio of two figures (metric.value: medians
// over the rounds, or percentiles over all rounds' samples) at least atLeast (or, with atMost
// set, at most atMost), or, with no denominator, a figure below below. With everyRound set,
// the ratio must also be above it in every round.
type target struct {
	name       string
	label      string
	num        [2]string // system, metric
	den        [2]string // zero for an absolute bound
	atLeast    float64
	atMost     float64
	below      float64
	everyRound float64
	scale      bool // measured only with -scale: left out of other runs' reports
}

// evaluation is a target's outcome in a run.
type evaluation struct {
	target
	ok       bool // both figures were measured
	value    float64
	perRound []float64
	pass     bool
}

func (r *results) evaluate(t target) evaluation {
	ev := evaluation{target: t}
	num := r.metrics[t.num]
	if num == nil {
		return ev
	}
	if t.den == ([2]string{}) {
		ev.ok, ev.value, ev.perRound = true, num.value(), num.runs
		ev.pass = ev.value < t.below
		if t.atMost > 0 {
			ev.pass = ev.value <= t.atMost
		}
		return ev
	}
	den := r.metrics[t.den]
	if den == nil {
		return ev
	}
	ev.ok = true
	ev.value = num.value() / den.value()
	for i := range min(len(num.runs), len(den.runs)) {
		ev.perRound = append(ev.perRound, num.runs[i]/den.runs[i])
	}
	ev.pass = ev.value >= t.atLeast
	if t.atMost > 0 {
		ev.pass = ev.value <= t.atMost
	}
	for _, v := range ev.perRound {
		if t.everyRound > 0 && v <= t.everyRound {
			ev.pass = false
		}
	}
	return ev
}

func (t target) need() string {
	if t.atMost > 0 {
		return fmt.Sprintf("≤ %g", t.atMost)
	}
	if t.den == ([2]string{}) {
		return fmt.Sprintf("< %g", t.below)
	}
	if t.everyRound > 0 {
		return fmt.Sprintf("≥ %g, each round > %g", t.atLeast, t.everyRound)
	}
	return fmt.Sprintf("≥ %g", t.atLeast)
}

// printFigures writes the headline figures: every metric with a label. Its value is the
// median over the rounds, or for a percentile of latency samples (marked *) the percentile
// over all rounds' samples; min and max are those of the rounds.
func (r *results) printFigures(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "system\tfigure\tvalue\tmin\tmax\tunit\t")
	for _, sys := range systems {
		for _, m := range r.order {
			if m.system != sys || m.label == "" {
				continue
			}
			label := m.label
			if m.pct > 0 {
				label += " *"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", sys, label, num(m.value()), num(slices.Min(m.runs)), num(slices.Max(m.runs)), m.unit)
		}
	}
	tw.Flush()
}

// printTargets writes the targets and whether this run meets them.
func (r *results) printTargets(w io.Writer, evs []evaluation) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tvalue\tper round\tneed\tresult\t")
	for _, ev := range evs {
		if !ev.ok {
			fmt.Fprintf(tw, "%s\t-\t-\t%s\tnot measured\t\n", ev.label, ev.need())
			continue
		}
		rounds := make([]string, len(ev.perRound))
		for i, v := range ev.perRound {
			rounds[i] = num(v)
		}
		result := "FAIL"
		if ev.pass {
			result = "pass"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", ev.label, num(ev.value), strings.Join(rounds, " "), ev.need(), result)
	}
	tw.Flush()
}

// printCosts writes the cost of each phase per unit of work, medians over the rounds.
func (r *results) printCosts(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "system\tphase\tper\twrite txns\tWAL bytes\tstatements\tGo CPU µs\tPG CPU µs\tcores Go/PG/other\tslot ms\t")
	for _, p := range r.sortedPhases() {
		cell := func(what string) string {
			if m := r.get(p.system, p.phase+"_"+what+"_per_"+p.unit); m != nil {
				return num(m.median())
			}
			return "-"
		}
		core := func(what string) string {
			if m := r.get(p.system, p.phase+"_"+what+"_cores"); m != nil {
				return fmt.Sprintf("%.2f", m.median())
			}
			return "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s/%s/%s\t%s\t\n", p.system, p.label, p.unit,
			cell("write_txns"), cell("wal_bytes"), cell("statements"), cell("go_cpu_us"), cell("pg_cpu_us"),
			core("go"), core("pg"), core("other"), cell("slot_ms"))
	}
	tw.Flush()
}

// printBreakdown writes where a wfgen workflow's time went, if that was measured.
func (r *results) printBreakdown(w io.Writer) {
	segments := []struct{ name, label string }{
		{"claim_to_first_step", "claimed → first step starts (dequeue commit, launch)"},
		{"step_to_checkpoint_batch", "step ends → its checkpoint batch begins (writer busy)"},
		{"checkpoint_batch_to_next_step", "checkpoint batch begins → next step starts (write, commit)"},
		{"last_step_batch_to_completion_batch", "last step's batch → completion's batch (0: same)"},
		{"claim_to_completion_batch", "claimed → completion's batch begins"},
	}
	var phases []costPhase
	for _, p := range r.sortedPhases() {
		if r.get(p.system, p.phase+"_p50_claim_to_first_step_ms") != nil {
			phases = append(phases, p)
		}
	}
	if len(phases) == 0 {
		return
	}
	fmt.Fprintln(w, "\nwfgen: where a workflow's time goes (p50 per round from the rows' timestamps; median of rounds, ms)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "segment\t")
	for _, p := range phases {
		fmt.Fprintf(tw, "%s\t", p.label)
	}
	fmt.Fprintln(tw)
	for _, seg := range segments {
		fmt.Fprintf(tw, "%s\t", seg.label)
		for _, p := range phases {
			fmt.Fprintf(tw, "%s\t", num(r.get(p.system, p.phase+"_p50_"+seg.name+"_ms").median()))
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprint(tw, "worker slot time per workflow (workers ÷ throughput)\t")
	for _, p := range phases {
		fmt.Fprintf(tw, "%s\t", num(r.get(p.system, p.phase+"_slot_ms_per_"+p.unit).median()))
	}
	fmt.Fprintln(tw)
	tw.Flush()
}

// printStatements writes, per phase, the statements sent per unit of work by kind.
func (r *results) printStatements(w io.Writer, top int) {
	for _, p := range r.sortedPhases() {
		fmt.Fprintf(w, "%s %s, per %s:\n", p.system, p.label, p.unit)
		for _, kv := range r.statementsPerUnit(p)[:min(top, len(r.statements[p]))] {
			fmt.Fprintf(w, "  %10s  %s\n", num(kv.perUnit), kv.kind)
		}
	}
}

type kindCount struct {
	kind    string
	perUnit float64
}

func (r *results) statementsPerUnit(p costPhase) []kindCount {
	var out []kindCount
	for k, v := range r.statements[p] {
		out = append(out, kindCount{k, float64(v) / float64(r.units[p])})
	}
	slices.SortFunc(out, func(a, b kindCount) int {
		return cmp.Or(cmp.Compare(b.perUnit, a.perUnit), strings.Compare(a.kind, b.kind))
	})
	return out
}

func (r *results) sortedPhases() []costPhase {
	ps := slices.Clone(r.phases)
	slices.SortStableFunc(ps, func(a, b costPhase) int {
		return cmp.Compare(slices.Index(systems, a.system), slices.Index(systems, b.system))
	})
	return ps
}

// median returns the middle value (the mean of the two middle ones for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// num formats a figure with three significant digits, or as an integer when it is large.
func num(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "-"
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 10:
		return fmt.Sprintf("%.2f", v)
	case a >= 1:
		return fmt.Sprintf("%.3f", v)
	case a == 0:
		return "0"
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

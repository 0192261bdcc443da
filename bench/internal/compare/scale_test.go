package compare

import (
	"io"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestScaledRatiosPassAtMostTheirBound(t *testing.T) {
	res := newResults()
	res.add("wfgen", spec{name: latencyAPIp50}, 2)
	res.add("wfgen", spec{name: latencyAPIp50 + scaledSuffix}, 2.2)
	res.add("wfgen", spec{name: wfgenOneStep}, 20000) // the first phase of the round: not the reference
	res.add("wfgen", spec{name: wfgenOneStep + besideSuffix}, 10000)
	res.add("wfgen", spec{name: wfgenOneStep + scaledSuffix}, 8900)
	for _, tc := range []struct {
		target string
		value  float64
		pass   bool
		need   string
	}{
		{"latency_api_client_p50_scaled_vs_empty", 1.1, true, "≤ 1.1"},
		{"one_step_scaled_vs_empty", 0.89, false, "≥ 0.9"},
	} {
		i := slices.IndexFunc(scaleTargets, func(t target) bool { return t.name == tc.target })
		ev := res.evaluate(scaleTargets[i])
		if !ev.ok || ev.value < tc.value-1e-9 || ev.value > tc.value+1e-9 || ev.pass != tc.pass || ev.need() != tc.need {
			t.Errorf("%s: ok %v value %v pass %v need %q; want value %v pass %v need %q", tc.target, ev.ok, ev.value, ev.pass, ev.need(), tc.value, tc.pass, tc.need)
		}
	}
}

func TestRetentionPlateauComparesTheLastThirdWithTheMiddleOne(t *testing.T) {
	e := &env{cfg: config{rounds: 1}, log: io.Discard}
	res := newResults()
	run := &retentionRun{Rate: 1000, Retention: "5s", Interval: "1s"}
	for i, rows := range []int64{1000, 2000, 3000, 4000, 5000, 6000, 6000, 5900, 6100} {
		run.Samples = append(run.Samples, retentionSample{AtS: float64(i + 1), WorkflowRows: rows, StepRows: rows, Ran: int64(1000 * (i + 1))})
	}
	recordRetention(e, res, 1, run)
	for name, want := range map[string]float64{
		"retention_plateau":           6100.0 / 6000,
		"retention_max_workflow_rows": 6100,
		"retention_end_workflow_rows": 6100,
		"retention_workflows_per_s":   1000,
	} {
		if got := res.get("wfgen", name).median(); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	ev := res.evaluate(retentionTargets[0])
	if !ev.pass || ev.need() != "≤ 1.1" {
		t.Errorf("plateau %v: pass %v need %q; want a pass at ≤ 1.1", ev.value, ev.pass, ev.need())
	}
}

func TestPlanCollectorKeepsTableNodesOfSqlcStatements(t *testing.T) {
	pc := &planCollector{plans: map[string][]statementPlan{}, workload: "batch"}
	pc.onNotice(nil, &pgconn.Notice{Message: `duration: 0.250 ms  plan:
{"Query Text": "-- name: DequeueWorkflows :many\nUPDATE x", "Plan": {"Node Type": "ModifyTable", "Operation": "Update", "Relation Name": "workflows", "Actual Rows": 2, "Actual Loops": 1, "Actual Total Time": 0.2, "Shared Hit Blocks": 40,
 "Plans": [{"Node Type": "Limit", "Actual Rows": 2, "Actual Loops": 1, "Plans": [
   {"Node Type": "Index Scan", "Index Name": "workflows_dequeue", "Relation Name": "workflows", "Actual Rows": 2, "Actual Loops": 1, "Actual Total Time": 0.1, "Shared Hit Blocks": 17, "Shared Read Blocks": 3},
   {"Node Type": "Index Scan", "Index Name": "executors_pkey", "Relation Name": "executors", "Actual Loops": 0}]}]}}`})
	pc.onNotice(nil, &pgconn.Notice{Message: `duration: 0.010 ms  plan:
{"Query Text": "SELECT 1", "Plan": {"Node Type": "Result", "Actual Loops": 1}}`})
	ps := pc.plans["batch/DequeueWorkflows"]
	if len(pc.plans) != 1 || len(ps) != 1 || pc.bad != 0 {
		t.Fatalf("plans %v, %d unreadable; want one DequeueWorkflows plan", pc.plans, pc.bad)
	}
	want := []string{
		"ModifyTable Update on workflows  rows=2 loops=1 time=0.200 ms buffers hit=40",
		"    Index Scan using workflows_dequeue on workflows  rows=2 loops=1 time=0.100 ms buffers hit=17 read=3",
	}
	if ps[0].DurationMS != 0.25 || ps[0].Workload != "batch" || !slices.Equal(ps[0].Nodes, want) {
		t.Errorf("got %v ms %q; want 0.25 ms %q", ps[0].DurationMS, ps[0].Nodes, want)
	}
}

func TestScaledLabelsAbbreviateRoundCounts(t *testing.T) {
	for n, want := range map[int]string{1_000_000: "1M", 100_000: "100k", 1500: "1500", 0: "0"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}

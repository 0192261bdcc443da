package compare

import (
	"math"
	"testing"
	"time"
)

func TestMedianTakesTheMiddleOrTheMeanOfTheTwoMiddleValues(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{7}, 7},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median(nil) is a number; want NaN")
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 0.1: time.Millisecond} {
		if got := percentile(ds, p); got != want {
			t.Errorf("percentile(1..100 ms, %v) = %v, want %v", p, got, want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile(nil) = %v, want 0", got)
	}
}

func TestStatementKindsNameSqlcQueriesAndStripSchemas(t *testing.T) {
	s := newStatementCounter("bench_x")
	for sql, want := range map[string]string{
		"-- name: DequeueWorkflows :many\n-- comment\nUPDATE bench_x.workflows SET ...": "DequeueWorkflows",
		"begin": "begin",
		"  -- leading comment\n  SELECT status\n  FROM \"bench_x\".workflow_status WHERE id = $1":                                      "SELECT status FROM workflow_status WHERE id = $1",
		"INSERT INTO bench_x.operation_outputs (workflow_uuid, function_id, output, error, function_name) VALUES ($1, $2, $3, $4, $5)": "INSERT INTO operation_outputs (workflow_uuid, function_id...",
	} {
		if got := s.kind(sql); got != want {
			t.Errorf("kind(%q) = %q, want %q", sql, got, want)
		}
	}
}

func TestTargetsCompareMediansAndReportEachRound(t *testing.T) {
	r := newResults()
	for _, v := range []float64{10, 30, 20} {
		r.add("wfgen", spec{name: "a"}, v)
	}
	for _, v := range []float64{10, 10, 40} {
		r.add("river", spec{name: "b"}, v)
	}
	ev := r.evaluate(target{num: [2]string{"wfgen", "a"}, den: [2]string{"river", "b"}, atLeast: 1})
	if !ev.ok || ev.value != 2 || !ev.pass {
		t.Errorf("ratio target = %+v, want value 2 (20/10), pass", ev)
	}
	if want := []float64{1, 3, 0.5}; len(ev.perRound) != 3 || ev.perRound[0] != want[0] || ev.perRound[1] != want[1] || ev.perRound[2] != want[2] {
		t.Errorf("per round = %v, want %v", ev.perRound, want)
	}
	if ev := r.evaluate(target{num: [2]string{"wfgen", "a"}, below: 20}); !ev.ok || ev.pass {
		t.Errorf("bound target = %+v, want measured, failing (20 is not below 20)", ev)
	}
	if ev := r.evaluate(target{num: [2]string{"wfgen", "a"}, den: [2]string{"dbos", "b"}, atLeast: 1}); ev.ok {
		t.Errorf("target on an unmeasured system = %+v, want not measured", ev)
	}
}

func TestALatencyPercentileIsTakenOverAllRoundsSamples(t *testing.T) {
	r := newResults()
	ms := func(vs ...int) []time.Duration {
		var ds []time.Duration
		for _, v := range vs {
			ds = append(ds, time.Duration(v)*time.Millisecond)
		}
		return ds
	}
	// Round p50s 1, 1 and 9 ms (median 1); over the nine samples, the fifth is 9 ms.
	for _, round := range [][]time.Duration{ms(9, 1, 1), ms(1, 9, 1), ms(9, 9, 9)} {
		r.addPercentile("wfgen", spec{name: "p50"}, 50, round)
	}
	m := r.get("wfgen", "p50")
	if m.median() != 1 || m.value() != 9 {
		t.Errorf("median of rounds %v, over all samples %v; want 1 and 9", m.median(), m.value())
	}
	if ev := r.evaluate(target{num: [2]string{"wfgen", "p50"}, below: 5}); ev.pass || ev.value != 9 {
		t.Errorf("bound target = %+v, want the value over all samples, 9, failing < 5", ev)
	}
}

func TestATargetWithEveryRoundFailsOnOneRoundBelowIt(t *testing.T) {
	r := newResults()
	for _, v := range []float64{16, 15, 11} {
		r.add("wfgen", spec{name: "a"}, v)
	}
	for _, v := range []float64{10, 10, 10} {
		r.add("river", spec{name: "b"}, v)
	}
	ev := r.evaluate(target{num: [2]string{"wfgen", "a"}, den: [2]string{"river", "b"}, atLeast: 1.5, everyRound: 1.2})
	if ev.value != 1.5 || ev.pass || ev.need() != "≥ 1.5, each round > 1.2" {
		t.Errorf("target = %+v (need %q), want value 1.5 failing: the third round is 1.1", ev, ev.need())
	}
}

func TestParseStatFindsFieldsAfterACommandWithSpacesAndParentheses(t *testing.T) {
	line := "4242 (postgres: x (y)) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 1 0 300 0 0\n"
	st, ok := parseStat(line)
	want := procStat{comm: "postgres: x (y)", ppid: 17, utime: 250, stime: 50, cutime: 7, cstime: 3}
	if !ok || st != want {
		t.Errorf("parseStat = %+v, %v; want %+v", st, ok, want)
	}
	if _, ok := parseStat("4242 (truncated"); ok {
		t.Error("parseStat accepted a line without fields")
	}
}

package wf_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wftest"
)

// benchmarkWorkflows enqueues n workflows of the given number of no-op steps in one batch
// and works them to completion with 100 concurrent workflows, b.N times. It reports
// workflows/s and steps/s; the comparison with River and DBOS lives in bench/.
func benchmarkWorkflows(b *testing.B, n, steps int) {
	ctx := context.Background()
	c := wftest.NewClient(b, wf.Config{})
	var ss []*wf.Step[struct{}]
	defs := []wf.Definition{wf.NewQueue(wf.DefaultQueue, wf.WorkerConcurrency(100))}
	for i := range steps {
		s := wf.NewStep[struct{}](fmt.Sprintf("noop-%d", i))
		ss = append(ss, s)
		defs = append(defs, s)
	}
	w := wf.NewWorkflow("noop", func(ctx wf.Context, _ int) (int, error) {
		for _, s := range ss {
			if _, err := s.Run(ctx, func(context.Context) (struct{}, error) { return struct{}{}, nil }); err != nil {
				return 0, err
			}
		}
		return 0, nil
	})
	if err := c.Register(append(defs, w)...); err != nil {
		b.Fatal(err)
	}
	wftest.Start(b, c)
	ins := make([]int, n)
	var elapsed time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		hs, err := w.EnqueueMany(ctx, c, ins)
		if err != nil {
			b.Fatal(err)
		}
		for _, h := range hs {
			if _, err := h.Result(ctx); err != nil {
				b.Fatal(err)
			}
		}
		elapsed += time.Since(start)
	}
	b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "workflows/s")
	b.ReportMetric(float64(n*steps*b.N)/elapsed.Seconds(), "steps/s")
}

func BenchmarkOneStepWorkflows(b *testing.B) { benchmarkWorkflows(b, 5000, 1) }
func BenchmarkTenStepWorkflows(b *testing.B) { benchmarkWorkflows(b, 1000, 10) }

package wfprom_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wfprom"
	"github.com/wfgen/wfgen/runtime/wftest"
)

func TestMain(m *testing.M) { wftest.Main(m) }

func TestMetricsCountWorkflowsStepsCheckpointsAndQueues(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := wfprom.New()
	c := wftest.NewClient(t, wf.Config{Hooks: m})
	m.Watch(c)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(m))

	step := wf.NewStep[int]("prom.step", wf.MaxAttempts(2), wf.Backoff(time.Millisecond))
	w := wf.NewWorkflow("prom.Work", func(ctx wf.Context, n int) (int, error) {
		tries := 0
		return step.Run(ctx, func(context.Context) (int, error) {
			tries++
			if n < 0 && tries == 1 {
				return 0, errors.New("first try fails")
			}
			if n == 0 {
				return 0, errors.New("always fails")
			}
			return n, nil
		})
	})
	require.NoError(t, c.Register(step, w))
	wftest.Start(t, c)
	for _, n := range []int{1, 2, -1, 0} {
		h, err := w.Enqueue(ctx, c, n)
		require.NoError(t, err)
		_, _ = h.Result(ctx)
	}
	_, err := wf.NewWorkflow("prom.Nobody", func(ctx wf.Context, n int) (int, error) { return n, nil }).Enqueue(ctx, c, 1, wf.WithQueue("idle"), wf.WithDelay(time.Hour))
	require.NoError(t, err)

	expected := `
# HELP wfgen_executors_alive Executors renewing their lease.
# TYPE wfgen_executors_alive gauge
wfgen_executors_alive 1
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(expected), "wfgen_executors_alive"))
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP wfgen_queue_workflows Unfinished workflows of each queue, by state (enqueued, delayed, unrunnable, running).
# TYPE wfgen_queue_workflows gauge
wfgen_queue_workflows{queue="idle",state="delayed"} 1
wfgen_queue_workflows{queue="idle",state="enqueued"} 0
wfgen_queue_workflows{queue="idle",state="running"} 0
wfgen_queue_workflows{queue="idle",state="unrunnable"} 0
`), "wfgen_queue_workflows"))

	// A workflow's result is visible once its completion is committed; the execution's end
	// hook runs just after. Stop waits for every execution to return, so every hook has run.
	require.NoError(t, c.Stop(ctx))
	require.Equal(t, 3.0, testutil.ToFloat64(m.WorkflowExecutions("prom.Work", "succeeded")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.WorkflowExecutions("prom.Work", "failed")))
	require.Equal(t, 3.0, testutil.ToFloat64(m.StepAttempts("prom.step", "ok")))
	require.Equal(t, 3.0, testutil.ToFloat64(m.StepAttempts("prom.step", "error")))

	families, err := reg.Gather()
	require.NoError(t, err)
	seen := map[string]uint64{}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			if h := mt.GetHistogram(); h != nil {
				seen[f.GetName()] += h.GetSampleCount()
			}
		}
	}
	require.EqualValues(t, 4, seen["wfgen_enqueue_to_start_seconds"])
	require.Positive(t, seen["wfgen_checkpoint_batch_size"])
	require.Positive(t, seen["wfgen_checkpoint_commit_seconds"])
	require.EqualValues(t, 4, seen["wfgen_workflow_execution_seconds"])
}

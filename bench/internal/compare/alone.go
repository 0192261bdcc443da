package compare

import (
	"context"
	"fmt"
	"time"

	"github.com/dbos-inc/dbos-transact-golang/dbos"

	"github.com/wfgen/wfgen/runtime/wf"
)

// The "one workflow alone" phases run multi-step workflows one after another, each started
// in the calling process and waited for: the latency a lightly loaded service sees, where
// every checkpoint holds one step and each step waits for the one before it to be written.
// wfgen's Workflow.Start and DBOS's RunWorkflow both run the workflow here and now, without
// a queue, so neither system's queue polling or notification path is in the figure.

// wfgenAlone times n workflows of the given number of no-op steps, one at a time, from
// Start to Result.
func wfgenAlone(ctx context.Context, e *env, n, steps int) (_ []time.Duration, err error) {
	noop := wf.NewStep[struct{}]("noop")
	flow := wf.NewWorkflow("bench_alone", func(ctx wf.Context, in benchInput) (struct{}, error) {
		for range steps {
			if _, err := noop.Run(ctx, noopStep); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, nil
	}, wf.WorkflowQueue(wfgenQueue))
	w, err := startWfgen(ctx, e, flow, noop)
	if err != nil {
		return nil, err
	}
	defer func() {
		if stopErr := w.stop(); err == nil && stopErr != nil {
			err = fmt.Errorf("stopping wfgen: %w", stopErr)
		}
	}()
	e.settle(ctx)
	return timeAlone(n, func(i int) error {
		h, err := flow.Start(ctx, w.c, benchInput{Seq: i})
		if err != nil {
			return err
		}
		_, err = h.Result(ctx)
		return err
	})
}

// dbosAlone is wfgenAlone on DBOS: RunWorkflow, then GetResult.
func dbosAlone(ctx context.Context, e *env, n, steps int) (_ []time.Duration, err error) {
	d, err := newDBOS(ctx, e)
	if err != nil {
		return nil, err
	}
	defer func() {
		if stopErr := d.stop(); err == nil && stopErr != nil {
			err = stopErr
		}
	}()
	flow := func(ctx dbos.Context, in benchInput) (struct{}, error) {
		for range steps {
			if _, err := dbos.RunAsStep(ctx, noopStep, dbos.WithStepName("noop")); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, nil
	}
	dbos.RegisterWorkflow(d.ctx, flow, dbos.WithWorkflowName("bench_alone"))
	if err := dbos.Launch(d.ctx); err != nil {
		return nil, fmt.Errorf("launching DBOS: %w", err)
	}
	e.settle(ctx)
	return timeAlone(n, func(i int) error {
		h, err := dbos.RunWorkflow(d.ctx, flow, benchInput{Seq: i})
		if err != nil {
			return err
		}
		_, err = h.GetResult()
		return err
	})
}

// aloneWarmUp is how many workflows each "alone" phase runs before it times any: the first
// executions on each new connection prepare and plan their statements.
const aloneWarmUp = 10

// timeAlone runs aloneWarmUp workflows untimed, then run(0) to run(n-1) one after another,
// and returns how long each of those took.
func timeAlone(n int, run func(i int) error) ([]time.Duration, error) {
	for i := range aloneWarmUp {
		if err := run(n + i); err != nil {
			return nil, err
		}
	}
	took := make([]time.Duration, 0, n)
	for i := range n {
		began := time.Now()
		if err := run(i); err != nil {
			return nil, err
		}
		took = append(took, time.Since(began))
	}
	return took, nil
}

package compare

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/wfgen/wfgen/runtime/wf"
)

// fanoutOutcome is what the fan-out phase measured, each from the parent's Enqueue call.
type fanoutOutcome struct {
	n         int
	inserted  time.Duration // EnqueueChildren returned in the parent: all children stored
	allRan    time.Duration // every child's step ran (in this process)
	childDone time.Duration // Postgres shows every child succeeded
	parent    time.Duration // Postgres shows the parent succeeded: it awaited every child
	cost      cost
	waits     *waitSamples // what the worker's connections waited for
}

// fanout enqueues one workflow that starts n one-step children with one EnqueueChildren
// call and awaits them all with one AwaitAll, on one worker with the usual WorkerConcurrency (the
// parent holds one of its slots while it awaits, and gives it back when a wait is long).
func fanout(ctx context.Context, e *env, n int) (o fanoutOutcome, err error) {
	o.n = n
	done := newCountdown(n)
	var insertedOnce sync.Once
	inserted := make(chan time.Time, 1)
	noop := wf.NewStep[struct{}]("noop")
	child := wf.NewWorkflow("bench_child", func(ctx wf.Context, in benchInput) (struct{}, error) {
		_, err := noop.Run(ctx, noopStep)
		if err == nil {
			done.tick()
		}
		return struct{}{}, err
	}, wf.WorkflowQueue(wfgenQueue))
	parent := wf.NewWorkflow("bench_parent", func(ctx wf.Context, in benchInput) (struct{}, error) {
		ins := make([]benchInput, in.Seq)
		for i := range ins {
			ins[i].Seq = i
		}
		hs, err := child.EnqueueChildren(ctx, ins)
		if err != nil {
			return struct{}{}, err
		}
		insertedOnce.Do(func() { inserted <- time.Now() })
		_, err = wf.AwaitAll(ctx, hs)
		return struct{}{}, err
	}, wf.WorkflowQueue(wfgenQueue))
	w, err := startWfgenConfigured(ctx, e, func(*wf.Config) {}, parent, child, noop)
	if err != nil {
		return o, err
	}
	defer func() {
		if stopErr := w.stop(); err == nil && stopErr != nil {
			err = fmt.Errorf("stopping wfgen: %w", stopErr)
		}
	}()

	e.settle(ctx)
	r0, err := e.probe.read(ctx, w.stmts)
	if err != nil {
		return o, err
	}
	samples, stopSampling, err := sampleWaits(ctx, e.url, 50*time.Millisecond)
	if err != nil {
		return o, err
	}
	defer stopSampling()
	start := time.Now()
	h, err := parent.Enqueue(ctx, w.c, benchInput{Seq: n})
	if err != nil {
		return o, fmt.Errorf("enqueueing the parent: %w", err)
	}
	select {
	case t := <-inserted:
		o.inserted = t.Sub(start)
	case <-ctx.Done():
		return o, fmt.Errorf("the parent did not enqueue its children: %w", ctx.Err())
	}
	select {
	case <-done.done:
		o.allRan = time.Since(start)
	case <-ctx.Done():
		return o, fmt.Errorf("%d of %d children ran: %w", done.ran.Load(), n, ctx.Err())
	}
	finished, err := e.waitForCount(ctx, "SELECT count(*) FROM "+wfgenSchema+".workflows WHERE name = 'bench_child' AND state = 'succeeded'", int64(n))
	if err != nil {
		return o, err
	}
	o.childDone = finished.Sub(start)
	finished, err = e.waitForCount(ctx, "SELECT count(*) FROM "+wfgenSchema+".workflows WHERE id = '"+h.ID()+"' AND state = 'succeeded'", 1)
	if err != nil {
		return o, fmt.Errorf("waiting for the parent: %w", err)
	}
	o.parent = finished.Sub(start)
	r1, err := e.probe.read(ctx, w.stmts)
	if err != nil {
		return o, err
	}
	if err := stopSampling(); err != nil {
		return o, fmt.Errorf("sampling pg_stat_activity: %w", err)
	}
	o.waits = samples
	o.cost = r1.since(r0)
	return o, nil
}

func runFanout(ctx context.Context, e *env, res *results) error {
	o, err := fanout(ctx, e, e.cfg.extra.fanoutN)
	if err != nil {
		return fmt.Errorf("fan-out: %w", err)
	}
	fmt.Fprintf(e.log, "fan-out: one parent, %d children: all stored after %s, all ran after %s, all succeeded after %s (%.0f children/s), the parent succeeded after %s\n",
		o.n, o.inserted.Round(time.Millisecond), o.allRan.Round(time.Millisecond), o.childDone.Round(time.Millisecond),
		float64(o.n)/o.childDone.Seconds(), o.parent.Round(time.Millisecond))
	fmt.Fprintf(e.log, "fan-out: active worker connections %.1f on average: %s\n", o.waits.mean(), o.waits.top(5))
	add := func(name, label, unit string, v float64) {
		res.add("wfgen", spec{name: "fanout_" + name, label: label, unit: unit, lower: unit == "s"}, v)
	}
	add("children_stored_s", fmt.Sprintf("fan-out: parent's Enqueue → its %d children stored", o.n), "s", o.inserted.Seconds())
	add("children_done_s", "fan-out: parent's Enqueue → all children succeeded", "s", o.childDone.Seconds())
	add("children_per_s", "fan-out: children succeeded per second", "workflows/s", float64(o.n)/o.childDone.Seconds())
	add("parent_done_s", "fan-out: parent's Enqueue → parent succeeded (AwaitAll of every child)", "s", o.parent.Seconds())
	addShares(res, "fanout", o.waits)
	res.addCost(costPhase{"wfgen", "fanout", "fan-out, per child", "workflow"}, o.cost, o.n)
	return nil
}

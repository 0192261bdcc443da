package compare

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wfgen/wfgen/runtime/wf"
)

// How a workflow of the waiting phase waits for the common instant.
const (
	waitSleep       = iota // wf.Sleep until the instant
	waitRecvTimeout        // Topic.Recv with a timeout that ends at the instant; no message comes
	waitRecvSend           // Topic.Recv with a long timeout; the harness sends it a message at the instant
	waitKinds
)

var waitKindNames = [waitKinds]string{"Sleep", "Recv, timing out", "Recv, woken by Send"}

// waitInput is the input of a waiting workflow.
type waitInput struct {
	Seq  int   `json:"seq"`
	Kind int   `json:"kind"`
	At   int64 `json:"at"` // the instant to wait for, Unix nanoseconds
}

// waitKind spreads n workflows over the kinds: half sleep, a quarter each wait in Recv.
func waitKind(seq int) int {
	switch seq % 4 {
	case 0, 1:
		return waitSleep
	case 2:
		return waitRecvTimeout
	default:
		return waitRecvSend
	}
}

// waitsOutcome is what the waiting phase measured.
type waitsOutcome struct {
	n                int
	enqueue          time.Duration // the EnqueueMany call
	allWaiting       time.Duration // from the enqueue to every workflow suspended; -1 if they were not all by the instant
	suspended        int           // workflows suspended when the memory was read
	lead             time.Duration // from the enqueue to the instant
	idle, waiting    memory        // the started worker before the enqueue, and with all n waiting
	running, delayed int           // QueueDepths while all wait: running must be 0
	late             [waitKinds][]time.Duration
	allRan           time.Duration // from the instant until the step after the wait ran in every workflow
	allDone          time.Duration // from the instant until Postgres shows all n succeeded
	sends            time.Duration // from the instant until the last Send returned
	sleep            cost          // from the enqueue's return until all suspended (when they all were)
	wake             cost          // from the instant to allDone
	waits            *waitSamples  // what the worker's connections waited for, from the instant to allDone
}

// waits enqueues n workflows that wait together, half in Sleep and half in Recv, until one
// instant, on one worker with the usual WorkerConcurrency; measures the process while they
// all wait, then how late each wakes: the time from the instant to the start of the step
// after its wait.
func waits(ctx context.Context, e *env, n int) (o waitsOutcome, err error) {
	o.n = n
	lateNs := make([]atomic.Int64, n)
	done := newCountdown(n)
	topic := wf.NewTopic[int]("bench_wake")
	woke := wf.NewStep[struct{}]("woke")
	flow := wf.NewWorkflow("bench_wait", func(ctx wf.Context, in waitInput) (struct{}, error) {
		at := time.Unix(0, in.At)
		var err error
		switch in.Kind {
		case waitSleep:
			err = wf.Sleep(ctx, time.Until(at))
		case waitRecvTimeout:
			_, _, err = topic.Recv(ctx, time.Until(at))
		default:
			_, _, err = topic.Recv(ctx, time.Until(at)+10*time.Minute)
		}
		if err != nil {
			return struct{}{}, err
		}
		_, err = woke.Run(ctx, func(context.Context) (struct{}, error) {
			if lateNs[in.Seq].CompareAndSwap(0, max(int64(time.Since(at)), 1)) {
				done.tick()
			}
			return struct{}{}, nil
		})
		return struct{}{}, err
	}, wf.WorkflowQueue(wfgenQueue))
	w, err := startWfgenConfigured(ctx, e, func(c *wf.Config) { c.SuspendAfter = e.cfg.extra.waitsSuspendAfter }, flow, woke, topic)
	if err != nil {
		return o, err
	}
	defer func() {
		if stopErr := w.stop(); err == nil && stopErr != nil {
			err = fmt.Errorf("stopping wfgen: %w", stopErr)
		}
	}()
	o.idle = readMemory()

	lead := e.cfg.extra.waitsLead
	if lead == 0 {
		// Going to sleep took 46 s for 100,000 on the 2-core dev server (fsync off).
		lead = 30*time.Second + time.Duration(n)*900*time.Microsecond
	}
	o.lead = lead
	e.settle(ctx)
	start := time.Now()
	at := start.Add(lead)
	ins := make([]waitInput, n)
	for i := range ins {
		ins[i] = waitInput{Seq: i, Kind: waitKind(i), At: at.UnixNano()}
	}
	hs, err := flow.EnqueueMany(ctx, w.c, ins)
	if err != nil {
		return o, fmt.Errorf("enqueueing: %w", err)
	}
	o.enqueue = time.Since(start)
	s0, err := e.probe.read(ctx, w.stmts)
	if err != nil {
		return o, err
	}
	// Keep only the IDs the sends need, so that the memory read below is the runtime's.
	sendTo := make([]string, 0, n/4+1)
	for i, h := range hs {
		if waitKind(i) == waitRecvSend {
			sendTo = append(sendTo, h.ID())
		}
	}
	hs, ins = nil, nil
	fmt.Fprintf(e.log, "waits: %d workflows enqueued in %s; they wait until %s from now\n", n, o.enqueue.Round(time.Millisecond), time.Until(at).Round(time.Millisecond))

	// Every workflow runs once to its wait and suspends: it is back in its queue, with
	// waiting_for set, and holds no slot.
	suspended := "SELECT count(*) FROM " + wfgenSchema + ".workflows WHERE state = 'enqueued' AND waiting_for IS NOT NULL"
	for {
		var got int
		if err := e.mon.QueryRow(ctx, suspended).Scan(&got); err != nil {
			return o, fmt.Errorf("counting suspended workflows: %w", err)
		}
		o.suspended = got
		if got == n {
			o.allWaiting = time.Since(start)
			s1, err := e.probe.read(ctx, w.stmts)
			if err != nil {
				return o, err
			}
			o.sleep = s1.since(s0)
			o.sleep.wall = o.allWaiting - o.enqueue
			break
		}
		if time.Until(at) < 2*time.Second {
			// Measure what there is; the report says how many were not waiting yet.
			o.allWaiting = -1
			fmt.Fprintf(e.log, "waits: warning: only %d of %d workflows were waiting 2 s before the instant they wait for: the figures below count the others still running to their wait; raise -waits-lead (it was %s)\n", got, n, lead)
			break
		}
		select {
		case <-ctx.Done():
			return o, ctx.Err()
		case <-time.After(250 * time.Millisecond): // the count reads every row: not too often
		}
	}
	if o.allWaiting > 0 {
		fmt.Fprintf(e.log, "waits: all %d suspended %s after the enqueue\n", n, o.allWaiting.Round(time.Millisecond))
	}
	// Let the suspensions' garbage go before reading the memory.
	time.Sleep(min(time.Second, time.Until(at)/4))
	o.waiting = readMemory()
	depths, err := w.c.QueueDepths(ctx)
	if err != nil {
		return o, err
	}
	for _, d := range depths {
		o.running += d.Running
		o.delayed += d.Delayed
	}
	fmt.Fprintf(e.log, "waits: while waiting: %s; QueueDepths: %d running, %d delayed\n", o.waiting, o.running, o.delayed)

	r0, err := e.probe.read(ctx, w.stmts)
	if err != nil {
		return o, err
	}
	select {
	case <-time.After(time.Until(at)):
	case <-ctx.Done():
		return o, ctx.Err()
	}
	samples, stopSampling, err := sampleWaits(ctx, e.url, 50*time.Millisecond)
	if err != nil {
		return o, err
	}
	defer stopSampling()
	// Wake the third kind, from 10 goroutines through the worker's own client: each takes
	// the next -waits-send-batch messages and sends them with one SendMany (or, for a batch
	// of 1, one Send).
	batch := max(e.cfg.extra.waitsSendBatch, 1)
	var next atomic.Int64
	var wg sync.WaitGroup
	sendErrs := make([]error, 10)
	for g := range sendErrs {
		wg.Go(func() {
			for {
				from := int(next.Add(int64(batch))) - batch
				if from >= len(sendTo) {
					return
				}
				var err error
				if batch == 1 {
					err = topic.Send(ctx, w.c, sendTo[from], from)
				} else {
					msgs := make([]wf.Outgoing[int], 0, batch)
					for i := from; i < min(from+batch, len(sendTo)); i++ {
						msgs = append(msgs, wf.Outgoing[int]{To: sendTo[i], Msg: i})
					}
					err = topic.SendMany(ctx, w.c, msgs)
				}
				if err != nil {
					sendErrs[g] = err
					return
				}
			}
		})
	}
	wg.Wait()
	o.sends = time.Since(at)
	for _, err := range sendErrs {
		if err != nil {
			return o, fmt.Errorf("sending: %w", err)
		}
	}
	select {
	case <-done.done:
	case <-ctx.Done():
		return o, fmt.Errorf("%d of %d woke: %w", done.ran.Load(), n, ctx.Err())
	}
	o.allRan = time.Since(at)
	finished, err := e.waitForCount(ctx, "SELECT count(*) FROM "+wfgenSchema+".workflows WHERE state = 'succeeded'", int64(n))
	if err != nil {
		return o, err
	}
	o.allDone = finished.Sub(at)
	r1, err := e.probe.read(ctx, w.stmts)
	if err != nil {
		return o, err
	}
	if err := stopSampling(); err != nil {
		return o, fmt.Errorf("sampling pg_stat_activity: %w", err)
	}
	o.waits = samples
	o.wake = r1.since(r0)
	o.wake.wall = o.allDone
	for i := range lateNs {
		k := waitKind(i)
		o.late[k] = append(o.late[k], time.Duration(lateNs[i].Load()))
	}
	return o, nil
}

func runWaits(ctx context.Context, e *env, res *results) error {
	o, err := waits(ctx, e, e.cfg.extra.waitsN)
	if err != nil {
		return fmt.Errorf("waits: %w", err)
	}
	var all []time.Duration
	for k := range waitKinds {
		all = append(all, o.late[k]...)
	}
	fmt.Fprintf(e.log, "waits: %d woke: lateness min %s, p50 %s, p99 %s, max %s; the step after the wait ran in all %s after the instant, all succeeded after %s (%.0f workflows/s); sends (%d messages per call) done after %s\n",
		o.n, slices.Min(all).Round(time.Millisecond), percentile(all, 50).Round(time.Millisecond), percentile(all, 99).Round(time.Millisecond), percentile(all, 100).Round(time.Millisecond),
		o.allRan.Round(time.Millisecond), o.allDone.Round(time.Millisecond), float64(o.n)/o.allDone.Seconds(), max(e.cfg.extra.waitsSendBatch, 1), o.sends.Round(time.Millisecond))
	fmt.Fprintf(e.log, "waits: while waking, active worker connections %.1f on average: %s\n", o.waits.mean(), o.waits.top(5))
	add := func(name, label, unit string, v float64) {
		res.add("wfgen", spec{name: "waits_" + name, label: label, unit: unit, lower: unit != "workflows/s"}, v)
	}
	mib := func(kib int64) float64 { return float64(kib) / 1024 }
	add("enqueue_s", fmt.Sprintf("waits: EnqueueMany of %d waiting workflows", o.n), "s", o.enqueue.Seconds())
	if o.allWaiting > 0 {
		add("all_waiting_s", "waits: enqueue → all suspended (each ran to its wait)", "s", o.allWaiting.Seconds())
	}
	add("suspended", "waits: workflows suspended when memory was read", "workflows", float64(o.suspended))
	add("idle_rss_mib", "waits: process RSS, worker idle before the enqueue", "MiB", mib(o.idle.rssKiB))
	add("rss_mib", fmt.Sprintf("waits: process RSS, %d workflows waiting", o.n), "MiB", mib(o.waiting.rssKiB))
	add("idle_heap_mib", "waits: Go heap live, worker idle before the enqueue", "MiB", mib(o.idle.heapKiB))
	add("heap_mib", fmt.Sprintf("waits: Go heap live, %d workflows waiting", o.n), "MiB", mib(o.waiting.heapKiB))
	add("idle_goroutines", "waits: goroutines, worker idle before the enqueue", "goroutines", float64(o.idle.goroutines))
	add("goroutines", fmt.Sprintf("waits: goroutines, %d workflows waiting", o.n), "goroutines", float64(o.waiting.goroutines))
	add("running", "waits: workflows holding a slot while all wait (QueueDepths)", "workflows", float64(o.running))
	add("late_min_ms", "waits: wake lateness min, all kinds", "ms", ms(slices.Min(all)))
	add("late_p50_ms", "waits: wake lateness p50, all kinds", "ms", ms(percentile(all, 50)))
	add("late_p99_ms", "waits: wake lateness p99, all kinds", "ms", ms(percentile(all, 99)))
	add("late_max_ms", "waits: wake lateness max, all kinds", "ms", ms(percentile(all, 100)))
	for k, name := range []string{"sleep", "recv_timeout", "recv_send"} {
		add("late_"+name+"_p50_ms", "waits: wake lateness p50, "+waitKindNames[k], "ms", ms(percentile(o.late[k], 50)))
		add("late_"+name+"_p99_ms", "waits: wake lateness p99, "+waitKindNames[k], "ms", ms(percentile(o.late[k], 99)))
	}
	add("all_done_s", "waits: instant → all succeeded", "s", o.allDone.Seconds())
	add("wake_per_s", "waits: workflows woken and finished per second", "workflows/s", float64(o.n)/o.allDone.Seconds())
	addShares(res, "waits_wake", o.waits)
	if o.allWaiting > 0 {
		res.addCost(costPhase{"wfgen", "waits_sleep", "going to sleep (claim, run to the wait, suspend)", "workflow"}, o.sleep, o.n)
	}
	res.addCost(costPhase{"wfgen", "waits_wake", "waking at one instant", "workflow"}, o.wake, o.n)
	return nil
}

package wf

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wfgen/wfgen/runtime/internal/db"
)

// Debounce enqueues a run of the workflow that starts only once no call with the same key
// has come for period, or maxDelay after the first call at the latest (0: no limit): a burst
// of calls (a user typing, a stream of change events) starts one run, with the last call's
// input. Each call returns the handle of that one pending run. A call that comes after the
// run has started debounces a new run.
//
// Keys are per workflow. Of opts, WithQueue, WithPriority, WithPartitionKey and WithTimeout
// apply (the first call's, except the input, which every call replaces); WithID,
// WithDedupID and the delays are refused: the key names the run and period delays it.
// Each call costs one statement (an insert, or an update of the pending run).
func (w *Workflow[In, Out]) Debounce(ctx context.Context, c *Client, key string, in In, period, maxDelay time.Duration, opts ...EnqueueOption) (*Handle[Out], error) {
	switch {
	case strings.TrimSpace(key) == "":
		return nil, errors.New("wf: Debounce: empty key: give the key that groups the calls to debounce")
	case period <= 0:
		return nil, fmt.Errorf("wf: Debounce: period %s is not positive: it is how long the run waits for another call", period)
	case maxDelay < 0:
		return nil, fmt.Errorf("wf: Debounce: max delay %s is negative: use 0 for no limit", maxDelay)
	}
	o := w.enqueueOptions(opts)
	if o.id != "" || o.dedupID != "" || o.delay != 0 {
		return nil, errors.New("wf: Debounce: WithID, WithDedupID, WithDelay and WithStartAt do not apply: the key names the run and period delays it")
	}
	r, err := w.request(in, o)
	if err != nil {
		return nil, err
	}
	row, err := c.q.DebounceWorkflow(ctx, db.DebounceWorkflowParams{
		ID: r.id, Name: r.name, Queue: r.queue, Priority: r.priority, PartitionKey: r.partitionKey,
		Input: []byte(r.input), MaxRecoveries: r.maxRecoveries, TimeoutMs: r.timeoutMs,
		PeriodMs: period.Milliseconds(), MaxDelayMs: maxDelay.Milliseconds(), DebounceKey: key,
		StepsExpected: r.stepsExpected,
	})
	if err != nil {
		return nil, c.dbError("debouncing workflow", err)
	}
	c.announcer.Enqueued(r.queue, max(time.Until(row.AvailableAt).Milliseconds(), 1))
	return w.Get(c, row.ID), nil
}

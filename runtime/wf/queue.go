package wf

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wfgen/wfgen/runtime/internal/db"
	"github.com/wfgen/wfgen/runtime/internal/dbschema"
	"github.com/wfgen/wfgen/runtime/internal/fetcher"
)

// DefaultWorkerConcurrency is how many workflows of one queue a process runs at once.
const DefaultWorkerConcurrency = 100

// partitionScan is how many available workflows a claim of a partitioned queue reads from
// the queue's head, at least (ten per free slot beyond that). When they hold fewer it may
// start than it wants, it visits the queue's partitions instead, one index probe each
// (DequeuePartitioned). A smaller head makes that visit more frequent; a larger one costs
// every such claim more reading: behind 100,000 waiting workflows of a partition at its
// limit, another tenant's workflow ran from Enqueue to Result in 7.3 ms with a head of
// 1,000, 3.0 to 3.5 ms with 200, and 2.8 to 3.0 ms with no backlog
// (BenchmarkATenantBehindABusyTenant; 326 ms when claims read the queue in order until
// they found enough).
const partitionScan = 200

// Queue is a named queue of workflows, declared in code. Every worker that registers a
// queue (or a workflow whose default queue it is) works it; a queue nobody declares works
// with the defaults.
//
// Workflows leave a queue in order: lower priority first, then by the time they became
// available (enqueue time, or the end of their delay), then in enqueue order. Under a
// backlog, a worker claims from just after the last workflow it claimed (a claim from the
// queue's head would walk the index entries of every workflow claimed since the last
// VACUUM): a workflow that becomes available behind that position, such as one handed back
// keeping its place, waits at most Config.PollInterval for the claim that reads the queue
// from its head. The limits are:
//
//   - WorkerConcurrency: per process, in memory;
//   - GlobalConcurrency: across all replicas, counted in PostgreSQL;
//   - RateLimit: starts per period across all replicas, counted in PostgreSQL;
//   - PartitionConcurrency: running workflows per partition key, across all replicas.
//
// The global limits serialize the dequeues of the queue on a lock of its row (each dequeue
// claims a batch, so this costs little). Every replica should declare a queue alike; during
// a rolling deploy each applies its own declaration.
type Queue struct {
	name                 string
	workerConcurrency    int
	concurrency          int
	rateLimit            int
	ratePeriod           time.Duration
	partitionConcurrency int
}

// QueueOption configures a queue (NewQueue).
type QueueOption func(*Queue)

// WorkerConcurrency caps how many of the queue's workflows one process runs at once
// (a workflow whose code returned and whose completion is being written no longer counts).
// Default DefaultWorkerConcurrency.
func WorkerConcurrency(n int) QueueOption {
	return func(q *Queue) { q.workerConcurrency = n }
}

// GlobalConcurrency caps how many of the queue's workflows run at once across all replicas.
// Default: no cap.
func GlobalConcurrency(n int) QueueOption {
	return func(q *Queue) { q.concurrency = n }
}

// RateLimit caps how many of the queue's workflows start within any window of length per,
// across all replicas (a sliding window). Default: no cap.
func RateLimit(n int, per time.Duration) QueueOption {
	return func(q *Queue) { q.rateLimit, q.ratePeriod = n, per }
}

// PartitionConcurrency caps how many workflows of one partition (WithPartitionKey) run at
// once across all replicas: PartitionConcurrency(1) runs one workflow per tenant at a time.
// Workflows without a partition key are not capped, and do not wait behind a backlog of
// partitions at their limit either: once a worker has declared the queue partitioned, they
// are enqueued with the empty key (their Status shows none), whose partition has no limit,
// and the worker's Start gives that key to those that waited without one before. Default:
// no cap.
func PartitionConcurrency(n int) QueueOption {
	return func(q *Queue) { q.partitionConcurrency = n }
}

// NewQueue declares a queue. It panics on an empty name or invalid options.
func NewQueue(name string, opts ...QueueOption) *Queue {
	if strings.TrimSpace(name) == "" {
		panic("wf: NewQueue: empty name")
	}
	q := &Queue{name: name, workerConcurrency: DefaultWorkerConcurrency}
	for _, opt := range opts {
		opt(q)
	}
	switch {
	case q.workerConcurrency < 1:
		panic(fmt.Sprintf("wf: NewQueue(%q): WorkerConcurrency must be at least 1", name))
	case q.concurrency < 0 || q.partitionConcurrency < 0 || q.rateLimit < 0:
		panic(fmt.Sprintf("wf: NewQueue(%q): limits must not be negative", name))
	case q.rateLimit > 0 && q.ratePeriod <= 0:
		panic(fmt.Sprintf("wf: NewQueue(%q): RateLimit needs a positive period", name))
	}
	return q
}

// limited reports whether the queue has a limit enforced in PostgreSQL.
func (q *Queue) limited() bool {
	return q.concurrency > 0 || q.rateLimit > 0 || q.partitionConcurrency > 0
}

func optional[T int32 | int64](v T) *T {
	if v == 0 {
		return nil
	}
	return &v
}

// upsertParams is the queue's row in the queues table.
func (q *Queue) upsertParams() db.UpsertQueueParams {
	return db.UpsertQueueParams{
		Name:                 q.name,
		Concurrency:          optional(int32(q.concurrency)),
		RateLimit:            optional(int32(q.rateLimit)),
		RatePeriodMs:         optional(q.ratePeriod.Milliseconds()),
		PartitionConcurrency: optional(int32(q.partitionConcurrency)),
	}
}

// Name returns the queue's name.
func (q *Queue) Name() string { return q.name }

func (q *Queue) register(c *Client) error {
	if prev, dup := c.queues[q.name]; dup && prev != q {
		return fmt.Errorf("wf: queue %q registered twice", q.name)
	}
	c.queues[q.name] = q
	return nil
}

// undeclaredQueueWarning is logged by Start for each queue that registered workflows name
// and no registered Queue declares.
const undeclaredQueueWarning = "wfgen: a workflow's queue is declared by no registered wf.Queue: serving it with the defaults, without limits"

// servedQueues returns the queues this worker works: those registered, and the default
// queues of registered workflows, by name. It warns, once per queue, about a workflow's
// queue (other than DefaultQueue) that no registered Queue declares: it is served with the
// defaults, which silently drops the limits of a queue declared under another name (a typo).
func (c *Client) servedQueues() []*Queue {
	qs := map[string]*Queue{}
	for name, q := range c.queues {
		qs[name] = q
	}
	undeclared := map[string][]string{} // queue -> the workflows whose default queue it is
	for _, w := range c.workflows {
		if qs[w.opts.queue] == nil {
			qs[w.opts.queue] = NewQueue(w.opts.queue)
		}
		if c.queues[w.opts.queue] == nil && w.opts.queue != DefaultQueue {
			undeclared[w.opts.queue] = append(undeclared[w.opts.queue], w.name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(undeclared)) {
		declared := slices.Sorted(maps.Keys(c.queues))
		c.log.Warn(undeclaredQueueWarning, "queue", name, "workflows", slices.Sorted(slices.Values(undeclared[name])),
			"declared_queues", declared, "fix", "register the wf.Queue that declares it (wf.NewQueue), or correct the workflow's queue name")
	}
	out := make([]*Queue, 0, len(qs))
	for _, q := range qs {
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b *Queue) int { return strings.Compare(a.name, b.name) })
	return out
}

// wakeQueue makes this process's worker of a queue look for work now.
func (c *Client) wakeQueue(queue string) {
	for _, w := range c.workerList() {
		if w.q.name == queue {
			w.loop.Kick()
		}
	}
}

// queueWorker claims work from one queue for this process and runs it. Its fetch loop
// (package fetcher) decides when to fetch; the worker does the fetching and counts the slots.
type queueWorker struct {
	c         *Client
	q         *Queue
	params    db.DequeueWorkflowsParams
	running   atomic.Int32 // executions whose workflow code runs
	unwritten atomic.Int32 // executions whose code returned, until their completion is written
	loop      *fetcher.Fetcher

	// Where the next claim reads the queue from, and when a claim last read it from its
	// head (see claim). Only the fetch loop uses them.
	from     queuePosition
	fromHead time.Time
}

// queuePosition is a workflow's place in its queue's order. The zero position is before
// every workflow of priority 0 or more.
type queuePosition struct {
	priority int32
	at       time.Time
	seq      int64
}

func (p queuePosition) after(o queuePosition) bool { return p.compare(o) > 0 }

// compare orders positions as the queue does: -1 if p comes before o, +1 if after.
func (p queuePosition) compare(o queuePosition) int {
	return cmp.Or(cmp.Compare(p.priority, o.priority), p.at.Compare(o.at), cmp.Compare(p.seq, o.seq))
}

// claim claims up to n workflows with DequeueWorkflows, read from just after the last one
// the previous claim took while claims keep finding as many as they ask for: the entries of
// the workflows claimed before stay in the dequeue index until VACUUM, and a claim that
// read the queue from its head would walk all of them. It reads from the head again when a
// claim finds fewer than it asked for (the queue is drained up to where the workflows are
// not yet due: nothing is left behind) and at least once per poll interval, which bounds
// how long a workflow that becomes available behind the position waits under a backlog.
func (w *queueWorker) claim(ctx context.Context, q *db.Queries, n int, token int64) ([]db.DequeueWorkflowsRow, error) {
	now := time.Now()
	if w.from == (queuePosition{}) || now.Sub(w.fromHead) >= w.c.cfg.PollInterval {
		w.from, w.fromHead = queuePosition{}, now
	}
	p := w.params
	p.MaxCount, p.ClaimToken = int32(n), token
	p.AfterPriority, p.AfterAt, p.AfterSeq = w.from.priority, w.from.at, w.from.seq
	rows, err := q.DequeueWorkflows(ctx, p)
	if err != nil || len(rows) < n {
		w.from = queuePosition{}
		return rows, err
	}
	// RETURNING has no order: the position is the last claimed in queue order.
	for i, r := range rows {
		if pos := (queuePosition{r.Priority, r.AvailableAt, deref64(r.Seq)}); i == 0 || pos.after(w.from) {
			w.from = pos
		}
	}
	return rows, nil
}

func newQueueWorker(c *Client, q *Queue) (*queueWorker, error) {
	w := &queueWorker{c: c, q: q}
	w.params = db.DequeueWorkflowsParams{ExecutorID: &c.cfg.ExecutorID, Queue: q.name}
	names := make([]string, 0, len(c.workflows))
	for name := range c.workflows {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		hash := c.workflows[name].opts.codeHash
		w.params.Names = append(w.params.Names, name)
		w.params.CodeHashes = append(w.params.CodeHashes, hash)
		if hash == "" {
			w.params.NameHashes = append(w.params.NameHashes, name+":*")
		} else {
			w.params.NameHashes = append(w.params.NameHashes, name+":"+hash)
		}
	}
	var err error
	w.loop, err = fetcher.New(fetcher.Config{
		Queue:        q.name,
		Fetch:        w.fetch,
		Free:         w.free,
		PollInterval: c.cfg.PollInterval,
		Cooldown:     c.cfg.FetchCooldown,
		Logger:       c.log,
	})
	if err != nil {
		return nil, fmt.Errorf("wf: queue %q: %w", q.name, err)
	}
	return w, nil
}

// fetch claims up to n workflows and starts them; it returns how many it claimed, and when
// a rate-limited queue next has room (zero if not limited by rate).
func (w *queueWorker) fetch(ctx context.Context, n int) (int, time.Time, error) {
	if !w.c.lease.Held() {
		// The claim would be refused; the heartbeat renews the lease or registers again.
		return 0, time.Time{}, nil
	}
	var rows []db.DequeueWorkflowsRow
	var roomAt time.Time
	var err error
	token := newClaimToken()
	if w.q.limited() {
		rows, roomAt, err = w.dequeueLimited(ctx, n, token)
	} else {
		rows, err = w.claim(ctx, w.c.hotQ, n, token)
	}
	if err != nil {
		// The claim's transaction may have failed after the claim moved the position (a
		// limited queue's): its workflows are not claimed, and lie behind it.
		w.from = queuePosition{}
		return 0, time.Time{}, w.c.dbError("dequeueing", err)
	}
	// RETURNING has no order: start them in queue order.
	slices.SortFunc(rows, func(a, b db.DequeueWorkflowsRow) int {
		return queuePosition{a.Priority, a.AvailableAt, deref64(a.Seq)}.compare(queuePosition{b.Priority, b.AvailableAt, deref64(b.Seq)})
	})
	if len(rows) == 0 {
		return 0, roomAt, nil
	}
	seq := w.c.claims.committed()
	histories := w.c.prefetchHistories(ctx, rows)
	for _, r := range rows {
		w.running.Add(1)
		w.c.launch(w.c.workflows[r.Name], r.ID, claim{r.ID, r.Attempt, token, seq}, r.Input, r.Deadline, w, r.Queue, r.AvailableAt, deref(r.TraceContext), histories[r.ID])
	}
	return len(rows), roomAt, nil
}

// prefetchHistories reads the recorded steps of the claimed workflows that resume (attempt
// above 1) in one statement, keyed by workflow ID: a thousand sleepers coming due together
// are then one history read, not a thousand. It returns nil when there are none, or when
// the read failed: each execution then reads its own, with retries.
func (c *Client) prefetchHistories(ctx context.Context, rows []db.DequeueWorkflowsRow) map[string]map[int32]db.LoadStepsRow {
	var ids []string
	for _, r := range rows {
		if r.Attempt > 1 {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) < 2 {
		return nil // one is read as well by its execution, concurrently with the others'
	}
	steps, err := c.hotQ.LoadStepsOf(ctx, ids)
	if err != nil {
		c.log.Warn("wfgen: reading the histories of resumed workflows failed; each reads its own", "workflows", len(ids), "error", err)
		return nil
	}
	histories := make(map[string]map[int32]db.LoadStepsRow, len(ids))
	for _, id := range ids {
		histories[id] = map[int32]db.LoadStepsRow{}
	}
	for _, s := range steps {
		histories[s.WorkflowID][s.StepID] = db.LoadStepsRow{StepID: s.StepID, Name: s.Name, Output: s.Output, Error: s.Error}
	}
	return histories
}

// dequeueLimited dequeues from a queue with global limits: it locks the queue's row, counts
// what the limits allow given what runs and what started, and claims that much, in one
// transaction. Counting after the lock, in later statements, is what makes the limits hold
// across replicas.
func (w *queueWorker) dequeueLimited(ctx context.Context, n int, token int64) ([]db.DequeueWorkflowsRow, time.Time, error) {
	tx, err := w.c.pool.Begin(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	q := db.New(w.c.rw.Wrap(tx))
	lock := db.LockQueueParams{Name: w.q.name, IdleTimeoutMs: w.c.idleBoundMs()}
	// The settings hold for the rest of the transaction: every statement below runs them.
	if err := db.New(w.c.rw.Wrap(dbschema.Prefixed(tx, db.HotStatementSettingsSQL))).LockQueue(ctx, lock); err != nil {
		return nil, time.Time{}, err
	}
	if w.q.concurrency > 0 {
		running, err := q.CountRunning(ctx, w.q.name)
		if err != nil {
			return nil, time.Time{}, err
		}
		n = min(n, w.q.concurrency-int(running))
	}
	var roomAt time.Time
	if w.q.rateLimit > 0 {
		recent, err := q.CountRecentStarts(ctx, db.CountRecentStartsParams{Queue: w.q.name, PeriodMs: w.q.ratePeriod.Milliseconds()})
		if err != nil {
			return nil, time.Time{}, err
		}
		if left := w.q.rateLimit - int(recent.Starts); left < n {
			n = left
			roomAt = recent.FreesAt
		}
	}
	if n <= 0 {
		return nil, roomAt, tx.Commit(ctx)
	}
	var rows []db.DequeueWorkflowsRow
	if w.q.partitionConcurrency > 0 {
		p := db.DequeuePartitionedParams{
			ExecutorID: w.params.ExecutorID, CodeHashes: w.params.CodeHashes, Names: w.params.Names,
			Queue: w.q.name, NameHashes: w.params.NameHashes, PartitionConcurrency: int32(w.q.partitionConcurrency),
			ScanLimit: int32(max(partitionScan, 10*n)), MaxCount: int32(n), ClaimToken: token,
		}
		prows, err := q.DequeuePartitioned(ctx, p)
		if err != nil {
			return nil, time.Time{}, err
		}
		for _, r := range prows {
			rows = append(rows, db.DequeueWorkflowsRow(r))
		}
	} else if rows, err = w.claim(ctx, q, n, token); err != nil {
		return nil, time.Time{}, err
	}
	if w.q.rateLimit > 0 && len(rows) > 0 {
		if err := q.RecordStarts(ctx, db.RecordStartsParams{Queue: w.q.name, N: int32(len(rows)), PeriodMs: w.q.ratePeriod.Milliseconds()}); err != nil {
			return nil, time.Time{}, err
		}
	}
	return rows, roomAt, tx.Commit(ctx)
}

// unwrittenPerSlot bounds the completions a worker has handed to the checkpoint writer but
// that are not yet written, per slot (with every slot's code running). Under load they wait
// while the writer's batch in flight commits, and the next batch takes them all: the more
// may wait, the larger and fewer the batches (one per slot made a third more write
// transactions per one-step workflow and cost the server more CPU per workflow than four:
// bench/README.md, "What limits us"). A crash loses at most these, whose last steps then
// run again.
const unwrittenPerSlot = 4

// free is how many more workflows the worker may claim: what WorkerConcurrency leaves, as
// long as the completions handed to the checkpoint writer but not yet written stay within
// unwrittenPerSlot times WorkerConcurrency too. A slot is free as soon as its workflow's
// code has returned, but a writer that falls behind must slow claiming down, or the
// workflows this worker holds in state running would grow without bound.
func (w *queueWorker) free() int {
	running, unwritten := int(w.running.Load()), int(w.unwritten.Load())
	wc := w.q.workerConcurrency
	return max(0, min(wc-running, (1+unwrittenPerSlot)*wc-running-unwritten))
}

// bodyDone frees the slot of a workflow whose code has returned; its completion is being
// written until settled.
func (w *queueWorker) bodyDone() {
	w.unwritten.Add(1)
	w.running.Add(-1)
	w.loop.Kick()
}

// settled ends the execution that bodyDone freed the slot of.
func (w *queueWorker) settled() {
	w.unwritten.Add(-1)
	w.loop.Kick()
}

// launch runs an execution on a goroutine of its own (one that ran an earlier execution,
// when one is idle). An execution a queue worker claimed (w set) takes one of its slots
// until its code returns; workers always launch what they claimed (Stop waits for their
// fetch loops first). A direct start (w nil) is refused once Stop began, and launch returns
// false. queue, available (when the workflow could start) and traceContext are for Hooks.
func (c *Client) launch(reg *registeredWorkflow, id string, cl claim, input []byte, deadline *time.Time, w *queueWorker, queue string, available time.Time, traceContext string, history map[int32]db.LoadStepsRow) bool {
	var release func()
	if w != nil {
		release = w.bodyDone
	}
	x := newExecution(c, reg, id, cl, input, deadline, release)
	x.queue, x.available, x.traceContext, x.history = queue, available, traceContext, history
	c.mu.Lock()
	if w == nil && c.phase != phaseStarted {
		c.mu.Unlock()
		return false
	}
	if !c.lease.Held() {
		// Claimed while the lease was valid, but this executor can no longer be sure it
		// holds it: run nothing, and hand the workflow back once the lease is renewed.
		c.released = append(c.released, cl)
		c.mu.Unlock()
		x.release()
		if w != nil {
			w.settled()
		}
		return true
	}
	if old := c.executions[id]; old != nil {
		old.cancel(errSuperseded)
	}
	c.executions[id] = x
	_, cancelled := c.earlyCancels[claimedAttempt{id, cl.attempt}]
	delete(c.earlyCancels, claimedAttempt{id, cl.attempt})
	c.running.Add(1)
	c.mu.Unlock()
	if cancelled {
		// Cancelled between its claim and now: its code sees ErrCancelled at once.
		x.cancel(ErrCancelled)
	}
	c.goroutines.Go(func() {
		defer c.running.Done()
		o := x.run()
		if w != nil {
			w.settled()
		}
		c.mu.Lock()
		if c.executions[id] == x {
			delete(c.executions, id)
		}
		stopping := c.phase == phaseStopped
		switch {
		case o == handBack && stopping, o == orphaned:
			// Stop, or the next successful heartbeat, hands them back together.
			c.released = append(c.released, cl)
		}
		c.mu.Unlock()
		if o == handBack && !stopping {
			ctx, cancel := context.WithTimeout(context.Background(), handBackTimeout)
			if c.handBack(ctx, []claim{cl}) != nil {
				// The next successful heartbeat tries again.
				c.mu.Lock()
				c.released = append(c.released, cl)
				c.mu.Unlock()
			}
			cancel()
		}
	})
	return true
}

func deref64(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

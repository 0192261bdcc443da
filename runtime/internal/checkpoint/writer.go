// Package checkpoint is the group-commit writer of step checkpoints and workflow completions.
//
// Every running workflow submits its checkpoints to one Writer per process. The writer takes
// whatever has queued up while its previous write was in flight and writes it in one
// statement (one round trip, one commit), so N concurrently running workflows cost about one
// commit per batch instead of one per step. Under load batches form by themselves; with a
// single workflow running a batch holds one checkpoint and the latency is one round trip.
//
// One goroutine writes, in submission order: a completion submitted after its workflow's last
// step is either in the same batch as that step or in a later one. A completion names that
// step (Completion.After) and applies only if the step's checkpoint did, so a workflow can
// never be completed on top of a step whose recorded output differs from the one it used.
// In the same batch, the completion carries the step: the statement updates the workflow
// first and inserts the step only if that applied, fenced by the completion's own row lock
// (one probe of the workflow's row instead of a share lock and then an update).
//
// Every write is fenced by the attempt that made it: the database stores a step checkpoint
// or a completion only while its workflow runs under that attempt, and the writer tells each
// submitter its own outcome, matched by workflow, step and attempt (a *FencedError for a
// refused step), even when two attempts of one workflow share a batch.
package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wfgen/wfgen/runtime/internal/db"
)

// ErrClosed is the result of a checkpoint submitted to, or still pending in, a closed Writer.
var ErrClosed = errors.New("checkpoint writer closed")

// FencedError is the result of a step checkpoint the database refused because its workflow
// is no longer running under the attempt that wrote it: it was cancelled, finished, taken
// over by another executor, or claimed again. The attempt that wrote it must stop.
type FencedError struct {
	WorkflowID string
	Attempt    int32
	// State is the workflow's state when the write was refused ("" if the workflow is gone).
	State string
}

func (e *FencedError) Error() string {
	state := e.State
	if state == "" {
		state = "deleted"
	}
	return fmt.Sprintf("checkpoint of workflow %s refused: it no longer runs under attempt %d (it is %s)", e.WorkflowID, e.Attempt, state)
}

// Step is the checkpoint of one completed step.
type Step struct {
	WorkflowID string
	StepID     int32
	Name       string
	Output     string // JSON; "" when the step failed
	Error      string // JSON; "" when the step succeeded
	Attempt    int32
	ClaimToken int64 // the claim's fencing token, with Attempt
	Tries      int32
	StartedAt  time.Time
	// Consumes is the seq of the message a Recv's step received (0 for other steps): the
	// step is recorded only if the message is unconsumed, and marks it consumed.
	Consumes int64
}

// Completion is the final state of one workflow execution.
type Completion struct {
	WorkflowID string
	Attempt    int32
	ClaimToken int64 // the claim's fencing token, with Attempt
	State      string
	Output     string // JSON or ""
	Error      string // JSON or ""
	// After is the pending checkpoint of the execution's last step, or nil.
	After *Pending
}

// Suspension hands a waiting workflow back to its queue until AvailableAt (see the
// runtime's Sleep and Recv): fenced like a completion, and, like one, the end of its
// execution.
type Suspension struct {
	WorkflowID  string
	Attempt     int32
	ClaimToken  int64
	AvailableAt time.Time
	WaitingFor  string
	// Topic, for a Recv, is the topic whose waiting message cancels the suspension
	// (Pending.Ready): the batch then locks the workflow's row first.
	Topic string
	// Children, for an Await (WaitingFor "child"), are the workflows it waits for: when all
	// are final the suspension is cancelled (Pending.Ready), and the batch locks
	// the workflow's row first, as for a Recv.
	Children []string
}

// Pending is a submitted checkpoint. Wait returns once it has been written (or has failed).
type Pending struct {
	step       *Step
	completion *Completion
	suspension *Suspension
	queue      string // a suspended workflow's queue, once applied
	message    bool   // a suspension not applied: what it waits for is there

	batch   uint64 // the batch that carried it; set by the writer goroutine
	carried bool   // a step its completion carries in the batch (see params); writer goroutine
	done    chan struct{}
	applied bool
	err     error
}

// Wait blocks until the checkpoint is written, or ctx ends. applied is false when the write
// took no effect: a step whose ID was already recorded, or whose message (Step.Consumes)
// was consumed already (err nil for both), a step whose workflow no
// longer runs under the submitter's attempt (err a *FencedError), or a completion whose
// workflow no longer runs under the submitter's attempt (or whose After step did not apply).
func (p *Pending) Wait(ctx context.Context) (applied bool, err error) {
	select {
	case <-p.done:
		return p.applied, p.err
	case <-ctx.Done():
		return false, context.Cause(ctx)
	}
}

// Queue is the queue of a suspension's workflow, once Wait reported it applied.
func (p *Pending) Queue() string { return p.queue }

// Ready reports, for a suspension that Wait reported not applied, that it was not refused:
// what it waits for is there (a message of a Recv's topic, an Await's children all final),
// and the workflow should go on.
func (p *Pending) Ready() bool { return p.message }

func (p *Pending) resolve(applied bool, err error) {
	p.applied, p.err = applied, err
	close(p.done)
}

// Querier runs the batched statement, and tells why steps were refused; *db.Queries
// implements it.
type Querier interface {
	WriteCheckpoints(ctx context.Context, arg db.WriteCheckpointsParams) ([]db.WriteCheckpointsRow, error)
	StepOwners(ctx context.Context, ids []string) ([]db.StepOwnersRow, error)
}

// Options tunes a Writer.
type Options struct {
	// MaxBatch caps the checkpoints in one statement. Default 1000.
	MaxBatch int
	// Logger receives retry warnings. Default slog.Default().
	Logger *slog.Logger
	// Completed, when set, is told after each write which workflows it completed and their
	// queues, so that they can be announced.
	Completed func(ids, queues []string)
	// Woken, when set, is told after each write the queues of the suspended parents that
	// their children's completions woke.
	Woken func(queues []string)
	// Written, when set, is told after each statement how many checkpoints it carried, how
	// long it took and its error.
	Written func(n int, took time.Duration, err error)
	// LockFirst returns a Querier whose WriteCheckpoints runs after LockSuspending(lock),
	// in the same round trip and transaction: the writer uses it for batches that suspend
	// Recvs. Required to submit such suspensions.
	LockFirst func(lock db.LockSuspendingParams) Querier
	// Mark, when set, is called before each statement is sent, and Flushed with its value
	// after the statement committed: what committed on the same server before the mark was
	// taken is durable then (a synchronous commit flushes the WAL up to its own record).
	Mark    func() uint64
	Flushed func(mark uint64)
}

// Writer batches checkpoints. Create it with New, then call Run in a goroutine.
type Writer struct {
	q         Querier
	maxBatch  int
	log       *slog.Logger
	completed func(ids, queues []string)
	woken     func(queues []string)
	mark      func() uint64
	flushed   func(uint64)
	written   func(n int, took time.Duration, err error)
	lockFirst func(db.LockSuspendingParams) Querier

	in       chan *Pending
	mu       sync.RWMutex // guards closed against sends on in
	closed   bool
	closeNow chan struct{} // closed when Close's deadline passes: stop retrying
	stopped  chan struct{} // closed when Run returns
	batchSeq uint64
}

// New returns a Writer that writes through q.
func New(q Querier, opts Options) *Writer {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Writer{
		q:         q,
		maxBatch:  opts.MaxBatch,
		log:       opts.Logger,
		completed: opts.Completed,
		woken:     opts.Woken,
		written:   opts.Written,
		mark:      opts.Mark,
		flushed:   opts.Flushed,
		lockFirst: opts.LockFirst,
		in:        make(chan *Pending, 4*opts.MaxBatch),
		closeNow:  make(chan struct{}),
		stopped:   make(chan struct{}),
	}
}

// SubmitStep queues a step checkpoint.
func (w *Writer) SubmitStep(s Step) *Pending {
	return w.submit(&Pending{step: &s, done: make(chan struct{})})
}

// SubmitCompletion queues a workflow completion.
func (w *Writer) SubmitCompletion(c Completion) *Pending {
	return w.submit(&Pending{completion: &c, done: make(chan struct{})})
}

// SubmitSuspension queues a suspension. Submit it once the execution's last step checkpoint
// is written: it names no step to follow.
func (w *Writer) SubmitSuspension(s Suspension) *Pending {
	return w.submit(&Pending{suspension: &s, done: make(chan struct{})})
}

func (w *Writer) submit(p *Pending) *Pending {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		p.resolve(false, ErrClosed)
		return p
	}
	w.in <- p
	return p
}

// Close stops accepting checkpoints, writes those already queued and waits for Run to
// return. When ctx ends first, a write failing on a database error is no longer retried and
// what is left resolves with ErrClosed.
func (w *Writer) Close(ctx context.Context) {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.in)
	}
	w.mu.Unlock()
	select {
	case <-w.stopped:
	case <-ctx.Done():
		close(w.closeNow)
		<-w.stopped
	}
}

// Run writes batches until Close. It must run in exactly one goroutine.
func (w *Writer) Run() {
	defer close(w.stopped)
	batch := make([]*Pending, 0, w.maxBatch)
	for first := range w.in {
		batch = append(batch[:0], first)
	drain:
		for len(batch) < w.maxBatch {
			select {
			case p, ok := <-w.in:
				if !ok {
					break drain
				}
				batch = append(batch, p)
			default:
				break drain
			}
		}
		w.batchSeq++
		for _, p := range batch {
			p.batch = w.batchSeq
		}
		w.write(batch)
		clear(batch)
	}
}

// write writes a batch, retrying transient failures. A batch that fails for a reason
// retrying cannot fix (say, an output Postgres rejects) is split so that one bad checkpoint
// fails alone.
func (w *Writer) write(batch []*Pending) {
	params, lock, included := w.params(batch)
	if len(included) == 0 {
		return
	}
	q := w.q
	if len(lock.Ids) > 0 {
		q = w.lockFirst(lock)
	}
	backoff := 10 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		began := time.Now()
		var mark uint64
		if w.mark != nil {
			mark = w.mark()
		}
		rows, err := q.WriteCheckpoints(ctx, params)
		cancel()
		if w.written != nil {
			w.written(len(included), time.Since(began), err)
		}
		if err == nil {
			if w.flushed != nil {
				w.flushed(mark)
			}
			w.resolve(included, rows)
			return
		}
		if permanent(err) {
			if len(included) == 1 {
				included[0].resolve(false, err)
				return
			}
			// Each goes alone, in order, as a batch of its own: a completion then sees
			// its After step as written by an earlier batch.
			for _, p := range included {
				w.batchSeq++
				p.batch = w.batchSeq
				w.write([]*Pending{p})
			}
			return
		}
		w.log.Warn("wfgen: writing checkpoints failed; retrying", "checkpoints", len(included), "retry_in", backoff, "error", err)
		select {
		case <-w.closeNow:
			for _, p := range included {
				p.resolve(false, ErrClosed)
			}
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// params builds the statement's arrays, and those of the LockSuspending that must precede
// it (none unless Recvs or Awaits suspend). Completions whose After step went in an earlier
// batch and did not apply are resolved at once as not applied. A completion whose After step
// is in the same batch carries it (unless the step consumes a message): the statement
// inserts the step only if the completion applies, fenced by the completion's own update.
func (w *Writer) params(batch []*Pending) (db.WriteCheckpointsParams, db.LockSuspendingParams, []*Pending) {
	var p db.WriteCheckpointsParams
	var lock db.LockSuspendingParams
	included := batch[:0:0]
	for _, pd := range batch {
		pd.carried = false
	}
	steps, dones := 0, 0
	for _, pd := range batch {
		switch c := pd.completion; {
		case pd.step != nil:
			steps++
		case c != nil:
			dones++
			if c.After != nil && c.After.batch == pd.batch && c.After.step.Consumes == 0 {
				c.After.carried = true
				steps--
			}
		}
	}
	// Sized once: a batch's arrays would otherwise grow by doubling, a good part of what
	// the writer allocates per checkpoint.
	p.StepWorkflowIds = sized[string](steps)
	p.StepIds = sized[int32](steps)
	p.StepNames = sized[string](steps)
	p.StepOutputs = sized[string](steps)
	p.StepErrors = sized[string](steps)
	p.StepAttempts = sized[int32](steps)
	p.StepClaimTokens = sized[int64](steps)
	p.StepTries = sized[int32](steps)
	p.StepStartedAt = sized[time.Time](steps)
	p.StepConsumes = sized[int64](steps)
	p.DoneIds = sized[string](dones)
	p.DoneAttempts = sized[int32](dones)
	p.DoneClaimTokens = sized[int64](dones)
	p.DoneStates = sized[string](dones)
	p.DoneOutputs = sized[string](dones)
	p.DoneErrors = sized[string](dones)
	p.DoneAfterSteps = sized[int32](dones)
	p.DoneCarriesStep = sized[bool](dones)
	p.DoneStepNames = sized[string](dones)
	p.DoneStepOutputs = sized[string](dones)
	p.DoneStepErrors = sized[string](dones)
	p.DoneStepTries = sized[int32](dones)
	p.DoneStepStartedAt = sized[time.Time](dones)
	for _, pd := range batch {
		if pd.carried {
			included = append(included, pd)
			continue
		}
		if s := pd.step; s != nil {
			p.StepWorkflowIds = append(p.StepWorkflowIds, s.WorkflowID)
			p.StepIds = append(p.StepIds, s.StepID)
			p.StepNames = append(p.StepNames, s.Name)
			p.StepOutputs = append(p.StepOutputs, s.Output)
			p.StepErrors = append(p.StepErrors, s.Error)
			p.StepAttempts = append(p.StepAttempts, s.Attempt)
			p.StepClaimTokens = append(p.StepClaimTokens, s.ClaimToken)
			p.StepTries = append(p.StepTries, s.Tries)
			p.StepStartedAt = append(p.StepStartedAt, s.StartedAt)
			p.StepConsumes = append(p.StepConsumes, s.Consumes)
			included = append(included, pd)
			continue
		}
		if s := pd.suspension; s != nil {
			p.SuspendIds = append(p.SuspendIds, s.WorkflowID)
			p.SuspendAttempts = append(p.SuspendAttempts, s.Attempt)
			p.SuspendClaimTokens = append(p.SuspendClaimTokens, s.ClaimToken)
			p.SuspendAvailableAt = append(p.SuspendAvailableAt, s.AvailableAt)
			p.SuspendWaitingFor = append(p.SuspendWaitingFor, s.WaitingFor)
			p.SuspendTopics = append(p.SuspendTopics, s.Topic)
			for _, child := range s.Children {
				p.AwaitParentIds = append(p.AwaitParentIds, s.WorkflowID)
				p.AwaitChildIds = append(p.AwaitChildIds, child)
			}
			if s.Topic != "" || len(s.Children) > 0 {
				lock.Ids = append(lock.Ids, s.WorkflowID)
				lock.Attempts = append(lock.Attempts, s.Attempt)
				lock.ClaimTokens = append(lock.ClaimTokens, s.ClaimToken)
			}
			included = append(included, pd)
			continue
		}
		c := pd.completion
		after := int32(-1)
		var carried Step
		carries := false
		if c.After != nil {
			if c.After.batch == pd.batch {
				after = c.After.step.StepID
				if c.After.carried {
					carried, carries = *c.After.step, true
				}
			} else if applied, err := c.After.Wait(context.Background()); !applied || err != nil {
				// An earlier batch has resolved it (one goroutine writes, in order).
				pd.resolve(false, err)
				continue
			}
		}
		p.DoneIds = append(p.DoneIds, c.WorkflowID)
		p.DoneAttempts = append(p.DoneAttempts, c.Attempt)
		p.DoneClaimTokens = append(p.DoneClaimTokens, c.ClaimToken)
		p.DoneStates = append(p.DoneStates, c.State)
		p.DoneOutputs = append(p.DoneOutputs, c.Output)
		p.DoneErrors = append(p.DoneErrors, c.Error)
		p.DoneAfterSteps = append(p.DoneAfterSteps, after)
		p.DoneCarriesStep = append(p.DoneCarriesStep, carries)
		p.DoneStepNames = append(p.DoneStepNames, carried.Name)
		p.DoneStepOutputs = append(p.DoneStepOutputs, carried.Output)
		p.DoneStepErrors = append(p.DoneStepErrors, carried.Error)
		p.DoneStepTries = append(p.DoneStepTries, carried.Tries)
		p.DoneStepStartedAt = append(p.DoneStepStartedAt, carried.StartedAt)
		included = append(included, pd)
	}
	return p, lock, included
}

// sized returns an empty slice with room for n elements, nil for none (a NULL array, which
// unnest reads as no rows, as it does an empty one).
func sized[T any](n int) []T {
	if n <= 0 {
		return nil
	}
	return make([]T, 0, n)
}

type stepKey struct {
	workflowID string
	stepID     int32
	attempt    int32
}

// resolve hands every checkpoint of a written batch its outcome, matched by workflow, step
// and attempt: two attempts of one workflow may have the same step in one batch, and only
// the one that still owns the workflow may be applied.
func (w *Writer) resolve(batch []*Pending, rows []db.WriteCheckpointsRow) {
	inserted := make(map[stepKey]bool, len(rows))
	completed := make(map[stepKey]bool) // workflow ID and attempt (step 0)
	var suspended map[stepKey]string    // workflow ID and attempt (step 0) -> queue
	var messages map[stepKey]bool       // the same, for Recvs not suspended: a message waits
	var ids, queues, woken []string
	for _, r := range rows {
		switch r.Kind {
		case "s":
			inserted[stepKey{r.ID, r.StepID, r.Attempt}] = true
		case "c":
			completed[stepKey{r.ID, 0, r.Attempt}] = true
			ids, queues = append(ids, r.ID), append(queues, r.Queue)
		case "w":
			woken = append(woken, r.Queue)
		case "z":
			if suspended == nil {
				suspended = make(map[stepKey]string)
			}
			suspended[stepKey{r.ID, 0, r.Attempt}] = r.Queue
		case "m":
			if messages == nil {
				messages = make(map[stepKey]bool)
			}
			messages[stepKey{r.ID, 0, r.Attempt}] = true
		}
	}
	if len(ids) > 0 && w.completed != nil {
		w.completed(ids, queues)
	}
	if len(woken) > 0 && w.woken != nil {
		w.woken(woken)
	}
	var refused []*Pending
	for _, p := range batch {
		switch s := p.step; {
		case p.suspension != nil:
			key := stepKey{p.suspension.WorkflowID, 0, p.suspension.Attempt}
			queue, ok := suspended[key]
			p.queue, p.message = queue, messages[key]
			p.resolve(ok, nil)
		case s == nil:
			p.resolve(completed[stepKey{p.completion.WorkflowID, 0, p.completion.Attempt}], nil)
		case p.carried && completed[stepKey{s.WorkflowID, 0, s.Attempt}]:
			p.resolve(true, nil) // inserted with its completion
		case !p.carried && inserted[stepKey{s.WorkflowID, s.StepID, s.Attempt}]:
			p.resolve(true, nil)
		default:
			refused = append(refused, p)
		}
	}
	if len(refused) > 0 {
		w.resolveRefused(refused)
	}
}

// resolveRefused tells the submitters of refused step checkpoints why: their step was
// recorded already (not applied, no error: the execution replays what was recorded), or
// their attempt no longer owns the workflow (a *FencedError). Refusals are rare, so the
// write statement does not pay for telling them apart; this reads the workflows after it.
func (w *Writer) resolveRefused(refused []*Pending) {
	ids := make([]string, len(refused))
	for i, p := range refused {
		ids[i] = p.step.WorkflowID
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	owners, err := w.q.StepOwners(ctx, ids)
	cancel()
	if err != nil {
		// Unknown: let the executions replay their recorded history, which tells.
		w.log.Warn("wfgen: reading why step checkpoints were refused failed; their workflows replay", "checkpoints", len(refused), "error", err)
		for _, p := range refused {
			p.resolve(false, nil)
		}
		return
	}
	now := make(map[string]db.StepOwnersRow, len(owners))
	for _, o := range owners {
		now[o.ID] = o
	}
	for _, p := range refused {
		s := p.step
		o, ok := now[s.WorkflowID]
		if ok && o.State == "running" && o.Attempt == s.Attempt && o.ClaimToken == s.ClaimToken {
			p.resolve(false, nil) // recorded already, by an earlier execution
			continue
		}
		p.resolve(false, &FencedError{WorkflowID: s.WorkflowID, Attempt: s.Attempt, State: o.State})
	}
}

// Permanent reports whether retrying a write that failed with err cannot help: Postgres
// rejected the statement itself (bad data, a missing table), as opposed to losing the
// connection or the server shedding load. The runtime's other owner writes retry as this
// writer does.
func Permanent(err error) bool { return permanent(err) }

func permanent(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code[:2] {
	case "08", // connection exception
		"40", // transaction rollback: serialization failure, deadlock
		"53", // insufficient resources
		"57", // operator intervention: admin shutdown, query cancelled
		"58": // system error
		return false
	}
	return true
}

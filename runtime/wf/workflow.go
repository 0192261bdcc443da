package wf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/wfgen/wfgen/runtime/internal/db"
	"github.com/wfgen/wfgen/runtime/internal/dbschema"
)

// Workflow is a workflow definition: a name, the function that runs it and its options.
// Define each workflow once, at package level (wfgen generates the definitions), and use it
// to enqueue, start and look up workflows with typed inputs and results.
//
// A workflow function must be deterministic: given the same input and the same step
// results, it must call the same steps in the same order. Everything that is not
// deterministic (I/O, time, randomness) belongs in steps.
type Workflow[In, Out any] struct {
	name string
	fn   func(Context, In) (Out, error)
	opts workflowOptions
}

// NewWorkflow defines a workflow. It panics if name is empty or fn is nil: definitions are
// made at program start, where that is a programming error.
func NewWorkflow[In, Out any](name string, fn func(Context, In) (Out, error), opts ...WorkflowOption) *Workflow[In, Out] {
	if strings.TrimSpace(name) == "" {
		panic("wf: NewWorkflow: empty name")
	}
	if fn == nil {
		panic(fmt.Sprintf("wf: NewWorkflow(%q): nil function", name))
	}
	o := workflowOptions{queue: DefaultQueue, maxRecoveries: DefaultMaxRecoveries}
	for _, opt := range opts {
		opt(&o)
	}
	if o.queue == "" || o.maxRecoveries < 0 || o.timeout < 0 {
		panic(fmt.Sprintf("wf: NewWorkflow(%q): empty queue name or negative MaxRecoveries/WorkflowTimeout", name))
	}
	return &Workflow[In, Out]{name: name, fn: fn, opts: o}
}

// Name returns the workflow's name, as stored in the database.
func (w *Workflow[In, Out]) Name() string { return w.name }

// registeredWorkflow is a workflow as the executor sees it: types erased.
type registeredWorkflow struct {
	name string
	opts workflowOptions
	run  func(x *execution) (output string, err error)
	def  any // the *Workflow it came from
}

func (w *Workflow[In, Out]) register(c *Client) error {
	if prev, dup := c.workflows[w.name]; dup {
		if prev.def == any(w) {
			return nil
		}
		return fmt.Errorf("wf: workflow %q registered twice", w.name)
	}
	c.workflows[w.name] = &registeredWorkflow{name: w.name, opts: w.opts, run: w.run, def: w}
	return nil
}

// run decodes the input, calls the workflow function and encodes its output.
func (w *Workflow[In, Out]) run(x *execution) (string, error) {
	var in In
	if err := json.Unmarshal(x.input, &in); err != nil {
		return "", decodeFailure(fmt.Sprintf("input of workflow %q", w.name), typeName[In](),
			"the enqueuer and this worker disagree on its type: deploy the same version to both", err)
	}
	out, err := w.fn(x.wfctx, in)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", encodeFailure(fmt.Sprintf("output of workflow %q", w.name), typeName[Out](), err)
	}
	return string(b), nil
}

// Enqueue puts a workflow on its queue (or the one WithQueue names), for any worker that
// registered it to run. It returns once the workflow is stored. With WithID, enqueueing an
// ID that exists returns the existing workflow (or, with RequireSameInput, an
// *InputMismatchError if its input differs).
func (w *Workflow[In, Out]) Enqueue(ctx context.Context, c *Client, in In, opts ...EnqueueOption) (*Handle[Out], error) {
	hs, err := w.enqueue(ctx, c, c.rw.Wrap(c.pool), false, []In{in}, opts)
	if err != nil {
		return nil, err
	}
	return hs[0], nil
}

// EnqueueTx enqueues a workflow inside the caller's transaction: it runs only if tx
// commits, so a workflow and the business data it belongs to are stored atomically.
// Workers see it once tx commits, and so does the handle: until then its Status and Result
// report ErrNotFound.
func (w *Workflow[In, Out]) EnqueueTx(ctx context.Context, c *Client, tx pgx.Tx, in In, opts ...EnqueueOption) (*Handle[Out], error) {
	hs, err := w.enqueue(ctx, c, c.rw.Wrap(tx), true, []In{in}, opts)
	if err != nil {
		return nil, err
	}
	return hs[0], nil
}

// EnqueueMany enqueues one workflow per input in one statement. The options apply to
// every workflow; WithID and WithDedupID, which name one workflow, are refused.
func (w *Workflow[In, Out]) EnqueueMany(ctx context.Context, c *Client, ins []In, opts ...EnqueueOption) ([]*Handle[Out], error) {
	if len(ins) == 0 {
		return nil, nil
	}
	o := w.enqueueOptions(opts)
	if o.id != "" || o.dedupID != "" {
		return nil, errors.New("wf: EnqueueMany: WithID and WithDedupID name a single workflow; use Enqueue for each")
	}
	return w.enqueue(ctx, c, c.rw.Wrap(c.pool), false, ins, opts)
}

func (w *Workflow[In, Out]) enqueueOptions(opts []EnqueueOption) enqueueOptions {
	o := enqueueOptions{queue: w.opts.queue, timeout: w.opts.timeout}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// enqueue stores workflows through conn. inTx says conn is a caller's transaction: the
// workflows are announced by the insert itself, when the caller commits; otherwise they are
// announced once the insert has committed.
func (w *Workflow[In, Out]) enqueue(ctx context.Context, c *Client, conn dbschema.DBTX, inTx bool, ins []In, opts []EnqueueOption) ([]*Handle[Out], error) {
	o := w.enqueueOptions(opts)
	if o.queue == "" {
		return nil, errors.New("wf: WithQueue: empty queue name")
	}
	reqs := make([]insertRequest, len(ins))
	tc := c.traceContext(ctx)
	for i, in := range ins {
		r, err := w.request(in, o)
		if err != nil {
			return nil, err
		}
		r.traceContext = tc
		reqs[i] = r
	}
	announced := false
	if !inTx && len(reqs) == 1 {
		idle, done := c.idleEnqueue()
		defer done()
		if idle {
			conn, announced = c.announcingEnqueue(reqs[0]), true
		}
	}
	ids, err := c.insert(ctx, conn, reqs, StateEnqueued, inTx)
	if err != nil {
		return nil, err
	}
	if !inTx {
		if !announced {
			c.announcer.Enqueued(o.queue, reqs[0].delayMs)
		}
		c.wakeQueue(o.queue)
	}
	hs := make([]*Handle[Out], len(ids))
	for i, id := range ids {
		hs[i] = w.Get(c, id)
	}
	return hs, nil
}

func (w *Workflow[In, Out]) request(in In, o enqueueOptions) (insertRequest, error) {
	input, err := json.Marshal(in)
	if err != nil {
		return insertRequest{}, encodeFailure(fmt.Sprintf("input of workflow %q", w.name), typeName[In](), err)
	}
	id := o.id
	if id == "" {
		id = uuid.Must(uuid.NewV7()).String()
	}
	return insertRequest{
		id:             id,
		name:           w.name,
		queue:          o.queue,
		priority:       int32(o.priority),
		partitionKey:   o.partitionKey,
		dedupID:        o.dedupID,
		returnExisting: o.returnExisting,
		sameInput:      o.sameInput,
		input:          string(input),
		maxRecoveries:  int32(w.opts.maxRecoveries),
		timeoutMs:      o.timeout.Milliseconds(),
		delayMs:        max(o.delay.Milliseconds(), 0),
		codeHash:       w.opts.codeHash,
		stepsExpected:  int32(w.opts.stepsExpected),
	}, nil
}

// Start runs a workflow in this process now, without going through its queue (so the
// queue's limits do not apply). The client must be started and have the workflow
// registered. Start returns once the workflow is stored; Result waits for it. With WithID,
// starting an ID that exists returns the existing workflow and does not run it again (or,
// with RequireSameInput, returns an *InputMismatchError if its input differs).
// Only WithID and WithTimeout apply to Start.
func (w *Workflow[In, Out]) Start(ctx context.Context, c *Client, in In, opts ...EnqueueOption) (*Handle[Out], error) {
	if err := c.started(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	reg := c.workflows[w.name]
	c.mu.Unlock()
	if reg == nil {
		return nil, &UnknownWorkflowError{Name: w.name}
	}
	o := w.enqueueOptions(opts)
	if len(o.queueOnly) > 0 {
		return nil, fmt.Errorf("wf: %s applies to Enqueue only; Start runs the workflow here and now", o.queueOnly[0])
	}
	r, err := w.request(in, o)
	if err != nil {
		return nil, err
	}
	r.traceContext = c.traceContext(ctx)
	if !c.lease.Held() {
		return nil, errNoLease
	}
	id, inserted, err := c.insertOne(ctx, c.rw.Wrap(c.pool), r, StateRunning, false)
	if err != nil {
		return nil, err
	}
	if inserted {
		var deadline *time.Time
		if o.timeout > 0 {
			d := time.Now().Add(o.timeout)
			deadline = &d
		}
		if !c.launch(reg, id, claim{id: id, attempt: 1}, []byte(r.input), deadline, nil, r.queue, time.Now(), r.traceContext, nil) {
			// Stop began meanwhile: the workflow is stored as running here and resumes
			// when this executor (or, after its lease, another) recovers it.
			return nil, ErrStopped
		}
	}
	return w.Get(c, id), nil
}

// Get returns the handle of the workflow with the given ID, for status clients. It does not
// touch the database: Status and Result report ErrNotFound for an unknown ID.
func (w *Workflow[In, Out]) Get(c *Client, id string) *Handle[Out] {
	return &Handle[Out]{c: c, id: id, name: w.name}
}

// insertRequest is one row of an enqueue or start.
type insertRequest struct {
	id, name, queue       string
	priority              int32
	partitionKey, dedupID string
	returnExisting        bool
	sameInput             bool // refuse an existing workflow with the ID whose input differs
	input                 string
	maxRecoveries         int32
	timeoutMs, delayMs    int64
	codeHash              string // recorded when the workflow starts here and now
	stepsExpected         int32
	parentID              string // the workflow whose child this is; the same for a whole batch
	traceContext          string // Hooks.TraceContext of the enqueuer; the same for a whole batch
}

// insert stores workflows and returns their IDs in order: for a request whose ID or
// deduplication ID was taken, the ID of the workflow that has it (or the error the caller
// asked for).
func (c *Client) insert(ctx context.Context, conn dbschema.DBTX, reqs []insertRequest, state State, notify bool) ([]string, error) {
	if len(reqs) == 1 {
		id, _, err := c.insertOne(ctx, conn, reqs[0], state, notify)
		return []string{id}, err
	}
	p := c.insertParams(reqs, state, notify)
	inserted, err := db.New(conn).InsertWorkflows(ctx, p)
	if err != nil {
		return nil, c.dbError("enqueueing workflows", err)
	}
	ids := make([]string, len(reqs))
	if len(inserted) == len(reqs) {
		for i, r := range reqs {
			ids[i] = r.id
		}
		return ids, nil
	}
	done := make(map[string]bool, len(inserted))
	for _, id := range inserted {
		done[id] = true
	}
	for i, r := range reqs {
		if done[r.id] {
			ids[i] = r.id
			continue
		}
		if ids[i], err = c.resolveConflict(ctx, conn, r); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// insertParams is the InsertWorkflows statement's arrays for reqs, which are all of one
// workflow and one parent (they share its code hash and parent).
func (c *Client) insertParams(reqs []insertRequest, state State, notify bool) db.InsertWorkflowsParams {
	p := db.InsertWorkflowsParams{
		State: string(state), ExecutorID: c.cfg.ExecutorID, Channel: c.channel, Notify: notify,
		CodeHash: reqs[0].codeHash, ParentID: reqs[0].parentID, TraceContext: reqs[0].traceContext,
	}
	for _, r := range reqs {
		p.Ids = append(p.Ids, r.id)
		p.Names = append(p.Names, r.name)
		p.Queues = append(p.Queues, r.queue)
		p.Priorities = append(p.Priorities, r.priority)
		p.PartitionKeys = append(p.PartitionKeys, r.partitionKey)
		p.DedupIds = append(p.DedupIds, r.dedupID)
		p.Inputs = append(p.Inputs, r.input)
		p.MaxRecoveries = append(p.MaxRecoveries, r.maxRecoveries)
		p.TimeoutsMs = append(p.TimeoutsMs, r.timeoutMs)
		p.DelaysMs = append(p.DelaysMs, r.delayMs)
		p.StepsExpected = append(p.StepsExpected, r.stepsExpected)
	}
	return p
}

// insertOne stores one workflow. inserted is false when the ID (or deduplication ID)
// belonged to an existing workflow, whose ID it returns.
func (c *Client) insertOne(ctx context.Context, conn dbschema.DBTX, r insertRequest, state State, notify bool) (id string, inserted bool, err error) {
	q := db.New(conn)
	// A conflicting workflow can finish (releasing its deduplication ID) between our insert
	// and our look-up: try again then.
	for range 3 {
		rows, err := q.InsertWorkflows(ctx, c.insertParams([]insertRequest{r}, state, notify))
		if err != nil {
			return "", false, c.dbError("storing workflow", err)
		}
		if len(rows) == 1 {
			return r.id, true, nil
		}
		id, err := c.resolveConflict(ctx, conn, r)
		if !errors.Is(err, errConflictGone) {
			return id, false, err
		}
	}
	return "", false, fmt.Errorf("wf: storing workflow %q: its ID kept conflicting with workflows that vanished", r.id)
}

var errConflictGone = errors.New("conflicting workflow vanished")

// resolveConflict finds the workflow that made r's insert a no-op.
func (c *Client) resolveConflict(ctx context.Context, conn dbschema.DBTX, r insertRequest) (string, error) {
	p := db.FindDuplicateParams{ID: r.id, Queue: r.queue, DedupID: r.dedupID}
	if r.sameInput {
		p.Input = r.input
	}
	dup, err := db.New(conn).FindDuplicate(ctx, p)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", errConflictGone
	}
	if err != nil {
		return "", c.dbError("looking up an existing workflow", err)
	}
	if dup.ID == r.id {
		if dup.Name != r.name {
			return "", &IDConflictError{ID: r.id, Name: r.name, ExistingName: dup.Name}
		}
		if !dup.SameInput {
			return "", &InputMismatchError{ID: r.id, Workflow: r.name, State: State(dup.State)}
		}
		return dup.ID, nil // the same workflow again: idempotent
	}
	if r.returnExisting {
		return dup.ID, nil
	}
	return "", &DuplicateError{Queue: r.queue, DedupID: r.dedupID, ExistingID: dup.ID}
}

// traceContext is what the client's hooks store with workflows enqueued under ctx.
func (c *Client) traceContext(ctx context.Context) string {
	if c.cfg.Hooks == nil {
		return ""
	}
	return c.cfg.Hooks.TraceContext(ctx)
}

func typeName[T any]() string {
	return reflect.TypeFor[T]().String()
}

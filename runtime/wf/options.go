package wf

import (
	"fmt"
	"time"
)

// Defaults.
const (
	// DefaultQueue is the queue of workflows that name none.
	DefaultQueue = "default"
	// DefaultMaxRecoveries is how many times a workflow is recovered after its executor
	// stopped before it is given up (state dead).
	DefaultMaxRecoveries = 10
	// DefaultBackoff is the wait before a step's first retry.
	DefaultBackoff = time.Second
	// DefaultBackoffFactor multiplies the wait after each retry.
	DefaultBackoffFactor = 2.0
	// DefaultMaxBackoff caps the wait between retries.
	DefaultMaxBackoff = time.Minute
	// DefaultJitter randomizes each wait by up to ±10%.
	DefaultJitter = 0.1
)

// WorkflowOption configures a workflow definition (NewWorkflow).
type WorkflowOption func(*workflowOptions)

type workflowOptions struct {
	queue         string
	maxRecoveries int
	timeout       time.Duration
	codeHash      string
	stepsExpected int
}

// WorkflowQueue sets the queue the workflow is enqueued on when the caller names none.
// Default DefaultQueue.
func WorkflowQueue(name string) WorkflowOption {
	return func(o *workflowOptions) { o.queue = name }
}

// MaxRecoveries sets how many times the workflow is recovered after the executor running it
// stopped (crash, SIGKILL, lost lease) before it is given up as dead. Default
// DefaultMaxRecoveries; 0 gives up at the first crash.
func MaxRecoveries(n int) WorkflowOption {
	return func(o *workflowOptions) { o.maxRecoveries = n }
}

// WorkflowTimeout bounds a workflow's run from its first start. The deadline is stored, so
// it survives restarts; past it, running steps are cancelled and the workflow fails with
// ErrTimeout. Default: none.
func WorkflowTimeout(d time.Duration) WorkflowOption {
	return func(o *workflowOptions) { o.timeout = d }
}

// CodeHash records the hash of the workflow's code (wfgen computes it). A workflow that has
// started is resumed only by an executor registered with the same hash, so a changed
// workflow never replays a history written by other code.
func CodeHash(hash string) WorkflowOption {
	return func(o *workflowOptions) { o.codeHash = hash }
}

// ExpectedSteps records how many steps a run of the workflow takes when its step sequence is
// static (wfgen counts them), so that Status reports progress (StepsDone of StepsExpected)
// without the workflow publishing anything. Default: unknown (0).
func ExpectedSteps(n int) WorkflowOption {
	return func(o *workflowOptions) { o.stepsExpected = n }
}

// StepOption configures a step definition (NewStep).
type StepOption func(*stepOptions)

type stepOptions struct {
	maxAttempts int
	backoff     time.Duration
	factor      float64
	maxBackoff  time.Duration
	jitter      float64
	retryIf     func(error) bool
	timeout     time.Duration
}

// MaxAttempts sets how many times the step function may run before the step fails. Default
// 1: no retries.
func MaxAttempts(n int) StepOption {
	return func(o *stepOptions) { o.maxAttempts = n }
}

// Backoff sets the wait before the first retry. Default DefaultBackoff.
func Backoff(d time.Duration) StepOption {
	return func(o *stepOptions) { o.backoff = d }
}

// BackoffFactor sets the factor the wait grows by after each retry. Default
// DefaultBackoffFactor.
func BackoffFactor(f float64) StepOption {
	return func(o *stepOptions) { o.factor = f }
}

// MaxBackoff caps the wait between retries. Default DefaultMaxBackoff.
func MaxBackoff(d time.Duration) StepOption {
	return func(o *stepOptions) { o.maxBackoff = d }
}

// Jitter randomizes each wait by up to ±f of itself, so that many failing steps do not
// retry in lockstep. Default DefaultJitter; 0 disables it.
func Jitter(f float64) StepOption {
	return func(o *stepOptions) { o.jitter = f }
}

// RetryIf sets which errors are retried: an error it refuses fails the step at once, as a
// final error (StepError.Final). Default: every error. Errors marked with Final are never
// retried and never passed to it, and neither are the errors of a cancelled or stopped
// workflow. The wfgen annotation //wf:step retry_if=F sets it to the package's function F.
func RetryIf(retryable func(error) bool) StepOption {
	return func(o *stepOptions) { o.retryIf = retryable }
}

// StepTimeout bounds each attempt of the step: its context is cancelled after d. Default:
// none.
func StepTimeout(d time.Duration) StepOption {
	return func(o *stepOptions) { o.timeout = d }
}

func newStepOptions(name string, opts []StepOption) stepOptions {
	o := stepOptions{
		maxAttempts: 1,
		backoff:     DefaultBackoff,
		factor:      DefaultBackoffFactor,
		maxBackoff:  DefaultMaxBackoff,
		jitter:      DefaultJitter,
	}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case o.maxAttempts < 1:
		panic(fmt.Sprintf("wf: step %q: MaxAttempts(%d) must be at least 1", name, o.maxAttempts))
	case o.backoff < 0 || o.maxBackoff < 0 || o.timeout < 0:
		panic(fmt.Sprintf("wf: step %q: durations must not be negative", name))
	case o.factor < 1:
		panic(fmt.Sprintf("wf: step %q: BackoffFactor(%g) must be at least 1", name, o.factor))
	case o.jitter < 0 || o.jitter > 1:
		panic(fmt.Sprintf("wf: step %q: Jitter(%g) must be between 0 and 1", name, o.jitter))
	}
	return o
}

// EnqueueOption configures one enqueue (Workflow.Enqueue) or direct start (Workflow.Start).
type EnqueueOption func(*enqueueOptions)

type enqueueOptions struct {
	id             string
	sameInput      bool // RequireSameInput
	queue          string
	priority       int
	dedupID        string
	returnExisting bool
	partitionKey   string
	delay          time.Duration
	timeout        time.Duration
	queueOnly      []string // names of options that only apply to Enqueue, for Start's error
}

// WithID sets the workflow's ID, which is also its idempotency key: enqueueing or starting
// the same workflow under the same ID again returns the existing workflow and never runs it
// twice. By default that holds whatever the input: a retried request gets the first run
// even if its input changed meanwhile. Pass RequireSameInput to refuse an input that
// differs from the stored one instead. Default ID: a new UUIDv7.
func WithID(id string, policy ...IDPolicy) EnqueueOption {
	return func(o *enqueueOptions) {
		o.id = id
		o.sameInput = len(policy) > 0 && policy[len(policy)-1] == RequireSameInput
	}
}

// IDPolicy says what an enqueue or start under an ID that a workflow of the same name
// already has does when the inputs differ (WithID).
type IDPolicy int

const (
	// AcceptAnyInput returns the existing workflow whatever its input (the default): the
	// input of the enqueue is dropped.
	AcceptAnyInput IDPolicy = iota
	// RequireSameInput returns the existing workflow only if its stored input equals the
	// enqueue's, compared as JSON values (key order and spacing do not matter); otherwise
	// Enqueue, EnqueueTx and Start return an *InputMismatchError and store nothing. Use it
	// where an ID names a piece of work whose input must not silently change, such as an
	// ID derived from a business key.
	RequireSameInput
)

// WithQueue puts the workflow on the named queue instead of its default one. Some worker must
// work that queue (a worker works the queues it registered and the default queues of the
// workflows it registered); until one does, the workflow waits there.
func WithQueue(name string) EnqueueOption {
	return func(o *enqueueOptions) { o.queue = name; o.queueOnly = append(o.queueOnly, "WithQueue") }
}

// WithPriority sets the workflow's priority in its queue: lower runs first; equal
// priorities run in enqueue order. Default 0.
func WithPriority(p int) EnqueueOption {
	return func(o *enqueueOptions) { o.priority = p; o.queueOnly = append(o.queueOnly, "WithPriority") }
}

// DedupPolicy says what Enqueue does when the deduplication ID is taken.
type DedupPolicy int

const (
	// RejectDuplicate makes Enqueue return a *DuplicateError (the default).
	RejectDuplicate DedupPolicy = iota
	// ReturnExisting makes Enqueue return the handle of the workflow holding the ID.
	ReturnExisting
)

// WithDedupID sets a deduplication ID: while a workflow with the same deduplication ID is
// enqueued or running in the same queue, another enqueue is refused with a *DuplicateError
// or, with ReturnExisting, returns the existing workflow's handle.
func WithDedupID(id string, policy ...DedupPolicy) EnqueueOption {
	return func(o *enqueueOptions) {
		o.dedupID = id
		o.returnExisting = len(policy) > 0 && policy[len(policy)-1] == ReturnExisting
		o.queueOnly = append(o.queueOnly, "WithDedupID")
	}
}

// WithPartitionKey puts the workflow in a partition of its queue (a tenant, say): a queue's
// PartitionConcurrency limits how many workflows of one partition run at once.
func WithPartitionKey(key string) EnqueueOption {
	return func(o *enqueueOptions) { o.partitionKey = key; o.queueOnly = append(o.queueOnly, "WithPartitionKey") }
}

// WithDelay makes the workflow wait in its queue for d before it may start.
func WithDelay(d time.Duration) EnqueueOption {
	return func(o *enqueueOptions) { o.delay = d; o.queueOnly = append(o.queueOnly, "WithDelay") }
}

// WithStartAt makes the workflow wait in its queue until t before it may start.
func WithStartAt(t time.Time) EnqueueOption {
	return func(o *enqueueOptions) {
		o.delay = time.Until(t)
		o.queueOnly = append(o.queueOnly, "WithStartAt")
	}
}

// WithTimeout overrides the workflow's WorkflowTimeout for this run.
func WithTimeout(d time.Duration) EnqueueOption {
	return func(o *enqueueOptions) { o.timeout = d }
}

// Package wf is wfgen's runtime: durable workflows and steps on PostgreSQL.
//
// A workflow is a deterministic Go function that calls steps; steps do the I/O. The runtime
// stores every workflow (its input, state, output or error) and checkpoints every completed
// step in PostgreSQL, so that a workflow interrupted by a crash resumes from its last
// completed step, on this process or another one. wfgen generates typed wrappers around this
// package from annotated functions; this package is also usable by hand:
//
//	var (
//		charge   = wf.NewStep[Receipt]("shop.Charge", wf.MaxAttempts(3))
//		checkout = wf.NewWorkflow("shop.Checkout", func(ctx wf.Context, o Order) (Receipt, error) {
//			return charge.Run(ctx, func(ctx context.Context) (Receipt, error) { return pay(ctx, o) })
//		})
//	)
//
//	c, err := wf.NewClient(pool, wf.Config{})
//	err = c.Register(checkout, charge) // a worker: runs what it registers
//	err = c.Start(ctx)
//	defer c.Stop(ctx)
//	h, err := checkout.Enqueue(ctx, c, Order{ID: 42}, wf.WithID("order-42"))
//	receipt, err := h.Result(ctx)
//
// # Guarantees
//
//   - Durable steps. A step's output (or its final error, once its attempts run out) is
//     checkpointed before the workflow goes on: the next step starts only once the previous
//     checkpoint is committed. After a crash the workflow runs again from the top; every
//     step with a checkpoint returns its recorded output without running.
//   - At-least-once steps. A step that was running when its process died runs again, so
//     steps must be idempotent: use the workflow ID and the step's position as idempotency
//     keys towards other systems.
//   - Deterministic step IDs. The Nth step call of an execution has step ID N. If the step
//     recorded at N has another name than the one the code calls, the workflow stops with a
//     *NonDeterminismError naming the workflow, the step ID, and both names. Keep workflow
//     code deterministic: no time, randomness, map iteration order, goroutines or I/O outside
//     steps.
//   - Idempotent starts. A workflow ID is an idempotency key: enqueueing or starting the same
//     workflow under the same ID returns the existing workflow (and its result once done)
//     and never runs it twice, whatever the new input; WithID(id, RequireSameInput) refuses
//     an input that differs from the stored one with an *InputMismatchError.
//   - One owner. A running workflow is owned by one executor (a started Client); its
//     completion is written only under the attempt it was claimed with, so an executor that
//     lost a workflow (cancelled, or taken over) cannot complete it.
//   - Panics are errors. A panic in a step or a workflow fails that attempt or workflow with
//     a *PanicError; the process goes on.
//
// # States
//
// A workflow is enqueued (waiting in its queue), running (owned by an executor), or final:
// succeeded, failed, cancelled or dead. See State for the transitions. A workflow whose
// executor died returns to its queue and resumes from its last completed step; after more
// than MaxRecoveries such recoveries it is given up as dead (a workflow that keeps killing
// its executors must not crash-loop the fleet), and kept for inspection.
//
// # Queues and workers
//
// Enqueued workflows wait in a named queue (NewQueue; WorkflowQueue and WithQueue choose
// it). Every started client that registered a workflow works that workflow's queue: N
// replicas of an app form one worker pool. A worker claims a batch of available workflows
// in one statement (FOR UPDATE SKIP LOCKED), as many as it has free slots. An enqueue
// notifies the schema's channel (LISTEN/NOTIFY, delivered when the enqueuing transaction
// commits), which wakes idle workers at once; workers also poll every PollInterval, which
// finds work whose notification was lost. Queues order work by priority, then by the time it
// became available, then FIFO, and can limit it per process (WorkerConcurrency), globally
// (GlobalConcurrency), by start rate (RateLimit) and per partition key
// (PartitionConcurrency); WithDedupID refuses duplicates, WithDelay and WithStartAt delay
// starts, and EnqueueTx enqueues inside the caller's transaction.
//
// # Replicas, leases and recovery
//
// Each started client is an executor with an ID (Config.ExecutorID). It owns the workflows it
// runs through a lease it renews every HeartbeatInterval. When it stops renewing (SIGKILL,
// network loss), any other executor takes its workflows over once the lease has expired
// (LeaseDuration, 10s by default, plus at most one heartbeat) and resumes them from their last
// completed step; an executor restarted under the same ID resumes them at once. An executor
// that cannot renew its lease in time interrupts its own workflows before anyone can take
// them over, and its late writes are refused (completions are fenced by the attempt that
// claimed the workflow; a step already recorded is never overwritten).
//
// Stop stops taking work, lets running workflows finish until its context ends, then
// interrupts the rest and hands them back to their queues, where another replica resumes
// them at once, without waiting for the lease.
//
// Workflows are resumed only by executors that registered them with the same code hash
// (CodeHash, which wfgen computes from the workflow's code): a changed workflow never replays
// a history written by other code. Workflows not yet started run on any executor that
// registered them.
//
// Each executor records the workflows it registered, with their code hashes, when it starts.
// A workflow that may start but that no live executor can run (nobody registered its name,
// or nobody with the code hash it started under) waits until one starts, and says so:
// Handle.Status reports why in Status.Waiting, Client.QueueDepths counts it as Unrunnable,
// and every worker of its queue logs a warning once per workflow name and code hash.
//
// # Schedules
//
// NewSchedule runs a workflow at every tick of a cron spec. Every worker that registers the
// schedule fires it, and the database lets each tick run once: the tick's workflow has the ID
// "<workflow>@<tick>". Ticks missed while no worker ran are skipped, or fired late within
// ScheduleBackfill's window.
//
// # Observing
//
// Handle.Status reports a workflow's state, owner and timings, and Client.Steps its recorded
// steps. Client.QueueDepths counts unfinished workflows per queue and state,
// Client.Executors lists the executors with how much each runs, and Client.ListWorkflows
// finds workflows by state, queue, executor or name. All of it is plain SQL tables in the
// configured schema, readable from psql too.
//
// Handle.Status and Handle.Result report an ID that no workflow has with an error wrapping
// ErrNotFound, at once; a workflow enqueued by EnqueueTx exists for them once the
// transaction commits.
//
// # Errors
//
// Handle.Result returns a *WorkflowError for a workflow that did not succeed, read back from
// the database so that every process sees the same error: its Message is the message of the
// error the workflow returned, its Stack the stack of a panic; errors.Is matches
// ErrCancelled, ErrTimeout and ErrDead, and errors.As finds a *NonDeterminismError. Inside a
// workflow, a step whose attempts ran out returns a *StepError that wraps every attempt's
// error, so errors.Is and errors.As work on them; replayed after a restart, it carries their
// messages. A value that does not make its round trip through JSON is a *CodecError, which
// says whether it could not be encoded or did not decode as the type that reads it.
//
// The executor that ran a failed workflow logs it, at Warn, or at Error with the stack when
// the workflow panicked.
//
// # Costs
//
// Checkpoints and completions of all workflows running in a process go through one
// group-commit writer: whatever queued up while its previous write was in flight is written
// in one statement, so many concurrent workflows share each commit. A workflow's last step
// and its completion are usually written together. A workflow's first run never reads its
// history (there is none); a resumed run reads it once. Results of workflows completed in
// this process reach Handle.Result without a query; results of workflows completed
// elsewhere are announced by a notification per commit, after which the waiter reads just
// those.
package wf

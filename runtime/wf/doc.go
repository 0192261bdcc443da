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
//     keys towards other systems (StepInfo.IdempotencyKey, from CurrentStep).
//   - Exactly-once database steps. A step run with Step.RunTx writes through a transaction
//     of the client's pool that also holds its checkpoint: its writes and its checkpoint
//     commit together or not at all (see Transactional steps).
//   - Deterministic step IDs. The Nth step call of an execution has step ID N. If the step
//     recorded at N has another name than the one the code calls, the workflow stops with a
//     *NonDeterminismError naming the workflow, the step ID, and both names. Keep workflow
//     code deterministic: no time, randomness, map iteration order, goroutines or I/O outside
//     steps.
//   - Idempotent starts. A workflow ID is an idempotency key: enqueueing or starting the same
//     workflow under the same ID returns the existing workflow (and its result once done)
//     and never runs it twice, whatever the new input; WithID(id, RequireSameInput) refuses
//     an input that differs from the stored one with an *InputMismatchError.
//   - One owner. A running workflow is owned by one executor (a started Client), through
//     database outages too: every write an owner makes is fenced (see Ownership and fencing).
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
// notifies the schema's channel (LISTEN/NOTIFY, delivered once the enqueue has committed),
// which wakes idle workers at once; workers also poll every PollInterval, which finds work
// whose notification was lost. An Enqueue on a client with no other enqueue in flight sends
// its notification in the round trip of its insert, right after the insert's commit;
// overlapping enqueues leave theirs to a background announcer that sends one notification
// for many, since notifying transactions take a database-wide lock through their commits. Queues order work by priority, then by the time it
// became available, then FIFO, and can limit it per process (WorkerConcurrency), globally
// (GlobalConcurrency), by start rate (RateLimit) and per partition key
// (PartitionConcurrency); WithDedupID refuses duplicates, WithDelay and WithStartAt delay
// starts, and EnqueueTx enqueues inside the caller's transaction.
//
// A claim of a partitioned queue reads the queue's first available workflows (200, or ten
// per free slot); when they hold too few it may start, as behind one tenant's backlog at
// its limit, it visits every partition with waiting workflows, one index probe each, and
// takes the first workflows of those below their limit. A partition at its limit costs a
// claim that one probe however many of its workflows wait. A workflow without a partition
// key is not capped: it has the empty key, a partition without a limit, which the claim
// visits as it visits the others.
//
// A queue that registered workflows name but no registered Queue declares is worked with the
// defaults (no limits), and Start logs a warning naming it: the usual cause is a typo that
// would silently drop the declared queue's limits.
//
// # Replicas, leases and recovery
//
// Each started client is an executor with an ID (Config.ExecutorID). It owns the workflows it
// runs through a lease it renews every HeartbeatInterval. When it stops renewing (SIGKILL,
// network loss), any other executor takes its workflows over once the lease has expired
// (LeaseDuration, 10s by default, plus at most one heartbeat) and resumes them from their last
// completed step; an executor restarted under the same ID resumes them at once. Two live
// processes must not share an ID: the one whose registration the other took over logs an
// error naming the other's host and PID at its next renewal.
//
// # Ownership and fencing
//
// Every claim of a workflow (from its queue, or a direct Start) increments its attempt
// (Context.Attempt, Status.Attempt) and gives it a random claim token: together, the fencing
// token. Each write an owner makes carries the attempt and token it was made under, and
// PostgreSQL refuses it, in the same statement, unless the workflow is still running under
// them:
//
//   - a claim takes work only while the claimer's lease is valid at the claim's own time,
//     checked in the claim statement: an executor whose lease expired, declared dead or not
//     yet, claims nothing;
//   - a step checkpoint is stored only while its workflow runs under the checkpoint's
//     attempt (the statement locks the workflow's row to check it, so a cancel or a takeover
//     either commits first and refuses the checkpoint, or waits for it). A refused
//     checkpoint is never acknowledged: the step that produced it returned, but the next step
//     of that execution returns ErrCancelled if the workflow was cancelled, ErrInterrupted
//     otherwise, and the execution stops without writing anything more;
//   - a completion, and a hand-back to the queue, apply only under the same condition.
//
// A claim from a queue commits without waiting for its WAL flush, which takes a flush (from
// a fraction of a millisecond to several, by disk) out of every workflow's way to its first
// step. Its execution's first synchronous write proves it durable (that commit's flush
// covers the claim's). A server crash before that can lose the claim: the workflow is then
// claimed again under the same attempt, but never under the same token, so the lost claim's
// execution can write nothing. Its code could still run on, so when the notification
// listener's connection fails (as every connection does when the server crashes) or a lease
// renewal fails, the executions whose claims are not yet known durable are interrupted
// (their contexts end) and handed back to their queues once the database is back. Every
// claim of the executor up to the last one made before one of its checkpoint batches was
// sent is known durable once that batch commits; under load that is about a millisecond
// after the claim. (The first synchronous write of the execution itself would prove it too,
// but the runtime counts only the checkpoint writer's.)
//
// So a workflow's recorded steps and its result are always those of one attempt's view of
// its history, and a workflow cancelled while its notification was lost still stops at its
// next step: the refused checkpoint carries the cancellation. A cancellation whose
// notification reaches the executor between the workflow's claim and its launch (the claim
// commits first) is kept for that attempt, and the execution starts cancelled.
//
// An executor trusts its lease for LeaseDuration minus HeartbeatInterval, counted from when
// it sent its last successful renewal. Once that window ends without a renewal (the database
// is unreachable, or too slow), it starts no step and claims nothing, and at its next
// heartbeat, before sending it, it interrupts the workflows it runs (with LeaseDuration a
// multiple of HeartbeatInterval, as by default, the window ends on a heartbeat): on its own
// clock this happens before the database can see the lease expire, so no other executor takes
// a workflow over while its body still runs here (a step that ignores its context.Context can
// still run on; make steps honour their context). Global concurrency counts the workflows in state running,
// which include those whose code returned and whose completion is being written, so it is
// never exceeded. When the database comes back, an executor that was not declared dead
// meanwhile renews its lease and hands the interrupted workflows back to their queues; one
// that was declared dead registers again, and the others have taken its workflows over. A
// PostgreSQL restart shorter than LeaseDuration minus HeartbeatInterval costs waiting only: checkpoints and completions
// are retried until they are written, heartbeats resume, and nothing is interrupted.
//
// Two of the runtime's transactions lock rows that other executors need: a dequeue from a
// queue with global limits (GlobalConcurrency, RateLimit) locks the queue's row, and a
// transactional step's checkpoint locks the workflow's row in share mode until the step's
// commit. An executor cut off from the
// server in the middle of one (a network partition, a frozen VM) cannot release its locks,
// and the server would notice the lost connection only when TCP keepalives give up, hours
// later by default, while the others' claims of that queue, or every takeover, waited. Each
// of these transactions sets idle_in_transaction_session_timeout to half of LeaseDuration,
// after which the server ends the session. The rest of a transactional step's transaction,
// and EnqueueTx's, are yours to bound the same way, or with the server's
// tcp_keepalives_idle.
//
// The runtime shares the pool you give it, and the settings it changes last only for its
// own transactions (set_config with is_local): the idle timeouts above, synchronous_commit
// off for claims, and, for the statements on its hot path (claims, checkpoint batches, the
// histories of resumed workflows, results read by ID), JIT off, plan_cache_mode force_generic_plan and
// enable_seqscan and enable_mergejoin off. PostgreSQL would otherwise plan a lightly loaded
// worker's checkpoint batches anew at each execution, which cost more than running them;
// with those settings each connection plans them once, and every plan reaches its rows by
// key however small the tables were when it was made (queries/queues.sql,
// HotStatementSettings, says more).
//
// A worker stops claiming while the completions it has handed to the checkpoint writer but
// that are not yet written reach four times its queue's WorkerConcurrency, so that a slow
// database slows claiming down instead of piling up running workflows. Until then they wait
// for the writer's next batch, which the more of them there are the fewer transactions
// they cost; a crash makes those workflows run their last steps again.
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
// "<workflow>@<tick>", the tick in RFC 3339 and UTC.
//
// A worker fires each tick when the clock reaches it, and does not lose the ticks that fall
// while it runs but cannot reach the database: when the enqueue of a tick fails, it keeps
// the tick and retries it, waiting 100ms after the first failure and twice as long after
// each next one, up to 5s, until the enqueue succeeds; ticks that come due meanwhile wait
// behind it and are enqueued in order once it has. Every worker that fires the schedule
// retries the ticks it failed to enqueue, whichever gets through first enqueues a tick, and
// the tick's ID makes it one run. A tick is retried within the schedule's retry window,
// counted from the tick: ScheduleBackfill's window when that is larger than
// DefaultTickRetryWindow (an hour), otherwise DefaultTickRetryWindow. A tick older than the
// window is dropped, with an error log naming it.
//
// Ticks that fall while no worker runs at all are skipped, except those within
// ScheduleBackfill's window before a worker starts, which that worker fires as it starts. A
// worker that stops forgets the ticks it was still retrying: the workers still running fire
// those ticks themselves; with none left, the ticks count as falling while no worker ran.
//
// Schedule.Trigger enqueues a tick's run by hand, from any client, under the same ID: a tick
// triggered and fired, or triggered twice, is one run.
//
// # Transactional steps
//
// Step.RunTx runs a step whose effects are writes to the database of the client's pool. Each
// attempt begins a transaction, calls the step with it (sqlc's New(tx) takes it), writes the
// step's checkpoint in the same transaction, fenced by the workflow's attempt as every
// checkpoint is, and commits; the previous step's checkpoint is committed before it begins.
// A process that dies before the commit leaves neither the writes nor the checkpoint, and the
// step runs again when the workflow resumes; after the commit, replay returns the recorded
// output. An error, a panic or a failed commit (a deferred constraint, a serialization
// failure, a lost connection) rolls the attempt back and counts as a failed attempt; a
// checkpoint refused because the workflow was cancelled or taken over rolls back the step's
// writes, and RunTx returns ErrCancelled or ErrInterrupted. When every attempt fails, the
// failure is recorded as any step's. Effects outside the transaction stay at least once.
// The step must not end the transaction itself: its Commit and Rollback return
// ErrStepEndsTx.
//
// # Dependencies
//
// Steps reach what they need (a pool, an HTTP client, a configuration) through a value
// registered on the client: Provide(&Steps{...}) registers it, Dep[Steps](ctx) returns it
// inside the workflow. The generated Register takes one such value per type whose methods
// are steps, so each worker, and each test, registers its own. Dep on a client that has none
// returns an error wrapping ErrMissingDependency.
//
// # Sleeping, child workflows and debounce
//
// Sleep pauses a workflow durably: its wake-up time is a step, so a workflow resumed after a
// crash sleeps only what is left and wakes once. A workflow that waits (in Sleep, in
// Topic.Recv, or in Handle.Await for another workflow) for longer than Config.SuspendAfter
// gives its worker slot and goroutine back: it is suspended, back in its queue until it is
// due (Status.WaitingFor says for what), and the wait returns a *SuspendedError that the
// workflow function returns. Whichever executor is free when it is due (or when the message
// or the child's completion it waits for wakes it) claims it and replays its recorded steps
// up to the wait, which then returns normally. So waiting workflows cost rows, not
// goroutines or slots; a resumption costs a claim and a read of the history. Suspensions and
// resumptions are claims like any other: they count against the queue's rate limit, not its
// recoveries.
//
// A workflow starts child workflows with Workflow.EnqueueChild, EnqueueChildren (many in one
// statement and one checkpoint) or StartChild (in this process, now), and waits for one with
// Handle.Await. Each call is a step: the child's ID (the parent's ID, "/", the step ID, and
// for EnqueueChildren "/" and the index) is recorded, so a replay finds the same child and
// never starts a second one. Status.ParentID links them, and cancelling a workflow cancels
// its unfinished descendants. A parent awaiting a child for longer than SuspendAfter is
// suspended and the child's completion wakes it, so parents never hold the slots their
// children need. The checkpoint writer suspends it, in its batch: it locks the parent's
// row first (a child's completion locks it too, to wake it), and suspends only if a child
// it waits for is not final, counting the completions of the same statement.
//
// Workflow.Debounce starts a run only once no call with the same key came for a period (or
// after a maximum delay): a burst of calls starts one run, with the last call's input.
//
// # Events and streams
//
// A workflow publishes values for its callers while it runs. An Event is a typed key whose
// latest value the workflow sets (progress, a URL to open); a Stream is a typed, append-only
// sequence it appends to and closes (log lines, partial results). Define each once, at
// package level, share the definition between the workflow and its readers, and register it:
//
//	var progress = wf.NewEvent[Progress]("progress")
//	var lines = wf.NewStream[string]("log")
//
//	// In the workflow:
//	err := progress.Set(ctx, Progress{Done: 1, Total: 4})
//	err = lines.Append(ctx, "metrics computed")
//	err = lines.Close(ctx)
//
//	// In any client (one that only enqueues too):
//	p, ok, err := progress.Get(ctx, c, id)         // the latest value, no wait
//	p, err = progress.Wait(ctx, c, id)             // waits until it is set
//	vals, closed, err := lines.Read(ctx, c, id, 0) // what is there, from offset 0
//	for line, err := range lines.All(ctx, c, id, 0) {
//		// every value in order, as it comes, until the stream is closed
//	}
//
// Set, Append and Close take one step ID each, and store their value together with their
// step's checkpoint in one statement: a value is written exactly once, however often its
// workflow replays or runs again after a crash, and a stream's values keep their order and
// their offsets (0, 1, 2...) across takeovers. An event's version column counts its writes.
// Values are JSON (jsonb): readable from SQL, and a stored value that does not decode as the
// reader's type is a *CodecError naming the event or stream and the type.
//
// Wait and All wake within milliseconds of a write, in any process (a change notification
// on the schema's channel), and poll from 10ms up to once a second for what notifications
// miss; bound them with their context. A stream ends when its workflow closes it or becomes
// final, and Wait for an event that a final workflow never set returns an error rather than
// waiting forever.
//
// Costs: Set, Append and Close are one round trip each (after the previous step's
// checkpoint is durable; they do not go through the group commit), and nothing on replay.
// Get and Read are one round trip; Wait and All one per look (All reads up to 500 values
// per look).
//
// # Messages
//
// A Topic carries typed messages to workflows: Topic.Send sends one from anywhere, by the
// destination's workflow ID, and Topic.SendFromWorkflow from inside a workflow; the
// destination receives the messages of a topic in send order with Topic.Recv. Messages are
// rows in PostgreSQL until received, so a message sent before the Recv, while the workflow
// is suspended, or while no executor runs, is never lost.
//
// Each message is received exactly once. Recv takes two step IDs: the first records its
// deadline, so a workflow resuming after a crash waits only what is left of the timeout;
// the second is written by the statement that consumes the message (the checkpoint
// writer's, fenced by the workflow's attempt like every checkpoint), so the message and the
// step that received it are recorded together or not at all, and a replay returns the
// recorded message. A timeout
// is recorded too, and replays as one. SendFromWorkflow is a step whose message is stored
// under an idempotency key made of the sender's workflow ID and step ID: a send step that
// runs again after a crash stores nothing twice. Clients get the same with
// WithIdempotencyKey.
//
// Send is one statement: it locks the destination's row, stores the message, and wakes
// the workflow if it is suspended in a Recv of the topic. A Recv that suspends locks the
// same row and checks for a message before suspending, so a send either comes before the
// check, which finds it, or after the suspension, which it wakes: never between. Sends to
// one workflow are serialized by that lock, which also keeps their order. Topic.SendMany
// is Send for a batch, in one statement: it locks its destinations in ID order (so that
// batches queue up rather than deadlock; one that PostgreSQL aborts to break a deadlock
// with a checkpoint batch is tried again), and stores all the messages or, when a
// destination does not exist, none; Topic.SendManyFromWorkflow is SendMany as one step,
// exactly once as SendFromWorkflow is.
//
// Costs: Send, one round trip (its wake-up notification is sent after the commit, batched
// with others); SendMany, one round trip for the whole batch. Recv with a message waiting: an indexed read, and two checkpoints that the
// checkpoint writer commits together with other executions' (Recv returns the message
// without waiting for the second; the next step waits for it, as for any step's
// checkpoint). While it waits, Recv looks again at every change notification about
// the workflow and otherwise polls, from 10ms up to a second, each look one indexed read;
// after Config.SuspendAfter it suspends (in the checkpoint writer's batch, which locks the
// row first and suspends only if no message came meanwhile) and the send that wakes it
// costs the resumption a claim and a read of its history.
//
// # Retention
//
// Finished workflows (succeeded, failed, cancelled, dead) are deleted Config.Retention after
// they became final (DefaultRetention, 30 days; negative keeps everything), with their steps,
// messages, events and streams. Every started client runs a pass every
// Config.RetentionInterval (DefaultRetentionInterval, a minute); one of
// them at a time does the work (a transaction-level advisory lock, tried and not waited for),
// deleting oldest first in batches of 1000 that skip locked rows, at most 100 batches per
// pass, so the hot paths never wait for it. Client.DeleteFinished does the same by hand. A
// workflow ID stays an idempotency key only while its workflow is kept.
//
// # Operating
//
// Client.ListWorkflows searches workflows by state (several), name, queue, executor, parent,
// ID prefix and creation time, newest first, a page at a time; ListOptions.Stranded keeps the
// workflows that wait because the live executors run other code than the code they started
// under. Client.CancelWorkflow, ResumeWorkflow (a cancelled, failed or dead workflow continues
// from its last completed step), ForkWorkflow (a new workflow from step N of any workflow,
// the steps before it copied, optionally onto the current code) and DeleteWorkflow (a final
// one) work by ID, untyped, and each has a ...Tx variant that commits with the caller's
// transaction.
//
// # Observing
//
// Config.Hooks observes every workflow execution, step attempt and checkpoint write (package
// wfprom turns them into Prometheus metrics, wfotel into OpenTelemetry spans); a client
// without hooks pays nothing for them.
//
// Handle.Status reports a workflow's state, owner and timings, and Client.Steps its recorded
// steps. Client.QueueDepths counts unfinished workflows per queue and state,
// Client.Executors lists the executors with how much each runs, and Client.ListWorkflows
// finds workflows by state, queue, executor or name. Client.QueueThroughputs counts the
// workflows each queue ended in the last minutes, Client.Schedules lists the schedules the
// executors registered with their last and next tick, and Client.WorkflowPayload and
// Client.WorkflowActivity read a workflow's input and output JSON and its events, stream
// values and messages. Package wfdash shows all of it in a web dashboard. All of it is plain
// SQL tables in the configured schema, readable from psql too.
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
// workflow, a step that failed returns a *StepError that wraps every attempt's error, so
// errors.Is and errors.As work on them; replayed after a restart, it carries their
// messages. A value that does not make its round trip through JSON is a *CodecError, which
// says whether it could not be encoded or did not decode as the type that reads it.
//
// A step is retried as its options say (MaxAttempts, Backoff, BackoffFactor, MaxBackoff,
// Jitter) unless its error is final: marked with Final by the step function, or refused by
// the step's RetryIf. A final error fails the step at once; its StepError has Final set,
// after a replay too, and IsFinal reports it.
//
// Coded errors survive the database. An error with an ErrorCode() string method (a
// CodedError) that a step or a workflow fails with is stored with its code and message, and
// the value of a type registered with RegisterErrorCode is stored as JSON: a replayed
// StepError and a WorkflowError read in any process wrap them as *RecordedError values, so
// errors.As finds a CodedError, and the registered type with its fields. ErrorCode(err)
// gives the first code in an error's tree, the same for the live error and the one read
// back.
//
// A step function learns which attempt it runs in from its context: StepAttempt(ctx), and
// CurrentStep(ctx), whose StepInfo.IdempotencyKey ("<workflow ID>/<step ID>") is the same in
// every run of that step and differs for every other step, for systems that deduplicate
// requests.
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

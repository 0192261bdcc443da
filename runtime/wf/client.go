package wf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wfgen/wfgen/runtime/internal/announcer"
	"github.com/wfgen/wfgen/runtime/internal/checkpoint"
	"github.com/wfgen/wfgen/runtime/internal/clock"
	"github.com/wfgen/wfgen/runtime/internal/db"
	"github.com/wfgen/wfgen/runtime/internal/dbschema"
	"github.com/wfgen/wfgen/runtime/internal/gopool"
	"github.com/wfgen/wfgen/runtime/internal/lease"
	"github.com/wfgen/wfgen/runtime/internal/migrate"
	"github.com/wfgen/wfgen/runtime/internal/notifier"
	"github.com/wfgen/wfgen/runtime/internal/retention"
	"github.com/wfgen/wfgen/runtime/internal/scheduler"
	"github.com/wfgen/wfgen/runtime/internal/startstop"
)

// Default timings.
const (
	// DefaultPollInterval is how often a worker looks for work in a queue when no
	// notification woke it (notifications can be lost; polling is the fallback).
	DefaultPollInterval = time.Second
	// DefaultFetchCooldown is the least time between two fetches from one queue: slots freed
	// within it are filled by one fetch.
	DefaultFetchCooldown = 2 * time.Millisecond

	// DefaultRetention is how long finished workflows are kept: 30 days.
	DefaultRetention = 30 * 24 * time.Hour
	// DefaultRetentionInterval is the time between two retention passes: a minute.
	DefaultRetentionInterval = time.Minute

	// DefaultSuspendAfter is how long a workflow waits in its slot (asleep, in Recv, for a
	// child's result) before it gives the slot back and is suspended.
	DefaultSuspendAfter = time.Second

	// interruptGrace is how long Stop waits for interrupted executions to unwind.
	interruptGrace = 2 * time.Second
)

// Config configures a Client. The zero value is ready to use.
type Config struct {
	// Schema is the PostgreSQL schema that holds wfgen's tables. Default "wfgen". Clients that
	// should see the same workflows must use the same schema.
	Schema string

	// ExecutorID names this process among the executors that share the database. A workflow
	// running here is owned by this ID; a process that starts with the ID of one that died
	// resumes the dead one's workflows at once (others take them over when its lease
	// expires). IDs must be unique among live processes: a process that starts under a
	// live one's ID hands that one's running workflows back, and the two keep one lease
	// alive, so the workflows of the one that dies are never taken over. The process whose
	// registration another one took over logs an error saying so at its next renewal.
	// Default: hostname-pid, which is unique, and stable across restarts of a container
	// (whose main process is PID 1).
	ExecutorID string

	// Logger receives the runtime's logs. Default slog.Default().
	Logger *slog.Logger

	// SkipMigrations stops Start from applying migrations; apply them with `wfgen migrate`
	// (or Client.Migrate) instead.
	SkipMigrations bool

	// PollInterval is how often an idle worker looks for work in each queue when no
	// notification woke it. Default DefaultPollInterval.
	PollInterval time.Duration

	// FetchCooldown is the least time between two fetches from one queue. Default
	// DefaultFetchCooldown.
	FetchCooldown time.Duration

	// LeaseDuration is how long this executor owns its running workflows without renewing
	// its lease. When its process dies (or loses the database) for longer, another replica
	// takes its workflows over and resumes them from their last completed step; an executor
	// that cannot renew its lease in time interrupts its own workflows first. Default
	// DefaultLeaseDuration.
	LeaseDuration time.Duration

	// Retention is how long a finished workflow (succeeded, failed, cancelled or dead) is
	// kept, with its steps, messages, events and streams, after it became final. Every
	// started client deletes what is older, one of them at a time, every RetentionInterval, in
	// batches that skip rows in use, oldest first. Default DefaultRetention; negative keeps
	// everything. A workflow ID is an idempotency key only as long as its workflow is kept.
	Retention time.Duration

	// RetentionInterval is the time between two deletion passes (see Retention). A pass
	// deletes at most 100 batches of 1000 workflows; what is left waits for the next.
	// Default DefaultRetentionInterval.
	RetentionInterval time.Duration

	// Hooks observe workflows, steps and checkpoint writes, for tracing and metrics
	// (wfotel, wfprom). Default: none.
	Hooks Hooks

	// SuspendAfter is how long a workflow waits while holding its worker slot and goroutine
	// (in Sleep, Recv, or Await of a child) before it gives them back: it is suspended, back
	// in its queue until it is due or woken, and whichever executor is free then resumes it
	// from its recorded history. Shorter waits stay in memory; resuming costs a claim and a
	// replay. Default DefaultSuspendAfter; negative suspends every wait at once.
	SuspendAfter time.Duration

	// HeartbeatInterval is how often the executor renews its lease and looks for dead
	// executors' workflows to take over. Default LeaseDuration/5; it must be below
	// LeaseDuration/2.
	HeartbeatInterval time.Duration
}

func (c *Config) validate() error {
	if c.Schema == "" {
		c.Schema = dbschema.Default
	}
	if err := dbschema.Validate(c.Schema); err != nil {
		return fmt.Errorf("wf: Config.Schema: %w", err)
	}
	if c.ExecutorID == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "executor"
		}
		c.ExecutorID = host + "-" + strconv.Itoa(os.Getpid())
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	for name, d := range map[string]time.Duration{
		"PollInterval": c.PollInterval, "FetchCooldown": c.FetchCooldown,
		"LeaseDuration": c.LeaseDuration, "HeartbeatInterval": c.HeartbeatInterval,
		"RetentionInterval": c.RetentionInterval,
	} {
		if d < 0 {
			return fmt.Errorf("wf: Config.%s must not be negative", name)
		}
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.RetentionInterval == 0 {
		c.RetentionInterval = DefaultRetentionInterval
	}
	if c.SuspendAfter == 0 {
		c.SuspendAfter = DefaultSuspendAfter
	}
	if c.FetchCooldown == 0 {
		c.FetchCooldown = DefaultFetchCooldown
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration = DefaultLeaseDuration
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = c.LeaseDuration / 5
	}
	if c.HeartbeatInterval >= c.LeaseDuration/2 {
		return fmt.Errorf("wf: Config.HeartbeatInterval (%s) must be below half of Config.LeaseDuration (%s): a lease must survive a missed heartbeat", c.HeartbeatInterval, c.LeaseDuration)
	}
	return nil
}

// Client is the entry point to wfgen. Every process that enqueues workflows, reads their
// status or runs them has one, on a pgxpool.Pool:
//
//   - an API server creates a Client and enqueues workflows and reads their results through
//     it; it never runs workflows;
//   - a worker also registers the workflows it runs (the generated Register does) and calls
//     Start, which makes it an executor: it resumes workflows interrupted by a crash, works
//     the queues of its workflows, fires its schedules, and takes over the workflows of
//     executors that died.
//
// A Client is safe for concurrent use. Size the pool for the workers' concurrency: the
// runtime itself uses a few connections besides those the steps use, plus one of its own
// (outside the pool) to listen for notifications. Call Stop when done, also on a client that
// only enqueues: it releases that connection.
type Client struct {
	pool *pgxpool.Pool
	cfg  Config
	log  *slog.Logger
	rw   *dbschema.Rewriter
	q    *db.Queries
	// hot sends each statement after HotStatementSettings (JIT off, generic plans that
	// read by key), and hotQ queries through it: the hot path's statements (claims,
	// checkpoint batches, the histories of resumed workflows, results read by ID, the look
	// at queues' heads), which would otherwise be planned anew at most executions, and
	// over large tables be estimated dear enough for JIT.
	hot     dbschema.Batcher
	hotQ    *db.Queries
	channel string // the notification channel: named like the schema

	waiter    *resultWaiter
	watchers  watchers // waits for messages, events and stream values
	announcer *announcer.Announcer
	// enqueuing counts the single enqueues in flight outside callers' transactions (see
	// idleEnqueue).
	enqueuing atomic.Int32

	mu         sync.Mutex
	phase      phase
	workflows  map[string]*registeredWorkflow
	steps      map[string]registeredStep
	deps       map[reflect.Type]any // the values steps reach through Dep, by their type
	valueTypes map[string]string    // events, streams and topics, by kind and name: the Go type of their values
	queues     map[string]*Queue
	schedules  map[string]*Schedule  // by workflow name
	executions map[string]*execution // running in this process, by workflow ID
	// Cancellations of workflows this executor had claimed that arrived before their
	// executions were launched (the claim's transaction commits before launch registers
	// the execution): launch cancels the execution of that attempt at once.
	earlyCancels map[claimedAttempt]time.Time
	claims       claimLog // which claims are known durable
	released     []claim  // interrupted workflows to hand back: by Stop, or after a lost lease

	lease    *lease.Lease // renews this executor's lease, from Start
	instance string       // random, written with the executor's registration: which process holds the ID

	// Owned by the lease's goroutine: its renewals, the unrunnable workflows warned about
	// (by name and code hash), and the last other process found registered under this
	// executor's ID.
	beats            int
	warnedUnrunnable map[string]bool
	twin             string
	listener         *notifier.Listener
	listening        bool // the listener was started

	// Set by Start.
	writer    *checkpoint.Writer
	runCtx    context.Context // cancelled first by Stop: fetching and schedules end
	runCancel context.CancelFunc
	workers   []*queueWorker
	scheduler *scheduler.Scheduler // nil without schedules
	retention *retention.Service   // nil when Config.Retention is negative
	writing   sync.WaitGroup       // the checkpoint writer
	running   sync.WaitGroup       // executions
	// goroutines runs the executions, reusing the goroutines (and their grown stacks) of
	// finished ones.
	goroutines *gopool.Pool
}

// registeredStep is a registered step definition.
type registeredStep struct {
	output string // the Go type of its output
	def    any    // the *Step
}

type phase int

const (
	phaseNew phase = iota
	phaseStarted
	phaseStopped
)

// NewClient returns a Client on pool. It does not touch the database.
func NewClient(pool *pgxpool.Pool, cfg Config) (*Client, error) {
	if pool == nil {
		return nil, errors.New("wf: NewClient needs a *pgxpool.Pool")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rw := dbschema.NewRewriter(cfg.Schema)
	c := &Client{
		pool:             pool,
		cfg:              cfg,
		log:              cfg.Logger,
		rw:               rw,
		q:                db.New(rw.Wrap(pool)),
		hot:              dbschema.Prefixed(pool, db.HotStatementSettingsSQL),
		channel:          cfg.Schema,
		workflows:        map[string]*registeredWorkflow{},
		steps:            map[string]registeredStep{},
		deps:             map[reflect.Type]any{},
		queues:           map[string]*Queue{},
		schedules:        map[string]*Schedule{},
		executions:       map[string]*execution{},
		earlyCancels:     map[claimedAttempt]time.Time{},
		goroutines:       gopool.New(clock.Real{}),
		warnedUnrunnable: map[string]bool{},
	}
	c.hotQ = db.New(rw.Wrap(c.hot))
	c.waiter = newResultWaiter(c)
	var err error
	if c.announcer, err = c.newAnnouncer(); err != nil {
		return nil, err
	}
	if c.listener, err = c.newListener(); err != nil {
		return nil, err
	}
	c.instance = uuid.NewString()
	if c.lease, err = c.newLease(); err != nil {
		return nil, err
	}
	return c, nil
}

// ExecutorID returns the ID this client runs workflows under.
func (c *Client) ExecutorID() string { return c.cfg.ExecutorID }

// Schema returns the PostgreSQL schema of the client's tables.
func (c *Client) Schema() string { return c.cfg.Schema }

// Definition is something Register accepts: a *Workflow, a *Step, a *Queue, a *Schedule,
// or a dependency of steps (Provide).
type Definition interface {
	register(c *Client) error
}

// Register makes workflows, steps, queues and schedules known to the client, before Start.
// A worker runs only workflows registered on it, and fires the schedules registered on it.
// Names must be unique per kind; registering the same definition again does nothing.
func (c *Client) Register(defs ...Definition) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.phase != phaseNew {
		return errors.New("wf: Register must be called before Client.Start")
	}
	var errs []error
	for _, d := range defs {
		if d == nil {
			errs = append(errs, errors.New("wf: Register: nil definition"))
			continue
		}
		if err := d.register(c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Migrate applies the migrations the schema lacks and returns the names of those it applied
// (such as "0001_init"), in order; none when the schema was up to date. Start calls it
// unless Config.SkipMigrations is set; concurrent callers (replicas starting together) are
// serialized by an advisory lock and apply each migration once.
func (c *Client) Migrate(ctx context.Context) ([]string, error) {
	applied, err := migrate.Up(ctx, c.pool, c.rw)
	if err != nil {
		return nil, c.dbError("applying migrations", err)
	}
	if len(applied) > 0 {
		c.log.Info("wfgen: applied migrations", "schema", c.cfg.Schema, "migrations", applied)
	}
	return applied, nil
}

// Start makes the client an executor: it applies migrations, registers the executor and
// its queues, resumes the workflows this executor ID was running when its previous process
// stopped, and starts working the queues of the registered workflows and queues, firing the
// registered schedules, heart-beating, and taking over the workflows of dead executors. It
// returns once all that runs; Stop ends it.
func (c *Client) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.phase {
	case phaseStarted:
		return errors.New("wf: Client.Start called twice")
	case phaseStopped:
		return ErrStopped
	}
	if len(c.schedules) > 0 {
		var err error
		if c.scheduler, err = c.newScheduler(); err != nil {
			return fmt.Errorf("wf: schedules: %w", err)
		}
	}
	queues := c.servedQueues()
	c.warnSmallPool(len(queues))
	workers := make([]*queueWorker, len(queues))
	for i, q := range queues {
		var err error
		if workers[i], err = newQueueWorker(c, q); err != nil {
			return err
		}
	}
	if !c.cfg.SkipMigrations {
		if _, err := c.Migrate(ctx); err != nil {
			return err
		}
	}
	if err := c.lease.Register(ctx); err != nil {
		return c.dbError("registering executor", err)
	}
	for _, q := range queues {
		if err := c.q.UpsertQueue(ctx, q.upsertParams()); err != nil {
			return c.dbError("registering queue "+q.name, err)
		}
	}
	// Workflows still running under this executor ID belong to a previous process that
	// died: hand them back to their queues, where they resume from their last step.
	if err := c.recover(ctx, c.cfg.ExecutorID); err != nil {
		return c.dbError("recovering workflows", err)
	}
	// And those of other executors that died while nobody was heart-beating.
	if err := c.recover(ctx, ""); err != nil {
		return c.dbError("taking over workflows of dead executors", err)
	}

	// Heartbeats run on a context of their own: Stop stops them last, so that in-flight
	// workflows stay owned while they finish.
	mustStart(context.WithoutCancel(ctx), c.lease)
	c.runCtx, c.runCancel = context.WithCancel(context.WithoutCancel(ctx))
	if c.scheduler != nil {
		mustStart(c.runCtx, c.scheduler)
	}
	if c.cfg.Retention > 0 {
		var err error
		if c.retention, err = c.newRetention(); err != nil {
			return fmt.Errorf("wf: retention: %w", err)
		}
		mustStart(c.runCtx, c.retention)
	}
	opts := checkpoint.Options{Logger: c.log, Completed: c.announcer.Completed, Woken: c.requeued, Mark: c.claims.mark, Flushed: c.claims.flushed}
	opts.LockFirst = func(lock db.LockSuspendingParams) checkpoint.Querier {
		return db.New(c.rw.Wrap(dbschema.Prefixed(c.hot, c.rw.SQL(db.LockSuspendingSQL), db.LockSuspendingArgs(lock)...)))
	}
	if c.cfg.Hooks != nil {
		opts.Written = c.cfg.Hooks.CheckpointsWritten
	}
	c.writer = checkpoint.New(c.hotQ, opts)
	c.writing.Add(1)
	go func() {
		defer c.writing.Done()
		c.writer.Run()
	}()
	for _, w := range workers {
		mustStart(c.runCtx, w.loop)
	}
	c.workers = workers
	c.phase = phaseStarted
	c.mu.Unlock()
	// Return once enqueues are heard; if listening fails, polling finds the work anyway.
	select {
	case <-c.listen():
	case <-time.After(5 * time.Second):
		c.log.Warn("wfgen: not listening for notifications yet; polling every PollInterval meanwhile", "poll_interval", c.cfg.PollInterval)
	case <-ctx.Done():
	}
	c.mu.Lock()
	c.log.Debug("wfgen: executor started", "executor_id", c.cfg.ExecutorID, "schema", c.cfg.Schema, "queues", len(c.workers))
	return nil
}

// mustStart starts one of the client's services. Starting fails only for a service started
// before, which the client's phase (or, for the listener, listening) rules out.
func mustStart(ctx context.Context, s startstop.Service) {
	if err := s.Start(ctx); err != nil {
		panic("wf: " + err.Error())
	}
}

// Stop stops the client. An executor stops taking work, waits for its running workflows
// to finish until ctx ends, then interrupts those still running and hands them back to
// their queues, where another replica resumes them at once from their last completed step.
// Every client sends its last notifications (of enqueues, say) and closes its listening
// connection. Stop does not close the pool; close it after Stop returns.
func (c *Client) Stop(ctx context.Context) error {
	c.mu.Lock()
	wasStarted := c.phase == phaseStarted
	c.phase = phaseStopped
	c.mu.Unlock()
	defer c.listener.Stop()
	defer c.announcer.Flush(ctx)
	if !wasStarted {
		return nil
	}
	c.runCancel()
	if c.scheduler != nil {
		c.scheduler.Stop()
	}
	if c.retention != nil {
		c.retention.Stop()
	}
	// No fetch loop may launch anything once we wait for the executions.
	for _, w := range c.workerList() {
		w.loop.Stop()
	}

	done := make(chan struct{})
	go func() {
		c.running.Wait()
		close(done)
	}()
	var err error
	stuck := false
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("wf: stopping: %d workflows still running were interrupted and handed back to their queues: %w", c.interruptAll(ErrInterrupted), ctx.Err())
		// Interrupted executions unwind at their next step; let them hand in the
		// checkpoints of steps that completed meanwhile.
		select {
		case <-done:
		case <-time.After(interruptGrace):
			stuck = true
		}
	}
	c.goroutines.Close()
	c.writer.Close(ctx)
	c.writing.Wait()

	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), handBackTimeout)
	c.handBackOrphans(hctx)
	cancel()
	c.lease.Stop()
	if stuck {
		// Some step ignores its context and still runs: let this executor's lease expire
		// before anyone takes those workflows over.
		c.log.Warn("wfgen: some workflows did not unwind after being interrupted; they are taken over when this executor's lease expires", "lease", c.cfg.LeaseDuration)
	} else if err := c.q.MarkExecutorStopped(context.WithoutCancel(ctx), c.cfg.ExecutorID); err != nil {
		c.log.Warn("wfgen: marking the executor stopped failed", "error", err)
	}
	return err
}

// started returns ErrNotStarted or ErrStopped unless the client runs.
func (c *Client) started() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.phase {
	case phaseNew:
		return ErrNotStarted
	case phaseStopped:
		return ErrStopped
	}
	return nil
}

// warnSmallPool warns when the pool is too small for a worker: the lease's renewals, the
// checkpoint writer, each queue's claims and the steps' own statements share it, and a
// renewal that waits behind steps for a connection can let the lease expire (pgxpool's
// default is the larger of 4 and the number of CPUs).
func (c *Client) warnSmallPool(queues int) {
	if queues == 0 {
		return
	}
	need := int32(queues + 4) // a claim per queue, the writer, a renewal, an announcement, a step
	if have := c.pool.Config().MaxConns; have < need {
		c.log.Warn("wfgen: the pool is small for a worker: renewals of the lease may wait behind steps for a connection, and the lease expire",
			"max_conns", have, "at_least", need, "queues", queues,
			"fix", "raise pgxpool.Config.MaxConns (pool_max_conns in the URL), say to the sum of the queues' WorkerConcurrency plus a few, or give the worker a pool of its own")
	}
}

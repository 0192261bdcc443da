package wf

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wfgen/wfgen/runtime/internal/db"
	"github.com/wfgen/wfgen/runtime/internal/lease"
)

// Lease defaults.
const (
	// DefaultLeaseDuration is how long an executor owns its running workflows without
	// renewing its lease. Another replica takes them over once it has expired.
	DefaultLeaseDuration = 10 * time.Second

	// unrunnableCheckBeats is how many lease renewals pass between two looks for workflows
	// in this executor's queues that no live executor can run; unrunnableScan is how many of
	// the workflows that may start at the head of each queue a look reads.
	unrunnableCheckBeats = 5
	unrunnableScan       = 1000
)

// handBackTimeout bounds a hand-back made outside the lease's renewals (after an execution
// gave up, and at Stop).
const handBackTimeout = 10 * time.Second

// Causes of interruptions after which the execution must leave the workflow alone (not
// hand it back): someone else owns it now.
var (
	// errLeaseLost interrupts the executions of an executor that could not renew its lease:
	// another replica takes (or took) them over.
	errLeaseLost = fmt.Errorf("%w: this executor lost its lease", ErrInterrupted)
	// errSuperseded interrupts an execution still unwinding when its workflow was claimed
	// again, by this same executor.
	errSuperseded = fmt.Errorf("%w: the workflow was claimed again", ErrInterrupted)
)

// errNoLease refuses a direct start while this executor cannot renew its lease.
var errNoLease = errors.New("wf: this executor cannot renew its lease (is the database reachable?), so it cannot take ownership of a workflow now: retry later, or enqueue the workflow for any worker")

// newLease returns the service that renews this executor's lease (see package lease), with
// the client's executions as what the lease protects.
func (c *Client) newLease() (*lease.Lease, error) {
	return lease.New(lease.Config{
		ExecutorID: c.cfg.ExecutorID,
		Duration:   c.cfg.LeaseDuration,
		Interval:   c.cfg.HeartbeatInterval,
		Register:   c.registerExecutor,
		Renew: func(ctx context.Context) error {
			row, err := c.q.Heartbeat(ctx, db.HeartbeatParams{ID: c.cfg.ExecutorID, LeaseMs: c.cfg.LeaseDuration.Milliseconds()})
			switch {
			case err == nil:
				c.checkTwin(row)
			case errors.Is(err, pgx.ErrNoRows):
				return lease.ErrDeclaredDead
			case err != nil && !errors.Is(err, context.Canceled): // not a Stop
				// The server may have crashed, and with it claims not yet durable: the
				// listener says so at once when it is connected; this covers the times
				// it is not.
				c.claimsMayBeLost()
			}
			return err
		},
		Interrupt:       func() int { return c.interruptAll(errLeaseLost) },
		HandBackOrphans: c.handBackOrphans,
		TakeOver: func(ctx context.Context) error {
			err := c.recover(ctx, "")
			// Every few renewals, look for workflows nobody can run.
			if c.beats++; c.beats%unrunnableCheckBeats == 0 {
				c.warnUnrunnable(ctx)
			}
			return err
		},
		Cleanup: c.q.DeleteStoppedExecutors,
		Logger:  c.log,
	})
}

// checkTwin reports, once per process, another process that registered under this
// executor's ID while this one runs: two live processes sharing an ID hand each other's
// running workflows back whenever one starts, and keep each other's lease alive when one
// dies, so its workflows are never taken over. Only the configuration can fix that.
func (c *Client) checkTwin(row db.HeartbeatRow) {
	if row.Instance == c.instance || row.Instance == c.twin {
		return
	}
	c.twin = row.Instance
	c.log.Error("wfgen: another process registered under this executor's ID while this one runs; give every process its own Config.ExecutorID (the default, hostname-pid, is unique)",
		"executor_id", c.cfg.ExecutorID, "other_hostname", row.Hostname, "other_pid", row.Pid)
}

// handBackOrphans hands the workflows whose executions were interrupted (by a lost lease, or
// by Stop) back to their queues. Those it could not hand back wait for the next call: this
// executor still holds them, and nobody else would.
func (c *Client) handBackOrphans(ctx context.Context) {
	c.mu.Lock()
	claims := c.released
	c.released = nil
	c.mu.Unlock()
	if err := c.handBack(ctx, claims); err != nil {
		c.mu.Lock()
		c.released = append(c.released, claims...)
		c.mu.Unlock()
	}
}

// recover hands the running workflows of a stopped executor (or, with executorID "", of
// every executor whose lease expired) back to their queues, or gives them up as dead.
func (c *Client) recover(ctx context.Context, executorID string) error {
	// It locks the rows it hands back in its own order, and a writer of theirs can lock
	// some of them in another: at Start, the writer of a process that still runs under
	// this ID (a misconfiguration that checkTwin reports), or the last batch of a dead
	// executor's connection that has not ended yet. PostgreSQL aborts one of the two to
	// break the deadlock; the hand-back is idempotent, so try it again.
	var rows []db.RecoverWorkflowsRow
	err := c.retryRolledBack(ctx, "recovering workflows", func() error {
		var err error
		rows, err = c.q.RecoverWorkflows(ctx, db.RecoverWorkflowsParams{ExecutorID: executorID, Channel: c.channel})
		return err
	})
	if err != nil {
		return err
	}
	for _, r := range rows {
		if r.State == string(StateDead) {
			c.log.Warn("wfgen: workflow given up after too many recoveries", "workflow_id", r.ID, "executor_id", deref(r.ExecutorID))
		} else {
			c.log.Info("wfgen: recovering a workflow whose executor stopped", "workflow_id", r.ID)
		}
	}
	return nil
}

// registerExecutor records this executor with a fresh lease, the workflows it runs and the
// schedules it fires. Call it through the lease service (c.lease.Register), which then
// counts the lease as renewed.
func (c *Client) registerExecutor(ctx context.Context) error {
	err := c.q.RegisterExecutor(ctx, db.RegisterExecutorParams{
		ID:       c.cfg.ExecutorID,
		Hostname: hostname(),
		Pid:      int32(os.Getpid()),
		LeaseMs:  c.cfg.LeaseDuration.Milliseconds(),
		Instance: c.instance,
	})
	if err != nil {
		return err
	}
	// Registrations are closed once the client starts, so c.workflows no longer changes.
	p := db.RegisterExecutorWorkflowsParams{ExecutorID: c.cfg.ExecutorID, Names: []string{}, CodeHashes: []string{}}
	for name, w := range c.workflows {
		p.Names = append(p.Names, name)
		p.CodeHashes = append(p.CodeHashes, w.opts.codeHash)
	}
	if err := c.q.RegisterExecutorWorkflows(ctx, p); err != nil {
		return err
	}
	sp := db.RegisterExecutorSchedulesParams{ExecutorID: c.cfg.ExecutorID, Workflows: []string{}, Specs: []string{}, Timezones: []string{}, Queues: []string{}}
	for _, s := range c.schedules {
		sp.Workflows = append(sp.Workflows, s.workflow)
		sp.Specs = append(sp.Specs, s.spec)
		sp.Timezones = append(sp.Timezones, s.timezone)
		sp.Queues = append(sp.Queues, s.queue)
	}
	return c.q.RegisterExecutorSchedules(ctx, sp)
}

// warnUnrunnable warns about the workflows waiting in queues that no live executor can run,
// once per workflow name and code hash. It runs on the lease's goroutine.
func (c *Client) warnUnrunnable(ctx context.Context) {
	c.mu.Lock()
	queues := make([]string, len(c.workers))
	for i, w := range c.workers {
		queues[i] = w.q.name
	}
	c.mu.Unlock()
	if len(queues) == 0 {
		return
	}
	warned := c.warnedUnrunnable
	rows, err := c.hotQ.UnrunnableWorkflows(ctx, db.UnrunnableWorkflowsParams{Queues: queues, ScanLimit: unrunnableScan})
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("wfgen: looking for workflows that no executor can run failed", "error", err)
		}
		return
	}
	for _, r := range rows {
		key := r.Name + "\x00" + r.CodeHash
		if warned[key] {
			continue
		}
		warned[key] = true
		reason := notRegisteredReason(r.Name)
		if r.NameRegistered {
			reason = wrongHashReason(r.Name, r.CodeHash)
		}
		c.log.Warn("wfgen: workflows are waiting that no live executor can run: start a worker that registers them",
			"workflow", r.Name, "code_hash", r.CodeHash, "queue", r.Queue, "waiting", r.Workflows, "reason", reason)
	}
}

// claim is a workflow this executor took, with the attempt and the claim token (together,
// the fencing token) it took it under.
type claim struct {
	id      string
	attempt int32
	token   int64
	seq     uint64 // its place among this client's claims (claimLog); 0 for a direct start
}

// newClaimToken returns a random claim token: two claims of one workflow, even under the
// same attempt after a lost commit, get different ones. 0 is a direct start's.
func newClaimToken() int64 {
	for {
		if t := rand.Int64(); t != 0 {
			return t
		}
	}
}

// handBack returns workflows this executor holds to their queues, for any executor to claim
// at once. A workflow that is no longer held under the claim's attempt (cancelled, taken over, claimed
// again) is left alone.
func (c *Client) handBack(ctx context.Context, claims []claim) error {
	if len(claims) == 0 {
		return nil
	}
	p := db.ReleaseWorkflowsParams{ExecutorID: c.cfg.ExecutorID, Channel: c.channel}
	for _, cl := range claims {
		p.Ids = append(p.Ids, cl.id)
		p.Attempts = append(p.Attempts, cl.attempt)
		p.ClaimTokens = append(p.ClaimTokens, cl.token)
	}
	err := c.q.ReleaseWorkflows(ctx, p)
	if err != nil {
		c.log.Warn("wfgen: handing workflows back to their queues failed", "workflows", len(claims), "error", err)
	}
	return err
}

// interruptAll cancels every running execution with cause and returns how many there were.
func (c *Client) interruptAll(cause error) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range c.executions {
		x.cancel(cause)
	}
	return len(c.executions)
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// idleBoundMs bounds, in milliseconds, how long the runtime's transactions that lock rows
// other executors need (a limited queue's claim, a suspension's check, a transactional
// step's checkpoint) may sit idle between statements: an executor cut off from the server
// mid-transaction would otherwise hold the locks until TCP keepalives give up, and the
// others' claims or takeovers with them. Half the lease leaves the others time to take over
// once the server has ended the session.
func (c *Client) idleBoundMs() int64 { return max(1, c.cfg.LeaseDuration.Milliseconds()/2) }

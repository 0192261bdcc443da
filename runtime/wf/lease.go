package wf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wfgen/wfgen/runtime/internal/db"
)

// Lease defaults.
const (
	// DefaultLeaseDuration is how long an executor owns its running workflows without
	// renewing its lease. Another replica takes them over once it has expired.
	DefaultLeaseDuration = 10 * time.Second

	// executorCleanupInterval is how often an executor forgets executors stopped for a day.
	executorCleanupInterval = time.Hour

	// unrunnableCheckBeats is how many heartbeats pass between two looks for workflows in this
	// executor's queues that no live executor can run; unrunnableScan is how many of the
	// workflows that may start at the head of each queue a look reads.
	unrunnableCheckBeats = 5
	unrunnableScan       = 1000
)

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

// heartbeat renews the executor's lease every HeartbeatInterval and, every time, takes over
// the workflows of executors whose lease expired. It runs until ctx ends, which Stop does
// last, so that in-flight workflows stay owned while they finish.
//
// An executor that cannot renew its lease for LeaseDuration-HeartbeatInterval (measured
// from when it sent its last successful heartbeat, so before the database can see the lease
// expire) interrupts all its executions: it can no longer prove it owns them. One that finds
// itself declared dead does the same, then registers again and goes on.
//
// Every few heartbeats it also looks for workflows in its queues that no live executor can
// run, and warns about each workflow name and code hash once.
func (c *Client) heartbeat(ctx context.Context) {
	interval := c.cfg.HeartbeatInterval
	lastCleanup := time.Time{}
	fenced := false
	beats := 0
	c.mu.Lock()
	queues := make([]string, len(c.fetchers))
	for i, f := range c.fetchers {
		queues[i] = f.q.name
	}
	c.mu.Unlock()
	warned := map[string]bool{} // name and code hash of the unrunnable workflows warned about
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sent := time.Now()
		// A database that hangs must count as a failed heartbeat, not stop the clock.
		hctx, cancel := context.WithTimeout(ctx, interval)
		_, err := c.q.Heartbeat(hctx, db.HeartbeatParams{ID: c.cfg.ExecutorID, LeaseMs: c.cfg.LeaseDuration.Milliseconds()})
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, pgx.ErrNoRows):
			n := c.interruptAll(errLeaseLost)
			c.log.Error("wfgen: this executor was declared dead (its lease expired), so its workflows are taken over; interrupted them and registering again",
				"executor_id", c.cfg.ExecutorID, "interrupted", n)
			if err := c.registerExecutor(ctx); err != nil {
				c.log.Error("wfgen: registering the executor again failed", "error", err)
				continue
			}
			fenced = false
		case err != nil:
			if !fenced && !c.leaseHeld() {
				fenced = true
				n := c.interruptAll(errLeaseLost)
				c.log.Error("wfgen: cannot renew this executor's lease; interrupted its workflows so that another replica can take them over",
					"executor_id", c.cfg.ExecutorID, "interrupted", n, "error", err)
			} else {
				c.log.Warn("wfgen: heartbeat failed", "executor_id", c.cfg.ExecutorID, "error", err)
			}
			continue
		default:
			c.renewedLease(sent)
			fenced = false
		}
		// The lease is ours: hand back the workflows the lost one made us interrupt, unless
		// another executor has taken them meanwhile.
		c.handBackOrphans()
		c.takeOver(ctx)
		if beats++; beats%unrunnableCheckBeats == 0 && len(queues) > 0 {
			c.warnUnrunnable(ctx, queues, warned)
		}
		// Executors under a new ID per process (the default hostname-pid) leave a row each.
		if time.Since(lastCleanup) > executorCleanupInterval {
			lastCleanup = time.Now()
			if err := c.q.DeleteStoppedExecutors(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("wfgen: forgetting long-stopped executors failed", "error", err)
			}
		}
	}
}

// renewedLease records that a lease renewal sent at sent succeeded.
func (c *Client) renewedLease(sent time.Time) {
	c.leaseMu.Lock()
	c.leaseSent = sent
	c.leaseMu.Unlock()
}

// leaseHeld reports whether this executor can be sure it still holds its lease: its last
// successful renewal was sent less than LeaseDuration-HeartbeatInterval ago. Measured from
// the sending, on this process's clock, it ends before the database can see the lease
// expire, so that this executor stops running and claiming workflows before anyone may take
// them over.
func (c *Client) leaseHeld() bool {
	c.leaseMu.Lock()
	defer c.leaseMu.Unlock()
	return time.Since(c.leaseSent) < c.cfg.LeaseDuration-c.cfg.HeartbeatInterval
}

// handBackOrphans hands the workflows whose executions a lost lease interrupted back to
// their queues.
func (c *Client) handBackOrphans() {
	c.mu.Lock()
	claims := c.released
	c.released = nil
	c.mu.Unlock()
	c.handBack(claims)
}

// takeOver hands the workflows of dead executors back to their queues.
func (c *Client) takeOver(ctx context.Context) {
	if err := c.recover(ctx, ""); err != nil && ctx.Err() == nil {
		c.log.Warn("wfgen: taking over workflows of dead executors failed", "error", err)
	}
}

// recover hands the running workflows of a stopped executor (or, with executorID "", of
// every executor whose lease expired) back to their queues, or gives them up as dead.
func (c *Client) recover(ctx context.Context, executorID string) error {
	rows, err := c.q.RecoverWorkflows(ctx, db.RecoverWorkflowsParams{ExecutorID: executorID, Channel: c.channel})
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

// registerExecutor records this executor with a fresh lease, and the workflows it runs.
func (c *Client) registerExecutor(ctx context.Context) error {
	sent := time.Now()
	err := c.q.RegisterExecutor(ctx, db.RegisterExecutorParams{
		ID:       c.cfg.ExecutorID,
		Hostname: hostname(),
		Pid:      int32(os.Getpid()),
		LeaseMs:  c.cfg.LeaseDuration.Milliseconds(),
	})
	if err != nil {
		return err
	}
	c.renewedLease(sent)
	// Registrations are closed once the client starts, so c.workflows no longer changes.
	p := db.RegisterExecutorWorkflowsParams{ExecutorID: c.cfg.ExecutorID, Names: []string{}, CodeHashes: []string{}}
	for name, w := range c.workflows {
		p.Names = append(p.Names, name)
		p.CodeHashes = append(p.CodeHashes, w.opts.codeHash)
	}
	return c.q.RegisterExecutorWorkflows(ctx, p)
}

// warnUnrunnable warns about the workflows waiting in queues that no live executor can run,
// once per workflow name and code hash (warned holds those warned about already).
func (c *Client) warnUnrunnable(ctx context.Context, queues []string, warned map[string]bool) {
	rows, err := c.q.UnrunnableWorkflows(ctx, db.UnrunnableWorkflowsParams{Queues: queues, ScanLimit: unrunnableScan})
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

package wf

import (
	"context"
	"errors"
	"fmt"
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

// newLease returns the service that renews this executor's lease (see package lease), with
// the client's executions as what the lease protects.
func (c *Client) newLease() (*lease.Lease, error) {
	return lease.New(lease.Config{
		ExecutorID: c.cfg.ExecutorID,
		Duration:   c.cfg.LeaseDuration,
		Interval:   c.cfg.HeartbeatInterval,
		Register:   c.registerExecutor,
		Renew: func(ctx context.Context) error {
			_, err := c.q.Heartbeat(ctx, db.HeartbeatParams{ID: c.cfg.ExecutorID, LeaseMs: c.cfg.LeaseDuration.Milliseconds()})
			if errors.Is(err, pgx.ErrNoRows) {
				return lease.ErrDeclaredDead
			}
			return err
		},
		Interrupt:       func() int { return c.interruptAll(errLeaseLost) },
		HandBackOrphans: c.handBackOrphans,
		TakeOver:        func(ctx context.Context) error { return c.recover(ctx, "") },
		Cleanup:         c.q.DeleteStoppedExecutors,
		Logger:          c.log,
	})
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

// registerExecutor records this executor with a fresh lease. Call it through the lease
// service (c.lease.Register), which then counts the lease as renewed.
func (c *Client) registerExecutor(ctx context.Context) error {
	return c.q.RegisterExecutor(ctx, db.RegisterExecutorParams{
		ID:       c.cfg.ExecutorID,
		Hostname: hostname(),
		Pid:      int32(os.Getpid()),
		LeaseMs:  c.cfg.LeaseDuration.Milliseconds(),
	})
}

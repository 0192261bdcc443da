package wf

import (
	"fmt"
	"sync/atomic"
)

// claimLog tells which of this client's claims are known to be durable.
//
// A claim commits without waiting for its WAL flush (see DequeueWorkflows): that takes a
// flush (a fraction of a millisecond on a local disk, a millisecond or more on a network
// volume) out of every workflow's way to its first step. A server crash can lose such a
// claim; the workflow is then claimed again under the same attempt but a different claim
// token, so the lost claim's execution can write nothing. It could still run its steps'
// code, though, at the same time as the new claim's execution. So a claim counts as durable
// only once a synchronous commit that began after the claim's commit returned has committed
// too (the checkpoint writer's batches, Mark and Flushed): its flush covers the claim's.
// When a connection to the server is lost (the server may have crashed), the executions of
// claims not yet known durable are interrupted, before the server can be back to let anyone
// claim their workflows again, and handed back once it is.
type claimLog struct {
	last    atomic.Uint64 // the latest claim whose commit returned
	durable atomic.Uint64 // every claim up to this one is durable
}

// committed numbers a claim whose commit has returned.
func (l *claimLog) committed() uint64 { return l.last.Add(1) }

// mark is the latest claim whose commit has returned, taken before a synchronous commit is
// sent.
func (l *claimLog) mark() uint64 { return l.last.Load() }

// flushed records that a synchronous commit sent after mark m committed.
func (l *claimLog) flushed(m uint64) {
	for {
		d := l.durable.Load()
		if m <= d || l.durable.CompareAndSwap(d, m) {
			return
		}
	}
}

// isDurable reports whether claim seq is known durable; a direct start (0) always is, its
// insert committed synchronously.
func (l *claimLog) isDurable(seq uint64) bool { return seq <= l.durable.Load() }

// errClaimMayBeLost interrupts an execution whose claim may have been lost with the
// server: it is handed back to its queue once the database is reachable (a hand-back is
// fenced, so nothing happens if the claim was lost indeed).
var errClaimMayBeLost = fmt.Errorf("%w: the connection to the database was lost before this workflow's claim was known durable", ErrInterrupted)

// claimsMayBeLost interrupts the executions whose claims are not known durable. The
// notification listener calls it when its connection fails (a server crash breaks every
// connection at once, and that one is always reading), and the lease when a renewal fails
// (for the times the listener is not connected).
func (c *Client) claimsMayBeLost() {
	c.mu.Lock()
	var unsure []*execution
	for _, x := range c.executions {
		if !c.claims.isDurable(x.claimSeq) {
			unsure = append(unsure, x)
		}
	}
	c.mu.Unlock()
	for _, x := range unsure {
		x.cancel(errClaimMayBeLost)
	}
	if len(unsure) > 0 {
		c.log.Warn("wfgen: lost the connection to the database while claims were not yet durable; interrupted their workflows, which go back to their queues", "interrupted", len(unsure))
	}
}

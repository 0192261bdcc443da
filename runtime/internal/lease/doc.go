// Package lease keeps an executor's lease: the proof, in the database, that the executor is
// alive and owns the workflows it runs.
//
// The Lease service renews the lease every Config.Interval. Each renewal is bounded by
// Config.Interval too, so a database that hangs counts as a failed renewal. Renewals follow
// the beat of a time.Ticker: one that runs past the next beat is followed by another at
// once, and the beats it ran past are dropped.
//
// Held says whether the executor can be sure it still holds its lease: the last successful
// renewal (or registration) was sent less than Duration-Interval ago. It is measured from
// when the renewal was sent, on this process's clock, so that it turns false before the
// database can see the lease expire: the executor stops running and claiming workflows
// before anyone may take them over. When a renewal fails and Held is false, the service
// interrupts every execution (Config.Interrupt), once until a renewal succeeds again.
//
// When the database answers that the executor was declared dead (its lease expired, and
// others may have taken its workflows over), the service interrupts every execution and
// registers the executor again.
//
// After each successful renewal or registration, while the lease is fresh, the service does
// the work that needs it: it hands back the workflows that a lost lease made the executor
// interrupt (Config.HandBackOrphans), takes over the workflows of dead executors
// (Config.TakeOver), and, every CleanupInterval, forgets long-stopped executors
// (Config.Cleanup).
package lease

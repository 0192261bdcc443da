// Package scheduler fires the ticks of cron schedules: it enqueues, for every tick, the run
// of the scheduled workflow, and makes sure no tick is lost to a database outage.
//
// Every executor that registered a schedule runs a Scheduler for it and computes the same
// ticks; a tick's run has an ID derived from the tick, and the database accepts one run per
// ID, so the executors that enqueue a tick create one run between them. That makes retrying
// safe: an enqueue that failed, or seemed to fail (the commit went through but the answer
// was lost), is simply tried again.
//
// Each schedule keeps the oldest tick it has not enqueued yet. When the clock reaches it,
// the scheduler enqueues it and moves on to the next tick; when the enqueue fails (with any
// error but the scheduler stopping), it keeps the tick and tries again after a backoff that
// starts at MinRetryBackoff and doubles up to MaxRetryBackoff. Ticks that come due meanwhile
// wait behind it and are enqueued in order once it succeeds, so a database outage delays
// ticks but does not lose them, as long as the scheduler runs. Each attempt is bounded by
// Config.AttemptTimeout, so a database that hangs counts as a failed attempt too.
//
// A tick is retried within its schedule's retry window, counted from the tick. A tick older
// than that is given up with an error log naming it: after a long outage, a run for a tick
// from hours ago would do more harm than good.
//
// A scheduler that starts fires the ticks of the schedule's backfill window before now (the
// ticks missed while no executor ran), then every tick after now. Ticks pending when it
// stops are forgotten: another executor still running has them pending too, and backfill
// covers them at the next start.
//
// A schedule whose cron spec never matches again (say, the 30th of February) stops ticking.
//
// One goroutine serves every schedule of an executor: a schedule whose enqueue fails backs
// off alone while the others go on; one whose enqueue hangs holds them up for at most
// AttemptTimeout.
package scheduler

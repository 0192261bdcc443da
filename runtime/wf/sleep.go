package wf

import (
	"context"
	"time"
)

// sleepStep records when a durable sleep ends, so that a replay sleeps until the same time.
var sleepStep = NewStep[time.Time]("wf.sleep")

// Sleep pauses the workflow for d, durably: its wake-up time is recorded as a step, so a
// workflow that resumes after a crash or a restart sleeps only what is left, and wakes once.
//
// A sleep longer than Config.SuspendAfter gives the worker slot and the goroutine back: the
// workflow waits in its queue until it is due, and whichever executor is free then resumes
// it (a claim and a replay of its recorded steps). Sleep then returns a *SuspendedError,
// which the workflow function must return; the resumed run passes the Sleep and goes on. So
// 100,000 sleeping workflows cost rows, not goroutines or slots. A shorter sleep waits in
// the slot. Either way it returns ErrCancelled, ErrTimeout or ErrInterrupted if the
// workflow stops meanwhile.
//
// Sleep takes one step ID and one checkpoint; a suspension costs one short transaction,
// and the resumption a claim and a read of the workflow's history.
func Sleep(ctx Context, d time.Duration) error {
	x := ctx.execution()
	wake, err := sleepStep.Run(ctx, func(context.Context) (time.Time, error) {
		return time.Now().Add(d), nil
	})
	if err != nil {
		return err
	}
	_, err = x.waitOrSuspend(wake, waitingSleep, nil, nil, nil)
	return err
}

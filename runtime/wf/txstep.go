package wf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wfgen/wfgen/runtime/internal/checkpoint"
	"github.com/wfgen/wfgen/runtime/internal/db"
)

// RunTx runs a transactional step: one whose effects are writes to the PostgreSQL database
// of the client's pool. Each attempt begins a transaction on that pool and calls fn with it;
// when fn succeeds, the step's checkpoint is written in the same transaction, which then
// commits. The step's writes and its checkpoint commit together or not at all, so the step
// takes effect exactly once, through crashes and takeovers: a process that dies before the
// commit leaves neither, and the step runs again when the workflow resumes; once the commit
// is done, replay returns the recorded output without running fn.
//
// fn must do its writes through tx (sqlc's generated New(tx) takes it); its Commit and
// Rollback return ErrStepEndsTx, since the runtime ends the transaction. An error from fn, a panic, or a failed commit (a deferred
// constraint, a serialization failure, a lost connection) rolls the attempt back and counts
// as a failed attempt, retried as the step's options say; when every attempt fails the
// error is recorded as Run records it. When the database refuses the checkpoint because the
// workflow was cancelled or taken over meanwhile, the transaction rolls back and RunTx
// returns ErrCancelled or ErrInterrupted, as the next step would.
//
// Otherwise RunTx behaves as Run: it waits for the previous step's checkpoint first, replays
// recorded outcomes and reports non-determinism the same way. Effects outside the
// transaction (an HTTP call, a write to another database) are at-least-once as in any step.
func (s *Step[T]) RunTx(ctx Context, fn func(context.Context, pgx.Tx) (T, error)) (T, error) {
	var zero T
	x := ctx.execution()
	id, out, done, err := s.start(x)
	if done || err != nil {
		return out, err
	}

	started := time.Now()
	tries := 0
	var refused error // set when the database refused the checkpoint: the attempt must stop
	out, _, stepErr := s.attempts(x, id, func(sctx context.Context) (T, error) {
		tries++
		out, err := s.txAttempt(sctx, x, id, int32(tries), started, fn)
		if errors.Is(err, errCheckpointRefused) {
			// Not a failure of the step: the execution stops (attempts does not retry it).
			refused = x.refusedInTx(id)
		}
		return out, err
	})
	if refused != nil {
		x.endStep()
		return zero, refused
	}
	if stepErr != nil && x.ctx.Err() != nil {
		x.endStep()
		return zero, x.interruption()
	}
	if stepErr == nil {
		x.endStep() // recorded by the transaction that committed
		return out, nil
	}
	// Every attempt rolled back: record the failure as any step's, through the writer.
	x.submitStep(checkpoint.Step{
		WorkflowID: x.id, StepID: id, Name: s.name, Attempt: x.attempt, Tries: int32(tries), StartedAt: started,
		Error: encodeError(stepErr),
	})
	return zero, stepErr
}

// ErrStepEndsTx is the error of Commit and Rollback on the transaction of a transactional
// step: the runtime commits it together with the step's checkpoint, or rolls it back when
// the step fails.
var ErrStepEndsTx = errors.New("wf: a transactional step must not commit or roll back its transaction: the runtime commits it with the step's checkpoint when the step returns no error, and rolls it back when it returns one")

// stepTx is the transaction a transactional step gets: all of pgx.Tx but the ends, which
// belong to the runtime. Savepoints (Begin) work as usual.
type stepTx struct{ pgx.Tx }

func (stepTx) Commit(context.Context) error   { return ErrStepEndsTx }
func (stepTx) Rollback(context.Context) error { return ErrStepEndsTx }

// errCheckpointRefused is the outcome of an attempt whose checkpoint the database refused.
var errCheckpointRefused = errors.New("wf: the step's checkpoint was refused")

// txAttempt runs one attempt of a transactional step in a transaction of its own and
// returns its output as replay will see it, once committed with its checkpoint.
func (s *Step[T]) txAttempt(ctx context.Context, x *execution, id, try int32, started time.Time, fn func(context.Context, pgx.Tx) (T, error)) (T, error) {
	var zero T
	tx, err := x.c.pool.Begin(ctx)
	if err != nil {
		return zero, fmt.Errorf("wf: beginning the step's transaction: %w", err)
	}
	// After a commit, Rollback does nothing; before, it discards the attempt's writes.
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	out, err := fn(ctx, stepTx{tx})
	if err != nil {
		return zero, err
	}
	out, output, err := roundTrip(s.name, id, out)
	if err != nil {
		return zero, err
	}
	n, err := db.New(x.c.rw.Wrap(tx)).RecordStepInTx(ctx, db.RecordStepInTxParams{
		WorkflowID: x.id, StepID: id, Name: s.name, Output: output, Attempt: x.attempt, ClaimToken: x.claimToken, Tries: try, StartedAt: started,
		IdleTimeoutMs: x.c.idleBoundMs(),
	})
	if err != nil {
		return zero, fmt.Errorf("wf: recording the step's checkpoint in its transaction: %w", err)
	}
	if n == 0 {
		return zero, errCheckpointRefused
	}
	if err := tx.Commit(ctx); err != nil {
		return zero, fmt.Errorf("wf: committing the step's transaction: %w", err)
	}
	return out, nil
}

// refusedInTx tells why a transactional step's checkpoint was refused, and stops the
// execution: the step was recorded already by another execution (replay from the recorded
// history), or this attempt no longer owns the workflow (a fence error).
func (x *execution) refusedInTx(id int32) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(x.ctx), 30*time.Second)
	owners, err := x.c.q.StepOwners(ctx, []string{x.id})
	cancel()
	x.mu.Lock()
	defer x.mu.Unlock()
	switch {
	case err != nil:
		// Unknown: replay the recorded history, which tells.
		x.abort = errRestart
	case len(owners) == 1 && owners[0].State == string(StateRunning) && owners[0].Attempt == x.attempt && owners[0].ClaimToken == x.claimToken:
		x.abort = errRestart
	default:
		state := ""
		if len(owners) == 1 {
			state = owners[0].State
		}
		x.abort = fenceError(&checkpoint.FencedError{WorkflowID: x.id, Attempt: x.attempt, State: state})
	}
	x.c.log.Debug("wfgen: transactional step's checkpoint refused; its transaction rolled back", "workflow_id", x.id, "step_id", id, "reason", x.abort)
	return x.abort
}

// replayed returns a recorded step outcome.
func (s *Step[T]) replayed(id int32, rec *db.LoadStepsRow) (T, error) {
	var zero T
	if rec.Error != nil {
		return zero, decodeStepError(s.name, int(id), rec.Error)
	}
	var out T
	if err := json.Unmarshal(rec.Output, &out); err != nil {
		return zero, decodeFailure(fmt.Sprintf("recorded output of step %q (ID %d)", s.name, id), typeName[T](),
			"the step's output type changed under a running workflow: let running workflows finish before changing it", err)
	}
	return out, nil
}

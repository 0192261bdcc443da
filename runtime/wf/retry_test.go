package wf_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/wf"
)

// paymentError is an application's error type, registered so that its value survives the
// database.
type paymentError struct {
	Reason string `json:"reason"`
	Cents  int64  `json:"cents"`
}

func (e *paymentError) Error() string {
	return fmt.Sprintf("payment of %d cents refused: %s", e.Cents, e.Reason)
}

// quotaError has a code but no registration: its code and message survive, not its type.
type quotaError struct{ left int }

func (e quotaError) Error() string     { return fmt.Sprintf("quota exceeded (%d left)", e.left) }
func (e quotaError) ErrorCode() string { return "quota" }

func init() {
	wf.RegisterErrorCode[*paymentError]("test.payment")
}

// failure describes a step error as a workflow sees it, so that a test compares the first
// run's view with a replay's (or another process's).
type failure struct {
	Message string
	Final   bool
	Tries   int
	Codes   []string // wf.ErrorCode of the error, then of each attempt
	Payment *paymentError
}

func describe(err error) failure {
	f := failure{Message: err.Error(), Final: wf.IsFinal(err)}
	f.Codes = append(f.Codes, wf.ErrorCode(err))
	var st *wf.StepError
	if errors.As(err, &st) {
		f.Tries = len(st.Attempts)
		for _, a := range st.Attempts {
			f.Codes = append(f.Codes, wf.ErrorCode(a))
		}
	}
	var pe *paymentError
	if errors.As(err, &pe) {
		f.Payment = pe
	}
	return f
}

// suspendingSleep is a sleep that suspends a workflow (with SuspendAfter -1) however busy
// the machine, so that what follows it runs as a replay: a wait already over when reached
// returns at once, and with 1 ms a busy machine could get there late.
const suspendingSleep = 500 * time.Millisecond

func TestAFinalErrorStopsRetriesAtOnceAndStaysFinalOnReplay(t *testing.T) {
	t.Parallel()
	// Every wait suspends: the sleep after the step makes the workflow replay it.
	b := setup(t, wf.Config{SuspendAfter: -1})
	var calls atomic.Int32
	declined := &paymentError{Reason: "card declined", Cents: 1250}
	charge := wf.NewStep[string]("charge", wf.MaxAttempts(5), wf.Backoff(time.Millisecond))
	var firstRun failure
	var live error
	w := wf.NewWorkflow("final", func(ctx wf.Context, _ struct{}) (failure, error) {
		_, err := charge.Run(ctx, func(context.Context) (string, error) {
			if calls.Add(1) == 1 {
				return "", errFlaky
			}
			return "", wf.Final(fmt.Errorf("charging: %w", declined))
		})
		if ctx.Attempt() == 1 {
			firstRun, live = describe(err), err
		}
		if err := wf.Sleep(ctx, suspendingSleep); err != nil {
			return failure{}, err
		}
		if ctx.Attempt() == 1 {
			return failure{}, errors.New("the sleep did not suspend the workflow")
		}
		return describe(err), nil
	})
	b.start(t, w, charge)
	h, err := w.Start(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	replayed, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, calls.Load(), "the final error stopped the retries that were left")

	// The live error: final, and the marked error is still reachable.
	require.True(t, wf.IsFinal(live))
	require.ErrorIs(t, live, declined)
	var st *wf.StepError
	require.ErrorAs(t, live, &st)
	require.True(t, st.Final)
	require.Equal(t, "step charge failed after 2 attempts, the last with a final error; attempt 1: flaky; attempt 2: charging: payment of 1250 cents refused: card declined", live.Error())

	// The replayed error says the same, typed error included.
	require.Equal(t, failure{
		Message: live.Error(), Final: true, Tries: 2,
		Codes: []string{"test.payment", "", "test.payment"}, Payment: declined,
	}, firstRun)
	require.Equal(t, firstRun, replayed)

	steps, err := b.client.Steps(b.ctx, h.ID())
	require.NoError(t, err)
	require.Equal(t, 2, steps[0].Tries)
	require.Equal(t, live.Error(), steps[0].Error, "the recorded step error says it was final")
}

func TestARetryIfRefusalIsAFinalError(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	var calls atomic.Int32
	picky := wf.NewStep[int]("picky-final", wf.MaxAttempts(4), wf.Backoff(time.Millisecond),
		wf.RetryIf(func(err error) bool { return errors.Is(err, errFlaky) }))
	w := wf.NewWorkflow("picky-final", func(ctx wf.Context, _ struct{}) (bool, error) {
		_, err := picky.Run(ctx, func(context.Context) (int, error) {
			if calls.Add(1) == 1 {
				return 0, errFlaky
			}
			return 0, errors.New("bad request")
		})
		return wf.IsFinal(err), err
	})
	b.start(t, w, picky)
	h, err := w.Start(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.ErrorContains(t, err, "step picky-final failed after 2 attempts, the last with a final error")
	require.EqualValues(t, 2, calls.Load())
}

func TestAnExhaustedStepIsNotFinal(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	step := wf.NewStep[int]("exhausted", wf.MaxAttempts(2), wf.Backoff(time.Millisecond))
	var final atomic.Bool
	w := wf.NewWorkflow("exhausted", func(ctx wf.Context, _ struct{}) (int, error) {
		_, err := step.Run(ctx, func(context.Context) (int, error) { return 0, errFlaky })
		final.Store(wf.IsFinal(err))
		return 0, err
	})
	b.start(t, w, step)
	h, err := w.Start(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.ErrorContains(t, err, "step exhausted failed after 2 attempts; attempt 1: flaky; attempt 2: flaky")
	require.False(t, final.Load(), "attempts that run out are not a final error")
}

func TestFinalOfNilIsNil(t *testing.T) {
	t.Parallel()
	require.NoError(t, wf.Final(nil))
	require.False(t, wf.IsFinal(errFlaky))
	require.Equal(t, "flaky", wf.Final(errFlaky).Error())
}

func TestARegisteredErrorReachesResultInAnotherClientWithItsFields(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	charge := wf.NewStep[string]("pay")
	w := wf.NewWorkflow("pay", func(ctx wf.Context, cents int64) (string, error) {
		id, err := charge.Run(ctx, func(context.Context) (string, error) {
			return "", &paymentError{Reason: "insufficient funds", Cents: cents}
		})
		if err != nil {
			return "", fmt.Errorf("checkout: %w", err)
		}
		return id, nil
	})
	b.start(t, w, charge)

	// An API server: another client, on the same schema, that runs nothing.
	api, err := wf.NewClient(b.pool, wf.Config{Schema: b.schema})
	require.NoError(t, err)
	h, err := w.Enqueue(b.ctx, api, 990)
	require.NoError(t, err)
	_, err = w.Get(api, h.ID()).Result(b.ctx)
	require.Error(t, err)

	var pe *paymentError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, &paymentError{Reason: "insufficient funds", Cents: 990}, pe)
	var coded wf.CodedError
	require.ErrorAs(t, err, &coded)
	require.Equal(t, "test.payment", coded.ErrorCode())
	require.Equal(t, "test.payment", wf.ErrorCode(err))
	require.Equal(t, "payment of 990 cents refused: insufficient funds", coded.Error())
	var wfErr *wf.WorkflowError
	require.ErrorAs(t, err, &wfErr)
	require.Equal(t, "checkout: step pay failed: payment of 990 cents refused: insufficient funds", wfErr.Message)
}

func TestAnUnregisteredCodedErrorKeepsItsCodeAndMessage(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{SuspendAfter: -1})
	step := wf.NewStep[int]("quota")
	w := wf.NewWorkflow("quota", func(ctx wf.Context, _ struct{}) (failure, error) {
		_, err := step.Run(ctx, func(context.Context) (int, error) { return 0, fmt.Errorf("upload: %w", quotaError{left: 0}) })
		if err := wf.Sleep(ctx, suspendingSleep); err != nil {
			return failure{}, err
		}
		if ctx.Attempt() == 1 {
			return failure{}, errors.New("the sleep did not suspend the workflow")
		}
		// Replayed: the code and the message, as a *wf.RecordedError, not a quotaError.
		var q quotaError
		if errors.As(err, &q) {
			return failure{}, errors.New("a replay cannot rebuild an unregistered type")
		}
		var rec *wf.RecordedError
		if !errors.As(err, &rec) || rec.Message != "quota exceeded (0 left)" {
			return failure{}, fmt.Errorf("no recorded error in %v", err)
		}
		return describe(err), err
	})
	b.start(t, w, step)
	h, err := w.Start(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	var coded wf.CodedError
	require.ErrorAs(t, err, &coded)
	require.Equal(t, "quota", coded.ErrorCode())
	require.Equal(t, "quota exceeded (0 left)", coded.Error())
}

func TestAStepKnowsItsAttemptAndIdempotencyKey(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	var mu sync.Mutex
	var seen []wf.StepInfo
	var attempts []int
	first := wf.NewStep[int]("first")
	flaky := wf.NewStep[int]("flaky-attempts", wf.MaxAttempts(3), wf.Backoff(time.Millisecond))
	w := wf.NewWorkflow("attempts", func(ctx wf.Context, _ struct{}) (bool, error) {
		if _, err := first.Run(ctx, func(context.Context) (int, error) { return 0, nil }); err != nil {
			return false, err
		}
		_, err := flaky.Run(ctx, func(ctx context.Context) (int, error) {
			info, ok := wf.CurrentStep(ctx)
			if !ok {
				return 0, wf.Final(errors.New("no step info"))
			}
			mu.Lock()
			seen = append(seen, info)
			attempts = append(attempts, wf.StepAttempt(ctx))
			mu.Unlock()
			if info.Attempt < 3 {
				return 0, errFlaky
			}
			return info.Attempt, nil
		})
		_, inWorkflow := wf.CurrentStep(ctx)
		return inWorkflow, err
	})
	b.start(t, w, first, flaky)
	h, err := w.Start(b.ctx, b.client, struct{}{}, wf.WithID("order-9"))
	require.NoError(t, err)
	inWorkflow, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.False(t, inWorkflow, "the workflow's own context is no step's")
	require.Equal(t, []int{1, 2, 3}, attempts)
	for i, info := range seen {
		require.Equal(t, wf.StepInfo{WorkflowID: "order-9", Workflow: "attempts", StepID: 2, Step: "flaky-attempts", Attempt: i + 1}, info)
		require.Equal(t, "order-9/2", info.IdempotencyKey())
	}
	require.Zero(t, wf.StepAttempt(b.ctx))
}

type otherPaymentError struct{}

func (*otherPaymentError) Error() string { return "other" }

func TestRegisterErrorCodeRefusesConflicts(t *testing.T) {
	t.Parallel()
	wf.RegisterErrorCode[*paymentError]("test.payment") // the same pair again: nothing
	require.PanicsWithValue(t, `wf: RegisterErrorCode[*wf_test.otherPaymentError]: code "test.payment" is already registered for *wf_test.paymentError`,
		func() { wf.RegisterErrorCode[*otherPaymentError]("test.payment") })
	require.PanicsWithValue(t, `wf: RegisterErrorCode[*wf_test.paymentError]: the type is already registered under code "test.payment"`,
		func() { wf.RegisterErrorCode[*paymentError]("test.other") })
	require.Panics(t, func() { wf.RegisterErrorCode[*otherPaymentError](" ") })
	require.Panics(t, func() { wf.RegisterErrorCode[wf.CodedError]("test.iface") })
}

func TestAChildsRegisteredErrorReachesTheParentThatAwaitsIt(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	child := wf.NewWorkflow("refusing-child", func(ctx wf.Context, cents int64) (int, error) {
		return 0, &paymentError{Reason: "limit", Cents: cents}
	})
	parent := wf.NewWorkflow("awaiting-parent", func(ctx wf.Context, _ struct{}) (paymentError, error) {
		h, err := child.EnqueueChild(ctx, 77)
		if err != nil {
			return paymentError{}, err
		}
		_, err = h.Await(ctx)
		var pe *paymentError
		if !errors.As(err, &pe) {
			return paymentError{}, fmt.Errorf("no paymentError in %w", err)
		}
		return *pe, nil
	})
	b.start(t, parent, child)
	h, err := parent.Start(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, paymentError{Reason: "limit", Cents: 77}, out)
}

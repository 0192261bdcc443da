package wf_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/wf"
)

type order struct {
	ID    int      `json:"id"`
	Items []string `json:"items"`
}

type receipt struct {
	OrderID int    `json:"order_id"`
	Total   int    `json:"total"`
	Note    string `json:"note"`
}

func TestStartRunsWorkflowAndResultIsTyped(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	price := wf.NewStep[int]("price")
	checkout := wf.NewWorkflow("checkout", func(ctx wf.Context, in order) (receipt, error) {
		total := 0
		for _, item := range in.Items {
			p, err := price.Run(ctx, func(context.Context) (int, error) { return len(item), nil })
			if err != nil {
				return receipt{}, err
			}
			total += p
		}
		return receipt{OrderID: in.ID, Total: total, Note: ctx.WorkflowID()}, nil
	})
	b.start(t, checkout, price)

	h, err := checkout.Start(b.ctx, b.client, order{ID: 7, Items: []string{"ab", "cde"}}, wf.WithID("order-7"))
	require.NoError(t, err)
	require.Equal(t, "order-7", h.ID())
	r, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, receipt{OrderID: 7, Total: 5, Note: "order-7"}, r)

	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, wf.StateSucceeded, st.State)
	require.Equal(t, 1, st.Attempt)
	require.Equal(t, b.client.ExecutorID(), st.ExecutorID)
	require.False(t, st.CompletedAt.IsZero())

	steps, err := b.client.Steps(b.ctx, h.ID())
	require.NoError(t, err)
	require.Len(t, steps, 2)
	require.Equal(t, wf.StepStatus{ID: 1, Name: "price", Output: `2`, Attempt: 1, Tries: 1, StartedAt: steps[0].StartedAt, CompletedAt: steps[0].CompletedAt}, steps[0])
	require.Equal(t, `3`, steps[1].Output)
}

func TestEnqueueRunsOnAWorkerAndAClientReadsTheResult(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	double := wf.NewWorkflow("double", func(ctx wf.Context, n int) (int, error) { return 2 * n, nil })
	b.start(t, double)

	// An API server: a client that never starts, on the same schema.
	api, err := wf.NewClient(b.pool, wf.Config{Schema: b.schema})
	require.NoError(t, err)
	h, err := double.Enqueue(b.ctx, api, 21)
	require.NoError(t, err)
	out, err := double.Get(api, h.ID()).Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 42, out)
}

func TestSameIDStartsOnceAndReturnsTheSameResult(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	var runs atomic.Int32
	once := wf.NewWorkflow("once", func(ctx wf.Context, in string) (string, error) {
		runs.Add(1)
		return "hello " + in, nil
	})
	b.start(t, once)

	h1, err := once.Start(b.ctx, b.client, "a", wf.WithID("same"))
	require.NoError(t, err)
	r1, err := h1.Result(b.ctx)
	require.NoError(t, err)
	// Again, by Start and by Enqueue, even with another input: the first workflow stands.
	h2, err := once.Start(b.ctx, b.client, "b", wf.WithID("same"))
	require.NoError(t, err)
	h3, err := once.Enqueue(b.ctx, b.client, "c", wf.WithID("same"))
	require.NoError(t, err)
	for _, h := range []*wf.Handle[string]{h2, h3} {
		r, err := h.Result(b.ctx)
		require.NoError(t, err)
		require.Equal(t, r1, r)
	}
	require.Equal(t, "hello a", r1)
	require.EqualValues(t, 1, runs.Load())
}

func TestRequireSameInputRefusesAnIDStoredWithAnotherInput(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	var runs atomic.Int32
	w := wf.NewWorkflow("keyed", func(ctx wf.Context, in json.RawMessage) (string, error) {
		runs.Add(1)
		return string(in), nil
	})
	b.start(t, w)
	first, err := w.Enqueue(b.ctx, b.client, json.RawMessage(`{"a": 1, "b": [2]}`), wf.WithID("key", wf.RequireSameInput))
	require.NoError(t, err)
	out, err := first.Result(b.ctx)
	require.NoError(t, err)

	// The same input, as JSON values: the existing workflow.
	again, err := w.Enqueue(b.ctx, b.client, json.RawMessage(`{"b":[2],"a":1}`), wf.WithID("key", wf.RequireSameInput))
	require.NoError(t, err)
	againOut, err := again.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, out, againOut)

	// Another input: refused by Enqueue, EnqueueTx and Start, naming the ID.
	other := json.RawMessage(`{"a": 2, "b": [2]}`)
	_, enqueueErr := w.Enqueue(b.ctx, b.client, other, wf.WithID("key", wf.RequireSameInput))
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	_, txErr := w.EnqueueTx(b.ctx, b.client, tx, other, wf.WithID("key", wf.RequireSameInput))
	require.NoError(t, tx.Rollback(b.ctx))
	_, startErr := w.Start(b.ctx, b.client, other, wf.WithID("key", wf.RequireSameInput))
	for _, err := range []error{enqueueErr, txErr, startErr} {
		var mismatch *wf.InputMismatchError
		require.ErrorAs(t, err, &mismatch)
		require.Equal(t, wf.InputMismatchError{ID: "key", Workflow: "keyed", State: wf.StateSucceeded}, *mismatch)
		require.EqualError(t, err, `wf: workflow ID "key" already has a "keyed" workflow (succeeded) whose stored input differs from this one: `+
			`an ID runs its workflow once, on the input stored first; enqueue this input under another ID, or follow the existing workflow with Get`)
	}

	// Without the policy, the default stands: the existing workflow, whatever the input.
	same, err := w.Enqueue(b.ctx, b.client, other, wf.WithID("key"))
	require.NoError(t, err)
	require.Equal(t, "key", same.ID())
	require.EqualValues(t, 1, runs.Load())
}

func TestAnIDTakenByAnotherWorkflowIsAConflict(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	first := wf.NewWorkflow("first", func(ctx wf.Context, in int) (int, error) { return in, nil })
	second := wf.NewWorkflow("second", func(ctx wf.Context, in int) (int, error) { return in, nil })
	b.start(t, first, second)
	_, err := first.Enqueue(b.ctx, b.client, 1, wf.WithID("taken"))
	require.NoError(t, err)
	_, err = second.Enqueue(b.ctx, b.client, 1, wf.WithID("taken"))
	var conflict *wf.IDConflictError
	require.ErrorAs(t, err, &conflict)
	require.Equal(t, "first", conflict.ExistingName)
	require.Contains(t, err.Error(), "choose another ID")
}

var errFlaky = errors.New("flaky")

func TestStepRetriesUntilItSucceeds(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	var calls atomic.Int32
	flaky := wf.NewStep[string]("flaky", wf.MaxAttempts(3), wf.Backoff(time.Millisecond), wf.Jitter(0))
	w := wf.NewWorkflow("retry", func(ctx wf.Context, _ struct{}) (string, error) {
		return flaky.Run(ctx, func(context.Context) (string, error) {
			if calls.Add(1) < 3 {
				return "", errFlaky
			}
			return "ok", nil
		})
	})
	b.start(t, w, flaky)
	h, err := w.Start(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	steps, err := b.client.Steps(b.ctx, h.ID())
	require.NoError(t, err)
	require.Equal(t, 3, steps[0].Tries)
}

type codeError struct{ code int }

func (e *codeError) Error() string { return fmt.Sprintf("code %d", e.code) }

func TestStepErrorWrapsEveryAttemptWhenAttemptsRunOut(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	var calls atomic.Int32
	failing := wf.NewStep[int]("failing", wf.MaxAttempts(3), wf.Backoff(time.Millisecond))
	var seen error
	w := wf.NewWorkflow("exhaust", func(ctx wf.Context, _ struct{}) (int, error) {
		_, err := failing.Run(ctx, func(context.Context) (int, error) {
			n := calls.Add(1)
			if n == 2 {
				return 0, &codeError{code: 502}
			}
			return 0, fmt.Errorf("attempt %d: %w", n, errFlaky)
		})
		seen = err
		return 0, err
	})
	b.start(t, w, failing)
	h, err := w.Start(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.Error(t, err)
	require.EqualValues(t, 3, calls.Load())

	// Inside the workflow, the live error: every attempt is reachable.
	var stepErr *wf.StepError
	require.ErrorAs(t, seen, &stepErr)
	require.Len(t, stepErr.Attempts, 3)
	require.ErrorIs(t, seen, errFlaky)
	var ce *codeError
	require.ErrorAs(t, seen, &ce)
	require.Equal(t, 502, ce.code)

	// From the database: the same message, whatever process asks.
	var wfErr *wf.WorkflowError
	require.ErrorAs(t, err, &wfErr)
	require.Equal(t, "error", wfErr.Kind)
	require.Contains(t, err.Error(), "step failing failed after 3 attempts; attempt 1: attempt 1: flaky; attempt 2: code 502; attempt 3: attempt 3: flaky")
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, wf.StateFailed, st.State)
}

func TestRetryIfStopsRetriesOfPermanentErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	var calls atomic.Int32
	permanent := errors.New("permanent")
	step := wf.NewStep[int]("picky", wf.MaxAttempts(5), wf.Backoff(time.Millisecond),
		wf.RetryIf(func(err error) bool { return !errors.Is(err, permanent) }))
	w := wf.NewWorkflow("picky", func(ctx wf.Context, _ struct{}) (int, error) {
		return step.Run(ctx, func(context.Context) (int, error) { calls.Add(1); return 0, permanent })
	})
	b.start(t, w, step)
	h, err := w.Start(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.ErrorContains(t, err, "permanent")
	require.EqualValues(t, 1, calls.Load())
}

func TestRetryBackoffGrowsAndIsCapped(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	var times []time.Time
	step := wf.NewStep[int]("slow-retry", wf.MaxAttempts(4), wf.Backoff(20*time.Millisecond),
		wf.BackoffFactor(3), wf.MaxBackoff(100*time.Millisecond), wf.Jitter(0))
	w := wf.NewWorkflow("backoff", func(ctx wf.Context, _ struct{}) (int, error) {
		return step.Run(ctx, func(context.Context) (int, error) {
			times = append(times, time.Now())
			return 0, errFlaky
		})
	})
	b.start(t, w, step)
	h, err := w.Start(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.Error(t, err)
	require.Len(t, times, 4)
	// Waits of 20ms, 60ms, then 180ms capped to 100ms: each at least that long.
	for i, least := range []time.Duration{20 * time.Millisecond, 60 * time.Millisecond, 100 * time.Millisecond} {
		require.GreaterOrEqual(t, times[i+1].Sub(times[i]), least, "wait after attempt %d", i+1)
	}
}

func TestPanicsInStepsAndWorkflowsFailTheWorkflowNotTheProcess(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	boom := wf.NewStep[int]("boom")
	stepPanic := wf.NewWorkflow("step-panic", func(ctx wf.Context, _ struct{}) (int, error) {
		return boom.Run(ctx, func(context.Context) (int, error) { panic("step exploded") })
	})
	workflowPanic := wf.NewWorkflow("workflow-panic", func(ctx wf.Context, _ struct{}) (int, error) {
		var m map[string]int
		m["x"] = 1 // a runtime error
		return 0, nil
	})
	b.start(t, stepPanic, workflowPanic, boom)

	h1, err := stepPanic.Start(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	_, err = h1.Result(b.ctx)
	require.ErrorContains(t, err, "panic: step exploded")

	h2, err := workflowPanic.Start(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	_, err = h2.Result(b.ctx)
	var wfErr *wf.WorkflowError
	require.ErrorAs(t, err, &wfErr)
	require.Equal(t, "panic", wfErr.Kind)
	require.Contains(t, err.Error(), "assignment to entry in nil map")
}

func TestFailedWorkflowsAreLoggedAndAPanicsStackIsKept(t *testing.T) {
	t.Parallel()
	logger, logs := recordLogs(t)
	b := setup(t, wf.Config{Logger: logger})
	fails := wf.NewWorkflow("fails", func(ctx wf.Context, _ struct{}) (int, error) {
		return 0, errors.New("out of paper")
	})
	panics := wf.NewWorkflow("panics", func(ctx wf.Context, _ struct{}) (int, error) {
		panic("printer on fire")
	})
	b.start(t, fails, panics)

	h, err := fails.Start(b.ctx, b.client, struct{}{}, wf.WithID("failing"))
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	var wfErr *wf.WorkflowError
	require.ErrorAs(t, err, &wfErr)
	require.Equal(t, "error", wfErr.Kind)
	require.Equal(t, "out of paper", wfErr.Message, "the workflow's own message, nothing added")
	require.Empty(t, wfErr.Stack)
	require.EqualError(t, err, "workflow failing (fails) failed: out of paper")
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, "out of paper", st.Error)
	require.Equal(t, []map[string]string{{"workflow_id": "failing", "name": "fails", "kind": "error", "error": "out of paper"}},
		logs.find(slog.LevelWarn, "wfgen: workflow failed"))

	h, err = panics.Start(b.ctx, b.client, struct{}{}, wf.WithID("panicking"))
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.ErrorAs(t, err, &wfErr)
	require.Equal(t, "panic", wfErr.Kind)
	require.Equal(t, "panic: printer on fire", wfErr.Message)
	require.EqualError(t, err, "workflow panicking (panics) failed: panic: printer on fire")
	require.Contains(t, wfErr.Stack, "workflow_test.go", "the stack reaches the panicking function")
	logged := logs.find(slog.LevelError, "wfgen: workflow panicked")
	require.Len(t, logged, 1)
	require.Equal(t, "panicking", logged[0]["workflow_id"])
	require.Equal(t, "panics", logged[0]["name"])
	require.Equal(t, "panic: printer on fire", logged[0]["error"])
	require.Equal(t, wfErr.Stack, logged[0]["stack"])
}

// shouting is a step output whose JSON encoding is not its value: a replay decodes it in
// capitals.
type shouting string

func (s shouting) MarshalJSON() ([]byte, error) { return json.Marshal(strings.ToUpper(string(s))) }

func TestStepOutputIsWhatReplayReturns(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	type withPrivate struct {
		Public  string
		private string
	}
	lossy := wf.NewStep[withPrivate]("lossy")
	bytes := wf.NewStep[string]("bytes")
	loud := wf.NewStep[shouting]("loud")
	w := wf.NewWorkflow("lossy", func(ctx wf.Context, _ struct{}) ([]string, error) {
		v, err := lossy.Run(ctx, func(context.Context) (withPrivate, error) {
			return withPrivate{Public: "kept", private: "dropped"}, nil
		})
		if err != nil {
			return nil, err
		}
		// encoding/json replaces bytes that are not UTF-8.
		s, err := bytes.Run(ctx, func(context.Context) (string, error) { return "caf\xe9", nil })
		if err != nil {
			return nil, err
		}
		l, err := loud.Run(ctx, func(context.Context) (shouting, error) { return "hello", nil })
		// Quoted, so that the workflow's own output shows the bytes the step's caller saw.
		return []string{v.Public + "/" + v.private, strconv.Quote(s), string(l)}, err
	})
	b.start(t, w, lossy, bytes, loud)
	h, err := w.Start(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"kept/", strconv.Quote("caf\uFFFD"), "HELLO"}, out, "the first run sees the JSON round trip, as a replay would")
}

func TestUnencodableInputIsRefusedAndNothingIsStored(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	w := wf.NewWorkflow("chan-input", func(ctx wf.Context, in chan int) (int, error) { return 0, nil })
	b.start(t, w)
	_, err := w.Enqueue(b.ctx, b.client, make(chan int), wf.WithID("never"))
	var codecErr *wf.CodecError
	require.ErrorAs(t, err, &codecErr)
	require.Equal(t, "chan int", codecErr.Type)
	require.False(t, codecErr.Decode)
	require.ErrorContains(t, err, `wf: input of workflow "chan-input" (chan int) cannot be stored as JSON: json: unsupported type: chan int`)
	_, err = w.Get(b.client, "never").Status(b.ctx)
	require.ErrorIs(t, err, wf.ErrNotFound)
}

func TestUnstorableOutputFailsTheWorkflowWithAClearError(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	w := wf.NewWorkflow("nul-output", func(ctx wf.Context, _ struct{}) (string, error) { return "a\x00b", nil })
	b.start(t, w)
	h, err := w.Start(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.ErrorContains(t, err, `output of workflow "nul-output"`)
	require.ErrorContains(t, err, "cannot be stored as JSON")
}

func TestInputThatDoesNotDecodeFailsTheWorkflowSayingWhy(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	// The enqueuer's idea of the workflow takes a struct; the worker's takes an int.
	enqueuerSide := wf.NewWorkflow("drifted", func(ctx wf.Context, in order) (int, error) { return 0, nil })
	workerSide := wf.NewWorkflow("drifted", func(ctx wf.Context, in int) (int, error) { return in, nil })
	b.start(t, workerSide)
	h, err := enqueuerSide.Enqueue(b.ctx, b.client, order{ID: 1})
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	var wfErr *wf.WorkflowError
	require.ErrorAs(t, err, &wfErr)
	require.Equal(t, "input", wfErr.Kind)
	require.Contains(t, wfErr.Message, `wf: input of workflow "drifted" does not decode as int: json: cannot unmarshal object into Go value of type int`)
	require.Contains(t, wfErr.Message, "the enqueuer and this worker disagree on its type: deploy the same version to both")
	require.NotContains(t, err.Error(), "cannot be stored")
}

func TestOutputThatDoesNotDecodeIsACodecErrorNamingTheType(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	// The worker's idea of the workflow returns a string; the client's an int.
	workerSide := wf.NewWorkflow("drifted-output", func(ctx wf.Context, _ struct{}) (string, error) { return "text", nil })
	clientSide := wf.NewWorkflow("drifted-output", func(ctx wf.Context, _ struct{}) (int, error) { return 0, nil })
	b.start(t, workerSide)
	h, err := workerSide.Enqueue(b.ctx, b.client, struct{}{}, wf.WithID("drifted"))
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.NoError(t, err)

	_, err = clientSide.Get(b.client, "drifted").Result(b.ctx)
	var codecErr *wf.CodecError
	require.ErrorAs(t, err, &codecErr)
	require.True(t, codecErr.Decode)
	require.Equal(t, "int", codecErr.Type)
	require.EqualError(t, err, `wf: output of workflow "drifted-output" (ID drifted) does not decode as int: json: cannot unmarshal string into Go value of type int; the worker and this client disagree on its type: deploy the same version to both`)
}

func TestAnUnknownIDIsNotFoundSaidOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	w := wf.NewWorkflow("known", func(ctx wf.Context, _ struct{}) (int, error) { return 1, nil })
	other := wf.NewWorkflow("other", func(ctx wf.Context, _ struct{}) (int, error) { return 2, nil })
	_, err := w.Get(b.client, "x").Status(b.ctx)
	require.ErrorIs(t, err, wf.ErrNotFound)
	require.EqualError(t, err, `wf: workflow "x" not found`)
	err = w.Get(b.client, "x").Cancel(b.ctx)
	require.ErrorIs(t, err, wf.ErrNotFound)
	require.EqualError(t, err, `wf: workflow "x" not found`)

	_, err = other.Enqueue(b.ctx, b.client, struct{}{}, wf.WithID("taken"))
	require.NoError(t, err)
	_, err = w.Get(b.client, "taken").Status(b.ctx)
	require.ErrorIs(t, err, wf.ErrNotFound)
	require.EqualError(t, err, `wf: workflow "taken" not found: the ID belongs to workflow "other", not "known"`)
}

func TestResultOfAnUnknownIDIsNotFoundAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	release := make(chan struct{})
	w := wf.NewWorkflow("known", func(ctx wf.Context, _ struct{}) (int, error) { <-release; return 1, nil })
	other := wf.NewWorkflow("other", func(ctx wf.Context, _ struct{}) (int, error) { return 2, nil })
	b.start(t, w)
	running, err := w.Enqueue(b.ctx, b.client, struct{}{})
	require.NoError(t, err)

	// However long the caller would wait, an ID no workflow has is reported at once, while
	// the wait for a workflow that exists goes on.
	waited := make(chan error, 1)
	go func() { _, err := running.Result(b.ctx); waited <- err }()
	_, err = w.Get(b.client, "nope").Result(b.ctx)
	require.ErrorIs(t, err, wf.ErrNotFound)
	require.EqualError(t, err, `wf: workflow "nope" not found`)
	require.NoError(t, b.ctx.Err())
	_, err = other.Get(b.client, running.ID()).Result(b.ctx)
	require.ErrorIs(t, err, wf.ErrNotFound, "the ID belongs to another workflow")
	close(release)
	require.NoError(t, <-waited)

	// A workflow enqueued in a transaction does not exist for Result until the commit.
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer tx.Rollback(b.ctx) //nolint:errcheck // a no-op after Commit
	h, err := w.EnqueueTx(b.ctx, b.client, tx, struct{}{})
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.ErrorIs(t, err, wf.ErrNotFound)
	require.NoError(t, tx.Commit(b.ctx))
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, out)
}

func TestAZeroHandleRefersToNothingAndSaysSo(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	for name, h := range map[string]*wf.Handle[int]{"nil": nil, "zero": {}} {
		require.Empty(t, h.ID(), name)
		_, err := h.Status(b.ctx)
		require.ErrorIs(t, err, wf.ErrNotFound, name)
		require.ErrorContains(t, err, "refers to no workflow", name)
		_, err = h.Result(b.ctx)
		require.ErrorIs(t, err, wf.ErrNotFound, name)
		require.ErrorIs(t, h.Cancel(b.ctx), wf.ErrNotFound, name)
	}
}

func TestStartNeedsAStartedClientWithTheWorkflowRegistered(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	w := wf.NewWorkflow("unregistered", func(ctx wf.Context, _ struct{}) (int, error) { return 1, nil })
	_, err := w.Start(b.ctx, b.client, struct{}{})
	require.ErrorIs(t, err, wf.ErrNotStarted)

	b.start(t)
	_, err = w.Start(b.ctx, b.client, struct{}{})
	var unknown *wf.UnknownWorkflowError
	require.ErrorAs(t, err, &unknown)
	require.Equal(t, "unregistered", unknown.Name)
	require.Contains(t, err.Error(), "Register")
}

func TestStartRefusesQueueOptions(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	w := wf.NewWorkflow("direct", func(ctx wf.Context, _ struct{}) (int, error) { return 1, nil })
	b.start(t, w)
	_, err := w.Start(b.ctx, b.client, struct{}{}, wf.WithPriority(3))
	require.ErrorContains(t, err, "WithPriority applies to Enqueue only")
}

func TestAnEnqueuedWorkflowNoWorkerKnowsWaitsAndIsNotLost(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	known := wf.NewWorkflow("known", func(ctx wf.Context, _ struct{}) (int, error) { return 1, nil })
	unknown := wf.NewWorkflow("unknown", func(ctx wf.Context, _ struct{}) (int, error) { return 2, nil })
	b.start(t, known)
	hu, err := unknown.Enqueue(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	hk, err := known.Enqueue(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	_, err = hk.Result(b.ctx)
	require.NoError(t, err)
	st, err := hu.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, wf.StateEnqueued, st.State)
}

func TestCancelStopsAWorkflowAtItsNextStep(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	entered := make(chan struct{})
	var after atomic.Bool
	block := wf.NewStep[int]("block")
	next := wf.NewStep[int]("next")
	blockErr := make(chan error, 1)
	w := wf.NewWorkflow("cancellable", func(ctx wf.Context, _ struct{}) (int, error) {
		_, err := block.Run(ctx, func(ctx context.Context) (int, error) {
			close(entered)
			<-ctx.Done() // a step that honours its context
			return 0, ctx.Err()
		})
		blockErr <- err
		_, err = next.Run(ctx, func(context.Context) (int, error) { after.Store(true); return 1, nil })
		return 0, err
	})
	b.start(t, w, block, next)
	h, err := w.Start(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	<-entered
	require.NoError(t, h.Cancel(b.ctx))
	_, err = h.Result(b.ctx)
	require.ErrorIs(t, err, wf.ErrCancelled)
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, wf.StateCancelled, st.State)

	require.ErrorIs(t, <-blockErr, wf.ErrCancelled)
	require.False(t, after.Load(), "no step starts after a cancel")
	steps, err := b.client.Steps(b.ctx, h.ID())
	require.NoError(t, err)
	require.Empty(t, steps, "the interrupted step is not recorded")
	// Cancelling a final workflow does nothing.
	require.NoError(t, h.Cancel(b.ctx))
	require.ErrorIs(t, w.Get(b.client, "nope").Cancel(b.ctx), wf.ErrNotFound)
}

func TestResultReturnsWhenItsContextEndsAndTheWorkflowGoesOn(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	release := make(chan struct{})
	wait := wf.NewStep[int]("wait")
	w := wf.NewWorkflow("slow", func(ctx wf.Context, _ struct{}) (int, error) {
		return wait.Run(ctx, func(context.Context) (int, error) { <-release; return 5, nil })
	})
	b.start(t, w, wait)
	h, err := w.Start(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	short, cancel := context.WithTimeout(b.ctx, 50*time.Millisecond)
	defer cancel()
	_, err = h.Result(short)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	close(release)
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 5, out)
}

func TestWorkflowTimeoutFailsItWithErrTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	sleep := wf.NewStep[int]("sleep")
	w := wf.NewWorkflow("deadline", func(ctx wf.Context, _ struct{}) (int, error) {
		return sleep.Run(ctx, func(ctx context.Context) (int, error) {
			<-ctx.Done()
			return 0, ctx.Err()
		})
	}, wf.WorkflowTimeout(100*time.Millisecond))
	b.start(t, w, sleep)
	h, err := w.Enqueue(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.ErrorIs(t, err, wf.ErrTimeout)
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, wf.StateFailed, st.State)
	require.False(t, st.Deadline.IsZero())
}

func TestStepTimeoutBoundsEachAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	step := wf.NewStep[int]("bounded", wf.StepTimeout(30*time.Millisecond), wf.MaxAttempts(2), wf.Backoff(time.Millisecond))
	w := wf.NewWorkflow("bounded", func(ctx wf.Context, _ struct{}) (int, error) {
		return step.Run(ctx, func(ctx context.Context) (int, error) {
			<-ctx.Done()
			return 0, ctx.Err()
		})
	})
	b.start(t, w, step)
	h, err := w.Start(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.ErrorContains(t, err, "failed after 2 attempts")
	require.ErrorContains(t, err, "context deadline exceeded")
}

func TestDuplicateRegistrationsAreRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	w1 := wf.NewWorkflow("dup", func(ctx wf.Context, _ struct{}) (int, error) { return 1, nil })
	w2 := wf.NewWorkflow("dup", func(ctx wf.Context, _ struct{}) (int, error) { return 2, nil })
	s1, s2 := wf.NewStep[int]("s"), wf.NewStep[string]("s")
	err := b.client.Register(w1, w2, s1, s2)
	require.ErrorContains(t, err, `workflow "dup" registered twice`)
	require.ErrorContains(t, err, `step "s" registered twice (outputs int and string)`)
}

func TestAnEnqueuedWorkflowNamesNoExecutorUntilOneClaimsIt(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{ExecutorID: "api-server"})
	w := wf.NewWorkflow("unclaimed", func(ctx wf.Context, n int) (int, error) { return n, nil })
	h, err := w.Enqueue(b.ctx, b.client, 1) // by a client that runs nothing
	require.NoError(t, err)
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, wf.StateEnqueued, st.State)
	require.Empty(t, st.ExecutorID, "the enqueuer is not the executor")
}

func TestPollReadsTheOutcomeWithoutWaiting(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	release := make(chan struct{})
	hold := wf.NewStep[int]("hold")
	w := wf.NewWorkflow("polled", func(ctx wf.Context, n int) (int, error) {
		out, err := hold.Run(ctx, func(context.Context) (int, error) { <-release; return n * 2, nil })
		if n < 0 {
			return 0, errors.New("negative")
		}
		return out, err
	})
	b.start(t, w, hold)

	h, err := w.Enqueue(b.ctx, b.client, 21)
	require.NoError(t, err)
	out, done, err := h.Poll(b.ctx)
	require.NoError(t, err)
	require.False(t, done, "enqueued or running: not done")
	require.Zero(t, out)

	close(release)
	_, err = h.Result(b.ctx)
	require.NoError(t, err)
	out, done, err = h.Poll(b.ctx)
	require.NoError(t, err)
	require.True(t, done)
	require.Equal(t, 42, out)

	failing, err := w.Enqueue(b.ctx, b.client, -1)
	require.NoError(t, err)
	_, err = failing.Result(b.ctx)
	require.Error(t, err)
	_, done, err = failing.Poll(b.ctx)
	require.True(t, done)
	var wfErr *wf.WorkflowError
	require.ErrorAs(t, err, &wfErr, "a failed run is done, with Result's error")
	require.Equal(t, "negative", wfErr.Message)

	_, done, err = w.Get(b.client, "no-such-run").Poll(b.ctx)
	require.ErrorIs(t, err, wf.ErrNotFound)
	require.False(t, done)
	var zero *wf.Handle[int]
	_, _, err = zero.Poll(b.ctx)
	require.ErrorIs(t, err, wf.ErrNotFound)
}

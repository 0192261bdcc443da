package wf_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/wf"
)

func TestADebouncedKeyCalledFiftyTimesStartsOneRunWithTheLastInput(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	echo := wf.NewWorkflow("debounced-echo", func(ctx wf.Context, n int) (int, error) { return n, nil })
	b.start(t, echo)

	var ids []string
	for i := range 50 {
		h, err := echo.Debounce(b.ctx, b.client, "user-7", i, time.Second, 0)
		require.NoError(t, err)
		ids = append(ids, h.ID())
	}
	for _, id := range ids {
		require.Equal(t, ids[0], id, "every call returns the one pending run")
	}
	out, err := echo.Get(b.client, ids[0]).Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 49, out)
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.workflows WHERE name = 'debounced-echo'`))

	// Once it ran, the key debounces a new run; another key has its own.
	next, err := echo.Debounce(b.ctx, b.client, "user-7", 50, 10*time.Millisecond, 0)
	require.NoError(t, err)
	require.NotEqual(t, ids[0], next.ID())
	other, err := echo.Debounce(b.ctx, b.client, "user-8", 51, 10*time.Millisecond, 0)
	require.NoError(t, err)
	require.NotEqual(t, next.ID(), other.ID())
	out, err = next.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 50, out)
}

func TestADebouncedRunStartsByItsMaxDelayWhateverTheCalls(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	echo := wf.NewWorkflow("max-delayed", func(ctx wf.Context, n int) (int, error) { return n, nil })
	b.start(t, echo)
	first, err := echo.Debounce(b.ctx, b.client, "k", 1, time.Hour, 200*time.Millisecond)
	require.NoError(t, err)
	st, err := first.Status(b.ctx)
	require.NoError(t, err)
	require.WithinDuration(t, st.CreatedAt.Add(200*time.Millisecond), st.AvailableAt, 50*time.Millisecond, "due by the max delay, not the hour")
	second, err := echo.Debounce(b.ctx, b.client, "k", 2, time.Hour, 200*time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, first.ID(), second.ID())
	st2, err := second.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, st.AvailableAt, st2.AvailableAt, "a later call does not move the start past the first call's deadline")
	out, err := first.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 2, out)
}

func TestDebounceRefusesWhatDoesNotApply(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	echo := wf.NewWorkflow("debounce-refusals", func(ctx wf.Context, n int) (int, error) { return n, nil })
	_, err := echo.Debounce(b.ctx, b.client, "", 1, time.Second, 0)
	require.ErrorContains(t, err, "empty key")
	_, err = echo.Debounce(b.ctx, b.client, "k", 1, 0, 0)
	require.ErrorContains(t, err, "not positive")
	_, err = echo.Debounce(b.ctx, b.client, "k", 1, time.Second, 0, wf.WithID("x"))
	require.ErrorContains(t, err, "WithID")
}

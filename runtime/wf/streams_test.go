package wf_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wftest"
)

// collect reads a whole stream with All.
func collect[T any](ctx context.Context, s *wf.Stream[T], c *wf.Client, id string, from int) ([]T, error) {
	var out []T
	for v, err := range s.All(ctx, c, id, from) {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

func TestAnotherClientReadsAStreamInOrderUntilItIsClosed(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	lines := wf.NewStream[string]("lines")
	middle, after := newGate("middle"), newGate("after-close")
	const n = 20
	w := wf.NewWorkflow("printer", func(ctx wf.Context, _ int) (int, error) {
		for i := range n {
			if i == n/2 {
				if err := middle.pass(ctx); err != nil {
					return 0, err
				}
			}
			if err := lines.Append(ctx, fmt.Sprintf("line %d", i)); err != nil {
				return 0, err
			}
		}
		if err := lines.Close(ctx); err != nil {
			return 0, err
		}
		// Still running after Close: readers end at the Close, not at the workflow's end.
		return 0, after.pass(ctx)
	})
	b.start(t, w, lines, middle.step, after.step)
	t.Cleanup(after.open)
	api := reader(t, b)
	require.NoError(t, api.Register(lines))
	h, err := w.Enqueue(b.ctx, api, 0)
	require.NoError(t, err)

	// The first half is there; the rest comes once the gate opens, while All waits.
	require.Eventually(t, func() bool {
		vals, closed, err := lines.Read(b.ctx, api, h.ID(), 0)
		return err == nil && len(vals) == n/2 && !closed
	}, 10*time.Second, 10*time.Millisecond)
	type result struct {
		vals []string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		vals, err := collect(b.ctx, lines, api, h.ID(), 0)
		done <- result{vals, err}
	}()
	middle.open()
	r := <-done
	require.NoError(t, r.err)
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("line %d", i)
	}
	require.Equal(t, want, r.vals)
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, wf.StateRunning, st.State, "All ended at the Close, before the workflow did")

	// Read from an offset: what is there from it on, and the end.
	vals, closed, err := lines.Read(b.ctx, api, h.ID(), 15)
	require.NoError(t, err)
	require.True(t, closed)
	require.Equal(t, want[15:], vals)
	vals, closed, err = lines.Read(b.ctx, api, h.ID(), n+5)
	require.NoError(t, err)
	require.True(t, closed)
	require.Empty(t, vals)
	tail, err := collect(b.ctx, lines, api, h.ID(), 18)
	require.NoError(t, err)
	require.Equal(t, want[18:], tail)
	// Readable from SQL: offsets 0..n-1, then the closing row.
	require.Equal(t, n+1, b.count(t, `SELECT count(DISTINCT "offset") FROM %s.streams WHERE workflow_id = $1 AND "offset" <= $2`, h.ID(), n))
	require.Equal(t, 7, b.count(t, `SELECT right(value #>> '{}', 1)::int FROM %s.streams WHERE workflow_id = $1 AND "offset" = 7`, h.ID()))
}

func TestAWorkflowThatFinishesWithoutClosingItsStreamEndsItsReaders(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	nums := wf.NewStream[int]("nums")
	g := newGate("hold")
	w := wf.NewWorkflow("unclosed", func(ctx wf.Context, _ int) (int, error) {
		for i := range 3 {
			if err := nums.Append(ctx, i*i); err != nil {
				return 0, err
			}
		}
		return 0, g.pass(ctx)
	})
	b.start(t, w, nums, g.step)
	api := reader(t, b)
	h, err := w.Enqueue(b.ctx, api, 0)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		vals, _, err := nums.Read(b.ctx, api, h.ID(), 0)
		return err == nil && len(vals) == 3
	}, 10*time.Second, 10*time.Millisecond)
	_, closed, err := nums.Read(b.ctx, api, h.ID(), 0)
	require.NoError(t, err)
	require.False(t, closed, "still running: more may come")

	done := make(chan []int, 1)
	readErr := make(chan error, 1)
	go func() {
		vals, err := collect(b.ctx, nums, api, h.ID(), 0)
		readErr <- err
		done <- vals
	}()
	g.open()
	require.NoError(t, <-readErr)
	require.Equal(t, []int{0, 1, 4}, <-done)
	vals, closed, err := nums.Read(b.ctx, api, h.ID(), 1)
	require.NoError(t, err)
	require.True(t, closed, "a final workflow's stream is over")
	require.Equal(t, []int{1, 4}, vals)
}

func TestAppendingToAClosedStreamFails(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	s := wf.NewStream[string]("once")
	w := wf.NewWorkflow("closer", func(ctx wf.Context, _ int) (string, error) {
		if err := s.Append(ctx, "a"); err != nil {
			return "", err
		}
		if err := s.Close(ctx); err != nil {
			return "", err
		}
		if err := s.Close(ctx); err != nil {
			return "", fmt.Errorf("closing twice: %w", err)
		}
		return "", s.Append(ctx, "b")
	})
	b.start(t, w, s)
	h, err := w.Enqueue(b.ctx, b.client, 0)
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.ErrorContains(t, err, `cannot append to stream "once" of workflow `+h.ID()+`: the workflow closed it already`)
	vals, closed, err := s.Read(b.ctx, b.client, h.ID(), 0)
	require.NoError(t, err)
	require.True(t, closed)
	require.Equal(t, []string{"a"}, vals)
}

func TestStreamReadsSayWhatIsWrong(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	s := wf.NewStream[int]("s")
	_, _, err := s.Read(b.ctx, b.client, "no-such-workflow", 0)
	require.ErrorIs(t, err, wf.ErrNotFound)
	for _, err := range s.All(b.ctx, b.client, "no-such-workflow", 0) {
		require.ErrorIs(t, err, wf.ErrNotFound)
	}
	_, _, err = s.Read(b.ctx, b.client, "any", -1)
	require.ErrorContains(t, err, "offsets start at 0")

	err = b.client.Register(wf.NewStream[int]("s"), wf.NewStream[string]("s"))
	require.ErrorContains(t, err, `stream "s" registered with two value types, int and string`)
	require.PanicsWithValue(t, "wf: NewStream: empty name", func() { wf.NewStream[int](" ") })
}

func TestAllEndsWithItsContextAndWhenTheReaderStops(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	s := wf.NewStream[int]("ticks")
	g := newGate("hold")
	w := wf.NewWorkflow("ticker-stream", func(ctx wf.Context, _ int) (int, error) {
		for i := range 3 {
			if err := s.Append(ctx, i); err != nil {
				return 0, err
			}
		}
		return 0, g.pass(ctx)
	})
	b.start(t, w, s, g.step)
	t.Cleanup(g.open)
	h, err := w.Enqueue(b.ctx, b.client, 0)
	require.NoError(t, err)

	// A reader that breaks out gets no more values.
	var first []int
	for v, err := range s.All(b.ctx, b.client, h.ID(), 0) {
		require.NoError(t, err)
		first = append(first, v)
		if len(first) == 2 {
			break
		}
	}
	require.Equal(t, []int{0, 1}, first)

	// A reader whose context ends gets the values, then the context's error, once.
	ctx, cancel := context.WithTimeout(b.ctx, 200*time.Millisecond)
	defer cancel()
	var vals []int
	var errs []error
	for v, err := range s.All(ctx, b.client, h.ID(), 0) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		vals = append(vals, v)
	}
	require.Equal(t, []int{0, 1, 2}, vals)
	require.Len(t, errs, 1)
	require.ErrorIs(t, errs[0], context.DeadlineExceeded)
}

// streamer appends 0..n-1 to its stream, each followed by a step that records which process
// ran it and, in a process told to, blocks forever after the value given: a SIGKILL then
// falls between two appends.
func streamer(pool *pgxpool.Pool, schema string, blockAfter int) (*wf.Workflow[int, int], *wf.Stream[int], []wf.Definition) {
	s := wf.NewStream[int]("numbers")
	mark := wf.NewStep[int]("mark")
	w := wf.NewWorkflow("streamer", func(ctx wf.Context, n int) (int, error) {
		for i := range n {
			if err := s.Append(ctx, i); err != nil {
				return 0, err
			}
			if _, err := mark.Run(ctx, func(sctx context.Context) (int, error) {
				if _, err := pool.Exec(sctx, fmt.Sprintf(`INSERT INTO %s.executions (workflow_id, step, pid) VALUES ($1, $2, $3)`, schema),
					ctx.WorkflowID(), i, os.Getpid()); err != nil {
					return 0, err
				}
				if i == blockAfter {
					select {} // until SIGKILL
				}
				return i, nil
			}); err != nil {
				return 0, err
			}
		}
		return n, s.Close(ctx)
	})
	return w, s, []wf.Definition{w, s, mark}
}

func init() {
	helperRoles["streamer"] = func(pool *pgxpool.Pool, schema string, cfg *wf.Config) []wf.Definition {
		cfg.LeaseDuration, cfg.HeartbeatInterval = testLease, countedHeartbeat
		blockAfter := -1
		if v := os.Getenv(helperBlockEnv); v != "" {
			blockAfter, _ = strconv.Atoi(v)
		}
		_, _, defs := streamer(pool, schema, blockAfter)
		return defs
	}
}

func TestAStreamWhoseWorkerIsKilledBetweenAppendsHasEachValueOnceInOrder(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `CREATE TABLE %s.executions (workflow_id text, step int, pid int, at timestamptz DEFAULT now())`)
	w, s, _ := streamer(b.pool, b.schema, -1)
	const n, killAfter = 12, 5

	first := startHelper(t, "streamer", append(helperEnv(b.schema, "streamer-1"), helperBlockEnv+"="+strconv.Itoa(killAfter))...)
	h, err := w.Enqueue(b.ctx, b.client, n, wf.WithID("killed-streamer"))
	require.NoError(t, err)
	type result struct {
		vals []int
		err  error
	}
	read := make(chan result, 1)
	go func() {
		vals, err := collect(b.ctx, s, b.client, h.ID(), 0)
		read <- result{vals, err}
	}()
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM %s.executions WHERE step = $1`, killAfter) == 1
	}, 30*time.Second, 10*time.Millisecond, "the first worker never got past value %d", killAfter)
	first.kill(t)

	// Another executor takes the workflow over once the dead one's lease expires, and
	// replays the appends recorded before the kill.
	second := startHelper(t, "streamer", helperEnv(b.schema, "streamer-2")...)
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, n, out)
	r := <-read
	require.NoError(t, r.err)
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	require.Equal(t, want, r.vals, "the reader saw each value once, in order, across the takeover")
	vals, closed, err := s.Read(b.ctx, b.client, h.ID(), 0)
	require.NoError(t, err)
	require.True(t, closed)
	require.Equal(t, want, vals)
	require.Equal(t, n+1, b.count(t, `SELECT count(*) FROM %s.streams WHERE workflow_id = 'killed-streamer'`), "n values and the close, nothing twice")
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM %s.executions WHERE step = $1`, killAfter), "the step running at the kill ran again")
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.executions WHERE step = $1`, killAfter-1), "steps before it did not")
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 2, st.Attempt)
	second.stop(t)
}

// BenchmarkStreamAppendRead appends b.N values in one workflow while a client that never
// starts reads them with All: appends/s is one workflow's rate, a round trip each.
func BenchmarkStreamAppendRead(b *testing.B) {
	ctx := context.Background()
	c := wftest.NewClient(b, wf.Config{})
	s := wf.NewStream[int]("bench")
	w := wf.NewWorkflow("appender", func(ctx wf.Context, n int) (int, error) {
		for i := range n {
			if err := s.Append(ctx, i); err != nil {
				return 0, err
			}
		}
		return n, s.Close(ctx)
	})
	if err := c.Register(w, s); err != nil {
		b.Fatal(err)
	}
	wftest.Start(b, c)
	api, err := wf.NewClient(wftest.Pool(b), wf.Config{Schema: c.Schema()})
	if err != nil {
		b.Fatal(err)
	}
	defer api.Stop(ctx)
	b.ResetTimer()
	h, err := w.Enqueue(ctx, api, b.N)
	if err != nil {
		b.Fatal(err)
	}
	read := 0
	for _, err := range s.All(ctx, api, h.ID(), 0) {
		if err != nil {
			b.Fatal(err)
		}
		read++
	}
	b.StopTimer()
	if read != b.N {
		b.Fatalf("read %d values, want %d", read, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/internal/wfgen/cli"
	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wftest"
)

func TestMain(m *testing.M) { wftest.Main(m) }

// wfgen runs an operator command against the test database and returns its exit code and
// output.
func wfgen(t *testing.T, schema string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := func(k string) string { return os.Getenv(k) }
	code := cli.Run(args[0], append([]string{"-schema", schema}, args[1:]...), &stdout, &stderr, env)
	return code, stdout.String(), stderr.String()
}

func TestOperatorCommandsListInspectAndChangeWorkflows(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := wftest.NewClient(t, wf.Config{})
	var broken atomic.Bool
	broken.Store(true)
	step := wf.NewStep[string]("flaky")
	w := wf.NewWorkflow("ops.Flaky", func(ctx wf.Context, n int) (string, error) {
		return step.Run(ctx, func(context.Context) (string, error) {
			if broken.Load() {
				return "", errors.New("downstream is down")
			}
			return "fine", nil
		})
	})
	require.NoError(t, c.Register(step, w))
	wftest.Start(t, c)
	h, err := w.Enqueue(ctx, c, 1, wf.WithID("flaky-1"))
	require.NoError(t, err)
	_, err = h.Result(ctx)
	require.Error(t, err)
	schema := c.Schema()

	code, out, _ := wfgen(t, schema, "list", "-state", "failed")
	require.Equal(t, 0, code)
	require.Contains(t, out, "flaky-1")
	require.Contains(t, out, "ops.Flaky")
	require.Contains(t, out, "downstream is down")

	code, out, _ = wfgen(t, schema, "get", "-json", "flaky-1")
	require.Equal(t, 0, code)
	var st wf.Status
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	require.Equal(t, wf.StateFailed, st.State)

	code, out, _ = wfgen(t, schema, "steps", "flaky-1")
	require.Equal(t, 0, code)
	require.Contains(t, out, "error: ")

	broken.Store(false)
	code, out, _ = wfgen(t, schema, "resume", "flaky-1")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "flaky-1 resumed")
	// Read through a client that did not see the failure: the worker's client keeps the
	// results of workflows it completed for waits that begin soon after, and hears of the
	// resume by notification, a moment later.
	api, err := wf.NewClient(wftest.Pool(t), wf.Config{Schema: schema})
	require.NoError(t, err)
	got, err := w.Get(api, "flaky-1").Result(ctx)
	require.NoError(t, err)
	require.Equal(t, "fine", got)

	code, out, _ = wfgen(t, schema, "fork", "-from", "2", "-id", "flaky-2", "-json", "flaky-1")
	require.Equal(t, 0, code)
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	require.Equal(t, "flaky-2", st.ID)
	got, err = w.Get(c, "flaky-2").Result(ctx)
	require.NoError(t, err)
	require.Equal(t, "fine", got)

	code, out, _ = wfgen(t, schema, "delete", "flaky-2")
	require.Equal(t, 0, code)
	require.Equal(t, "flaky-2 deleted\n", out)

	code, out, _ = wfgen(t, schema, "queues")
	require.Equal(t, 0, code)
	require.Contains(t, out, "QUEUE")
	code, out, _ = wfgen(t, schema, "executors", "-json")
	require.Equal(t, 0, code)
	var es []wf.ExecutorStatus
	require.NoError(t, json.Unmarshal([]byte(out), &es))
	require.Len(t, es, 1)
	require.True(t, es[0].Alive)

	// Cancelling what waits in its queue.
	q, err := w.Enqueue(ctx, c, 2, wf.WithID("later"), wf.WithDelay(time.Hour))
	require.NoError(t, err)
	code, out, _ = wfgen(t, schema, "cancel", "later")
	require.Equal(t, 0, code)
	require.Contains(t, out, "state cancelled")
	_, err = q.Result(ctx)
	require.ErrorIs(t, err, wf.ErrCancelled)
}

func TestOperatorCommandsSayWhatToDo(t *testing.T) {
	t.Parallel()
	c := wftest.NewClient(t, wf.Config{})
	schema := c.Schema()

	code, _, errOut := wfgen(t, schema, "get", "nope")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, `workflow "nope" not found`)
	require.Contains(t, errOut, "wfgen list shows the newest")

	code, _, errOut = wfgen(t, schema, "resume")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "want 1 argument(s)")

	code, _, errOut = wfgen(t, schema, "list", "-state", "done")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, `-state "done" is not a state`)

	code, _, errOut = wfgen(t, "no_such_schema", "list")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "run wfgen migrate first")

	var stdout, stderr bytes.Buffer
	code = cli.Run("list", nil, &stdout, &stderr, func(string) string { return "" })
	require.Equal(t, 2, code)
	require.True(t, strings.Contains(stderr.String(), "DATABASE_URL is not set"))
}

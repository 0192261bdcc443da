package wfdash_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wfdash"
	"github.com/wfgen/wfgen/runtime/wftest"
)

func TestMain(m *testing.M) { wftest.Main(m) }

// testToken is the dashboard token of the tests.
const testToken = "s3cret-dashboard-token"

// scene is a started client with workflows in every state the pages show, and a dashboard
// server on it.
type scene struct {
	ctx    context.Context
	client *wf.Client
	srv    *httptest.Server
	base   string // the dashboard's URL, with its prefix, without the trailing slash

	order  *wf.Workflow[order, receipt]
	broken *atomic.Bool // makes the order workflow's charge step fail
	// Scene workflows, by ID.
	succeeded, failed, blocked, parent, child, tick string
}

type order struct {
	Item string `json:"item"`
	Qty  int    `json:"qty"`
}

type receipt struct {
	Item    string `json:"item"`
	Charged int    `json:"charged"`
}

// newScene starts a client with the scene's workflows and runs them into their states, and
// serves a dashboard with opts under /wfgen.
func newScene(t *testing.T, opts wfdash.Options) *scene {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	s := &scene{ctx: ctx, client: wftest.NewClient(t, wf.Config{ExecutorID: "dash-executor"}), broken: &atomic.Bool{}}

	reserve := wf.NewStep[int]("reserve")
	charge := wf.NewStep[int]("charge")
	ship := wf.NewStep[string]("ship")
	stage := wf.NewEvent[string]("stage")
	progress := wf.NewStream[string]("progress")
	s.order = wf.NewWorkflow("demo.Order", func(ctx wf.Context, o order) (receipt, error) {
		if err := stage.Set(ctx, "reserving"); err != nil {
			return receipt{}, err
		}
		n, err := reserve.Run(ctx, func(context.Context) (int, error) { return o.Qty, nil })
		if err != nil {
			return receipt{}, err
		}
		if err := progress.Append(ctx, "reserved"); err != nil {
			return receipt{}, err
		}
		amount, err := charge.Run(ctx, func(context.Context) (int, error) {
			if s.broken.Load() {
				return 0, errors.New("card declined by the payment provider")
			}
			return n * 150, nil
		})
		if err != nil {
			return receipt{}, err
		}
		if _, err := ship.Run(ctx, func(context.Context) (string, error) { return "shipped " + o.Item, nil }); err != nil {
			return receipt{}, err
		}
		return receipt{Item: o.Item, Charged: amount}, stage.Set(ctx, "done")
	}, wf.WorkflowQueue("orders"))

	wait := wf.NewStep[int]("wait-forever")
	blocker := wf.NewWorkflow("demo.Blocker", func(ctx wf.Context, _ int) (int, error) {
		return wait.Run(ctx, func(sctx context.Context) (int, error) {
			<-sctx.Done()
			return 0, sctx.Err()
		})
	}, wf.WorkflowQueue("slow"))

	child := wf.NewWorkflow("demo.Child", func(ctx wf.Context, n int) (int, error) { return n * 2, nil })
	parent := wf.NewWorkflow("demo.Parent", func(ctx wf.Context, n int) (int, error) {
		h, err := child.EnqueueChild(ctx, n)
		if err != nil {
			return 0, err
		}
		return h.Await(ctx)
	})

	nightly := wf.NewWorkflow("demo.Nightly", func(ctx wf.Context, tick wf.Tick) (string, error) {
		return tick.Format(time.RFC3339), nil
	})
	schedule := wf.NewSchedule(nightly, "0 3 * * *")

	require.NoError(t, s.client.Register(wf.NewQueue("orders"), wf.NewQueue("slow"), reserve, charge, ship, stage, progress, s.order, wait, blocker, child, parent, nightly, schedule))
	wftest.Start(t, s.client)

	h, err := s.order.Enqueue(ctx, s.client, order{Item: "pen", Qty: 2}, wf.WithID("order-ok"))
	require.NoError(t, err)
	_, err = h.Result(ctx)
	require.NoError(t, err)
	s.succeeded = h.ID()

	s.broken.Store(true)
	h, err = s.order.Enqueue(ctx, s.client, order{Item: "ink", Qty: 3}, wf.WithID("order-declined"))
	require.NoError(t, err)
	_, err = h.Result(ctx)
	require.Error(t, err)
	s.failed = h.ID()
	s.broken.Store(false)

	p, err := parent.Enqueue(ctx, s.client, 21, wf.WithID("parent-1"))
	require.NoError(t, err)
	_, err = p.Result(ctx)
	require.NoError(t, err)
	s.parent = p.ID()
	children, err := s.client.ListWorkflows(ctx, wf.ListOptions{ParentID: s.parent})
	require.NoError(t, err)
	require.Len(t, children, 1)
	s.child = children[0].ID

	s.tick, err = schedule.Trigger(ctx, s.client, time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	_, err = nightly.Get(s.client, s.tick).Result(ctx)
	require.NoError(t, err)

	b, err := blocker.Enqueue(ctx, s.client, 0, wf.WithID("blocked-1"))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, err := b.Status(ctx)
		return err == nil && st.State == wf.StateRunning
	}, time.Minute, 20*time.Millisecond)
	s.blocked = b.ID()
	// A running workflow would hold Stop up: cancel it first (cleanups run last first).
	t.Cleanup(func() { _ = s.client.CancelWorkflow(context.Background(), s.blocked) })

	if opts.Prefix == "" {
		opts.Prefix = "/wfgen"
	}
	dash, err := wfdash.New(s.client, opts)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle(opts.Prefix+"/", dash)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	s.base = s.srv.URL + opts.Prefix
	return s
}

// state reads a workflow's state through the client.
func (s *scene) state(t *testing.T, id string) wf.State {
	t.Helper()
	st, err := s.client.Status(s.ctx, id)
	require.NoError(t, err)
	return st.State
}

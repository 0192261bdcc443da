package shop

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wftest"
)

func TestMain(m *testing.M) { wftest.Main(m) }

// setup starts a worker with everything of the package registered, and returns an API
// client on the same schema that registers nothing.
func setup(t *testing.T) (ctx context.Context, worker, api *wf.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	worker = wftest.NewClient(t, wf.Config{})
	ledger := &Ledger{DB: wftest.Pool(t), Schema: worker.Schema()}
	if _, err := ledger.DB.Exec(ctx, "CREATE TABLE "+worker.Schema()+".payments (id bigserial PRIMARY KEY, order_id text NOT NULL, cents bigint NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if err := Register(worker, ledger); err != nil {
		t.Fatal(err)
	}
	if err := Register(worker, ledger); err != nil {
		t.Fatalf("registering the same definitions twice: %v", err)
	}
	wftest.Start(t, worker)
	api = wftest.NewClient(t, wf.Config{Schema: worker.Schema()})
	return ctx, worker, api
}

// generatedHash reads a workflow's code hash from the generated file, by the Go name of
// the constant that holds the workflow's name.
func generatedHash(t *testing.T, nameConst string) string {
	t.Helper()
	src, err := os.ReadFile("wf_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`wf\.NewWorkflow\(` + regexp.QuoteMeta(nameConst) + `,[^\n]*wf\.CodeHash\("([0-9a-f]+)"\)`).FindSubmatch(src)
	if m == nil {
		t.Fatalf("no code hash for %s in wf_gen.go", nameConst)
	}
	return string(m[1])
}

func TestEnqueueRunsOnAWorkerWithTypedResultAndStatus(t *testing.T) {
	t.Parallel()
	ctx, worker, api := setup(t)
	h, err := EnqueueCheckout(ctx, api, Order{ID: "o-" + t.Name(), Cents: 1250}, wf.WithID("checkout-"+t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	if h.ID() != "checkout-"+t.Name() {
		t.Fatalf("ID() = %q", h.ID())
	}
	r, err := h.Result(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Receipt{OrderID: "o-" + t.Name(), Charged: 1250, Tries: 3, Label: "order-o-" + t.Name()}
	if r != want {
		t.Fatalf("Result = %+v, want %+v", r, want)
	}
	st, err := GetCheckout(api, h.ID()).Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != wf.StateSucceeded || st.Queue != Orders.Name() || st.Workflow != CheckoutName || CheckoutName != "shop.Checkout" || st.ExecutorID != worker.ExecutorID() {
		t.Fatalf("Status = %+v", st)
	}
	if hash := generatedHash(t, "CheckoutName"); st.CodeHash != hash {
		t.Fatalf("code hash %q recorded, the generated one is %q", st.CodeHash, hash)
	}
	steps, err := worker.Steps(ctx, h.ID())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range steps {
		names = append(names, s.Name)
	}
	if len(steps) != 3 || names[0] != "shop.Charge" || names[1] != "shop.Label" || names[2] != "shop.audit" || steps[0].Tries != 3 {
		t.Fatalf("steps = %+v", steps)
	}
	// Enqueueing the same ID again returns the same run.
	again, err := EnqueueCheckout(ctx, api, Order{ID: "other"}, wf.WithID(h.ID()))
	if err != nil || again.ID() != h.ID() {
		t.Fatalf("enqueueing the same ID: %v, %v", again.ID(), err)
	}
}

func TestEnqueueTxStoresTheRunOnlyIfTheTransactionCommits(t *testing.T) {
	t.Parallel()
	ctx, _, api := setup(t)
	for _, commit := range []bool{false, true} {
		tx, err := wftest.Pool(t).Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id := "tx-" + t.Name()
		if commit {
			id += "-committed"
		}
		h, err := EnqueueCheckoutTx(ctx, api, tx, Order{ID: id, Cents: 5}, wf.WithID(id))
		if err != nil {
			t.Fatal(err)
		}
		if !commit {
			if err := tx.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := GetCheckout(api, id).Status(ctx); !errors.Is(err, wf.ErrNotFound) {
				t.Fatalf("status of a rolled back enqueue: %v, want wf.ErrNotFound", err)
			}
			continue
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if r, err := h.Result(ctx); err != nil || r.Charged != 5 {
			t.Fatalf("Result = %+v, %v", r, err)
		}
	}
}

func TestEnqueueManyReturnsHandlesInOrder(t *testing.T) {
	t.Parallel()
	ctx, _, api := setup(t)
	orders := []Order{{ID: t.Name() + "-a", Cents: 1}, {ID: t.Name() + "-b", Cents: 2}, {ID: t.Name() + "-c", Cents: 3}}
	hs, err := EnqueueManyCheckout(ctx, api, orders)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range hs {
		r, err := h.Result(ctx)
		if err != nil || r.OrderID != orders[i].ID || r.Charged != orders[i].Cents {
			t.Fatalf("run %d: %+v, %v", i, r, err)
		}
	}
}

func TestStartRunsAWorkflowWithoutInputHere(t *testing.T) {
	t.Parallel()
	ctx, worker, _ := setup(t)
	h, err := StartPing(ctx, worker)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := h.Result(ctx); err != nil || got != "pong "+h.ID() {
		t.Fatalf("Result = %q, %v", got, err)
	}
}

func TestErrorOnlyWorkflowReportsItsError(t *testing.T) {
	t.Parallel()
	ctx, _, api := setup(t)
	h, err := EnqueueFail(ctx, api, "out of stock")
	if err != nil {
		t.Fatal(err)
	}
	err = h.Result(ctx)
	var we *wf.WorkflowError
	if !errors.As(err, &we) || we.Kind != "error" || !strings.HasSuffix(we.Message, "out of stock") {
		t.Fatalf("Result = %v, want a *wf.WorkflowError saying out of stock", err)
	}
	if st, err := h.Status(ctx); err != nil || st.State != wf.StateFailed || st.Workflow != "shop.fail" {
		t.Fatalf("Status = %+v, %v", st, err)
	}
}

func TestAZeroHandleRefersToNothing(t *testing.T) {
	t.Parallel()
	ctx, _, _ := setup(t)
	var h CheckoutHandle
	if h.ID() != "" {
		t.Fatalf("ID() of a zero handle = %q", h.ID())
	}
	if _, err := h.Status(ctx); !errors.Is(err, wf.ErrNotFound) {
		t.Fatalf("Status of a zero handle: %v, want wf.ErrNotFound", err)
	}
	if _, err := h.Result(ctx); !errors.Is(err, wf.ErrNotFound) {
		t.Fatalf("Result of a zero handle: %v, want wf.ErrNotFound", err)
	}
	if err := h.Cancel(ctx); !errors.Is(err, wf.ErrNotFound) {
		t.Fatalf("Cancel of a zero handle: %v, want wf.ErrNotFound", err)
	}
	if _, _, err := h.Poll(ctx); !errors.Is(err, wf.ErrNotFound) {
		t.Fatalf("Poll of a zero handle: %v, want wf.ErrNotFound", err)
	}
}

func TestResultOfAnUnknownIDIsNotFound(t *testing.T) {
	t.Parallel()
	ctx, _, api := setup(t)
	if _, err := GetCheckout(api, "no-such-run").Result(ctx); !errors.Is(err, wf.ErrNotFound) {
		t.Fatalf("Result of an unknown ID: %v, want wf.ErrNotFound", err)
	}
	if _, done, err := GetCheckout(api, "no-such-run").Poll(ctx); done || !errors.Is(err, wf.ErrNotFound) {
		t.Fatalf("Poll of an unknown ID: done %v, %v, want wf.ErrNotFound", done, err)
	}
}

func TestCancelStopsAWaitingRun(t *testing.T) {
	t.Parallel()
	ctx, _, api := setup(t)
	h, err := EnqueuePing(ctx, api, wf.WithDelay(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := GetPing(api, h.ID()).Result(ctx); !errors.Is(err, wf.ErrCancelled) {
		t.Fatalf("Result of a cancelled run = %v, want wf.ErrCancelled", err)
	}
}

func TestScheduleRunsTheScheduledWorkflowAndATriggeredTickIsTheSameRun(t *testing.T) {
	t.Parallel()
	ctx, _, api := setup(t)
	// The API client triggers a tick two seconds ahead: its run starts at once; the worker's
	// scheduler fires the same tick when it comes and finds that run.
	ahead := time.Now().Truncate(time.Second).Add(2 * time.Second)
	h, err := TriggerEvery(ctx, api, ahead)
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.Result(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(ahead) {
		t.Fatalf("the run of tick %s returned %s", ahead, got)
	}
	// Wait for the scheduler to fire later ticks, then list the runs.
	var runs []EveryRun
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if runs, err = ListEveryRuns(ctx, api, wf.ListOptions{State: wf.StateSucceeded, Limit: 1000}); err != nil {
			t.Fatal(err)
		}
		if len(runs) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runs within 20s", len(runs))
		}
	}
	seen := map[string]bool{}
	for _, r := range runs {
		if r.Workflow != EveryName || seen[r.ID] {
			t.Fatalf("listed %+v", r.Status)
		}
		seen[r.ID] = true
		tick, err := r.Handle.Result(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if again, err := TriggerEvery(ctx, api, tick); err != nil || again.ID() != r.ID {
			t.Fatalf("triggering tick %s again gave %q, %v; want its run %q", tick, again.ID(), err, r.ID)
		}
	}
	if !seen[h.ID()] {
		t.Fatalf("the triggered run %s is not listed", h.ID())
	}
}

func TestChildrenThroughTheGeneratedCallsAndAwait(t *testing.T) {
	t.Parallel()
	ctx, worker, api := setup(t)
	h, err := EnqueueReorder(ctx, api, Order{ID: "r-" + t.Name(), Cents: 7}, wf.WithID("reorder-"+t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	r, err := h.Result(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.OrderID != "r-"+t.Name() || r.Charged != 7 {
		t.Fatalf("Result = %+v", r)
	}
	st, err := h.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.StepsExpected != 2 || st.StepsDone != 2 {
		t.Fatalf("steps done %d of %d, want 2 of 2 (wf.ExpectedSteps from the generator)", st.StepsDone, st.StepsExpected)
	}
	steps, err := worker.Steps(ctx, h.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 {
		t.Fatalf("steps = %+v, want the child call and the await", steps)
	}

	f, err := EnqueueFanout(ctx, api, []string{"a", "b"}, wf.WithID("fanout-"+t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.Result(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"order-a", "order-b", "pong " + f.ID()}
	if len(out) != 3 || out[0] != want[0] || out[1] != want[1] || !strings.HasPrefix(out[2], want[2]+"/") {
		t.Fatalf("Result = %q, want %q with the ping child's ID under its parent's", out, want)
	}
	fst, err := f.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fst.StepsExpected != 0 {
		t.Fatalf("StepsExpected = %d for a workflow that loops over its children, want 0 (unknown)", fst.StepsExpected)
	}
}

func TestAReceiverStepsTxStepRecordsItsWriteOnceWithItsCheckpoint(t *testing.T) {
	t.Parallel()
	ctx, worker, api := setup(t)
	h, err := EnqueueSettle(ctx, api, Order{ID: "pay-" + t.Name(), Cents: 700})
	if err != nil {
		t.Fatal(err)
	}
	paid, err := h.Result(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if paid != 700 {
		t.Fatalf("paid %d, want 700", paid)
	}
	var rows int
	if err := wftest.Pool(t).QueryRow(ctx, "SELECT count(*) FROM "+worker.Schema()+".payments WHERE order_id = $1", "pay-"+t.Name()).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Fatalf("%d payment rows, want 1", rows)
	}
	steps, err := worker.Steps(ctx, h.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || steps[0].Name != "shop.Record" || steps[1].Name != "shop.Paid" {
		t.Fatalf("steps = %+v", steps)
	}
}

func TestATxStepWhoseCommitFailsLeavesNoWriteAndRunsAgain(t *testing.T) {
	t.Parallel()
	ctx, worker, api := setup(t)
	// A deferred trigger refuses the first commit of a payment: the refusal comes at COMMIT,
	// after the step's write and its checkpoint were both sent. A sequence counts the
	// commits outside the transactions.
	schema := worker.Schema()
	for _, stmt := range []string{
		"CREATE SEQUENCE " + schema + ".commits",
		"CREATE FUNCTION " + schema + ".refuse_first() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF nextval('" + schema + ".commits') = 1 THEN RAISE EXCEPTION 'the first commit is refused'; END IF; RETURN NULL; END $$",
		"CREATE CONSTRAINT TRIGGER refuse_first AFTER INSERT ON " + schema + ".payments DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION " + schema + ".refuse_first()",
	} {
		if _, err := wftest.Pool(t).Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	h, err := EnqueueSettle(ctx, api, Order{ID: "refused-" + t.Name(), Cents: 300})
	if err != nil {
		t.Fatal(err)
	}
	if paid, err := h.Result(ctx); err != nil || paid != 300 {
		t.Fatalf("Result = %d, %v; want 300", paid, err)
	}
	var rows int
	if err := wftest.Pool(t).QueryRow(ctx, "SELECT count(*) FROM "+schema+".payments").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Fatalf("%d payment rows, want 1: the refused commit wrote nothing", rows)
	}
	steps, err := worker.Steps(ctx, h.ID())
	if err != nil {
		t.Fatal(err)
	}
	if steps[0].Name != "shop.Record" || steps[0].Tries != 2 {
		t.Fatalf("first step %+v: want shop.Record recorded by its second try", steps[0])
	}
}

func TestRegisterRefusesAMissingReceiver(t *testing.T) {
	t.Parallel()
	c := wftest.NewClient(t, wf.Config{})
	err := Register(c, nil)
	if err == nil || !strings.Contains(err.Error(), "the *shop.Ledger given is nil") {
		t.Fatalf("Register(c, nil) = %v", err)
	}
}

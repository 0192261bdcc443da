package shop

import (
	"errors"
	"reflect"
	"testing"

	"github.com/wfgen/wfgen/runtime/wf"
)

func payments(id string) []wf.StepInfo {
	v, _ := payAttempts.Load(id)
	s, _ := v.([]wf.StepInfo)
	return s
}

func TestAGeneratedStepKnowsItsAttemptAndRetriesAsItsAnnotationSays(t *testing.T) {
	t.Parallel()
	ctx, _, api := setup(t)
	id := "pay-" + t.Name()
	h, err := EnqueuePayment(ctx, api, Order{ID: id, Cents: 100}, wf.WithID(id))
	if err != nil {
		t.Fatal(err)
	}
	key, err := h.Result(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if key != id+"/1" {
		t.Fatalf("idempotency key %q, want %q", key, id+"/1")
	}
	want := []wf.StepInfo{
		{WorkflowID: id, Workflow: "shop.Payment", StepID: 1, Step: "shop.Pay", Attempt: 1},
		{WorkflowID: id, Workflow: "shop.Payment", StepID: 1, Step: "shop.Pay", Attempt: 2},
	}
	if got := payments(id); !reflect.DeepEqual(got, want) {
		t.Fatalf("attempts %+v, want %+v", got, want)
	}
}

func TestAFinalErrorStopsTheGeneratedStepAndItsTypeReachesAnotherClient(t *testing.T) {
	t.Parallel()
	ctx, _, api := setup(t)
	id := "declined-" + t.Name()
	h, err := EnqueuePayment(ctx, api, Order{ID: id, Cents: -5}, wf.WithID(id))
	if err != nil {
		t.Fatal(err)
	}
	_, err = GetPayment(api, h.ID()).Result(ctx)
	var pe *PaymentError
	if !errors.As(err, &pe) || *pe != (PaymentError{Reason: "card declined", Cents: -5}) {
		t.Fatalf("Result: %v; errors.As found %+v", err, pe)
	}
	if code := wf.ErrorCode(err); code != "shop.payment" {
		t.Fatalf("ErrorCode = %q", code)
	}
	const msg = "workflow " + "declined-TestAFinalErrorStopsTheGeneratedStepAndItsTypeReachesAnotherClient (shop.Payment) failed: step shop.Pay failed after 2 attempts, the last with a final error; attempt 1: gateway down; attempt 2: payment of -5 cents refused: card declined"
	if err.Error() != msg {
		t.Fatalf("Result: %v, want %s", err, msg)
	}
	if n := len(payments(id)); n != 2 {
		t.Fatalf("%d attempts, want 2: the final error stops the retries", n)
	}
}

func TestRetryIfStopsTheGeneratedStepOnAnErrorItRefuses(t *testing.T) {
	t.Parallel()
	ctx, _, api := setup(t)
	id := "nothing-" + t.Name()
	h, err := EnqueuePayment(ctx, api, Order{ID: id}, wf.WithID(id))
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.Result(ctx)
	if err == nil || len(payments(id)) != 2 {
		t.Fatalf("Result: %v after %d attempts, want a failure after 2", err, len(payments(id)))
	}
	var wfErr *wf.WorkflowError
	if !errors.As(err, &wfErr) || wfErr.Message != "step shop.Pay failed after 2 attempts, the last with a final error; attempt 1: gateway down; attempt 2: nothing to pay" {
		t.Fatalf("Result: %v", err)
	}
}

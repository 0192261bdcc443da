package shop

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/wfgen/wfgen/runtime/wf"
)

// PaymentError is the application's own error: registered, so that its value survives the
// database and errors.As finds it in Result in any process.
type PaymentError struct {
	Reason string `json:"reason"`
	Cents  int64  `json:"cents"`
}

func (e *PaymentError) Error() string {
	return fmt.Sprintf("payment of %d cents refused: %s", e.Cents, e.Reason)
}

func init() { wf.RegisterErrorCode[*PaymentError]("shop.payment") }

// errGatewayDown is the error worth retrying.
var errGatewayDown = errors.New("gateway down")

// isTransient says which errors of Pay are retried.
func isTransient(err error) bool { return errors.Is(err, errGatewayDown) }

// payAttempts records, per order, the step info of each attempt of Pay.
var payAttempts sync.Map // order ID -> []wf.StepInfo

// Pay fails its first attempt with a transient error, then as the order says: refused by
// the card (final at once), refused by policy (not transient: final through retry_if), or
// paid.
//
//wf:step retries=5 backoff=1ms jitter=0 retry_if=isTransient
func Pay(ctx context.Context, o Order) (string, error) {
	info, ok := wf.CurrentStep(ctx)
	if !ok || info.Attempt != wf.StepAttempt(ctx) {
		return "", wf.Final(errors.New("no step info in the step's context"))
	}
	mu.Lock()
	prev, _ := payAttempts.Load(o.ID)
	seen, _ := prev.([]wf.StepInfo)
	payAttempts.Store(o.ID, append(seen, info))
	mu.Unlock()
	switch {
	case info.Attempt == 1:
		return "", errGatewayDown
	case o.Cents < 0:
		return "", wf.Final(&PaymentError{Reason: "card declined", Cents: o.Cents})
	case o.Cents == 0:
		return "", errors.New("nothing to pay")
	}
	return info.IdempotencyKey(), nil
}

// Payment pays an order and returns the payment's idempotency key.
//
//wf:workflow
func Payment(ctx wf.Context, o Order) (string, error) {
	return PayStep(ctx, o)
}

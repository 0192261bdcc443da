// Package shop is the end-to-end test's application: annotated workflows and steps that
// its tests run against PostgreSQL through the generated functions only.
package shop

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wfgen/wfgen/runtime/wf"
)

// Orders is the queue of checkouts; Register registers it with the rest.
var Orders = wf.NewQueue("e2e-orders", wf.WorkerConcurrency(4))

// Order is a checkout's input.
type Order struct {
	ID    string `json:"id"`
	Cents int64  `json:"cents"`
}

// Receipt is a checkout's output.
type Receipt struct {
	OrderID string `json:"order_id"`
	Charged int64  `json:"charged"`
	Tries   int    `json:"tries"`
	Label   string `json:"label"`
}

// charges counts the calls of Charge per order: it fails the first two.
var charges sync.Map // order ID -> *int

// Charge charges an order, failing its first two attempts.
//
//wf:step retries=2 backoff=10ms max_backoff=20ms
func Charge(ctx context.Context, orderID string, cents int64) (int64, error) {
	n, _ := charges.LoadOrStore(orderID, new(int))
	mu.Lock()
	defer mu.Unlock()
	*n.(*int)++
	if *n.(*int) <= 2 {
		return 0, fmt.Errorf("card declined (try %d)", *n.(*int))
	}
	return cents, nil
}

var mu sync.Mutex

// Label makes a label from parts; it is variadic.
//
//wf:step
func Label(ctx context.Context, parts ...string) (string, error) {
	s := ""
	for _, p := range parts {
		s += p
	}
	return s, nil
}

// Audit has no output.
//
//wf:step name=shop.audit
func Audit(ctx context.Context, what string) error {
	return nil
}

// Checkout charges an order, on the queue Orders (named by its variable: its name is
// written once, in NewQueue).
//
//wf:workflow queue=Orders
func Checkout(ctx wf.Context, o Order) (Receipt, error) {
	charged, err := ChargeStep(ctx, o.ID, o.Cents)
	if err != nil {
		return Receipt{}, err
	}
	label, err := LabelStep(ctx, "order-", o.ID)
	if err != nil {
		return Receipt{}, err
	}
	if err := AuditStep(ctx, "charged "+o.ID); err != nil {
		return Receipt{}, err
	}
	n, _ := charges.Load(o.ID)
	mu.Lock()
	defer mu.Unlock()
	return Receipt{OrderID: o.ID, Charged: charged, Tries: *n.(*int), Label: label}, nil
}

// Ping has no input.
//
//wf:workflow
func Ping(ctx wf.Context) (string, error) {
	return "pong " + ctx.WorkflowID(), nil
}

// Fail has no output: it fails with reason.
//
//wf:workflow name=shop.fail
func Fail(ctx wf.Context, reason string) error {
	return errors.New(reason)
}

// Every ticks every second.
//
//wf:scheduled cron="@every 1s"
func Every(ctx wf.Context, tick wf.Tick) (time.Time, error) {
	return tick.Time, nil
}

// Reorder checks an order out again as a child and waits for it: a straight line of two
// step IDs, so its status says how far it got.
//
//wf:workflow
func Reorder(ctx wf.Context, o Order) (Receipt, error) {
	h, err := EnqueueChildCheckout(ctx, o)
	if err != nil {
		return Receipt{}, err
	}
	return h.Await(ctx)
}

// Fanout checks out one order per ID as children, in one insert, and pings a child in its
// own process.
//
//wf:workflow
func Fanout(ctx wf.Context, ids []string) ([]string, error) {
	orders := make([]Order, len(ids))
	for i, id := range ids {
		orders[i] = Order{ID: id, Cents: 1}
	}
	hs, err := EnqueueChildrenCheckout(ctx, orders)
	if err != nil {
		return nil, err
	}
	ping, err := StartChildPing(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, h := range hs {
		r, err := h.Await(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, r.Label)
	}
	pong, err := ping.Await(ctx)
	return append(out, pong), err
}

// Ledger is what the ledger steps need: the application's pool and the schema of its
// payments table. Each test registers its own.
type Ledger struct {
	DB     *pgxpool.Pool
	Schema string
}

// Record writes the payment of an order in the step's transaction: the row and the step's
// checkpoint commit together, so a payment is recorded exactly once; a commit that fails
// leaves neither, and the step runs again.
//
//wf:step tx retries=2 backoff=10ms
func (l *Ledger) Record(ctx context.Context, tx pgx.Tx, orderID string, cents int64) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, "INSERT INTO "+l.Schema+".payments (order_id, cents) VALUES ($1, $2) RETURNING id", orderID, cents).Scan(&id)
	return id, err
}

// Paid reads what an order was paid, through the pool.
//
//wf:step
func (l *Ledger) Paid(ctx context.Context, orderID string) (int64, error) {
	var cents int64
	err := l.DB.QueryRow(ctx, "SELECT coalesce(sum(cents), 0) FROM "+l.Schema+".payments WHERE order_id = $1", orderID).Scan(&cents)
	return cents, err
}

// Settle records an order's payment and reads the total paid back.
//
//wf:workflow
func Settle(ctx wf.Context, o Order) (int64, error) {
	if _, err := RecordStep(ctx, o.ID, o.Cents); err != nil {
		return 0, err
	}
	return PaidStep(ctx, o.ID)
}

package wf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wfgen/wfgen/runtime/internal/checkpoint"
	"github.com/wfgen/wfgen/runtime/internal/db"
)

// Topic is a typed channel of messages to workflows: anyone (a client, or another workflow)
// sends a T to a workflow by its ID, and the workflow receives the messages of the topic in
// send order with Recv. Messages are stored in PostgreSQL as JSON until received, so a
// message sent before the workflow calls Recv, or while it is suspended or its executor is
// down, waits for it; each message is received exactly once.
//
// Define each topic once, at package level, and register it on workers (Register refuses
// two topics of one name with different types). Senders need not register it.
type Topic[T any] struct {
	name         string
	sendStep     *Step[struct{}]
	sendManyStep *Step[struct{}]
	recvName     string
}

// NewTopic defines a topic of messages of type T. It panics on an empty name: definitions
// are made at program start, where that is a programming error.
func NewTopic[T any](name string) *Topic[T] {
	if strings.TrimSpace(name) == "" {
		panic("wf: NewTopic: empty name")
	}
	// A send from a workflow retries what a retry can fix: the database being away. A
	// missing destination or a message that cannot be stored is its final answer.
	retry := RetryIf(func(err error) bool {
		var codec *CodecError
		return !errors.Is(err, ErrNotFound) && !errors.As(err, &codec)
	})
	return &Topic[T]{
		name:         name,
		sendStep:     NewStep[struct{}]("wf.send:"+name, MaxAttempts(5), retry),
		sendManyStep: NewStep[struct{}]("wf.sendmany:"+name, MaxAttempts(5), retry),
		recvName:     "wf.recv:" + name,
	}
}

// Name returns the topic's name, as stored with its messages.
func (t *Topic[T]) Name() string { return t.name }

func (t *Topic[T]) register(c *Client) error {
	return registerValueType(c, "topic", t.name, typeName[T]())
}

// SendOption configures one Topic.Send.
type SendOption func(*sendOptions)

type sendOptions struct {
	idempotencyKey string
}

// WithIdempotencyKey makes a send idempotent: once a message with the key was stored for the
// destination workflow, sending the key to it again stores nothing and returns nil, so a
// caller that retries after an error or a crash sends at most once. Keys are per
// destination; keys starting with "wfgen:" are reserved for sends from workflows.
func WithIdempotencyKey(key string) SendOption {
	return func(o *sendOptions) { o.idempotencyKey = key }
}

// workflowSendKeyPrefix starts the idempotency keys of sends from workflows, which are
// "wfgen:<sender ID>:<step ID>": a send step that runs again after a crash stores nothing
// twice.
const workflowSendKeyPrefix = "wfgen:"

// Send sends msg to workflow to, from outside any workflow. It returns once the message is
// stored (one statement, one round trip), or an error wrapping ErrNotFound when no workflow
// has the ID. A workflow suspended in a Recv of this topic is woken at once. A message to a
// workflow that finished is stored and never received.
//
// Without WithIdempotencyKey every call stores a message: a caller that retries a Send whose
// outcome it does not know may deliver it twice.
func (t *Topic[T]) Send(ctx context.Context, c *Client, to string, msg T, opts ...SendOption) error {
	var o sendOptions
	for _, opt := range opts {
		opt(&o)
	}
	if strings.HasPrefix(o.idempotencyKey, workflowSendKeyPrefix) {
		return fmt.Errorf("wf: Send on topic %q: idempotency key %q starts with %q, which is reserved for sends from workflows: choose another key", t.name, o.idempotencyKey, workflowSendKeyPrefix)
	}
	return t.send(ctx, c, to, msg, o.idempotencyKey)
}

// Outgoing is one message of a SendMany: the workflow it goes to, the message, and an
// optional idempotency key, which works as WithIdempotencyKey does for Send.
type Outgoing[T any] struct {
	To             string
	Msg            T
	IdempotencyKey string
}

// SendMany sends messages of the topic, each to its workflow, from outside any workflow, in
// one statement and one commit: all or none. It is Send for many messages at once (to one
// workflow or to many), at the cost of one round trip rather than one per message. It
// returns an error wrapping ErrNotFound, and stores nothing, when any destination does not
// exist; the error names the missing IDs. Messages to one workflow are received in the
// order given. Workflows suspended in a Recv of the topic are woken at once.
//
// A message whose IdempotencyKey its destination has stored already (by an earlier Send or
// SendMany, or earlier in msgs) is not stored again, so a caller that retries a SendMany
// whose outcome it does not know, with a key on every message, sends each at most once.
func (t *Topic[T]) SendMany(ctx context.Context, c *Client, msgs []Outgoing[T]) error {
	for i, m := range msgs {
		if strings.HasPrefix(m.IdempotencyKey, workflowSendKeyPrefix) {
			return fmt.Errorf("wf: SendMany on topic %q: message %d: idempotency key %q starts with %q, which is reserved for sends from workflows: choose another key; nothing was sent", t.name, i, m.IdempotencyKey, workflowSendKeyPrefix)
		}
	}
	return t.sendMany(ctx, c, msgs)
}

// SendManyFromWorkflow sends messages of the topic from inside a workflow, in one
// statement as SendMany does, exactly once: it is one step (one step ID, named
// "wf.sendmany:<topic>"), and each message is stored under an idempotency key made of the
// sender's workflow ID, the step ID and the message's index, so that a send that runs again
// after a crash stores nothing twice, and a replay returns the recorded outcome without
// sending. The messages' IdempotencyKey must be empty. A destination that does not exist is
// the step's final error (wrapping ErrNotFound; nothing is sent); a database error is
// retried a few times. An empty batch sends nothing, but takes its step all the same, so
// that how many step IDs a run takes does not depend on its data.
func (t *Topic[T]) SendManyFromWorkflow(ctx Context, msgs []Outgoing[T]) error {
	for i, m := range msgs {
		if m.IdempotencyKey != "" {
			return fmt.Errorf("wf: SendManyFromWorkflow on topic %q: message %d has an idempotency key (%q): a send from a workflow keys its messages itself; leave it empty", t.name, i, m.IdempotencyKey)
		}
	}
	x := ctx.execution()
	_, err := t.sendManyStep.Run(ctx, func(sctx context.Context) (struct{}, error) {
		prefix := workflowSendKeyPrefix + x.id + ":" + strconv.Itoa(int(x.currentStep())) + ":"
		keyed := make([]Outgoing[T], len(msgs))
		for i, m := range msgs {
			m.IdempotencyKey = prefix + strconv.Itoa(i)
			keyed[i] = m
		}
		return struct{}{}, t.sendMany(sctx, x.c, keyed)
	})
	return err
}

// sendMany stores messages: see SendMessages.
func (t *Topic[T]) sendMany(ctx context.Context, c *Client, msgs []Outgoing[T]) error {
	if len(msgs) == 0 {
		return nil
	}
	what := fmt.Sprintf("messages on topic %q", t.name)
	p := db.SendMessagesParams{Topic: t.name}
	for i, m := range msgs {
		payload, err := json.Marshal(m.Msg)
		if err != nil {
			return encodeFailure(fmt.Sprintf("message %d on topic %q (nothing was sent)", i, t.name), typeName[T](), err)
		}
		p.DestinationIds = append(p.DestinationIds, m.To)
		p.Payloads = append(p.Payloads, string(payload))
		p.IdempotencyKeys = append(p.IdempotencyKeys, m.IdempotencyKey)
	}
	var rows []db.SendMessagesRow
	err := c.retryRolledBack(ctx, "sending "+what, func() (err error) {
		rows, err = c.q.SendMessages(ctx, p)
		return err
	})
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22") {
			return encodeFailure(what+" (nothing was sent)", typeName[T](), err)
		}
		return c.dbError(fmt.Sprintf("sending %d %s", len(msgs), what), err)
	}
	var missing, woken []string
	for _, r := range rows {
		switch r.Kind {
		case "missing":
			missing = append(missing, r.Value)
		case "stored":
			c.changed(r.Value)
		case "woken":
			woken = append(woken, r.Value)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		why := fmt.Sprintf("none of the %d %s was sent", len(msgs), what)
		if len(missing) > 1 {
			why += ": " + missingList(missing)
		}
		return &notFoundError{id: missing[0], why: why}
	}
	if len(woken) > 0 {
		c.requeued(woken)
	}
	return nil
}

// missingList names the workflows a SendMany found missing, the first few of them.
func missingList(ids []string) string {
	const shown = 5
	list := strings.Join(quoteAll(ids[:min(len(ids), shown)]), ", ")
	if len(ids) > shown {
		list += fmt.Sprintf(" and %d more", len(ids)-shown)
	}
	return fmt.Sprintf("%d destinations do not exist (%s)", len(ids), list)
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// SendFromWorkflow sends msg to workflow to from inside a workflow, exactly once: it is a
// step (one step ID, named "wf.send:<topic>"), and the message is stored under an
// idempotency key made of the sender's workflow ID and step ID, so a send that runs again
// after a crash stores nothing twice, and a replay returns the recorded outcome without
// sending. A destination that does not exist is the step's final error (wrapping
// ErrNotFound); a database error is retried a few times.
func (t *Topic[T]) SendFromWorkflow(ctx Context, to string, msg T) error {
	x := ctx.execution()
	_, err := t.sendStep.Run(ctx, func(sctx context.Context) (struct{}, error) {
		key := workflowSendKeyPrefix + x.id + ":" + strconv.Itoa(int(x.currentStep()))
		return struct{}{}, t.send(sctx, x.c, to, msg, key)
	})
	return err
}

// send stores a message: see SendMessage.
func (t *Topic[T]) send(ctx context.Context, c *Client, to string, msg T, key string) error {
	what := fmt.Sprintf("message on topic %q", t.name)
	payload, err := json.Marshal(msg)
	if err != nil {
		return encodeFailure(what, typeName[T](), err)
	}
	r, err := c.q.SendMessage(ctx, db.SendMessageParams{DestinationID: to, Topic: t.name, Payload: payload, IdempotencyKey: key})
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22") {
			// Data exceptions: jsonb refuses some strings JSON allows, such as \u0000.
			return encodeFailure(what, typeName[T](), err)
		}
		return c.dbError(fmt.Sprintf("sending a %s to workflow %q", what, to), err)
	}
	if !r.Found {
		return &notFoundError{id: to, why: fmt.Sprintf("the %s was not sent", what)}
	}
	if r.Stored {
		c.changed(to)
	}
	if r.WokenQueue != "" {
		c.requeued([]string{r.WokenQueue})
	}
	return nil
}

// recvDeadlineStep records when a Recv stops waiting, so that a replay waits until the same
// time: the timeout holds across crashes and suspensions. The zero time means never.
var recvDeadlineStep = NewStep[time.Time]("wf.recv.deadline")

// recvRecord is the recorded output of a Recv's receiving step: the message and its
// sequence number, or {} when the Recv timed out.
type recvRecord struct {
	Seq     int64           `json:"seq,omitempty"`
	Message json.RawMessage `json:"message,omitempty"`
}

// Recv receives the oldest message of the topic sent to the running workflow that it has
// not received yet, waiting for one for up to timeout (forever when timeout <= 0). ok is
// false when the timeout passed without a message.
//
// Recv takes two step IDs: the first records its deadline, so that a workflow resuming
// after a crash waits only what is left of the timeout; the second records the message
// received, in the same transaction that marks the message consumed, so that each message
// is received exactly once, whatever crashes, and a replay returns the same message (or the
// same timeout) without waiting.
//
// A Recv that waits longer than Config.SuspendAfter gives its worker slot and goroutine
// back, as Sleep does: it returns a *SuspendedError, which the workflow function must
// return, and a send on the topic (or the deadline) resumes the workflow on whichever
// executor is free. A message that does not decode as T is consumed all the same, and Recv
// returns a *CodecError for it.
func (t *Topic[T]) Recv(ctx Context, timeout time.Duration) (msg T, ok bool, err error) {
	x := ctx.execution()
	deadline, err := recvDeadlineStep.Run(ctx, func(context.Context) (time.Time, error) {
		if timeout <= 0 {
			return time.Time{}, nil
		}
		return time.Now().Add(timeout), nil
	})
	if err != nil {
		return msg, false, err
	}
	id, rec, err := x.openStep(t.recvName)
	switch {
	case err != nil:
		return msg, false, err
	case rec != nil && rec.Error != nil:
		return msg, false, decodeStepError(t.recvName, int(id), rec.Error)
	case rec != nil:
		return t.decodeRecord(id, rec.Output)
	}
	started := time.Now()
	m, err := t.wait(x, deadline)
	if err != nil {
		x.endStep()
		return msg, false, err
	}
	if m.Seq == 0 {
		// Timed out: recorded like any step, so that a replay times out too.
		x.submitStep(checkpoint.Step{WorkflowID: x.id, StepID: id, Name: t.recvName, Output: "{}", Attempt: x.attempt, Tries: 1, StartedAt: started})
		return msg, false, nil
	}
	// The checkpoint consumes the message: recorded in the writer's next batch, with other
	// executions' checkpoints (one commit for many), and awaited before the next step runs,
	// as any step's is. Refused (the attempt lost the workflow), it consumes nothing.
	x.submitStep(checkpoint.Step{WorkflowID: x.id, StepID: id, Name: t.recvName, Output: m.Output, Attempt: x.attempt, Tries: 1, StartedAt: started, Consumes: m.Seq})
	return t.decodeRecord(id, []byte(m.Output))
}

// wait waits for a message of the topic, returning the oldest unconsumed one (its seq and
// the receiving step's output), or the zero row at the deadline.
func (t *Topic[T]) wait(x *execution, deadline time.Time) (db.PeekMessageRow, error) {
	until := deadline
	if until.IsZero() {
		until = suspendForever
	}
	var found db.PeekMessageRow
	look := func() (bool, error) {
		m, err := x.c.q.PeekMessage(x.ctx, db.PeekMessageParams{WorkflowID: x.id, Topic: t.name})
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return false, nil
		case err != nil:
			return false, err
		}
		found = m
		return true, nil
	}
	wake, unwatch := x.c.watch(x.id)
	defer unwatch()
	for {
		// No ready check: the checkpoint writer's suspension of a Recv checks for a
		// message of the topic itself, under the workflow's row lock (see suspend).
		got, err := x.waitOrSuspend(until, waitingRecv+t.name, look, wake, nil)
		switch {
		case err != nil:
			return db.PeekMessageRow{}, err
		case found.Seq != 0:
			return found, nil
		case !got:
			return db.PeekMessageRow{}, nil
		}
		// The suspension found a message that came meanwhile: go and take it.
	}
}

// decodeRecord decodes a receiving step's recorded output.
func (t *Topic[T]) decodeRecord(id int32, output []byte) (msg T, ok bool, err error) {
	var r recvRecord
	if err := json.Unmarshal(output, &r); err != nil {
		return msg, false, decodeFailure(fmt.Sprintf("recorded output of step %q (ID %d)", t.recvName, id), "a received message",
			"the step recorded at this ID is not a Recv: the workflow's code changed under it", err)
	}
	if r.Seq == 0 {
		return msg, false, nil
	}
	if err := json.Unmarshal(r.Message, &msg); err != nil {
		return msg, false, decodeFailure(fmt.Sprintf("message %d on topic %q", r.Seq, t.name), typeName[T](),
			"its sender and this workflow disagree on the topic's message type: deploy the same version to both", err)
	}
	return msg, true, nil
}

package wf_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/wf"
)

func TestSendManyWakesEverySuspendedReceiverAndKeepsEachOnesOrder(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{SuspendAfter: -1})
	notes := wf.NewTopic[string]("notes")
	w := wf.NewWorkflow("collector", func(ctx wf.Context, n int) ([]string, error) {
		return recvN(ctx, notes, n)
	})
	b.start(t, w, notes)
	var hs []*wf.Handle[[]string]
	for range 5 {
		h, err := w.Enqueue(b.ctx, b.client, 3)
		require.NoError(t, err)
		hs = append(hs, h)
	}
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM %s.workflows WHERE state = 'enqueued' AND waiting_for = 'recv:notes'`) == len(hs)
	}, 20*time.Second, 5*time.Millisecond, "every receiver suspends in its Recv")

	// Interleaved: each workflow's three messages are apart in the batch.
	var msgs []wf.Outgoing[string]
	for i := range 3 {
		for j, h := range hs {
			msgs = append(msgs, wf.Outgoing[string]{To: h.ID(), Msg: fmt.Sprintf("w%d-m%d", j, i)})
		}
	}
	require.NoError(t, notes.SendMany(b.ctx, b.client, msgs))
	for j, h := range hs {
		got, err := h.Result(b.ctx)
		require.NoError(t, err)
		require.Equal(t, []string{fmt.Sprintf("w%d-m0", j), fmt.Sprintf("w%d-m1", j), fmt.Sprintf("w%d-m2", j)}, got, "workflow %d receives its messages in the batch's order", j)
	}
	require.Equal(t, 15, b.count(t, `SELECT count(*) FROM %s.messages WHERE consumed_at IS NOT NULL`), "each message received once")
	require.Zero(t, b.count(t, `SELECT count(*) FROM %s.messages WHERE consumed_at IS NULL`))
}

func TestSendManyStoresNothingWhenADestinationIsMissingAndNamesIt(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	notes := wf.NewTopic[string]("notes")
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries) VALUES
		('here', 'w', 'enqueued', 'q', '{}', 1), ('also-here', 'w', 'enqueued', 'q', '{}', 1)`)
	err := notes.SendMany(b.ctx, b.client, []wf.Outgoing[string]{
		{To: "here", Msg: "a"}, {To: "gone", Msg: "b"}, {To: "also-here", Msg: "c"}, {To: "away", Msg: "d"}, {To: "gone", Msg: "e"},
	})
	require.ErrorIs(t, err, wf.ErrNotFound)
	require.ErrorContains(t, err, `none of the 5 messages on topic "notes" was sent`)
	require.ErrorContains(t, err, `2 destinations do not exist ("away", "gone")`)
	require.Zero(t, b.count(t, `SELECT count(*) FROM %s.messages`), "all or none")

	err = notes.SendMany(b.ctx, b.client, []wf.Outgoing[string]{{To: "here", Msg: "a"}, {To: "nobody", Msg: "b"}})
	require.ErrorIs(t, err, wf.ErrNotFound)
	require.ErrorContains(t, err, `workflow "nobody" not found: none of the 2 messages on topic "notes" was sent`)
	require.Zero(t, b.count(t, `SELECT count(*) FROM %s.messages`))

	require.NoError(t, notes.SendMany(b.ctx, b.client, nil), "an empty batch sends nothing")
	require.NoError(t, notes.SendMany(b.ctx, b.client, []wf.Outgoing[string]{{To: "here", Msg: "a"}, {To: "also-here", Msg: "b"}}))
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM %s.messages`))
}

func TestSendManyStoresAnIdempotencyKeyOncePerDestination(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	notes := wf.NewTopic[string]("notes")
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries) VALUES
		('a', 'w', 'enqueued', 'q', '{}', 1), ('b', 'w', 'enqueued', 'q', '{}', 1)`)
	require.NoError(t, notes.Send(b.ctx, b.client, "a", "sent before", wf.WithIdempotencyKey("k0")))
	batch := []wf.Outgoing[string]{
		{To: "a", Msg: "again", IdempotencyKey: "k0"}, // stored by the Send
		{To: "a", Msg: "first", IdempotencyKey: "k1"},
		{To: "a", Msg: "twice in the batch", IdempotencyKey: "k1"},
		{To: "b", Msg: "same key, another workflow", IdempotencyKey: "k1"},
		{To: "b", Msg: "no key"},
	}
	require.NoError(t, notes.SendMany(b.ctx, b.client, batch))
	require.Equal(t, []string{"sent before", "first"}, payloadsOf(t, b, "a"))
	require.Equal(t, []string{"same key, another workflow", "no key"}, payloadsOf(t, b, "b"))

	// Retrying the batch stores only the message without a key again.
	require.NoError(t, notes.SendMany(b.ctx, b.client, batch))
	require.Equal(t, []string{"sent before", "first"}, payloadsOf(t, b, "a"))
	require.Equal(t, []string{"same key, another workflow", "no key", "no key"}, payloadsOf(t, b, "b"))

	err := notes.SendMany(b.ctx, b.client, []wf.Outgoing[string]{{To: "a", Msg: "x"}, {To: "b", Msg: "y", IdempotencyKey: "wfgen:mine"}})
	require.ErrorContains(t, err, "reserved")
	require.ErrorContains(t, err, "message 1")
	err = notes.SendMany(b.ctx, b.client, []wf.Outgoing[string]{{To: "a", Msg: "x"}, {To: "b", Msg: "nul \u0000 inside"}})
	var codecErr *wf.CodecError
	require.ErrorAs(t, err, &codecErr, "jsonb refuses the NUL character that JSON allows")
	require.ErrorContains(t, err, "nothing was sent")
	require.Equal(t, 5, b.count(t, `SELECT count(*) FROM %s.messages`), "the refused batches stored nothing")
}

func TestASendManyThatDeadlocksIsTriedAgain(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	notes := wf.NewTopic[string]("notes")
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries) VALUES
		('a', 'w', 'enqueued', 'q', '{}', 1), ('b', 'w', 'enqueued', 'q', '{}', 1)`)
	// The SendMany locks in ID order, a then b, whatever the order of its messages; a
	// checkpoint batch completing b and then a would lock them the other way round.
	err := deadlockWith(t, b, "b", "a", func() error {
		return notes.SendMany(b.ctx, b.client, []wf.Outgoing[string]{{To: "b", Msg: "1"}, {To: "a", Msg: "2"}})
	})
	require.NoError(t, err, "the deadlocked SendMany was tried again")
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM %s.messages`))
}

func TestSendManyFromWorkflowStoresEachMessageOnceWhenTheStepRunsAgain(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{SuspendAfter: -1})
	notes := wf.NewTopic[string]("notes")
	sender, boxes := rerunSendStep(t, b, 3, "wf.sendmany:notes", func(ctx wf.Context, to []string) error {
		var msgs []wf.Outgoing[string]
		for i, id := range to {
			msgs = append(msgs, wf.Outgoing[string]{To: id, Msg: fmt.Sprintf("m%d", i)}, wf.Outgoing[string]{To: id, Msg: fmt.Sprintf("n%d", i)})
		}
		return notes.SendManyFromWorkflow(ctx, msgs)
	}, notes)
	for i, id := range boxes {
		require.Equal(t, []string{fmt.Sprintf("m%d", i), fmt.Sprintf("n%d", i)}, payloadsOf(t, b, id), "stored once each, in order")
	}
	require.Equal(t, 6, b.count(t, `SELECT count(*) FROM %s.messages WHERE idempotency_key LIKE 'wfgen:' || $1 || ':1:%%'`, sender),
		"keyed by the sender's ID, step ID and index")
}

func TestSendManyFromWorkflowToAMissingWorkflowIsItsFinalErrorAndSendsNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	notes := wf.NewTopic[string]("notes")
	box := wf.NewWorkflow("box", func(ctx wf.Context, _ int) (int, error) { return 0, nil })
	sender := wf.NewWorkflow("lost-batch", func(ctx wf.Context, to []string) (string, error) {
		err := notes.SendManyFromWorkflow(ctx, []wf.Outgoing[string]{{To: to[0], Msg: "a"}, {To: to[1], Msg: "b"}})
		if !errors.Is(err, wf.ErrNotFound) {
			return "", fmt.Errorf("want ErrNotFound, got %v", err)
		}
		if err := notes.SendManyFromWorkflow(ctx, nil); err != nil {
			return "", err
		}
		keyed := notes.SendManyFromWorkflow(ctx, []wf.Outgoing[string]{{To: to[0], Msg: "c", IdempotencyKey: "mine"}})
		if keyed == nil {
			return "", errors.New("a message with its own key was sent from a workflow")
		}
		return err.Error() + " / " + keyed.Error(), nil
	})
	b.start(t, box, sender, notes)
	bh, err := box.Enqueue(b.ctx, b.client, 0)
	require.NoError(t, err)
	h, err := sender.Enqueue(b.ctx, b.client, []string{bh.ID(), "nobody"})
	require.NoError(t, err)
	msg, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Contains(t, msg, `"nobody"`)
	require.Contains(t, msg, "leave it empty")
	require.Zero(t, b.count(t, `SELECT count(*) FROM %s.messages`), "all or none")
	steps, err := b.client.Steps(b.ctx, h.ID())
	require.NoError(t, err)
	require.Len(t, steps, 2, "the empty batch takes a step; the refused key none")
	require.Equal(t, 1, steps[0].Tries, "a missing destination is not retried")
	require.Equal(t, "wf.sendmany:notes", steps[1].Name)
}

// payloadsOf returns the messages stored for workflow id, in send order, as strings.
func payloadsOf(t *testing.T, b *bundle, id string) []string {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, fmt.Sprintf(`SELECT payload #>> '{}' FROM %s.messages WHERE destination_id = $1 ORDER BY seq`, b.schema), id)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

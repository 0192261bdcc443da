package wf

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wfgen/wfgen/runtime/internal/db"
)

// The calls below read what an operator's view of wfgen shows beyond Status, Steps,
// QueueDepths and Executors: schedules, queue throughput, and a workflow's payload and
// activity. The wfdash dashboard is built on them.

// ScheduleStatus describes one schedule as the executors registered it. Executors that
// registered the same workflow with different settings (during a deploy, say) give one
// ScheduleStatus per setting.
type ScheduleStatus struct {
	Workflow string // the scheduled workflow's name
	Spec     string // the cron spec
	Timezone string // the IANA time zone the spec is read in
	Queue    string // the queue the ticks' workflows are enqueued on
	// ExecutorIDs are the executors that registered it (alive, or stopped within the last
	// hour), sorted; Alive is true when one of them is alive, so that the schedule fires.
	ExecutorIDs []string
	Alive       bool
	// LastTick is the latest tick that has a workflow, by tick time (a tick triggered by hand
	// counts), with that workflow's ID and state; zero, "" and "" before the first tick.
	LastTick      time.Time
	LastTickID    string
	LastTickState State
	// NextTick is the spec's first tick after the time of the call; zero when the spec or
	// time zone does not parse here.
	NextTick time.Time
}

// Schedules lists the schedules registered by the executors that are alive or stopped within
// the last hour, by workflow name, with each one's last and next tick.
func (c *Client) Schedules(ctx context.Context) ([]ScheduleStatus, error) {
	rows, err := c.q.ListSchedules(ctx)
	if err != nil {
		return nil, c.dbError("listing schedules", err)
	}
	now := time.Now()
	out := make([]ScheduleStatus, len(rows))
	for i, r := range rows {
		s := ScheduleStatus{
			Workflow: r.Workflow, Spec: r.Spec, Timezone: r.Timezone, Queue: r.Queue,
			ExecutorIDs: r.ExecutorIds, Alive: r.Alive,
			LastTickID: r.LastTickID, LastTickState: State(r.LastTickState),
		}
		if r.LastTickID != "" {
			// A tick ID that does not parse (a workflow enqueued by hand under such an ID)
			// leaves LastTick zero but still names the workflow.
			s.LastTick, _ = time.Parse(time.RFC3339, strings.TrimPrefix(r.LastTickID, r.Workflow+"@"))
		}
		if sched, err := ParseCron(r.Spec); err == nil {
			if loc, err := time.LoadLocation(r.Timezone); err == nil {
				s.NextTick = sched.Next(now.In(loc))
			}
		}
		out[i] = s
	}
	return out, nil
}

// QueueThroughput counts the workflows of one queue that reached a final state recently.
type QueueThroughput struct {
	Queue string
	// Finished1m and Finished5m count the workflows that ended (succeeded, failed, were
	// cancelled or given up as dead) in the last minute and the last five minutes.
	Finished1m, Finished5m int
	// Failed5m counts those of the last five minutes that failed or were given up as dead.
	Failed5m int
}

// QueueThroughputs counts, for every queue where a workflow ended in the last five minutes,
// the workflows that ended in the last minute and five minutes, by queue name.
func (c *Client) QueueThroughputs(ctx context.Context) ([]QueueThroughput, error) {
	rows, err := c.q.QueueThroughputs(ctx)
	if err != nil {
		return nil, c.dbError("counting queue throughput", err)
	}
	out := make([]QueueThroughput, len(rows))
	for i, r := range rows {
		out[i] = QueueThroughput{Queue: r.Queue, Finished1m: int(r.Finished1m), Finished5m: int(r.Finished5m), Failed5m: int(r.Failed5m)}
	}
	return out, nil
}

// WorkflowPayload is a workflow's input and output as stored, in JSON.
type WorkflowPayload struct {
	Input json.RawMessage
	// Output is nil until the workflow succeeds.
	Output json.RawMessage
}

// WorkflowPayload returns the input and output of the workflow with the given ID, whatever
// its workflow, as JSON; an unknown ID is an error wrapping ErrNotFound.
func (c *Client) WorkflowPayload(ctx context.Context, id string) (WorkflowPayload, error) {
	r, err := c.q.WorkflowPayload(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return WorkflowPayload{}, &notFoundError{id: id}
	}
	if err != nil {
		return WorkflowPayload{}, c.dbError("reading workflow "+id, err)
	}
	return WorkflowPayload{Input: r.Input, Output: r.Output}, nil
}

// MaxActivityRows caps each list of WorkflowActivity: the stream values and the messages.
const MaxActivityRows = 500

// EventValue is the latest value of one event key a workflow published.
type EventValue struct {
	Key   string
	Value json.RawMessage
	// Version counts the key's values, 1 for the first.
	Version   int
	UpdatedAt time.Time
}

// StreamValue is one value a workflow appended to a stream, or the stream's end (Closed,
// without a Value).
type StreamValue struct {
	Stream    string
	Offset    int
	Value     json.RawMessage
	Closed    bool
	StepID    int // the step that appended it
	CreatedAt time.Time
}

// MessageStatus is one message sent to a workflow.
type MessageStatus struct {
	Seq       int64 // orders messages by send time
	Topic     string
	Payload   json.RawMessage
	CreatedAt time.Time
	// ConsumedAt and ConsumedStep say when and by which step the workflow received it;
	// zero while it waits.
	ConsumedAt   time.Time
	ConsumedStep int
}

// WorkflowActivity is what a workflow published and received besides its steps.
type WorkflowActivity struct {
	Events  []EventValue  // by key
	Streams []StreamValue // by stream and offset, at most MaxActivityRows
	// Messages are the messages sent to it, in send order, at most MaxActivityRows.
	Messages []MessageStatus
}

// WorkflowActivity returns the events, stream values and messages of the workflow with the
// given ID. A workflow that does not exist (or was deleted) has none: it is not an error.
func (c *Client) WorkflowActivity(ctx context.Context, id string) (WorkflowActivity, error) {
	var a WorkflowActivity
	events, err := c.q.WorkflowEvents(ctx, id)
	if err != nil {
		return a, c.dbError("reading the events of workflow "+id, err)
	}
	for _, e := range events {
		a.Events = append(a.Events, EventValue{Key: e.Key, Value: e.Value, Version: int(e.Version), UpdatedAt: e.UpdatedAt})
	}
	streams, err := c.q.WorkflowStreams(ctx, db.WorkflowStreamsParams{WorkflowID: id, MaxRows: MaxActivityRows})
	if err != nil {
		return a, c.dbError("reading the streams of workflow "+id, err)
	}
	for _, s := range streams {
		a.Streams = append(a.Streams, StreamValue{Stream: s.Stream, Offset: int(s.Offset), Value: s.Value, Closed: s.Closed, StepID: int(s.StepID), CreatedAt: s.CreatedAt})
	}
	msgs, err := c.q.WorkflowMessages(ctx, db.WorkflowMessagesParams{DestinationID: id, MaxRows: MaxActivityRows})
	if err != nil {
		return a, c.dbError("reading the messages of workflow "+id, err)
	}
	for _, m := range msgs {
		ms := MessageStatus{Seq: m.Seq, Topic: m.Topic, Payload: m.Payload, CreatedAt: m.CreatedAt, ConsumedAt: derefTime(m.ConsumedAt)}
		if m.ConsumedStep != nil {
			ms.ConsumedStep = int(*m.ConsumedStep)
		}
		a.Messages = append(a.Messages, ms)
	}
	return a, nil
}

package notifier

// Kind says what a notification announces. The kinds are sent from SQL (the statements in
// queries/ that call pg_notify, where each kind is written as its value followed by a
// comment naming the constant, like 'e' /* notifier.KindEnqueued */) and from Go (the
// announcer); a test checks that the two agree. The values are one letter so that a
// notification fits as many workflow IDs as it can.
type Kind string

// The kinds of notifications.
const (
	// KindEnqueued says that Queue got work, of which the first may start in DelayMs. Sent by
	// the statements that enqueue workflows or hand them back to their queues
	// (InsertWorkflows, RecoverWorkflows, ReleaseWorkflows, ResumeWorkflow and ForkWorkflow in
	// a caller's transaction), by CancelWorkflow when it wakes a
	// parent suspended until a child completes, and by the announcer.
	KindEnqueued Kind = "e"
	// KindCompleted says that the workflows IDs, of the queues Queues, are final. IDs is
	// absent when there were too many to say. Sent by the announcer only: completions are
	// written by the checkpoint writer, in statements that do not notify.
	KindCompleted Kind = "c"
	// KindCancelled says that Workflow was cancelled while Executor ran it. Sent by
	// CancelWorkflow, once per cancelled workflow (its descendants too).
	KindCancelled Kind = "x"
	// KindChanged says that Workflow got a message, or published an event or a stream value:
	// whoever waits for one of them looks again. Sent by the announcer only.
	KindChanged Kind = "u"
)

// Notification is the payload of a notification on the schema's channel, in JSON. Which
// fields are set depends on Kind.
type Notification struct {
	Kind     Kind     `json:"k"`
	Queue    string   `json:"q,omitempty"`   // KindEnqueued: the queue that got work
	DelayMs  int64    `json:"d,omitempty"`   // KindEnqueued: until the first of it may start
	IDs      []string `json:"ids,omitempty"` // KindCompleted: the completed workflows, or none when too many
	Queues   []string `json:"qs,omitempty"`  // KindCompleted: their queues
	Workflow string   `json:"id,omitempty"`  // KindCancelled: the cancelled workflow; KindChanged: the changed one
	Executor string   `json:"x,omitempty"`   // KindCancelled: the executor that was running it
	Attempt  int32    `json:"a,omitempty"`   // KindCancelled: the attempt it was running under
}

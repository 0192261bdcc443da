package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/wfgen/wfgen/runtime/wf"
)

// The commands that change workflows: each prints what it did.
func init() {
	commands["cancel"] = command{args: "<id>", summary: "cancel a workflow and its unfinished children", run: func(ctx context.Context, x *invocation) error {
		id := x.args[0]
		if err := x.client.CancelWorkflow(ctx, id); err != nil {
			return err
		}
		return x.done(ctx, id, "cancelled")
	}}
	commands["resume"] = command{args: "<id>", summary: "resume a cancelled, failed or dead workflow from its last completed step", run: func(ctx context.Context, x *invocation) error {
		id := x.args[0]
		if err := x.client.ResumeWorkflow(ctx, id); err != nil {
			return err
		}
		return x.done(ctx, id, "resumed: back in its queue")
	}}
	commands["fork"] = command{
		args:    "<id>",
		summary: "start a new workflow from step -from of another (-id, -queue, -code-hash)",
		flags: func(fs *flag.FlagSet, x *invocation) {
			fs.IntVar(&x.fromStep, "from", 1, "the first step the new workflow runs; the steps before it are copied")
			fs.StringVar(&x.forkID, "id", "", "the new workflow's ID (default: a new UUID)")
			fs.StringVar(&x.forkQueue, "queue", "", "the queue it waits in (default: the original's)")
			fs.StringVar(&x.forkHash, "code-hash", "", "the code hash it must run under (default: the code of the worker that claims it)")
		},
		run: func(ctx context.Context, x *invocation) error {
			id, err := x.client.ForkWorkflow(ctx, x.args[0], wf.ForkOptions{FromStep: x.fromStep, ID: x.forkID, Queue: x.forkQueue, CodeHash: x.forkHash})
			if err != nil {
				return err
			}
			return x.done(ctx, id, fmt.Sprintf("forked from %s at step %d", x.args[0], x.fromStep))
		},
	}
	commands["delete"] = command{args: "<id>", summary: "delete a final workflow and everything it recorded", run: func(ctx context.Context, x *invocation) error {
		id := x.args[0]
		if err := x.client.DeleteWorkflow(ctx, id); err != nil {
			return err
		}
		if x.json {
			return x.printJSON(map[string]string{"id": id, "deleted": "true"})
		}
		_, err := fmt.Fprintf(x.out, "%s deleted\n", id)
		return err
	}}
}

// done prints the workflow's state after a write: its status as JSON, or a line.
func (x *invocation) done(ctx context.Context, id, what string) error {
	st, err := x.client.Status(ctx, id)
	if err != nil {
		return err
	}
	if x.json {
		return x.printJSON(st)
	}
	_, err = fmt.Fprintf(x.out, "%s %s (state %s)\n", id, what, st.State)
	return err
}

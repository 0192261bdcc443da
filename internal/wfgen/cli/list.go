package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/wfgen/wfgen/runtime/wf"
)

func init() {
	commands["list"] = command{
		summary: "list workflows, newest first (-state, -workflow, -queue, -executor, -parent, -prefix, -since, -stranded, -limit, -offset)",
		flags: func(fs *flag.FlagSet, x *invocation) {
			fs.StringVar(&x.states, "state", "", "keep these states, comma-separated (enqueued,running,succeeded,failed,cancelled,dead)")
			fs.StringVar(&x.workflow, "workflow", "", "keep this workflow name")
			fs.StringVar(&x.queue, "queue", "", "keep this queue")
			fs.StringVar(&x.exec, "executor", "", "keep the workflows of this executor")
			fs.StringVar(&x.parent, "parent", "", "keep the children of this workflow ID")
			fs.StringVar(&x.prefix, "prefix", "", "keep IDs that start with this")
			fs.DurationVar(&x.since, "since", 0, "keep workflows created in this last duration (1h, 30m)")
			fs.BoolVar(&x.stranded, "stranded", false, "keep workflows stranded by a code change (fork them onto the current code)")
			fs.IntVar(&x.limit, "limit", 50, "show at most this many")
			fs.IntVar(&x.offset, "offset", 0, "skip this many of the newest first")
		},
		run: list,
	}
}

func list(ctx context.Context, x *invocation) error {
	opts := wf.ListOptions{
		Workflow: x.workflow, Queue: x.queue, ExecutorID: x.exec, ParentID: x.parent, IDPrefix: x.prefix,
		Stranded: x.stranded, Limit: x.limit, Offset: x.offset,
	}
	for _, s := range strings.Split(x.states, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		st := wf.State(s)
		switch st {
		case wf.StateEnqueued, wf.StateRunning, wf.StateSucceeded, wf.StateFailed, wf.StateCancelled, wf.StateDead:
		default:
			return fmt.Errorf("-state %q is not a state: use enqueued, running, succeeded, failed, cancelled or dead", s)
		}
		opts.States = append(opts.States, st)
	}
	if x.since > 0 {
		opts.CreatedAfter = time.Now().Add(-x.since)
	}
	sts, err := x.client.ListWorkflows(ctx, opts)
	if err != nil {
		return err
	}
	if x.json {
		return x.printJSON(sts)
	}
	rows := make([][]string, len(sts))
	for i, s := range sts {
		progress := fmt.Sprint(s.StepsDone)
		if s.StepsExpected > 0 {
			progress = fmt.Sprintf("%d/%d", s.StepsDone, s.StepsExpected)
		}
		note := s.Error
		if s.Waiting != "" {
			note = s.Waiting
		} else if s.WaitingFor != "" {
			note = "waiting for " + s.WaitingFor
		}
		rows[i] = []string{s.ID, s.Workflow, string(s.State), s.Queue, progress, orDash(s.ExecutorID), when(s.CreatedAt), short(note, 60)}
	}
	return x.table([]string{"ID", "WORKFLOW", "STATE", "QUEUE", "STEPS", "EXECUTOR", "CREATED", "NOTE"}, rows)
}

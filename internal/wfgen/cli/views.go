package cli

import (
	"context"
	"fmt"
)

func init() {
	commands["queues"] = command{summary: "count each queue's workflows by state", run: queues}
	commands["executors"] = command{summary: "list the executors, alive or not, with what each runs", run: executors}
}

func queues(ctx context.Context, x *invocation) error {
	ds, err := x.client.QueueDepths(ctx)
	if err != nil {
		return err
	}
	if x.json {
		return x.printJSON(ds)
	}
	rows := make([][]string, len(ds))
	for i, d := range ds {
		rows[i] = []string{d.Queue, fmt.Sprint(d.Enqueued), fmt.Sprint(d.Delayed), fmt.Sprint(d.Unrunnable), fmt.Sprint(d.Running)}
	}
	return x.table([]string{"QUEUE", "ENQUEUED", "DELAYED", "UNRUNNABLE", "RUNNING"}, rows)
}

func executors(ctx context.Context, x *invocation) error {
	es, err := x.client.Executors(ctx)
	if err != nil {
		return err
	}
	if x.json {
		return x.printJSON(es)
	}
	rows := make([][]string, len(es))
	for i, e := range es {
		alive := "no"
		if e.Alive {
			alive = "yes"
		}
		rows[i] = []string{e.ID, e.Hostname, fmt.Sprint(e.PID), alive, fmt.Sprint(e.Running), when(e.HeartbeatAt), when(e.StoppedAt)}
	}
	return x.table([]string{"EXECUTOR", "HOST", "PID", "ALIVE", "RUNNING", "HEARTBEAT", "STOPPED"}, rows)
}

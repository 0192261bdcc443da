package cli

import (
	"context"
	"fmt"
)

func init() {
	commands["steps"] = command{args: "<id>", summary: "list a workflow's recorded steps with their outputs and errors", run: steps}
}

func steps(ctx context.Context, x *invocation) error {
	id := x.args[0]
	if err := exists(ctx, x, id); err != nil {
		return err
	}
	ss, err := x.client.Steps(ctx, id)
	if err != nil {
		return err
	}
	if x.json {
		return x.printJSON(ss)
	}
	rows := make([][]string, len(ss))
	for i, s := range ss {
		outcome := s.Output
		if s.Error != "" {
			outcome = "error: " + s.Error
		}
		rows[i] = []string{fmt.Sprint(s.ID), s.Name, fmt.Sprint(s.Attempt), fmt.Sprint(s.Tries),
			s.CompletedAt.Sub(s.StartedAt).Round(100_000).String(), short(outcome, 80)}
	}
	return x.table([]string{"STEP", "NAME", "ATTEMPT", "TRIES", "TOOK", "OUTPUT"}, rows)
}

// exists reports an unknown ID as an error wrapping wf.ErrNotFound.
func exists(ctx context.Context, x *invocation, id string) error {
	_, err := x.client.Status(ctx, id)
	return err
}

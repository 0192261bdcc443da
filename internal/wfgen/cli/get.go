package cli

import (
	"context"
	"fmt"
)

func init() {
	commands["get"] = command{args: "<id>", summary: "show one workflow's status", run: get}
}

func get(ctx context.Context, x *invocation) error {
	st, err := x.client.Status(ctx, x.args[0])
	if err != nil {
		return err
	}
	if x.json {
		return x.printJSON(st)
	}
	rows := [][]string{
		{"ID", st.ID}, {"Workflow", st.Workflow}, {"State", string(st.State)}, {"Queue", st.Queue},
		{"Parent", orDash(st.ParentID)}, {"Executor", orDash(st.ExecutorID)},
		{"Attempt", fmt.Sprint(st.Attempt)}, {"Recoveries", fmt.Sprint(st.Recoveries)},
		{"Steps", fmt.Sprintf("%d of %d expected", st.StepsDone, st.StepsExpected)},
		{"Code hash", orDash(st.CodeHash)}, {"Created", when(st.CreatedAt)}, {"Available", when(st.AvailableAt)},
		{"Started", when(st.StartedAt)}, {"Completed", when(st.CompletedAt)}, {"Deadline", when(st.Deadline)},
		{"Waiting for", orDash(st.WaitingFor)}, {"Waiting", orDash(st.Waiting)}, {"Error", orDash(st.Error)},
	}
	return x.table([]string{"FIELD", "VALUE"}, rows)
}

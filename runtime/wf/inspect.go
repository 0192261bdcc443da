package wf

import (
	"context"
	"time"
)

// StepStatus is the recorded checkpoint of one completed step.
type StepStatus struct {
	ID     int
	Name   string
	Output string // the output as JSON; empty when the step failed
	Error  string // the final error's message; empty when the step succeeded
	// Attempt is the workflow attempt that ran the step; Tries counts the step function's
	// calls in it (retries included).
	Attempt     int
	Tries       int
	StartedAt   time.Time
	CompletedAt time.Time
}

// Steps returns the completed steps of a workflow, in step ID order. A step that is running
// or was interrupted is not listed.
func (c *Client) Steps(ctx context.Context, workflowID string) ([]StepStatus, error) {
	rows, err := c.q.ListSteps(ctx, workflowID)
	if err != nil {
		return nil, c.dbError("listing steps", err)
	}
	out := make([]StepStatus, len(rows))
	for i, r := range rows {
		out[i] = StepStatus{
			ID: int(r.StepID), Name: r.Name, Output: string(r.Output),
			Attempt: int(r.Attempt), Tries: int(r.Tries), StartedAt: r.StartedAt, CompletedAt: r.CompletedAt,
		}
		if r.Error != nil {
			out[i].Error = decodeStepError(r.Name, int(r.StepID), r.Error).Error()
		}
	}
	return out, nil
}

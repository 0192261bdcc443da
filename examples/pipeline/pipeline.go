package main

import (
	"context"
	"math"

	"github.com/wfgen/wfgen/runtime/wf"
)

// PipelineInput selects the client whose data the pipeline processes.
type PipelineInput struct {
	ClientID int64 `json:"client_id"`
}

// Metrics aggregate a client's email events.
type Metrics struct {
	Sent, Opened, Clicked int
}

// Features are the model inputs derived from metrics.
type Features struct {
	OpenRate, ClickRate float64
}

// PipelineResult is what the pipeline produces for one client.
type PipelineResult struct {
	ClientID int64   `json:"client_id"`
	Segment  string  `json:"segment"`
	LTV      float64 `json:"ltv"`
}

var (
	computeMetrics  = wf.NewStep[Metrics]("pipeline.ComputeEmailMetrics", wf.MaxAttempts(3))
	computeFeatures = wf.NewStep[Features]("pipeline.ComputeFeatures")
	assignSegment   = wf.NewStep[string]("pipeline.AssignSegment")
	predictLTV      = wf.NewStep[float64]("pipeline.PredictLTV")

	emailPipeline = wf.NewWorkflow("pipeline.EmailPipeline", runPipeline)
)

// runPipeline runs metrics -> features -> segment -> LTV for one client.
func runPipeline(ctx wf.Context, in PipelineInput) (PipelineResult, error) {
	m, err := computeMetrics.Run(ctx, func(context.Context) (Metrics, error) {
		n := int(in.ClientID)
		return Metrics{Sent: 100 * n, Opened: 40 * n, Clicked: 7 * n}, nil
	})
	if err != nil {
		return PipelineResult{}, err
	}
	f, err := computeFeatures.Run(ctx, func(context.Context) (Features, error) {
		return Features{OpenRate: float64(m.Opened) / float64(m.Sent), ClickRate: float64(m.Clicked) / float64(m.Sent)}, nil
	})
	if err != nil {
		return PipelineResult{}, err
	}
	seg, err := assignSegment.Run(ctx, func(context.Context) (string, error) {
		if f.ClickRate > 0.05 {
			return "engaged", nil
		}
		return "dormant", nil
	})
	if err != nil {
		return PipelineResult{}, err
	}
	ltv, err := predictLTV.Run(ctx, func(context.Context) (float64, error) {
		return math.Round(float64(in.ClientID)*f.ClickRate*1000) / 10, nil
	})
	if err != nil {
		return PipelineResult{}, err
	}
	return PipelineResult{ClientID: in.ClientID, Segment: seg, LTV: ltv}, nil
}

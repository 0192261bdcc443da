package main

//go:generate go tool wfgen

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

// ComputeEmailMetrics aggregates a client's email events.
//
//wf:step retries=2
func ComputeEmailMetrics(ctx context.Context, clientID int64) (Metrics, error) {
	n := int(clientID)
	return Metrics{Sent: 100 * n, Opened: 40 * n, Clicked: 7 * n}, nil
}

// ComputeFeatures derives the model inputs from a client's metrics.
//
//wf:step
func ComputeFeatures(ctx context.Context, m Metrics) (Features, error) {
	return Features{OpenRate: float64(m.Opened) / float64(m.Sent), ClickRate: float64(m.Clicked) / float64(m.Sent)}, nil
}

// AssignSegment puts a client in a segment.
//
//wf:step
func AssignSegment(ctx context.Context, f Features) (string, error) {
	if f.ClickRate > 0.05 {
		return "engaged", nil
	}
	return "dormant", nil
}

// PredictLTV predicts a client's lifetime value.
//
//wf:step
func PredictLTV(ctx context.Context, clientID int64, f Features) (float64, error) {
	return math.Round(float64(clientID)*f.ClickRate*1000) / 10, nil
}

// EmailPipeline runs metrics -> features -> segment -> LTV for one client.
//
//wf:workflow
func EmailPipeline(ctx wf.Context, in PipelineInput) (PipelineResult, error) {
	m, err := ComputeEmailMetricsStep(ctx, in.ClientID)
	if err != nil {
		return PipelineResult{}, err
	}
	f, err := ComputeFeaturesStep(ctx, m)
	if err != nil {
		return PipelineResult{}, err
	}
	seg, err := AssignSegmentStep(ctx, f)
	if err != nil {
		return PipelineResult{}, err
	}
	ltv, err := PredictLTVStep(ctx, in.ClientID, f)
	if err != nil {
		return PipelineResult{}, err
	}
	return PipelineResult{ClientID: in.ClientID, Segment: seg, LTV: ltv}, nil
}

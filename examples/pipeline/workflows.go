package pipeline

import (
	"fmt"
	"slices"

	"github.com/wfgen/wfgen/runtime/wf"
)

// ClientPipeline runs the pipeline of each requested channel of a client as a child
// workflow (in the channels queue) and returns their results, in the order of Channels.
//
//wf:workflow queue=Pipelines
func ClientPipeline(ctx wf.Context, req PipelineRequest) (PipelineResult, error) {
	var plan []string
	for _, ch := range Channels {
		if slices.Contains(req.Channels, ch) {
			plan = append(plan, ch)
		}
	}
	if err := PlanEvent.Set(ctx, plan); err != nil {
		return PipelineResult{}, err
	}
	var emails []EmailPipelineHandle
	var pages []LandingPagePipelineHandle
	for _, ch := range plan {
		in := ChannelInput{ClientID: req.ClientID, Channel: ch, BaselineDate: req.BaselineDate}
		switch ch {
		case ChannelEmail:
			h, err := EnqueueChildEmailPipeline(ctx, in)
			if err != nil {
				return PipelineResult{}, err
			}
			emails = append(emails, h)
		case ChannelLandingPage:
			h, err := EnqueueChildLandingPagePipeline(ctx, in)
			if err != nil {
				return PipelineResult{}, err
			}
			pages = append(pages, h)
		}
	}
	out := PipelineResult{ClientID: req.ClientID, BaselineDate: req.BaselineDate}
	for _, h := range emails {
		r, err := h.Await(ctx)
		if err != nil {
			return PipelineResult{}, fmt.Errorf("email pipeline: %w", err)
		}
		out.Channels = append(out.Channels, r)
	}
	for _, h := range pages {
		r, err := h.Await(ctx)
		if err != nil {
			return PipelineResult{}, fmt.Errorf("landing page pipeline: %w", err)
		}
		out.Channels = append(out.Channels, r)
	}
	return out, nil
}

// EmailPipeline runs the email channel's pipeline of one client.
//
//wf:workflow queue=ChannelRuns
func EmailPipeline(ctx wf.Context, in ChannelInput) (ChannelResult, error) {
	return channelPipeline(ctx, in)
}

// LandingPagePipeline runs the landing page channel's pipeline of one client.
//
//wf:workflow queue=ChannelRuns
func LandingPagePipeline(ctx wf.Context, in ChannelInput) (ChannelResult, error) {
	return channelPipeline(ctx, in)
}

// ChannelSteps is how many steps a channel pipeline reports in its progress.
const ChannelSteps = 5

// channelPipeline computes metrics, features, segments and lifetime value of a channel and
// stores them, setting ProgressEvent after each step.
func channelPipeline(ctx wf.Context, in ChannelInput) (ChannelResult, error) {
	progress := func(step string, done int) error {
		return ProgressEvent.Set(ctx, Progress{Channel: in.Channel, Step: step, Done: done, Total: ChannelSteps})
	}
	if err := progress("", 0); err != nil {
		return ChannelResult{}, err
	}
	m, err := ComputeMetricsStep(ctx, in)
	if err != nil {
		return ChannelResult{}, err
	}
	if err := progress("metrics", 1); err != nil {
		return ChannelResult{}, err
	}
	features, err := GenerateFeaturesStep(ctx, in)
	if err != nil {
		return ChannelResult{}, err
	}
	if err := progress("features", 2); err != nil {
		return ChannelResult{}, err
	}
	segments, err := SegmentContactsStep(ctx, features)
	if err != nil {
		return ChannelResult{}, err
	}
	if err := progress("segments", 3); err != nil {
		return ChannelResult{}, err
	}
	ltv, err := CalculateLTVStep(ctx, in)
	if err != nil {
		return ChannelResult{}, err
	}
	if err := progress("ltv", 4); err != nil {
		return ChannelResult{}, err
	}
	r := ChannelResult{Channel: in.Channel, Metrics: m, Segments: segments, LTV: ltv}
	if r.ResultID, err = StoreResultStep(ctx, in, r); err != nil {
		return ChannelResult{}, err
	}
	if err := progress("stored", 5); err != nil {
		return ChannelResult{}, err
	}
	return r, nil
}

// MonthlyReports writes every tenant's report of the previous month, one TenantReport child
// per tenant in the reports queue, which runs at most ReportsConcurrency at once across
// all workers. A tick runs once (its ID is the tick's), and a re-run of a month writes no
// report twice.
//
//wf:scheduled cron="0 6 1 * *" queue=Maintenance
func MonthlyReports(ctx wf.Context, tick wf.Tick) (ReportsSummary, error) {
	month := ReportMonth(tick.Time).Format(DateLayout)
	tenants, err := ListTenantsStep(ctx)
	if err != nil {
		return ReportsSummary{}, err
	}
	ins := make([]ReportInput, len(tenants))
	for i, id := range tenants {
		ins[i] = ReportInput{ClientID: id, Month: month}
	}
	hs, err := EnqueueChildrenTenantReport(ctx, ins)
	if err != nil {
		return ReportsSummary{}, err
	}
	// One step waits for every report, however many tenants there are.
	reports, err := AwaitAllTenantReport(ctx, hs)
	if err != nil {
		return ReportsSummary{}, err
	}
	out := ReportsSummary{Month: month, Tenants: len(tenants)}
	for _, r := range reports {
		if r.Stored {
			out.Stored++
		}
	}
	return out, nil
}

// TenantReport computes a tenant's totals of a month and stores its report unless it exists.
//
//wf:workflow queue=Reports
func TenantReport(ctx wf.Context, in ReportInput) (Report, error) {
	r, err := MonthlyTotalsStep(ctx, in)
	if err != nil {
		return Report{}, err
	}
	r.Stored, err = StoreReportStep(ctx, r)
	return r, err
}

// StorageCleanup deletes the temporary objects created more than CleanupAge before the
// tick: it lists the candidates in batches of CleanupBatchSize and hands each batch to a
// DeleteObjects child in the rate-limited cleanup queue, then waits for them.
//
//wf:scheduled cron="@hourly" queue=Maintenance
func StorageCleanup(ctx wf.Context, tick wf.Tick) (CleanupSummary, error) {
	out := CleanupSummary{Cutoff: tick.Time.Add(-CleanupAge).UTC()}
	var hs []DeleteObjectsHandle
	after := ""
	for {
		keys, err := ListCandidatesStep(ctx, out.Cutoff, after)
		if err != nil {
			return CleanupSummary{}, err
		}
		if len(keys) == 0 {
			break
		}
		h, err := EnqueueChildDeleteObjects(ctx, DeleteBatch{Keys: keys, Cutoff: out.Cutoff})
		if err != nil {
			return CleanupSummary{}, err
		}
		hs = append(hs, h)
		out.Candidates += len(keys)
		after = keys[len(keys)-1]
	}
	out.Batches = len(hs)
	deleted, err := AwaitAllDeleteObjects(ctx, hs)
	if err != nil {
		return CleanupSummary{}, err
	}
	for _, n := range deleted {
		out.Deleted += n
	}
	return out, nil
}

// DeleteObjects deletes a batch of candidate objects. Deleting is idempotent: an object
// that is gone, or is no candidate, is left alone.
//
//wf:workflow queue=Cleanup
func DeleteObjects(ctx wf.Context, b DeleteBatch) (int, error) {
	return DeleteCandidatesStep(ctx, b)
}

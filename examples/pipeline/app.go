// Package pipeline is wfgen's reference application: an analytics pipeline on real data,
// written only with //wf: annotations and the functions wfgen generates from them.
//
// For each client, ClientPipeline runs one child workflow per channel the client has
// (EmailPipeline, LandingPagePipeline); each computes the channel's metrics, generates
// per-contact features, segments the contacts, calculates their lifetime value, all in SQL
// through sqlc, and stores the result in a transactional step, so that a crash never stores
// it twice. Each publishes its progress as the event ProgressEvent.
//
// Two scheduled workflows maintain the tenants: MonthlyReports fans out one TenantReport per
// tenant into the reports queue (at most ReportsConcurrency at once across all workers), and
// StorageCleanup deletes the temporary objects older than a day, in batches handed to the
// rate-limited cleanup queue.
//
// The steps are methods of *Steps, which holds the pool: every worker registers its own with
// Register(c, &Steps{...}). The application's tables live in their own schema, which the
// pool's search_path names (Connect); Migrate creates them and Load fills them with the data
// of Generate.
package pipeline

//go:generate go tool wfgen

import (
	"time"

	"github.com/wfgen/wfgen/runtime/wf"
)

// The channels a client can have.
const (
	ChannelEmail       = "email"
	ChannelLandingPage = "landing_page"
)

// Channels lists the channels a pipeline can run, in the order ClientPipeline runs them.
var Channels = []string{ChannelEmail, ChannelLandingPage}

// The limits of the queues, which the demo's summary compares what it observed against.
const (
	// PipelinesPerWorker caps how many ClientPipeline runs one worker runs at once.
	PipelinesPerWorker = 4
	// ChannelsConcurrency caps how many channel pipelines run at once across all workers.
	ChannelsConcurrency = 6
	// ReportsConcurrency caps how many tenant reports run at once across all workers.
	ReportsConcurrency = 3
	// CleanupConcurrency caps how many cleanup batches run at once across all workers.
	CleanupConcurrency = 2
	// CleanupRate caps how many cleanup batches start per CleanupRatePeriod.
	CleanupRate = 4
	// CleanupRatePeriod is the window of CleanupRate.
	CleanupRatePeriod = time.Second
)

// The application's queues; Register registers them with the workflows.
var (
	// Pipelines holds the ClientPipeline runs that the API enqueues.
	Pipelines = wf.NewQueue("pipelines", wf.WorkerConcurrency(PipelinesPerWorker))
	// ChannelRuns holds the channel pipelines that ClientPipeline starts as children.
	ChannelRuns = wf.NewQueue("channels", wf.GlobalConcurrency(ChannelsConcurrency))
	// Reports holds the per-tenant reports of MonthlyReports.
	Reports = wf.NewQueue("reports", wf.GlobalConcurrency(ReportsConcurrency))
	// Cleanup holds the deletion batches of StorageCleanup.
	Cleanup = wf.NewQueue("cleanup", wf.GlobalConcurrency(CleanupConcurrency), wf.RateLimit(CleanupRate, CleanupRatePeriod))
	// Maintenance holds the runs of the scheduled workflows.
	Maintenance = wf.NewQueue("maintenance")
)

// ProgressEvent is the progress of a channel pipeline, which the API reads while it runs.
var ProgressEvent = wf.NewEvent[Progress]("progress")

// PlanEvent is the list of channels a ClientPipeline runs, set before it starts them: with
// ChannelSteps, how many steps its progress counts to.
var PlanEvent = wf.NewEvent[[]string]("plan")

// Progress says how far a channel pipeline got.
type Progress struct {
	Channel string `json:"channel"`
	Step    string `json:"step"` // the last step completed, "" before the first
	Done    int    `json:"done"`
	Total   int    `json:"total"`
}

// DateLayout is the layout of baseline dates and report months (YYYY-MM-DD).
const DateLayout = time.DateOnly

// PipelineRequest asks for a client's pipeline: the channels to run (each one the client
// has) and the baseline date, the end of the 90 days of events it analyses.
type PipelineRequest struct {
	ClientID     int64    `json:"client_id"`
	Channels     []string `json:"channels"`
	BaselineDate string   `json:"baseline_date"`
}

// ChannelInput is the input of a channel pipeline.
type ChannelInput struct {
	ClientID     int64  `json:"client_id"`
	Channel      string `json:"channel"`
	BaselineDate string `json:"baseline_date"`
}

// window returns the 90 days of events a channel pipeline analyses.
func (in ChannelInput) window() (since, until time.Time, err error) {
	until, err = time.Parse(DateLayout, in.BaselineDate)
	if err != nil {
		return time.Time{}, time.Time{}, wf.Final(err)
	}
	return until.AddDate(0, 0, -AnalysisDays), until, nil
}

// AnalysisDays is how many days of events before the baseline date a pipeline analyses.
const AnalysisDays = 90

// Metrics are a channel's reach, engagement and revenue over the analysed window.
type Metrics struct {
	Contacts     int64 `json:"contacts"`
	Reach        int64 `json:"reach"` // emails sent or page visits
	Opens        int64 `json:"opens"`
	Engagements  int64 `json:"engagements"` // clicks or signups
	Purchases    int64 `json:"purchases"`
	RevenueCents int64 `json:"revenue_cents"`
}

// ContactFeatures are the recency, frequency and monetary value of one contact.
type ContactFeatures struct {
	ContactID    int64 `json:"contact_id"`
	Events       int64 `json:"events"`
	Purchases    int64 `json:"purchases"`
	RevenueCents int64 `json:"revenue_cents"`
	RecencyDays  int32 `json:"recency_days"`
}

// The segments a contact falls in.
const (
	SegmentChampion = "champion" // bought at least twice, active in the last two weeks
	SegmentLoyal    = "loyal"    // bought, active in the last 45 days
	SegmentAtRisk   = "at_risk"  // bought, quiet for more than 45 days
	SegmentEngaged  = "engaged"  // never bought, active in the last 30 days
	SegmentDormant  = "dormant"  // the others
)

// Segment puts a contact in its segment.
func Segment(f ContactFeatures) string {
	switch {
	case f.Purchases >= 2 && f.RecencyDays <= 14:
		return SegmentChampion
	case f.Purchases >= 1 && f.RecencyDays <= 45:
		return SegmentLoyal
	case f.Purchases >= 1:
		return SegmentAtRisk
	case f.RecencyDays <= 30:
		return SegmentEngaged
	}
	return SegmentDormant
}

// LifetimeValue is a channel's expected value of a buyer.
type LifetimeValue struct {
	Buyers   int64 `json:"buyers"`
	LTVCents int64 `json:"ltv_cents"`
}

// ChannelResult is what a channel pipeline computed and stored.
type ChannelResult struct {
	Channel  string           `json:"channel"`
	Metrics  Metrics          `json:"metrics"`
	Segments map[string]int64 `json:"segments"`
	LTV      LifetimeValue    `json:"ltv"`
	ResultID int64            `json:"result_id"` // the row of the results table
}

// PipelineResult is what ClientPipeline returns: one result per channel.
type PipelineResult struct {
	ClientID     int64           `json:"client_id"`
	BaselineDate string          `json:"baseline_date"`
	Channels     []ChannelResult `json:"channels"`
}

// ReportInput asks for one tenant's report of one month.
type ReportInput struct {
	ClientID int64  `json:"client_id"`
	Month    string `json:"month"` // its first day, YYYY-MM-DD
}

// Report is a tenant's activity in a month.
type Report struct {
	ClientID     int64  `json:"client_id"`
	Month        string `json:"month"`
	Events       int64  `json:"events"`
	Purchases    int64  `json:"purchases"`
	RevenueCents int64  `json:"revenue_cents"`
	Stored       bool   `json:"stored"` // false when the report existed already
}

// ReportsSummary is what MonthlyReports returns.
type ReportsSummary struct {
	Month   string `json:"month"`
	Tenants int    `json:"tenants"`
	Stored  int    `json:"stored"` // reports written by this run (0 for a re-run)
}

// DeleteBatch is a batch of candidate objects to delete, with the cutoff that made them
// candidates.
type DeleteBatch struct {
	Keys   []string  `json:"keys"`
	Cutoff time.Time `json:"cutoff"`
}

// CleanupSummary is what StorageCleanup returns.
type CleanupSummary struct {
	Cutoff     time.Time `json:"cutoff"`
	Candidates int       `json:"candidates"`
	Batches    int       `json:"batches"`
	Deleted    int       `json:"deleted"`
}

// ReportMonth is the month a MonthlyReports tick reports on: the month before the tick's.
func ReportMonth(tick time.Time) time.Time {
	t := tick.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0)
}

// CleanupAge is how old a temporary object must be to be deleted.
const CleanupAge = 24 * time.Hour

// CleanupBatchSize is how many objects one cleanup task deletes.
const CleanupBatchSize = 10

package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wfgen/wfgen/examples/pipeline/db"
	"github.com/wfgen/wfgen/runtime/wf"
)

// Steps holds what the steps need: the pool of the application's database (whose
// search_path names the application's schema, see Connect), the worker's executor ID that
// the activity log records, and how long each analytics step works at least.
type Steps struct {
	DB       *pgxpool.Pool
	Executor string
	// Pace is how long each analytics and report step takes at least, on top of its SQL: the
	// demo's data is small enough for the SQL to take milliseconds, and a pace lets you
	// watch the progress and kill a worker in the middle of a run.
	Pace time.Duration
}

// track records the start of a step attempt in the activity table and returns the function
// that records its end.
func (s *Steps) track(ctx context.Context, queue string) (func(), error) {
	info, ok := wf.CurrentStep(ctx)
	if !ok {
		return nil, wf.Final(errors.New("pipeline: a step ran outside a workflow"))
	}
	q := db.New(s.DB)
	id, err := q.StartActivity(ctx, db.StartActivityParams{WorkflowID: info.WorkflowID, Queue: queue, Step: info.Step, Executor: s.Executor, StartedAt: time.Now()})
	if err != nil {
		return nil, fmt.Errorf("recording the step's start: %w", err)
	}
	return func() {
		_ = q.EndActivity(context.WithoutCancel(ctx), db.EndActivityParams{ID: id, EndedAt: ptr(time.Now())})
	}, nil
}

func ptr[T any](v T) *T { return &v }

// pace waits for s.Pace, or until ctx ends.
func (s *Steps) pace(ctx context.Context) error {
	if s.Pace <= 0 {
		return nil
	}
	t := time.NewTimer(s.Pace)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ComputeMetrics aggregates a channel's events over the analysed window.
//
//wf:step retries=2 backoff=200ms
func (s *Steps) ComputeMetrics(ctx context.Context, in ChannelInput) (Metrics, error) {
	done, err := s.track(ctx, ChannelRuns.Name())
	if err != nil {
		return Metrics{}, err
	}
	defer done()
	since, until, err := in.window()
	if err != nil {
		return Metrics{}, err
	}
	row, err := db.New(s.DB).ChannelMetrics(ctx, db.ChannelMetricsParams{ClientID: in.ClientID, Channel: in.Channel, Since: since, Until: until})
	if err != nil {
		return Metrics{}, err
	}
	return Metrics(row), s.pace(ctx)
}

// GenerateFeatures computes the recency, frequency and monetary value of every contact of
// the channel.
//
//wf:step retries=2 backoff=200ms
func (s *Steps) GenerateFeatures(ctx context.Context, in ChannelInput) ([]ContactFeatures, error) {
	done, err := s.track(ctx, ChannelRuns.Name())
	if err != nil {
		return nil, err
	}
	defer done()
	since, until, err := in.window()
	if err != nil {
		return nil, err
	}
	rows, err := db.New(s.DB).ContactFeatures(ctx, db.ContactFeaturesParams{ClientID: in.ClientID, Channel: in.Channel, Since: since, Until: until})
	if err != nil {
		return nil, err
	}
	out := make([]ContactFeatures, len(rows))
	for i, r := range rows {
		out[i] = ContactFeatures(r)
	}
	return out, s.pace(ctx)
}

// SegmentContacts counts the contacts of each segment.
//
//wf:step retries=2 backoff=200ms
func (s *Steps) SegmentContacts(ctx context.Context, features []ContactFeatures) (map[string]int64, error) {
	done, err := s.track(ctx, ChannelRuns.Name())
	if err != nil {
		return nil, err
	}
	defer done()
	out := map[string]int64{}
	for _, f := range features {
		out[Segment(f)]++
	}
	return out, s.pace(ctx)
}

// CalculateLTV computes the expected lifetime value of the channel's buyers.
//
//wf:step retries=2 backoff=200ms
func (s *Steps) CalculateLTV(ctx context.Context, in ChannelInput) (LifetimeValue, error) {
	done, err := s.track(ctx, ChannelRuns.Name())
	if err != nil {
		return LifetimeValue{}, err
	}
	defer done()
	since, until, err := in.window()
	if err != nil {
		return LifetimeValue{}, err
	}
	row, err := db.New(s.DB).LifetimeValue(ctx, db.LifetimeValueParams{ClientID: in.ClientID, Channel: in.Channel, Since: since, Until: until})
	if err != nil {
		return LifetimeValue{}, err
	}
	return LifetimeValue{Buyers: row.Buyers, LTVCents: row.LtvCents}, s.pace(ctx)
}

// StoreResult stores a channel's result in the step's transaction: the row commits with
// the step's checkpoint, so a crash never stores a result twice.
//
//wf:step tx retries=2 backoff=200ms
func (s *Steps) StoreResult(ctx context.Context, tx pgx.Tx, in ChannelInput, r ChannelResult) (int64, error) {
	done, err := s.track(ctx, ChannelRuns.Name())
	if err != nil {
		return 0, err
	}
	defer done()
	info, _ := wf.CurrentStep(ctx)
	baseline, err := time.Parse(DateLayout, in.BaselineDate)
	if err != nil {
		return 0, wf.Final(err)
	}
	segments, err := json.Marshal(r.Segments)
	if err != nil {
		return 0, wf.Final(err)
	}
	return db.New(tx).InsertResult(ctx, db.InsertResultParams{
		WorkflowID: info.WorkflowID, ClientID: in.ClientID, Channel: in.Channel, BaselineDate: baseline,
		Contacts: r.Metrics.Contacts, Segments: segments, LtvCents: r.LTV.LTVCents,
	})
}

// ListTenants lists the IDs of the tenants that get a monthly report.
//
//wf:step retries=2 backoff=200ms
func (s *Steps) ListTenants(ctx context.Context) ([]int64, error) {
	done, err := s.track(ctx, Maintenance.Name())
	if err != nil {
		return nil, err
	}
	defer done()
	clients, err := db.New(s.DB).ListClients(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(clients))
	for i, c := range clients {
		ids[i] = c.ID
	}
	return ids, nil
}

// MonthlyTotals computes a tenant's activity of a month.
//
//wf:step retries=2 backoff=200ms
func (s *Steps) MonthlyTotals(ctx context.Context, in ReportInput) (Report, error) {
	done, err := s.track(ctx, Reports.Name())
	if err != nil {
		return Report{}, err
	}
	defer done()
	month, err := time.Parse(DateLayout, in.Month)
	if err != nil {
		return Report{}, wf.Final(err)
	}
	row, err := db.New(s.DB).MonthlyTotals(ctx, db.MonthlyTotalsParams{ClientID: in.ClientID, Since: month, Until: month.AddDate(0, 1, 0)})
	if err != nil {
		return Report{}, err
	}
	return Report{ClientID: in.ClientID, Month: in.Month, Events: row.Events, Purchases: row.Purchases, RevenueCents: row.RevenueCents}, s.pace(ctx)
}

// StoreReport stores a tenant's report of a month unless one exists, and says whether it
// did.
//
//wf:step tx retries=2 backoff=200ms
func (s *Steps) StoreReport(ctx context.Context, tx pgx.Tx, r Report) (bool, error) {
	done, err := s.track(ctx, Reports.Name())
	if err != nil {
		return false, err
	}
	defer done()
	info, _ := wf.CurrentStep(ctx)
	month, err := time.Parse(DateLayout, r.Month)
	if err != nil {
		return false, wf.Final(err)
	}
	n, err := db.New(tx).InsertReport(ctx, db.InsertReportParams{
		ClientID: r.ClientID, Month: month, Events: r.Events, Purchases: r.Purchases, RevenueCents: r.RevenueCents, WorkflowID: info.WorkflowID,
	})
	return n == 1, err
}

// ListCandidates lists the next batch of objects older than cutoff that a cleanup may
// delete, after the key after.
//
//wf:step retries=2 backoff=200ms
func (s *Steps) ListCandidates(ctx context.Context, cutoff time.Time, after string) ([]string, error) {
	done, err := s.track(ctx, Maintenance.Name())
	if err != nil {
		return nil, err
	}
	defer done()
	return db.New(s.DB).CleanupCandidates(ctx, db.CleanupCandidatesParams{Cutoff: cutoff, After: after, BatchSize: CleanupBatchSize})
}

// DeleteCandidates deletes those objects of a batch that are still candidates, and records
// the deletions, in the step's transaction.
//
//wf:step tx retries=2 backoff=200ms
func (s *Steps) DeleteCandidates(ctx context.Context, tx pgx.Tx, b DeleteBatch) (int, error) {
	done, err := s.track(ctx, Cleanup.Name())
	if err != nil {
		return 0, err
	}
	defer done()
	info, _ := wf.CurrentStep(ctx)
	q := db.New(tx)
	deleted, err := q.DeleteCandidates(ctx, db.DeleteCandidatesParams{Keys: b.Keys, Cutoff: b.Cutoff})
	if err != nil {
		return 0, err
	}
	if err := q.RecordDeletions(ctx, db.RecordDeletionsParams{Keys: deleted, WorkflowID: info.WorkflowID}); err != nil {
		return 0, err
	}
	return len(deleted), s.pace(ctx)
}

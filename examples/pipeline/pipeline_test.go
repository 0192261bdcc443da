package pipeline_test

import (
	"context"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wfgen/wfgen/examples/pipeline"
	"github.com/wfgen/wfgen/examples/pipeline/db"
	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wftest"
)

func TestMain(m *testing.M) { wftest.Main(m) }

// app is a started worker on schemas of its own, with the generated data loaded.
type app struct {
	ctx    context.Context
	client *wf.Client
	pool   *pgxpool.Pool
	q      *db.Queries
	data   pipeline.Dataset
}

func newApp(t *testing.T, clients int) *app {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	appSchema, wfSchema := wftest.Schema(t), wftest.Schema(t)
	pool, err := pipeline.Connect(ctx, os.Getenv("DATABASE_URL"), appSchema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pipeline.Migrate(ctx, pool, appSchema); err != nil {
		t.Fatal(err)
	}
	// Twice: migrating is idempotent.
	if err := pipeline.Migrate(ctx, pool, appSchema); err != nil {
		t.Fatal(err)
	}
	data := pipeline.Generate(clients)
	if loaded, err := pipeline.Load(ctx, pool, data, time.Now()); err != nil || !loaded {
		t.Fatalf("Load = %v, %v; want true, nil", loaded, err)
	}
	if loaded, err := pipeline.Load(ctx, pool, data, time.Now()); err != nil || loaded {
		t.Fatalf("second Load = %v, %v; want false, nil", loaded, err)
	}
	// The worker's client must use the application's pool: its transactional steps write
	// the application's tables in the transaction of their checkpoint.
	c, err := wf.NewClient(pool, wf.Config{Schema: wfSchema, ExecutorID: "test-worker", PollInterval: 50 * time.Millisecond, Logger: wftest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := pipeline.Register(c, &pipeline.Steps{DB: pool, Executor: "test-worker"}); err != nil {
		t.Fatal(err)
	}
	wftest.Start(t, c)
	return &app{ctx: ctx, client: c, pool: pool, q: db.New(pool), data: data}
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := pipeline.Generate(4), pipeline.Generate(4)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("Generate(4) made different data on two calls")
	}
	if c := pipeline.Generate(3); !reflect.DeepEqual(c.Clients, a.Clients[:3]) {
		t.Fatalf("Generate(3) clients = %v, want the first three of Generate(4)", c.Clients)
	}
	perClient := map[int64]int{}
	for _, e := range a.Events {
		perClient[e.ClientID]++
		if e.OccurredAt.After(pipeline.DataEnd.Add(48*time.Hour)) || e.OccurredAt.Before(pipeline.DataEnd.AddDate(0, 0, -pipeline.DataDays)) {
			t.Fatalf("event at %v outside the generated window", e.OccurredAt)
		}
	}
	for id := int64(1); id <= 4; id++ {
		if n := perClient[id]; n < 1000 || n > 8000 {
			t.Errorf("client %d has %d events, want a few thousand", id, n)
		}
	}
	var candidates, others int
	for _, o := range a.Objects {
		if o.Candidate() {
			candidates++
		} else {
			others++
		}
	}
	if candidates == 0 || others == 0 {
		t.Fatalf("objects: %d candidates and %d others, want both", candidates, others)
	}
}

func TestClientPipelineStoresEachResultOnce(t *testing.T) {
	a := newApp(t, 2)
	req := pipeline.PipelineRequest{ClientID: 2, Channels: []string{pipeline.ChannelLandingPage, pipeline.ChannelEmail}, BaselineDate: "2026-11-30"}
	h, err := pipeline.EnqueueClientPipeline(a.ctx, a.client, req, wf.WithID("client-2"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.Result(a.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Channels) != 2 || res.Channels[0].Channel != pipeline.ChannelEmail || res.Channels[1].Channel != pipeline.ChannelLandingPage {
		t.Fatalf("channels = %+v, want email then landing_page", res.Channels)
	}
	for _, ch := range res.Channels {
		var segmented int64
		for _, n := range ch.Segments {
			segmented += n
		}
		if ch.Metrics.Contacts == 0 || segmented != ch.Metrics.Contacts || ch.LTV.Buyers == 0 || ch.LTV.LTVCents <= 0 {
			t.Errorf("%s: metrics %+v, segments %v, ltv %+v: want contacts, all of them segmented, and buyers with a value", ch.Channel, ch.Metrics, ch.Segments, ch.LTV)
		}
	}
	plan, ok, err := pipeline.PlanEvent.Get(a.ctx, a.client, h.ID())
	if err != nil || !ok || !reflect.DeepEqual(plan, []string{pipeline.ChannelEmail, pipeline.ChannelLandingPage}) {
		t.Fatalf("plan = %v, %v, %v; want email then landing_page", plan, ok, err)
	}
	rows, err := a.q.ListResults(a.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("results table has %d rows, want one per channel", len(rows))
	}
	children, err := a.client.ListWorkflows(a.ctx, wf.ListOptions{ParentID: h.ID()})
	if err != nil {
		t.Fatal(err)
	}
	if len(children) != 2 {
		t.Fatalf("%d children, want 2", len(children))
	}
	for _, c := range children {
		p, ok, err := pipeline.ProgressEvent.Get(a.ctx, a.client, c.ID)
		if err != nil || !ok || p.Done != p.Total || p.Step != "stored" {
			t.Errorf("progress of %s = %+v, %v, %v; want all steps done", c.ID, p, ok, err)
		}
	}
}

func TestMonthlyReportsRerunWritesNothingTwice(t *testing.T) {
	a := newApp(t, 3)
	tick := time.Date(2026, time.December, 1, 6, 0, 0, 0, time.UTC)
	h, err := pipeline.TriggerMonthlyReports(a.ctx, a.client, tick)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := h.Result(a.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum != (pipeline.ReportsSummary{Month: "2026-11-01", Tenants: 3, Stored: 3}) {
		t.Fatalf("summary = %+v", sum)
	}
	// The same tick again is the same run.
	h2, err := pipeline.TriggerMonthlyReports(a.ctx, a.client, tick)
	if err != nil {
		t.Fatal(err)
	}
	if h2.ID() != h.ID() {
		t.Fatalf("second trigger ran %s, want the first run %s", h2.ID(), h.ID())
	}
	// A run of the month under another ID (a later tick of the same month) stores nothing.
	h3, err := pipeline.TriggerMonthlyReports(a.ctx, a.client, tick.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	sum3, err := h3.Result(a.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum3.Stored != 0 || sum3.Tenants != 3 {
		t.Fatalf("re-run summary = %+v, want 3 tenants and nothing stored", sum3)
	}
	reports, err := a.q.ListReports(a.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 3 {
		t.Fatalf("%d reports, want one per tenant", len(reports))
	}
	for _, r := range reports {
		if r.WorkflowID == "" || r.Events == 0 {
			t.Errorf("report %+v: want the workflow that wrote it and some events", r)
		}
	}
}

func TestStorageCleanupDeletesOnlyCandidatesOnce(t *testing.T) {
	a := newApp(t, 3)
	tick := time.Now().Truncate(time.Hour)
	h, err := pipeline.TriggerStorageCleanup(a.ctx, a.client, tick)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := h.Result(a.ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, o := range a.data.Objects {
		if o.Candidate() {
			want[o.Key] = true
		}
	}
	// The next tick's run: triggered by hand here, or already started by the workers'
	// own hourly schedule (the same workflow ID) if the hour turned during the first.
	h2, err := pipeline.TriggerStorageCleanup(a.ctx, a.client, tick.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	sum2, err := h2.Result(a.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if time.Now().Truncate(time.Hour).Equal(tick) {
		if sum.Deleted != len(want) || sum.Candidates != len(want) || sum.Batches < 2 {
			t.Fatalf("summary = %+v, want %d candidates deleted in several batches", sum, len(want))
		}
		// A second run finds nothing more to delete.
		if sum2.Deleted != 0 {
			t.Fatalf("second run = %+v; want nothing deleted", sum2)
		}
	} else if sum.Deleted+sum2.Deleted != len(want) {
		// The hour turned: the schedule's run may have deleted beside the first.
		t.Fatalf("runs deleted %d and %d across the turn of the hour, want %d together", sum.Deleted, sum2.Deleted, len(want))
	}
	left, err := a.q.ListObjects(a.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != len(a.data.Objects)-len(want) {
		t.Fatalf("%d objects left, want %d", len(left), len(a.data.Objects)-len(want))
	}
	for _, o := range left {
		if want[o.Key] {
			t.Errorf("candidate %s was not deleted", o.Key)
		}
	}
	deleted, err := a.q.ListDeletions(a.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deleted {
		if !want[d.Key] {
			t.Errorf("deleted %s, which is no candidate", d.Key)
		}
	}
	if len(deleted) != len(want) {
		t.Fatalf("%d deletions recorded, want %d", len(deleted), len(want))
	}
}

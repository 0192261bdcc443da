package wf_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wftest"
)

// never is a poll interval no test waits for: work that starts was woken by a notification.
const never = time.Hour

func TestQueueRunsByPriorityThenFIFO(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	var mu sync.Mutex
	var order []string
	record := wf.NewStep[struct{}]("record")
	w := wf.NewWorkflow("ordered", func(ctx wf.Context, name string) (struct{}, error) {
		return record.Run(ctx, func(context.Context) (struct{}, error) {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, name)
			return struct{}{}, nil
		})
	}, wf.WorkflowQueue("serial"))
	serial := wf.NewQueue("serial", wf.WorkerConcurrency(1))
	var hs []*wf.Handle[struct{}]
	for _, e := range []struct {
		name     string
		priority int
	}{{"a", 5}, {"b", 1}, {"c", 5}, {"d", 0}, {"e", 1}, {"f", 0}} {
		h, err := w.Enqueue(b.ctx, b.client, e.name, wf.WithPriority(e.priority))
		require.NoError(t, err)
		hs = append(hs, h)
	}
	b.start(t, w, record, serial)
	for _, h := range hs {
		_, err := h.Result(b.ctx)
		require.NoError(t, err)
	}
	require.Equal(t, []string{"d", "f", "b", "e", "a", "c"}, order)
}

func TestDedupIDRefusesOrReturnsTheExistingWorkflowWhileItIsUnfinished(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	w := wf.NewWorkflow("report", func(ctx wf.Context, n int) (int, error) { return n, nil })
	first, err := w.Enqueue(b.ctx, b.client, 1, wf.WithDedupID("tenant-7"))
	require.NoError(t, err)

	_, err = w.Enqueue(b.ctx, b.client, 2, wf.WithDedupID("tenant-7"))
	var dup *wf.DuplicateError
	require.ErrorAs(t, err, &dup)
	require.Equal(t, first.ID(), dup.ExistingID)
	require.Equal(t, "default", dup.Queue)

	same, err := w.Enqueue(b.ctx, b.client, 3, wf.WithDedupID("tenant-7", wf.ReturnExisting))
	require.NoError(t, err)
	require.Equal(t, first.ID(), same.ID())
	// Another queue has its own deduplication IDs.
	_, err = w.Enqueue(b.ctx, b.client, 4, wf.WithDedupID("tenant-7"), wf.WithQueue("other"))
	require.NoError(t, err)

	b.start(t, w)
	out, err := first.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, out)
	// Once the first finished, the ID is free again.
	next, err := w.Enqueue(b.ctx, b.client, 5, wf.WithDedupID("tenant-7"))
	require.NoError(t, err)
	require.NotEqual(t, first.ID(), next.ID())
	out, err = next.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 5, out)
}

// perTenant counts the workflows of each tenant (partition) running at once, and keeps the
// most each ever ran, for the tests of per-partition limits.
type perTenant struct {
	mu      sync.Mutex
	running map[string]int
	peak    map[string]int
}

func newPerTenant() *perTenant {
	return &perTenant{running: map[string]int{}, peak: map[string]int{}}
}

func (p *perTenant) begin(tenant string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running[tenant]++
	p.peak[tenant] = max(p.peak[tenant], p.running[tenant])
}

func (p *perTenant) end(tenant string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running[tenant]--
}

// most returns the most workflows each tenant ran at once.
func (p *perTenant) most() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.peak)
}

func TestPartitionConcurrencyRunsOneWorkflowPerTenantAtATime(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	tenants := newPerTenant()
	var now, peak atomic.Int32
	work := wf.NewStep[struct{}]("work")
	w := wf.NewWorkflow("per-tenant", func(ctx wf.Context, tenant string) (struct{}, error) {
		return work.Run(ctx, func(context.Context) (struct{}, error) {
			tenants.begin(tenant)
			n := now.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(30 * time.Millisecond)
			now.Add(-1)
			tenants.end(tenant)
			return struct{}{}, nil
		})
	}, wf.WorkflowQueue("tenants"))
	q := wf.NewQueue("tenants", wf.WorkerConcurrency(10), wf.PartitionConcurrency(1))
	var hs []*wf.Handle[struct{}]
	for i := range 4 {
		for _, tenant := range []string{"acme", "globex", "initech"} {
			h, err := w.Enqueue(b.ctx, b.client, tenant, wf.WithPartitionKey(tenant), wf.WithPriority(i))
			require.NoError(t, err)
			hs = append(hs, h)
		}
	}
	b.start(t, w, work, q)
	for _, h := range hs {
		_, err := h.Result(b.ctx)
		require.NoError(t, err)
	}
	require.Equal(t, map[string]int{"acme": 1, "globex": 1, "initech": 1}, tenants.most())
	require.Greater(t, peak.Load(), int32(1), "different tenants run side by side")
}

// busyTenantScene is a queue limited to one running workflow per tenant, worked four at a
// time, with 400 workflows of the tenant "busy" waiting: more than the head a claim reads
// (200). Each workflow runs a step of a millisecond, and records how many of the busy
// tenant's had finished when a workflow of another tenant (or of none) finished.
type busyTenantScene struct {
	w       *wf.Workflow[string, struct{}]
	work    *wf.Step[struct{}]
	q       *wf.Queue
	tenants *perTenant
	busy    []*wf.Handle[struct{}]

	mu           sync.Mutex
	busyDone     int
	busyDoneWhen []int // busyDone as each of the others finished
}

func newBusyTenantScene(t *testing.T, b *bundle) *busyTenantScene {
	t.Helper()
	sc := &busyTenantScene{tenants: newPerTenant(), work: wf.NewStep[struct{}]("work")}
	sc.w = wf.NewWorkflow("tenant-work", func(ctx wf.Context, tenant string) (struct{}, error) {
		return sc.work.Run(ctx, func(context.Context) (struct{}, error) {
			sc.tenants.begin(tenant)
			time.Sleep(time.Millisecond)
			sc.tenants.end(tenant)
			sc.mu.Lock()
			defer sc.mu.Unlock()
			if tenant == "busy" {
				sc.busyDone++
			} else {
				sc.busyDoneWhen = append(sc.busyDoneWhen, sc.busyDone)
			}
			return struct{}{}, nil
		})
	}, wf.WorkflowQueue("tenants"))
	sc.q = wf.NewQueue("tenants", wf.WorkerConcurrency(4), wf.PartitionConcurrency(1))
	busy := make([]string, 400)
	for i := range busy {
		busy[i] = "busy"
	}
	var err error
	sc.busy, err = sc.w.EnqueueMany(b.ctx, b.client, busy, wf.WithPartitionKey("busy"))
	require.NoError(t, err)
	return sc
}

// requireOthersBeforeTheBacklog waits for the busy tenant's workflows and requires that the
// others, n of them, finished while most of the busy tenant's still waited: claims found them
// behind its backlog, before it shrank to the head a claim reads (200).
func (sc *busyTenantScene) requireOthersBeforeTheBacklog(t *testing.T, b *bundle, n int) {
	t.Helper()
	for _, h := range sc.busy {
		_, err := h.Result(b.ctx)
		require.NoError(t, err)
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	t.Logf("the others finished after %v of the busy tenant's 400", sc.busyDoneWhen)
	require.Len(t, sc.busyDoneWhen, n)
	for _, done := range sc.busyDoneWhen {
		require.Less(t, done, 100, "one of the others finished after %d of the busy tenant's 400", done)
	}
	require.Equal(t, 1, sc.tenants.most()["busy"], "the busy tenant ran within its limit")
}

// Two replicas work a queue limited to one running workflow per tenant, where one tenant's
// backlog is longer than the head a claim reads (200) and the other tenants' workflows wait
// behind it: the claims must reach them through the partitions, and no tenant may ever run
// two at once, on either replica.
func TestOtherTenantsRunBesideOneTenantsLongBacklogWithinTheirLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	sc := newBusyTenantScene(t, b)
	var hs []*wf.Handle[struct{}]
	for i := range 10 {
		tenant := fmt.Sprint("tenant-", i%5)
		h, err := sc.w.Enqueue(b.ctx, b.client, tenant, wf.WithPartitionKey(tenant))
		require.NoError(t, err)
		hs = append(hs, h)
	}
	// A replica of its own: a client with the same executor ID would be this one restarted,
	// and its Start would hand this one's running workflows back.
	replica := wftest.NewClient(t, wf.Config{Schema: b.schema, ExecutorID: "replica-2"})
	require.NoError(t, replica.Register(sc.w, sc.work, sc.q))
	b.start(t, sc.w, sc.work, sc.q)
	wftest.Start(t, replica)
	for _, h := range hs {
		_, err := h.Result(b.ctx)
		require.NoError(t, err)
	}
	sc.requireOthersBeforeTheBacklog(t, b, 10)
	most := sc.tenants.most()
	for tenant, n := range most {
		require.Equal(t, 1, n, "tenant %s ran %d at once", tenant, n)
	}
	require.Len(t, most, 6)
}

// Workflows without a partition key in a partitioned queue are not capped, and must not
// wait behind one tenant's backlog either: those enqueued before any worker declared the
// queue partitioned (the worker's start gives them the empty key) and those enqueued after
// (their insert does) both run while most of the backlog still waits, where before they
// waited until it shrank to the head a claim reads (201 of the 400).
func TestWorkflowsWithoutAKeyRunBesideOneTenantsLongBacklog(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	sc := newBusyTenantScene(t, b)
	free := []string{"free", "free", "free"}
	before, err := sc.w.EnqueueMany(b.ctx, b.client, free)
	require.NoError(t, err)
	b.start(t, sc.w, sc.work, sc.q)
	after, err := sc.w.EnqueueMany(b.ctx, b.client, free)
	require.NoError(t, err)
	for _, h := range slices.Concat(before, after) {
		st, err := h.Status(b.ctx)
		require.NoError(t, err)
		require.Empty(t, st.PartitionKey, "a workflow enqueued without a key shows none")
		_, err = h.Result(b.ctx)
		require.NoError(t, err)
	}
	sc.requireOthersBeforeTheBacklog(t, b, 6)
}

// The empty key reaches every workflow waiting without a key in a partitioned queue: those
// of an upgraded database (migration 0013), and those enqueued, debounced or forked once a
// worker has declared the queue partitioned; not those of other queues, nor finished ones.
func TestWorkflowsWithoutAKeyInAPartitionedQueueGetThePartitionWithoutALimit(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `INSERT INTO %s.queues (name, partition_concurrency) VALUES ('tenants', 1), ('plain', NULL)`)
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries, partition_key) VALUES
		('old-free', 'w', 'enqueued', 'tenants', '{}', 1, NULL),
		('old-keyed', 'w', 'enqueued', 'tenants', '{}', 1, 'acme'),
		('old-done', 'w', 'succeeded', 'tenants', '{}', 1, NULL),
		('old-plain', 'w', 'enqueued', 'plain', '{}', 1, NULL)`)
	// The database as it was before the upgrade.
	b.exec(t, `DELETE FROM %s.migrations WHERE name = '0013_unkeyed_partition'`)
	applied, err := b.client.Migrate(b.ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"0013_unkeyed_partition"}, applied)

	want := map[string]string{"old-free": "", "old-keyed": "acme", "old-done": "NULL", "old-plain": "NULL"}
	w := wf.NewWorkflow("w", func(ctx wf.Context, n int) (int, error) { return n, nil })
	for queue, key := range map[string]string{"tenants": "", "plain": "NULL"} {
		h, err := w.Enqueue(b.ctx, b.client, 1, wf.WithQueue(queue))
		require.NoError(t, err)
		want[h.ID()] = key
		h, err = w.Debounce(b.ctx, b.client, "key-"+queue, 1, time.Hour, 0, wf.WithQueue(queue))
		require.NoError(t, err)
		want[h.ID()] = key
	}
	// A fork into a partitioned queue gets the empty key too.
	forked, err := b.client.ForkWorkflow(b.ctx, "old-plain", wf.ForkOptions{FromStep: 1, Queue: "tenants", ID: "forked"})
	require.NoError(t, err)
	want[forked] = ""
	rows, err := b.pool.Query(b.ctx, fmt.Sprintf(`SELECT id, coalesce(partition_key, 'NULL') FROM %s.workflows`, b.schema))
	require.NoError(t, err)
	keys := map[string]string{}
	for rows.Next() {
		var id, key string
		require.NoError(t, rows.Scan(&id, &key))
		keys[id] = key
	}
	require.NoError(t, rows.Err())
	require.Equal(t, want, keys)
}

func TestRateLimitCapsStartsInEverySlidingWindow(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	w := wf.NewWorkflow("limited", func(ctx wf.Context, n int) (int, error) { return n, nil }, wf.WorkflowQueue("metered"))
	q := wf.NewQueue("metered", wf.WorkerConcurrency(10), wf.RateLimit(3, 500*time.Millisecond))
	b.start(t, w, q)
	ins := make([]int, 9)
	hs, err := w.EnqueueMany(b.ctx, b.client, ins)
	require.NoError(t, err)
	var starts []time.Time
	for _, h := range hs {
		_, err := h.Result(b.ctx)
		require.NoError(t, err)
		st, err := h.Status(b.ctx)
		require.NoError(t, err)
		starts = append(starts, st.StartedAt)
	}
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	for i, s := range starts {
		inWindow := 0
		for _, o := range starts[i:] {
			if o.Sub(s) < 500*time.Millisecond {
				inWindow++
			}
		}
		require.LessOrEqual(t, inWindow, 3, "starts in the window from %s", s)
	}
	require.GreaterOrEqual(t, starts[8].Sub(starts[0]), time.Second, "9 starts at 3 per 500ms span at least two full windows")
}

func TestDelayedWorkflowStartsNotBeforeItsTimeAndWithoutPolling(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{PollInterval: never})
	w := wf.NewWorkflow("later", func(ctx wf.Context, n int) (int, error) { return n, nil })
	b.start(t, w)
	delayed, err := w.Enqueue(b.ctx, b.client, 1, wf.WithDelay(400*time.Millisecond))
	require.NoError(t, err)
	now, err := w.Enqueue(b.ctx, b.client, 2)
	require.NoError(t, err)
	_, err = now.Result(b.ctx)
	require.NoError(t, err)
	st, err := delayed.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, wf.StateEnqueued, st.State, "the delayed workflow waits")
	_, err = delayed.Result(b.ctx)
	require.NoError(t, err)
	st, err = delayed.Status(b.ctx)
	require.NoError(t, err)
	require.GreaterOrEqual(t, st.StartedAt.Sub(st.CreatedAt), 400*time.Millisecond)
}

func TestEnqueueInARolledBackTransactionRunsNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `CREATE TABLE %s.orders (id int PRIMARY KEY)`)
	var runs atomic.Int32
	w := wf.NewWorkflow("fulfil", func(ctx wf.Context, id int) (int, error) { runs.Add(1); return id, nil })
	b.start(t, w)

	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	_, err = tx.Exec(b.ctx, fmt.Sprintf(`INSERT INTO %s.orders VALUES (1)`, b.schema))
	require.NoError(t, err)
	_, err = w.EnqueueTx(b.ctx, b.client, tx, 1, wf.WithID("order-1"))
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(b.ctx))

	tx, err = b.pool.Begin(b.ctx)
	require.NoError(t, err)
	_, err = tx.Exec(b.ctx, fmt.Sprintf(`INSERT INTO %s.orders VALUES (2)`, b.schema))
	require.NoError(t, err)
	committed, err := w.EnqueueTx(b.ctx, b.client, tx, 2, wf.WithID("order-2"))
	require.NoError(t, err)
	require.NoError(t, tx.Commit(b.ctx))

	_, err = committed.Result(b.ctx)
	require.NoError(t, err)
	_, err = w.Get(b.client, "order-1").Status(b.ctx)
	require.ErrorIs(t, err, wf.ErrNotFound)
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.orders`))
	require.EqualValues(t, 1, runs.Load())
}

func TestGracefulStopHandsWorkToAnotherReplicaAtOnce(t *testing.T) {
	t.Parallel()
	// A lease far longer than the test: anything resumed elsewhere was handed over, not
	// taken over after the lease expired.
	cfg := wf.Config{LeaseDuration: 10 * time.Minute, PollInterval: never}
	b := setup(t, cfg)
	entered := make(chan struct{}, 10)
	var runs sync.Map
	w, defs := blockingWorkflow("handed-over", entered, &runs)
	require.NoError(t, b.client.Register(defs...))
	require.NoError(t, b.client.Start(b.ctx))
	h, err := w.Enqueue(b.ctx, b.client, 1)
	require.NoError(t, err)
	<-entered

	cfg.Schema, cfg.ExecutorID = b.schema, "other-replica"
	other := wftest.NewClient(t, cfg)
	w2, defs2 := blockingWorkflow("handed-over", nil, &runs)
	require.NoError(t, other.Register(defs2...))
	wftest.Start(t, other)

	stopCtx, cancel := context.WithTimeout(b.ctx, 20*time.Millisecond)
	defer cancel()
	require.Error(t, b.client.Stop(stopCtx))
	out, err := w2.Get(other, h.ID()).Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 21, out)
	st, err := h.Status(b.ctx)
	require.NoError(t, err)
	require.Equal(t, "other-replica", st.ExecutorID)
	require.Zero(t, st.Recoveries, "a hand-over is not a recovery")
	require.Equal(t, 1, runsOf(&runs, "a"), "completed steps did not run again")
}

func TestEnqueueWakesAnIdleWorkerWithoutPolling(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{PollInterval: never})
	w := wf.NewWorkflow("woken", func(ctx wf.Context, n int) (int, error) { return n + 1, nil })
	b.start(t, w)
	// Idle: its first fetch found nothing. Then another client enqueues.
	time.Sleep(50 * time.Millisecond)
	api, err := wf.NewClient(b.pool, wf.Config{Schema: b.schema})
	require.NoError(t, err)
	defer api.Stop(b.ctx)
	h, err := w.Enqueue(b.ctx, api, 1)
	require.NoError(t, err)
	out, err := h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 2, out)

	// In a caller's transaction, the worker hears of it when the transaction commits.
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	h, err = w.EnqueueTx(b.ctx, api, tx, 10)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(b.ctx))
	out, err = h.Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 11, out)
}

func TestPollingFindsWorkWhoseNotificationWasLost(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{PollInterval: 100 * time.Millisecond})
	w := wf.NewWorkflow("unannounced", func(ctx wf.Context, n int) (int, error) { return n * 3, nil })
	b.start(t, w)
	time.Sleep(50 * time.Millisecond)
	// Stored without the runtime, so without a notification.
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries)
		VALUES ('silent', 'unannounced', 'enqueued', 'default', '7', 10)`)
	out, err := w.Get(b.client, "silent").Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 21, out)
}

func TestQueueDepthsExecutorsAndListingShowWhoRunsWhat(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{ExecutorID: "observed"})
	entered := make(chan struct{}, 10)
	var runs sync.Map
	w, defs := blockingWorkflow("observable", entered, &runs)
	require.NoError(t, b.client.Register(defs...))
	wftest.Start(t, b.client)
	running, err := w.Enqueue(b.ctx, b.client, 1)
	require.NoError(t, err)
	<-entered
	_, err = w.Enqueue(b.ctx, b.client, 2, wf.WithDelay(time.Hour))
	require.NoError(t, err)
	_, err = w.Enqueue(b.ctx, b.client, 3, wf.WithQueue("unserved"))
	require.NoError(t, err)

	depths, err := b.client.QueueDepths(b.ctx)
	require.NoError(t, err)
	require.Equal(t, []wf.QueueDepth{
		{Queue: "default", Delayed: 1, Running: 1},
		{Queue: "unserved", Enqueued: 1},
	}, depths)

	execs, err := b.client.Executors(b.ctx)
	require.NoError(t, err)
	require.Len(t, execs, 1)
	require.Equal(t, "observed", execs[0].ID)
	require.True(t, execs[0].Alive)
	require.Equal(t, 1, execs[0].Running)

	list, err := b.client.ListWorkflows(b.ctx, wf.ListOptions{State: wf.StateRunning})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, running.ID(), list[0].ID)
	require.Equal(t, "observed", list[0].ExecutorID)
	all, err := b.client.ListWorkflows(b.ctx, wf.ListOptions{Workflow: "observable", Limit: 2})
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.NoError(t, running.Cancel(b.ctx))
}

func TestExecutorsStoppedForADayAreForgotten(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{LeaseDuration: time.Second, HeartbeatInterval: 100 * time.Millisecond})
	b.exec(t, `INSERT INTO %s.executors (id, hostname, pid, lease_expires_at, stopped_at)
		VALUES ('long-gone', 'h', 1, now() - interval '2 days', now() - interval '2 days'),
		       ('recently-gone', 'h', 2, now() - interval '1 hour', now() - interval '1 hour')`)
	b.start(t)
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM %s.executors WHERE id = 'long-gone'`) == 0
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.executors WHERE id = 'recently-gone'`))
}

func TestAWorkflowNoLiveExecutorCanRunIsReportedByStatusQueueDepthsAndAWarning(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{ExecutorID: "v1-worker"})
	entered := make(chan struct{}, 1)
	wait := wf.NewStep[int]("wait")
	version := func(hash string) *wf.Workflow[int, int] {
		return wf.NewWorkflow("versioned", func(ctx wf.Context, in int) (int, error) {
			return wait.Run(ctx, func(sctx context.Context) (int, error) {
				if hash == "v1" && ctx.Attempt() == 1 { // interrupted by Stop on its first run
					entered <- struct{}{}
					<-sctx.Done()
					return 0, sctx.Err()
				}
				return in, nil
			})
		}, wf.CodeHash(hash))
	}
	ghost := wf.NewWorkflow("ghost", func(ctx wf.Context, _ struct{}) (int, error) { return 0, nil })

	// A v1 workflow starts, and its worker stops: it is handed back with hash v1.
	v1 := version("v1")
	b.start(t, v1, wait)
	started, err := v1.Start(b.ctx, b.client, 4)
	require.NoError(t, err)
	<-entered
	stopCtx, cancel := context.WithTimeout(b.ctx, 20*time.Millisecond)
	defer cancel()
	_ = b.client.Stop(stopCtx)

	// Only v2 is deployed now, and nobody registers ghost.
	logger, logs := recordLogs(t)
	v2 := version("v2")
	next := wftest.NewClient(t, wf.Config{Schema: b.schema, ExecutorID: "v2-worker", Logger: logger,
		LeaseDuration: time.Second, HeartbeatInterval: 50 * time.Millisecond})
	require.NoError(t, next.Register(v2, wait))
	wftest.Start(t, next)
	lost, err := ghost.Enqueue(b.ctx, next, struct{}{})
	require.NoError(t, err)
	later, err := ghost.Enqueue(b.ctx, next, struct{}{}, wf.WithDelay(time.Hour))
	require.NoError(t, err)
	fresh, err := v2.Enqueue(b.ctx, next, 5)
	require.NoError(t, err)
	_, err = fresh.Result(b.ctx)
	require.NoError(t, err)

	// Status says why each waits.
	wrongHash := `no live executor runs workflow "versioned" with code hash v1 (live executors have: v2 on v2-worker)`
	notRegistered := `no live executor has registered workflow "ghost"`
	for h, want := range map[*wf.Handle[int]]string{started: wrongHash, lost: notRegistered, later: "", fresh: ""} {
		st, err := h.Status(b.ctx)
		require.NoError(t, err)
		require.Equal(t, want, st.Waiting, "%s (%s)", st.ID, st.State)
	}
	list, err := next.ListWorkflows(b.ctx, wf.ListOptions{State: wf.StateEnqueued})
	require.NoError(t, err)
	waiting := map[string]string{}
	for _, st := range list {
		waiting[st.ID] = st.Waiting
	}
	require.Equal(t, map[string]string{started.ID(): wrongHash, lost.ID(): notRegistered, later.ID(): ""}, waiting)

	// QueueDepths counts them apart.
	depths, err := next.QueueDepths(b.ctx)
	require.NoError(t, err)
	require.Equal(t, []wf.QueueDepth{{Queue: "default", Delayed: 1, Unrunnable: 2}}, depths)

	// The worker of their queue warns about each once.
	const warning = "wfgen: workflows are waiting that no live executor can run: start a worker that registers them"
	require.Eventually(t, func() bool { return len(logs.find(slog.LevelWarn, warning)) == 2 }, 10*time.Second, 20*time.Millisecond)
	time.Sleep(20 * 50 * time.Millisecond) // four more looks
	require.ElementsMatch(t, []map[string]string{
		{"workflow": "ghost", "code_hash": "", "queue": "default", "waiting": "1", "reason": notRegistered},
		{"workflow": "versioned", "code_hash": "v1", "queue": "default", "waiting": "1", "reason": `no live executor runs workflow "versioned" with code hash v1`},
	}, logs.find(slog.LevelWarn, warning))

	// A v1 worker resumes its workflow: nothing waits for want of an executor any more.
	v1again := version("v1")
	old := wftest.NewClient(t, wf.Config{Schema: b.schema, ExecutorID: "v1-again"})
	require.NoError(t, old.Register(v1again, wait, ghost))
	wftest.Start(t, old)
	out, err := v1again.Get(old, started.ID()).Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 4, out)
	_, err = ghost.Get(old, lost.ID()).Result(b.ctx)
	require.NoError(t, err)
	st, err := later.Status(b.ctx)
	require.NoError(t, err)
	require.Empty(t, st.Waiting)
	depths, err = next.QueueDepths(b.ctx)
	require.NoError(t, err)
	require.Equal(t, []wf.QueueDepth{{Queue: "default", Delayed: 1}}, depths)
}

func TestAWorkflowsQueueThatNoRegisteredQueueDeclaresIsWarnedAboutOnce(t *testing.T) {
	t.Parallel()
	logger, logs := recordLogs(t)
	b := setup(t, wf.Config{Logger: logger})
	noop := func(ctx wf.Context, _ struct{}) (struct{}, error) { return struct{}{}, nil }
	// "email-report" is a typo of the declared "email-reports": its limit would be dropped.
	typo := wf.NewWorkflow("typo", noop, wf.WorkflowQueue("email-report"))
	typoToo := wf.NewWorkflow("typo-too", noop, wf.WorkflowQueue("email-report"))
	declared := wf.NewWorkflow("declared", noop, wf.WorkflowQueue("email-reports"))
	plain := wf.NewWorkflow("plain", noop) // the default queue needs no declaration
	b.start(t, typo, typoToo, declared, plain, wf.NewQueue("email-reports", wf.GlobalConcurrency(4)))

	require.Equal(t, []map[string]string{{
		"queue": "email-report", "workflows": "[typo typo-too]", "declared_queues": "[email-reports]",
		"fix": "register the wf.Queue that declares it (wf.NewQueue), or correct the workflow's queue name",
	}}, logs.find(slog.LevelWarn, "wfgen: a workflow's queue is declared by no registered wf.Queue: serving it with the defaults, without limits"))
	// It is still served.
	h, err := typo.Enqueue(b.ctx, b.client, struct{}{})
	require.NoError(t, err)
	_, err = h.Result(b.ctx)
	require.NoError(t, err)
}

func TestAWorkerOnASmallPoolIsWarned(t *testing.T) {
	t.Parallel()
	start := func(maxConns int32) []map[string]string {
		cfg, err := pgxpool.ParseConfig(os.Getenv("DATABASE_URL"))
		require.NoError(t, err)
		cfg.MaxConns = maxConns
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		logger, logs := recordLogs(t)
		c, err := wf.NewClient(pool, wf.Config{Schema: wftest.Schema(t), Logger: logger})
		require.NoError(t, err)
		w := wf.NewWorkflow("small-pool", func(ctx wf.Context, n int) (int, error) { return n, nil })
		require.NoError(t, c.Register(w, wf.NewQueue("other"), wf.NewWorkflow("other-queue", func(ctx wf.Context, n int) (int, error) { return n, nil }, wf.WorkflowQueue("other"))))
		wftest.Start(t, c)
		return logs.find(slog.LevelWarn, "wfgen: the pool is small for a worker: renewals of the lease may wait behind steps for a connection, and the lease expire")
	}
	warned := start(4) // pgxpool's default on a machine of up to four CPUs
	require.Len(t, warned, 1)
	require.Equal(t, "4", warned[0]["max_conns"])
	require.Equal(t, "6", warned[0]["at_least"], "two queues, and the runtime's own")
	require.Empty(t, start(20))
}

// Under a backlog a worker claims from just after the last workflow it claimed, not from
// the queue's head (see DequeueWorkflows). A more urgent workflow is still claimed at once,
// and one that becomes available behind that position (here: enqueued by a transaction that
// began before the backlog) is claimed by the head read of the next poll interval, long
// before the backlog is done.
func TestABusyWorkerStillClaimsWhatIsUrgentAtOnceAndWhatIsBehindItWithinAPollInterval(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{PollInterval: 200 * time.Millisecond})
	var mu sync.Mutex
	var started []string
	step := wf.NewStep[struct{}]("work")
	w := wf.NewWorkflow("job", func(ctx wf.Context, name string) (struct{}, error) {
		return step.Run(ctx, func(context.Context) (struct{}, error) {
			mu.Lock()
			started = append(started, name)
			mu.Unlock()
			time.Sleep(10 * time.Millisecond)
			return struct{}{}, nil
		})
	}, wf.WorkflowQueue("busy"))
	const backlog = 300
	startedCount := func() int { mu.Lock(); defer mu.Unlock(); return len(started) }

	// A transaction that begins now enqueues at its start time, before the backlog's.
	early, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer early.Rollback(b.ctx) //nolint:errcheck // a no-op after Commit
	_, err = early.Exec(b.ctx, "SELECT now()")
	require.NoError(t, err)
	time.Sleep(5 * time.Millisecond)

	names := make([]string, backlog)
	for i := range names {
		names[i] = fmt.Sprintf("backlog-%03d", i)
	}
	hs, err := w.EnqueueMany(b.ctx, b.client, names, wf.WithPriority(5))
	require.NoError(t, err)
	b.start(t, w, step, wf.NewQueue("busy", wf.WorkerConcurrency(2)))
	require.Eventually(t, func() bool { return startedCount() >= 10 }, 30*time.Second, time.Millisecond)

	// Urgent: a lower priority number than the backlog's. Whatever was claimed before its
	// commit may still start first: one claim in flight and the slots' launches, two each;
	// and the claim that takes it may take a backlog workflow beside it, whose goroutine
	// can reach its step first. Counted from the commit (Enqueue's return): on a loaded
	// machine the call itself outlasts several of these 10ms workflows.
	urgent, err := w.Enqueue(b.ctx, b.client, "urgent", wf.WithPriority(0))
	require.NoError(t, err)
	before := startedCount()
	_, err = urgent.Result(b.ctx)
	require.NoError(t, err)
	mu.Lock()
	at := slices.Index(started, "urgent")
	mu.Unlock()
	require.LessOrEqual(t, at-before, 5, "backlog workflows started between the urgent one's enqueue and its start")

	// Behind: the early transaction's workflow, of the backlog's priority, comes before all
	// of the backlog in queue order, but after the worker's claim position.
	behind, err := w.EnqueueTx(b.ctx, b.client, early, "behind", wf.WithPriority(5))
	require.NoError(t, err)
	require.NoError(t, early.Commit(b.ctx))
	_, err = behind.Result(b.ctx)
	require.NoError(t, err)
	require.Less(t, startedCount(), backlog, "the workflow behind the claim position waited for the whole backlog")

	for _, h := range hs {
		_, err := h.Result(b.ctx)
		require.NoError(t, err)
	}
	require.Len(t, started, backlog+2)
}

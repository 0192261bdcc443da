package wf_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wftest"
)

// tickRecorder is a scheduled workflow that records each tick it runs for.
func tickRecorder(b *bundle) *wf.Workflow[wf.Tick, struct{}] {
	return tickRecorderOn(b.pool, b.schema)
}

func tickRecorderOn(pool *pgxpool.Pool, schema string) *wf.Workflow[wf.Tick, struct{}] {
	record := wf.NewStep[struct{}]("record")
	return wf.NewWorkflow("ticker", func(ctx wf.Context, tick wf.Tick) (struct{}, error) {
		return record.Run(ctx, func(sctx context.Context) (struct{}, error) {
			_, err := pool.Exec(sctx, fmt.Sprintf(`INSERT INTO %s.ticks (tick, workflow_id) VALUES ($1, $2)`, schema), tick.Time, ctx.WorkflowID())
			return struct{}{}, err
		})
	})
}

func tickerRole(pool *pgxpool.Pool, schema string, _ *wf.Config) []wf.Definition {
	w := tickRecorderOn(pool, schema)
	return []wf.Definition{w, wf.NewSchedule(w, "@every 1s")}
}

func TestScheduleFiresOncePerTickWhenAReplicaIsKilledAndReplaced(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `CREATE TABLE %s.ticks (tick timestamptz, workflow_id text)`)
	first := startHelper(t, "ticker", helperEnv(b.schema, "ticker-1")...)
	second := startHelper(t, "ticker", helperEnv(b.schema, "ticker-2")...)
	ticks := func() int { return b.count(t, `SELECT count(*) FROM %s.ticks`) }
	require.Eventually(t, func() bool { return ticks() >= 2 }, 30*time.Second, 50*time.Millisecond)
	first.kill(t) // SIGKILL one replica
	replacement := startHelper(t, "ticker", helperEnv(b.schema, "ticker-3")...)
	seen := ticks()
	require.Eventually(t, func() bool { return ticks() >= seen+3 }, 30*time.Second, 50*time.Millisecond)
	second.stop(t)
	replacement.stop(t)

	require.Equal(t, b.count(t, `SELECT count(DISTINCT tick) FROM %s.ticks`), ticks(), "a tick ran more than once")
	// One replica was up all along: every second between the first and the last tick fired.
	require.Zero(t, b.count(t, `SELECT count(*) FROM generate_series(
			(SELECT min(tick) FROM %[1]s.ticks), (SELECT max(tick) FROM %[1]s.ticks), interval '1 second') s
		WHERE NOT EXISTS (SELECT 1 FROM %[1]s.workflows w WHERE w.id = 'ticker@' || to_char(s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))`), "a tick was skipped")
}

func TestScheduleFiresOncePerTickAcrossReplicas(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `CREATE TABLE %s.ticks (tick timestamptz, workflow_id text)`)
	ticker := tickRecorder(b)
	every := wf.NewSchedule(ticker, "@every 1s")
	for i := range 3 {
		replica := wftest.NewClient(t, wf.Config{Schema: b.schema, ExecutorID: fmt.Sprintf("replica-%d", i)})
		require.NoError(t, replica.Register(ticker, every))
		wftest.Start(t, replica)
	}
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM %s.ticks`) >= 3
	}, 20*time.Second, 50*time.Millisecond)
	time.Sleep(1500 * time.Millisecond) // let the replicas race on a few more ticks
	runs := b.count(t, `SELECT count(*) FROM %s.ticks`)
	ticks := b.count(t, `SELECT count(DISTINCT tick) FROM %s.ticks`)
	require.Equal(t, ticks, runs, "a tick ran more than once")
	// Ticks are whole seconds, one per second, and the workflow ID names the tick.
	require.Zero(t, b.count(t, `SELECT count(*) FROM %s.ticks WHERE date_trunc('second', tick) <> tick
		OR workflow_id <> 'ticker@' || to_char(tick AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`))
}

func TestScheduleBackfillsTicksMissedWhileDown(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `CREATE TABLE %s.ticks (tick timestamptz, workflow_id text)`)
	ticker := tickRecorder(b)
	// Nothing ran for the last few seconds; a worker starting now backfills 3s of ticks.
	c := wftest.NewClient(t, wf.Config{Schema: b.schema})
	require.NoError(t, c.Register(ticker, wf.NewSchedule(ticker, "@every 1s", wf.ScheduleBackfill(3*time.Second))))
	before := time.Now()
	wftest.Start(t, c)
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM %s.ticks WHERE tick <= $1`, before) >= 2
	}, 20*time.Second, 50*time.Millisecond, "missed ticks were not backfilled")
}

func TestScheduleRunsEveryTickMissedWhileTheDatabaseWasUnreachable(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `CREATE TABLE %s.ticks (tick timestamptz, workflow_id text)`)
	// The only worker reaches the database through a proxy that the test cuts. Its lease
	// outlasts the outage: this test is about ticks, not takeovers.
	pool, proxy := proxiedPool(t)
	var logs logWatch
	c, err := wf.NewClient(pool, wf.Config{Schema: b.schema, PollInterval: 50 * time.Millisecond, LeaseDuration: time.Minute, Logger: logs.logger(wftest.Logger(t))})
	require.NoError(t, err)
	ticker := tickRecorder(b) // records through the test's own pool, which is never cut
	require.NoError(t, c.Register(ticker, wf.NewSchedule(ticker, "@every 1s")))
	wftest.Start(t, c)
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM %s.ticks`) >= 2
	}, 30*time.Second, 50*time.Millisecond)

	proxy.Cut()
	cutAt := time.Now()
	// The database is unreachable for at least 3.5s, so at least three ticks fall in the
	// outage, and for as long as it takes the worker to fail to enqueue one.
	require.Eventually(t, func() bool {
		return logs.count("enqueueing a scheduled workflow failed") > 0
	}, 30*time.Second, 50*time.Millisecond)
	time.Sleep(time.Until(cutAt.Add(3500 * time.Millisecond)))
	restoredAt := time.Now()
	proxy.Restore()

	// Wait until the ticks run cover the outage without a gap.
	gaps := func() int {
		return b.count(t, `SELECT count(*) FROM generate_series(
				(SELECT min(tick) FROM %[1]s.ticks), (SELECT max(tick) FROM %[1]s.ticks), interval '1 second') s
			WHERE NOT EXISTS (SELECT 1 FROM %[1]s.ticks t WHERE t.tick = s)`)
	}
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM %s.ticks WHERE tick > $1`, restoredAt) > 0 && gaps() == 0
	}, 45*time.Second, 50*time.Millisecond, "a tick that fell while the database was unreachable did not run")
	require.NoError(t, c.Stop(b.ctx))

	require.GreaterOrEqual(t, b.count(t, `SELECT count(*) FROM %s.ticks WHERE tick > $1 AND tick < $2`, cutAt, restoredAt), 3,
		"the ticks of the outage ran")
	require.Zero(t, gaps())
	require.Equal(t, b.count(t, `SELECT count(DISTINCT tick) FROM %s.ticks`), b.count(t, `SELECT count(*) FROM %s.ticks`), "a tick ran more than once")
	require.Zero(t, b.count(t, `SELECT count(*) FROM %s.ticks WHERE workflow_id <> 'ticker@' || to_char(tick AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`))
	require.Zero(t, logs.count("giving up"))
}

func TestBadScheduleIsReportedByRegister(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	ticker := tickRecorder(b)
	err := b.client.Register(ticker, wf.NewSchedule(ticker, "0 3 * *"))
	require.ErrorContains(t, err, `cron spec "0 3 * *"`)
	require.ErrorContains(t, err, "use five fields")
	err = b.client.Register(wf.NewSchedule(ticker, "@daily", wf.ScheduleTimezone("Mars/Olympus")))
	require.ErrorContains(t, err, `time zone "Mars/Olympus"`)
}

func TestTriggeringATickTwiceRunsItOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `CREATE TABLE %s.ticks (tick timestamptz, workflow_id text)`)
	ticker := tickRecorder(b)
	daily := wf.NewSchedule(ticker, "0 3 * * *", wf.ScheduleTimezone("Europe/Paris"))
	b.start(t, ticker, daily)

	at := time.Date(2026, 3, 1, 3, 0, 0, 500_000_000, time.FixedZone("Paris", 3600))
	id, err := daily.Trigger(b.ctx, b.client, at)
	require.NoError(t, err)
	require.Equal(t, "ticker@2026-03-01T02:00:00Z", id, "the scheduler's ID for the tick: its UTC time, to the second")
	_, err = ticker.Get(b.client, id).Result(b.ctx)
	require.NoError(t, err)
	again, err := daily.Trigger(b.ctx, b.client, at.Add(-400*time.Millisecond).UTC())
	require.NoError(t, err)
	require.Equal(t, id, again, "the same tick, given in another zone and within the second")
	_, err = ticker.Get(b.client, again).Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.ticks`))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.ticks WHERE tick = '2026-03-01T02:00:00Z' AND workflow_id = $1`, id),
		"the run's tick is the triggered time, truncated to the second")
}

func TestATriggeredTickAndTheSchedulersTickOfTheSameTimeAreOneRun(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `CREATE TABLE %s.ticks (tick timestamptz, workflow_id text)`)
	ticker := tickRecorder(b)
	every := wf.NewSchedule(ticker, "@every 1s")

	// A client that only enqueues (b.client is not started) triggers a tick the worker's
	// scheduler has not fired yet; the run starts at once, and the scheduler fires that tick
	// when it comes, and finds the run.
	worker := wftest.NewClient(t, wf.Config{Schema: b.schema, ExecutorID: "ticker"})
	require.NoError(t, worker.Register(ticker, every))
	wftest.Start(t, worker)
	ahead := time.Now().Truncate(time.Second).Add(2 * time.Second)
	id, err := every.Trigger(b.ctx, b.client, ahead)
	require.NoError(t, err)
	tickRuns := func(tick time.Time) int {
		return b.count(t, `SELECT count(*) FROM %s.ticks WHERE tick = $1`, tick)
	}
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM %s.ticks WHERE tick > $1`, ahead) >= 2
	}, 30*time.Second, 50*time.Millisecond, "the scheduler fires the ticks after the triggered one")
	require.Equal(t, 1, tickRuns(ahead), "the triggered tick ran once")
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM %s.workflows WHERE id = $1`, id))

	// Triggering a tick the scheduler fired returns its run.
	var fired time.Time
	require.NoError(t, b.pool.QueryRow(b.ctx, fmt.Sprintf(`SELECT max(tick) FROM %s.ticks`, b.schema)).Scan(&fired))
	again, err := every.Trigger(b.ctx, b.client, fired)
	require.NoError(t, err)
	require.Equal(t, "ticker@"+fired.UTC().Format(time.RFC3339), again)
	_, err = ticker.Get(b.client, again).Result(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, tickRuns(fired))
	require.Equal(t, b.count(t, `SELECT count(DISTINCT tick) FROM %s.ticks`), b.count(t, `SELECT count(*) FROM %s.ticks`), "a tick ran more than once")
}

func TestTriggeringABadScheduleReportsItsError(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	ticker := tickRecorder(b)
	_, err := wf.NewSchedule(ticker, "0 3 * *").Trigger(b.ctx, b.client, time.Now())
	require.ErrorContains(t, err, `cron spec "0 3 * *"`)
}

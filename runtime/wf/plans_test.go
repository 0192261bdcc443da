package wf_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/internal/db"
	"github.com/wfgen/wfgen/runtime/internal/dbschema"
	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wftest"
)

// explainer stands in for the database under the sqlc queries: it plans each statement
// (EXPLAIN, which runs nothing) with the arguments it was given, and keeps the plan.
type explainer struct {
	conn *pgxpool.Conn
	plan []byte
}

var errExplained = errors.New("explained, not run")

func (e *explainer) explain(ctx context.Context, sql string, args ...any) error {
	defer e.conn.Exec(ctx, "DEALLOCATE wfgen_explained") //nolint:errcheck // a later PREPARE would say
	plan, err := explainPrepared(ctx, e.conn, "EXPLAIN (FORMAT JSON)", sql, args)
	if err != nil {
		return err
	}
	e.plan = plan
	return errExplained
}

// explainPrepared prepares sql and explains its EXECUTE with args, so that plan_cache_mode
// decides between its custom and generic plans as it does for the runtime's own prepared
// statements (an EXPLAIN sent with parameters is always planned with their values). conn
// may be in a transaction.
func explainPrepared(ctx context.Context, conn interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	QueryRow(context.Context, string, ...any) pgx.Row
}, explain, sql string, args []any) ([]byte, error) {
	if _, err := conn.Exec(ctx, "PREPARE wfgen_explained AS "+sql); err != nil {
		return nil, err
	}
	return explainExecute(ctx, conn, explain, "wfgen_explained", args)
}

// explainExecute explains the EXECUTE of the prepared statement name with args.
func explainExecute(ctx context.Context, conn interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, explain, name string, args []any) ([]byte, error) {
	params := make([]string, len(args))
	for i := range params {
		params[i] = fmt.Sprintf("$%d", i+1)
	}
	// EXECUTE takes no bind parameters: the simple protocol writes the values in (JSON
	// as text, not as the bytea literal it would make of []byte).
	values := []any{pgx.QueryExecModeSimpleProtocol}
	for _, a := range args {
		if b, ok := a.([]byte); ok {
			a = string(b)
		}
		values = append(values, a)
	}
	execute := " EXECUTE " + name
	if len(params) > 0 {
		execute += "(" + strings.Join(params, ", ") + ")"
	}
	var plan []byte
	err := conn.QueryRow(ctx, explain+execute, values...).Scan(&plan)
	return plan, err
}

// explainFunc stands in for the database under the sqlc queries: every statement they
// send goes to it (an explainer's, an analyzer's or a genericPlans' explain), which returns
// errExplained once it has kept the plan.
type explainFunc func(ctx context.Context, sql string, args ...any) error

func (f explainFunc) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return pgconn.CommandTag{}, f(ctx, sql, args...)
}

func (f explainFunc) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return nil, f(ctx, sql, args...)
}

func (f explainFunc) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return errRow{f(ctx, sql, args...)}
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// workflowScans returns how the plan reads the workflows table: the index of each scan of
// it ("" for a sequential scan, "ctid" for a scan by row address).
func workflowScans(t *testing.T, plan []byte) []string {
	t.Helper()
	return relationScans(t, plan, "workflows")
}

// relationScans returns the index of each scan of the table in the plan ("" for a
// sequential scan, "ctid" for a TID scan: rows reached by their address, as a claim
// updates the rows it locked).
func relationScans(t *testing.T, plan []byte, table string) []string {
	t.Helper()
	var root []struct{ Plan map[string]any }
	require.NoError(t, json.Unmarshal(plan, &root))
	var scans []string
	var walk func(n map[string]any, onTable bool)
	walk = func(n map[string]any, onTable bool) {
		switch {
		case n["Node Type"] == "Bitmap Heap Scan" && n["Relation Name"] == table:
			onTable = true // its bitmap index scans below name the index
		case n["Node Type"] == "Bitmap Index Scan":
			if onTable {
				scans = append(scans, n["Index Name"].(string))
			}
		case n["Node Type"] == "Tid Scan" && n["Relation Name"] == table:
			scans = append(scans, "ctid")
		case n["Relation Name"] == table && n["Node Type"] != "ModifyTable":
			idx, _ := n["Index Name"].(string)
			scans = append(scans, idx)
		}
		children, _ := n["Plans"].([]any)
		for _, c := range children {
			walk(c.(map[string]any), onTable && n["Node Type"] != "Bitmap Heap Scan" || n["Node Type"] == "Bitmap Heap Scan" && onTable)
		}
	}
	walk(root[0].Plan, false)
	return scans
}

// The hot statements must reach workflow rows through the primary key (or, for claims and
// the periodic look for unrunnable work, the queue's index) whatever the statistics say. The scene is the one that made the
// checkpoint write fall off a cliff: statistics taken while nothing ran say that no
// workflow is running, and then thousands are.
func TestHotStatementsReachWorkflowsThroughTheirKeysWhateverTheStatistics(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries, attempt, executor_id, completed_at)
		SELECT 'done-' || i, 'w', 'succeeded', 'q', '{}', 1, 1, 'e' || (i %% 3), now() FROM generate_series(1, 200000) i`)
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries)
		SELECT 'queued-' || i, 'w', 'enqueued', 'idle', '{}', 1 FROM generate_series(1, 5000) i`)
	b.exec(t, `ANALYZE %s.workflows`)
	b.exec(t, `ANALYZE %s.messages`) // empty: stale once the messages below are sent
	b.exec(t, `UPDATE %s.workflows SET state = 'running', completed_at = NULL WHERE id IN (SELECT 'done-' || i FROM generate_series(1, 3000) i)`)
	b.exec(t, `INSERT INTO %s.messages (destination_id, topic, payload)
		SELECT 'done-' || (i %% 3000 + 1), 't', '{}' FROM generate_series(1, 100000) i`)
	// Statistics of the steps taken while ten workflows had 100 steps each, then a step for
	// each of 200,000 workflows: each history looks like a tenth of the table.
	b.exec(t, `INSERT INTO %s.steps (workflow_id, step_id, name, output, attempt, tries, started_at)
		SELECT 'early-' || (i %% 10), i, 's', '1', 1, 1, now() FROM generate_series(1, 1000) i`)
	b.exec(t, `ANALYZE %s.steps`)
	b.exec(t, `INSERT INTO %s.steps (workflow_id, step_id, name, output, attempt, tries, started_at)
		SELECT 'done-' || i, 1, 's', '1', 1, 1, now() FROM generate_series(1, 200000) i`)

	conn, err := b.pool.Acquire(b.ctx)
	require.NoError(t, err)
	defer conn.Release()
	ex := &explainer{conn: conn}
	q := db.New(dbschema.NewRewriter(b.schema).Wrap(explainFunc(ex.explain)))

	ids := make([]string, 500)
	attempts := make([]int32, 500)
	tokens := make([]int64, 500) // the seeded rows' claim token, 0
	for i := range ids {
		ids[i], attempts[i] = fmt.Sprintf("done-%d", i+1), 1
	}
	strs := func(s string) []string {
		out := make([]string, len(ids))
		for i := range out {
			out[i] = s
		}
		return out
	}
	executor := "e1"
	statements := map[string]struct {
		run  func() error
		want string // the index every scan of workflows must use ("a|b": one of them; "-": no scan)
		// The same for other tables, by name.
		others map[string]string
	}{
		"LoadStepsOf": {func() error {
			_, err := q.LoadStepsOf(b.ctx, ids)
			return err
		}, "-", map[string]string{"steps": "steps_pkey"}},
		"WriteCheckpoints": {func() error {
			stepIDs := make([]int32, len(ids))
			started := make([]time.Time, len(ids))
			consumes := make([]int64, len(ids)) // every other step a Recv's, of a message by its seq
			topics := make([]string, len(ids))
			waitingFor := make([]string, len(ids))
			var awaitParents, awaitChildren []string
			for i := range consumes {
				consumes[i] = int64(i+1) * int64(i%2)
				topics[i] = []string{"", "t"}[i%2]
				waitingFor[i] = []string{"child", "recv:t"}[i%2]
				if i%2 == 0 { // an Await's, of two children
					awaitParents = append(awaitParents, ids[i], ids[i])
					awaitChildren = append(awaitChildren, fmt.Sprintf("done-%d", 1000+i), fmt.Sprintf("done-%d", 2000+i))
				}
			}
			_, err := q.WriteCheckpoints(b.ctx, db.WriteCheckpointsParams{
				StepWorkflowIds: ids, StepIds: stepIDs, StepNames: strs("s"), StepOutputs: strs("1"), StepErrors: strs(""),
				StepAttempts: attempts, StepClaimTokens: tokens, StepTries: attempts, StepStartedAt: started, StepConsumes: consumes,
				DoneIds: ids, DoneAttempts: attempts, DoneClaimTokens: tokens, DoneStates: strs("succeeded"), DoneOutputs: strs("1"), DoneErrors: strs(""),
				DoneAfterSteps: stepIDs,
				// And as many suspensions, every other one a Recv's, the others Awaits'.
				SuspendIds: ids, SuspendAttempts: attempts, SuspendClaimTokens: tokens, SuspendAvailableAt: started,
				SuspendWaitingFor: waitingFor, SuspendTopics: topics, AwaitParentIds: awaitParents, AwaitChildIds: awaitChildren,
			})
			return err
		}, "workflows_pkey", map[string]string{"messages": "messages_pkey|messages_pending"}}, // and the messages that Recvs consume, or that keep them from suspending
		"ReleaseWorkflows": {func() error {
			return q.ReleaseWorkflows(b.ctx, db.ReleaseWorkflowsParams{Ids: ids, Attempts: attempts, ClaimTokens: tokens, ExecutorID: executor, Channel: "c"})
		}, "workflows_pkey", nil},
		"PeekMessage": {func() error {
			_, err := q.PeekMessage(b.ctx, db.PeekMessageParams{WorkflowID: "done-1", Topic: "t"})
			return err
		}, "-", map[string]string{"messages": "messages_pending"}},
		"SendMessages": {func() error {
			_, err := q.SendMessages(b.ctx, db.SendMessagesParams{DestinationIds: ids, Payloads: strs("1"), IdempotencyKeys: strs(""), Topic: "t"})
			return err
		}, "workflows_pkey", nil}, // a batch of sends locks and wakes its destinations by key
		"LockSuspending": {func() error {
			return q.LockSuspending(b.ctx, db.LockSuspendingParams{Ids: ids, Attempts: attempts, ClaimTokens: tokens})
		}, "workflows_pkey", nil},
		"SetEvent": {func() error {
			_, err := q.SetEvent(b.ctx, db.SetEventParams{WorkflowID: "done-1", Attempt: 1, OwnedState: "running", StepID: 1, StepName: "e", StartedAt: time.Now(), Key: "k", Value: []byte("1")})
			return err
		}, "workflows_pkey", nil},
		"AppendStream": {func() error {
			_, err := q.AppendStream(b.ctx, db.AppendStreamParams{WorkflowID: "done-1", Attempt: 1, OwnedState: "running", Stream: "s", StepID: 1, StepName: "a", StartedAt: time.Now(), Value: []byte("1")})
			return err
		}, "workflows_pkey", nil},
		"RecordStepInTx": {func() error {
			_, err := q.RecordStepInTx(b.ctx, db.RecordStepInTxParams{WorkflowID: "done-1", StepID: 1, Name: "s", Output: "1", Attempt: 1, Tries: 1, StartedAt: time.Now(), IdleTimeoutMs: 1000})
			return err
		}, "workflows_pkey", nil},
		"CancelWorkflow": {func() error {
			_, err := q.CancelWorkflow(b.ctx, db.CancelWorkflowParams{ID: "done-1", Error: []byte(`{}`), ChildError: []byte(`{}`), Channel: "c"})
			return err
		}, "workflows_pkey|workflows_parent", nil}, // the workflow, then its descendants
		"DeleteFinished": {func() error {
			_, err := q.DeleteFinished(b.ctx, db.DeleteFinishedParams{LockKey: "plans", Cutoff: time.Now().Add(-time.Hour), BatchSize: 1000})
			return err
		}, "workflows_finished|workflows_pkey", map[string]string{"steps": "steps_pkey", "messages": "messages_destination", "events": "events_pkey", "streams": "streams_pkey|streams_workflow_id_step_id_key"}}, // the oldest finished, then each by key
		"GetResults": {func() error {
			_, err := q.GetResults(b.ctx, ids)
			return err
		}, "workflows_pkey", nil},
		"StepOwners": {func() error {
			_, err := q.StepOwners(b.ctx, ids)
			return err
		}, "workflows_pkey", nil},
		"UnrunnableWorkflows": {func() error {
			_, err := q.UnrunnableWorkflows(b.ctx, db.UnrunnableWorkflowsParams{Queues: []string{"idle", "q"}, ScanLimit: 1000})
			return err
		}, "", nil}, // the head of each queue, through the queue's index
		// A stopped executor's running workflows are found through the running index (there
		// is no index by executor: every claim would pay for its entry), never by a scan of
		// every workflow.
		"RecoverWorkflows (an executor)": {func() error {
			_, err := q.RecoverWorkflows(b.ctx, db.RecoverWorkflowsParams{ExecutorID: "e1", Channel: "c"})
			return err
		}, "workflows_running|workflows_pkey", nil},
		"RecoverWorkflows (expired leases)": {func() error {
			_, err := q.RecoverWorkflows(b.ctx, db.RecoverWorkflowsParams{Channel: "c"})
			return err
		}, "workflows_running|workflows_pkey", nil},
		"ListExecutors": {func() error {
			_, err := q.ListExecutors(b.ctx)
			return err
		}, "workflows_running", nil},
		"DeleteStoppedExecutors": {func() error {
			return q.DeleteStoppedExecutors(b.ctx)
		}, "workflows_running", nil},
		"DequeueWorkflows": {func() error {
			_, err := q.DequeueWorkflows(b.ctx, db.DequeueWorkflowsParams{ExecutorID: &executor, Queue: "idle", Names: []string{"w"}, CodeHashes: []string{""}, NameHashes: []string{"w:*"}, MaxCount: 100})
			return err
		}, "", nil}, // the claim scans the queue's index, then updates the rows it locked by ctid
	}
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		_, err := conn.Exec(b.ctx, "SET plan_cache_mode = "+mode)
		require.NoError(t, err)
		for name, s := range statements {
			require.ErrorIs(t, s.run(), errExplained, name)
			scans := workflowScans(t, ex.plan)
			if s.want == "-" {
				require.Empty(t, scans, "%s (%s) reads workflows:\n%s", name, mode, ex.plan)
			} else {
				require.NotEmpty(t, scans, "%s (%s) does not read workflows?", name, mode)
			}
			for table, want := range s.others {
				other := relationScans(t, ex.plan, table)
				require.NotEmpty(t, other, "%s (%s) does not read %s?", name, mode, table)
				for _, idx := range other {
					assert.Contains(t, strings.Split(want, "|"), idx, "%s (%s) reads %s through %q:\n%s", name, mode, table, idx, ex.plan)
				}
			}
			for _, idx := range scans {
				if s.want != "" {
					assert.Contains(t, strings.Split(s.want, "|"), idx, "%s (%s) reads workflows through %q:\n%s", name, mode, idx, ex.plan)
				} else {
					assert.Contains(t, []string{"ctid", "workflows_dequeue"}, idx, "%s (%s) reads workflows through %q:\n%s", name, mode, idx, ex.plan)
				}
			}
		}
	}
}

// With fresh statistics the planner weighs a sequential scan against the key lookups of a
// checkpoint batch: among 2,000 workflows (the benchmark's plans phase) it reads the table
// whole, 1 to 3 ms a batch, which is left to it; among 20,000 the write must reach its rows
// by key, for a batch of one and of 64, in both plan modes.
func TestTheCheckpointWriteReachesWorkflowsByKeyAmongTwentyThousand(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries, attempt)
		SELECT 'w-' || i, 'w', 'running', 'q', '{}', 1, 1 FROM generate_series(1, 20000) i`)
	conn, err := b.pool.Acquire(b.ctx)
	require.NoError(t, err)
	defer conn.Release()
	ex := &explainer{conn: conn}
	q := db.New(dbschema.NewRewriter(b.schema).Wrap(explainFunc(ex.explain)))
	for _, n := range []int{1, 64} {
		ids := make([]string, n)
		ones := make([]int32, n)
		zeros := make([]int64, n)
		strs := make([]string, n)
		times := make([]time.Time, n)
		for i := range ids {
			ids[i], ones[i], strs[i] = fmt.Sprintf("w-%d", i+1), 1, "1"
		}
		inPlanModes(t, b, conn, func(mode string) {
			_, err := q.WriteCheckpoints(b.ctx, db.WriteCheckpointsParams{
				StepWorkflowIds: ids, StepIds: ones, StepNames: strs, StepOutputs: strs, StepErrors: make([]string, n),
				StepAttempts: ones, StepClaimTokens: zeros, StepTries: ones, StepStartedAt: times, StepConsumes: zeros,
				DoneIds: ids, DoneAttempts: ones, DoneClaimTokens: zeros, DoneStates: strs, DoneOutputs: strs, DoneErrors: make([]string, n),
				DoneAfterSteps: ones,
			})
			require.ErrorIs(t, err, errExplained)
			for _, idx := range workflowScans(t, ex.plan) {
				require.Equal(t, "workflows_pkey", idx, "a batch of %d (%s) reads workflows through %q:\n%s", n, mode, idx, ex.plan)
			}
		})
	}
}

// A new installation's tables have no statistics until autovacuum's first ANALYZE: the
// planner then takes a claim's hundred histories for half of the steps table. They must
// still be read by key.
func TestTheHistoriesOfResumedWorkflowsAreReadByKeyBeforeTheFirstAnalyze(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `ALTER TABLE %s.steps SET (autovacuum_enabled = off)`)
	b.exec(t, `INSERT INTO %s.steps (workflow_id, step_id, name, output, attempt, tries, started_at)
		SELECT 'w-' || i, 1, 's', '1', 1, 1, now() FROM generate_series(1, 20000) i`)
	require.Equal(t, 0, b.count(t, `SELECT count(*) FROM pg_stats WHERE schemaname = '%s' AND tablename = 'steps'`))
	conn, err := b.pool.Acquire(b.ctx)
	require.NoError(t, err)
	defer conn.Release()
	ex := &explainer{conn: conn}
	q := db.New(dbschema.NewRewriter(b.schema).Wrap(explainFunc(ex.explain)))
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = fmt.Sprintf("w-%d", i+1)
	}
	inPlanModes(t, b, conn, func(mode string) {
		_, err := q.LoadStepsOf(b.ctx, ids)
		require.ErrorIs(t, err, errExplained)
		scans := relationScans(t, ex.plan, "steps")
		require.NotEmpty(t, scans)
		for _, idx := range scans {
			require.Equal(t, "steps_pkey", idx, "LoadStepsOf (%s) reads steps through %q:\n%s", mode, idx, ex.plan)
		}
	})
}

// analyzer runs each statement under EXPLAIN (ANALYZE, BUFFERS), prepared as explainPrepared
// does, in a transaction it rolls back, and keeps the plan with what the execution read.
type analyzer struct {
	conn *pgxpool.Conn
	plan []byte
}

func (a *analyzer) explain(ctx context.Context, sql string, args ...any) error {
	tx, err := a.conn.Begin(ctx)
	if err != nil {
		return err
	}
	// A prepared statement outlives its transaction: deallocate it after the rollback.
	defer a.conn.Exec(ctx, "DEALLOCATE wfgen_explained") //nolint:errcheck // a later PREPARE would say
	defer tx.Rollback(ctx)                               //nolint:errcheck // the statement's effects are thrown away
	plan, err := explainPrepared(ctx, tx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)", sql, args)
	if err != nil {
		return err
	}
	a.plan = plan
	return errExplained
}

// buffers returns the shared buffers (hit or read) that the plan node named name (its
// "Subplan Name", such as "CTE claimed"; "" for the whole plan) and its children touched.
func buffers(t *testing.T, plan []byte, name string) int {
	t.Helper()
	for _, n := range planNodes(t, plan) {
		if name == "" || n["Subplan Name"] == name {
			return int(n["Shared Hit Blocks"].(float64) + n["Shared Read Blocks"].(float64))
		}
	}
	require.Failf(t, "no such plan node", "no plan node %q in:\n%s", name, plan)
	return 0
}

// A claim must not read the workflows that sleep or wait for a later time in its queue:
// they share the queue's index with the available ones, and an idle worker claims often.
// With 100,000 of them behind three available workflows (and a million finished ones), the
// claim takes the three, in priority order, and finds them in about 30 buffers, where one
// ordered scan of the whole queue read every sleeper's index entry (about 750 buffers).
func TestAClaimReadsNoneOfTheWorkflowsThatAreNotYetAvailable(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	// Writing and vacuuming 1.1 million rows takes about 5 s alone, but over a minute (setup's
	// deadline) with four race suites sharing the machine and the server.
	var cancel context.CancelFunc
	b.ctx, cancel = context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	b.exec(t, `INSERT INTO %s.executors (id, hostname, pid, lease_expires_at) VALUES ('claimer', 'h', 1, now() + interval '1 hour')`)
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries, attempt, completed_at)
		SELECT 'done-' || i, 'w', 'succeeded', 'q', '{}', 1, 1, now() FROM generate_series(1, 1000000) i`)
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries, priority, available_at)
		SELECT 'sleeping-' || i, 'w', 'enqueued', 'q', '{}', 1, 0, now() + interval '1 day' FROM generate_series(1, 100000) i`)
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries, priority, available_at)
		VALUES ('due-p2', 'w', 'enqueued', 'q', '{}', 1, 2, now() - interval '1 minute'),
		       ('due-p0-later', 'w', 'enqueued', 'q', '{}', 1, 0, now() - interval '1 second'),
		       ('due-p0', 'w', 'enqueued', 'q', '{}', 1, 0, now() - interval '1 minute')`)
	b.exec(t, `VACUUM (ANALYZE) %s.workflows`)

	a, q, params := claimExplainer(t, b)
	// A prepared statement gets a generic plan after a few runs, which knows neither the
	// queue nor how many to claim: both kinds of plan must stay on the keys.
	inPlanModes(t, b, a.conn, func(mode string) {
		_, err := q.DequeueWorkflows(b.ctx, params)
		require.ErrorIs(t, err, errExplained)
		read := buffers(t, a.plan, "CTE claimed")
		t.Logf("%s: the claim found its workflows in %d buffers", mode, read)
		require.Less(t, read, 100, "%s: the claim found its workflows in %d buffers:\n%s", mode, read, a.plan)
		for _, idx := range workflowScans(t, a.plan) {
			require.Contains(t, []string{"ctid", "workflows_dequeue"}, idx, "%s: the claim reads workflows through %q:\n%s", mode, idx, a.plan)
		}

		requirePartitionedClaimReads(t, b, a, q, mode, 100, db.DequeuePartitionedParams{
			ExecutorID: params.ExecutorID, Queue: "q", Names: params.Names, CodeHashes: params.CodeHashes, NameHashes: params.NameHashes,
			PartitionConcurrency: 1, ScanLimit: 200, MaxCount: 100})
	})
	// The periodic look for workflows nobody can run reads the queue's head the same way.
	_, err := q.UnrunnableWorkflows(b.ctx, db.UnrunnableWorkflowsParams{Queues: []string{"q"}, ScanLimit: 1000})
	require.ErrorIs(t, err, errExplained)
	read := buffers(t, a.plan, "")
	t.Logf("the look for unrunnable workflows read the queue's head in %d buffers", read)
	require.Less(t, read, 100, "the look for unrunnable workflows read the queue's head in %d buffers:\n%s", read, a.plan)

	claimed, err := db.New(dbschema.NewRewriter(b.schema).Wrap(b.pool)).DequeueWorkflows(b.ctx, params)
	require.NoError(t, err)
	// RETURNING has no order: the worker starts them sorted in queue order.
	slices.SortFunc(claimed, func(a, b db.DequeueWorkflowsRow) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), a.AvailableAt.Compare(b.AvailableAt), cmp.Compare(*a.Seq, *b.Seq))
	})
	var ids []string
	for _, c := range claimed {
		ids = append(ids, c.ID)
	}
	require.Equal(t, []string{"due-p0", "due-p0-later", "due-p2"}, ids, "the due workflows, and only those, in queue order")
}

// requirePartitionedClaimReads explains a partitioned queue's claim with params and
// requires that it read fewer than max buffers, and workflows only through indexes none of
// which makes it read a whole partition.
func requirePartitionedClaimReads(t *testing.T, b *bundle, a *analyzer, q *db.Queries, mode string, max int, params db.DequeuePartitionedParams) {
	t.Helper()
	_, err := q.DequeuePartitioned(b.ctx, params)
	require.ErrorIs(t, err, errExplained)
	read := buffers(t, a.plan, "")
	t.Logf("%s: the partitioned claim found and took its workflows in %d buffers", mode, read)
	require.Less(t, read, max, "%s: the partitioned claim read %d buffers:\n%s", mode, read, a.plan)
	for _, idx := range workflowScans(t, a.plan) {
		require.Contains(t, []string{"workflows_pkey", "workflows_dequeue", "workflows_running", "workflows_partitions"}, idx,
			"%s: the partitioned claim reads workflows through %q:\n%s", mode, idx, a.plan)
	}
}

// A partitioned queue's claim must not read every waiting workflow of a partition at its
// limit: that is the noisy tenant the limit is for. With 100,000 of one tenant's workflows
// waiting at the queue's head (one of them running, at a limit of one per partition) and
// other tenants' behind them, the claim reads the head up to its scan limit, then visits
// each partition once, and takes the others' first workflows in a few hundred buffers,
// where reading the queue in order until it found them read every waiting workflow of the
// busy tenant (about 100,000 buffers). Workflows enqueued without a key have the empty key,
// the partition without a limit, and are found behind the backlog as the others are.
func TestAPartitionAtItsLimitDoesNotHideTheOthersBehindIt(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `INSERT INTO %s.executors (id, hostname, pid, lease_expires_at) VALUES ('claimer', 'h', 1, now() + interval '1 hour')`)
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries, attempt, partition_key, executor_id)
		VALUES ('busy-running', 'w', 'running', 'q', '{}', 1, 1, 'busy', 'claimer')`)
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries, partition_key, available_at)
		SELECT 'busy-' || i, 'w', 'enqueued', 'q', '{}', 1, 'busy', now() - interval '1 hour' FROM generate_series(1, 100000) i`)
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries, priority, partition_key, available_at)
		VALUES ('acme-1', 'w', 'enqueued', 'q', '{}', 1, 0, 'acme', now() - interval '2 minutes'),
		       ('acme-2', 'w', 'enqueued', 'q', '{}', 1, 0, 'acme', now() - interval '1 minute'),
		       ('globex-1', 'w', 'enqueued', 'q', '{}', 1, 1, 'globex', now() - interval '3 minutes'),
		       ('initech-1', 'w', 'enqueued', 'q', '{}', 1, 0, 'initech', now() - interval '90 seconds'),
		       ('free-1', 'w', 'enqueued', 'q', '{}', 1, 0, '', now() - interval '30 seconds'),
		       ('free-2', 'w', 'enqueued', 'q', '{}', 1, 0, '', now() - interval '20 seconds'),
		       ('later-1', 'w', 'enqueued', 'q', '{}', 1, 0, 'later', now() + interval '1 day')`)
	b.exec(t, `VACUUM (ANALYZE) %s.workflows`)

	a, q, claim := claimExplainer(t, b)
	params := db.DequeuePartitionedParams{
		ExecutorID: claim.ExecutorID, Queue: "q", Names: claim.Names, CodeHashes: claim.CodeHashes, NameHashes: claim.NameHashes,
		PartitionConcurrency: 1, ScanLimit: 200, MaxCount: 10,
	}
	inPlanModes(t, b, a.conn, func(mode string) { requirePartitionedClaimReads(t, b, a, q, mode, 500, params) })

	// The first two in queue order of the tenants below their limit, one each; then the
	// third and both without a key (no limit), and nothing of acme, which now runs one;
	// never the busy tenant, nor a workflow not yet available.
	run := db.New(dbschema.NewRewriter(b.schema).Wrap(b.pool))
	claimIDs := func(max int32) []string {
		p := params
		p.MaxCount = max
		claimed, err := run.DequeuePartitioned(b.ctx, p)
		require.NoError(t, err)
		var ids []string
		for _, c := range claimed {
			ids = append(ids, c.ID)
		}
		return ids
	}
	require.ElementsMatch(t, []string{"acme-1", "initech-1"}, claimIDs(2))
	require.ElementsMatch(t, []string{"free-1", "free-2", "globex-1"}, claimIDs(10))
	require.Empty(t, claimIDs(10))
	// At two per partition, each tenant running one has room for one more: the busy one's
	// first waiting (from the head) and acme's second (from its partition).
	params.PartitionConcurrency = 2
	require.ElementsMatch(t, []string{"busy-1", "acme-2"}, claimIDs(10))
}

// A claim makes its workflows' entries in the dequeue index dead, and they stay there until
// VACUUM: a claim that read a busy queue from its head would walk the entries of every
// workflow claimed since. A worker that keeps finding full batches claims from the queue
// position of the last workflow it claimed instead, and reads the same few buffers however
// many were claimed before it.
func TestAClaimFromTheLastPositionSkipsTheWorkflowsClaimedSinceTheLastVacuum(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `ALTER TABLE %s.workflows SET (autovacuum_enabled = off)`)
	b.exec(t, `INSERT INTO %s.executors (id, hostname, pid, lease_expires_at) VALUES ('claimer', 'h', 1, now() + interval '1 hour')`)
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries, available_at)
		SELECT 'claimed-' || i, 'w', 'enqueued', 'q', '{}', 1, now() - interval '2 minutes' FROM generate_series(1, 100000) i`)
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries, available_at)
		SELECT 'waiting-' || i, 'w', 'enqueued', 'q', '{}', 1, now() - interval '1 minute' FROM generate_series(1, 200) i`)
	b.exec(t, `ANALYZE %s.workflows`)
	// Claimed and finished since the last VACUUM, as a busy worker leaves them.
	b.exec(t, `UPDATE %s.workflows SET state = 'succeeded', attempt = 1, completed_at = now() WHERE id LIKE 'claimed-%%'`)

	var last struct {
		at  time.Time
		seq int64
	}
	require.NoError(t, b.pool.QueryRow(b.ctx, fmt.Sprintf(`SELECT available_at, seq FROM %s.workflows WHERE id LIKE 'claimed-%%' ORDER BY available_at DESC, seq DESC LIMIT 1`, b.schema)).Scan(&last.at, &last.seq))

	a, q, fromHead := claimExplainer(t, b)
	fromLast := fromHead
	fromLast.AfterAt, fromLast.AfterSeq = last.at, last.seq
	inPlanModes(t, b, a.conn, func(mode string) {
		_, err := q.DequeueWorkflows(b.ctx, fromHead)
		require.ErrorIs(t, err, errExplained)
		head := buffers(t, a.plan, "CTE claimed")
		_, err = q.DequeueWorkflows(b.ctx, fromLast)
		require.ErrorIs(t, err, errExplained)
		read := buffers(t, a.plan, "CTE claimed")
		t.Logf("%s: a claim of 100 read %d buffers from the queue's head, %d from the last position", mode, head, read)
		// About one buffer per claimed workflow (its row lock), and a few of the index.
		require.Less(t, read, 200, "%s: the claim from the last position read %d buffers:\n%s", mode, read, a.plan)
		require.Greater(t, head, 5*read, "%s: the head of the queue holds the dead entries of 100,000 claims", mode)
		for _, idx := range workflowScans(t, a.plan) {
			require.Contains(t, []string{"ctid", "workflows_dequeue"}, idx, "%s: the claim reads workflows through %q:\n%s", mode, idx, a.plan)
		}
	})

	// The claim from the position takes the workflows after it, in queue order.
	claimed, err := db.New(dbschema.NewRewriter(b.schema).Wrap(b.pool)).DequeueWorkflows(b.ctx, fromLast)
	require.NoError(t, err)
	require.Len(t, claimed, 100)
	for _, c := range claimed {
		require.Regexp(t, `^waiting-`, c.ID)
	}
}

// claimExplainer returns queries that explain their statement instead of running it (on a
// connection of their own, for the test, with JIT off as HotStatementSettings has it for
// every claim), and the parameters of a claim of up to 100 workflows of queue "q" by
// executor "claimer".
func claimExplainer(t *testing.T, b *bundle) (*analyzer, *db.Queries, db.DequeueWorkflowsParams) {
	t.Helper()
	executor := "claimer"
	params := db.DequeueWorkflowsParams{ExecutorID: &executor, Queue: "q", Names: []string{"w"}, CodeHashes: []string{""}, NameHashes: []string{"w:*"}, MaxCount: 100}
	conn, err := b.pool.Acquire(b.ctx)
	require.NoError(t, err)
	t.Cleanup(conn.Release)
	// With JIT on, a plan that the statistics of the moment estimate dear enough is compiled
	// at its first execution, and what that compilation reads counts among the buffers of
	// the node it compiled for: a partitioned claim estimated at 2,000,000 read 527 buffers,
	// 353 of them under its primary-key scan, in 3 s of JIT (with JIT forced, 841), where
	// the claim itself reads about 60.
	_, err = conn.Exec(b.ctx, "SET jit = off")
	require.NoError(t, err)
	t.Cleanup(func() { conn.Exec(context.Background(), "RESET jit") }) //nolint:errcheck // before the release above: the pool is shared
	a := &analyzer{conn: conn}
	return a, db.New(dbschema.NewRewriter(b.schema).Wrap(explainFunc(a.explain))), params
}

// inPlanModes runs check under custom plans, then under generic plans, on conn.
func inPlanModes(t *testing.T, b *bundle, conn *pgxpool.Conn, check func(mode string)) {
	t.Helper()
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		_, err := conn.Exec(b.ctx, "SET plan_cache_mode = "+mode)
		require.NoError(t, err)
		check(mode)
	}
	_, err := conn.Exec(b.ctx, "RESET plan_cache_mode")
	require.NoError(t, err)
}

// genericPlans stands in for the database under the sqlc queries as the runtime's hot
// path uses it (HotStatementSettings first, so generic plans): each statement is prepared
// on conn once and kept, and each call explains its EXECUTE after the settings, in a
// transaction of its own, which makes the generic plan on the first call and reuses it.
type genericPlans struct {
	conn  *pgxpool.Conn
	names map[string]string // statement -> prepared name
	plan  []byte
}

// deallocate drops the statements it prepared.
func (g *genericPlans) deallocate(ctx context.Context) {
	for _, name := range g.names {
		_, _ = g.conn.Exec(ctx, "DEALLOCATE "+name)
	}
}

func (g *genericPlans) explain(ctx context.Context, sql string, args ...any) error {
	name, ok := g.names[sql]
	if !ok {
		name = fmt.Sprintf("wfgen_hot_%d", len(g.names))
		if _, err := g.conn.Exec(ctx, "PREPARE "+name+" AS "+sql); err != nil {
			return err
		}
		g.names[sql] = name
	}
	tx, err := g.conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // nothing ran: EXPLAIN without ANALYZE
	if _, err := tx.Exec(ctx, db.HotStatementSettingsSQL); err != nil {
		return err
	}
	if g.plan, err = explainExecute(ctx, tx, "EXPLAIN (FORMAT JSON)", name, args); err != nil {
		return err
	}
	return errExplained
}

// unkeyedScans returns the scans of the tables in the plan that read them whole: sequential
// scans, and index scans without an index condition.
func unkeyedScans(t *testing.T, plan []byte, tables ...string) []string {
	t.Helper()
	var whole []string
	for _, n := range planNodes(t, plan) {
		rel, _ := n["Relation Name"].(string)
		if !slices.Contains(tables, rel) {
			continue
		}
		switch kind, _ := n["Node Type"].(string); kind {
		case "Seq Scan":
			whole = append(whole, kind+" on "+rel)
		case "Index Scan", "Index Only Scan":
			if _, ok := n["Index Cond"]; !ok {
				whole = append(whole, fmt.Sprintf("%s on %s using %v without a condition", kind, rel, n["Index Name"]))
			}
		}
	}
	return whole
}

// planNodes returns every node of an EXPLAIN (FORMAT JSON) plan, parents before children.
func planNodes(t *testing.T, plan []byte) []map[string]any {
	t.Helper()
	var root []struct{ Plan map[string]any }
	require.NoError(t, json.Unmarshal(plan, &root))
	var nodes []map[string]any
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		nodes = append(nodes, n)
		children, _ := n["Plans"].([]any)
		for _, c := range children {
			walk(c.(map[string]any))
		}
	}
	walk(root[0].Plan)
	return nodes
}

// The hot path's statements run generic plans (HotStatementSettings), which a connection
// makes at a statement's first execution, perhaps on a new installation's empty tables, and
// keeps as the tables grow until an ANALYZE replans them. Made on empty tables, those plans
// must still reach every row by key once the tables hold thousands.
func TestGenericPlansMadeOnEmptyTablesStillReachRowsByKey(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	tables := []string{"workflows", "steps", "messages", "queues", "queue_starts"}
	for _, table := range tables {
		b.exec(t, `ALTER TABLE %s.`+table+` SET (autovacuum_enabled = false)`) // its ANALYZE would replan
	}
	conn, err := b.pool.Acquire(b.ctx)
	require.NoError(t, err)
	defer conn.Release()
	g := &genericPlans{conn: conn, names: map[string]string{}}
	// The connection goes back to the pool that other tests share: its prepared statements
	// must not outlive the test (another test's would collide with their names).
	defer g.deallocate(context.Background())
	q := db.New(dbschema.NewRewriter(b.schema).Wrap(explainFunc(g.explain)))

	const n = 64
	ids := make([]string, n)
	ones := make([]int32, n)
	zeros := make([]int64, n)
	strs := make([]string, n)
	times := make([]time.Time, n)
	consumes := make([]int64, n) // every other step a Recv's
	topics := make([]string, n)
	waitingFor := make([]string, n)
	var awaitParents, awaitChildren []string
	for i := range ids {
		ids[i], ones[i], strs[i] = fmt.Sprintf("w-%d", i+1), 1, "1"
		consumes[i] = int64(i+1) * int64(i%2)
		topics[i] = []string{"", "t"}[i%2]
		waitingFor[i] = []string{"child", "recv:t"}[i%2]
		if i%2 == 0 {
			awaitParents = append(awaitParents, ids[i])
			awaitChildren = append(awaitChildren, fmt.Sprintf("w-%d", 1000+i))
		}
	}
	executor := "e1"
	statements := map[string]func() error{
		"DequeueWorkflows": func() error {
			_, err := q.DequeueWorkflows(b.ctx, db.DequeueWorkflowsParams{ExecutorID: &executor, Queue: "q", Names: []string{"w"}, CodeHashes: []string{""}, NameHashes: []string{"w:*"}, MaxCount: 100})
			return err
		},
		"UnrunnableWorkflows": func() error {
			_, err := q.UnrunnableWorkflows(b.ctx, db.UnrunnableWorkflowsParams{Queues: []string{"q"}, ScanLimit: 1000})
			return err
		},
		"WriteCheckpoints": func() error {
			_, err := q.WriteCheckpoints(b.ctx, db.WriteCheckpointsParams{
				StepWorkflowIds: ids, StepIds: ones, StepNames: strs, StepOutputs: strs, StepErrors: make([]string, n),
				StepAttempts: ones, StepClaimTokens: zeros, StepTries: ones, StepStartedAt: times, StepConsumes: consumes,
				DoneIds: ids, DoneAttempts: ones, DoneClaimTokens: zeros, DoneStates: strs, DoneOutputs: strs, DoneErrors: make([]string, n),
				DoneAfterSteps: ones,
				SuspendIds:     ids, SuspendAttempts: ones, SuspendClaimTokens: zeros, SuspendAvailableAt: times,
				SuspendWaitingFor: waitingFor, SuspendTopics: topics, AwaitParentIds: awaitParents, AwaitChildIds: awaitChildren,
			})
			return err
		},
		"StepOwners": func() error {
			_, err := q.StepOwners(b.ctx, ids)
			return err
		},
		"LockSuspending": func() error {
			return q.LockSuspending(b.ctx, db.LockSuspendingParams{Ids: ids, Attempts: ones, ClaimTokens: zeros})
		},
		"GetResults": func() error {
			_, err := q.GetResults(b.ctx, ids)
			return err
		},
		"LoadSteps": func() error {
			_, err := q.LoadSteps(b.ctx, "w-1")
			return err
		},
		"LoadStepsOf": func() error {
			_, err := q.LoadStepsOf(b.ctx, ids)
			return err
		},
		// A queue with global limits: its claim's transaction.
		"LockQueue": func() error {
			return q.LockQueue(b.ctx, db.LockQueueParams{Name: "q", IdleTimeoutMs: 1000})
		},
		"CountRunning": func() error {
			_, err := q.CountRunning(b.ctx, "q")
			return err
		},
		"CountRecentStarts": func() error {
			_, err := q.CountRecentStarts(b.ctx, db.CountRecentStartsParams{Queue: "q", PeriodMs: 1000})
			return err
		},
		"RecordStarts": func() error {
			return q.RecordStarts(b.ctx, db.RecordStartsParams{Queue: "q", N: 10, PeriodMs: 1000})
		},
		"DequeuePartitioned": func() error {
			_, err := q.DequeuePartitioned(b.ctx, db.DequeuePartitionedParams{ExecutorID: &executor, Queue: "q", Names: []string{"w"}, CodeHashes: []string{""}, NameHashes: []string{"w:*"}, PartitionConcurrency: 2, ScanLimit: 1000, MaxCount: 100})
			return err
		},
	}
	for name, run := range statements { // on empty tables
		require.ErrorIs(t, run(), errExplained, name)
	}
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries, attempt, completed_at)
		SELECT 'w-' || i, 'w', CASE WHEN i <= 5000 THEN 'running' ELSE 'succeeded' END, 'q', '{}', 1, 1,
		       CASE WHEN i > 5000 THEN now() END
		FROM generate_series(1, 20000) i`)
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries)
		SELECT 'queued-' || i, 'w', 'enqueued', 'q', '{}', 1 FROM generate_series(1, 5000) i`)
	b.exec(t, `INSERT INTO %s.steps (workflow_id, step_id, name, output, attempt, tries, started_at)
		SELECT 'w-' || i, 1, 's', '1', 1, 1, now() FROM generate_series(1, 20000) i`)
	b.exec(t, `INSERT INTO %s.messages (destination_id, topic, payload)
		SELECT 'w-' || (i %% 5000 + 1), 't', '{}' FROM generate_series(1, 20000) i`)
	b.exec(t, `INSERT INTO %s.queues (name) SELECT 'q-' || i FROM generate_series(1, 5000) i`)
	b.exec(t, `INSERT INTO %s.queue_starts (queue, started_at)
		SELECT 'q-' || (i %% 5000), now() FROM generate_series(1, 20000) i`)
	for name, run := range statements {
		require.ErrorIs(t, run(), errExplained, name)
		assert.Empty(t, unkeyedScans(t, g.plan, tables...), "%s's generic plan made on empty tables reads a table whole:\n%s", name, g.plan)
		if name == "DequeuePartitioned" {
			// Each partition it visits is read through the index made for partitions: a scan
			// of another index that filters by partition reads the whole queue each time.
			assert.Empty(t, partitionFilters(t, g.plan), "%s's generic plan made on empty tables reads partitions through another index:\n%s", name, g.plan)
		}
	}
}

// A partitioned claim must read each partition it visits through the index made for
// partitions, whatever the statistics were when its plan was made: a generic plan that a
// connection made at its first claim read them through the dequeue index instead, sorting
// the whole queue for each (7 s a claim in BenchmarkPartitionedWorkflows). The statement
// is written so that no other index can serve those reads: without workflows_partitions,
// and with sequential scans disabled as on the hot path, the planner still has nothing
// but a sequential scan for them.
func TestAPartitionedClaimReadsPartitionsThroughNoOtherIndex(t *testing.T) {
	t.Parallel()
	b := setup(t, wf.Config{})
	b.exec(t, `INSERT INTO %s.executors (id, hostname, pid, lease_expires_at) VALUES ('claimer', 'h', 1, now() + interval '1 hour')`)
	b.exec(t, `INSERT INTO %s.workflows (id, name, state, queue, input, max_recoveries, partition_key)
		SELECT 'w-' || i, 'w', 'enqueued', 'q', '{}', 1, 'tenant-' || (i %% 1000) FROM generate_series(1, 20000) i`)
	conn, err := b.pool.Acquire(b.ctx)
	require.NoError(t, err)
	defer conn.Release()
	// A prepared statement outlives its transaction: deallocate it after the rollback.
	defer conn.Exec(b.ctx, "DEALLOCATE wfgen_explained") //nolint:errcheck // a later PREPARE would say
	tx, err := conn.Begin(b.ctx)
	require.NoError(t, err)
	defer tx.Rollback(b.ctx) //nolint:errcheck // the dropped index comes back
	_, err = tx.Exec(b.ctx, fmt.Sprintf(`DROP INDEX %s.workflows_partitions`, b.schema))
	require.NoError(t, err)
	// As HotStatementSettings does: the planner then takes any index it can use over a
	// sequential scan, so a sequential scan below says that no index could serve.
	_, err = tx.Exec(b.ctx, `SET LOCAL enable_seqscan = off`)
	require.NoError(t, err)
	var plan []byte
	q := db.New(dbschema.NewRewriter(b.schema).Wrap(explainFunc(func(ctx context.Context, sql string, args ...any) error {
		if plan, err = explainPrepared(ctx, tx, "EXPLAIN (FORMAT JSON)", sql, args); err != nil {
			return err
		}
		return errExplained
	})))
	executor := "claimer"
	_, err = q.DequeuePartitioned(b.ctx, db.DequeuePartitionedParams{ExecutorID: &executor, Queue: "q", Names: []string{"w"}, CodeHashes: []string{""}, NameHashes: []string{"w:*"}, PartitionConcurrency: 1, ScanLimit: 200, MaxCount: 50})
	require.ErrorIs(t, err, errExplained)
	reads := partitionFilters(t, plan)
	require.NotEmpty(t, reads, "without its index the claim still reads partitions:\n%s", plan)
	for _, r := range reads {
		require.True(t, strings.HasPrefix(r, "Seq Scan"), "a partition is read through another index (%s):\n%s", r, plan)
	}
}

// partitionFilters returns the scans of workflows in the plan that filter rows by partition
// key rather than find them by it.
func partitionFilters(t *testing.T, plan []byte) []string {
	t.Helper()
	var found []string
	for _, n := range planNodes(t, plan) {
		if filter, _ := n["Filter"].(string); n["Relation Name"] == "workflows" && strings.Contains(filter, "partition_key") {
			found = append(found, fmt.Sprintf("%v using %v, filter %s", n["Node Type"], n["Index Name"], filter))
		}
	}
	return found
}

// A lightly loaded worker writes a checkpoint batch of one step at a time, and claims one
// workflow at a time. Left to itself, PostgreSQL would plan each of those statements anew
// (custom plans for arrays of one look cheaper than the generic plan it keeps), and
// planning them costs more than running them. The hot path runs the connection's generic
// plan instead, planned once.
func TestALightlyLoadedWorkerPlansItsHotStatementsOncePerConnection(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pc, err := pgxpool.ParseConfig(wftest.Pool(t).Config().ConnString())
	require.NoError(t, err)
	pc.MaxConns = 6 // few connections, so that each runs the statements many times
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	require.NoError(t, err)
	defer pool.Close()
	c, err := wf.NewClient(pool, wf.Config{Schema: wftest.Schema(t), PollInterval: 50 * time.Millisecond, Logger: wftest.Logger(t)})
	require.NoError(t, err)
	_, err = c.Migrate(ctx)
	require.NoError(t, err)
	step := wf.NewStep[int]("plan-once-step")
	w := wf.NewWorkflow("plan-once", func(ctx wf.Context, n int) (int, error) {
		for range 3 {
			if _, err := step.Run(ctx, func(context.Context) (int, error) { return n, nil }); err != nil {
				return 0, err
			}
		}
		return n, nil
	})
	require.NoError(t, c.Register(step, w))
	require.NoError(t, c.Start(ctx))
	for i := range 20 { // one at a time
		h, err := w.Enqueue(ctx, c, i)
		require.NoError(t, err)
		_, err = h.Result(ctx)
		require.NoError(t, err)
	}
	require.NoError(t, c.Stop(ctx))

	// What every connection of the pool prepared, and how it planned it.
	conns := pool.AcquireAllIdle(ctx)
	require.NotEmpty(t, conns)
	plans := map[string][2]int64{} // statement -> generic, custom
	for _, conn := range conns {
		rows, err := conn.Query(ctx, `SELECT substring(statement FROM '-- name: (\w+)'), generic_plans, custom_plans
			FROM pg_prepared_statements WHERE statement LIKE '-- name: %'`)
		require.NoError(t, err)
		for rows.Next() {
			var name string
			var generic, custom int64
			require.NoError(t, rows.Scan(&name, &generic, &custom))
			p := plans[name]
			plans[name] = [2]int64{p[0] + generic, p[1] + custom}
		}
		require.NoError(t, rows.Err())
		conn.Release()
	}
	for _, name := range []string{"WriteCheckpoints", "DequeueWorkflows"} {
		p := plans[name]
		assert.Zero(t, p[1], "%s was planned anew at %d of its %d executions", name, p[1], p[0]+p[1])
		assert.NotZero(t, p[0], "%s never ran its generic plan", name)
	}
}

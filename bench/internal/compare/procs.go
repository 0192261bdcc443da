package compare

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wfgen/wfgen/runtime/wf"
)

// workerProcessFlag, as the first argument, runs the program as a worker process of the
// -procs phases instead of the benchmark.
const workerProcessFlag = "-worker-process"

// workerAppName is the application_name of the worker processes' connections, by which the
// lock-wait sampler finds them.
const workerAppName = "wfgen-bench-worker"

// procsFlow is the one-step workflow of the -procs phases, the same in the benchmark, which
// enqueues it, and in the worker processes, which run it.
func procsFlow() (wf.Definition, *wf.Workflow[benchInput, struct{}], wf.Definition) {
	noop := wf.NewStep[struct{}]("noop")
	flow := wf.NewWorkflow("bench_steps", func(ctx wf.Context, in benchInput) (struct{}, error) {
		return noop.Run(ctx, noopStep)
	}, wf.WorkflowQueue(wfgenQueue))
	return flow, flow, noop
}

// workerProcess is the main of a worker process: a wf.Client on a pool of its own, working
// the bench queue in schema bench_wfgen, until its standard input closes or it is signalled.
// It prints "ready" once started.
func workerProcess(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compare "+workerProcessFlag, flag.ContinueOnError)
	fs.SetOutput(stderr)
	id := fs.String("id", "bench-worker", "executor ID")
	workers := fs.Int("workers", 100, "queue WorkerConcurrency")
	poolSize := fs.Int("pool", 20, "connections in the pool")
	poll := fs.Duration("wfgen-poll", 0, "Config.PollInterval (0: default)")
	cooldown := fs.Duration("wfgen-cooldown", 0, "Config.FetchCooldown (0: default)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fail := func(err error) int {
		fmt.Fprintf(stderr, "compare %s %s: %v\n", workerProcessFlag, *id, err)
		return 1
	}
	pc, err := pgxpool.ParseConfig(os.Getenv("DATABASE_URL"))
	if err != nil {
		return fail(fmt.Errorf("parsing DATABASE_URL: %w", err))
	}
	pc.MaxConns = int32(*poolSize)
	pc.ConnConfig.RuntimeParams["application_name"] = workerAppName
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return fail(err)
	}
	defer pool.Close()
	c, err := wf.NewClient(pool, wf.Config{
		Schema: wfgenSchema, ExecutorID: *id, PollInterval: *poll, FetchCooldown: *cooldown,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return fail(err)
	}
	flow, _, noop := procsFlow()
	if err := c.Register(wf.NewQueue(wfgenQueue, wf.WorkerConcurrency(*workers)), flow, noop); err != nil {
		return fail(err)
	}
	if err := c.Start(ctx); err != nil {
		return fail(err)
	}
	fmt.Fprintln(stdout, "ready")
	stdinClosed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-stdinClosed:
	case <-ctx.Done():
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Stop(stopCtx); err != nil {
		return fail(err)
	}
	return 0
}

// workerProc is a running worker process.
type workerProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// startWorkerProcs starts n worker processes of this program and waits until each is ready.
func startWorkerProcs(ctx context.Context, e *env, n int) ([]*workerProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this program to run worker processes: %w", err)
	}
	var procs []*workerProc
	for i := range n {
		cmd := exec.Command(exe, workerProcessFlag, "-id", fmt.Sprintf("bench-worker-%d", i+1),
			"-workers", strconv.Itoa(e.cfg.workers), "-pool", strconv.Itoa(e.cfg.extra.procsPool),
			"-wfgen-poll", e.cfg.wfgenPoll.String(), "-wfgen-cooldown", e.cfg.wfgenCooldown.String())
		cmd.Env = append(os.Environ(), "DATABASE_URL="+e.url)
		cmd.Stderr = e.log
		stdin, err := cmd.StdinPipe()
		if err == nil {
			var out io.ReadCloser
			out, err = cmd.StdoutPipe()
			if err == nil {
				err = cmd.Start()
			}
			if err == nil {
				p := &workerProc{cmd: cmd, stdin: stdin}
				procs = append(procs, p)
				ready := make(chan bool, 1)
				go func() {
					line, _ := bufio.NewReader(out).ReadString('\n')
					ready <- strings.TrimSpace(line) == "ready"
					io.Copy(io.Discard, out)
				}()
				select {
				case ok := <-ready:
					if !ok {
						err = fmt.Errorf("worker process %d exited before it was ready (its errors are above)", i+1)
					}
				case <-ctx.Done():
					err = ctx.Err()
				}
			}
		}
		if err != nil {
			stopWorkerProcs(procs)
			return nil, err
		}
	}
	return procs, nil
}

// stopWorkerProcs closes the processes' standard input, which stops them, and waits.
func stopWorkerProcs(procs []*workerProc) error {
	var errs []error
	for _, p := range procs {
		p.stdin.Close()
	}
	for _, p := range procs {
		if err := p.cmd.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("worker process %d: %w", p.cmd.Process.Pid, err))
		}
	}
	return errors.Join(errs...)
}

// procsCPU returns the CPU time the processes used so far.
func procsCPU(procs []*workerProc) time.Duration {
	var total time.Duration
	for _, p := range procs {
		// /proc/<pid>/stat counts every thread of the process (schedstat only its first).
		if st, err := readStat(p.cmd.Process.Pid); err == nil {
			total += ticks(st.utime + st.stime)
		}
	}
	return total
}

// waitSamples counts, over a phase, what the worker processes' active connections were
// waiting for, as pg_stat_activity shows it every sampling interval.
type waitSamples struct {
	samples int            // sampling instants
	active  int            // active connections seen, summed over the samples
	waits   map[string]int // by "wait_event_type:wait_event"; "CPU" when not waiting
}

// sampleWaits samples pg_stat_activity on its own connection until ctx ends.
func sampleWaits(ctx context.Context, url string, every time.Duration) (*waitSamples, func() error, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	s := &waitSamples{waits: map[string]int{}}
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var sampleErr error
	wg.Go(func() {
		const q = `SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU'), count(*)::int
		           FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' GROUP BY 1`
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-tick.C:
			}
			rows, err := conn.Query(sctx, q, workerAppName)
			if err != nil {
				if sctx.Err() == nil {
					sampleErr = err
				}
				return
			}
			s.samples++
			for rows.Next() {
				var k string
				var n int
				if err := rows.Scan(&k, &n); err != nil {
					sampleErr = err
					return
				}
				s.waits[k] += n
				s.active += n
			}
			if err := rows.Err(); err != nil && sctx.Err() == nil {
				sampleErr = err
				return
			}
		}
	})
	stop := func() error {
		cancel()
		wg.Wait()
		conn.Close(context.Background())
		return sampleErr
	}
	return s, stop, nil
}

// top returns the most frequent waits, as "kind share%", most frequent first.
func (s *waitSamples) top(k int) string {
	if s.active == 0 {
		return "no active connection seen"
	}
	keys := sortedKeys(s.waits)
	slices.SortStableFunc(keys, func(a, b string) int { return s.waits[b] - s.waits[a] })
	var parts []string
	for _, key := range keys[:min(k, len(keys))] {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", key, 100*float64(s.waits[key])/float64(s.active)))
	}
	return strings.Join(parts, ", ")
}

// mean returns the active connections seen per sample.
func (s *waitSamples) mean() float64 { return float64(s.active) / float64(max(s.samples, 1)) }

// addShares records the samples: active connections on average, and the share of them
// running (CPU) or waiting for a heavyweight lock, a lightweight lock or I/O.
func addShares(res *results, phase string, s *waitSamples) {
	res.add("wfgen", spec{name: phase + "_active_connections", unit: "connections"}, s.mean())
	for _, k := range []string{"CPU", "Lock", "LWLock", "IO"} {
		res.add("wfgen", spec{name: phase + "_" + strings.ToLower(k) + "_share", unit: "share of active connections"}, s.share(k))
	}
}

// share returns the share of active connections whose wait event type is kind.
func (s *waitSamples) share(kind string) float64 {
	if s.active == 0 {
		return 0
	}
	var n int
	for k, v := range s.waits {
		if strings.HasPrefix(k, kind+":") || k == kind {
			n += v
		}
	}
	return float64(n) / float64(s.active)
}

// procsOutcome is what one -procs phase measured.
type procsOutcome struct {
	procs     int
	work      outcome       // the work, from the EnqueueMany's return to all succeeded
	workerCPU time.Duration // CPU of the worker processes over the work
	waits     *waitSamples
}

// procsWork enqueues n one-step workflows with one EnqueueMany while procs worker processes
// sit idle, and times the work until Postgres shows all succeeded.
func procsWork(ctx context.Context, e *env, procs, n int) (o procsOutcome, err error) {
	o.procs = procs
	if err := e.dropSchema(ctx, wfgenSchema); err != nil {
		return o, err
	}
	pool, stmts, err := e.newPool(ctx, 2, wfgenSchema)
	if err != nil {
		return o, err
	}
	defer pool.Close()
	c, err := wf.NewClient(pool, e.wfgenConfig("bench-api"))
	if err != nil {
		return o, err
	}
	defer c.Stop(context.WithoutCancel(ctx)) //nolint:errcheck // sends the last announcements before the pool closes
	if _, err := c.Migrate(ctx); err != nil {
		return o, err
	}
	_, flow, _ := procsFlow()
	ps, err := startWorkerProcs(ctx, e, procs)
	if err != nil {
		return o, err
	}
	defer func() {
		if stopErr := stopWorkerProcs(ps); err == nil && stopErr != nil {
			err = stopErr
		}
	}()
	inputs := make([]benchInput, n)
	for i := range inputs {
		inputs[i].Seq = i
	}

	e.settle(ctx)
	samples, stopSampling, err := sampleWaits(ctx, e.url, 50*time.Millisecond)
	if err != nil {
		return o, err
	}
	if _, err := flow.EnqueueMany(ctx, c, inputs); err != nil {
		stopSampling()
		return o, fmt.Errorf("enqueueing: %w", err)
	}
	enqueued := time.Now()
	r0, err := e.probe.read(ctx, stmts)
	cpu0 := procsCPU(ps)
	if err != nil {
		stopSampling()
		return o, err
	}
	// No in-process signal here: poll the unfinished workflows (partial indexes keep the
	// count cheap as it shrinks) every 5 ms.
	const unfinished = "SELECT count(*) FROM " + wfgenSchema + ".workflows WHERE state IN ('enqueued', 'running')"
	var finished time.Time
	for {
		var left int
		sent := time.Now()
		if err := e.mon.QueryRow(ctx, unfinished).Scan(&left); err != nil {
			stopSampling()
			return o, fmt.Errorf("polling for completion: %w", err)
		}
		if left == 0 {
			finished = sent
			break
		}
		select {
		case <-ctx.Done():
			stopSampling()
			return o, fmt.Errorf("%d of %d unfinished: %w", left, n, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	cpu1 := procsCPU(ps)
	r1, err := e.probe.read(ctx, stmts)
	if sErr := stopSampling(); err == nil && sErr != nil {
		err = fmt.Errorf("sampling pg_stat_activity: %w", sErr)
	}
	if err != nil {
		return o, err
	}
	var succeeded int
	if err := e.mon.QueryRow(ctx, "SELECT count(*) FROM "+wfgenSchema+".workflows WHERE state = 'succeeded'").Scan(&succeeded); err != nil {
		return o, err
	}
	if succeeded != n {
		return o, fmt.Errorf("%d of %d workflows succeeded", succeeded, n)
	}
	o.work = outcome{units: n, elapsed: finished.Sub(enqueued), cost: r1.since(r0)}
	o.workerCPU = cpu1 - cpu0
	o.waits = samples
	return o, nil
}

func runProcs(ctx context.Context, e *env, res *results) error {
	for _, p := range e.cfg.extra.procs {
		o, err := procsWork(ctx, e, p, e.cfg.extra.procsN)
		if err != nil {
			return fmt.Errorf("%d worker processes: %w", p, err)
		}
		c := o.work.cost
		wall := o.work.elapsed.Seconds()
		// The harness's own CPU (enqueue client, polling) is in c.goCPU; the workers' is
		// measured from /proc. Other = the machine's busy time minus both and the server.
		other := time.Duration(-1)
		if c.otherCPU >= 0 {
			other = max(c.otherCPU-o.workerCPU, 0)
		}
		fmt.Fprintf(e.log, "procs: %d worker process(es): %d one-step workflows in %s = %.0f/s; cores: workers %.2f, server %.2f, harness %.2f, other %.2f; %.0f write txns/s; active worker connections %.1f on average: %s\n",
			p, o.work.units, o.work.elapsed.Round(time.Millisecond), rate(o.work), o.workerCPU.Seconds()/wall, c.pgCPU.Seconds()/wall,
			c.goCPU.Seconds()/wall, other.Seconds()/wall, float64(c.writeTxns)/wall, o.waits.mean(), o.waits.top(5))
		name := func(s string) string { return fmt.Sprintf("procs_%d_%s", p, s) }
		res.add("wfgen", spec{name: name("workflows_per_s"), label: fmt.Sprintf("one-step workflows, %d worker process(es)", p), unit: "workflows/s"}, rate(o.work))
		res.add("wfgen", spec{name: name("worker_cores"), unit: "cores"}, o.workerCPU.Seconds()/wall)
		res.add("wfgen", spec{name: name("write_txns_per_s"), unit: "transactions/s"}, float64(c.writeTxns)/wall)
		addShares(res, fmt.Sprintf("procs_%d", p), o.waits)
		if c.pgCPU >= 0 {
			res.add("wfgen", spec{name: name("pg_cores"), unit: "cores"}, c.pgCPU.Seconds()/wall)
		}
		if other >= 0 {
			res.add("wfgen", spec{name: name("other_cores"), unit: "cores"}, other.Seconds()/wall)
		}
		res.add("wfgen", spec{name: name("worker_cpu_us_per_workflow"), unit: "µs/workflow", lower: true}, float64(o.workerCPU.Microseconds())/float64(o.work.units))
		// The cost table's Go CPU is the worker processes' and the harness's together.
		c.goCPU += o.workerCPU
		if other >= 0 {
			c.otherCPU = other
		}
		res.addCost(costPhase{"wfgen", fmt.Sprintf("procs_%d", p), fmt.Sprintf("one-step work, %d process(es)", p), "workflow"}, c, o.work.units)
	}
	return nil
}

// Package compare benchmarks wfgen against River and DBOS Transact Go on one PostgreSQL
// server. Run runs every phase of every system once per round, alternating the systems, and
// reports medians, the ratios the project targets, and what each unit of work cost
// (write transactions, WAL, statements, CPU). See bench/README.md.
package compare

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wfgen/wfgen/runtime/wf"
)

// config holds the command-line settings.
type config struct {
	rounds        int
	systems       []string
	oneStepN      int
	tenStepN      int
	steps         int
	workers       int
	poolConns     int
	singleN       int
	singleClients int

	latencyN       int
	latencyGap     time.Duration
	latencyTimeout time.Duration
	latencyBudget  time.Duration
	hostCheck      time.Duration

	wfgenPoll     time.Duration
	wfgenCooldown time.Duration
	riverPoll     time.Duration
	riverCooldown time.Duration
	dbosPoll      time.Duration
	gowfPoll      time.Duration
	gowfPollers   int
	gowfN         int
	gowfNMulti    int
	aloneN        int

	pollEvery    time.Duration
	phaseTimeout time.Duration
	checkpoint   bool
	out          string
	verbose      bool
	walRecords   bool
	cpuProfile   string

	scale scaleConfig
	extra extraConfig // wfgen's scale phases (extras.go)
}

// poolSize is the connections each system's pool opens for the work phases.
func (c config) poolSize() int {
	if c.poolConns > 0 {
		return c.poolConns
	}
	return c.workers + 10
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: compare [flags]

Benchmarks wfgen against River, DBOS Transact Go and go-workflows (gowf) on the
PostgreSQL server that DATABASE_URL names, alternating the systems in each round, and
prints medians, the target ratios and the cost of each unit of work. Each system works in
its own schema (bench_wfgen, bench_river, bench_dbos, bench_gowf), which every phase drops
and recreates.

Flags:
`)
		fs.PrintDefaults()
	}
	systemList := fs.String("systems", strings.Join(systems, ","), "comma-separated systems to run")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds; each runs every phase of every system once (0: only the scale phases -waits, -fanout, -procs)")
	fs.IntVar(&c.oneStepN, "n", 20000, "one-step workflows (and River jobs) per work phase")
	fs.IntVar(&c.tenStepN, "n-multi", 2000, "multi-step workflows per work phase")
	fs.IntVar(&c.steps, "steps", 10, "steps of a multi-step workflow")
	fs.IntVar(&c.workers, "workers", 100, "concurrent workers of each system")
	fs.IntVar(&c.poolConns, "pool", 0, "connections in each system's pool for the work phases (0: workers+10)")
	fs.IntVar(&c.singleN, "single-n", 5000, "enqueues in the single-enqueue phase")
	fs.IntVar(&c.singleClients, "single-clients", 10, "goroutines enqueueing concurrently in the single-enqueue phase")
	// 1000 a round, so that a p99 is the tenth-slowest sample rather than the second: with
	// 200, a single stall of a few milliseconds on this kind of machine decided a round's p99.
	fs.IntVar(&c.latencyN, "latency-n", 1000, "enqueue-to-start samples per client kind and round")
	fs.DurationVar(&c.latencyGap, "latency-gap", 10*time.Millisecond, "pause between a latency sample's start and the next enqueue")
	fs.DurationVar(&c.latencyTimeout, "latency-timeout", 2*time.Second, "a latency sample not started by then counts as this long")
	fs.DurationVar(&c.latencyBudget, "latency-budget", 60*time.Second, "time limit of a latency phase; it takes fewer samples when they are slow")
	fs.DurationVar(&c.hostCheck, "host-check", 5*time.Second, "before the rounds, keep every CPU busy this long and report how often the machine stopped one (0: skip)")
	fs.DurationVar(&c.wfgenPoll, "wfgen-poll", 0, "wfgen Config.PollInterval (0: wfgen's default)")
	fs.DurationVar(&c.wfgenCooldown, "wfgen-cooldown", 0, "wfgen Config.FetchCooldown (0: wfgen's default)")
	fs.DurationVar(&c.riverPoll, "river-poll", 20*time.Millisecond, "River FetchPollInterval")
	fs.DurationVar(&c.riverCooldown, "river-cooldown", 2*time.Millisecond, "River FetchCooldown")
	fs.DurationVar(&c.dbosPoll, "dbos-poll", 10*time.Millisecond, "DBOS queue base polling interval")
	fs.DurationVar(&c.gowfPoll, "gowf-poll", 10*time.Millisecond, "go-workflows workflow and activity polling interval")
	fs.IntVar(&c.gowfPollers, "gowf-pollers", 4, "go-workflows workflow pollers and activity pollers")
	fs.IntVar(&c.gowfN, "gowf-n", 5000, "one-step workflows per go-workflows work phase (at most -n: it runs about 30 times slower)")
	fs.IntVar(&c.gowfNMulti, "gowf-n-multi", 500, "multi-step workflows per go-workflows work phase (at most -n-multi)")
	fs.IntVar(&c.aloneN, "alone-n", 100, "multi-step workflows per \"one workflow alone\" phase, started and awaited one at a time")
	fs.DurationVar(&c.pollEvery, "completion-poll", time.Millisecond, "interval of the completion count query once all work ran in-process")
	fs.DurationVar(&c.phaseTimeout, "phase-timeout", 3*time.Minute, "time limit of one phase")
	fs.BoolVar(&c.checkpoint, "checkpoint", true, "run CHECKPOINT before each timed phase (needs a superuser or pg_checkpoint)")
	fs.StringVar(&c.out, "out", "", "directory to write the JSON report to, as <UTC time>.json (empty: no report)")
	fs.BoolVar(&c.verbose, "v", false, "also print the statements each phase sent per unit of work")
	fs.BoolVar(&c.walRecords, "wal-records", false, "also print the WAL records of each work phase by kind, per unit of work (needs pg_walinspect: PostgreSQL 15 or later)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the whole run to this file (go tool pprof)")
	addScaleFlags(fs, &c.scale)
	addExtraFlags(fs, &c.extra)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	for _, s := range strings.Split(*systemList, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !slices.Contains(systems, s) {
			return c, fmt.Errorf("-systems: unknown system %q (known: %s)", s, strings.Join(systems, ", "))
		}
		c.systems = append(c.systems, s)
	}
	switch {
	case len(c.systems) == 0:
		return c, errors.New("-systems: no system to run")
	case c.rounds < 0 || c.rounds == 0 && !c.extra.on():
		return c, errors.New("-rounds must be at least 1 (0 only with -waits, -fanout or -procs: then only those run)")
	case c.oneStepN < 1 || c.tenStepN < 1 || c.steps < 1 || c.workers < 1 || c.singleN < 1 || c.singleClients < 1 || c.latencyN < 1 || c.aloneN < 1:
		return c, errors.New("-n, -n-multi, -steps, -workers, -single-n, -single-clients, -latency-n and -alone-n must be at least 1")
	case c.poolConns < 0:
		return c, errors.New("-pool must not be negative")
	case c.gowfN < 1 || c.gowfNMulti < 1 || c.gowfPollers < 1:
		return c, errors.New("-gowf-n, -gowf-n-multi and -gowf-pollers must be at least 1")
	}
	if err := c.scale.validate(); err != nil {
		return c, err
	}
	return c, c.extra.validate()
}

// Run runs the benchmark with the given command-line arguments and returns the exit code.
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == workerProcessFlag {
		return workerProcess(args[1:], stdout, stderr)
	}
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "compare:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "compare: -cpuprofile:", err)
			return 2
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if err := run(ctx, cfg, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "compare:", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		return errors.New("DATABASE_URL is not set (`make bench` sets it, starting a throwaway server when needed)")
	}
	mon, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connecting to DATABASE_URL: %w", err)
	}
	defer mon.Close(context.WithoutCancel(ctx))
	probe, err := newProbe(ctx, mon)
	if err != nil {
		return err
	}
	e := &env{
		cfg:    cfg,
		url:    url,
		mon:    mon,
		probe:  probe,
		logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		log:    stderr,
	}
	if cfg.walRecords {
		if err := e.enableWALRecords(ctx); err != nil {
			return err
		}
	}
	info, err := describe(ctx, e)
	if err != nil {
		return err
	}
	info.print(stdout, cfg)
	fmt.Fprintln(stdout)

	res := newResults()
	started := time.Now()
	var runErr error
	if cfg.scale.on && cfg.rounds > 0 {
		// Before the rounds, so that the seeding's writes (and the checkpoint that flushes
		// them) fall into no round's phases.
		runErr = e.seedScaled(ctx)
	}
	if runErr == nil {
		runErr = runRounds(ctx, e, res)
	}
	if runErr == nil && cfg.extra.on() {
		runErr = runExtras(ctx, e, res)
	}
	cleanup := context.WithoutCancel(ctx)
	for _, s := range []string{wfgenSchema, riverSchema, dbosSchema, gowfSchema, scaledSchema} {
		if err := e.dropSchema(cleanup, s); err != nil && runErr == nil {
			runErr = fmt.Errorf("dropping schema %s: %w", s, err)
		}
	}
	if len(res.order) == 0 {
		return runErr
	}
	var evs []evaluation
	for _, t := range targets {
		if !t.scale || cfg.scale.on {
			evs = append(evs, res.evaluate(t))
		}
	}
	report(stdout, cfg, res, evs, time.Since(started))
	reportScale(stdout, e)
	if cfg.out != "" {
		path, err := writeJSON(cfg, info, res, evs, started, e.scale)
		if err != nil {
			return errors.Join(runErr, fmt.Errorf("writing the JSON report: %w", err))
		}
		fmt.Fprintf(stdout, "\nJSON report: %s\n", path)
	}
	if runErr != nil {
		return fmt.Errorf("the run stopped early; the figures above are partial: %w", runErr)
	}
	return nil
}

// benchCase is one system's part of a group of comparable phases.
type benchCase struct {
	group  string
	system string
	run    func(ctx context.Context, e *env, res *results, round int) error
}

// runRounds runs every case once per round. Cases of one group run back to back so that
// the systems they compare see the same machine; their order rotates from round to round,
// so that none always goes first.
func runRounds(ctx context.Context, e *env, res *results) error {
	var groups [][]benchCase
	for _, c := range cases {
		if !slices.Contains(e.cfg.systems, c.system) {
			continue
		}
		if n := len(groups); n > 0 && groups[n-1][0].group == c.group {
			groups[n-1] = append(groups[n-1], c)
		} else {
			groups = append(groups, []benchCase{c})
		}
	}
	for round := 1; round <= e.cfg.rounds; round++ {
		for _, g := range groups {
			k := (round - 1) % len(g)
			for _, c := range append(g[k:len(g):len(g)], g[:k]...) {
				phaseCtx, cancel := context.WithTimeout(ctx, e.cfg.phaseTimeout)
				err := c.run(phaseCtx, e, res, round)
				cancel()
				if err != nil {
					return fmt.Errorf("round %d, %s %s: %w", round, c.system, c.group, err)
				}
			}
		}
	}
	return nil
}

// environment describes the machine and the server, for the report.
type environment struct {
	Postgres         string            `json:"postgres"`
	Settings         map[string]string `json:"settings"`
	CPUs             int               `json:"cpus"`
	LoadAvg          string            `json:"loadavg_at_start,omitempty"`
	Go               string            `json:"go"`
	Modules          map[string]string `json:"modules"`
	WfgenCommit      string            `json:"wfgen_commit,omitempty"`
	ServerCPUMeasure bool              `json:"server_cpu_measured"`
	HostStalls       *hostStalls       `json:"host_stalls,omitempty"`
	HostCheckError   string            `json:"host_check_error,omitempty"`
}

var reportedSettings = []string{"fsync", "synchronous_commit", "full_page_writes", "wal_sync_method", "shared_buffers", "max_connections"}

func describe(ctx context.Context, e *env) (environment, error) {
	info := environment{
		Settings:         map[string]string{},
		CPUs:             runtime.NumCPU(),
		Go:               runtime.Version(),
		Modules:          moduleVersions(),
		WfgenCommit:      gitCommit(),
		ServerCPUMeasure: e.probe.postmaster != 0,
	}
	if err := e.mon.QueryRow(ctx, "SELECT version()").Scan(&info.Postgres); err != nil {
		return info, err
	}
	if i := strings.Index(info.Postgres, " on "); i > 0 {
		info.Postgres = info.Postgres[:i]
	}
	for _, s := range reportedSettings {
		var v string
		if err := e.mon.QueryRow(ctx, "SELECT current_setting($1)", s).Scan(&v); err != nil {
			return info, err
		}
		info.Settings[s] = v
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		info.LoadAvg = strings.Join(f[:min(3, len(f))], " ")
	}
	if e.cfg.hostCheck > 0 {
		var err error
		if info.HostStalls, err = checkHost(e.cfg.hostCheck); err != nil {
			info.HostCheckError = err.Error()
		}
	}
	return info, nil
}

func (info environment) print(w io.Writer, cfg config) {
	fmt.Fprintf(w, "wfgen %s against River %s, DBOS Transact Go %s and go-workflows %s\n", orUnknown(info.WfgenCommit), orUnknown(info.Modules[riverModule]), orUnknown(info.Modules[dbosModule]), orUnknown(info.Modules[gowfModule]))
	fmt.Fprintf(w, "server: %s;", info.Postgres)
	for _, s := range reportedSettings {
		fmt.Fprintf(w, " %s=%s", s, info.Settings[s])
	}
	fmt.Fprintf(w, "\nmachine: %d CPUs, load average at start %s; %s\n", info.CPUs, orUnknown(info.LoadAvg), info.Go)
	info.HostStalls.print(w)
	if info.HostCheckError != "" {
		fmt.Fprintf(w, "note: no host check (%s)\n", info.HostCheckError)
	}
	fmt.Fprintf(w, "rounds: %d, systems alternating (%s); %d workers per system\n", cfg.rounds, strings.Join(cfg.systems, ", "), cfg.workers)
	fmt.Fprintf(w, "pools (pgxpool, one per system and phase, every connection opened before timing): %d connections for work and latency\n", cfg.poolSize())
	fmt.Fprintf(w, "  phases, %d for single enqueues (one per caller, plus one), 2 for the latency phase's second wfgen client\n", cfg.singleClients+1)
	fmt.Fprintf(w, "wfgen: PollInterval %s, FetchCooldown %s, queue WorkerConcurrency(%d)\n",
		orDefault(cfg.wfgenPoll, wf.DefaultPollInterval), orDefault(cfg.wfgenCooldown, wf.DefaultFetchCooldown), cfg.workers)
	fmt.Fprintf(w, "River: riverpgxv5, MaxWorkers %d, FetchCooldown %s, FetchPollInterval %s\n", cfg.workers, cfg.riverCooldown, cfg.riverPoll)
	fmt.Fprintf(w, "DBOS: queue WithWorkerConcurrency(%d), WithQueueBasePollingInterval(%s)\n", cfg.workers, cfg.dbosPoll)
	fmt.Fprintf(w, "go-workflows: PostgreSQL backend, %d workflow and %d activity pollers every %s, %d parallel tasks of each kind, SingleWorkerMode\n", cfg.gowfPollers, cfg.gowfPollers, cfg.gowfPoll, cfg.workers)
	if !info.ServerCPUMeasure {
		fmt.Fprintln(w, "note: the server's processes are not readable here (remote server?): its CPU is not reported")
	}
}

func orUnknown(s string) string { return cmp.Or(s, "unknown") }

// orDefault shows a wfgen setting: its value, or wfgen's default when it is unset.
func orDefault(d, def time.Duration) string {
	if d == 0 {
		return fmt.Sprintf("%s (default)", def)
	}
	return d.String()
}

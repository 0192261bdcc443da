// Command worker is a worker replica of the pipeline example: it migrates the application's
// schema, registers every workflow, step, queue and schedule of package pipeline, and runs
// them until SIGTERM or SIGINT; then it stops taking work, lets its running workflows finish
// (for -drain at most) and hands the rest back to their queues for the other replicas.
//
//	DATABASE_URL=postgres://... worker -id worker-1
//
// Run as many as you like: they form one worker pool.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wfgen/wfgen/examples/pipeline"
	"github.com/wfgen/wfgen/runtime/wf"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run() error {
	host, _ := os.Hostname()
	var (
		url      = flag.String("db", os.Getenv("DATABASE_URL"), "PostgreSQL URL (default $DATABASE_URL)")
		id       = flag.String("id", fmt.Sprintf("%s-%d", host, os.Getpid()), "this worker's executor ID")
		schema   = flag.String("schema", pipeline.DefaultSchema, "PostgreSQL schema of the application's tables")
		wfSchema = flag.String("wf-schema", "wfgen", "PostgreSQL schema of wfgen's tables")
		lease    = flag.Duration("lease", wf.DefaultLeaseDuration, "how long this worker's workflows stay its own without a heartbeat: the others take them over that long after it dies")
		pace     = flag.Duration("pace", 0, "how long each analytics step takes at least (to watch progress)")
		drain    = flag.Duration("drain", 10*time.Second, "on SIGTERM, how long running workflows may finish before they are handed back")
		verbose  = flag.Bool("v", false, "log at Info level (default Warn)")
		load     = flag.Int("load-demo-data", 0, "load the generated data of this many clients unless the schema has clients already (the demo loads its own)")
	)
	flag.Parse()
	if *url == "" {
		return fmt.Errorf("DATABASE_URL is not set: point it (or -db) at a PostgreSQL server, or run `make demo`, which starts one")
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("worker", *id)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	pool, err := pipeline.Connect(ctx, *url, *schema)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := pipeline.Migrate(ctx, pool, *schema); err != nil {
		return err
	}
	if *load > 0 {
		loaded, err := pipeline.Load(ctx, pool, pipeline.Generate(*load), time.Now())
		if err != nil {
			return err
		}
		if loaded {
			fmt.Printf("worker %s: loaded the demo data of %d clients\n", *id, *load)
		}
	}
	// The worker's client uses the application's pool: transactional steps write the
	// application's tables in the transaction of their checkpoint.
	c, err := wf.NewClient(pool, wf.Config{
		Schema:        *wfSchema,
		ExecutorID:    *id,
		Logger:        log,
		LeaseDuration: *lease,
		PollInterval:  200 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	if err := pipeline.Register(c, &pipeline.Steps{DB: pool, Executor: *id, Pace: *pace}); err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	fmt.Printf("worker %s: running (pid %d); SIGTERM drains and stops it\n", *id, os.Getpid())

	<-ctx.Done()
	fmt.Printf("worker %s: draining\n", *id)
	drainCtx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	if err := c.Stop(drainCtx); err != nil {
		return fmt.Errorf("stopping: %w", err)
	}
	fmt.Printf("worker %s: stopped\n", *id)
	return nil
}

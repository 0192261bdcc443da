// Command api is the pipeline example's HTTP server. It only enqueues workflows and reads
// them: the workers (cmd/worker) run them.
//
//	POST /pipeline/run/{client_id}   {"channels": ["email"], "baseline_date": "2026-12-01"}
//	                                 enqueues a ClientPipeline; answers 202 {"workflow_id": ...}
//	GET  /pipeline/status/{id}       its state, progress and, once done, result
//	GET  /pipeline/runs              the latest runs, with their progress
//	GET  /                           a page that shows the runs and their progress live
//	     /wfgen/                     wfgen's dashboard
//
// Errors are JSON, {"error": "..."}: 400 for a bad request, 404 for an unknown client or
// run ID.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wfgen/wfgen/examples/pipeline"
	"github.com/wfgen/wfgen/examples/pipeline/db"
	"github.com/wfgen/wfgen/runtime/wf"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		url      = flag.String("db", os.Getenv("DATABASE_URL"), "PostgreSQL URL (default $DATABASE_URL)")
		addr     = flag.String("addr", "localhost:8080", "address to listen on (port 0 picks a free port)")
		schema   = flag.String("schema", pipeline.DefaultSchema, "PostgreSQL schema of the application's tables")
		wfSchema = flag.String("wf-schema", "wfgen", "PostgreSQL schema of wfgen's tables")
		token    = flag.String("dashboard-token", os.Getenv("WFGEN_DASHBOARD_TOKEN"), "token the dashboard asks for before it changes anything (default $WFGEN_DASHBOARD_TOKEN)")
	)
	flag.Parse()
	if *url == "" {
		return fmt.Errorf("DATABASE_URL is not set: point it (or -db) at a PostgreSQL server, or run `make demo`, which starts one")
	}
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
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// Never started: this client enqueues and reads, and runs nothing.
	c, err := wf.NewClient(pool, wf.Config{Schema: *wfSchema, Logger: log})
	if err != nil {
		return err
	}
	if _, err := c.Migrate(ctx); err != nil {
		return err
	}
	dash, err := dashboard(c, *token)
	if err != nil {
		return err
	}
	s := &server{wf: c, q: db.New(pool)}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w (pass another -addr)", *addr, err)
	}
	srv := &http.Server{Handler: s.routes(dash), ReadHeaderTimeout: 5 * time.Second}
	// The demo reads this line to find the address.
	fmt.Printf("api: listening on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

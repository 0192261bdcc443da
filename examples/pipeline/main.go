// Command pipeline is wfgen's reference application: an analytics pipeline that computes
// metrics, features, segments and lifetime value for each client, in durable steps.
//
// Run it with `make demo` (which provides a PostgreSQL), or with DATABASE_URL set.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wfgen/wfgen/runtime/wf"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pipeline:", err)
		os.Exit(1)
	}
}

func run() error {
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		return fmt.Errorf("DATABASE_URL is not set: run `make demo`, which starts a throwaway PostgreSQL, or point DATABASE_URL at a server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	// Two worker replicas share the queue; Register (generated, like the functions below)
	// registers the package's workflows and steps.
	for _, id := range []string{"worker-1", "worker-2"} {
		w, err := wf.NewClient(pool, wf.Config{ExecutorID: id, Logger: log})
		if err != nil {
			return err
		}
		if err := Register(w); err != nil {
			return err
		}
		if err := w.Start(ctx); err != nil {
			return err
		}
		defer w.Stop(context.Background())
	}

	// The API server only enqueues and reads results, through the generated typed functions.
	api, err := wf.NewClient(pool, wf.Config{Logger: log})
	if err != nil {
		return err
	}
	var handles []EmailPipelineHandle
	for clientID := int64(1); clientID <= 5; clientID++ {
		h, err := EnqueueEmailPipeline(ctx, api, PipelineInput{ClientID: clientID},
			wf.WithID(fmt.Sprintf("pipeline-%d-%s", clientID, time.Now().Format("20060102T150405"))))
		if err != nil {
			return err
		}
		handles = append(handles, h)
	}
	for _, h := range handles {
		r, err := h.Result(ctx)
		if err != nil {
			return err
		}
		st, err := h.Status(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("client %d: segment=%-8s ltv=%7.2f  (workflow %s on %s)\n", r.ClientID, r.Segment, r.LTV, h.ID(), st.ExecutorID)
	}
	return nil
}

// Command demo runs the pipeline example end to end: `make demo`. See package demo.
//
//	go run ./examples/pipeline/cmd/demo [-keep] [-workers 3] [-clients 6]
//
// Without DATABASE_URL it starts a throwaway PostgreSQL. It exits 0 only if everything
// succeeded. With -keep, the API server (status page and dashboard on localhost:8080) and
// the surviving workers keep running after the summary until Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wfgen/wfgen/examples/pipeline/demo"
)

func main() {
	var opts demo.Options
	flag.BoolVar(&opts.Keep, "keep", false, "keep the API server and the workers running after the summary, until Ctrl-C")
	flag.IntVar(&opts.Workers, "workers", 3, "worker processes to start")
	flag.IntVar(&opts.Clients, "clients", 6, "clients to generate data for and run pipelines of")
	flag.DurationVar(&opts.Pace, "pace", 250*time.Millisecond, "how long each analytics step takes at least")
	flag.DurationVar(&opts.Lease, "lease", 2*time.Second, "the workers' lease: how soon a dead worker's workflows are taken over")
	flag.StringVar(&opts.Addr, "addr", "", "the API server's address (default localhost:8080 with -keep, else a free port)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := demo.Run(ctx, opts, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

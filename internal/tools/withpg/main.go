// Command withpg runs a command with DATABASE_URL pointing at a PostgreSQL server.
//
//	go run ./internal/tools/withpg [-durable] -- command [args...]
//
// When DATABASE_URL is already set it runs the command as is. Otherwise it starts a throwaway
// cluster from the PostgreSQL binaries on this machine (see internal/embedpg), runs the
// command with DATABASE_URL set, stops the cluster and exits with the command's status. The
// Makefile's test, demo and bench targets run through it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/wfgen/wfgen/internal/embedpg"
)

func main() {
	os.Exit(run())
}

func run() int {
	durable := flag.Bool("durable", false, "keep fsync and synchronous_commit on (for benchmarks)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: withpg [-durable] -- command [args...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		flag.Usage()
		return 2
	}

	if os.Getenv("DATABASE_URL") == "" {
		fmt.Fprintln(os.Stderr, "withpg: DATABASE_URL is not set; starting a throwaway PostgreSQL cluster")
		srv, err := embedpg.Start(context.Background(), embedpg.Options{Durable: *durable})
		if err != nil {
			fmt.Fprintln(os.Stderr, "withpg:", err)
			return 1
		}
		defer func() {
			if err := srv.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "withpg: stopping PostgreSQL:", err)
			}
		}()
		os.Setenv("DATABASE_URL", srv.URL)
	}

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// Forward interrupts to the command and let it decide; we clean up when it exits.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "withpg:", err)
		return 1
	}
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		if exit.ExitCode() >= 0 {
			return exit.ExitCode()
		}
		return 1
	default:
		fmt.Fprintln(os.Stderr, "withpg:", err)
		return 1
	}
}

// Command compare benchmarks wfgen against River and DBOS Transact Go on one PostgreSQL
// (DATABASE_URL). Run it through `make bench`, or see `go run ./cmd/compare -h`.
package main

import (
	"os"

	"github.com/wfgen/wfgen/bench/internal/compare"
)

func main() { os.Exit(compare.Run(os.Args[1:], os.Stdout, os.Stderr)) }

// Command wfgen generates typed workflow clients, step replay wrappers and registration
// from //wf: annotations, checks generated files in CI, migrates the database, and runs a
// PostgreSQL for development (wfgen devdb). Run "wfgen help" for its usage; the README's
// "Generating typed clients with wfgen" describes the annotations.
package main

import (
	"os"

	"github.com/wfgen/wfgen/internal/wfgen"
)

func main() {
	os.Exit(wfgen.Run(os.Args[1:], os.Stdout, os.Stderr))
}

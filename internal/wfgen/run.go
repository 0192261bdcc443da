// Package wfgen is the wfgen command: it generates typed clients, step replay wrappers
// and registration from //wf: annotations (see the README's "Generating typed clients
// with wfgen"), checks that generated files are up to date, applies the runtime's
// migrations, and runs a PostgreSQL for development (devdb); its operator commands
// (package cli) list, inspect, cancel, resume, fork and delete workflows. cmd/wfgen only
// calls Run.
//
// The pipeline: load (one packages.Load) -> analyze (annotations, validation against
// go/types, code hashes, replay checks, step counts, all mistakes at once) -> templates
// (jennifer, gofmt) -> write. Generate is the pure part; Write and Stale touch the file
// system.
//
// Per workflow F, wf_gen.go holds the client API (EnqueueF, EnqueueFTx, EnqueueManyF,
// StartF, DebounceF, GetF), the workflow-side child calls (EnqueueChildF, StartChildF,
// EnqueueChildrenF; not for scheduled workflows), the handle FHandle with Status, Result,
// Poll, Await, Cancel and typed accessors of the package-level events, topics and streams
// F uses, and, when F's body fixes it, wf.ExpectedSteps. The replay checks (package
// determinism) report non-deterministic code, client calls and I/O in workflow bodies; a
// //wf:allow <reason> comment on the line of a call or the line before it keeps a
// deliberate one quiet, and a //wf:allow without a reason is an error.
package wfgen

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	opcli "github.com/wfgen/wfgen/internal/wfgen/cli"
	"github.com/wfgen/wfgen/internal/wfgen/diag"
	"github.com/wfgen/wfgen/runtime/wf"
)

var usage = `usage:
  wfgen [-v] [packages]        generate wf_gen.go for each package with //wf: annotations
                               (default "."), and remove it from packages without any
  wfgen check [packages]       exit 1, listing them, when generated files are stale
  wfgen migrate [-schema s]    apply the runtime's migrations to $DATABASE_URL
  wfgen devdb [-data dir] [-port n] [-migrate=false] [-print-url | -json]
                               run a local PostgreSQL for development until Ctrl-C, and
                               print the DATABASE_URL to use (wfgen devdb -h: all flags)

Packages are patterns as for go build, such as ./... .

Operating workflows (wfgen <command> -h for its flags):
` + opcli.Usage()

// Run runs the wfgen command with the given arguments (without the program name) and
// returns its exit code: 0 on success, 1 when user code has mistakes or generated files
// are stale, 2 on a usage error.
func Run(args []string, stdout, stderr io.Writer) int {
	return run("", args, stdout, stderr)
}

// run is Run in directory dir ("" is the current directory), so that tests can run the
// command in many module directories at once.
func run(dir string, args []string, stdout, stderr io.Writer) int {
	cmd := "generate"
	if len(args) > 0 {
		if slices.Contains(opcli.Names(), args[0]) {
			return opcli.Run(args[0], args[1:], stdout, stderr, os.Getenv)
		}
		switch args[0] {
		case "check", "migrate", "devdb", "help", "-h", "-help", "--help":
			cmd, args = args[0], args[1:]
		}
	}
	switch cmd {
	case "generate":
		return generate(dir, args, stdout, stderr)
	case "check":
		return check(dir, args, stdout, stderr)
	case "migrate":
		return migrate(args, stdout, stderr)
	case "devdb":
		return devdb(args, stdout, stderr)
	}
	fmt.Fprint(stdout, usage)
	return 0
}

func flags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("wfgen "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	return fs
}

func generate(dir string, args []string, stdout, stderr io.Writer) int {
	fs := flags("", stderr)
	verbose := fs.Bool("v", false, "print the files written and removed")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	res, code := runGenerate(dir, fs.Args(), stderr)
	if res == nil {
		return code
	}
	changed, err := Write(res.Files)
	if *verbose {
		for _, f := range changed {
			verb := "wrote"
			if f.Content == nil {
				verb = "removed"
			}
			fmt.Fprintf(stdout, "wfgen: %s %s\n", verb, rel(dir, f.Path))
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "wfgen: %v\n", err)
		return 1
	}
	return 0
}

func check(dir string, args []string, stdout, stderr io.Writer) int {
	fs := flags("check", stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	res, code := runGenerate(dir, fs.Args(), stderr)
	if res == nil {
		return code
	}
	stale, err := Stale(res.Files)
	if err != nil {
		fmt.Fprintf(stderr, "wfgen: %v\n", err)
		return 1
	}
	if len(stale) == 0 {
		return 0
	}
	for _, f := range stale {
		what := "is stale"
		if f.Content == nil {
			what = "should be removed: its package has no annotations"
		} else if _, err := os.Stat(f.Path); errors.Is(err, os.ErrNotExist) {
			what = "is missing"
		}
		fmt.Fprintf(stderr, "%s %s\n", rel(dir, f.Path), what)
	}
	fmt.Fprintln(stderr, "wfgen: generated files are out of date: run go generate (or wfgen) and commit the result")
	return 1
}

// runGenerate runs Generate and reports its errors; res is nil when it failed.
func runGenerate(dir string, patterns []string, stderr io.Writer) (res *Result, code int) {
	res, err := Generate(Config{Dir: dir, Patterns: patterns})
	var diags *diag.Error
	switch {
	case errors.As(err, &diags):
		diags.Print(stderr, base(dir))
		return nil, 1
	case err != nil:
		fmt.Fprintf(stderr, "wfgen: %v\n", err)
		return nil, 1
	}
	return res, 0
}

// base is the directory paths are printed relative to.
func base(dir string) string {
	if dir != "" {
		return dir
	}
	wd, _ := os.Getwd()
	return wd
}

func rel(dir, path string) string {
	return diag.RelPath(path, base(dir))
}

func migrate(args []string, stdout, stderr io.Writer) int {
	fs := flags("migrate", stderr)
	schema := fs.String("schema", "", "the PostgreSQL schema of wfgen's tables (default \"wfgen\", as wf.Config.Schema)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wfgen migrate: unexpected arguments %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		fmt.Fprintln(stderr, "wfgen migrate: DATABASE_URL is not set: set it to the PostgreSQL server to migrate")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		fmt.Fprintf(stderr, "wfgen migrate: DATABASE_URL: %v\n", err)
		return 1
	}
	defer pool.Close()
	c, err := wf.NewClient(pool, wf.Config{Schema: *schema, Logger: slog.New(slog.NewTextHandler(stderr, nil))})
	if err != nil {
		fmt.Fprintf(stderr, "wfgen migrate: %v\n", err)
		return 2
	}
	applied, err := c.Migrate(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "wfgen migrate: %v\n", err)
		return 1
	}
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "wfgen migrate: schema %s is up to date\n", c.Schema())
	}
	for _, name := range applied {
		fmt.Fprintf(stdout, "wfgen migrate: applied %s to schema %s\n", name, c.Schema())
	}
	return 0
}

// Package cli holds wfgen's operator commands: list, get, steps, cancel, resume, fork,
// delete, queues, executors and dashboard, one file each. They read DATABASE_URL, print a
// table for people or JSON (-json) for scripts, and exit 0 on success, 1 when the operation
// failed (an unknown ID, a workflow in the wrong state, an unreachable database) and 2 on a
// usage error, saying what to do. dashboard serves the web dashboard until it is
// interrupted.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wfgen/wfgen/runtime/wf"
)

// Env is how a command reads its environment (os.Getenv; tests give their own).
type Env func(string) string

// command is one operator command.
type command struct {
	args    string // the synopsis of its arguments
	summary string
	run     func(ctx context.Context, x *invocation) error
	flags   func(fs *flag.FlagSet, x *invocation)
	// check validates the flags before the database is opened; its error is a usage error.
	check func(x *invocation) error
	// serves is true for a command that runs until it is interrupted, without the one-minute
	// limit of the others.
	serves bool
}

// commands are the operator commands, by name.
var commands = map[string]command{}

// Names returns the operator commands' names, sorted as the usage lists them.
func Names() []string {
	return []string{"list", "get", "steps", "cancel", "resume", "fork", "delete", "queues", "executors", "dashboard"}
}

// Usage is the operator commands' part of wfgen's usage.
func Usage() string {
	var b strings.Builder
	for _, name := range Names() {
		c := commands[name]
		fmt.Fprintf(&b, "  wfgen %-22s %s\n", strings.TrimSpace(name+" "+c.args), c.summary)
	}
	b.WriteString("\nOperator commands read $DATABASE_URL; -schema names wfgen's schema (default \"wfgen\"),\n-json prints JSON instead of a table.\n")
	return b.String()
}

// invocation is what a running command has: its client, flags and output.
type invocation struct {
	client *wf.Client
	args   []string
	json   bool
	out    io.Writer
	errOut io.Writer
	env    Env

	// command-specific flags
	states                string
	workflow, queue, exec string
	parent, prefix        string
	since                 time.Duration
	stranded              bool
	limit, offset         int
	fromStep              int
	forkID, forkQueue     string
	forkHash              string
	addr, token           string
	publicReads           bool
}

// Run runs operator command name with its arguments, and returns the exit code. SIGINT and
// SIGTERM interrupt it.
func Run(name string, args []string, stdout, stderr io.Writer, env Env) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return RunContext(ctx, name, args, stdout, stderr, env)
}

// RunContext is Run interrupted when ctx ends instead of by signals.
func RunContext(ctx context.Context, name string, args []string, stdout, stderr io.Writer, env Env) int {
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "wfgen: unknown command %q\n", name)
		return 2
	}
	x := &invocation{out: stdout, errOut: stderr, env: env}
	fs := flag.NewFlagSet("wfgen "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: wfgen %s [flags] %s\n  %s\n", name, c.args, c.summary)
		fs.PrintDefaults()
	}
	schema := fs.String("schema", "", "the PostgreSQL schema of wfgen's tables (default \"wfgen\", as wf.Config.Schema)")
	fs.BoolVar(&x.json, "json", false, "print JSON instead of a table")
	if c.flags != nil {
		c.flags(fs, x)
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	x.args = fs.Args()
	if want := strings.Count(c.args, "<"); len(x.args) != want {
		fmt.Fprintf(stderr, "wfgen %s: want %d argument(s) (%s), got %d\n", name, want, c.args, len(x.args))
		return 2
	}
	if c.check != nil {
		if err := c.check(x); err != nil {
			fmt.Fprintf(stderr, "wfgen %s: %v\n", name, err)
			return 2
		}
	}
	url := env("DATABASE_URL")
	if url == "" {
		fmt.Fprintf(stderr, "wfgen %s: DATABASE_URL is not set: set it to your application's PostgreSQL (postgres://user:password@host:5432/db)\n", name)
		return 2
	}
	if !c.serves {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Minute)
		defer cancel()
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		fmt.Fprintf(stderr, "wfgen %s: DATABASE_URL: %v\n", name, err)
		return 2
	}
	defer pool.Close()
	x.client, err = wf.NewClient(pool, wf.Config{Schema: *schema, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		fmt.Fprintf(stderr, "wfgen %s: %v\n", name, err)
		return 2
	}
	// Stop sends what the client announced (a resume, a fork) before the pool closes.
	defer x.client.Stop(context.WithoutCancel(ctx)) //nolint:errcheck // a client that was not started stops without error
	if err := c.run(ctx, x); err != nil {
		fmt.Fprintf(stderr, "wfgen %s: %v\n", name, explain(err))
		return 1
	}
	return 0
}

// explain adds what to do to the errors operators meet most.
func explain(err error) error {
	switch {
	case errors.Is(err, wf.ErrNotMigrated):
		return fmt.Errorf("%w: run wfgen migrate first, or pass the -schema your application uses", err)
	case errors.Is(err, wf.ErrNotFound):
		return fmt.Errorf("%w: check the ID (wfgen list shows the newest) and the -schema", err)
	}
	return err
}

// printJSON prints v as indented JSON.
func (x *invocation) printJSON(v any) error {
	enc := json.NewEncoder(x.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints rows under a header, aligned.
func (x *invocation) table(header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(x.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// when formats a time for a table: "-" for none.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// orDash is s, or "-" when empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// short cuts s to n characters for a table column.
func short(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

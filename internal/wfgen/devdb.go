package wfgen

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

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wfgen/wfgen/internal/embedpg"
	"github.com/wfgen/wfgen/runtime/wf"
)

const devdbUsage = `usage: wfgen devdb [flags]

Runs a PostgreSQL server for development on 127.0.0.1, from the PostgreSQL binaries on this
machine, applies wfgen's migrations, prints the DATABASE_URL to use, and runs until Ctrl-C
or SIGTERM, then stops the server cleanly. It trusts every local connection: it is not for
production. Exit status: 0 after a clean stop, 1 when the server cannot start or stops on
its own, 2 on a usage error.

Flags:
`

// DefaultDevDBPort is the port `wfgen devdb` listens on unless -port says otherwise: fixed,
// so that an application's DATABASE_URL stays the same from one run to the next, and next to
// PostgreSQL's own 5432 rather than on it, so that it runs beside a system server.
const DefaultDevDBPort = 5433

// devDBInfo is what `wfgen devdb -json` prints once the database is ready.
type devDBInfo struct {
	URL  string `json:"url"`
	Port int    `json:"port"`
	// Data is the cluster's data directory; Temporary says that it is removed on exit.
	Data      string `json:"data"`
	Temporary bool   `json:"temporary"`
	Log       string `json:"log"`
}

// devdb runs a PostgreSQL server for development until it is interrupted. Its standard
// output carries only the result, printed once the server accepts connections and the
// migrations are applied: an export line for a shell, the bare URL (-print-url) or a JSON
// object (-json). Everything else goes to standard error.
func devdb(args []string, stdout, stderr io.Writer) int {
	fs := flags("devdb", stderr)
	data := fs.String("data", "", "keep the cluster in this folder: created on first use, started again by later runs (default: a temporary cluster, removed on exit)")
	port := fs.Int("port", DefaultDevDBPort, "the port to listen on, on 127.0.0.1; 0 picks a free one")
	migrateFlag := fs.Bool("migrate", true, "apply wfgen's migrations (-migrate=false leaves the database empty)")
	schema := fs.String("schema", "", "the PostgreSQL schema of wfgen's tables to migrate (default \"wfgen\", as wf.Config.Schema)")
	bin := fs.String("bin", "", "the directory of PostgreSQL's initdb and postgres (default: found on PATH or in the usual install locations)")
	printURL := fs.Bool("print-url", false, "print only the connection URL on standard output")
	asJSON := fs.Bool("json", false, "print the URL, port and data folder as one JSON object on standard output")
	fs.Usage = func() {
		fmt.Fprint(stderr, devdbUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		return 2
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "wfgen devdb: unexpected arguments %s\n", strings.Join(fs.Args(), " "))
		return 2
	case *port < 0 || *port > 65535:
		fmt.Fprintf(stderr, "wfgen devdb: -port %d is not a port: give one from 1 to 65535, or 0 for a free one\n", *port)
		return 2
	case *printURL && *asJSON:
		fmt.Fprintln(stderr, "wfgen devdb: -print-url and -json both say what to print: give one")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := embedpg.Start(ctx, embedpg.Options{
		Dir:    *data,
		Port:   *port,
		BinDir: *bin,
		// A cluster that is kept must survive a power cut; a throwaway one need not.
		Durable:        *data != "",
		MaxConnections: 100,
	})
	switch {
	case errors.Is(err, embedpg.ErrNoBinaries):
		fmt.Fprintf(stderr, "wfgen devdb: %v\n  or, when they are installed elsewhere, pass their directory with -bin\n", err)
		return 1
	case errors.Is(err, embedpg.ErrPortInUse):
		fmt.Fprintf(stderr, "wfgen devdb: %v: another server listens there (another wfgen devdb?); choose another port with -port, or -port 0 for a free one\n", err)
		return 1
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "wfgen devdb: interrupted while starting PostgreSQL")
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "wfgen devdb: starting PostgreSQL: %v\n", err)
		return 1
	}
	code := serveDevDB(ctx, srv, *data == "", *migrateFlag, *schema, *printURL, *asJSON, stdout, stderr)
	stop() // a second Ctrl-C while stopping ends this process, and the kernel stops the server
	if err := srv.Stop(); err != nil {
		fmt.Fprintf(stderr, "wfgen devdb: stopping PostgreSQL: %v\n", err)
		return 1
	}
	if *data == "" {
		fmt.Fprintln(stderr, "wfgen devdb: stopped PostgreSQL and removed its temporary cluster")
	} else {
		fmt.Fprintf(stderr, "wfgen devdb: stopped PostgreSQL; its data stays in %s (wfgen devdb -data %s starts it again)\n", srv.DataDir(), *data)
	}
	return code
}

// serveDevDB prepares the running server, says where it is, and waits for an interrupt
// (code 0) or for the server to exit on its own (code 1).
func serveDevDB(ctx context.Context, srv *embedpg.Server, temporary, migrate bool, schema string, printURL, asJSON bool, stdout, stderr io.Writer) int {
	pool, err := pgxpool.New(ctx, srv.URL)
	if err != nil {
		fmt.Fprintf(stderr, "wfgen devdb: %v\n", err)
		return 1
	}
	defer pool.Close()
	var version string
	if err := pool.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		fmt.Fprintf(stderr, "wfgen devdb: %v\n", err)
		return 1
	}
	where := srv.DataDir() + " (kept after exit)"
	if temporary {
		where = "a temporary folder, removed on exit"
	}
	fmt.Fprintf(stderr, "wfgen devdb: PostgreSQL %s listens on 127.0.0.1:%d, data in %s\n", version, srv.Port(), where)
	if migrate {
		c, err := wf.NewClient(pool, wf.Config{Schema: schema, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			fmt.Fprintf(stderr, "wfgen devdb: %v\n", err)
			return 2
		}
		applied, err := c.Migrate(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "wfgen devdb: migrating: %v\n", err)
			return 1
		}
		if len(applied) == 0 {
			fmt.Fprintf(stderr, "wfgen devdb: schema %s is up to date\n", c.Schema())
		} else {
			fmt.Fprintf(stderr, "wfgen devdb: applied %s to schema %s\n", strings.Join(applied, ", "), c.Schema())
		}
	}
	pool.Close() // the server's connections are the application's

	switch {
	case asJSON:
		b, _ := json.Marshal(devDBInfo{URL: srv.URL, Port: srv.Port(), Data: srv.DataDir(), Temporary: temporary, Log: srv.LogPath()})
		fmt.Fprintf(stdout, "%s\n", b)
	case printURL:
		fmt.Fprintln(stdout, srv.URL)
	default:
		fmt.Fprintln(stderr, "wfgen devdb: point your application (and go test) at it with:")
		fmt.Fprintf(stdout, "export DATABASE_URL='%s'\n", srv.URL)
	}
	fmt.Fprintf(stderr, "wfgen devdb: running until Ctrl-C or SIGTERM; the server log is %s\n", srv.LogPath())

	select {
	case <-ctx.Done():
		return 0
	case <-srv.Exited():
		fmt.Fprintf(stderr, "wfgen devdb: PostgreSQL exited on its own (%v): see %s\n", srv.ExitErr(), srv.LogPath())
		return 1
	}
}

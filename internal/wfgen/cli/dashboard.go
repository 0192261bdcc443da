package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/wfgen/wfgen/runtime/wfdash"
)

// dashboardTokenEnv is the environment variable that gives the dashboard's token when
// -token does not.
const dashboardTokenEnv = "WFGEN_DASHBOARD_TOKEN"

func init() {
	commands["dashboard"] = command{
		summary: "serve the web dashboard until interrupted (-addr, -token or $" + dashboardTokenEnv + ", -public-reads)",
		flags: func(fs *flag.FlagSet, x *invocation) {
			fs.StringVar(&x.addr, "addr", "127.0.0.1:8080", "the address to listen on")
			fs.StringVar(&x.token, "token", "", "the token that signs in and authorizes writes, at least 16 characters (default $"+dashboardTokenEnv+")")
			fs.BoolVar(&x.publicReads, "public-reads", false, "let anyone who reaches the address read the pages without the token (writes still need it)")
		},
		check: func(x *invocation) error {
			if x.token == "" {
				x.token = x.env(dashboardTokenEnv)
			}
			if x.token == "" {
				return fmt.Errorf("no token: pass -token or set $%s (at least %d characters, such as the output of `openssl rand -hex 16`); writes through the dashboard need it", dashboardTokenEnv, wfdash.MinTokenLength)
			}
			if len(x.token) < wfdash.MinTokenLength {
				return fmt.Errorf("the token has %d characters: use at least %d (such as the output of `openssl rand -hex 16`)", len(x.token), wfdash.MinTokenLength)
			}
			return nil
		},
		serves: true,
		run:    dashboard,
	}
}

func dashboard(ctx context.Context, x *invocation) error {
	dash, err := wfdash.New(x.client, wfdash.Options{Token: x.token, PublicReads: x.publicReads})
	if err != nil {
		return err
	}
	// Fail now, not on the first page, when the database is unreachable or not migrated.
	if _, err := x.client.QueueDepths(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", x.addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w (pick another -addr)", x.addr, err)
	}
	srv := &http.Server{Handler: dash, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(x.out, "wfgen dashboard: serving http://%s/ until interrupted (Ctrl-C)\n", ln.Addr())
	if host, _, err := net.SplitHostPort(ln.Addr().String()); err == nil {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			fmt.Fprintf(x.errOut, "wfgen dashboard: %s is reachable from other machines over plain HTTP: serve it behind a TLS proxy, or the token travels in clear\n", ln.Addr())
		}
	}
	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("stopping: %w", err)
	}
	fmt.Fprintln(x.out, "wfgen dashboard: stopped")
	return nil
}

// Package embedpg starts a PostgreSQL cluster from the PostgreSQL binaries installed on the
// machine: a throwaway one for the README's commands and for tests when DATABASE_URL is not
// set, and the development database of `wfgen devdb`, whose data can be kept in a folder.
//
// By default the cluster lives in a temporary directory, listens on a free loopback port,
// trusts local connections and is removed by [Server.Stop]; [Options.Dir] keeps it in a
// folder instead and [Options.Port] fixes its port. The server runs as a child of this
// process with a parent-death signal, so a killed test run never leaves a server behind.
// initdb and postgres refuse to run as root: when this process is root they run as the
// "postgres" user (or "nobody" when there is none), who must be able to reach the folder.
package embedpg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries is returned (wrapped, with [InstallHint]) when no PostgreSQL server
// binaries are found.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries (initdb, postgres) found")

// ErrPortInUse is returned (wrapped) when [Options.Port] is taken by another process.
var ErrPortInUse = errors.New("port is in use")

// InstallHint says how to get the PostgreSQL server binaries.
const InstallHint = `install the PostgreSQL server binaries (initdb, postgres), for example:
    Debian/Ubuntu:  sudo apt-get install -y postgresql
    Fedora/RHEL:    sudo dnf install -y postgresql-server
    macOS:          brew install postgresql@17
  or set DATABASE_URL to a PostgreSQL server you already run`

// Options configures a cluster. The zero value is a fast, non-durable cluster for tests.
type Options struct {
	// Durable keeps fsync and synchronous commit on, as a production server runs. Leave it
	// off for tests: they are several times faster without.
	Durable bool
	// MaxConnections is the server's max_connections. Default 300.
	MaxConnections int
	// Dir, when set, is the cluster's data directory, kept after Stop: Start creates a
	// cluster there (initdb) when the directory is missing or empty, and starts the cluster
	// it holds otherwise; a non-empty directory without a cluster is an error. The server log
	// is Dir/server.log, rewritten at each Start. Default: a temporary directory that Stop
	// removes.
	Dir string
	// Port is the TCP port the server listens on, on 127.0.0.1. Default (0): a free port.
	Port int
	// BinDir is the directory of initdb and postgres. Default: the one FindBinaries finds.
	BinDir string
	// Log, when set, receives progress messages.
	Log func(format string, args ...any)
}

// Server is a running cluster.
type Server struct {
	// URL is a connection string for the postgres superuser and database.
	URL string

	dir     string // the temporary directory Stop removes; "" for a kept Dir
	bin     string
	data    string
	logPath string
	port    int
	conf    []string // postgres -c settings but the port
	cred    *syscall.Credential
	logf    func(string, ...any)
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has exited, after exitErr is set
	exitErr error
}

// DataDir returns the cluster's data directory.
func (s *Server) DataDir() string { return s.data }

// LogPath returns the file the server writes its log to.
func (s *Server) LogPath() string { return s.logPath }

// Port returns the TCP port the server listens on.
func (s *Server) Port() int { return s.port }

// Exited is closed when the server process exits, whoever stopped it; ExitErr then says how.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// ExitErr is the server process's exit status once Exited is closed.
func (s *Server) ExitErr() error { return s.exitErr }

// searchGlobs are where FindBinaries looks for initdb after PATH: Debian and Ubuntu's
// packages, Homebrew's postgresql@N formulas (which it does not link onto PATH), Postgres.app,
// and the PostgreSQL project's RPMs.
var searchGlobs = []string{
	"/usr/lib/postgresql/*/bin/initdb",
	"/opt/homebrew/opt/postgresql@*/bin/initdb",
	"/usr/local/opt/postgresql@*/bin/initdb",
	"/Applications/Postgres.app/Contents/Versions/*/bin/initdb",
	"/usr/pgsql-*/bin/initdb",
}

// FindBinaries returns the directory that holds initdb and postgres: the one on PATH, or the
// newest PostgreSQL among the usual install locations (/usr/lib/postgresql/*/bin, Homebrew's
// opt/postgresql@*/bin, Postgres.app, /usr/pgsql-*/bin). The error wraps [ErrNoBinaries].
func FindBinaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if resolved, err := filepath.EvalSymlinks(p); err == nil {
			p = resolved
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	var matches []string
	for _, g := range searchGlobs {
		m, _ := filepath.Glob(g)
		matches = append(matches, m...)
	}
	sort.SliceStable(matches, func(i, j int) bool { return versionOf(matches[i]) > versionOf(matches[j]) })
	for _, m := range matches {
		dir := filepath.Dir(m)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%w on PATH or in the usual install locations: %s", ErrNoBinaries, InstallHint)
}

// checkBinaries reports whether dir holds initdb and postgres.
func checkBinaries(dir string) error {
	for _, name := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("%w in %s (no %s there): %s", ErrNoBinaries, dir, name, InstallHint)
		}
	}
	return nil
}

// versionOf is the major version in an install path such as /usr/lib/postgresql/16/bin/initdb
// or /opt/homebrew/opt/postgresql@16/bin/initdb; 0 when there is none.
func versionOf(initdb string) int {
	name := filepath.Base(filepath.Dir(filepath.Dir(initdb)))
	if i := strings.LastIndexAny(name, "@-"); i >= 0 {
		name = name[i+1:]
	}
	v, _ := strconv.Atoi(name)
	return v
}

// Start initializes (unless Options.Dir holds a cluster already) and starts a cluster, and
// waits until it accepts connections.
func Start(ctx context.Context, opts Options) (*Server, error) {
	logf := opts.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	bin := opts.BinDir
	if bin == "" {
		var err error
		if bin, err = FindBinaries(); err != nil {
			return nil, err
		}
	} else if err := checkBinaries(bin); err != nil {
		return nil, err
	}
	if opts.Port != 0 {
		// Ask first, so that a taken port gets a plain answer rather than a server log.
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", opts.Port))
		if err != nil {
			return nil, fmt.Errorf("127.0.0.1:%d: %w (%v)", opts.Port, ErrPortInUse, err)
		}
		l.Close()
	}
	cred, serverUser, err := serverCredential()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, cred: cred, logf: logf}
	ok := false
	defer func() {
		if !ok && s.dir != "" {
			os.RemoveAll(s.dir)
		}
	}()
	fresh := true
	if opts.Dir == "" {
		if s.dir, err = os.MkdirTemp("", "wfgen-pg-"); err != nil {
			return nil, err
		}
		s.data = filepath.Join(s.dir, "data")
		s.logPath = filepath.Join(s.dir, "server.log")
		if err := os.Mkdir(s.data, 0o700); err != nil {
			return nil, err
		}
		if cred != nil {
			// The temporary directory is root's; the server user must be able to enter it.
			if err := os.Chmod(s.dir, 0o755); err != nil {
				return nil, err
			}
		}
	} else {
		if s.data, err = filepath.Abs(opts.Dir); err != nil {
			return nil, err
		}
		s.logPath = filepath.Join(s.data, "server.log")
		if cred != nil {
			if err := reachable(s.data, cred, serverUser); err != nil {
				return nil, err
			}
		}
		if fresh, err = prepareDir(s.data, bin); err != nil {
			return nil, err
		}
	}
	if cred != nil && fresh {
		if err := os.Chown(s.data, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}

	if fresh {
		logf("embedpg: initdb in %s", s.data)
		initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
			"-D", s.data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
		initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		// Interrupted, initdb removes what it wrote, so that the folder can be used again.
		initdb.Cancel = func() error { return initdb.Process.Signal(os.Interrupt) }
		if out, err := initdb.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("initdb: %v\n%s", err, out)
		}
	}
	// A kept cluster's log tells about this run only.
	if err := os.WriteFile(s.logPath, nil, 0o600); err != nil {
		return nil, err
	}

	maxConns := opts.MaxConnections
	if maxConns == 0 {
		maxConns = 300
	}
	// The settings go on postgres's command line, which overrides the configuration files, so
	// that a kept cluster's own postgresql.conf and ALTER SYSTEM settings are left alone.
	s.conf = []string{
		"listen_addresses=127.0.0.1",
		"unix_socket_directories=" + socketDir(s.data),
		fmt.Sprintf("max_connections=%d", maxConns),
		"shared_buffers=256MB",
		"logging_collector=off",
	}
	if !opts.Durable {
		s.conf = append(s.conf, "fsync=off", "synchronous_commit=off", "full_page_writes=off")
	}

	if opts.Port != 0 {
		s.setPort(opts.Port)
		if err := s.run(ctx); err != nil {
			return nil, err
		}
		ok = true
		return s, nil
	}
	// A free port can be taken between our probe and the server's bind: try a few.
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s.setPort(port)
		if lastErr = s.run(ctx); lastErr == nil {
			ok = true
			return s, nil
		}
	}
	return nil, lastErr
}

func (s *Server) setPort(port int) {
	s.port = port
	s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
}

// prepareDir makes dir ready for a kept cluster and reports whether it needs initdb: it does
// when dir is missing or empty; a cluster in it must be of bin's major version.
func prepareDir(dir, bin string) (fresh bool, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		// The folders on the way are the user's; only the cluster's own is private.
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return false, err
		}
		return true, os.Mkdir(dir, 0o700)
	case err != nil:
		return false, err
	case len(entries) == 0:
		return true, nil
	}
	version, err := os.ReadFile(filepath.Join(dir, "PG_VERSION"))
	if err != nil {
		return false, fmt.Errorf("%s is not empty and holds no PostgreSQL cluster (no PG_VERSION file): choose a new or empty folder", dir)
	}
	clusterMajor := strings.TrimSpace(string(version))
	out, err := exec.Command(filepath.Join(bin, "postgres"), "--version").Output()
	if err != nil {
		return false, fmt.Errorf("%s --version: %w", filepath.Join(bin, "postgres"), err)
	}
	if binMajor := majorOf(string(out)); binMajor != "" && binMajor != clusterMajor {
		return false, fmt.Errorf("the cluster in %s is PostgreSQL %s's, and the binaries in %s are PostgreSQL %s's, which cannot start it: use PostgreSQL %s's binaries, or a new folder (pg_upgrade moves the data over)",
			dir, clusterMajor, bin, binMajor, clusterMajor)
	}
	return false, nil
}

// majorOf returns the major version in `postgres --version` output such as
// "postgres (PostgreSQL) 16.4 (Debian 16.4-1)": "16".
func majorOf(versionOutput string) string {
	_, rest, found := strings.Cut(versionOutput, ") ")
	if !found {
		return ""
	}
	v, _, _ := strings.Cut(strings.Fields(rest + " ")[0], ".")
	return v
}

// socketDir is where the server puts its Unix socket: the data directory, unless the socket's
// path would be longer than Unix sockets allow (about 107 bytes); then none, and clients
// connect over TCP only (as the URL does).
func socketDir(data string) string {
	if len(data)+len("/.s.PGSQL.65535") > 100 {
		return ""
	}
	return data
}

// reachable checks that the server user (cred, called name) can enter every existing
// directory on the way to dir, which PostgreSQL needs, before initdb or postgres fail with a
// less helpful message. Directories still to be made are made open to all.
func reachable(dir string, cred *syscall.Credential, name string) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		var st syscall.Stat_t
		if err := syscall.Stat(d, &st); errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			return err
		}
		var ok bool
		switch {
		case st.Uid == cred.Uid:
			ok = st.Mode&0o100 != 0
		case st.Gid == cred.Gid:
			ok = st.Mode&0o010 != 0
		default:
			ok = st.Mode&0o001 != 0
		}
		if !ok {
			return fmt.Errorf("running as root, PostgreSQL runs as the user %q (initdb and postgres refuse root), who cannot enter %s on the way to %s: choose a folder that user can reach (outside root's home, for example), or run as a normal user", name, d, dir)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func (s *Server) run(ctx context.Context) error {
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	args := []string{"-D", s.data, "-c", fmt.Sprintf("port=%d", s.port)}
	for _, c := range s.conf {
		args = append(args, "-c", c)
	}
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Pdeathsig: if this process dies, the kernel tells the server to shut down at once.
	// Setpgid: a Ctrl-C in the terminal reaches this process, which decides, not the server.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	s.cmd = cmd
	exited := make(chan struct{})
	s.exited = exited
	go func() {
		s.exitErr = cmd.Wait()
		close(exited)
	}()

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			out, _ := os.ReadFile(s.logPath)
			return fmt.Errorf("postgres exited during start (%v):\n%s", s.exitErr, tail(string(out), 2000))
		default:
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(cctx, s.URL)
		cancel()
		if err == nil {
			conn.Close(ctx)
			s.logf("embedpg: listening at %s", s.URL)
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("postgres did not accept connections: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts the server down cleanly and removes its temporary directory (a kept
// Options.Dir stays).
func (s *Server) Stop() error {
	var err error
	if s.cmd != nil && s.cmd.Process != nil {
		// SIGINT is PostgreSQL's "fast" shutdown: it ends sessions and stops cleanly.
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.exited:
		case <-time.After(20 * time.Second):
			s.kill()
			err = errors.New("postgres did not stop within 20s; killed it")
		}
	}
	if s.dir != "" {
		if rmErr := os.RemoveAll(s.dir); rmErr != nil && err == nil {
			err = rmErr
		}
	}
	return err
}

// Crash stops the server the way `pg_ctl stop -m immediate` does (SIGQUIT: every process
// exits at once, without a checkpoint), keeping its data: Resume starts it again and it
// recovers from its write-ahead log, as after a crash. Fault tests use it.
func (s *Server) Crash() error {
	return s.halt(syscall.SIGQUIT)
}

// Halt shuts the server down cleanly (a "fast" shutdown), keeping its data for Resume.
func (s *Server) Halt() error {
	return s.halt(syscall.SIGINT)
}

func (s *Server) halt(sig syscall.Signal) error {
	if err := s.cmd.Process.Signal(sig); err != nil {
		return err
	}
	defer func() { s.cmd = nil }() // stopped: Stop has nothing to stop, Resume starts it
	select {
	case <-s.exited:
		return nil
	case <-time.After(20 * time.Second):
		s.kill()
		return errors.New("postgres did not stop within 20s; killed it")
	}
}

// Resume starts a halted or crashed server again on the same data and port, and waits until
// it accepts connections.
func (s *Server) Resume(ctx context.Context) error {
	return s.run(ctx)
}

func (s *Server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// serverCredential returns the user that initdb and postgres must run as, and its name: nil
// (this user) unless this process is root.
func serverCredential() (*syscall.Credential, string, error) {
	if os.Geteuid() != 0 {
		return nil, "", nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, name, nil
	}
	return nil, "", errors.New("running as root, and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL as (initdb refuses root): create one with `useradd --system postgres`")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

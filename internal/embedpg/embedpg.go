// Package embedpg starts a throwaway PostgreSQL cluster from the PostgreSQL binaries
// installed on the machine, for the README's commands and for tests when DATABASE_URL is not
// set.
//
// The cluster lives in a temporary directory, listens on a free loopback port, trusts local
// connections and is removed by [Server.Stop]. The server runs as a child of this process
// with a parent-death signal, so a killed test run never leaves a server behind. initdb and
// postgres refuse to run as root: when this process is root they run as the "postgres" user
// (or "nobody" when there is none).
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

// InstallHint says how to get the PostgreSQL server binaries.
const InstallHint = `install the PostgreSQL server binaries (initdb, postgres), for example:
    Debian/Ubuntu:  sudo apt-get install -y postgresql
    macOS:          brew install postgresql@15
  or set DATABASE_URL to a PostgreSQL server you already run`

// Options configures a cluster. The zero value is a fast, non-durable cluster for tests.
type Options struct {
	// Durable keeps fsync and synchronous commit on, as a production server runs. Leave it
	// off for tests: they are several times faster without.
	Durable bool
	// MaxConnections is the server's max_connections. Default 300.
	MaxConnections int
	// Log, when set, receives progress messages.
	Log func(format string, args ...any)
}

// Server is a running cluster.
type Server struct {
	// URL is a connection string for the postgres superuser and database.
	URL string

	dir  string
	bin  string
	data string
	cred *syscall.Credential
	logf func(string, ...any)
	cmd  *exec.Cmd
	done chan error
}

// FindBinaries returns the directory that holds initdb and postgres: the one on PATH, or the
// newest under /usr/lib/postgresql/*/bin.
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
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool { return versionOf(matches[i]) > versionOf(matches[j]) })
	for _, m := range matches {
		dir := filepath.Dir(m)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries found on PATH or under /usr/lib/postgresql: " + InstallHint)
}

func versionOf(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// Start initializes and starts a cluster, and waits until it accepts connections.
func Start(ctx context.Context, opts Options) (*Server, error) {
	logf := opts.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	bin, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "wfgen-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, bin: bin, cred: cred, logf: logf}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	data := filepath.Join(dir, "data")
	s.data = data
	if err := os.Mkdir(data, 0o700); err != nil {
		return nil, err
	}
	if cred != nil {
		// The temporary directory is root's; the server user must be able to enter it.
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.Chown(data, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}

	logf("embedpg: initdb in %s", data)
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}

	maxConns := opts.MaxConnections
	if maxConns == 0 {
		maxConns = 300
	}
	conf := []string{
		"listen_addresses = '127.0.0.1'",
		"unix_socket_directories = '" + data + "'",
		fmt.Sprintf("max_connections = %d", maxConns),
		"shared_buffers = '256MB'",
		"logging_collector = off",
	}
	if !opts.Durable {
		conf = append(conf, "fsync = off", "synchronous_commit = off", "full_page_writes = off")
	}

	// A free port can be taken between our probe and the server's bind: try a few.
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		settings := append(conf, fmt.Sprintf("port = %d", port))
		if err := os.WriteFile(filepath.Join(data, "postgresql.auto.conf"), []byte(strings.Join(settings, "\n")+"\n"), 0o600); err != nil {
			return nil, err
		}
		if cred != nil {
			if err := os.Chown(filepath.Join(data, "postgresql.auto.conf"), int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, err
			}
		}
		s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
		if lastErr = s.run(ctx, bin, data, cred, logf); lastErr == nil {
			ok = true
			return s, nil
		}
	}
	return nil, lastErr
}

func (s *Server) run(ctx context.Context, bin, data string, cred *syscall.Credential, logf func(string, ...any)) error {
	logFile, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Pdeathsig: if this process dies, the kernel tells the server to shut down at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	s.cmd = cmd
	s.done = make(chan error, 1)
	go func() { s.done <- cmd.Wait() }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-s.done:
			out, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
			return fmt.Errorf("postgres exited during start (%v):\n%s", err, tail(string(out), 2000))
		default:
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(cctx, s.URL)
		cancel()
		if err == nil {
			conn.Close(ctx)
			logf("embedpg: listening at %s", s.URL)
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("postgres did not accept connections: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts the server down and removes its directory.
func (s *Server) Stop() error {
	var err error
	if s.cmd != nil && s.cmd.Process != nil {
		// SIGINT is PostgreSQL's "fast" shutdown: it ends sessions and stops cleanly.
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			s.kill()
			err = errors.New("postgres did not stop within 20s; killed it")
		}
	}
	if rmErr := os.RemoveAll(s.dir); rmErr != nil && err == nil {
		err = rmErr
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
	case <-s.done:
		return nil
	case <-time.After(20 * time.Second):
		s.kill()
		return errors.New("postgres did not stop within 20s; killed it")
	}
}

// Resume starts a halted or crashed server again on the same data and port, and waits until
// it accepts connections.
func (s *Server) Resume(ctx context.Context) error {
	return s.run(ctx, s.bin, s.data, s.cred, s.logf)
}

func (s *Server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// serverCredential returns the user that initdb and postgres must run as: nil (this user)
// unless this process is root.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root, and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL as (initdb refuses root): create one with `useradd --system postgres`")
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

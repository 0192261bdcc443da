package wfgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// devdbProcess is `wfgen devdb` running as a process of its own (this test binary, see
// TestMain), so that a test can signal it as a terminal or a process manager would.
type devdbProcess struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan struct{}
	// first is the first line of its standard output: what it prints once ready.
	first string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startDevDB runs wfgen devdb with args and waits until it has printed its first line.
func startDevDB(t *testing.T, args ...string) *devdbProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"devdb"}, args...)...)
	cmd.Env = append(os.Environ(), asCLIEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	p := &devdbProcess{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	require.NoError(t, cmd.Start())
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- strings.TrimSuffix(line, "\n")
		_, _ = io.Copy(io.Discard, r) // read to the end, so that Wait does not cut it short
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	select {
	case p.first = <-lines:
	case <-time.After(2 * time.Minute):
		t.Fatalf("wfgen devdb printed nothing within 2 minutes; its standard error:\n%s", p.stderr)
	}
	require.NotEmpty(t, p.first, "wfgen devdb exited before it was ready; its standard error:\n%s", p.stderr)
	return p
}

// stop signals the process and returns its exit code once it has exited.
func (p *devdbProcess) stop(t *testing.T, sig os.Signal) int {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(sig))
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		t.Fatalf("wfgen devdb did not exit within a minute of %v; its standard error:\n%s", sig, p.stderr)
	}
	return p.cmd.ProcessState.ExitCode()
}

// devdbFolder returns a temporary folder for kept clusters. As root, PostgreSQL runs as
// another user, who must be able to enter the folders on the way.
func devdbFolder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		require.NoError(t, os.Chmod(dir, 0o755))
		require.NoError(t, os.Chmod(filepath.Dir(dir), 0o755))
	}
	return dir
}

// query runs statements on the server at url and returns the text the last one selects.
func query(t *testing.T, url string, statements ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	last := len(statements) - 1
	for _, sql := range statements[:last] {
		_, err := conn.Exec(ctx, sql)
		require.NoError(t, err)
	}
	var out string
	require.NoError(t, conn.QueryRow(ctx, statements[last]).Scan(&out))
	return out
}

func TestDevDBKeepsItsDataAcrossRuns(t *testing.T) {
	t.Parallel()
	folder := filepath.Join(devdbFolder(t), "pg")

	first := startDevDB(t, "-data", folder, "-port", "0", "-json")
	var info devDBInfo
	require.NoError(t, json.Unmarshal([]byte(first.first), &info), first.first)
	require.Equal(t, folder, info.Data)
	require.False(t, info.Temporary)
	require.Equal(t, "1", query(t, info.URL, "SELECT count(*)::text FROM pg_namespace WHERE nspname = 'wfgen'"), "migrated")
	require.Equal(t, "kept", query(t, info.URL, "CREATE TABLE notes AS SELECT 'kept'::text AS v", "SELECT v FROM notes"))
	require.Equal(t, 0, first.stop(t, syscall.SIGTERM), first.stderr.String())
	require.Contains(t, first.stderr.String(), "its data stays in "+folder)
	require.NoFileExists(t, filepath.Join(folder, "postmaster.pid"), "a clean shutdown removes it")

	second := startDevDB(t, "-data", folder, "-port", "0", "-print-url")
	require.True(t, strings.HasPrefix(second.first, "postgres://"), second.first)
	require.Equal(t, "kept", query(t, second.first, "SELECT v FROM notes"))
	require.Contains(t, second.stderr.String(), "schema wfgen is up to date")
	require.Equal(t, 0, second.stop(t, os.Interrupt), second.stderr.String())
}

func TestDevDBRemovesAThrowawayClusterOnExit(t *testing.T) {
	t.Parallel()
	p := startDevDB(t, "-port", "0", "-json", "-migrate=false")
	var info devDBInfo
	require.NoError(t, json.Unmarshal([]byte(p.first), &info), p.first)
	require.True(t, info.Temporary)
	require.DirExists(t, info.Data)
	require.Equal(t, "0", query(t, info.URL, "SELECT count(*)::text FROM pg_namespace WHERE nspname = 'wfgen'"), "-migrate=false")
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM), p.stderr.String())
	require.NoDirExists(t, info.Data)
}

func TestDevDBPrintsAnExportLineByDefault(t *testing.T) {
	t.Parallel()
	p := startDevDB(t, "-port", "0", "-migrate=false")
	url, found := strings.CutPrefix(p.first, "export DATABASE_URL=")
	require.True(t, found, p.first)
	require.Equal(t, "1", query(t, strings.Trim(url, "'"), "SELECT 1::text"))
	require.Equal(t, 0, p.stop(t, os.Interrupt), p.stderr.String())
}

func TestDevDBSaysWhatToDoWhenItCannotRun(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	notACluster := devdbFolder(t)
	require.NoError(t, os.WriteFile(filepath.Join(notACluster, "notes.txt"), []byte("mine"), 0o644))

	for _, tc := range []struct {
		name string
		args []string
		code int
		says []string
	}{
		{"unknown flag", []string{"-bogus"}, 2, []string{"flag provided but not defined: -bogus", "usage: wfgen devdb"}},
		{"arguments", []string{"./pg"}, 2, []string{"unexpected arguments ./pg"}},
		{"bad port", []string{"-port", "70000"}, 2, []string{"-port 70000 is not a port"}},
		{"two outputs", []string{"-json", "-print-url"}, 2, []string{"give one"}},
		{"no binaries", []string{"-bin", t.TempDir()}, 1, []string{"no PostgreSQL server binaries", "sudo apt-get install -y postgresql", "brew install", "-bin"}},
		{"port in use", []string{"-port", fmt.Sprint(taken.Addr().(*net.TCPAddr).Port)}, 1, []string{"port is in use", "-port 0 for a free one"}},
		{"folder without a cluster", []string{"-data", notACluster}, 1, []string{"holds no PostgreSQL cluster", "choose a new or empty folder"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cli("", append([]string{"devdb"}, tc.args...)...)
			require.Equal(t, tc.code, r.code, r.stderr)
			require.Empty(t, r.stdout, "standard output carries only the URL")
			for _, s := range tc.says {
				require.Contains(t, r.stderr, s)
			}
		})
	}
	require.FileExists(t, filepath.Join(notACluster, "notes.txt"), "left alone")
	require.Equal(t, 0, cli("", "devdb", "-h").code)
}

package demo

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// build compiles the worker and the API server into dir.
func build(ctx context.Context, dir string) error {
	gobin := os.Getenv("GO")
	if gobin == "" {
		gobin = "go"
	}
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", dir+string(filepath.Separator),
		"github.com/wfgen/wfgen/examples/pipeline/cmd/worker",
		"github.com/wfgen/wfgen/examples/pipeline/cmd/api")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("building the worker and the API server (run the demo from within wfgen's module): %w\n%s", err, out)
	}
	return nil
}

// proc is a process of the demo: a worker or the API server. Its output goes to a log file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	waitErr error

	mu    sync.Mutex
	lines []string
	ready chan string // the first line that matches the ready prefix
}

// start starts bin with args, its output in dir/<name>.log, and waits until it prints a line
// that starts with readyPrefix, which it returns.
func start(ctx context.Context, dir, name, bin string, readyPrefix string, args ...string) (*proc, string, error) {
	p := &proc{name: name, logPath: filepath.Join(dir, name+".log"), exited: make(chan struct{}), ready: make(chan string, 1)}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		return nil, "", err
	}
	p.cmd = exec.Command(bin, args...)
	// A demo that dies takes its processes with it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, "", fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		pw.Close()
		close(p.exited)
	}()
	go func() {
		defer logFile.Close()
		sc := bufio.NewScanner(pr)
		readySent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logFile, line)
			p.mu.Lock()
			p.lines = append(p.lines, line)
			p.mu.Unlock()
			if !readySent && strings.HasPrefix(line, readyPrefix) {
				p.ready <- line
				readySent = true
			}
		}
	}()
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case line := <-p.ready:
		return p, line, nil
	case <-p.exited:
		return nil, "", fmt.Errorf("%s exited before it was ready (%v):\n%s", name, p.waitErr, p.output())
	case <-t.C:
		p.kill()
		return nil, "", fmt.Errorf("%s was not ready after 30s:\n%s", name, p.output())
	case <-ctx.Done():
		p.kill()
		return nil, "", ctx.Err()
	}
}

// output returns what the process printed.
func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// kill sends SIGKILL and waits for the process to exit.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// stop sends SIGTERM and waits for the process to exit, for at most grace; then kills it.
func (p *proc) stop(grace time.Duration) error {
	select {
	case <-p.exited: // stopped already (Ctrl-C reaches the whole process group)
		return p.exitErr()
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
		return p.exitErr()
	case <-t.C:
		p.kill()
		return fmt.Errorf("%s did not stop within %s of SIGTERM: killed", p.name, grace)
	}
}

// exitErr says how the exited process ended, with its output, or nil for a clean exit.
func (p *proc) exitErr() error {
	if p.waitErr != nil {
		return fmt.Errorf("%s: %w:\n%s", p.name, p.waitErr, p.output())
	}
	return nil
}

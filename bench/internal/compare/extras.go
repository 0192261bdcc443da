package compare

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/wfgen/wfgen/runtime/wf"
)

// extraConfig holds the settings of wfgen's scale phases (issue 12): waiting at scale,
// fan-out, and worker processes. Each is off unless its flag is given; they run once, after
// the rounds, on wfgen only.
type extraConfig struct {
	waitsN            int
	waitsLead         time.Duration
	waitsSuspendAfter time.Duration
	waitsSendBatch    int
	fanoutN           int
	procs             []int
	procsN            int
	procsPool         int
}

// on reports whether any scale phase is asked for.
func (x extraConfig) on() bool { return x.waitsN > 0 || x.fanoutN > 0 || len(x.procs) > 0 }

// addExtraFlags defines the scale phases' flags on fs.
func addExtraFlags(fs *flag.FlagSet, x *extraConfig) {
	fs.IntVar(&x.waitsN, "waits", 0, "wfgen only, once after the rounds: N workflows waiting together (half in Sleep, half in Recv) until one instant, then waking (0: off; the issue's size is 100000)")
	fs.DurationVar(&x.waitsLead, "waits-lead", 0, "time from the enqueue of the -waits workflows to the instant they wait for (0: 30s plus 0.9 ms per workflow)")
	fs.IntVar(&x.waitsSendBatch, "waits-send-batch", 500, "messages per Topic.SendMany call that wakes the -waits workflows waiting for one (1: a Send per message)")
	fs.DurationVar(&x.waitsSuspendAfter, "waits-suspend-after", -1, "wfgen Config.SuspendAfter in the -waits phase (negative: every wait suspends at once; wfgen's default, 1s, keeps each waiting workflow in its slot for a second first)")
	fs.IntVar(&x.fanoutN, "fanout", 0, "wfgen only, once after the rounds: one workflow starting N children and awaiting them all (0: off; the issue's size is 10000)")
	fs.Func("procs", "wfgen only, once after the rounds: one-step work by 1, 2, ... worker processes, e.g. 1,2,3 (empty: off)", func(s string) error {
		x.procs = nil
		for _, f := range strings.Split(s, ",") {
			if f = strings.TrimSpace(f); f == "" {
				continue
			}
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 || n > 16 {
				return fmt.Errorf("%q is not a number of processes from 1 to 16", f)
			}
			x.procs = append(x.procs, n)
		}
		return nil
	})
	fs.IntVar(&x.procsN, "procs-n", 60000, "one-step workflows per -procs phase")
	fs.IntVar(&x.procsPool, "procs-pool", 20, "connections in each worker process's pool in the -procs phases")
}

func (x extraConfig) validate() error {
	switch {
	case x.waitsN < 0 || x.fanoutN < 0:
		return errors.New("-waits and -fanout must not be negative")
	case x.procsN < 1 || x.procsPool < 2:
		return errors.New("-procs-n must be at least 1 and -procs-pool at least 2")
	case x.waitsLead < 0:
		return errors.New("-waits-lead must not be negative")
	}
	return nil
}

// runExtras runs the scale phases that the flags ask for, once each, and records their
// figures under wfgen.
func runExtras(ctx context.Context, e *env, res *results) error {
	x := e.cfg.extra
	phases := []struct {
		on  bool
		run func(context.Context, *env, *results) error
	}{
		{x.waitsN > 0, runWaits},
		{x.fanoutN > 0, runFanout},
		{len(x.procs) > 0, runProcs},
	}
	for _, p := range phases {
		if !p.on {
			continue
		}
		// A phase may take minutes at the sizes; give it more than a round's phase.
		phaseCtx, cancel := context.WithTimeout(ctx, 3*e.cfg.phaseTimeout)
		err := p.run(phaseCtx, e, res)
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

// memory is what this process holds at one instant.
type memory struct {
	rssKiB     int64 // VmRSS: resident memory
	hwmKiB     int64 // VmHWM: the peak of VmRSS so far
	heapKiB    int64 // Go heap objects live after a garbage collection
	goroutines int
}

// readMemory reads /proc/self/status and the Go runtime's counters. It collects garbage
// first, so that the heap figure counts what is live.
func readMemory() memory {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := memory{heapKiB: int64(ms.HeapAlloc / 1024), goroutines: runtime.NumGoroutine(), rssKiB: -1, hwmKiB: -1}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			f := strings.Fields(v)
			if len(f) == 0 {
				continue
			}
			n, _ := strconv.ParseInt(f[0], 10, 64)
			switch k {
			case "VmRSS":
				m.rssKiB = n
			case "VmHWM":
				m.hwmKiB = n
			}
		}
	}
	return m
}

func (m memory) String() string {
	return fmt.Sprintf("RSS %.1f MiB (peak %.1f MiB), Go heap live %.1f MiB, %d goroutines",
		float64(m.rssKiB)/1024, float64(m.hwmKiB)/1024, float64(m.heapKiB)/1024, m.goroutines)
}

// startWfgenConfigured is startWfgen with the client's configuration adjusted by adjust.
func startWfgenConfigured(ctx context.Context, e *env, adjust func(*wf.Config), defs ...wf.Definition) (*wfgenWorker, error) {
	if err := e.dropSchema(ctx, wfgenSchema); err != nil {
		return nil, err
	}
	// Named like the worker processes' connections, for sampleWaits.
	pool, stmts, err := e.newPoolWith(ctx, e.cfg.poolSize(), wfgenSchema, map[string]string{"application_name": workerAppName})
	if err != nil {
		return nil, err
	}
	cfg := e.wfgenConfig("bench-worker")
	adjust(&cfg)
	c, err := wf.NewClient(pool, cfg)
	if err == nil {
		err = c.Register(append([]wf.Definition{wf.NewQueue(wfgenQueue, wf.WorkerConcurrency(e.cfg.workers))}, defs...)...)
	}
	if err == nil {
		err = c.Start(ctx)
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("starting wfgen: %w", err)
	}
	return &wfgenWorker{e: e, pool: pool, stmts: stmts, c: c}, nil
}

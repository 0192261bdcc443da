package compare

import (
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// checkHost keeps every CPU this process may use busy for d, with one thread pinned to each
// that reads the clock in a loop, and summarizes the jumps of over a millisecond they saw,
// each with whether the thread was switched out within it. It runs before the rounds, on an
// idle machine, with one P more than there are spinners so that the rest of this process is
// not queued behind them.
func checkHost(d time.Duration) (*hostStalls, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, err
	}
	var cpus []int
	for i := 0; len(cpus) < set.Count(); i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(len(cpus) + 1))
	var (
		mu   sync.Mutex
		gaps []spinGap
		errs []error
		wg   sync.WaitGroup
	)
	for _, cpu := range cpus {
		wg.Go(func() {
			mine, err := spin(cpu, d)
			mu.Lock()
			defer mu.Unlock()
			gaps = append(gaps, mine...)
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return stopsFrom(gaps, d, len(cpus)), nil
}

// spin reads the clock in a loop for d on a thread pinned to cpu.
func spin(cpu int, d time.Duration) ([]spinGap, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var one unix.CPUSet
	one.Set(cpu)
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		return nil, err
	}
	switches := func() (int64, error) {
		var ru unix.Rusage
		err := unix.Getrusage(unix.RUSAGE_THREAD, &ru)
		return ru.Nvcsw + ru.Nivcsw, err
	}
	// The switches are read on every turn, so that a jump counts as the hypervisor's only
	// when this thread was not switched out within it (Go's own preemption of a long-running
	// goroutine switches it out every few milliseconds).
	var gaps []spinGap
	start := time.Now()
	last, before := start, int64(0)
	for now := start; now.Sub(start) < d; now = time.Now() {
		after, err := switches()
		if err != nil {
			return gaps, err
		}
		if g := now.Sub(last); g > time.Millisecond {
			gaps = append(gaps, spinGap{g, after != before})
		}
		last, before = now, after
	}
	return gaps, nil
}

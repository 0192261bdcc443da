package compare

import (
	"runtime"
	"testing"
	"time"
)

func TestHostCheckSpinsOnEveryCPUAndGivesBackItsThreads(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	h, err := checkHost(50 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if h.CPUs < 1 || h.CPUs > runtime.NumCPU() || h.Seconds != 0.05 || h.Unseen > h.Stops {
		t.Errorf("got %+v; want one spinner per CPU this process may use (at most %d), 0.05 s, unseen stops among the stops", *h, runtime.NumCPU())
	}
	if got := runtime.GOMAXPROCS(0); got != procs {
		t.Errorf("GOMAXPROCS is %d after the check; want %d as before it", got, procs)
	}
}

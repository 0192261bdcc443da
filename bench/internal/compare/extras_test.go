package compare

import (
	"io"
	"slices"
	"testing"
)

func TestScalePhaseFlags(t *testing.T) {
	c, err := parseFlags([]string{"-rounds", "0", "-waits", "100000", "-fanout", "10000", "-procs", "1, 2,3"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.extra.waitsN != 100000 || c.extra.fanoutN != 10000 || !slices.Equal(c.extra.procs, []int{1, 2, 3}) || !c.extra.on() {
		t.Errorf("parsed %+v", c.extra)
	}
	for _, args := range [][]string{
		{"-rounds", "0"},       // nothing to run
		{"-procs", "0"},        // no process
		{"-procs", "2,x"},      // not a number
		{"-waits", "-1"},       // negative
		{"-procs-pool", "1"},   // too small for a client
		{"-waits-lead", "-1s"}, // negative
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}

func TestWaitKindsSplitHalfSleepQuarterEachRecv(t *testing.T) {
	var n [waitKinds]int
	for i := range 1000 {
		n[waitKind(i)]++
	}
	if n != [waitKinds]int{500, 250, 250} {
		t.Errorf("kinds of 1000 workflows: %v", n)
	}
}

func TestWaitSamplesShares(t *testing.T) {
	s := &waitSamples{samples: 4, active: 10, waits: map[string]int{"CPU": 5, "LWLock:BufferContent": 3, "Lock:transactionid": 2}}
	if got := s.share("LWLock"); got != 0.3 {
		t.Errorf("LWLock share %v, want 0.3", got)
	}
	if got := s.share("Lock"); got != 0.2 {
		t.Errorf("Lock share %v, want 0.2", got)
	}
	if got := s.mean(); got != 2.5 {
		t.Errorf("mean %v, want 2.5", got)
	}
	if got, want := s.top(2), "CPU 50%, LWLock:BufferContent 30%"; got != want {
		t.Errorf("top(2) = %q, want %q", got, want)
	}
	if got := (&waitSamples{waits: map[string]int{}}).top(3); got != "no active connection seen" {
		t.Errorf("top of no samples = %q", got)
	}
}

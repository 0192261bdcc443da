package compare

import (
	"strings"
	"testing"
	"time"
)

func TestHostStopsCountOnlyLongJumpsAndTellWhoseTheyWere(t *testing.T) {
	gaps := []spinGap{
		{1500 * time.Microsecond, false}, // under hostStallMin: not a stop
		{3 * time.Millisecond, false},
		{5 * time.Millisecond, true},
		{9 * time.Millisecond, false},
	}
	h := stopsFrom(gaps, 5*time.Second, 2)
	if h.Stops != 3 || h.Unseen != 2 || h.P50Ms != 5 || h.MaxMs != 9 || h.CPUs != 2 || h.Seconds != 5 {
		t.Fatalf("got %+v; want 3 stops, 2 unseen, p50 5 ms, max 9 ms on 2 CPUs in 5 s", *h)
	}
	var b strings.Builder
	h.print(&b)
	if want := "stopped 3 times for over 2ms (0.6 a second; p50 5.0 ms, max 9.0 ms), 2 of them unseen"; !strings.Contains(b.String(), want) {
		t.Errorf("printed %q; want it to contain %q", b.String(), want)
	}

	quiet := stopsFrom(gaps[:1], time.Second, 1)
	b.Reset()
	quiet.print(&b)
	if quiet.Stops != 0 || !strings.Contains(b.String(), "never stopped for over 2ms") {
		t.Errorf("a machine with no long jump: got %+v, printed %q", *quiet, b.String())
	}
}

package compare

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// hostStallMin is the shortest clock jump the host check counts as a stop: far longer than
// anything a spinning thread does between two readings of the clock, and than the wake-ups
// of this machine's own idle scheduler.
const hostStallMin = 2 * time.Millisecond

// hostStalls is what the host check found: how often this machine took a busy CPU away
// from the thread running on it, for how long, and whose doing it was. On a virtual machine
// the hypervisor may stop a virtual CPU for milliseconds to run something else on that
// physical CPU, unseen by the guest's scheduler (and, on some hypervisors, by its steal
// time); the guest's own kernel threads (a memory monitor such as kdamond, say) take their
// turns too. A process that was running there simply resumes later, and an enqueue-to-start
// sample that meets such a stop is among the slowest percent, whatever wfgen or PostgreSQL
// do (see "What limits us" in bench/README.md). The report says how often this machine stops.
type hostStalls struct {
	Seconds float64 `json:"seconds"` // how long every CPU was kept busy
	CPUs    int     `json:"cpus"`    // how many, one spinning thread pinned to each
	Stops   int     `json:"stops"`   // clock jumps over hostStallMin that a spinning thread saw
	P50Ms   float64 `json:"p50_ms"`
	MaxMs   float64 `json:"max_ms"`
	// Unseen counts the stops with no context switch of the thread: time the hypervisor took,
	// most likely (a long interrupt would look the same). The others are this machine's
	// scheduler running something else on that CPU.
	Unseen int `json:"unseen"`
}

// spinGap is one clock jump a spinning thread saw between two turns of its loop, and
// whether the thread was switched out (voluntarily or not) in it.
type spinGap struct {
	d        time.Duration
	switched bool
}

// stopsFrom summarizes the clock jumps the spinners saw.
func stopsFrom(gaps []spinGap, d time.Duration, cpus int) *hostStalls {
	h := &hostStalls{Seconds: d.Seconds(), CPUs: cpus}
	var stops []time.Duration
	for _, g := range gaps {
		if g.d <= hostStallMin {
			continue
		}
		stops = append(stops, g.d)
		if !g.switched {
			h.Unseen++
		}
	}
	if h.Stops = len(stops); h.Stops > 0 {
		slices.Sort(stops)
		h.P50Ms = ms(stops[len(stops)/2])
		h.MaxMs = ms(stops[len(stops)-1])
	}
	return h
}

func (h *hostStalls) print(w io.Writer) {
	if h == nil {
		return
	}
	fmt.Fprintf(w, "host check: %d CPUs kept busy for %.0f s ", h.CPUs, h.Seconds)
	if h.Stops == 0 {
		fmt.Fprintf(w, "never stopped for over %s\n", hostStallMin)
		return
	}
	fmt.Fprintf(w, "stopped %d times for over %s (%.1f a second; p50 %.1f ms, max %.1f ms), %d of them unseen by this machine's scheduler (the hypervisor's, most likely)\n",
		h.Stops, hostStallMin, float64(h.Stops)/h.Seconds, h.P50Ms, h.MaxMs, h.Unseen)
	fmt.Fprintln(w, "  an enqueue-to-start sample that meets such a stop is among the slowest percent (bench/README.md, What limits us)")
}

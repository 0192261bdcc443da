// Package gopool runs functions on goroutines that outlive them, for the next function.
//
// A workflow execution's goroutine grows its stack as it runs (decoding JSON with
// encoding/json alone takes it past the initial 8 KiB), and the runtime copies the whole
// stack at every growth. A new goroutine per execution paid that copy for every workflow:
// about a tenth of the worker's CPU in one-step workflows. A goroutine that has run one
// execution keeps its grown stack for the next (waiting with enough of it in use that the
// garbage collector does not shrink it, see stackKept), until it idles for IdleTimeout.
package gopool

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/wfgen/wfgen/runtime/internal/clock"
)

// IdleTimeout is how long a goroutine waits for another function before it exits: long
// enough to carry a busy worker from one batch of claims to the next, short enough that an
// idle worker soon holds none.
const IdleTimeout = 200 * time.Millisecond

// Pool runs functions on reused goroutines. The zero value is not usable; use New.
type Pool struct {
	work    chan func()
	quit    chan struct{}
	once    sync.Once
	clock   clock.Clock
	started atomic.Int64 // goroutines started, for tests
	live    atomic.Int64 // goroutines not yet exited, for tests
	waiting atomic.Int64 // goroutines idle, for tests
}

// New returns a pool with no goroutine yet, whose goroutines exit after IdleTimeout idle on
// clk (clock.Real{} but in tests).
func New(clk clock.Clock) *Pool {
	return &Pool{work: make(chan func()), quit: make(chan struct{}), clock: clk}
}

// Go runs f on an idle goroutine of the pool, or on a new one when none is idle. It never
// blocks. After Close it still runs f, on a goroutine that exits after it.
func (p *Pool) Go(f func()) {
	select {
	case p.work <- f:
	default:
		p.started.Add(1)
		p.live.Add(1)
		go p.loop(f)
	}
}

// Close makes the idle goroutines exit, and busy ones once their function returns.
func (p *Pool) Close() {
	p.once.Do(func() { close(p.quit) })
}

func (p *Pool) loop(f func()) {
	defer p.live.Add(-1)
	var idle clock.Timer
	for {
		f()
		f = nil // let f's captures go while idle
		if idle == nil {
			idle = p.clock.NewTimer(IdleTimeout)
		} else {
			idle.Reset(IdleTimeout)
		}
		if f = p.next(idle); f == nil {
			return
		}
	}
}

// stackKept is how much of its stack an idle goroutine keeps in use. The garbage collector
// halves the stack of a goroutine that uses less than a quarter of it, and an execution
// then copies it again as it grows back: BenchmarkOneStepWorkflows spent 8% of its
// process's CPU in those copies (runtime.copystack, under shrinkstack and newstack). Waiting
// with this much in use, a goroutine keeps a stack of up to four times as much between
// executions.
const stackKept = 4 << 10

// next waits for the next function, or returns nil when the goroutine is to exit. Its
// frame holds stackKept bytes while it waits.
//
//go:noinline
func (p *Pool) next(idle clock.Timer) func() {
	var kept [stackKept]byte
	keep(kept[:])
	p.waiting.Add(1)
	defer p.waiting.Add(-1)
	select {
	case f := <-p.work:
		return f
	case <-idle.C():
		return nil
	case <-p.quit:
		return nil
	}
}

// keep makes its argument look used, so that the compiler keeps it on the stack.
//
//go:noinline
func keep([]byte) {}

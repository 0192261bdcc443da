// Package testproxy cuts one client off from a server in tests, without touching the server
// or the other clients: the client connects through a TCP proxy that the test can cut
// (every open connection is closed and new ones are refused) and restore.
//
//	p := testproxy.Start(t, "127.0.0.1:5432")
//	// connect the client under test to p.Addr() instead
//	p.Cut()     // the client loses the server, as in a network failure or a restart
//	p.Restore() // and finds it again
package testproxy

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Proxy forwards the TCP connections it accepts on a loopback port to a target address.
type Proxy struct {
	t       testing.TB
	network string // of the target: "tcp" or "unix"
	target  string
	ln      net.Listener

	mu     sync.Mutex
	cut    bool
	closed bool
	flow   chan struct{}         // closed while traffic flows; open while partitioned
	conns  map[net.Conn]struct{} // open connections, both sides
	wg     sync.WaitGroup        // the accept loop and the connections' goroutines
}

// Start starts a proxy to targetAddr, a host:port or the path of a Unix socket, and stops it
// when the test ends. The proxy listens on a free port of 127.0.0.1 (Addr).
func Start(t testing.TB, targetAddr string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testproxy: listening: %v", err)
	}
	p := &Proxy{t: t, network: "tcp", target: targetAddr, ln: ln, conns: map[net.Conn]struct{}{}, flow: make(chan struct{})}
	close(p.flow)
	if strings.HasPrefix(targetAddr, "/") {
		p.network = "unix"
	}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr returns the address clients connect to instead of the target's: 127.0.0.1:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every open connection and refuses new ones (they are accepted and reset at
// once, as by a server that is down) until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	p.closeConns()
}

// Partition stops forwarding, silently, as a network that drops packets does: open
// connections stay open but carry nothing, and new ones are accepted but not connected to the
// target, until Restore. What is sent meanwhile is held, and delivered late after Restore,
// as TCP retransmits it: a request sent into the partition reaches the server only then.
func (p *Proxy) Partition() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.flow:
		p.flow = make(chan struct{})
	default: // partitioned already
	}
}

// Restore forwards again: new connections after Cut, and held traffic after Partition.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
	select {
	case <-p.flow:
	default:
		close(p.flow)
	}
}

// flowing returns a channel that is closed while traffic may flow.
func (p *Proxy) flowing() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.flow
}

// waitFlowing waits until traffic may flow, or the proxy closes; it reports whether it may.
func (p *Proxy) waitFlowing(c net.Conn) bool {
	for {
		flow := p.flowing()
		select {
		case <-flow:
			p.mu.Lock()
			_, open := p.conns[c]
			p.mu.Unlock()
			return open
		case <-time.After(10 * time.Millisecond):
			// Poll for a close of c (Cut, or the proxy's end) while partitioned.
			p.mu.Lock()
			_, open := p.conns[c]
			p.mu.Unlock()
			if !open {
				return false
			}
		}
	}
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.t.Logf("testproxy: accepting: %v", err)
			}
			return
		}
		if !p.track(conn) {
			reset(conn)
			continue
		}
		p.wg.Add(1)
		go p.forward(conn)
	}
}

// forward connects client to the target and copies both ways until either side closes or
// Cut closes both.
func (p *Proxy) forward(client net.Conn) {
	defer p.wg.Done()
	if !p.waitFlowing(client) {
		return
	}
	server, err := net.Dial(p.network, p.target)
	if err != nil {
		p.t.Logf("testproxy: connecting to %s: %v", p.target, err)
		p.untrack(client)
		reset(client)
		return
	}
	if !p.track(server) {
		server.Close()
		p.untrack(client)
		reset(client)
		return
	}
	done := make(chan struct{}, 2)
	copyAndClose := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				// Held while partitioned.
				if !p.waitFlowing(src) {
					break
				}
				if _, err := dst.Write(buf[:n]); err != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		// One side is gone: so is the other, as with a single TCP connection.
		client.Close()
		server.Close()
		done <- struct{}{}
	}
	go copyAndClose(server, client)
	go copyAndClose(client, server)
	<-done
	<-done
	p.untrack(client)
	p.untrack(server)
}

// track records an open connection, unless the proxy is cut or closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut || p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

// closeConns resets every open connection. p.mu must be held.
func (p *Proxy) closeConns() {
	for c := range p.conns {
		reset(c)
	}
	clear(p.conns)
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.closeConns()
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

// reset closes c with a TCP reset, as a peer that went away does, rather than an orderly
// close.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

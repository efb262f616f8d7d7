// Package tcpproxy is a loopback TCP proxy for tests that need a network
// that fails: it forwards connections to a target, counts the bytes sent
// upstream, and can cut every connection, or the connection that passes a
// byte budget.
package tcpproxy

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy forwards connections from Addr to a target.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	budget int64 // bytes upstream before every connection is cut; <0: none
	up     atomic.Int64
	cut    chan struct{} // closed when the budget ran out
	down   bool          // refuse new connections (the "broker" is gone)
	goDown bool          // go down when the budget runs out
	closed bool
}

// Start listens on a free loopback port and forwards to target. The proxy
// closes when the test ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: make(map[net.Conn]struct{}), budget: -1, cut: make(chan struct{})}
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is mqtt:// and Addr.
func (p *Proxy) URL() string { return "mqtt://" + p.Addr() }

// Upstream is the number of bytes forwarded from clients to the target.
func (p *Proxy) Upstream() int64 { return p.up.Load() }

// CutAfter cuts every connection, once, when n more bytes have gone
// upstream, and returns a channel closed when that happened. With stayDown
// the proxy then refuses new connections until SetDown(false), as a broker
// that went away would.
func (p *Proxy) CutAfter(n int64, stayDown bool) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.budget = p.up.Load() + n
	p.goDown = stayDown
	p.cut = make(chan struct{})
	return p.cut
}

// SetDown makes the proxy refuse (accept and close at once) new
// connections, or accept them again.
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// CutAll closes every open connection; new ones are still accepted.
func (p *Proxy) CutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// Close stops accepting and cuts every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.CutAll()
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			u.Close()
			return
		}
		p.conns[c] = struct{}{}
		p.conns[u] = struct{}{}
		p.mu.Unlock()
		go p.pipe(u, c, true)
		go p.pipe(c, u, false)
	}
}

func (p *Proxy) pipe(dst, src net.Conn, upstream bool) {
	defer func() {
		dst.Close()
		src.Close()
		p.mu.Lock()
		delete(p.conns, dst)
		delete(p.conns, src)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && upstream {
			total := p.up.Add(int64(n))
			p.mu.Lock()
			over := p.budget >= 0 && total > p.budget
			keep := int64(n)
			if over {
				// Forward only what fits, then cut everything.
				keep -= total - p.budget
				p.budget = -1
				p.down = p.down || p.goDown
				close(p.cut)
			}
			p.mu.Unlock()
			if over {
				if keep > 0 {
					_, _ = dst.Write(buf[:keep])
				}
				p.CutAll()
				return
			}
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

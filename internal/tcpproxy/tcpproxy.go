// Package tcpproxy is a loopback TCP proxy for tests that need a network
// that fails: it forwards connections to a target, each chunk a latency
// later if asked, counts the bytes forwarded each way, and can cut every
// connection, or stall (stop forwarding, connections left open), once a
// number of bytes has gone one way. Serve starts a fake server, for a
// test that needs one that misbehaves.
package tcpproxy

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/loopback"
)

// Proxy forwards connections from Addr to a target.
type Proxy struct {
	ln      net.Listener
	target  string
	latency time.Duration

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	sent    [2]int64 // bytes forwarded: [0] to the client, [1] to the target
	fault   *armed
	down    bool          // new connections are closed at once
	stalled chan struct{} // non-nil while stalled; closed on resume
	closed  chan struct{}
}

// Fault is what the proxy does once after bytes have gone one way.
type Fault struct {
	Stall    bool  // stall, else cut every connection
	Upstream bool  // count bytes towards the target, else towards the client
	After    int64 // bytes that go through before it fires
	StayDown bool  // a cut: refuse new connections afterwards
}

// armed is the fault the proxy waits for: After counts from the start.
type armed struct {
	Fault
	fired chan struct{}
}

// Start listens on a free loopback port and forwards to target. The proxy
// closes when the test ends.
func Start(t testing.TB, target string) *Proxy { return StartDelayed(t, target, 0) }

// StartDelayed is Start with every chunk forwarded latency after it was
// read, each way.
func StartDelayed(t testing.TB, target string, latency time.Duration) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, latency: latency, conns: map[net.Conn]struct{}{}, closed: make(chan struct{})}
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is mqtt:// and Addr.
func (p *Proxy) URL() string { return "mqtt://" + p.Addr() }

// Sent is the number of bytes forwarded towards the target (upstream) or
// the client.
func (p *Proxy) Sent(upstream bool) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent[way(upstream)]
}

// Upstream is the number of bytes forwarded from clients to the target.
func (p *Proxy) Upstream() int64 { return p.Sent(true) }

// Arm sets the fault, counted from the bytes forwarded so far, in place of
// one not fired yet; it returns a channel closed when it fires.
func (p *Proxy) Arm(f Fault) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	f.After += p.sent[way(f.Upstream)]
	p.fault = &armed{Fault: f, fired: make(chan struct{})}
	return p.fault.fired
}

// CutAfter cuts every connection, once, when n more bytes have gone
// upstream, and returns a channel closed when that happened. With stayDown
// the proxy then refuses new connections until SetDown(false), as a broker
// that went away would.
func (p *Proxy) CutAfter(n int64, stayDown bool) <-chan struct{} {
	return p.Arm(Fault{Upstream: true, After: n, StayDown: stayDown})
}

// Resume ends a stall: what was held back is forwarded.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled != nil {
		close(p.stalled)
		p.stalled = nil
	}
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
	select {
	case <-p.closed:
	default:
		close(p.closed)
	}
	p.mu.Unlock()
	p.ln.Close()
	p.CutAll()
}

// way indexes Proxy.sent: 1 towards the target, 0 towards the client.
func way(upstream bool) int {
	if upstream {
		return 1
	}
	return 0
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
		select {
		case <-p.closed:
			p.mu.Unlock()
			c.Close()
			u.Close()
			return
		default:
		}
		p.conns[c], p.conns[u] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go p.pipe(u, c, true)
		go p.pipe(c, u, false)
	}
}

// Serve is loopback.Serve, kept here for the tests that use the proxy's
// fake servers.
func Serve(t testing.TB, handle func(i int, conn net.Conn)) string {
	t.Helper()
	return loopback.Serve(t, handle)
}

// chunk is bytes read at a time, forwarded latency later.
type chunk struct {
	data []byte
	at   time.Time
}

// pipe forwards src to dst: one goroutine reads and stamps chunks, this one
// writes each when its latency has passed, unless stalled.
func (p *Proxy) pipe(dst, src net.Conn, upstream bool) {
	defer func() {
		dst.Close()
		src.Close()
		p.mu.Lock()
		delete(p.conns, dst)
		delete(p.conns, src)
		p.mu.Unlock()
	}()
	chunks := make(chan chunk, 64)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				select {
				case chunks <- chunk{buf[:n], time.Now()}:
				case <-done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range chunks {
		if d := time.Until(c.at.Add(p.latency)); d > 0 {
			time.Sleep(d)
		}
		data := c.data
		for len(data) > 0 {
			if !p.waitRunning() {
				return
			}
			n, cut := p.admit(upstream, len(data))
			if n > 0 {
				if _, err := dst.Write(data[:n]); err != nil {
					return
				}
			}
			data = data[n:]
			if cut {
				p.CutAll()
				return
			}
		}
	}
}

// waitRunning blocks while the proxy is stalled; false: it closed.
func (p *Proxy) waitRunning() bool {
	for {
		p.mu.Lock()
		st := p.stalled
		p.mu.Unlock()
		if st == nil {
			select {
			case <-p.closed:
				return false
			default:
				return true
			}
		}
		select {
		case <-st:
		case <-p.closed:
			return false
		}
	}
}

// admit says how many of n bytes going one way may be written now, and
// whether every connection must be cut after them. A fault that fires
// cuts, or stalls the proxy.
func (p *Proxy) admit(upstream bool, n int) (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled != nil {
		return 0, false
	}
	d := way(upstream)
	f := p.fault
	if f == nil || f.Upstream != upstream || p.sent[d]+int64(n) <= f.After {
		p.sent[d] += int64(n)
		return n, false
	}
	k := max(f.After-p.sent[d], 0)
	p.sent[d] += k
	p.fault = nil
	close(f.fired)
	if f.Stall {
		p.stalled = make(chan struct{})
		return int(k), false
	}
	p.down = p.down || f.StayDown
	return int(k), true
}

package chaos

import (
	"net"
	"sync"
	"testing"
	"time"
)

// proxy is a loopback TCP proxy that makes a network bad on purpose: it
// delays everything by a latency, and can cut every connection or stall
// (stop forwarding, connections left open) once a number of bytes has gone
// one way. internal/tcpproxy cuts but neither delays nor stalls; this one
// is the suite's own.
type proxy struct {
	ln      net.Listener
	target  string
	latency time.Duration

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	sent    [2]int64 // bytes forwarded: [0] to the client, [1] to the broker
	fault   *fault
	down    bool          // new connections are closed at once
	stalled chan struct{} // non-nil while stalled; closed on resume
	closed  chan struct{}
}

// fault is what the proxy does once after bytes have gone one way.
type fault struct {
	stall    bool  // stall, else cut
	upstream bool  // count bytes towards the broker, else towards the client
	after    int64 // bytes that go through before it fires
	stayDown bool  // a cut: refuse new connections afterwards
	fired    chan struct{}
}

// startProxy forwards a free loopback port to target, each chunk delayed
// by latency; it closes when the test ends.
func startProxy(t *testing.T, target string, latency time.Duration) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, latency: latency, conns: map[net.Conn]struct{}{}, closed: make(chan struct{})}
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

func (p *proxy) Addr() string { return p.ln.Addr().String() }
func (p *proxy) URL() string  { return "mqtt://" + p.Addr() }

// Arm sets the fault, counted from the bytes forwarded so far; it returns
// a channel closed when it fires.
func (p *proxy) Arm(f fault) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	f.after += p.sent[way(f.upstream)]
	f.fired = make(chan struct{})
	p.fault = &f
	return f.fired
}

// Resume ends a stall: what was held back is forwarded.
func (p *proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled != nil {
		close(p.stalled)
		p.stalled = nil
	}
}

// Sent is the bytes forwarded towards the broker (upstream) or the client.
func (p *proxy) Sent(upstream bool) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent[way(upstream)]
}

// Close stops accepting and closes every connection.
func (p *proxy) Close() {
	p.mu.Lock()
	select {
	case <-p.closed:
	default:
		close(p.closed)
	}
	p.mu.Unlock()
	p.ln.Close()
	p.cutAll()
}

func (p *proxy) cutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// way indexes proxy.sent: 1 towards the broker, 0 towards the client.
func way(upstream bool) int {
	if upstream {
		return 1
	}
	return 0
}

func (p *proxy) accept() {
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
		p.conns[c], p.conns[u] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go p.pipe(u, c, true)
		go p.pipe(c, u, false)
	}
}

// chunk is bytes read at a time, forwarded latency later.
type chunk struct {
	data []byte
	at   time.Time
}

// pipe forwards src to dst: one goroutine reads and stamps chunks, this one
// writes each when its latency has passed, unless stalled.
func (p *proxy) pipe(dst, src net.Conn, upstream bool) {
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
				p.cutAll()
				return
			}
		}
	}
}

// waitRunning blocks while the proxy is stalled; false: it closed.
func (p *proxy) waitRunning() bool {
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
func (p *proxy) admit(upstream bool, n int) (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled != nil {
		return 0, false
	}
	d := way(upstream)
	f := p.fault
	if f == nil || f.upstream != upstream || p.sent[d]+int64(n) <= f.after {
		p.sent[d] += int64(n)
		return n, false
	}
	k := max(f.after-p.sent[d], 0)
	p.sent[d] += k
	p.fault = nil
	close(f.fired)
	if f.stall {
		p.stalled = make(chan struct{})
		return int(k), false
	}
	p.down = f.stayDown
	return int(k), true
}

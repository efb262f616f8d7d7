package tcpproxy

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// TestFaults checks that the proxy cuts and stalls where told to,
// delays by its latency, and forwards what it held once resumed.
func TestFaults(t *testing.T) {
	// A sink that counts what reaches it, and closes when its client does.
	got := make(chan []byte, 1)
	sink := Serve(t, func(_ int, c net.Conn) {
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	})
	payload := bytes.Repeat([]byte("x"), 300)

	t.Run("cut", func(t *testing.T) {
		p := Start(t, sink)
		fired := p.Arm(Fault{Upstream: true, After: 100, StayDown: true})
		c := dial(t, p.Addr())
		_, _ = c.Write(payload)
		<-fired
		if b := <-got; len(b) != 100 {
			t.Fatalf("the broker side got %d bytes, want 100", len(b))
		}
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("the client's connection is still open after the cut")
		}
		// Down: a new connection is closed at once.
		c2 := dial(t, p.Addr())
		_ = c2.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c2.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("a connection to a proxy that stays down: %v, want EOF", err)
		}
	})

	t.Run("cut after, then up again", func(t *testing.T) {
		p := Start(t, sink)
		fired := p.CutAfter(100, true)
		c := dial(t, p.Addr())
		_, _ = c.Write(payload)
		<-fired
		if b := <-got; len(b) != 100 || p.Upstream() != 100 {
			t.Fatalf("the broker side got %d bytes, Upstream says %d, want 100", len(b), p.Upstream())
		}
		p.SetDown(false)
		c2 := dial(t, p.Addr())
		_, _ = c2.Write(payload[:10])
		c2.(*net.TCPConn).CloseWrite()
		select {
		case b := <-got:
			if len(b) != 10 || p.Upstream() != 110 {
				t.Fatalf("up again, the broker side got %d bytes, Upstream says %d, want 10 and 110", len(b), p.Upstream())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("up again, nothing reached the broker side")
		}
	})

	t.Run("stall", func(t *testing.T) {
		p := Start(t, sink)
		fired := p.Arm(Fault{Stall: true, Upstream: true, After: 100})
		c := dial(t, p.Addr())
		_, _ = c.Write(payload)
		<-fired
		time.Sleep(200 * time.Millisecond) // nothing may pass while stalled
		if n := p.Sent(true); n != 100 {
			t.Fatalf("%d bytes went through a stall after 100", n)
		}
		p.Resume()
		c.Close()
		if b := <-got; len(b) != len(payload) {
			t.Fatalf("after the stall the broker side got %d bytes, want %d", len(b), len(payload))
		}
	})

	t.Run("latency", func(t *testing.T) {
		const latency = 50 * time.Millisecond
		p := StartDelayed(t, sink, latency)
		c := dial(t, p.Addr())
		start := time.Now()
		_, _ = c.Write(payload)
		c.(*net.TCPConn).CloseWrite()
		if b := <-got; len(b) != len(payload) {
			t.Fatalf("the broker side got %d bytes, want %d", len(b), len(payload))
		}
		if d := time.Since(start); d < latency {
			t.Fatalf("the bytes arrived after %s, before the latency of %s", d, latency)
		}
	})
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestServe checks that every connection reaches the handler with its
// number, and that the test's end closes them.
func TestServe(t *testing.T) {
	var conns []net.Conn
	t.Run("serve", func(t *testing.T) {
		numbers := make(chan int, 2)
		addr := Serve(t, func(i int, _ net.Conn) { numbers <- i })
		for want := range 2 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			if i := <-numbers; i != want {
				t.Fatalf("connection %d handed over as %d", want, i)
			}
		}
	})
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("connection %d after the test's end: %v, want EOF", i, err)
		}
		c.Close()
	}
}

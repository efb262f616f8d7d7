package loopback

import (
	"io"
	"net"
	"testing"
	"time"
)

func TestServe(t *testing.T) {
	var conns []net.Conn
	t.Run("serve", func(t *testing.T) {
		addr := Serve(t, func(i int, conn net.Conn) { _, _ = conn.Write([]byte{byte('a' + i)}) })
		for _, want := range "ab" {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			b := make([]byte, 1)
			if _, err := io.ReadFull(c, b); err != nil || rune(b[0]) != want {
				t.Fatalf("read %q, %v; want %q", b, err, want)
			}
		}
	})
	// The test that served them has ended: its connections are closed.
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Errorf("connection %d after the test: %d bytes, %v; want EOF", i, n, err)
		}
		c.Close()
	}
}

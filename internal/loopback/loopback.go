// Package loopback serves fake brokers and servers for tests on the
// loopback interface.
package loopback

import (
	"net"
	"sync"
	"testing"
)

// Serve listens on the loopback interface and calls serve, on a goroutine
// of its own, with each connection it accepts, numbered from 0. The
// listener and every connection close when the test ends; serve may close
// one earlier. It returns the listener's host:port.
func Serve(t testing.TB, serve func(i int, conn net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	ended := false
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		ended = true
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for i := 0; ; i++ {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if ended {
				mu.Unlock()
				conn.Close()
				return
			}
			conns = append(conns, conn)
			mu.Unlock()
			go serve(i, conn)
		}
	}()
	return ln.Addr().String()
}

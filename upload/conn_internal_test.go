package upload

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"io"
	"net"
	"testing"

	"github.com/otactl/otactl/internal/loopback"
)

// loopbackPair returns both ends of a TCP connection on the loopback
// interface.
func loopbackPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	accepted := make(chan net.Conn, 1)
	addr := loopback.Serve(t, func(_ int, c net.Conn) { accepted <- c })
	client, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestTCPConnUnder(t *testing.T) {
	client, _ := loopbackPair(t)
	if got := tcpConn(client); got != client {
		t.Errorf("plain: tcpConn = %v, want the connection itself", got)
	}
	if got := tcpConn(tls.Client(client, &tls.Config{ServerName: "x"})); got != client {
		t.Errorf("TLS: tcpConn = %v, want the TCP connection under it", got)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if got := tcpConn(a); got != nil {
		t.Errorf("pipe: tcpConn = %v, want nil", got)
	}
}

// TestMeteredConnReads checks that reads through the buffer and the
// acknowledging reader return the bytes sent, in order, whatever the size
// of each read: the small reads paho makes for a packet's header and the
// large ones for a big payload (which bypass the buffer).
func TestMeteredConnReads(t *testing.T) {
	client, server := loopbackPair(t)
	m := newMeteredConn(client, &Client{})
	want := make([]byte, 3*readBuffer+12345)
	if _, err := rand.Read(want); err != nil {
		t.Fatal(err)
	}
	go func() {
		// Pieces of every size, some larger than the buffer.
		rest := want
		for n := 1; len(rest) > 0; n = n*3 + 1 {
			n = min(n, len(rest))
			if _, err := server.Write(rest[:n]); err != nil {
				return
			}
			rest = rest[n:]
		}
		server.Close()
	}()
	var got bytes.Buffer
	for _, size := range []int{1, 1, 2, 40, readBuffer + 1, 7, 2 * readBuffer} {
		p := make([]byte, size)
		n, err := io.ReadFull(m, p)
		got.Write(p[:n])
		if err != nil {
			t.Fatalf("read of %d bytes: %v", size, err)
		}
	}
	rest, err := io.ReadAll(m)
	if err != nil {
		t.Fatal(err)
	}
	got.Write(rest)
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("read %d bytes, not the %d sent", got.Len(), len(want))
	}
}

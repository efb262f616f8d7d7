package upload

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// chunk is how much of a packet is written at a time, so that a large
// publish reports progress as it goes.
const chunk = 256 << 10

// readBuffer is the size of the buffer incoming packets are read through.
// paho reads a packet's type byte, each length byte and the body with one
// call each: unbuffered, that is three system calls or more per message,
// which dominates reading many small retained reports.
const readBuffer = 64 << 10

// openConn dials the broker for paho (plain TCP, TLS, or MQTT over
// websockets) and meters what is written.
func (c *Client) openConn(uri *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
	var (
		conn net.Conn
		err  error
	)
	d := &net.Dialer{Timeout: o.ConnectTimeout}
	switch uri.Scheme {
	case "mqtt":
		conn, err = d.Dial("tcp", uri.Host)
	case "mqtts":
		conn, err = tls.DialWithDialer(d, "tcp", uri.Host, o.TLSConfig)
	case "ws", "wss":
		var tlsc *tls.Config
		if uri.Scheme == "wss" {
			tlsc = o.TLSConfig
		}
		u := *uri
		u.User = nil
		conn, err = mqtt.NewWebsocket(u.String(), tlsc, o.ConnectTimeout, o.HTTPHeaders, o.WebsocketOptions)
	default:
		return nil, fmt.Errorf("unknown scheme %q", uri.Scheme)
	}
	if err != nil {
		return nil, err
	}
	return newMeteredConn(conn, c), nil
}

// newMeteredConn wraps conn for paho: buffered reads, acknowledged at once
// over TCP, and metered writes.
func newMeteredConn(conn net.Conn, c *Client) *meteredConn {
	var r io.Reader = conn
	if raw := tcpConn(conn); raw != nil {
		r = &ackingReader{Conn: conn, raw: raw}
	}
	return &meteredConn{Conn: conn, c: c, r: bufio.NewReaderSize(r, readBuffer)}
}

// tcpConn is the TCP connection under conn (plain or TLS), or nil.
func tcpConn(conn net.Conn) *net.TCPConn {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	raw, _ := conn.(*net.TCPConn)
	return raw
}

// ackingReader acknowledges what it read at once (see quickAck).
//
// Why: a broker with Nagle's algorithm on (mosquitto's default,
// set_tcp_nodelay false) holds a small packet while an earlier one is
// unacknowledged, and a client that is waiting, not writing, acknowledges
// late (delayed ACK, 40 ms on Linux). Every read of retained messages ends
// that way: the last retained message, then the end-of-retained probe
// held behind it until the delayed ACK, 40 ms per read.
type ackingReader struct {
	net.Conn
	raw *net.TCPConn
}

func (a *ackingReader) Read(b []byte) (int, error) {
	n, err := a.Conn.Read(b)
	if n > 0 {
		quickAck(a.raw)
	}
	return n, err
}

// meteredConn reads through a buffer, counts the bytes written and writes
// large packets in chunks. One Write holds the lock throughout, so that
// paho's keepalive, which writes to the connection directly, never lands
// inside a packet.
type meteredConn struct {
	net.Conn
	c  *Client
	r  *bufio.Reader // only paho's reader goroutine reads
	mu sync.Mutex
}

// Read reads what the buffer holds, refilling it with one system call
// when it is empty; a read of at least the buffer's size into an empty
// buffer goes to the connection directly.
func (m *meteredConn) Read(b []byte) (int, error) { return m.r.Read(b) }

func (m *meteredConn) Write(b []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	done := 0
	for done < len(b) {
		end := min(done+chunk, len(b))
		n, err := m.Conn.Write(b[done:end])
		done += n
		m.c.wrote(int64(n))
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// progress is the publish whose bytes are being counted.
type progress struct {
	topic string
	total int64
	base  int64 // written when it started
}

// wrote counts n bytes written and reports the progress of the current
// publish.
func (c *Client) wrote(n int64) {
	w := c.written.Add(n)
	p := c.current.Load()
	if p == nil || c.opts.Progress == nil {
		return
	}
	sent := min(w-p.base, p.total)
	c.opts.Progress(p.topic, sent, p.total)
}

// track starts counting a publish of total payload bytes.
func (c *Client) track(topic string, total int) func() {
	c.current.Store(&progress{topic: topic, total: int64(total), base: c.written.Load()})
	return func() { c.current.Store(nil) }
}

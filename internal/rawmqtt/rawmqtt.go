// Package rawmqtt is a bare MQTT 3.1.1 client for tests that need to see a
// broker's exact answers (CONNACK codes, a missing PUBACK, a closed
// connection) without a client library retrying or hiding them. Its
// packet framing (AppendHeader, Packet, ReadHeader) serves test tools
// that read a broker their own way, such as the chaos suite.
package rawmqtt

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Packet types.
const (
	Connack    = 2
	Puback     = 4
	Disconnect = 14
)

// CONNACK return codes of MQTT 3.1.1.
const (
	Accepted            = 0
	BadUserNameOrPasswd = 4
	NotAuthorized       = 5
)

// Conn is one connection to a broker.
type Conn struct {
	net.Conn
	r *bufio.Reader
}

// ConnectOptions is what a CONNECT says. The session is always clean.
type ConnectOptions struct {
	ID, User, Password string
	// WillTopic, when set, leaves a retained QoS 1 will message WillMsg.
	WillTopic, WillMsg string
}

// AppendString appends s as MQTT writes a string: its length in two bytes,
// then its bytes.
func AppendString(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint16(b, uint16(len(s))), s...)
}

// AppendHeader appends a fixed header: the first byte (type and flags) and
// the remaining length n, the bytes that follow. MQTT's variable byte
// integer is Go's unsigned varint, at most four bytes for n up to
// 268,435,455.
func AppendHeader(b []byte, first byte, n int) []byte {
	return binary.AppendUvarint(append(b, first), uint64(n))
}

// Packet is a whole packet: the first byte, the remaining length and body.
func Packet(first byte, body []byte) []byte {
	return append(AppendHeader(nil, first, len(body)), body...)
}

// ReadHeader reads a fixed header: the first byte and the remaining
// length, which may take at most four bytes.
func ReadHeader(r io.ByteReader) (first byte, n int, err error) {
	first, err = r.ReadByte()
	if err != nil {
		return 0, 0, err
	}
	mul := 1
	for i := 0; i < 4; i++ {
		d, err := r.ReadByte()
		if err != nil {
			return 0, 0, err
		}
		n += int(d&0x7f) * mul
		if d&0x80 == 0 {
			return first, n, nil
		}
		mul *= 128
	}
	return 0, 0, errors.New("malformed remaining length")
}

// Connect dials addr, sends a CONNECT and returns the connection and the
// CONNACK's return code. Every step must be done within wait.
func Connect(addr string, o ConnectOptions, wait time.Duration) (*Conn, byte, error) {
	nc, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return nil, 0, err
	}
	c := &Conn{Conn: nc, r: bufio.NewReader(nc)}
	flags := byte(0x02) // clean session
	if o.WillTopic != "" {
		flags |= 0x04 | 0x08 | 0x20 // will, QoS 1, retained
	}
	if o.User != "" {
		flags |= 0x80
	}
	if o.Password != "" {
		flags |= 0x40
	}
	body := append(AppendString(nil, "MQTT"), 4, flags, 0, 60)
	body = AppendString(body, o.ID)
	if o.WillTopic != "" {
		body = AppendString(body, o.WillTopic)
		body = AppendString(body, o.WillMsg)
	}
	if o.User != "" {
		body = AppendString(body, o.User)
	}
	if o.Password != "" {
		body = AppendString(body, o.Password)
	}
	nc.SetDeadline(time.Now().Add(wait))
	if _, err := nc.Write(Packet(0x10, body)); err != nil {
		nc.Close()
		return nil, 0, err
	}
	typ, b, err := c.Read()
	if err != nil {
		nc.Close()
		return nil, 0, fmt.Errorf("read connack: %w", err)
	}
	if typ != Connack || len(b) != 2 {
		nc.Close()
		return nil, 0, fmt.Errorf("want a connack, got packet type %d of %d bytes", typ, len(b))
	}
	nc.SetDeadline(time.Time{})
	return c, b[1], nil
}

// Dial connects to addr as Connect does, for a test: it fails t unless the
// broker accepts the connection, and closes it when the test ends.
func Dial(t testing.TB, addr string, o ConnectOptions, wait time.Duration) *Conn {
	t.Helper()
	c, code, err := Connect(addr, o, wait)
	if err != nil {
		t.Fatalf("connect to %s as %q: %v", addr, o.ID, err)
	}
	t.Cleanup(func() { c.Close() })
	if code != Accepted {
		t.Fatalf("connect to %s as %q: return code %d", addr, o.ID, code)
	}
	return c
}

// ConnectAll connects n clients to addr at the same moment, the i-th with
// o(i), and returns the connections made and how many clients got each
// answer: "code N" for a CONNACK with return code N, else the error
// without the addresses in it, so that a few hundred failures summarise
// to a handful of lines.
func ConnectAll(n int, addr string, o func(i int) ConnectOptions, wait time.Duration) ([]*Conn, map[string]int) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []*Conn
	answers := map[string]int{}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c, code, err := Connect(addr, o(i), wait)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				s := err.Error()
				if i := strings.LastIndex(s, ": "); i >= 0 {
					s = s[i+2:]
				}
				answers[s]++
				return
			}
			answers[fmt.Sprint("code ", code)]++
			conns = append(conns, c)
		}()
	}
	close(start)
	wg.Wait()
	return conns, answers
}

// StillOpen waits up to wait for the broker to end each of conns (Ends),
// all at once, and returns how many it left open.
func StillOpen(conns []*Conn, wait time.Duration) int {
	ends := make(chan bool, len(conns))
	for _, c := range conns {
		go func() { ends <- c.Ends(wait) }()
	}
	open := 0
	for range conns {
		if !<-ends {
			open++
		}
	}
	return open
}

// Read reads one packet and returns its type and body.
func (c *Conn) Read() (byte, []byte, error) {
	first, n, err := ReadHeader(c.r)
	if err != nil {
		return 0, nil, err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return 0, nil, err
	}
	return first >> 4, body, nil
}

// PublishRetained sends a retained PUBLISH with QoS 1 and packet id 1 and
// returns nil once its PUBACK arrives, or the error that came instead (a
// closed connection, a timeout).
func (c *Conn) PublishRetained(topic string, payload []byte, wait time.Duration) error {
	body := append(AppendString(nil, topic), 0, 1)
	body = append(body, payload...)
	c.SetDeadline(time.Now().Add(wait))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(Packet(0x33, body)); err != nil {
		return err
	}
	for {
		typ, b, err := c.Read()
		if err != nil {
			return err
		}
		if typ == Puback && len(b) >= 2 && binary.BigEndian.Uint16(b) == 1 {
			return nil
		}
	}
}

// PublishRetainedQoS0 sends a retained PUBLISH with QoS 0.
func (c *Conn) PublishRetainedQoS0(topic string, payload []byte) error {
	_, err := c.Write(Packet(0x31, append(AppendString(nil, topic), payload...)))
	return err
}

// Ends waits up to wait for the broker to end the connection: it returns
// true when the broker sent DISCONNECT or closed it, false when it is
// still open after wait. Packets before that are skipped.
func (c *Conn) Ends(wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	defer c.SetReadDeadline(time.Time{})
	for {
		typ, _, err := c.Read()
		if err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
		if typ == Disconnect {
			return true
		}
	}
}

// IsTimeout reports whether err is a network timeout.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

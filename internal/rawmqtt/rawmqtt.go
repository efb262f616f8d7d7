// Package rawmqtt is a bare MQTT 3.1.1 client for tests that need to see a
// broker's exact answers (CONNACK codes, a missing PUBACK, a closed
// connection) without a client library retrying or hiding them.
package rawmqtt

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
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

func str(s string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), s...)
}

func remainingLength(n int) []byte {
	var b []byte
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// Packet is a whole packet: the first byte, the remaining length and body.
func Packet(first byte, body []byte) []byte {
	return append(append([]byte{first}, remainingLength(len(body))...), body...)
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
	body := append(str("MQTT"), 4, flags, 0, 60)
	body = append(body, str(o.ID)...)
	if o.WillTopic != "" {
		body = append(body, str(o.WillTopic)...)
		body = append(body, str(o.WillMsg)...)
	}
	if o.User != "" {
		body = append(body, str(o.User)...)
	}
	if o.Password != "" {
		body = append(body, str(o.Password)...)
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

// Read reads one packet and returns its type and body.
func (c *Conn) Read() (byte, []byte, error) {
	first, err := c.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mul := 0, 1
	for i := 0; ; i++ {
		d, err := c.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(d&0x7f) * mul
		mul *= 128
		if d&0x80 == 0 {
			break
		}
		if i == 3 {
			return 0, nil, errors.New("malformed remaining length")
		}
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
	body := append(str(topic), 0, 1)
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
	_, err := c.Write(Packet(0x31, append(str(topic), payload...)))
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

// StillOpen waits up to wait, for all of conns at once, for the broker to
// end each connection (see Ends), and returns how many are still open.
func StillOpen(conns []*Conn, wait time.Duration) int {
	var wg sync.WaitGroup
	var open atomic.Int64
	for _, c := range conns {
		wg.Go(func() {
			if !c.Ends(wait) {
				open.Add(1)
			}
		})
	}
	wg.Wait()
	return int(open.Load())
}

// IsTimeout reports whether err is a network timeout.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

package chaos

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/otactl/otactl/internal/rawmqtt"
)

// The suite's own MQTT 3.1.1 reader. It shares no code with otactl's
// client on purpose: a referee that reads the broker through the code under
// test would share its bugs. Its packets are built and framed with
// internal/rawmqtt, a bare client for tests that otactl does not use.

// eachRetained calls take with every message the broker at addr
// (host:port) retains on topics (no wildcards), its payload a reader of
// size bytes, and returns once all have come. It subscribes to the topics
// and to a probe topic of its own in one SUBSCRIBE, then publishes to the
// probe: a broker sends one connection's messages in order, so once the
// probe comes back every retained message has arrived.
func eachRetained(ctx context.Context, addr string, topics []string, take func(topic string, size int, payload io.Reader) error) error {
	conn, r, id, err := dialMQTT(ctx, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	probe := "chaos/probe/" + id
	if _, err := conn.Write(subscribePacket(1, append([]string{probe}, topics...))); err != nil {
		return fmt.Errorf("reader: subscribe: %w", err)
	}
	subacked := false
	for {
		hdr, n, err := rawmqtt.ReadHeader(r)
		if err != nil {
			return fmt.Errorf("reader: %w", err)
		}
		if hdr>>4 != 3 { // not a PUBLISH
			body, err := readBody(r, n)
			if err != nil {
				return fmt.Errorf("reader: %w", err)
			}
			if hdr>>4 == 9 { // SUBACK
				if len(body) != 2+1+len(topics) {
					return fmt.Errorf("reader: suback %x for %d filters", body, 1+len(topics))
				}
				for i, rc := range body[2:] {
					if rc == 0x80 {
						return fmt.Errorf("reader: subscription %d refused", i)
					}
				}
				subacked = true
				if _, err := conn.Write(publishPacket(probe, []byte("p"))); err != nil {
					return fmt.Errorf("reader: probe: %w", err)
				}
			}
			continue
		}
		topic, size, err := readPublishHeader(r, conn, hdr, n)
		if err != nil {
			return fmt.Errorf("reader: %w", err)
		}
		payload := io.LimitReader(r, int64(size))
		if topic == probe && subacked {
			_, _ = conn.Write([]byte{0xe0, 0})
			return nil
		}
		if hdr&1 == 1 { // the retain flag
			if err := take(topic, size, payload); err != nil {
				return err
			}
		}
		if _, err := io.Copy(io.Discard, payload); err != nil {
			return fmt.Errorf("reader: %s: %w", topic, err)
		}
	}
}

// dialMQTT connects to the broker at addr as a fresh client, with ctx's
// deadline (else a minute) on the connection, and returns the connection,
// a reader on it and the client id.
func dialMQTT(ctx context.Context, addr string) (net.Conn, *bufio.Reader, string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, "", fmt.Errorf("reader: dial %s: %w", addr, err)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	_ = conn.SetDeadline(deadline)
	r := bufio.NewReaderSize(conn, 64<<10)
	id := "chaos-" + randomHex(6)
	if _, err := conn.Write(connectPacket(id)); err != nil {
		conn.Close()
		return nil, nil, "", fmt.Errorf("reader: connect: %w", err)
	}
	hdr, n, err := rawmqtt.ReadHeader(r)
	var body []byte
	if err == nil {
		body, err = readBody(r, n)
	}
	if err != nil {
		conn.Close()
		return nil, nil, "", fmt.Errorf("reader: connack: %w", err)
	}
	if typ := hdr >> 4; typ != 2 || len(body) != 2 || body[1] != 0 {
		conn.Close()
		return nil, nil, "", fmt.Errorf("reader: connect refused (packet type %d, %x)", typ, body)
	}
	return conn, r, id, nil
}

// publishRetained publishes payload retained at QoS 1 to topic and waits
// for the PUBACK: the suite's own publisher, for its self-tests.
func publishRetained(ctx context.Context, addr, topic string, payload []byte) error {
	conn, r, _, err := dialMQTT(ctx, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	body := append(rawmqtt.AppendString(nil, topic), 0, 1) // packet id 1
	if _, err := conn.Write(rawmqtt.Packet(0x33, append(body, payload...))); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	for {
		hdr, n, err := rawmqtt.ReadHeader(r)
		if err != nil {
			return fmt.Errorf("publish %s: %w", topic, err)
		}
		if _, err := readBody(r, n); err != nil {
			return fmt.Errorf("publish %s: %w", topic, err)
		}
		if hdr>>4 == 4 { // PUBACK
			_, _ = conn.Write([]byte{0xe0, 0})
			return nil
		}
	}
}

// readRetained returns what the broker at addr retains on each of topics;
// a topic that retains nothing is absent.
func readRetained(ctx context.Context, addr string, topics ...string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := eachRetained(ctx, addr, topics, func(topic string, size int, payload io.Reader) error {
		b := make([]byte, size)
		if _, err := io.ReadFull(payload, b); err != nil {
			return fmt.Errorf("reader: %s: %w", topic, err)
		}
		out[topic] = b
		return nil
	})
	return out, err
}

// digestRetained returns the size and SHA-256 (hex) of what the broker at
// addr retains on topic, without holding it in memory.
func digestRetained(ctx context.Context, addr, topic string) (size int64, sum string, found bool, err error) {
	err = eachRetained(ctx, addr, []string{topic}, func(got string, n int, payload io.Reader) error {
		if got != topic {
			return nil
		}
		h := sha256.New()
		if _, err := io.Copy(h, payload); err != nil {
			return fmt.Errorf("reader: %s: %w", topic, err)
		}
		size, sum, found = int64(n), hex.EncodeToString(h.Sum(nil)), true
		return nil
	})
	return size, sum, found, err
}

func connectPacket(id string) []byte {
	var v []byte
	v = rawmqtt.AppendString(v, "MQTT")
	v = append(v, 4, 0x02, 0, 60) // level 4, clean session, keep-alive 60 s
	v = rawmqtt.AppendString(v, id)
	return rawmqtt.Packet(0x10, v)
}

func subscribePacket(pid uint16, filters []string) []byte {
	v := []byte{byte(pid >> 8), byte(pid)}
	for _, f := range filters {
		v = rawmqtt.AppendString(v, f)
		v = append(v, 0) // QoS 0
	}
	return rawmqtt.Packet(0x82, v)
}

func publishPacket(topic string, payload []byte) []byte {
	return rawmqtt.Packet(0x30, append(rawmqtt.AppendString(nil, topic), payload...))
}

func readBody(r io.Reader, n int) ([]byte, error) {
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("packet of %d bytes: %w", n, err)
	}
	return body, nil
}

// readPublishHeader reads a PUBLISH's topic (and packet id, acknowledged
// on w), leaving its payload, of the size returned, to be read from r.
func readPublishHeader(r io.Reader, w io.Writer, hdr byte, n int) (string, int, error) {
	var l [2]byte
	if n < 2 {
		return "", 0, errors.New("short publish")
	}
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return "", 0, err
	}
	tl := int(binary.BigEndian.Uint16(l[:]))
	if n < 2+tl {
		return "", 0, errors.New("short publish topic")
	}
	topic, err := readBody(r, tl)
	if err != nil {
		return "", 0, err
	}
	n -= 2 + tl
	if qos := (hdr >> 1) & 3; qos > 0 {
		if n < 2 {
			return "", 0, errors.New("short publish packet id")
		}
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return "", 0, err
		}
		n -= 2
		_, _ = w.Write([]byte{0x40, 2, l[0], l[1]}) // PUBACK
	}
	return string(topic), n, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

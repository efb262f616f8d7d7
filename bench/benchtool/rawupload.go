package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/otactl/otactl/release"
)

// rawupload measures the floor under `otactl upload`: the same work (hash
// the file, publish it retained at QoS 1, read the retained message back
// and compare its SHA-256) done by a minimal MQTT 3.1.1 client that never
// holds the artifact in memory. The file goes to the socket with
// sendfile(2) and the message read back streams through SHA-256, so memory
// stays near the Go runtime's own, whatever the size. It is not a
// replacement for otactl's client (no TLS, no reconnects, no probe for a
// missing message); it shows what streaming would buy.
func rawuploadMain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("rawupload", flag.ContinueOnError)
	broker := fs.String("broker", "", "broker address HOST:PORT")
	topic := fs.String("topic", "", "topic to publish to, retained")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *broker == "" || *topic == "" || fs.NArg() != 1 {
		return errors.New("rawupload: want -broker HOST:PORT -topic TOPIC FILE")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return rawupload(ctx, *broker, *topic, fs.Arg(0))
}

func rawupload(ctx context.Context, addr, topic, path string) error {
	sum, size, err := release.HashFile(ctx, path)
	if err != nil {
		return err
	}
	if size == 0 || size > 268435455-int64(len(topic))-4 {
		return fmt.Errorf("%s: %d bytes do not fit one MQTT message", path, size)
	}
	c, err := rawConnect(ctx, addr, fmt.Sprintf("otactl-bench-raw-%d", os.Getpid()))
	if err != nil {
		return err
	}
	defer c.conn.Close()

	// PUBLISH, QoS 1, retained: header, then the file straight from disk.
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var hdr []byte
	hdr = append(hdr, 0x30|0x02|0x01)
	hdr = appendLength(hdr, 2+len(topic)+2+int(size))
	hdr = appendString(hdr, topic)
	hdr = binary.BigEndian.AppendUint16(hdr, 1)
	if _, err := c.conn.Write(hdr); err != nil {
		return err
	}
	if n, err := io.Copy(c.conn, f); err != nil || n != size {
		return fmt.Errorf("send %s: %d of %d bytes: %v", path, n, size, err)
	}
	if typ, body, err := c.readSmall(); err != nil || typ>>4 != 4 || len(body) != 2 || binary.BigEndian.Uint16(body) != 1 {
		return fmt.Errorf("no PUBACK for the publish (packet %#x, %v)", typ, err)
	}

	// SUBSCRIBE to the topic and hash the retained message as it streams in.
	sub := appendString(binary.BigEndian.AppendUint16(nil, 2), topic)
	sub = append(sub, 0)
	pkt := appendLength([]byte{0x82}, len(sub))
	if _, err := c.conn.Write(append(pkt, sub...)); err != nil {
		return err
	}
	if typ, body, err := c.readSmall(); err != nil || typ>>4 != 9 || len(body) != 3 || body[2] == 0x80 {
		return fmt.Errorf("subscribe %s refused (packet %#x, %v)", topic, typ, err)
	}
	typ, err := c.r.ReadByte()
	if err != nil {
		return err
	}
	if typ>>4 != 3 || typ&0x01 == 0 {
		return fmt.Errorf("want the retained PUBLISH, got packet %#x", typ)
	}
	n, err := readLength(c.r)
	if err != nil {
		return err
	}
	var tl [2]byte
	if _, err := io.ReadFull(c.r, tl[:]); err != nil {
		return err
	}
	skip := int64(binary.BigEndian.Uint16(tl[:]))
	if (typ>>1)&0x03 > 0 {
		skip += 2 // packet id
	}
	if _, err := c.r.Discard(int(skip)); err != nil {
		return err
	}
	h := sha256.New()
	got, err := io.CopyN(h, c.r, int64(n)-2-skip)
	if err != nil {
		return err
	}
	if gs := hex.EncodeToString(h.Sum(nil)); got != size || gs != sum {
		return fmt.Errorf("read back %d bytes sha256 %s, sent %d bytes sha256 %s", got, gs, size, sum)
	}
	_, _ = c.conn.Write([]byte{0xe0, 0})
	fmt.Fprintf(os.Stderr, "published %s (%d bytes, sha256 %s) to %s and read it back\n", path, size, sum, topic)
	return nil
}

type rawConn struct {
	conn *net.TCPConn
	r    *bufio.Reader
}

func rawConnect(ctx context.Context, addr, id string) (*rawConn, error) {
	nc, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn := nc.(*net.TCPConn)
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	body := appendString(nil, "MQTT")
	body = append(body, 4, 0x02, 0, 60) // 3.1.1, clean session, keep-alive 60 s
	body = appendString(body, id)
	if _, err := conn.Write(append(appendLength([]byte{0x10}, len(body)), body...)); err != nil {
		conn.Close()
		return nil, err
	}
	c := &rawConn{conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
	if typ, b, err := c.readSmall(); err != nil || typ != 0x20 || len(b) != 2 || b[1] != 0 {
		conn.Close()
		return nil, fmt.Errorf("connect to %s refused (packet %#x %x, %v)", addr, typ, b, err)
	}
	return c, nil
}

// readSmall reads one control packet of at most 64 bytes.
func (c *rawConn) readSmall() (byte, []byte, error) {
	typ, err := c.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, err := readLength(c.r)
	if err != nil {
		return 0, nil, err
	}
	if n > 64 {
		return typ, nil, fmt.Errorf("unexpected %d-byte packet %#x", n, typ)
	}
	b := make([]byte, n)
	_, err = io.ReadFull(c.r, b)
	return typ, b, err
}

func appendString(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint16(b, uint16(len(s))), s...)
}

func appendLength(b []byte, n int) []byte {
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

func readLength(r *bufio.Reader) (int, error) {
	n, mul := 0, 1
	for i := 0; i < 4; i++ {
		d, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		n += int(d&0x7f) * mul
		if d&0x80 == 0 {
			return n, nil
		}
		mul *= 128
	}
	return 0, errors.New("malformed remaining length")
}

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/otactl/otactl/internal/mqttwire"
	"github.com/otactl/otactl/release"
)

// rawupload measures the floor under `otactl upload`: the same work (hash
// the file, publish it retained at QoS 1, read the retained message back
// and compare its SHA-256) done by a minimal MQTT 3.1.1 client that never
// holds the artifact in memory. The file goes to the socket with
// sendfile(2) and the message read back streams through SHA-256, so memory
// stays near the Go runtime's own, whatever the size. It is not a
// replacement for otactl's client (no TLS, no reconnects, no probe for a
// missing message); it shows what streaming would buy. Its packets are
// those of internal/mqttwire, the codec of otactl's streaming connection.
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
	// PUBLISH, QoS 1, retained: header, then the file straight from disk.
	hdr, err := mqttwire.AppendPublishHeader(nil, topic, 1, true, 1, size)
	if err != nil || size == 0 {
		return fmt.Errorf("%s: %d bytes do not fit one MQTT message", path, size)
	}
	c, err := rawConnect(ctx, addr, fmt.Sprintf("otactl-bench-raw-%d", os.Getpid()))
	if err != nil {
		return err
	}
	defer c.conn.Close()
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := c.conn.Write(hdr); err != nil {
		return err
	}
	if n, err := io.Copy(c.conn, f); err != nil || n != size {
		return fmt.Errorf("send %s: %d of %d bytes: %v", path, n, size, err)
	}
	if p, err := c.r.Next(); err != nil || p.Header.Type != mqttwire.TypePuback || !ackOf(p.Body, 1) {
		return fmt.Errorf("no PUBACK for the publish (packet %+v, %v)", p.Header, err)
	}

	// SUBSCRIBE to the topic and hash the retained message as it streams in.
	if _, err := c.conn.Write(mqttwire.AppendSubscribe(nil, 2, topic)); err != nil {
		return err
	}
	p, err := c.r.Next()
	if err != nil || p.Header.Type != mqttwire.TypeSuback {
		return fmt.Errorf("subscribe %s refused (packet %+v, %v)", topic, p.Header, err)
	}
	if _, codes, err := mqttwire.DecodeSuback(p.Body); err != nil || codes[0] == 0x80 {
		return fmt.Errorf("subscribe %s refused (suback %x, %v)", topic, p.Body, err)
	}
	if p, err = c.r.Next(); err != nil {
		return err
	}
	if p.Header.Type != mqttwire.TypePublish || !p.Publish.Retain {
		return fmt.Errorf("want the retained PUBLISH, got packet %+v", p.Header)
	}
	h := sha256.New()
	got, err := c.r.Payload(h, make([]byte, 64<<10))
	if err != nil {
		return err
	}
	if gs := hex.EncodeToString(h.Sum(nil)); got != size || gs != sum {
		return fmt.Errorf("read back %d bytes sha256 %s, sent %d bytes sha256 %s", got, gs, size, sum)
	}
	_, _ = c.conn.Write(mqttwire.AppendDisconnect(nil))
	fmt.Fprintf(os.Stderr, "published %s (%d bytes, sha256 %s) to %s and read it back\n", path, size, sum, topic)
	return nil
}

// ackOf reports whether body is the acknowledgement of packet id.
func ackOf(body []byte, id uint16) bool {
	got, err := mqttwire.DecodePacketID(body)
	return err == nil && got == id
}

// rawConn is a connection of the minimal client: the file goes out
// through conn (sendfile), packets come in through r.
type rawConn struct {
	conn *net.TCPConn
	r    *mqttwire.Reader
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
	connect, err := mqttwire.AppendConnect(nil, mqttwire.Connect{ClientID: id, KeepAlive: 60})
	if err == nil {
		_, err = conn.Write(connect)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	c := &rawConn{conn: conn, r: mqttwire.NewReader(conn, 64<<10)}
	p, err := c.r.Next()
	if err == nil && p.Header.Type != mqttwire.TypeConnack {
		err = fmt.Errorf("packet type %d", p.Header.Type)
	}
	if err == nil {
		var code byte
		if code, err = mqttwire.DecodeConnack(p.Body); err == nil && code != 0 {
			err = fmt.Errorf("return code %d", code)
		}
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("connect to %s refused: %w", addr, err)
	}
	return c, nil
}

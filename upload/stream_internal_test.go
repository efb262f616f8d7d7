package upload

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/otactl/otactl/internal/loopback"
	"github.com/otactl/otactl/internal/mosquitto"
	"github.com/otactl/otactl/protocol"
)

// strictBroker accepts one streaming connection and enforces its
// keep-alive as MQTT 3.1.1 section 3.1.2.10 allows: no packet for 1.5
// times the keep-alive and it hangs up. It answers PINGREQ (signalling
// pings), and a SUBSCRIBE with a SUBACK and a retained message.
func strictBroker(t *testing.T, pings chan<- struct{}) string {
	t.Helper()
	return loopback.Serve(t, func(i int, conn net.Conn) {
		if i > 0 {
			return // left unanswered
		}
		defer conn.Close()
		cp, err := packets.ReadPacket(conn)
		connect, ok := cp.(*packets.ConnectPacket)
		if err != nil || !ok {
			return
		}
		if _, err := conn.Write([]byte{0x20, 2, 0, 0}); err != nil {
			return
		}
		limit := time.Duration(connect.Keepalive) * 1500 * time.Millisecond
		for {
			_ = conn.SetReadDeadline(time.Now().Add(limit))
			cp, err := packets.ReadPacket(conn)
			if err != nil {
				return // silent for too long: hang up
			}
			switch p := cp.(type) {
			case *packets.PingreqPacket:
				if _, err := conn.Write([]byte{0xd0, 0}); err != nil {
					return
				}
				select {
				case pings <- struct{}{}:
				default:
				}
			case *packets.SubscribePacket:
				ack := packets.NewControlPacket(packets.Suback).(*packets.SubackPacket)
				ack.MessageID, ack.ReturnCodes = p.MessageID, make([]byte, len(p.Topics))
				pub := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
				pub.TopicName, pub.Retain, pub.Payload = p.Topics[0], true, []byte("bytes")
				_ = ack.Write(conn)
				_ = pub.Write(conn)
			}
		}
	})
}

// TestStreamKeepAlive: a streaming connection that waits longer than its
// keep-alive stays connected: the pinger sends PINGREQ, and a PINGRESP in
// the middle of a read is skipped.
func TestStreamKeepAlive(t *testing.T) {
	defer func(old time.Duration) { minKeepAlive = old }(minKeepAlive)
	minKeepAlive = time.Second
	ctx := context.Background()
	m := mosquitto.Start(t, mosquitto.Config{})
	c, err := Connect(ctx, Options{Broker: m.URL(), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pings := make(chan struct{}, 1)
	u := *c.streams.url
	u.Host = strictBroker(t, pings) // the streaming connection goes there
	c.streams.url = &u
	s, err := c.streams.dial(ctx, 0) // keep-alive 1 s
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	for i := 0; i < 3; i++ {
		select {
		case <-pings:
		case <-time.After(20 * time.Second):
			t.Fatalf("no PINGREQ %d", i+1)
		}
	}
	var w bytes.Buffer
	found, n, err := s.readRetained(".u/c/main@1.0.0", &w)
	if err != nil || !found || n != 5 || w.String() != "bytes" {
		t.Fatalf("after three keep-alive periods: %v %d %q %v", found, n, w.String(), err)
	}
}

// silentBroker accepts streaming connections, answers CONNECT with a
// CONNACK and SUBSCRIBE with a SUBACK granting every filter, and sends
// nothing else: no retained message, and never the probe back. It counts
// the connections it accepted.
func silentBroker(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	var accepted atomic.Int32
	addr := loopback.Serve(t, func(_ int, conn net.Conn) {
		accepted.Add(1)
		defer conn.Close()
		for {
			cp, err := packets.ReadPacket(conn)
			if err != nil {
				return
			}
			switch p := cp.(type) {
			case *packets.ConnectPacket:
				_, err = conn.Write([]byte{0x20, 2, 0, 0})
			case *packets.SubscribePacket:
				ack := packets.NewControlPacket(packets.Suback).(*packets.SubackPacket)
				ack.MessageID, ack.ReturnCodes = p.MessageID, make([]byte, len(p.Topics))
				err = ack.Write(conn)
			}
			if err != nil {
				return
			}
		}
	})
	return addr, &accepted
}

// TestStreamConfigAlone: a streaming connection needs nothing of a Client
// but its streamConfig, and reaches the Client's state only through
// state: before dialling, and when the broker drops a probe.
func TestStreamConfigAlone(t *testing.T) {
	addr, accepted := silentBroker(t)
	topics, err := protocol.NewTopics("acme/")
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	closed := false
	cfg := &streamConfig{
		url:            &url.URL{Scheme: "mqtt", Host: addr},
		clientID:       "alone-s",
		topics:         topics,
		timeout:        300 * time.Millisecond,
		quietPeriod:    100 * time.Millisecond,
		publishTimeout: Options{Timeout: 300 * time.Millisecond}.publishTimeout,
		state: func(lostProbe string) (bool, error) {
			asked = append(asked, lostProbe)
			if closed {
				return false, ErrClosed
			}
			return false, nil
		},
	}
	ctx := context.Background()
	s, err := cfg.dial(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	found, n, err := s.readRetained("acme/.u/c/main@1.0.0", io.Discard)
	if err != nil || found || n != 0 {
		t.Fatalf("read where nothing is retained: %v %d %v", found, n, err)
	}
	if len(asked) != 2 || asked[0] != "" || !strings.HasPrefix(asked[1], "acme/.u/otactl/probe/alone-s/") {
		t.Fatalf("state asked %q; want the dial, then the lost probe", asked)
	}
	if !s.quiet {
		t.Error("the connection still waits for probes after losing one")
	}

	closed = true
	if _, err := cfg.dial(ctx, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("dial on a closed client: %v", err)
	}
	if got := accepted.Load(); got != 1 {
		t.Errorf("the broker saw %d connections; a closed client must not connect", got)
	}
}

package upload

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/otactl/otactl/internal/mosquitto"
)

// strictBroker accepts one streaming connection and enforces its
// keep-alive as MQTT 3.1.1 section 3.1.2.10 allows: no packet for 1.5
// times the keep-alive and it hangs up. It answers PINGREQ (signalling
// pings), and a SUBSCRIBE with a SUBACK and a retained message.
func strictBroker(t *testing.T, pings chan<- struct{}) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
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
	}()
	return ln.Addr().String()
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
	u := *c.url
	u.Host = strictBroker(t, pings) // the streaming connection goes there
	c.url = &u
	s, err := c.dialStream(ctx, 0) // keep-alive 1 s
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

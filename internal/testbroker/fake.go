package testbroker

import (
	"net"
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/otactl/otactl/internal/loopback"
)

// Silent starts a broker that accepts connections and never answers, not
// even CONNECT, and returns its mqtt:// URL. It stops when the test ends.
func Silent(t testing.TB) string {
	t.Helper()
	return serveFake(t, func(net.Conn) {})
}

// Stalled starts a broker that answers CONNECT with a CONNACK and then
// reads everything and answers nothing: no PUBACK, no SUBACK. It returns
// its mqtt:// URL and a channel that gets a value each time a client sends
// something after CONNECT (dropped when one is already waiting). It stops
// when the test ends.
func Stalled(t testing.TB) (string, <-chan struct{}) {
	t.Helper()
	busy := make(chan struct{}, 1)
	url := serveFake(t, func(c net.Conn) {
		if _, err := packets.ReadPacket(c); err != nil {
			return
		}
		if _, err := c.Write([]byte{0x20, 2, 0, 0}); err != nil {
			return
		}
		buf := make([]byte, 64<<10)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			select {
			case busy <- struct{}{}:
			default:
			}
		}
	})
	return url, busy
}

// serveFake serves each connection with serve, on the loopback interface,
// until the test ends, and returns the mqtt:// URL.
func serveFake(t testing.TB, serve func(c net.Conn)) string {
	t.Helper()
	return "mqtt://" + loopback.Serve(t, func(_ int, c net.Conn) { serve(c) })
}

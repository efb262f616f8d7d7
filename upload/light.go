package upload

import (
	"crypto/tls"
	"net/url"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// What otactl's own light MQTT connections (the simulator's devices) share
// with Connect: the TLS configuration and the explanation of a failed
// connection.

// TLSConfig is the TLS configuration Connect uses for the broker u: nil
// for plain schemes.
func (o Options) TLSConfig(u *url.URL) (*tls.Config, error) { return o.tlsConfig(u) }

// ConnectFailure explains a failed connection to u as Connect does: rc is
// the CONNACK return code that refused it, or 0 with err the network or
// TLS error. The result is a *ConnectError.
func ConnectFailure(u *url.URL, rc byte, err error) error {
	if rc == 0 {
		rc = packets.ErrNetworkError
	}
	return classifyConnect(u, rc, err)
}

package simulator

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/otactl/otactl/upload"
)

// endpoint is a broker the devices connect to, resolved once for the
// fleet.
type endpoint struct {
	url     *url.URL
	tls     *tls.Config
	timeout time.Duration
}

func newEndpoint(o upload.Options, broker string) (*endpoint, error) {
	u, err := upload.BrokerURL(broker)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := o.TLSConfig(u)
	if err != nil {
		return nil, err
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = upload.DefaultTimeout
	}
	return &endpoint{url: u, tls: tlsCfg, timeout: timeout}, nil
}

func (e *endpoint) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{Timeout: e.timeout}
	switch e.url.Scheme {
	case "mqtt":
		return d.DialContext(ctx, "tcp", e.url.Host)
	case "mqtts":
		return (&tls.Dialer{NetDialer: d, Config: e.tls}).DialContext(ctx, "tcp", e.url.Host)
	case "ws", "wss":
		u := *e.url
		u.User = nil
		return mqtt.NewWebsocket(u.String(), e.tls, e.timeout, nil, nil)
	}
	return nil, fmt.Errorf("broker %s: unknown scheme %q", e.url, e.url.Scheme)
}

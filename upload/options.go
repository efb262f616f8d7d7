package upload

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/otactl/otactl/internal/regularfile"
)

// DefaultBroker is the broker used when none is configured.
const DefaultBroker = "mqtt://localhost:1883"

// DefaultTimeout bounds connecting and each acknowledgement when
// Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// DefaultReadBackWait is how long a read-back looks again for a message
// not there yet when Options.ReadBackWait is zero: NATS with JetStream was
// measured serving retained messages 0.06 to 0.16 s after acknowledging
// them.
const DefaultReadBackWait = 2 * time.Second

// DefaultQuietPeriod is how long a read waits for more retained messages
// when the broker refuses the end-of-retained probe (see ReadRetainedAll).
const DefaultQuietPeriod = 2 * time.Second

// minRate is the slowest link a publish is expected to survive, in bytes
// per second: a publish of n bytes may take Timeout + n/minRate before it
// is abandoned.
const minRate = 128 << 10

// Options says how to reach a broker. The zero value connects to
// DefaultBroker without credentials.
type Options struct {
	// Broker is a URL: mqtt://host[:1883], mqtts://host[:8883],
	// ws://host[:80]/path or wss://host[:443]/path; tcp:// and ssl:// are
	// accepted as aliases of mqtt:// and mqtts://.
	Broker string
	// Username and Password are sent in CONNECT when Username is set.
	Username string
	Password string
	// ClientID is the MQTT client identifier; empty picks "otactl-" and a
	// random suffix. Wildcards and "/" are refused.
	ClientID string
	// CAFile holds PEM certificates that verify the broker instead of the
	// system roots.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key for mutual
	// TLS; both or neither.
	CertFile string
	KeyFile  string
	// Insecure skips verification of the broker's certificate.
	Insecure bool
	// TopicPrefix is prepended verbatim to every topic (see protocol.NewTopics).
	TopicPrefix string
	// Timeout bounds connecting and waiting for each acknowledgement;
	// zero means DefaultTimeout.
	Timeout time.Duration
	// ReadBackWait is how long a read-back keeps looking for a message
	// that is not there yet, or not yet the one published, before it
	// calls it missing or different: a clustered or replicated broker may
	// serve a retained message a little after it acknowledged it. Zero
	// means DefaultReadBackWait; below zero, the message is read once.
	ReadBackWait time.Duration
	// QuietPeriod ends a read when the broker refuses the end-of-retained
	// probe and nothing has arrived for this long; zero means
	// DefaultQuietPeriod.
	QuietPeriod time.Duration
	// Warn, when set, receives one-line warnings about degraded
	// operation, such as reads falling back to quiet periods.
	Warn func(msg string)
	// Progress, when set, is called as a publish's bytes are written:
	// sent of total payload bytes (the packet header counts towards
	// sent). It runs on the writing goroutine and must be quick.
	Progress func(topic string, sent, total int64)
}

func (o Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}

func (o Options) readBackWait() time.Duration {
	switch {
	case o.ReadBackWait > 0:
		return o.ReadBackWait
	case o.ReadBackWait < 0:
		return 0
	}
	return DefaultReadBackWait
}

func (o Options) quietPeriod() time.Duration {
	if o.QuietPeriod > 0 {
		return o.QuietPeriod
	}
	return DefaultQuietPeriod
}

// publishTimeout is how long a publish of n bytes may take before it is
// abandoned: the timeout plus the time n bytes need at minRate.
func (o Options) publishTimeout(n int) time.Duration {
	return o.timeout() + time.Duration(n/minRate)*time.Second
}

// BrokerURL parses and normalises a broker address: it fills in the default
// port of the scheme and maps the aliases tcp:// and ssl:// to mqtt:// and
// mqtts://. A bare host[:port] is taken as mqtt://.
func BrokerURL(raw string) (*url.URL, error) {
	if raw == "" {
		raw = DefaultBroker
	}
	if !strings.Contains(raw, "://") {
		raw = "mqtt://" + raw
	}
	if redacted := redactURL(raw); redacted != raw {
		// Refused before parsing: a password holding '/', '#' or '%'
		// would otherwise show in the parser's error.
		return nil, fmt.Errorf("broker address %q: credentials in the URL are not accepted: use --username and 'otactl login'", redacted)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("broker address %q: %w", raw, errors.Unwrap(err))
	}
	u.Scheme = strings.ToLower(u.Scheme)
	var port string
	switch u.Scheme {
	case "mqtt", "tcp":
		u.Scheme, port = "mqtt", "1883"
	case "mqtts", "ssl", "tls":
		u.Scheme, port = "mqtts", "8883"
	case "ws":
		port = "80"
	case "wss":
		port = "443"
	default:
		return nil, fmt.Errorf("broker address %q: unknown scheme %q: use mqtt://, mqtts://, ws:// or wss://", raw, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("broker address %q: no host", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("broker address %q: credentials in the URL are not accepted: use --username and 'otactl login'", raw)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	if (u.Scheme == "mqtt" || u.Scheme == "mqtts") && u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("broker address %q: a path is only meaningful for ws:// and wss://", raw)
	}
	if u.Scheme == "mqtt" || u.Scheme == "mqtts" {
		u.Path = ""
	}
	return u, nil
}

// redactURL hides credentials written into a URL, even one that does not
// parse: everything between "://" and the last '@' goes, since a password
// may hold '/', '?' or '#'.
func redactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		return scheme + "://xxxxx" + rest[i:]
	}
	return raw
}

func isTLSScheme(scheme string) bool { return scheme == "mqtts" || scheme == "wss" }

// tlsConfig builds the TLS configuration for a broker URL; nil for plain
// schemes, which refuse certificate options rather than ignore them.
func (o Options) tlsConfig(u *url.URL) (*tls.Config, error) {
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("a client certificate needs both --cert-file and --key-file")
	}
	if !isTLSScheme(u.Scheme) {
		if o.CAFile != "" || o.CertFile != "" || o.Insecure {
			return nil, fmt.Errorf("TLS options given for %s://, which is not TLS: use mqtts:// or wss://", u.Scheme)
		}
		return nil, nil
	}
	cfg := &tls.Config{
		ServerName:         u.Hostname(),
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: o.Insecure, //nolint:gosec // only on the user's explicit request
	}
	if o.CAFile != "" {
		pem, err := regularfile.ReadFile(o.CAFile, maxPEMFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate in it", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	if o.CertFile != "" {
		cert, err := loadKeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s and key %s: %w", o.CertFile, o.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// ValidateClientID checks a client identifier: 1 to 128 characters of
// [A-Za-z0-9._:-], so that it can never act as a wildcard or a topic level
// in a broker's ACL patterns.
func ValidateClientID(id string) error {
	if id == "" || len(id) > 128 {
		return fmt.Errorf("client id %q: must be 1 to 128 characters", id)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == ':' || r == '-') {
			return fmt.Errorf("client id %q: %q is not allowed: use letters, digits, '.', '_', ':' and '-'", id, r)
		}
	}
	return nil
}

// randomHex returns n random bytes as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// maxPEMFile caps how much of a certificate or key file is read.
const maxPEMFile = 1 << 20

// loadKeyPair is tls.LoadX509KeyPair reading regular files only, so that a
// FIFO given as a file never blocks.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := regularfile.ReadFile(certFile, maxPEMFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := regularfile.ReadFile(keyFile, maxPEMFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

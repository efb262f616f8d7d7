package upload

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/release"
)

// ErrClosed is returned by every method of a Client that was closed, or
// that closed itself after abandoning a publish.
var ErrClosed = errors.New("mqtt connection closed")

// ConnectError is a failed connection: one line naming the broker and the
// reason, and a hint at the likely fix.
type ConnectError struct {
	Broker string // the normalised broker URL
	Reason string // what went wrong, e.g. "bad username or password"
	Err    error  // the underlying error
	hint   string
	code   byte // the CONNACK return code, or packets.ErrNetworkError
}

func (e *ConnectError) Error() string { return "connect to " + e.Broker + ": " + e.Reason }
func (e *ConnectError) Unwrap() error { return e.Err }

// Hint says what to check next.
func (e *ConnectError) Hint() string { return e.hint }

// BadCredentials reports whether the broker refused the user name or
// password (or, as mosquitto does for a wrong password, the client).
func (e *ConnectError) BadCredentials() bool {
	return e.code == packets.ErrRefusedBadUsernameOrPassword || e.code == packets.ErrRefusedNotAuthorised
}

// refusals say why a broker refused a connection with a CONNACK return
// code, and what to check.
var refusals = map[byte]struct{ reason, hint string }{
	packets.ErrRefusedBadUsernameOrPassword: {"bad username or password",
		"check --username and the password (otactl login, OTACTL_PASSWORD or --password-stdin)"},
	// mosquitto answers a wrong password with this code too.
	packets.ErrRefusedNotAuthorised: {"not authorised (bad username or password, or this client is not allowed)",
		"check --username and the password (otactl login, OTACTL_PASSWORD or --password-stdin), then --client-id and the broker's access rules"},
	packets.ErrRefusedIDRejected: {"client id rejected",
		"choose another --client-id (some brokers accept only 1 to 23 letters and digits)"},
	packets.ErrRefusedServerUnavailable: {"broker unavailable",
		"the broker is up but not accepting clients: try again later"},
	packets.ErrRefusedBadProtocolVersion: {"the broker does not accept MQTT 3.1.1", ""},
}

// classifyConnect turns what paho reports about a failed connection into
// one clear line. rc is the CONNACK return code (packets.ErrNetworkError
// when the failure came before or instead of a CONNACK).
func classifyConnect(u *url.URL, rc byte, err error) *ConnectError {
	broker := u.String()
	hostport := u.Host
	ce := &ConnectError{Broker: broker, Err: err, code: rc}
	if r, ok := refusals[rc]; ok {
		ce.Reason, ce.hint = r.reason, r.hint
		return ce
	}

	var (
		unknownCA   x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalidCert x509.CertificateInvalidError
		verifyErr   *tls.CertificateVerificationError
		alert       tls.AlertError
		recordErr   tls.RecordHeaderError
		dnsErr      *net.DNSError
		netErr      net.Error
	)
	switch {
	case err == nil:
		ce.Reason = "connection failed"
	case errors.As(err, &unknownCA):
		ce.Reason = "TLS: the broker's certificate is signed by an unknown authority"
		ce.hint = "give the broker's CA certificate with --ca-file"
	case errors.As(err, &hostErr):
		ce.Reason = "TLS: the broker's certificate is not valid for " + hostErr.Host
		ce.hint = "connect with the host name the certificate names"
	case errors.As(err, &invalidCert):
		ce.Reason = "TLS: the broker's certificate is invalid: " + invalidCert.Error()
		ce.hint = "check the certificate's dates and usage, and this machine's clock"
	case errors.As(err, &verifyErr):
		ce.Reason = "TLS: the broker's certificate failed verification: " + verifyErr.Err.Error()
		ce.hint = "give the broker's CA certificate with --ca-file"
	case errors.As(err, &alert), strings.Contains(err.Error(), "remote error: tls"):
		ce.Reason = "TLS: the broker refused the handshake (" + tlsAlertText(err) + ")"
		ce.hint = "the broker may require a client certificate it trusts: --cert-file and --key-file"
	case errors.As(err, &recordErr):
		ce.Reason = "TLS: the broker did not answer with TLS"
		ce.hint = "this port may be plain MQTT: use mqtt:// or ws://"
	case errors.As(err, &dnsErr):
		ce.Reason = "unknown host " + dnsErr.Name
		ce.hint = "check the host name in --broker"
	case errors.Is(err, syscall.ECONNREFUSED):
		ce.Reason = "connection refused"
		ce.hint = "is the broker running and listening on " + hostport + "?"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		ce.Reason = "host unreachable"
		ce.hint = "check the network and the host in --broker"
	case errors.As(err, &netErr) && netErr.Timeout():
		ce.Reason = "no answer in time"
		ce.hint = "is the broker reachable on " + hostport + "? a firewall may drop the connection; --timeout waits longer"
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF):
		if !isTLSScheme(u.Scheme) {
			ce.Reason = "the broker closed the connection during the handshake"
			ce.hint = "the port may expect TLS (mqtts:// or wss://), or the broker refused this client"
		} else {
			ce.Reason = "TLS: the broker closed the connection during the handshake"
			ce.hint = "the port may be plain MQTT (mqtt:// or ws://), or the broker wants a client certificate (--cert-file, --key-file)"
		}
	case strings.Contains(err.Error(), "bad handshake"):
		ce.Reason = "websocket handshake failed"
		ce.hint = "check the URL path (often /mqtt) and that the port serves MQTT over websockets"
	default:
		ce.Reason = text.FirstLine(err.Error())
	}
	return ce
}

func tlsAlertText(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "remote error: tls: "); i >= 0 {
		return text.FirstLine(msg[i+len("remote error: tls: "):])
	}
	return text.FirstLine(msg)
}

// TimeoutError is an acknowledgement that did not come in time.
type TimeoutError struct {
	What  string // e.g. "publish to .u/desired"
	After time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s: no answer from the broker within %s", e.What, e.After)
}

// Hint says what to try.
func (e *TimeoutError) Hint() string {
	return "the broker or the link is slow or gone: check it, or raise --timeout"
}

// Timeout reports true, as net.Error does.
func (e *TimeoutError) Timeout() bool { return true }

// RefusedError is a subscription the broker refused.
type RefusedError struct {
	Filter string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the broker refused the subscription to %s", e.Filter)
}

// Hint says where to look.
func (e *RefusedError) Hint() string {
	return "the broker's access rules do not let this user read that topic"
}

// VerifyError is a retained message that did not read back as published.
// It wraps release.ErrVerification.
type VerifyError struct {
	Topic    string
	WantSize int
	WantHash string // hex SHA-256
	Missing  bool   // nothing retained on the topic
	GotSize  int
	GotHash  string
}

// UnconfirmedError is a read-back that proves nothing either way: the
// connection dropped and came back between a publish and its read-back, or
// the broker stopped answering during the read (its end-of-retained probe
// never came back), so a message not seen may still be retained. It is not a
// verification failure (exit 3) but a broker or network error (exit 1).
type UnconfirmedError struct {
	Topic string
	Why   string
}

func (e *UnconfirmedError) Error() string {
	return fmt.Sprintf("%s: could not confirm what the broker retains: %s", e.Topic, e.Why)
}

// Hint says what to do.
func (e *UnconfirmedError) Hint() string {
	return "the message may or may not be retained there: run the same command again (what is already complete on the broker is not sent again)"
}

func (e *VerifyError) Error() string {
	if e.Missing {
		return fmt.Sprintf("%s: %s: published %d bytes but nothing is retained there", release.ErrVerification, e.Topic, e.WantSize)
	}
	return fmt.Sprintf("%s: %s: published %d bytes (sha256 %s) but the broker retains %d bytes (sha256 %s)",
		release.ErrVerification, e.Topic, e.WantSize, short(e.WantHash), e.GotSize, short(e.GotHash))
}

func (e *VerifyError) Unwrap() error { return release.ErrVerification }

// Hint points at the usual cause: a broker that acknowledges and drops
// messages over its size limit.
func (e *VerifyError) Hint() string {
	if e.Missing {
		return fmt.Sprintf("brokers drop messages over their size limit while still acknowledging them (mosquitto message_size_limit, EMQX 1 MB, AWS IoT 128 KB): check the broker's limit for %d bytes, set max-payload in the profile, and check that this user may write the topic; 'otactl doctor' names what a broker lacks (a size limit, retained messages not kept, topics rewritten)", e.WantSize)
	}
	return "another client may have published to the same topic at the same time; run again"
}

// ConflictError is a topic that already retains different bytes. It wraps
// release.ErrVerification.
type ConflictError struct {
	Topic  string
	Size   int64
	SHA256 [32]byte
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s: %s already retains different bytes (%d bytes, sha256 %s)", release.ErrVerification, e.Topic, e.Size, hex.EncodeToString(e.SHA256[:6]))
}

func (e *ConflictError) Unwrap() error { return release.ErrVerification }

// content is what a retained message holds, as a read-back checks it: its
// size and SHA-256.
type content struct {
	size int64
	sum  [32]byte
}

func contentOf(b []byte) *content { return &content{int64(len(b)), sha256.Sum256(b)} }

// verifyContent compares what a read-back found on topic with what was
// published: nil when it is the same, else a *VerifyError (read is nil
// when nothing is retained there).
func verifyContent(topic string, want content, read *content) error {
	if read != nil && *read == want {
		return nil
	}
	e := &VerifyError{Topic: topic, WantSize: int(want.size), WantHash: hex.EncodeToString(want.sum[:]), Missing: read == nil}
	if read != nil {
		e.GotSize, e.GotHash = int(read.size), hex.EncodeToString(read.sum[:])
	}
	return e
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

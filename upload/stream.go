package upload

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/otactl/otactl/internal/mqttwire"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/release"
)

// The streaming connection: a second, short-lived MQTT 3.1.1 connection to
// the same broker, with the same address, TLS settings and credentials as
// the paho client, that publishes one large retained message straight from
// a file and reads retained messages back through a hash. paho needs a
// whole message in memory to publish it and allocates it twice more to
// receive it; this connection holds at most a few hundred KiB whatever the
// size. It is used for mqtt:// and mqtts:// brokers; over websockets
// everything goes through paho. It speaks MQTT through internal/mqttwire,
// and knows of its Client only the streamConfig the Client built.

// streamThreshold is the smallest artifact that goes through a streaming
// connection; smaller ones are cheaper through the paho connection.
var streamThreshold int64 = 1 << 20

// streamChunk is how much of a file is read, hashed and written at a time.
const streamChunk = 256 << 10

// streamReadBuffer is the buffer between the socket and the packet reader.
const streamReadBuffer = 64 << 10

// The keep-alive a streaming connection asks for: as long as its largest
// step may take (a broker may not count a packet until it has all of it),
// within minKeepAlive and maxKeepAlive (mochi-mqtt adds half of it again
// in 16 bits).
var minKeepAlive = 60 * time.Second

const maxKeepAlive = 36000 * time.Second

// streamConfig is everything a streaming connection needs from its
// Client, fixed when the Client connects (newStreamConfig).
type streamConfig struct {
	url      *url.URL    // the broker
	tls      *tls.Config // for mqtts://, nil for mqtt://
	username string      // sent with password when not empty
	password string
	clientID string          // the streaming connection's own (streamClientID)
	topics   protocol.Topics // for the end-of-retained probes

	timeout        time.Duration // connecting, and the idle limit of every read and write
	quietPeriod    time.Duration // how long a read without probes waits for more
	publishTimeout func(n int) time.Duration

	warn     func(msg string)                      // nil: no warnings
	progress func(topic string, sent, total int64) // nil: no progress

	// state is Client.streamState: the Client's shared state, the only
	// part of it a streaming connection touches.
	state func(lostProbe string) (quiet bool, err error)
}

// newStreamConfig is what c's streaming connections need; Connect calls
// it once, with the TLS configuration it built for c.
func (c *Client) newStreamConfig(tlsCfg *tls.Config) streamConfig {
	return streamConfig{
		url:            c.url,
		tls:            tlsCfg,
		username:       c.opts.Username,
		password:       c.opts.Password,
		clientID:       streamClientID(c.id),
		topics:         c.topics,
		timeout:        c.opts.timeout(),
		quietPeriod:    c.opts.quietPeriod(),
		publishTimeout: c.opts.publishTimeout,
		warn:           c.opts.Warn,
		progress:       c.opts.Progress,
		state:          c.streamState,
	}
}

// streamable reports whether c's broker can be reached by a streaming
// connection.
func (c *Client) streamable() bool {
	return c.streams.url.Scheme == "mqtt" || c.streams.url.Scheme == "mqtts"
}

// stream is one streaming connection. Its methods run on one goroutine;
// only the keep-alive pinger writes beside them, under wmu.
type stream struct {
	cfg    *streamConfig
	nc     net.Conn
	pr     *mqttwire.Reader
	buf    []byte // payload copies
	nextID uint16

	wmu   sync.Mutex
	lastW atomic.Int64 // when the last packet was written, UnixNano

	idle    time.Duration // no progress for this long fails a read or write
	until   time.Time     // the current step's overall deadline; zero: none
	stepLen time.Duration // what until allows, for messages
	limit   time.Duration // the limit that applied to the last deadline set

	probeRoot string // probe topics are probeRoot/N, subscribed as probeRoot/+
	probeSub  bool   // the probe filter was granted
	probes    int
	quiet     bool // this connection ends reads by quiet periods
	lostProbe bool // a probe of this connection never came back

	ctx      context.Context
	stopCtx  func() bool
	stopPing chan struct{}
}

// refusedError is a streaming connection the broker would not take
// although the paho connection with the same settings is up: a broker that
// allows one connection per user, or ties client ids to users. Callers
// fall back to the paho connection.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// streamClientID is the client id of c's streaming connections: c's own
// with "-s", which keeps otactl's default ids within the 23 characters
// every broker accepts.
func streamClientID(id string) string {
	if len(id) > 126 {
		id = id[:126]
	}
	return id + "-s"
}

// dial opens a streaming connection for work on messages of about size
// bytes (which scales the keep-alive it asks for).
func (cfg *streamConfig) dial(ctx context.Context, size int64) (*stream, error) {
	quiet, err := cfg.state("")
	if err != nil {
		return nil, err
	}
	timeout := cfg.timeout
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var nc net.Conn
	d := &net.Dialer{Timeout: timeout}
	if cfg.url.Scheme == "mqtts" {
		nc, err = (&tls.Dialer{NetDialer: d, Config: cfg.tls}).DialContext(dctx, "tcp", cfg.url.Host)
	} else {
		nc, err = d.DialContext(dctx, "tcp", cfg.url.Host)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, classifyConnect(cfg.url, packets.ErrNetworkError, err)
	}
	keepAlive := cfg.publishTimeout(int(min(size, mqttwire.MaxRemaining))).Truncate(time.Second)
	keepAlive = min(max(keepAlive, minKeepAlive), maxKeepAlive)
	s := &stream{
		cfg:      cfg,
		nc:       nc,
		buf:      make([]byte, streamReadBuffer),
		idle:     timeout,
		quiet:    quiet,
		ctx:      ctx,
		stopPing: make(chan struct{}),
	}
	s.pr = mqttwire.NewReader(deadlineReader{s}, streamReadBuffer)
	s.probeRoot = cfg.topics.Probe(cfg.clientID, randomHex(8))
	s.stopCtx = context.AfterFunc(ctx, func() { nc.Close() })

	pkt, err := mqttwire.AppendConnect(nil, mqttwire.Connect{ClientID: cfg.clientID, Username: cfg.username, Password: cfg.password, KeepAlive: uint16(keepAlive / time.Second)})
	if err != nil {
		s.close()
		return nil, err
	}
	s.step(timeout)
	if err := s.write(pkt); err != nil {
		s.close()
		return nil, s.connectErr(err)
	}
	p, err := s.pr.Next()
	if err == nil && p.Header.Type != mqttwire.TypeConnack {
		err = mqttwire.Malformed("packet type %d before CONNACK", p.Header.Type)
	}
	var rc byte
	if err == nil {
		rc, err = mqttwire.DecodeConnack(p.Body)
	}
	if err != nil {
		s.close()
		return nil, s.connectErr(err)
	}
	if rc != 0 {
		s.close()
		return nil, &refusedError{classifyConnect(cfg.url, rc, nil)}
	}
	go s.pinger(keepAlive)
	return s, nil
}

// connectErr explains a failure between dialling and the CONNACK. A broker
// that closes the connection there refused it.
func (s *stream) connectErr(err error) error {
	if s.ctx.Err() != nil {
		return s.ctx.Err()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &ConnectError{Broker: s.cfg.url.String(), Reason: "no answer in time", Err: &TimeoutError{What: "connect", After: s.idle},
			hint: "is the broker reachable on " + s.cfg.url.Host + "? --timeout waits longer"}
	}
	ce := classifyConnect(s.cfg.url, packets.ErrNetworkError, err)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return &refusedError{ce}
	}
	return ce
}

// close ends the connection at once. A PUBLISH still being written is cut
// short, and a broker keeps nothing of an incomplete packet.
func (s *stream) close() {
	s.stopCtx()
	select {
	case <-s.stopPing:
	default:
		close(s.stopPing)
	}
	s.nc.Close()
}

// disconnect says goodbye (DISCONNECT) and closes.
func (s *stream) disconnect() {
	s.step(time.Second)
	_ = s.write(mqttwire.AppendDisconnect(nil))
	s.close()
}

// step starts a step that may take at most d (zero: only the idle limit).
func (s *stream) step(d time.Duration) {
	s.stepLen = d
	if d > 0 {
		s.until = time.Now().Add(d)
	} else {
		s.until = time.Time{}
	}
}

// deadline is when the next read or write must have made progress: the
// idle limit, or the step's end when that comes first.
func (s *stream) deadline() time.Time {
	d := time.Now().Add(s.idle)
	s.limit = s.idle
	if !s.until.IsZero() && s.until.Before(d) {
		d = s.until
		s.limit = s.stepLen
	}
	return d
}

// deadlineReader sets the read deadline before every read.
type deadlineReader struct{ s *stream }

func (d deadlineReader) Read(p []byte) (int, error) {
	_ = d.s.nc.SetReadDeadline(d.s.deadline())
	return d.s.nc.Read(p)
}

// write writes one or more whole packets.
func (s *stream) write(b []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.nc.SetWriteDeadline(s.deadline())
	_, err := s.nc.Write(b)
	s.lastW.Store(time.Now().UnixNano())
	return err
}

// pinger sends PINGREQ when nothing has been written for half the
// keep-alive, so that a long read does not look like a dead client. A
// PUBLISH being written holds wmu, and the broker sees its bytes.
func (s *stream) pinger(keepAlive time.Duration) {
	t := time.NewTicker(keepAlive / 4)
	defer t.Stop()
	for {
		select {
		case <-s.stopPing:
			return
		case <-t.C:
		}
		if time.Since(time.Unix(0, s.lastW.Load())) < keepAlive/2 {
			continue
		}
		s.wmu.Lock()
		_ = s.nc.SetWriteDeadline(time.Now().Add(s.idle))
		_, err := s.nc.Write(mqttwire.AppendPingreq(nil))
		s.lastW.Store(time.Now().UnixNano())
		s.wmu.Unlock()
		if err != nil {
			return // the reading side sees the connection fail
		}
	}
}

// fail explains an error of the step what: the context's end, a timeout,
// bytes that are not MQTT, or the connection dropping.
func (s *stream) fail(what string, err error) error {
	if s.ctx.Err() != nil {
		return s.ctx.Err()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &TimeoutError{What: what, After: s.limit}
	}
	if errors.Is(err, mqttwire.ErrMalformed) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return &DroppedError{What: what, Err: err}
}

// readRetained subscribes to topic and streams the message retained there
// into w, reporting whether there was one and its size. An empty retained
// payload counts as none. The end of what is retained is known from an
// end-of-retained probe (see ReadRetainedAll) or, when the broker does not
// return probes, from a quiet period.
func (s *stream) readRetained(topic string, w io.Writer) (bool, int64, error) {
	what := "read " + topic
	var (
		found bool
		n     int64
	)
	err := s.readEach(what, []string{topic}, func(m mqttwire.Publish) (bool, error) {
		if m.Topic != topic {
			return false, nil // an earlier read's probe: skipped
		}
		if m.Size == 0 {
			return true, nil
		}
		s.step(s.cfg.publishTimeout(int(m.Size)))
		var err error
		if n, err = s.pr.Payload(w, s.buf); err != nil {
			return true, s.fail(what, err)
		}
		found = true
		return true, nil
	})
	return found, n, err
}

// readEach subscribes to filters and calls each with every retained
// PUBLISH that arrives, until each says it is done or every retained
// message has arrived: the end-of-retained probe, sent with the
// SUBSCRIBE, came back or, when the broker does not return probes, a
// quiet period passed. each may read the payload (s.pr.Payload); what it
// leaves is skipped. Live messages are skipped.
func (s *stream) readEach(what string, filters []string, each func(mqttwire.Publish) (bool, error)) error {
	s.nextID++
	subID := s.nextID
	subscribed := filters
	if !s.probeSub && !s.quiet {
		subscribed = append(slices.Clip(filters), s.probeRoot+"/+")
	}
	pkt := mqttwire.AppendSubscribe(nil, subID, subscribed...)
	probe := ""
	if !s.quiet {
		// Sent with the SUBSCRIBE, without waiting for the SUBACK: the
		// broker handles one connection's packets in order, so the probe
		// comes back after whatever the subscription delivers.
		s.probes++
		probe = s.probeRoot + "/" + strconv.Itoa(s.probes)
		var err error
		if pkt, err = mqttwire.AppendPublishHeader(pkt, probe, 0, false, 0, int64(len(probeText))); err != nil {
			return err
		}
		pkt = append(pkt, probeText...)
	}
	s.step(0)
	if err := s.write(pkt); err != nil {
		return s.fail(what, err)
	}
	subacked := false
	for {
		if subacked {
			// Wait for the next packet to start: within the timeout for
			// the probe, within a quiet period without one.
			if err := s.pr.Skip(); err != nil {
				return s.fail(what, err)
			}
			if probe == "" {
				s.step(s.cfg.quietPeriod)
			}
			if err := s.pr.Await(); err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) || s.ctx.Err() != nil {
					return s.fail(what, err)
				}
				if probe != "" {
					// The broker took the probe but never sent it back
					// (an access rule that drops it, say).
					s.probeLost(probe)
				}
				return nil
			}
			s.step(0)
		}
		p, err := s.pr.Next()
		if err != nil {
			return s.fail(what, err)
		}
		switch p.Header.Type {
		case mqttwire.TypeSuback:
			id, codes, err := mqttwire.DecodeSuback(p.Body)
			if err != nil {
				return s.fail(what, err)
			}
			if id != subID {
				continue // an earlier read's, whose message came first
			}
			if len(codes) != len(subscribed) {
				return s.fail(what, mqttwire.Malformed("SUBACK with %d return codes for %d filters", len(codes), len(subscribed)))
			}
			for i, f := range filters {
				if codes[i] == 0x80 {
					return &RefusedError{Filter: f}
				}
			}
			if len(codes) > len(filters) {
				s.probeSub = codes[len(filters)] != 0x80
				if !s.probeSub {
					// No probe comes back on this connection.
					s.quiet, probe = true, ""
				}
			}
			subacked = true
			if probe != "" {
				// A broker that leaves Nagle's algorithm on (mosquitto's
				// default) holds the small probe back until the SUBACK is
				// acknowledged, which a receiver delays by up to 40 ms.
				// Anything written carries the acknowledgement at once.
				if err := s.write(mqttwire.AppendPingreq(nil)); err != nil {
					return s.fail(what, err)
				}
			}
		case mqttwire.TypePublish:
			if probe != "" && p.Publish.Topic == probe {
				return nil
			}
			if !p.Publish.Retain {
				continue // a live message or an earlier read's probe
			}
			if done, err := each(p.Publish); done || err != nil {
				return err
			}
		case mqttwire.TypePingresp:
		default:
			return s.fail(what, mqttwire.Malformed("unexpected packet type %d", p.Header.Type))
		}
	}
}

// probeText is the payload of an end-of-retained probe.
const probeText = "otactl end-of-retained probe"

// probeLost makes this connection and its client end reads on quiet
// periods, with one warning, as reads on the paho connection do.
func (s *stream) probeLost(probe string) {
	s.quiet, s.lostProbe = true, true
	_, _ = s.cfg.state(probe) // an error only says the client has closed since
}

// publishFile publishes size bytes of r to topic, retained, QoS 1, and
// returns their SHA-256 once the broker acknowledged them. Every chunk is
// hashed before it is written, so the sum is that of the bytes sent. With
// want set, the last chunk is held back until the sum is known: bytes that
// do not hash to want are never completed, and a broker keeps nothing of an
// incomplete packet. The subscription to topic that readRetained left is
// dropped first, in the same write, so that the broker does not send the
// message straight back.
func (s *stream) publishFile(topic string, r io.Reader, size int64, want *[32]byte) ([32]byte, error) {
	what := "publish to " + topic
	var sum [32]byte
	s.nextID++
	unsubID := s.nextID
	s.nextID++
	pubID := s.nextID
	hdr := mqttwire.AppendUnsubscribe(nil, unsubID, topic)
	hdr, err := mqttwire.AppendPublishHeader(hdr, topic, 1, true, pubID, size)
	if err != nil {
		return sum, err
	}
	s.step(s.cfg.publishTimeout(int(size)))
	if err := s.writeFile(what, topic, hdr, r, size, want, &sum); err != nil {
		return sum, err
	}
	unsubacked, pubacked := false, false
	for !unsubacked || !pubacked {
		p, err := s.pr.Next()
		if err != nil {
			err = s.fail(what, err)
			var de *DroppedError
			if errors.As(err, &de) {
				de.Sent, de.Total = size, size
			}
			return sum, err
		}
		switch p.Header.Type {
		case mqttwire.TypeUnsuback, mqttwire.TypePuback:
			id, err := mqttwire.DecodePacketID(p.Body)
			if err != nil {
				return sum, s.fail(what, err)
			}
			switch {
			case p.Header.Type == mqttwire.TypeUnsuback && id == unsubID:
				unsubacked = true
			case p.Header.Type == mqttwire.TypePuback && id == pubID:
				pubacked = true
			default:
				return sum, s.fail(what, mqttwire.Malformed("acknowledgement of unknown packet %d", id))
			}
		case mqttwire.TypePublish, mqttwire.TypePingresp, mqttwire.TypeSuback:
			// A late probe, a live message, a late SUBACK: skipped.
		default:
			return sum, s.fail(what, mqttwire.Malformed("unexpected packet type %d", p.Header.Type))
		}
	}
	return sum, nil
}

// writeFile writes hdr and then size bytes of r, hashing them into sum,
// holding the write lock throughout so that no PINGREQ lands inside the
// packet.
func (s *stream) writeFile(what, topic string, hdr []byte, r io.Reader, size int64, want, sum *[32]byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	defer func() { s.lastW.Store(time.Now().UnixNano()) }()
	progress := s.cfg.progress
	h := sha256.New()
	buf := make([]byte, min(size, streamChunk))
	var sent int64
	_ = s.nc.SetWriteDeadline(s.deadline())
	if _, err := s.nc.Write(hdr); err != nil {
		return s.dropped(what, sent, size, err)
	}
	for sent < size {
		chunk := buf[:min(int64(len(buf)), size-sent)]
		if _, err := io.ReadFull(r, chunk); err != nil {
			s.nc.Close()
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return fmt.Errorf("%w: %d bytes were expected, the file ended sooner: nothing was published", ErrArtifactChanged, size)
			}
			return fmt.Errorf("read the artifact: %w (nothing was published)", err)
		}
		h.Write(chunk)
		if sent+int64(len(chunk)) == size {
			h.Sum(sum[:0])
			if want != nil && *sum != *want {
				s.nc.Close()
				return fmt.Errorf("%w: the bytes read do not have the SHA-256 expected: nothing was published", ErrArtifactChanged)
			}
		}
		_ = s.nc.SetWriteDeadline(s.deadline())
		if _, err := s.nc.Write(chunk); err != nil {
			return s.dropped(what, sent, size, err)
		}
		sent += int64(len(chunk))
		if progress != nil {
			progress(topic, sent, size)
		}
	}
	return nil
}

// dropped explains a write that failed in the middle of a publish.
func (s *stream) dropped(what string, sent, size int64, err error) error {
	if s.ctx.Err() != nil {
		return s.ctx.Err()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &TimeoutError{What: what, After: s.limit}
	}
	return &DroppedError{What: what, Sent: sent, Total: size, Err: err}
}

// ErrArtifactChanged is wrapped when the bytes read from an artifact while
// publishing it are not the ones expected (the file changed after it was
// checked). It wraps release.ErrVerification.
var ErrArtifactChanged = fmt.Errorf("%w: the artifact changed after it was checked", release.ErrVerification)

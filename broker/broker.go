// Package broker runs otactl's embedded MQTT broker (mochi-mqtt): plain,
// TLS and WebSocket listeners, retained messages that never expire and, with
// a data folder, survive a restart, and per-device access rules from a users
// file. The demo, the simulator's tests and 'otactl broker' use it.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/protocol"
)

// DataFile is the name of the database the broker keeps in its data folder.
const DataFile = "broker.db"

// Config says where and how the broker listens.
type Config struct {
	// Listen is the TCP address for MQTT, e.g. "127.0.0.1:1883"; port 0
	// picks a free port. With TLS set it serves MQTT over TLS.
	Listen string
	// WS, when set, is the TCP address for MQTT over WebSocket (wss with
	// TLS set).
	WS string
	// TLS, when set, makes both listeners TLS.
	TLS *tls.Config
	// DataDir, when set, is a folder where retained messages are kept
	// across restarts (in DataFile). It is created if missing. A retained
	// publish is acknowledged only once it is synced there.
	DataDir string
	// MaxPacket is the largest MQTT packet accepted, in bytes; 0 means the
	// protocol's own limit.
	MaxPacket uint32
	// Users, when set, authenticates clients and applies the device rules.
	// Without it the broker accepts anyone and so refuses to listen on
	// anything but loopback addresses.
	Users *Users
	// TopicPrefix is the P of the topic table, for the device rules.
	TopicPrefix string
	// Logger receives the broker's log; nil discards it.
	Logger *slog.Logger

	// storeFault, in tests, makes a commit of retained messages fail.
	storeFault func(topics []string) error
	// stopFault, in tests, makes the close of the data folder fail.
	stopFault func() error
	// writeBudget, in tests, is the write budget (see writeBudget), whose
	// subscriptions then wait for it up to a minute.
	writeBudget int64
}

// Broker is a running embedded broker.
type Broker struct {
	server    *mqtt.Server
	addr      string
	wsAddr    string
	tls       bool
	closeOnce sync.Once
	closeErr  error
	done      chan struct{}
	store     *retainStore // nil without a data folder
	tracked   []*trackedListener
	logins    *loginLimiter
	guard     *retainGuard
	budget    *writeBudget
}

// writesPending is the size of each client's outbound queue: the messages
// mochi has for a client and has not yet written to its connection. A
// device gets a handful at a time; a reader of many retained messages gets
// them paced by the retain guard (retainedHigh); a live burst larger than
// what is left of the queue, to a client that does not keep up, is dropped
// for that client, as mosquitto's max_queued_messages (1,000 by default)
// does. docs/fleet.md, "Memory".
const writesPending = 1024

// ErrNotLoopback is wrapped when a broker without users would listen on an
// address other than loopback.
var ErrNotLoopback = errors.New("not a loopback address")

// Start starts a broker and returns once it accepts connections. It stops
// when ctx is done or Close is called.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	topics, err := protocol.NewTopics(cfg.TopicPrefix)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if err := CheckAddress(cfg.Listen); err != nil {
		return nil, fmt.Errorf("broker: listen: %w", err)
	}
	if cfg.WS != "" {
		if err := CheckAddress(cfg.WS); err != nil {
			return nil, fmt.Errorf("broker: websocket listen: %w", err)
		}
	}
	if cfg.Users == nil {
		for _, a := range []string{cfg.Listen, cfg.WS} {
			if a != "" && !IsLoopback(a) {
				return nil, hint.Wrap(fmt.Errorf("broker: refusing to listen on %s without users: %w", a, ErrNotLoopback),
					"give --users FILE (see 'otactl broker passwd') or listen on 127.0.0.1")
			}
		}
	}

	caps := mqtt.NewDefaultServerCapabilities()
	// mochi deletes retained messages older than this; releases must stay.
	caps.MaximumMessageExpiryInterval = 0
	caps.MaximumPacketSize = cfg.MaxPacket
	// mochi allocates each client's outbound queue at this size when it
	// connects: 8 bytes a slot, 64 KiB a client at mochi's default of
	// 8,192. See writesPending.
	caps.MaximumClientWritesPending = writesPending
	server := mqtt.New(&mqtt.Options{
		Capabilities: caps,
		Logger:       logger,
	})
	b := &Broker{server: server, tls: cfg.TLS != nil, done: make(chan struct{}), logins: newLoginLimiter(logger)}
	ok := false
	defer func() {
		if !ok {
			b.Close()
		}
	}()

	access := &accessHook{users: cfg.Users, topics: topics, server: server, logins: b.logins, gate: newConnectGate()}
	if err := server.AddHook(access, nil); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	// The store comes before the guard: mochi runs hooks in the order they
	// were added, and a retained publish is written to disk before the
	// guard's lock is taken for the update of the retained index.
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("broker: data folder: %w", err)
		}
		path := filepath.Join(cfg.DataDir, DataFile)
		b.store = &retainStore{path: path, server: server, fault: cfg.storeFault, stopFault: cfg.stopFault}
		err := server.AddHook(b.store, nil)
		if errors.Is(err, ErrDataInUse) {
			return nil, fmt.Errorf("broker: data folder %s is in use by another broker", cfg.DataDir)
		}
		if err != nil {
			return nil, fmt.Errorf("broker: open %s: %w", path, err)
		}
	}
	b.guard = newRetainGuard()
	b.budget = newWriteBudget(server, b.guard, budgetBytes, budgetStall)
	if cfg.writeBudget > 0 {
		b.budget = newWriteBudget(server, b.guard, cfg.writeBudget, time.Minute)
	}
	if err := server.AddHook(b.budget, nil); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if err := server.AddHook(b.guard, nil); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}

	b.addr, err = b.listen(ctx, cfg.Listen, cfg.TLS, func(ln net.Listener) listeners.Listener {
		return listeners.NewNet("mqtt", ln)
	})
	if err != nil {
		return nil, err
	}
	if cfg.WS != "" {
		b.wsAddr, err = b.listen(ctx, cfg.WS, cfg.TLS, func(ln net.Listener) listeners.Listener {
			return newWSListener("ws", ln, cfg.TLS != nil)
		})
		if err != nil {
			return nil, err
		}
	}
	if err := server.Serve(); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	ok = true
	go func() {
		select {
		case <-ctx.Done():
			b.Close()
		case <-b.done:
		}
	}()
	return b, nil
}

// listen opens a TCP listener on addr, with TLS when tlsCfg is set, has
// the server accept MQTT on it through the listener serve makes of it, and
// returns the address it is bound to.
func (b *Broker) listen(ctx context.Context, addr string, tlsCfg *tls.Config, serve func(net.Listener) listeners.Listener) (string, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", listenError(addr, err)
	}
	bound := ln.Addr().String()
	ln = b.track(ln)
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	if err := b.server.AddListener(serve(ln)); err != nil {
		ln.Close()
		return "", fmt.Errorf("broker: %w", err)
	}
	return bound, nil
}

func listenError(addr string, err error) error {
	err = fmt.Errorf("broker: listen on %s: %w", addr, err)
	if errors.Is(err, syscall.EADDRINUSE) {
		return hint.Wrap(err, "another program (a broker?) uses that port: pick another one, e.g. --listen 127.0.0.1:1884, or port 0 for any free one")
	}
	return err
}

// Addr is the host:port the MQTT listener is bound to.
func (b *Broker) Addr() string { return b.addr }

// URL is the URL of the MQTT listener: mqtt://, or mqtts:// with TLS.
func (b *Broker) URL() string {
	if b.tls {
		return "mqtts://" + b.addr
	}
	return "mqtt://" + b.addr
}

// WSAddr is the host:port of the WebSocket listener, or "".
func (b *Broker) WSAddr() string { return b.wsAddr }

// WSURL is the URL of the WebSocket listener (ws:// or wss://), or "".
func (b *Broker) WSURL() string {
	if b.wsAddr == "" {
		return ""
	}
	if b.tls {
		return "wss://" + b.wsAddr + "/"
	}
	return "ws://" + b.wsAddr + "/"
}

// Done is closed once the broker has stopped.
func (b *Broker) Done() <-chan struct{} { return b.done }

// Close stops the broker, disconnects every client and, with a data
// folder, closes its database. It is safe to call more than once: every
// call returns the stop's error, a failure to close the data folder
// included.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		var err error
		// mochi's Close lists each listener's clients under a read lock
		// that it takes twice (Clients.GetByListener calls Len), so a
		// client whose session ends at that moment (Clients.Delete waits
		// for the write lock in between) deadlocks it. So stop accepting,
		// cut every connection and let the sessions end first; mochi then
		// finds no client leaving.
		for _, l := range b.tracked {
			l.Listener.Close()
			l.closeAll()
		}
		for deadline := time.Now().Add(closeGrace); sessionsEnding(b.server) && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		stopped := make(chan error, 1)
		go func() { stopped <- b.server.Close() }()
		select {
		case err = <-stopped:
		case <-time.After(closeGrace):
			// mochi waits for every connection it knows to end; one it has
			// lost track of would keep it waiting forever.
			for _, l := range b.tracked {
				l.closeAll()
			}
			err = <-stopped
		}
		if b.store != nil {
			// mochi logs a hook's failure to stop and goes on: the data
			// folder's is the broker's own.
			if serr := b.store.stopped(); serr != nil {
				err = errors.Join(err, fmt.Errorf("close the data folder: %w", serr))
			}
		}
		b.closeErr = err
		close(b.done)
	})
	return b.closeErr
}

// sessionsEnding reports whether a client is still connected, or is
// disconnected but mochi has yet to remove its clean session.
func sessionsEnding(s *mqtt.Server) bool {
	for _, cl := range s.Clients.GetAll() {
		if !cl.Closed() {
			return true
		}
		p := &cl.Properties
		clean := p.ProtocolVersion == 5 && p.Props.SessionExpiryInterval == 0 || p.ProtocolVersion < 5 && p.Clean
		if clean && !cl.IsTakenOver() {
			return true
		}
	}
	return false
}

// closeGrace is how long Close lets clients go before cutting their
// connections.
const closeGrace = 3 * time.Second

func (b *Broker) track(ln net.Listener) net.Listener {
	t := &trackedListener{Listener: ln, conns: map[*trackedConn]struct{}{}}
	b.tracked = append(b.tracked, t)
	return t
}

// trackedListener remembers the connections it accepted until they close.
type trackedListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

func (l *trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	return tc, nil
}

func (l *trackedListener) closeAll() {
	l.mu.Lock()
	conns := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

type trackedConn struct {
	net.Conn
	l      *trackedListener
	once   sync.Once
	failed atomic.Bool // a write failed: the peer is gone
}

func (c *trackedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err != nil {
		c.failed.Store(true)
	}
	return n, err
}

// errWriteFailed stops a client whose connection failed a write.
var errWriteFailed = errors.New("write to the client failed")

// connFailed reports whether a write to c, or to the connection a TLS
// connection runs on, failed. A WebSocket connection is never known to
// have failed.
func connFailed(c net.Conn) bool {
	for {
		switch v := c.(type) {
		case *trackedConn:
			return v.failed.Load()
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return false
		}
	}
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// CheckAddress accepts a listen address: HOST:PORT, where HOST is a name,
// an IP address (an IPv6 one in brackets) or empty for every interface,
// and PORT a number from 0 to 65535 (0 picks a free port).
func CheckAddress(addr string) error {
	if addr == "" {
		return errors.New("the address is empty: want HOST:PORT, e.g. 127.0.0.1:1883")
	}
	shown := text.ShowWord(addr)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %s is not HOST:PORT, e.g. 127.0.0.1:1883", shown)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("address %s: the port is not a number from 0 to 65535", shown)
	}
	if strings.ContainsAny(host, " \t/") {
		return fmt.Errorf("address %s: the host is not a name or an IP address", shown)
	}
	return nil
}

// IsLoopback reports whether a host:port address only accepts connections
// from this machine: its host is "localhost" or a loopback IP. An empty
// host means every interface, so it is not loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

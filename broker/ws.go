package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// wsListener serves MQTT over WebSocket (subprotocol "mqtt") on a listener
// that is already bound. mochi's own websocket listener binds only when it
// starts serving and merely logs a failure to bind; binding first lets Start
// report a busy port and lets tests and the demo use port 0.
type wsListener struct {
	id       string
	ln       net.Listener
	secure   bool
	log      *slog.Logger
	srv      *http.Server
	upgrader websocket.Upgrader
	once     sync.Once
	mu       sync.Mutex
	closed   bool
}

func newWSListener(id string, ln net.Listener, secure bool) *wsListener {
	return &wsListener{
		id:     id,
		ln:     ln,
		secure: secure,
		upgrader: websocket.Upgrader{
			Subprotocols: []string{"mqtt"},
			// Browsers' MQTT clients connect from any page; authentication
			// is MQTT's, not the origin's.
			CheckOrigin: func(*http.Request) bool { return true },
		},
	}
}

func (l *wsListener) ID() string      { return l.id }
func (l *wsListener) Address() string { return l.ln.Addr().String() }

func (l *wsListener) Protocol() string {
	if l.secure {
		return "wss"
	}
	return "ws"
}

func (l *wsListener) Init(log *slog.Logger) error {
	l.log = log
	return nil
}

func (l *wsListener) Serve(establish listeners.EstablishFn) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c, err := l.upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		if err := establish(l.id, &wsConn{Conn: c.UnderlyingConn(), ws: c}); err != nil {
			l.log.Debug("websocket client ended", "error", err)
		}
	})
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	srv := l.srv
	l.mu.Unlock()
	if err := srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		l.log.Error("websocket listener stopped", "error", err, "listener", l.id)
	}
}

func (l *wsListener) Close(closeClients listeners.CloseFn) {
	l.once.Do(func() {
		l.mu.Lock()
		l.closed = true
		srv := l.srv
		l.mu.Unlock()
		closeClients(l.id)
		if srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		}
		l.ln.Close()
	})
}

// wsConn is a WebSocket connection seen as the byte stream MQTT expects:
// each binary message is a run of bytes, and each write one message.
type wsConn struct {
	net.Conn
	ws *websocket.Conn
	r  io.Reader
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			op, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if op != websocket.BinaryMessage {
				return 0, errors.New("websocket message is not binary")
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) Close() error { return c.ws.Close() }

package broker

import (
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// Failed logins: after failedLoginLimit failed logins from one remote
// address (IP, whatever the port) within failedLoginWindow, the broker
// refuses every login from that address for failedLoginBlock, answering
// "bad user name or password" at once without running the password hash.
const (
	failedLoginLimit  = 10
	failedLoginWindow = 10 * time.Second
	failedLoginBlock  = 10 * time.Second
	// maxTrackedAddrs bounds the addresses remembered; past it, the
	// oldest entries are dropped first.
	maxTrackedAddrs = 100_000
)

// loginLimiter counts failed logins per remote address and blocks
// addresses that fail too often.
type loginLimiter struct {
	log *slog.Logger
	now func() time.Time

	mu    sync.Mutex
	addrs map[string]*loginRecord
	swept time.Time
}

type loginRecord struct {
	failures     []time.Time // within the window, oldest first
	blockedUntil time.Time
}

func newLoginLimiter(log *slog.Logger) *loginLimiter {
	return &loginLimiter{log: log, now: time.Now, addrs: map[string]*loginRecord{}}
}

// addrKey is the IP of a remote address; an address that is not host:port
// is taken whole.
func addrKey(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// allow reports whether a login from remote may be tried.
func (l *loginLimiter) allow(remote string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.addrs[addrKey(remote)]
	return !ok || !l.now().Before(r.blockedUntil)
}

// failed records a failed login from remote; the failure that reaches the
// limit blocks the address and is logged.
func (l *loginLimiter) failed(remote string) {
	key := addrKey(remote)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	r, ok := l.addrs[key]
	if !ok {
		r = &loginRecord{}
		l.addrs[key] = r
	}
	if now.Before(r.blockedUntil) {
		return
	}
	cut := 0
	for cut < len(r.failures) && now.Sub(r.failures[cut]) >= failedLoginWindow {
		cut++
	}
	r.failures = append(r.failures[cut:], now)
	if len(r.failures) >= failedLoginLimit {
		r.failures = nil
		r.blockedUntil = now.Add(failedLoginBlock)
		l.log.Warn(fmt.Sprintf("refusing %s for %s after %d failed logins", key, failedLoginBlock, failedLoginLimit), "remote", key)
	}
}

// sweep forgets addresses with nothing left to remember, at most once a
// window, and the oldest ones when there are too many.
func (l *loginLimiter) sweep(now time.Time) {
	if now.Sub(l.swept) < failedLoginWindow && len(l.addrs) < maxTrackedAddrs {
		return
	}
	l.swept = now
	for k, r := range l.addrs {
		idle := len(r.failures) == 0 || now.Sub(r.failures[len(r.failures)-1]) >= failedLoginWindow
		if idle && !now.Before(r.blockedUntil) {
			delete(l.addrs, k)
		}
	}
	for k := range l.addrs {
		if len(l.addrs) < maxTrackedAddrs {
			break
		}
		delete(l.addrs, k)
	}
}

// connectGate makes the connections of one client id take turns, from
// the moment one is authenticated until its CONNACK is sent (or it ends).
// mochi takes over an earlier session by client id without a lock of its
// own: a connection taking over one whose CONNACK was still being sent
// cut it off before its CONNACK, and a session cleaned up in the
// background could delete the newer session's entry. In turn, every
// connection gets its CONNACK, and is then taken over by the next.
type connectGate struct {
	mu    sync.Mutex
	turns map[string]chan struct{} // client id -> the current turn, closed when it ends
	held  map[*mqtt.Client]func()  // client -> end of its turn
}

func newConnectGate() *connectGate {
	return &connectGate{turns: map[string]chan struct{}{}, held: map[*mqtt.Client]func(){}}
}

// maxTurn bounds how long one connection may hold its client id's turn.
const maxTurn = 10 * time.Second

// enter waits for cl's turn on its client id. The turn ends with leave, or
// when cl's connection closes, or after maxTurn.
func (g *connectGate) enter(cl *mqtt.Client) {
	mine := make(chan struct{})
	for {
		g.mu.Lock()
		cur, busy := g.turns[cl.ID]
		if !busy {
			g.turns[cl.ID] = mine
			var once sync.Once
			end := func() {
				once.Do(func() {
					g.mu.Lock()
					if g.turns[cl.ID] == mine {
						delete(g.turns, cl.ID)
					}
					delete(g.held, cl)
					g.mu.Unlock()
					close(mine)
				})
			}
			g.held[cl] = end
			g.mu.Unlock()
			go g.watch(cl, mine, end)
			return
		}
		g.mu.Unlock()
		<-cur
	}
}

// watch ends a turn whose connection closed before its CONNACK was sent
// (mochi then calls no hook), or that lasted too long.
func (g *connectGate) watch(cl *mqtt.Client, turn chan struct{}, end func()) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	limit := time.After(maxTurn)
	for {
		select {
		case <-turn:
			return
		case <-limit:
			end()
			return
		case <-tick.C:
			if cl.Closed() {
				end()
				return
			}
		}
	}
}

// leave ends cl's turn, if it holds one.
func (g *connectGate) leave(cl *mqtt.Client) {
	g.mu.Lock()
	end, ok := g.held[cl]
	g.mu.Unlock()
	if ok {
		end()
	}
}

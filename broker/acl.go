package broker

import (
	"bytes"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/otactl/otactl/protocol"
)

// accessHook authenticates clients and applies the topic rules of
// docs/fleet.md. With no users every client is let in (the broker then
// listens on loopback only), but client ids are still checked.
type accessHook struct {
	mqtt.HookBase
	users  *Users // nil: no authentication
	topics protocol.Topics
	server *mqtt.Server
	logins *loginLimiter
	gate   *connectGate
}

func (h *accessHook) ID() string { return "otactl-access" }

func (h *accessHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnSessionEstablished, mqtt.OnDisconnect}, []byte{b})
}

// OnSessionEstablished, called once the CONNACK is sent, lets the next
// connection with the same client id in and logs this one (shown with
// 'broker -v').
func (h *accessHook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	h.gate.leave(cl)
	h.Log.Info("client connected", "client", cl.ID, "user", string(cl.Properties.Username), "remote", cl.Net.Remote, "listener", cl.Net.Listener)
}

// OnDisconnect logs each disconnection.
func (h *accessHook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	h.Log.Info("client disconnected", "client", cl.ID, "reason", errString(err))
}

func errString(err error) string {
	if err == nil {
		return "disconnect"
	}
	return err.Error()
}

// OnConnectAuthenticate lets a client in when its client id is safe, its
// address is not refused for failed logins, its password is right, a
// device's client id is its user name, and any will message it leaves
// would be a publish it may make. A client let in then waits for its turn
// on its client id (see connectGate).
func (h *accessHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	if ValidateClientID(cl.ID) != nil {
		h.Log.Warn("refused client id", "client", cl.ID, "remote", cl.Net.Remote)
		return false
	}
	if h.users == nil {
		h.gate.enter(cl)
		h.endPrevious(cl)
		return true
	}
	remote := cl.Net.Remote
	blocked := !h.logins.allow(remote)
	var user *User
	ok := false
	if !blocked {
		// The address may be refused while this login waits for its
		// password check: then it is refused without one.
		user, ok = h.users.authenticate(string(pk.Connect.Username), pk.Connect.Password, func() bool {
			blocked = !h.logins.allow(remote)
			return !blocked
		})
	}
	if blocked {
		h.Log.Debug("refused login from a blocked address", "user", string(pk.Connect.Username), "client", cl.ID, "remote", remote)
		return false
	}
	if !ok {
		h.Log.Warn("bad user name or password", "user", string(pk.Connect.Username), "client", cl.ID, "remote", remote)
		h.logins.failed(remote)
		return false
	}
	if user.Role == RoleDevice && cl.ID != user.Name {
		h.Log.Warn("device client id is not its user name", "user", user.Name, "client", cl.ID, "remote", cl.Net.Remote)
		return false
	}
	if pk.Connect.WillFlag && !h.allowed(user, pk.Connect.WillTopic, true) {
		// mochi sends wills without an ACL check: refuse them here.
		h.Log.Warn("will topic not allowed", "user", user.Name, "topic", pk.Connect.WillTopic)
		return false
	}
	h.gate.enter(cl)
	h.endPrevious(cl)
	return true
}

// endPrevious ends an earlier connection with the same client id whose
// session ends with it, and waits until mochi has forgotten it. mochi
// cleans up such a connection in the background; when a device reconnects
// at once (a reboot), that cleanup could otherwise run after the new
// session started and remove its subscriptions and its entry in the client
// list. A session that outlives its connection (clean session off) is left
// to mochi's own take-over, which has no such race.
func (h *accessHook) endPrevious(cl *mqtt.Client) {
	if h.server == nil {
		return
	}
	old, ok := h.server.Clients.Get(cl.ID)
	if !ok || old == cl || !endsWithConnection(old) {
		return
	}
	if !old.Closed() {
		_ = h.server.DisconnectClient(old, packets.ErrSessionTakenOver)
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if now, ok := h.server.Clients.Get(cl.ID); !ok || now != old {
			return
		}
		time.Sleep(time.Millisecond)
	}
	h.Log.Warn("previous connection still not cleaned up", "client", cl.ID)
}

// endsWithConnection reports whether a client's session ends when its
// connection does.
func endsWithConnection(cl *mqtt.Client) bool {
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval == 0
	}
	return cl.Properties.Clean
}

// OnACLCheck is asked for every publish (write), every subscription filter
// and every message delivered (read).
func (h *accessHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if h.users == nil {
		return true
	}
	user, ok := h.users.Lookup(string(cl.Properties.Username))
	if !ok {
		return false
	}
	return h.allowed(user, topic, write)
}

func (h *accessHook) allowed(user *User, topic string, write bool) bool {
	if user.Role == RoleOperator {
		return true
	}
	return deviceAllowed(h.topics, user.Name, user.Cohort, topic, write)
}

// deviceAllowed is the device rule: write only under Pdevices/{id}/; read
// P.u/desired, the key set P.u/keys, anything under P.u/c/, Pcohorts/{cohort}/.u/desired and
// anything under Pdevices/{id}/. A filter is allowed only when every topic
// it can match is, so wildcards are fine inside those namespaces and
// nowhere else.
func deviceAllowed(t protocol.Topics, id, cohort, topic string, write bool) bool {
	if own, err := t.DeviceRoot(id); err == nil && strings.HasPrefix(topic, own) && len(topic) > len(own) {
		return true
	}
	if write {
		return false
	}
	if topic == t.Fleet() || topic == t.KeySet() {
		return true
	}
	if cohort != "" {
		if ct, err := t.Cohort(cohort); err == nil && topic == ct {
			return true
		}
	}
	components := t.ComponentsRoot()
	return strings.HasPrefix(topic, components) && len(topic) > len(components)
}

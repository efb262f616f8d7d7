package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/otactl/otactl/internal/testpki"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/upload"
)

// testWait bounds every wait on the network so that a broken broker fails
// the test instead of hanging it; no assertion depends on it.
const testWait = 20 * time.Second

// await returns what comes on ch, or fails the test with the message when
// nothing comes within testWait.
func await[T any](t *testing.T, ch <-chan T, format string, args ...any) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testWait):
		t.Fatalf(format, args...)
	}
	var none T
	return none
}

func startBroker(t *testing.T, cfg Config) *Broker {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	b, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

type clientOpts struct {
	url, id, user, pass string
	tls                 *tls.Config
	will                string
}

func connect(t *testing.T, o clientOpts) (paho.Client, error) {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker(o.url).SetClientID(o.id).
		SetUsername(o.user).SetPassword(o.pass).SetAutoReconnect(false).
		SetConnectTimeout(testWait).SetCleanSession(true)
	if o.tls != nil {
		opts.SetTLSConfig(o.tls)
	}
	if o.will != "" {
		opts.SetWill(o.will, "gone", 1, true)
	}
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(testWait) {
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, nil
}

func mustConnect(t *testing.T, o clientOpts) paho.Client {
	t.Helper()
	c, err := connect(t, o)
	if err != nil {
		t.Fatalf("connect %s: %v", o.id, err)
	}
	return c
}

func publish(t *testing.T, c paho.Client, topic string, qos byte, payload string) {
	t.Helper()
	tok := c.Publish(topic, qos, true, payload)
	if !tok.WaitTimeout(testWait) {
		t.Fatalf("publish %s timed out", topic)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}

// retained subscribes to topic and returns the retained message there.
func retained(t *testing.T, c paho.Client, topic string) string {
	t.Helper()
	s, ok := retainedWithin(t, c, topic, testWait)
	if !ok {
		t.Fatalf("no retained message on %s", topic)
	}
	return s
}

// retainedWithin subscribes to topic and returns the message that arrives
// within wait, false when none does.
func retainedWithin(t *testing.T, c paho.Client, topic string, wait time.Duration) (string, bool) {
	t.Helper()
	got := make(chan string, 1)
	tok := c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		select {
		case got <- string(m.Payload()):
		default:
		}
	})
	if !tok.WaitTimeout(testWait) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", topic, tok.Error())
	}
	defer func() { c.Unsubscribe(topic).WaitTimeout(testWait) }()
	select {
	case s := <-got:
		return s, true
	case <-time.After(wait):
		return "", false
	}
}

// subscribeCode subscribes and returns the granted QoS or 0x80 for refused.
func subscribeCode(t *testing.T, c paho.Client, filter string) byte {
	t.Helper()
	tok := c.Subscribe(filter, 1, func(paho.Client, paho.Message) {})
	if !tok.WaitTimeout(testWait) {
		t.Fatalf("subscribe %s timed out", filter)
	}
	if err := tok.Error(); err != nil && !strings.Contains(err.Error(), "128") {
		t.Fatalf("subscribe %s: %v", filter, err)
	}
	key := filter
	if strings.HasPrefix(key, "$share/") {
		// paho keys a shared subscription's result by its plain filter.
		key = strings.Join(strings.Split(key, "/")[2:], "/")
	}
	code, ok := tok.(*paho.SubscribeToken).Result()[key]
	if !ok {
		t.Fatalf("subscribe %s: no result", filter)
	}
	return code
}

// restarted closes b and starts a broker again on its data folder dir,
// and returns a client of the new one, "reader".
func restarted(t *testing.T, b *Broker, dir string) paho.Client {
	t.Helper()
	if err := b.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	b2 := startBroker(t, Config{DataDir: dir})
	return mustConnect(t, clientOpts{url: b2.URL(), id: "reader"})
}

func TestRetainedSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, Config{DataDir: dir})
	c := mustConnect(t, clientOpts{url: b.URL(), id: "writer"})
	big := strings.Repeat("firmware", 1<<16) // 512 KiB
	publish(t, c, ".u/c/main@1.1.0", 1, big)
	publish(t, c, ".u/desired", 1, `{"sequenceNumber":7}`)
	c.Disconnect(100)
	r := restarted(t, b, dir)
	if got := retained(t, r, ".u/desired"); got != `{"sequenceNumber":7}` {
		t.Errorf("desired after restart = %q", got)
	}
	if got := retained(t, r, ".u/c/main@1.1.0"); got != big {
		t.Errorf("component after restart has %d bytes, want %d", len(got), len(big))
	}
}

func TestDataFolderInUse(t *testing.T) {
	dir := t.TempDir()
	startBroker(t, Config{DataDir: dir})
	_, err := Start(context.Background(), Config{Listen: "127.0.0.1:0", DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second broker on the same data folder: err = %v, want 'in use'", err)
	}
}

// TestStartRefusesBadAddress: an address that is not HOST:PORT is refused
// as such, not as "not a loopback address"; an empty one, which would
// listen on every interface, is refused too.
func TestStartRefusesBadAddress(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "broker: listen: the address is empty"},
		{Config{Listen: "nonsense"}, `broker: listen: address "nonsense" is not HOST:PORT`},
		{Config{Listen: "127.0.0.1:99999"}, "the port is not a number from 0 to 65535"},
		{Config{Listen: "127.0.0.1:0", WS: "127.0.0.1"}, "broker: websocket listen: "},
	} {
		b, err := Start(context.Background(), tc.cfg)
		if err == nil {
			b.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, ErrNotLoopback) {
			t.Errorf("Start(%+v) err = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestRefusesRemoteWithoutUsers(t *testing.T) {
	for _, cfg := range []Config{
		{Listen: "0.0.0.0:0"},
		{Listen: ":0"},
		{Listen: "127.0.0.1:0", WS: "0.0.0.0:0"},
	} {
		_, err := Start(context.Background(), cfg)
		if !errors.Is(err, ErrNotLoopback) {
			t.Errorf("Start(%+v) err = %v, want ErrNotLoopback", cfg, err)
			continue
		}
		var h interface{ Hint() string }
		if !errors.As(err, &h) || !strings.Contains(h.Hint(), "--users") {
			t.Errorf("Start(%+v): no hint naming --users", cfg)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:1883": true, "127.1.2.3:1": true, "[::1]:1883": true, "localhost:1883": true,
		":1883": false, "0.0.0.0:1883": false, "[::]:1883": false, "192.168.1.2:1883": false,
		"example.com:1883": false, "127.0.0.1": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestRefusesWildcardClientIDs(t *testing.T) {
	b := startBroker(t, Config{})
	for _, id := range []string{"+", "#", "a/b", "dev+1"} {
		if _, err := connect(t, clientOpts{url: b.URL(), id: id}); err == nil {
			t.Errorf("client id %q was let in", id)
		}
	}
	mustConnect(t, clientOpts{url: b.URL(), id: "sim-1:a.b_c"})
}

func usersFor(t *testing.T, lines ...string) *Users {
	t.Helper()
	u, err := ParseUsers(strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatalf("parse users: %v", err)
	}
	return u
}

func hashOf(t *testing.T, pw string) string {
	t.Helper()
	h, err := HashPassword([]byte(pw), minIterations)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestACL(t *testing.T) {
	const prefix = "acme/"
	users := usersFor(t,
		"# the fleet",
		FormatUser("ops", RoleOperator, "", hashOf(t, "ops-pw")),
		FormatUser("dev-a", RoleDevice, "eu", hashOf(t, "a-pw")),
		FormatUser("dev-b", RoleDevice, "", hashOf(t, "b-pw")),
	)
	b := startBroker(t, Config{Users: users, TopicPrefix: prefix})
	url := b.URL()

	t.Run("authentication", func(t *testing.T) {
		for _, o := range []clientOpts{
			{id: "dev-a", user: "dev-a", pass: "wrong"},
			{id: "dev-a", user: "nobody", pass: "a-pw"},
			{id: "dev-b", user: "dev-a", pass: "a-pw"}, // a device posing as another
			{id: "x", user: "", pass: ""},
			{id: "dev-a", user: "dev-a", pass: "a-pw", will: prefix + ".u/desired"},
			{id: "dev-a", user: "dev-a", pass: "a-pw", will: prefix + "devices/dev-b/.u/c/main"},
		} {
			o.url = url
			if _, err := connect(t, o); err == nil {
				t.Errorf("connect %+v was let in", o)
			}
		}
		mustConnect(t, clientOpts{url: url, id: "dev-b", user: "dev-b", pass: "b-pw", will: prefix + "devices/dev-b/.u/c/main"})
	})

	ops := mustConnect(t, clientOpts{url: url, id: "ops-1", user: "ops", pass: "ops-pw"})
	devA := mustConnect(t, clientOpts{url: url, id: "dev-a", user: "dev-a", pass: "a-pw"})

	t.Run("device subscriptions", func(t *testing.T) {
		for filter, want := range map[string]byte{
			prefix + ".u/desired":                    1,
			prefix + "cohorts/eu/.u/desired":         1,
			prefix + ".u/c/#":                        1,
			prefix + ".u/c/main@1.1.0":               1,
			prefix + "devices/dev-a/#":               1,
			prefix + "devices/dev-a/.u/desired":      1,
			prefix + "devices/dev-b/#":               0x80,
			prefix + "devices/dev-b/.u/c/main":       0x80,
			prefix + "devices/+/.u/c/main":           0x80,
			prefix + "cohorts/us/.u/desired":         0x80,
			prefix + "cohorts/+/.u/desired":          0x80,
			prefix + ".u/releases/#":                 0x80,
			prefix + "#":                             0x80,
			"#":                                      0x80,
			"$SYS/#":                                 0x80,
			".u/desired":                             0x80, // outside the prefix
			"$share/g/" + prefix + "devices/dev-b/#": 0x80,
		} {
			if got := subscribeCode(t, devA, filter); got != want {
				t.Errorf("device subscribe %q: granted %#x, want %#x", filter, got, want)
			}
		}
	})

	t.Run("operator subscriptions", func(t *testing.T) {
		for _, filter := range []string{"#", prefix + "devices/+/.u/c/+", "$SYS/#"} {
			if got := subscribeCode(t, ops, filter); got != 1 {
				t.Errorf("operator subscribe %q: granted %#x", filter, got)
			}
		}
	})

	t.Run("device publishes", func(t *testing.T) {
		// The operator puts a value on each topic a device must not write;
		// the device then tries to overwrite them at QoS 0 (dropped
		// silently) and proves the broker read those packets by a QoS 1
		// publish of its own, which is acknowledged only after them.
		forbidden := []string{
			prefix + ".u/desired",
			prefix + "cohorts/eu/.u/desired",
			prefix + "devices/dev-b/.u/c/main",
			prefix + "devices/dev-b/.u/desired",
			prefix + ".u/c/main@1.1.0",
			prefix + ".u/releases/1",
		}
		for _, topic := range forbidden {
			publish(t, ops, topic, 1, "orig")
		}
		for _, topic := range forbidden {
			publish(t, devA, topic, 0, "evil")
		}
		publish(t, devA, prefix+"devices/dev-a/.u/c/main", 1, "report")
		for _, topic := range forbidden {
			if got := retained(t, ops, topic); got != "orig" {
				t.Errorf("device overwrote %s with %q", topic, got)
			}
		}
		if got := retained(t, ops, prefix+"devices/dev-a/.u/c/main"); got != "report" {
			t.Errorf("own report = %q", got)
		}
	})

	t.Run("device QoS 1 publish out of bounds disconnects", func(t *testing.T) {
		lost := make(chan error, 1)
		opts := paho.NewClientOptions().AddBroker(url).SetClientID("dev-b").
			SetUsername("dev-b").SetPassword("b-pw").SetAutoReconnect(false).
			SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
		c := paho.NewClient(opts)
		if tok := c.Connect(); !tok.WaitTimeout(testWait) || tok.Error() != nil {
			t.Fatalf("connect dev-b: %v", tok.Error())
		}
		defer c.Disconnect(100)
		c.Publish(prefix+"devices/dev-a/.u/c/main", 1, true, "evil")
		await(t, lost, "broker did not disconnect a device publishing into another's namespace")
		if got := retained(t, ops, prefix+"devices/dev-a/.u/c/main"); got != "report" {
			t.Errorf("dev-a's report became %q", got)
		}
	})

	t.Run("operator reads devices", func(t *testing.T) {
		publish(t, ops, prefix+"devices/dev-b/.u/desired", 1, "pinned")
		if got := retained(t, ops, prefix+"devices/dev-b/.u/desired"); got != "pinned" {
			t.Errorf("operator read %q", got)
		}
	})
}

func TestDeviceAllowed(t *testing.T) {
	for _, tc := range []struct {
		topic string
		write bool
		want  bool
	}{
		{"devices/d1/.u/c/main", true, true},
		{"devices/d1/", true, false},
		{"devices/d1", true, false},
		{"devices/d10/.u/c/main", true, false},
		{"devices/d1/.u/c/main", false, true},
		{".u/desired", true, false},
		{".u/desired", false, true},
		{".u/keys", false, true},
		{".u/keys", true, false},
		{"cohorts/c1/.u/desired", false, true},
		{"cohorts/c1/.u/desired", true, false},
		{"cohorts/c2/.u/desired", false, false},
		{".u/c/", false, false},
		{".u/c/x@1", false, true},
		{".u/c/x@1", true, false},
		{"devices/d2/.u/c/main", false, false},
	} {
		if got := deviceAllowed(protocol.Topics{}, "d1", "c1", tc.topic, tc.write); got != tc.want {
			t.Errorf("deviceAllowed(%q, write=%v) = %v, want %v", tc.topic, tc.write, got, tc.want)
		}
	}
	if deviceAllowed(protocol.Topics{}, "d1", "", "cohorts//.u/desired", false) {
		t.Error("a device without a cohort may read cohorts//.u/desired")
	}
}

func TestTLSAndWebSocket(t *testing.T) {
	pki := testpki.New(t)
	sb := startBroker(t, Config{WS: "127.0.0.1:0", TLS: pki.ServerTLS(t, false)})
	if !strings.HasPrefix(sb.URL(), "mqtts://") || !strings.HasPrefix(sb.WSURL(), "wss://") {
		t.Fatalf("urls %s %s", sb.URL(), sb.WSURL())
	}
	clientTLS := &tls.Config{RootCAs: pki.CAPool(), MinVersion: tls.VersionTLS12}
	secure := mustConnect(t, clientOpts{url: sb.URL(), id: "tls-client", tls: clientTLS})
	publish(t, secure, "t/tls", 1, "over tls")
	wss := mustConnect(t, clientOpts{url: sb.WSURL(), id: "wss-client", tls: clientTLS})
	if got := retained(t, wss, "t/tls"); got != "over tls" {
		t.Errorf("wss read %q", got)
	}
	if _, err := connect(t, clientOpts{url: sb.URL(), id: "untrusting", tls: &tls.Config{MinVersion: tls.VersionTLS12}}); err == nil {
		t.Error("a client that does not trust the certificate connected")
	}

	pb := startBroker(t, Config{WS: "127.0.0.1:0"})
	ws := mustConnect(t, clientOpts{url: pb.WSURL(), id: "ws-client"})
	publish(t, ws, "t/ws", 1, strings.Repeat("w", 100_000))
	tcp := mustConnect(t, clientOpts{url: pb.URL(), id: "tcp-client"})
	if got := retained(t, tcp, "t/ws"); len(got) != 100_000 {
		t.Errorf("tcp read %d bytes published over ws", len(got))
	}
}

func TestMaxPacket(t *testing.T) {
	b := startBroker(t, Config{MaxPacket: 1024})
	c := mustConnect(t, clientOpts{url: b.URL(), id: "small"})
	publish(t, c, "t/small", 1, "ok")
	lost := make(chan struct{})
	opts := paho.NewClientOptions().AddBroker(b.URL()).SetClientID("big").SetAutoReconnect(false).
		SetConnectionLostHandler(func(paho.Client, error) { close(lost) })
	big := paho.NewClient(opts)
	if tok := big.Connect(); !tok.WaitTimeout(testWait) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	big.Publish("t/small", 1, true, strings.Repeat("x", 4096))
	await(t, lost, "broker accepted a packet over --max-packet")
	if got := retained(t, c, "t/small"); got != "ok" {
		t.Errorf("retained = %q after an oversized publish", got)
	}
}

func TestCloseOnContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	b, err := Start(ctx, Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	await(t, b.Done(), "broker did not stop when its context ended")
	if _, err := net.DialTimeout("tcp", b.Addr(), time.Second); err == nil {
		t.Error("listener still accepts after stop")
	}
	if err := b.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

func ExampleFormatUser() {
	fmt.Println(FormatUser("sim-0001", RoleDevice, "canary", "$pbkdf2-sha256$100000$c2FsdA$a2V5"))
	// Output: sim-0001 $pbkdf2-sha256$100000$c2FsdA$a2V5 device canary
}

// A client that disconnects and at once connects again with the same id (a
// device rebooting) must keep the subscriptions of its new session: mochi
// cleans up the old connection in the background, and without the broker
// waiting for that cleanup it could remove the new session's
// subscriptions.
func TestQuickReconnectKeepsSubscriptions(t *testing.T) {
	b := startBroker(t, Config{})
	pub := mustConnect(t, clientOpts{url: b.URL(), id: "pub"})
	for i := range 500 {
		opts := paho.NewClientOptions().AddBroker(b.URL()).SetClientID("dev").SetAutoReconnect(false).SetCleanSession(true)
		got := make(chan string, 4)
		opts.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) })
		c := paho.NewClient(opts)
		if tok := c.Connect(); !tok.WaitTimeout(testWait) || tok.Error() != nil {
			t.Fatalf("round %d: connect: %v", i, tok.Error())
		}
		if tok := c.Subscribe("t/quick", 1, nil); !tok.WaitTimeout(testWait) || tok.Error() != nil {
			t.Fatalf("round %d: subscribe: %v", i, tok.Error())
		}
		payload := fmt.Sprint("round ", i)
		publishNoRetain(t, pub, "t/quick", payload)
		if s := await(t, got, "round %d: the new session lost its subscription", i); s != payload {
			t.Fatalf("round %d: got %q", i, s)
		}
		c.Disconnect(0)
	}
}

func publishNoRetain(t *testing.T, c paho.Client, topic, payload string) {
	t.Helper()
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(testWait) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// Close must end even when mochi has lost track of a connection.
func TestCloseCutsForgottenConnections(t *testing.T) {
	b, err := Start(context.Background(), Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	mustConnect(t, clientOpts{url: b.URL(), id: "forgotten"})
	b.server.Clients.Delete("forgotten")
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	if err := await(t, closed, "Close hangs on a connection mochi forgot"); err != nil {
		t.Errorf("close: %v", err)
	}
}

// Wildcard subscriptions while devices publish retained reports: run under
// -race, this finds mochi's unguarded read of the retained index.
func TestRetainedWritesDuringWildcardSubscribes(t *testing.T) {
	b := startBroker(t, Config{})
	const writers, rounds = 4, 50
	done := make(chan struct{})
	for w := range writers {
		c := mustConnect(t, clientOpts{url: b.URL(), id: fmt.Sprint("dev-", w)})
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range rounds {
				payload := fmt.Sprint(i)
				if i%5 == 4 {
					payload = "" // clearing writes the index too
				}
				tok := c.Publish(fmt.Sprintf("devices/dev-%d/.u/c/p%d", w, i%3), 1, true, payload)
				if !tok.WaitTimeout(testWait) || tok.Error() != nil {
					t.Errorf("publish: %v", tok.Error())
					return
				}
			}
		}()
	}
	reader := mustConnect(t, clientOpts{url: b.URL(), id: "watcher"})
	for range rounds {
		// QoS 0: mochi checks a SUBSCRIBE's packet id against the ids of
		// its own QoS 1 deliveries still unacknowledged.
		tok := reader.Subscribe("devices/+/.u/c/+", 0, nil)
		if !tok.WaitTimeout(testWait) || tok.Error() != nil {
			t.Fatalf("subscribe: %v", tok.Error())
		}
		if code := tok.(*paho.SubscribeToken).Result()["devices/+/.u/c/+"]; code != 0 {
			t.Fatalf("subscribe granted %#x", code)
		}
		if tok := reader.Unsubscribe("devices/+/.u/c/+"); !tok.WaitTimeout(testWait) {
			t.Fatal("unsubscribe timed out")
		}
	}
	for range writers {
		<-done
	}
}

// What a restart keeps is exactly what was retained: cleared topics stay
// cleared, and of many concurrent publishes to one topic the last one
// acknowledged is kept.
func TestStoreKeepsExactlyWhatIsRetained(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, Config{DataDir: dir})
	ctx := context.Background()
	c, err := upload.Connect(ctx, upload.Options{Broker: b.URL()})
	if err != nil {
		t.Fatal(err)
	}
	const devices = 50
	errs := make(chan error, devices)
	for i := range devices {
		go func() {
			errs <- c.PublishRetained(ctx, fmt.Sprintf("devices/d%d/.u/c/main", i), []byte(fmt.Sprint("report ", i)))
		}()
	}
	for range devices {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		if err := c.PublishRetained(ctx, ".u/desired", []byte(fmt.Sprint("manifest ", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Clear(ctx, "devices/d7/.u/c/main"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b2 := startBroker(t, Config{DataDir: dir})
	c2, err := upload.Connect(ctx, upload.Options{Broker: b2.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	got := map[string]string{}
	if err := c2.ReadRetainedAll(ctx, "#", func(topic string, payload []byte) { got[topic] = string(payload) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != devices {
		t.Errorf("%d retained topics after restart, want %d (49 reports and the manifest): %v", len(got), devices, got)
	}
	if _, ok := got["devices/d7/.u/c/main"]; ok {
		t.Error("a cleared report came back after the restart")
	}
	if got["devices/d49/.u/c/main"] != "report 49" || got[".u/desired"] != "manifest 19" {
		t.Errorf("after restart: d49 %q, desired %q", got["devices/d49/.u/c/main"], got[".u/desired"])
	}
}

func TestBusyPortHasHint(t *testing.T) {
	b := startBroker(t, Config{})
	_, err := Start(context.Background(), Config{Listen: b.Addr()})
	var h interface{ Hint() string }
	if err == nil || !errors.As(err, &h) || !strings.Contains(h.Hint(), "--listen") {
		t.Fatalf("second broker on %s: err = %v, want a hint naming --listen", b.Addr(), err)
	}
}

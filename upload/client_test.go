package upload_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otactl/otactl/broker"
	"github.com/otactl/otactl/internal/mosquitto"
	"github.com/otactl/otactl/internal/tcpproxy"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/internal/testpki"
	"github.com/otactl/otactl/release"
	. "github.com/otactl/otactl/upload"
)

func connect(t *testing.T, o Options) *Client {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 20 * time.Second
	}
	c, err := Connect(context.Background(), o)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sameMessages fails the test unless the retained messages of a read,
// topic to payload, are want.
func sameMessages(t *testing.T, round int, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("round %d: %d messages, want %d", round, len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("round %d: %s = %d bytes %.40q, want %d bytes %.40q", round, k, len(got[k]), got[k], len(v), v)
		}
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPublishReadClear(t *testing.T) {
	testbroker.Each(t, func(t *testing.T, b *testbroker.Broker) {
		ctx := context.Background()
		c := connect(t, Options{Broker: b.URL, TopicPrefix: "t1/"})
		topic, _ := c.Topics().Component("main", "1.0.0")

		if _, found, err := c.ReadRetained(ctx, topic); err != nil || found {
			t.Fatalf("ReadRetained before publishing = %v, %v", found, err)
		}
		payload := randomBytes(t, 100_000)
		if err := c.PublishVerified(ctx, topic, payload); err != nil {
			t.Fatal(err)
		}
		// A second client sees it too.
		c2 := connect(t, Options{Broker: b.URL})
		got, found, err := c2.ReadRetained(ctx, topic)
		if err != nil || !found || !bytes.Equal(got, payload) {
			t.Fatalf("ReadRetained = %d bytes, %v, %v", len(got), found, err)
		}
		if err := c.Clear(ctx, topic); err != nil {
			t.Fatal(err)
		}
		if _, found, err := c2.ReadRetained(ctx, topic); err != nil || found {
			t.Fatalf("ReadRetained after Clear = %v, %v", found, err)
		}
		if err := c.PublishRetained(ctx, "a/+/b", payload); err == nil {
			t.Error("publish to a wildcard topic accepted")
		}
		if err := c.PublishRetained(ctx, topic, nil); err == nil {
			t.Error("empty publish accepted")
		}
	})
}

// TestReadRetainedAllGetsEverything checks the end-of-retained probe: every
// retained message under the filter has arrived when the read returns, on
// each broker, several times over.
func TestReadRetainedAllGetsEverything(t *testing.T) {
	testbroker.Each(t, func(t *testing.T, b *testbroker.Broker) {
		ctx := context.Background()
		pub := connect(t, Options{Broker: b.URL, TopicPrefix: "all/"})
		tp := pub.Topics()
		const n = 300
		want := make(map[string]string)
		for i := 0; i < n; i++ {
			topic, _ := tp.Report(fmt.Sprintf("dev-%03d", i), "main")
			payload := fmt.Sprintf(`{"s":0,"r":0,"v":"1.0.%d"}`, i)
			if err := pub.PublishRetained(ctx, topic, []byte(payload)); err != nil {
				t.Fatal(err)
			}
			want[topic] = payload
		}
		// An unrelated retained message must not show up.
		other, _ := tp.Device("dev-000")
		if err := pub.PublishRetained(ctx, other, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		// The large message sits in the middle of the stream.
		big, _ := tp.Report("dev-big", "main")
		bigPayload := randomBytes(t, 4<<20)
		if err := pub.PublishRetained(ctx, big, bigPayload); err != nil {
			t.Fatal(err)
		}
		want[big] = string(bigPayload)

		reader := connect(t, Options{Broker: b.URL, TopicPrefix: "all/"})
		for round := 0; round < 3; round++ {
			got := make(map[string]string)
			err := reader.ReadRetainedAll(ctx, tp.ReportsFilter(), func(topic string, payload []byte) {
				got[topic] = string(payload)
			})
			if err != nil {
				t.Fatal(err)
			}
			sameMessages(t, round, got, want)
		}
		if ProbeFailed(reader) {
			t.Error("the probe did not come back: reads fell back to quiet periods")
		}
	})
}

func TestLargePayload(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB round trips")
	}
	testbroker.Each(t, func(t *testing.T, b *testbroker.Broker) {
		ctx := context.Background()
		c := connect(t, Options{Broker: b.URL})
		topic, _ := c.Topics().Component("big", "1.0.0")
		payload := randomBytes(t, 64<<20+17)
		keep := bytes.Clone(payload)
		if err := c.PublishVerified(ctx, topic, payload); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(payload, keep) {
			t.Fatal("the payload changed during the publish")
		}
		if err := c.Clear(ctx, topic); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSubscribeLiveAndAfterReconnect(t *testing.T) {
	testbroker.Each(t, func(t *testing.T, b *testbroker.Broker) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		pub := connect(t, Options{Broker: b.URL, TopicPrefix: "live/"})
		tp := pub.Topics()
		first, _ := tp.Report("dev-1", "main")
		if err := pub.PublishRetained(ctx, first, []byte("retained")); err != nil {
			t.Fatal(err)
		}

		proxy := tcpproxy.Start(t, b.Addr)
		sub := connect(t, Options{Broker: proxy.URL(), TopicPrefix: "live/"})
		out := make(chan Message, 1)
		if err := sub.Subscribe(ctx, []string{tp.ReportsFilter()}, out); err != nil {
			t.Fatal(err)
		}
		m := <-out
		if m.Topic != first || string(m.Payload) != "retained" || !m.Retained {
			t.Fatalf("first message = %+v", m)
		}
		second, _ := tp.Report("dev-2", "main")
		if err := pub.PublishRetained(ctx, second, []byte("live")); err != nil {
			t.Fatal(err)
		}
		// mochi acknowledges a publish before it forwards it, so the
		// first message may also arrive live, once, after its
		// retained copy.
		m = <-out
		if m.Topic == first && !m.Retained {
			m = <-out
		}
		if m.Topic != second || string(m.Payload) != "live" || m.Retained {
			t.Fatalf("live message = %+v", m)
		}

		// Cut the connection: the client reconnects and renews the
		// subscription, which delivers the retained messages again;
		// a message published after that arrives live.
		proxy.CutAll()
		seen := map[string]bool{}
		for len(seen) < 2 {
			m := <-out
			if m.Retained {
				seen[m.Topic] = true
			}
		}
		third, _ := tp.Report("dev-3", "main")
		if err := pub.PublishRetained(ctx, third, []byte("after")); err != nil {
			t.Fatal(err)
		}
		for m := range out {
			if m.Topic == third {
				if string(m.Payload) != "after" {
					t.Fatalf("after reconnect: %+v", m)
				}
				break
			}
		}
		cancel()
		for range out {
			// drained until the forwarder closes out
		}
	})
}

func TestConnectErrors(t *testing.T) {
	ctx := context.Background()
	// Nothing listens on a port just freed.
	proxy := tcpproxy.Start(t, "127.0.0.1:1")
	addr := proxy.Addr()
	proxy.Close()
	_, err := Connect(ctx, Options{Broker: "mqtt://" + addr, Timeout: 10 * time.Second})
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.Reason != "connection refused" || ce.Hint() == "" || ce.BadCredentials() {
		t.Fatalf("refused: %v", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is more than one line: %q", err)
	}

	for _, bad := range []Options{
		{Broker: "http://h"},
		{Broker: "mqtt://h", ClientID: "a/#"},
		{Broker: "mqtt://h", TopicPrefix: "a/+/"},
		{Broker: "mqtt://h", CAFile: "ca.pem"},
		{Broker: "mqtts://h", CertFile: "c.pem"},
	} {
		if _, err := Connect(ctx, bad); err == nil {
			t.Errorf("Connect(%+v) accepted", bad)
		}
	}
}

func TestMosquittoMessageSizeLimit(t *testing.T) {
	m := mosquitto.Start(t, mosquitto.Config{MessageSizeLimit: 1000})
	ctx := context.Background()
	c := connect(t, Options{Broker: m.URL()})
	topic, _ := c.Topics().Component("main", "1.0.0")
	err := c.PublishVerified(ctx, topic, randomBytes(t, 5000))
	var ve *VerifyError
	if !errors.As(err, &ve) || !ve.Missing || !errors.Is(err, release.ErrVerification) {
		t.Fatalf("PublishVerified over the limit = %v", err)
	}
	if !strings.Contains(ve.Hint(), "message_size_limit") {
		t.Errorf("hint = %q", ve.Hint())
	}
	// Below the limit it works.
	if err := c.PublishVerified(ctx, topic, randomBytes(t, 500)); err != nil {
		t.Fatal(err)
	}
}

func TestMosquittoPassword(t *testing.T) {
	m := mosquitto.Start(t, mosquitto.Config{Users: map[string]string{"ci": "s3cret"}})
	ctx := context.Background()
	_, err := Connect(ctx, Options{Broker: m.URL(), Username: "ci", Password: "wrong", Timeout: 10 * time.Second})
	var ce *ConnectError
	// mosquitto answers "not authorised" to a wrong password.
	if !errors.As(err, &ce) || !strings.Contains(ce.Reason, "bad username or password") || !strings.Contains(ce.Hint(), "OTACTL_PASSWORD") || !ce.BadCredentials() {
		t.Fatalf("wrong password: %v", err)
	}
	if strings.Contains(err.Error(), "wrong") || strings.Contains(ce.Hint(), "wrong") {
		t.Error("the error shows the password")
	}
	_, err = Connect(ctx, Options{Broker: m.URL(), Timeout: 10 * time.Second})
	if !errors.As(err, &ce) || !strings.HasPrefix(ce.Reason, "not authorised") || !ce.BadCredentials() {
		t.Fatalf("anonymous: %v", err)
	}
	connect(t, Options{Broker: m.URL(), Username: "ci", Password: "s3cret"})
}

func TestMosquittoTLS(t *testing.T) {
	pki := testpki.New(t)
	m := mosquitto.Start(t, mosquitto.Config{CertFile: pki.ServerCert, KeyFile: pki.ServerKey})
	ctx := context.Background()

	_, err := Connect(ctx, Options{Broker: m.TLSURL(), Timeout: 10 * time.Second})
	var ce *ConnectError
	if !errors.As(err, &ce) || !strings.Contains(ce.Reason, "unknown authority") || !strings.Contains(ce.Hint(), "--ca-file") {
		t.Fatalf("unknown CA: %v", err)
	}
	c := connect(t, Options{Broker: m.TLSURL(), CAFile: pki.CAFile})
	topic, _ := c.Topics().Component("main", "1.0.0")
	if err := c.PublishVerified(ctx, topic, randomBytes(t, 3000)); err != nil {
		t.Fatal(err)
	}
	// "localhost" is in the certificate too.
	port := m.TLSURL()[strings.LastIndex(m.TLSURL(), ":")+1:]
	connect(t, Options{Broker: "mqtts://localhost:" + port, CAFile: pki.CAFile})
	// A certificate for another name is refused.
	cert, key := pki.IssueServerFor(t, "broker.example")
	other := mosquitto.Start(t, mosquitto.Config{CertFile: cert, KeyFile: key})
	_, err = Connect(ctx, Options{Broker: other.TLSURL(), CAFile: pki.CAFile, Timeout: 10 * time.Second})
	if !errors.As(err, &ce) || !strings.Contains(ce.Reason, "not valid for 127.0.0.1") {
		t.Errorf("wrong host name: %v", err)
	}
	// Plain MQTT to the TLS port and TLS to the plain port fail clearly.
	_, err = Connect(ctx, Options{Broker: "mqtt://127.0.0.1:" + port, Timeout: 10 * time.Second})
	if !errors.As(err, &ce) {
		t.Errorf("plain to TLS port: %v", err)
	}
	_, err = Connect(ctx, Options{Broker: "mqtts://" + m.Addr(), CAFile: pki.CAFile, Timeout: 10 * time.Second})
	if !errors.As(err, &ce) || !strings.Contains(ce.Reason, "TLS") {
		t.Errorf("TLS to plain port: %v", err)
	}
}

func TestMosquittoMutualTLS(t *testing.T) {
	pki := testpki.New(t)
	m := mosquitto.Start(t, mosquitto.Config{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CAFile: pki.CAFile, RequireClientCert: true})
	ctx := context.Background()
	_, err := Connect(ctx, Options{Broker: m.TLSURL(), CAFile: pki.CAFile, Timeout: 10 * time.Second})
	var ce *ConnectError
	if !errors.As(err, &ce) || !strings.Contains(ce.Hint(), "--cert-file") {
		t.Fatalf("no client certificate: %v", err)
	}
	// A certificate from another CA is refused too.
	other := testpki.New(t)
	_, err = Connect(ctx, Options{Broker: m.TLSURL(), CAFile: pki.CAFile, CertFile: other.ClientCert, KeyFile: other.ClientKey, Timeout: 10 * time.Second})
	if !errors.As(err, &ce) {
		t.Fatalf("foreign client certificate: %v", err)
	}
	c := connect(t, Options{Broker: m.TLSURL(), CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey})
	topic, _ := c.Topics().Component("main", "1.0.0")
	if err := c.PublishVerified(ctx, topic, randomBytes(t, 3000)); err != nil {
		t.Fatal(err)
	}
}

func TestMosquittoWebsockets(t *testing.T) {
	m := mosquitto.Start(t, mosquitto.Config{Websockets: true})
	ctx := context.Background()
	c := connect(t, Options{Broker: m.WSURL()})
	topic, _ := c.Topics().Component("main", "1.0.0")
	// mosquitto 2.0.11 sends over websockets at about 40 KB/s: keep the
	// read-back small.
	payload := randomBytes(t, 50_000)
	if err := c.PublishVerified(ctx, topic, payload); err != nil {
		t.Fatal(err)
	}
	// The same message over plain MQTT.
	c2 := connect(t, Options{Broker: m.URL()})
	got, found, err := c2.ReadRetained(ctx, topic)
	if err != nil || !found || !bytes.Equal(got, payload) {
		t.Fatalf("read over mqtt: %d bytes %v %v", len(got), found, err)
	}
}

// TestMosquittoProbeRefused: a user whose access rules deny the probe
// topic still reads everything, through quiet periods.
func TestMosquittoProbeRefused(t *testing.T) {
	dir := t.TempDir()
	acl := dir + "/acl"
	writeFile(t, acl, "user ops\ntopic readwrite .u/c/#\ntopic readwrite devices/#\n")
	m := mosquitto.Start(t, mosquitto.Config{
		Users: map[string]string{"ops": "pw"},
		Extra: "acl_file " + acl + "\n",
	})
	ctx := context.Background()
	var warnings []string
	var mu sync.Mutex
	c := connect(t, Options{Broker: m.URL(), Username: "ops", Password: "pw", Timeout: 3 * time.Second, QuietPeriod: 300 * time.Millisecond,
		Warn: func(msg string) { mu.Lock(); warnings = append(warnings, msg); mu.Unlock() }})
	tp := c.Topics()
	for i := 0; i < 20; i++ {
		topic, _ := tp.Report(fmt.Sprintf("d%d", i), "main")
		if err := c.PublishRetained(ctx, topic, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	if err := c.ReadRetainedAll(ctx, tp.ReportsFilter(), func(string, []byte) { n++ }); err != nil {
		t.Fatal(err)
	}
	if n != 20 {
		t.Fatalf("read %d messages, want 20", n)
	}
	// Again, now straight through the quiet period.
	n = 0
	if err := c.ReadRetainedAll(ctx, tp.ReportsFilter(), func(string, []byte) { n++ }); err != nil {
		t.Fatal(err)
	}
	if n != 20 {
		t.Fatalf("second read: %d messages, want 20", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(warnings) != 1 || !strings.Contains(warnings[0], ".u/otactl/probe/#") {
		t.Errorf("warnings = %q, want one about the probe", warnings)
	}
}

// TestPublishOverCutConnection: a connection cut in the middle of a large
// publish fails the publish (or completes it after reconnecting); either
// way a verified read tells the truth.
func TestPublishOverCutConnection(t *testing.T) {
	ctx := context.Background()
	b := testbroker.Embedded(t, broker.Config{})
	proxy := tcpproxy.Start(t, b.Addr)
	c := connect(t, Options{Broker: proxy.URL(), Timeout: 5 * time.Second})
	topic, _ := c.Topics().Component("main", "2.0.0")
	payload := randomBytes(t, 8<<20)
	cut := proxy.CutAfter(1<<20, false)
	err := c.PublishVerified(ctx, topic, payload)
	<-cut
	// Whatever happened, a fresh client sees either nothing or the exact
	// bytes, never a part.
	c2 := connect(t, Options{Broker: b.URL})
	got, found, rerr := c2.ReadRetained(ctx, topic)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if err == nil && (!found || !bytes.Equal(got, payload)) {
		t.Fatalf("publish reported success but the broker retains %d bytes", len(got))
	}
	if found && !bytes.Equal(got, payload) {
		t.Fatalf("the broker retains a part: %d bytes", len(got))
	}
	t.Logf("publish over a cut connection: err=%v, retained=%v", err, found)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestProgress(t *testing.T) {
	ctx := context.Background()
	b := testbroker.Embedded(t, broker.Config{})
	var mu sync.Mutex
	var calls []int64
	c := connect(t, Options{Broker: b.URL, Progress: func(topic string, sent, total int64) {
		mu.Lock()
		defer mu.Unlock()
		if topic == ".u/c/main@1.0.0" && total == 3<<20 {
			calls = append(calls, sent)
		}
	}})
	topic, _ := c.Topics().Component("main", "1.0.0")
	if err := c.PublishVerified(ctx, topic, randomBytes(t, 3<<20)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) < 4 || calls[len(calls)-1] != 3<<20 {
		t.Fatalf("progress calls: %v", calls)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i] < calls[i-1] {
			t.Fatalf("progress went back: %v", calls)
		}
	}
}

func TestEmbeddedTLSAndWebsockets(t *testing.T) {
	pki := testpki.New(t)
	ctx := context.Background()
	b := testbroker.Embedded(t, broker.Config{WS: "127.0.0.1:0", TLS: pki.ServerTLS(t, true)})
	tlsURL := "mqtts://" + b.Addr
	wssURL := "wss://" + b.Embedded.WSAddr()
	var ce *ConnectError
	if _, err := Connect(ctx, Options{Broker: tlsURL, CAFile: pki.CAFile, Timeout: 10 * time.Second}); !errors.As(err, &ce) {
		t.Fatalf("without a client certificate: %v", err)
	}
	payload := randomBytes(t, 1<<20)
	for _, u := range []string{tlsURL, wssURL} {
		c := connect(t, Options{Broker: u, CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey})
		topic, _ := c.Topics().Component("main", "1.0.0")
		if err := c.PublishVerified(ctx, topic, payload); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
	}
}

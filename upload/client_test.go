package upload_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/otactl/otactl/broker"
	"github.com/otactl/otactl/internal/loopback"
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
		// ReadRetainedBulk (a streaming connection of its own) reads the
		// same; the payloads it hands over stay valid after the call.
		for round := 0; round < 4; round++ {
			kept := make(map[string][]byte)
			keep := func(topic string, payload []byte) { kept[topic] = payload }
			var err error
			if round < 2 {
				err = reader.ReadRetainedAll(ctx, tp.ReportsFilter(), keep)
			} else {
				err = reader.ReadRetainedBulk(ctx, []string{tp.ReportsFilter()}, keep)
			}
			if err != nil {
				t.Fatal(err)
			}
			got := make(map[string]string)
			for topic, p := range kept {
				got[topic] = string(p)
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

// PutFile: artifacts go to the broker over the streaming connection, or
// through paho where that cannot be used.

// put is PutFile of payload from memory.
func put(c *Client, topic string, payload []byte, mod func(*PutRequest)) (PutResult, error) {
	req := PutRequest{Topic: topic, File: bytes.NewReader(payload), Size: int64(len(payload))}
	if mod != nil {
		mod(&req)
	}
	return c.PutFile(context.Background(), req)
}

// retained is what a fresh paho client reads on topic.
func retained(t *testing.T, url, topic string) ([]byte, bool) {
	t.Helper()
	c := connect(t, Options{Broker: url})
	got, found, err := c.ReadRetained(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	return got, found
}

// progressLog records a Progress callback's calls for one topic.
type progressLog struct {
	mu    sync.Mutex
	sent  []int64
	total int64
}

func (p *progressLog) fn(topic string, sent, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent, p.total = append(p.sent, sent), total
}

func (p *progressLog) check(t *testing.T, total int64) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.sent) < 2 || p.total != total || p.sent[len(p.sent)-1] != total {
		t.Fatalf("progress: %d calls, last %v of %d, want %d", len(p.sent), p.sent[max(0, len(p.sent)-1):], p.total, total)
	}
	for i := 1; i < len(p.sent); i++ {
		if p.sent[i] < p.sent[i-1] {
			t.Fatalf("progress went back: %v", p.sent)
		}
	}
	p.sent = nil
}

// TestPutFileStreams: an artifact over the threshold is uploaded, found
// present without sending it again, refused or replaced when different,
// and read back, through a streaming connection, on both brokers.
func TestPutFileStreams(t *testing.T) {
	testbroker.Each(t, func(t *testing.T, b *testbroker.Broker) {
		ctx := context.Background()
		proxy := tcpproxy.Start(t, b.Addr)
		var prog progressLog
		c := connect(t, Options{Broker: proxy.URL(), Progress: prog.fn})
		topic, _ := c.Topics().Component("main", "1.0.0")
		payload := randomBytes(t, 3<<20+5)
		sum := sha256.Sum256(payload)

		before := proxy.Upstream()
		res, err := put(c, topic, payload, nil)
		if err != nil || res.Action != ActionUploaded || res.SHA256 != sum {
			t.Fatalf("first put: %+v, %v", res, err)
		}
		if sent := proxy.Upstream() - before; sent < int64(len(payload)) || sent > int64(len(payload))+64<<10 {
			t.Errorf("first put sent %d bytes for %d", sent, len(payload))
		}
		prog.check(t, int64(len(payload)))
		if got, _ := retained(t, b.URL, topic); !bytes.Equal(got, payload) {
			t.Fatalf("the broker retains %d bytes, not the payload", len(got))
		}

		// Present: nothing sent again, with and without a known hash.
		for _, want := range []*[32]byte{nil, &sum} {
			before = proxy.Upstream()
			res, err = put(c, topic, payload, func(r *PutRequest) { r.SHA256 = want })
			if err != nil || res.Action != ActionPresent || res.SHA256 != sum {
				t.Fatalf("second put: %+v, %v", res, err)
			}
			if sent := proxy.Upstream() - before; sent > 64<<10 {
				t.Errorf("a present artifact cost %d bytes upstream", sent)
			}
		}

		// Different bytes, the same size or not: refused.
		other := randomBytes(t, len(payload))
		for _, o := range [][]byte{other, other[:2<<20]} {
			_, err = put(c, topic, o, nil)
			var ce *ConflictError
			if !errors.As(err, &ce) || ce.Size != int64(len(payload)) || ce.SHA256 != sum || !errors.Is(err, release.ErrVerification) {
				t.Fatalf("different bytes: %v", err)
			}
		}
		res, err = put(c, topic, other, func(r *PutRequest) { r.Force, r.DryRun = true, true })
		if err != nil || res.Action != ActionWouldReplace || res.SHA256 != sha256.Sum256(other) {
			t.Fatalf("dry run: %+v, %v", res, err)
		}
		if got, _ := retained(t, b.URL, topic); !bytes.Equal(got, payload) {
			t.Fatal("a dry run changed what is retained")
		}
		res, err = put(c, topic, other, func(r *PutRequest) { r.Force = true })
		if err != nil || res.Action != ActionReplaced {
			t.Fatalf("forced: %+v, %v", res, err)
		}
		if got, _ := retained(t, b.URL, topic); !bytes.Equal(got, other) {
			t.Fatal("after --force the broker does not retain the new bytes")
		}

		// Reading back and verifying, streamed.
		var w bytes.Buffer
		n, got, found, err := c.CopyRetained(ctx, topic, &w)
		if err != nil || !found || n != int64(len(other)) || got != sha256.Sum256(other) || !bytes.Equal(w.Bytes(), other) {
			t.Fatalf("CopyRetained: %d %v %v", n, found, err)
		}
		missing, _ := c.Topics().Component("main", "9.9.9")
		if n, _, found, err := c.CopyRetained(ctx, missing, &w); err != nil || found || n != 0 {
			t.Fatalf("CopyRetained of nothing: %d %v %v", n, found, err)
		}
		if err := c.VerifyRetained(ctx, topic, len(other), sha256.Sum256(other)); err != nil {
			t.Fatal(err)
		}
		err = c.VerifyRetained(ctx, topic, len(payload), sum)
		var ve *VerifyError
		if !errors.As(err, &ve) || ve.Missing || ve.GotSize != len(other) || ve.GotHash == ve.WantHash {
			t.Fatalf("VerifyRetained of other bytes: %v", err)
		}
		if err := c.VerifyRetained(ctx, missing, len(payload), sum); !errors.As(err, &ve) || !ve.Missing {
			t.Fatalf("VerifyRetained of nothing: %v", err)
		}
	})
}

// TestPutFileNeverPublishesChangedBytes: bytes that do not hash to what
// the caller expects, or a file shorter than said, are never completed, so
// nothing of them is retained, and what was retained before stays.
func TestPutFileNeverPublishesChangedBytes(t *testing.T) {
	defer SetStreamThreshold(64 << 10)()
	testbroker.Each(t, func(t *testing.T, b *testbroker.Broker) {
		c := connect(t, Options{Broker: b.URL})
		for _, size := range []int{100 << 10, 40 << 10, 700 << 10} { // streamed, through paho, streamed in chunks
			topic, _ := c.Topics().Component("main", fmt.Sprintf("2.0.%d", size))
			payload := randomBytes(t, size)
			claimed := sha256.Sum256(randomBytes(t, size))
			_, err := put(c, topic, payload, func(r *PutRequest) { r.SHA256 = &claimed })
			if !errors.Is(err, ErrArtifactChanged) || !errors.Is(err, release.ErrVerification) {
				t.Fatalf("%d bytes that do not match: %v", size, err)
			}
			if _, found := retained(t, b.URL, topic); found {
				t.Fatalf("%d bytes that do not match were published", size)
			}
			_, err = put(c, topic, payload, func(r *PutRequest) { r.Size++ })
			if !errors.Is(err, ErrArtifactChanged) {
				t.Fatalf("a file shorter than said: %v", err)
			}
			if _, found := retained(t, b.URL, topic); found {
				t.Fatal("a file shorter than said was published")
			}
			// What was there before stays when a replacement fails.
			if _, err := put(c, topic, payload, nil); err != nil {
				t.Fatal(err)
			}
			_, err = put(c, topic, randomBytes(t, size), func(r *PutRequest) { r.Force, r.SHA256 = true, &claimed })
			if !errors.Is(err, ErrArtifactChanged) {
				t.Fatalf("replacement that does not match: %v", err)
			}
			if got, _ := retained(t, b.URL, topic); !bytes.Equal(got, payload) {
				t.Fatal("a failed replacement changed what is retained")
			}
		}
	})
}

func TestStreamMessageSizeLimit(t *testing.T) {
	m := mosquitto.Start(t, mosquitto.Config{MessageSizeLimit: 1 << 20})
	c := connect(t, Options{Broker: m.URL()})
	topic, _ := c.Topics().Component("main", "1.0.0")
	_, err := put(c, topic, randomBytes(t, 2<<20), nil)
	var ve *VerifyError
	if !errors.As(err, &ve) || !ve.Missing || !errors.Is(err, release.ErrVerification) || !strings.Contains(ve.Hint(), "message_size_limit") {
		t.Fatalf("over the limit: %v", err)
	}
	if _, found := retained(t, m.URL(), topic); found {
		t.Fatal("retained over the limit")
	}
	// Just under the limit it goes through (the limit counts the payload).
	if _, err := put(c, topic, randomBytes(t, 1<<20), nil); err != nil {
		t.Fatal(err)
	}
}

// TestStreamCutConnection: a connection cut in the middle of a streamed
// publish fails it, leaves nothing retained, and a rerun completes.
func TestStreamCutConnection(t *testing.T) {
	testbroker.Each(t, func(t *testing.T, b *testbroker.Broker) {
		proxy := tcpproxy.Start(t, b.Addr)
		c := connect(t, Options{Broker: proxy.URL(), Timeout: 5 * time.Second})
		topic, _ := c.Topics().Component("main", "3.0.0")
		payload := randomBytes(t, 8<<20)
		cut := proxy.CutAfter(2<<20, false)
		_, err := put(c, topic, payload, nil)
		<-cut
		var de *DroppedError
		// Sent may reach Total: the kernel's socket buffers can take the
		// rest of the 8 MiB before the reset arrives; what matters is that
		// no acknowledgement came and nothing is retained.
		if !errors.As(err, &de) || de.Total != int64(len(payload)) || de.Sent > de.Total || !strings.Contains(de.Hint(), "never retained") {
			t.Fatalf("cut publish: %v", err)
		}
		if _, found := retained(t, b.URL, topic); found {
			t.Fatal("a cut publish left a retained message")
		}
		c2 := connect(t, Options{Broker: proxy.URL()})
		if res, err := put(c2, topic, payload, nil); err != nil || res.Action != ActionUploaded {
			t.Fatalf("rerun: %+v, %v", res, err)
		}
		if got, _ := retained(t, b.URL, topic); !bytes.Equal(got, payload) {
			t.Fatal("the rerun's bytes are not retained")
		}
	})
}

// TestStreamContextCancel: a publish whose context ends half way stops
// and leaves nothing retained.
func TestStreamContextCancel(t *testing.T) {
	testbroker.Each(t, func(t *testing.T, b *testbroker.Broker) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c := connect(t, Options{Broker: b.URL, Progress: func(_ string, sent, _ int64) {
			if sent >= 1<<20 {
				cancel()
			}
		}})
		topic, _ := c.Topics().Component("main", "4.0.0")
		payload := randomBytes(t, 8<<20)
		_, err := c.PutFile(ctx, PutRequest{Topic: topic, File: bytes.NewReader(payload), Size: int64(len(payload))})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled publish: %v", err)
		}
		if _, found := retained(t, b.URL, topic); found {
			t.Fatal("a cancelled publish left a retained message")
		}
	})
}

func TestStreamTLS(t *testing.T) {
	pki := testpki.New(t)
	ctx := context.Background()
	embedded := testbroker.Embedded(t, broker.Config{TLS: pki.ServerTLS(t, true)})
	mosq := mosquitto.Start(t, mosquitto.Config{CertFile: pki.ServerCert, KeyFile: pki.ServerKey})
	mtls := mosquitto.Start(t, mosquitto.Config{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CAFile: pki.CAFile, RequireClientCert: true})
	payload := randomBytes(t, 2<<20+1)
	for _, o := range []Options{
		{Broker: "mqtts://" + embedded.Addr, CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey},
		{Broker: mosq.TLSURL(), CAFile: pki.CAFile},
		{Broker: mtls.TLSURL(), CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey},
	} {
		c := connect(t, o)
		topic, _ := c.Topics().Component("main", "1.0.0")
		if res, err := put(c, topic, payload, nil); err != nil || res.Action != ActionUploaded {
			t.Fatalf("%s: %+v, %v", o.Broker, res, err)
		}
		if res, err := put(c, topic, payload, nil); err != nil || res.Action != ActionPresent {
			t.Fatalf("%s again: %+v, %v", o.Broker, res, err)
		}
		var w bytes.Buffer
		if _, _, found, err := c.CopyRetained(ctx, topic, &w); err != nil || !found || !bytes.Equal(w.Bytes(), payload) {
			t.Fatalf("%s: read back %d bytes, %v", o.Broker, w.Len(), err)
		}
	}
}

// TestPutFileOverWebsockets: websockets go through the paho connection.
func TestPutFileOverWebsockets(t *testing.T) {
	ctx := context.Background()
	b := testbroker.Embedded(t, broker.Config{WS: "127.0.0.1:0"})
	c := connect(t, Options{Broker: "ws://" + b.Embedded.WSAddr()})
	topic, _ := c.Topics().Component("main", "1.0.0")
	payload := randomBytes(t, 2<<20)
	if res, err := put(c, topic, payload, nil); err != nil || res.Action != ActionUploaded {
		t.Fatalf("%+v, %v", res, err)
	}
	if res, err := put(c, topic, payload, nil); err != nil || res.Action != ActionPresent {
		t.Fatalf("again: %+v, %v", res, err)
	}
	var w bytes.Buffer
	if _, _, found, err := c.CopyRetained(ctx, topic, &w); err != nil || !found || !bytes.Equal(w.Bytes(), payload) {
		t.Fatalf("read back %d bytes, %v", w.Len(), err)
	}
}

// oneConnProxy forwards the first connection to target and refuses every
// later one: with CONNACK return code rc, or by hanging up when rc is 0.
func oneConnProxy(t *testing.T, target string, rc byte) string {
	t.Helper()
	return "mqtt://" + loopback.Serve(t, func(i int, conn net.Conn) {
		if i > 0 {
			defer conn.Close()
			if _, err := packets.ReadPacket(conn); err == nil && rc != 0 {
				_, _ = conn.Write([]byte{0x20, 2, 0, rc})
			}
			return
		}
		up, err := net.Dial("tcp", target)
		if err != nil {
			conn.Close()
			return
		}
		go func() { _, _ = io.Copy(up, conn); up.Close() }()
		_, _ = io.Copy(conn, up)
		conn.Close()
	})
}

// TestStreamRefusedFallsBack: a broker that refuses a second connection
// (one connection per user, client ids tied to users) gets the artifact
// through the paho connection instead, with a warning.
func TestStreamRefusedFallsBack(t *testing.T) {
	m := mosquitto.Start(t, mosquitto.Config{})
	for _, rc := range []byte{5, 2, 0} {
		t.Run(fmt.Sprint("rc", rc), func(t *testing.T) {
			var mu sync.Mutex
			var warnings []string
			c := connect(t, Options{Broker: oneConnProxy(t, m.Addr(), rc), Warn: func(s string) { mu.Lock(); warnings = append(warnings, s); mu.Unlock() }})
			topic, _ := c.Topics().Component("main", fmt.Sprintf("1.0.%d", rc))
			payload := randomBytes(t, 2<<20)
			for _, want := range []string{ActionUploaded, ActionPresent} {
				if res, err := put(c, topic, payload, nil); err != nil || res.Action != want {
					t.Fatalf("%+v, %v; want %s", res, err, want)
				}
			}
			if got, _ := retained(t, m.URL(), topic); !bytes.Equal(got, payload) {
				t.Fatal("the payload is not retained")
			}
			var w bytes.Buffer
			if _, _, found, err := c.CopyRetained(context.Background(), topic, &w); err != nil || !found || !bytes.Equal(w.Bytes(), payload) {
				t.Fatalf("CopyRetained %d bytes, %v", w.Len(), err)
			}
			if err := c.VerifyRetained(context.Background(), topic, len(payload), sha256.Sum256(payload)); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(warnings) != 4 || !strings.Contains(warnings[0], "refused a second connection") || !strings.Contains(warnings[0], StreamClientID(c)) {
				t.Errorf("warnings: %q", warnings)
			}
		})
	}
}

// TestStreamProbeRefused: a user whose access rules drop the probe still
// uploads and verifies through a streaming connection, on quiet periods.
func TestStreamProbeRefused(t *testing.T) {
	dir := t.TempDir()
	acl := dir + "/acl"
	writeFile(t, acl, "user ops\ntopic readwrite .u/c/#\n")
	m := mosquitto.Start(t, mosquitto.Config{Users: map[string]string{"ops": "pw"}, Extra: "acl_file " + acl + "\n"})
	var mu sync.Mutex
	var warnings []string
	c := connect(t, Options{Broker: m.URL(), Username: "ops", Password: "pw", Timeout: 3 * time.Second, QuietPeriod: 300 * time.Millisecond,
		Warn: func(s string) { mu.Lock(); warnings = append(warnings, s); mu.Unlock() }})
	topic, _ := c.Topics().Component("main", "1.0.0")
	payload := randomBytes(t, 2<<20)
	for _, want := range []string{ActionUploaded, ActionPresent} {
		if res, err := put(c, topic, payload, nil); err != nil || res.Action != want {
			t.Fatalf("%+v, %v; want %s", res, err, want)
		}
	}
	missing, _ := c.Topics().Component("main", "9.0.0")
	if err := c.VerifyRetained(context.Background(), missing, len(payload), sha256.Sum256(payload)); err == nil {
		t.Fatal("verified a topic that retains nothing")
	}
	if !ProbeFailed(c) {
		t.Error("the client does not know that probes are lost")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(warnings) != 1 || !strings.Contains(warnings[0], ".u/otactl/probe/#") {
		t.Errorf("warnings = %q, want one about the probe", warnings)
	}
}

// fakeBroker answers the paho connection properly and the streaming one
// (the second connection) with script, after its CONNACK.
func fakeBroker(t *testing.T, script func(conn net.Conn)) string {
	t.Helper()
	return "mqtt://" + loopback.Serve(t, func(i int, conn net.Conn) {
		if _, err := packets.ReadPacket(conn); err != nil { // CONNECT
			return
		}
		if _, err := conn.Write([]byte{0x20, 2, 0, 0}); err != nil {
			return
		}
		if i > 0 {
			script(conn)
			return
		}
		for { // the paho connection: keep it alive
			cp, err := packets.ReadPacket(conn)
			if err != nil {
				return
			}
			if _, ok := cp.(*packets.PingreqPacket); ok {
				_, _ = conn.Write([]byte{0xd0, 0})
			}
		}
	})
}

// TestStreamBrokerMisbehaves: bytes that are not MQTT, and a broker that
// goes silent, end in clear errors rather than a hang or a crash.
func TestStreamBrokerMisbehaves(t *testing.T) {
	payload := randomBytes(t, 2<<20)
	garbage := fakeBroker(t, func(conn net.Conn) {
		if _, err := packets.ReadPacket(conn); err == nil { // SUBSCRIBE
			_, _ = conn.Write([]byte{0x36, 0x00}) // a PUBLISH with QoS 3
		}
	})
	c := connect(t, Options{Broker: garbage, Timeout: 2 * time.Second})
	topic, _ := c.Topics().Component("main", "1.0.0")
	if _, err := put(c, topic, payload, nil); err == nil || !strings.Contains(err.Error(), "malformed") || !strings.Contains(err.Error(), "QoS 3") {
		t.Errorf("garbage: %v", err)
	}
	huge := fakeBroker(t, func(conn net.Conn) {
		if _, err := packets.ReadPacket(conn); err == nil {
			// A SUBACK claiming 2 MB.
			_, _ = conn.Write([]byte{0x90, 0x80, 0x80, 0x01, 0, 1})
		}
	})
	c = connect(t, Options{Broker: huge, Timeout: 2 * time.Second})
	if _, err := put(c, topic, payload, nil); err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Errorf("huge SUBACK: %v", err)
	}
	silent := fakeBroker(t, func(conn net.Conn) {
		_, _ = packets.ReadPacket(conn)
		time.Sleep(10 * time.Second) // never answers
	})
	c = connect(t, Options{Broker: silent, Timeout: time.Second})
	_, err := put(c, topic, payload, nil)
	var te *TimeoutError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "read "+topic) {
		t.Errorf("silent broker: %v", err)
	}
	refusing := fakeBroker(t, func(conn net.Conn) {}) // CONNACK 0 then closes
	c = connect(t, Options{Broker: refusing, Timeout: time.Second})
	if _, err := put(c, topic, payload, nil); err == nil {
		t.Error("a broker that hung up was not an error")
	}
}

// TestStreamMaxPacketSize: mosquitto's max_packet_size hangs up on a
// larger message; the publish fails with a hint, and nothing is retained.
func TestStreamMaxPacketSize(t *testing.T) {
	m := mosquitto.Start(t, mosquitto.Config{Extra: "max_packet_size 1048576\n"})
	c := connect(t, Options{Broker: m.URL()})
	topic, _ := c.Topics().Component("main", "1.0.0")
	_, err := put(c, topic, randomBytes(t, 4<<20), nil)
	var de *DroppedError
	if !errors.As(err, &de) || de.Total != 4<<20 || !strings.Contains(de.Hint(), "max_packet_size") {
		t.Fatalf("over max_packet_size: %v", err)
	}
	t.Log(err)
	if _, found := retained(t, m.URL(), topic); found {
		t.Fatal("retained over max_packet_size")
	}
}

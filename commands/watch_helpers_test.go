package commands

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/syncbuf"
	"github.com/otactl/otactl/internal/testbroker"

	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/report"
	"github.com/otactl/otactl/upload"
)

// watchTestSystem is a System with buffers for streams, no terminal and a
// fixed clock.
func watchTestSystem(now time.Time) (*System, *syncbuf.Buffer, *syncbuf.Buffer) {
	stdout, stderr := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	return &System{
		Stdin:  strings.NewReader(""),
		Stdout: stdout,
		Stderr: stderr,
		Now:    func() time.Time { return now },
		Getenv: func(string) string { return "" },
	}, stdout, stderr
}

// dialerFor is a dialer of the run functions for a test broker.
func dialerFor(url, prefix string) dialer {
	return func(ctx context.Context) (*upload.Client, error) {
		return upload.Connect(ctx, upload.Options{Broker: url, TopicPrefix: prefix, Timeout: 20 * time.Second})
	}
}

// publisher publishes retained on env under prefix, as devices and
// operators' tools do; each call returns once the broker has the message.
func publisher(t *testing.T, env *testbroker.Broker, prefix string) func(topic string, payload []byte) {
	return func(topic string, payload []byte) { env.Publish(t, prefix+topic, payload) }
}

// publishCohortFleet retains under prefix the fleet's manifest (seq, main
// at fleetV, JSON), cohort canary's (seq+1, main at canaryV, CBOR) and
// the main reports of c1, c2, f1 and f2, in that order: c1 and c2 are
// the cohort's devices, f1 and f2 the rest of the fleet, as far as each
// test's reports say so. It returns the publisher, for what a test sends
// next.
func publishCohortFleet(t *testing.T, env *testbroker.Broker, prefix string, seq int64, fleetV, canaryV string, c1, c2, f1, f2 []byte) func(topic string, payload []byte) {
	t.Helper()
	pub := publisher(t, env, prefix)
	pub(".u/desired", manifestPayload(t, seq, false, map[string]string{"main": fleetV}))
	pub("cohorts/canary/.u/desired", manifestPayload(t, seq+1, true, map[string]string{"main": canaryV}))
	for i, id := range []string{"c1", "c2", "f1", "f2"} {
		pub("devices/"+id+"/.u/c/main", [][]byte{c1, c2, f1, f2}[i])
	}
	return pub
}

// reportPayload encodes a report as a device sends it.
func reportPayload(t *testing.T, s report.State, r report.Reason, version, target, enc string, short bool) []byte {
	t.Helper()
	b, err := report.Encode(report.Report{State: s, Reason: r, Package: "main", Version: version, Target: target}, enc, short)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sdkPayload is a payload captured from the Golioth SDK's encoder
// (report/testdata/sdk-reports.tsv): state, reason, version, target.
func sdkPayload(t *testing.T, state, reason int, version, target string) []byte {
	t.Helper()
	data, err := os.ReadFile("../report/testdata/sdk-reports.tsv")
	if err != nil {
		t.Fatal(err)
	}
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	want := fmt.Sprintf("%d\t%d\tmain\t%s\t%s\t", state, reason, dash(version), dash(target))
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, want) {
			f := strings.Split(line, "\t")
			b, err := hex.DecodeString(f[len(f)-1])
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("no SDK vector %q", want)
	return nil
}

// manifestPayload is a sealed desired manifest for versions (package ->
// version), JSON or CBOR.
func manifestPayload(t *testing.T, seq int64, cbor bool, versions map[string]string) []byte {
	t.Helper()
	m := &release.Manifest{SequenceNumber: seq}
	for pkg, v := range versions {
		m.Components = append(m.Components, release.Component{
			Package: pkg, Version: v, Hash: strings.Repeat("ab", 32), Size: 1234,
			URI: release.ComponentURI(pkg, v),
		})
	}
	m.Seal()
	var b []byte
	var err error
	if cbor {
		b, err = release.EncodeCBOR(m)
	} else {
		b, err = release.EncodeJSON(m)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitFor polls cond until it holds, failing the test after a minute.
// It waits; it does not judge how long things take.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// demoFleet is the demo fleet retained under prefix on an embedded
// broker of the test's own.
type demoFleet struct {
	*testbroker.Broker
	prefix string
	dial   dialer                             // the run functions' dialer, under prefix
	pub    func(topic string, payload []byte) // publishes under prefix
}

// newDemoFleet starts the embedded broker and publishes the demo fleet
// on it under prefix.
func newDemoFleet(t *testing.T, prefix string) demoFleet {
	t.Helper()
	env := testbroker.Start(t, testbroker.KindEmbedded)
	publishDemoFleet(t, env, prefix)
	return demoFleet{Broker: env, prefix: prefix, dial: dialerFor(env.URL, prefix), pub: publisher(t, env, prefix)}
}

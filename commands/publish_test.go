package commands

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/mosquitto"
	"github.com/otactl/otactl/internal/tcpproxy"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/internal/testpki"
	"github.com/otactl/otactl/internal/testsecrets"
	"github.com/otactl/otactl/keys"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/report"
	"github.com/otactl/otactl/simulator"
	"github.com/otactl/otactl/upload"
)

// pubKeyring is an in-memory keys.Keyring.
type pubKeyring struct {
	mu sync.Mutex
	m  map[string]string
}

func (k *pubKeyring) Get(service, user string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[service+"\x00"+user]
	if !ok {
		return "", keys.ErrNotFound
	}
	return v, nil
}

func (k *pubKeyring) Set(service, user, secret string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[string]string{}
	}
	k.m[service+"\x00"+user] = secret
	testsecrets.Observe("keyring entry "+user, secret)
	return nil
}

func (k *pubKeyring) Delete(service, user string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.m[service+"\x00"+user]; !ok {
		return keys.ErrNotFound
	}
	delete(k.m, service+"\x00"+user)
	return nil
}

// pubEnv is an in-process otactl: fake streams, environment, clock and
// keyring, and a config folder of its own.
type pubEnv struct {
	t       *testing.T
	dir     string
	env     map[string]string
	keyring *pubKeyring
	now     time.Time
	// stdinTTY makes standard input a terminal, as a person's is.
	stdinTTY bool
}

func newPubEnv(t *testing.T) *pubEnv {
	dir := t.TempDir()
	return &pubEnv{t: t, dir: dir, keyring: &pubKeyring{},
		env: map[string]string{"HOME": dir, "XDG_CONFIG_HOME": filepath.Join(dir, "config")},
		now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// newPubEnvAt is newPubEnv with OTACTL_BROKER set to the broker at url.
func newPubEnvAt(t *testing.T, url string) *pubEnv {
	e := newPubEnv(t)
	e.env["OTACTL_BROKER"] = url
	return e
}

// run runs otactl in-process and returns stdout, stderr and the exit code.
func (e *pubEnv) run(stdin string, args ...string) (string, string, int) {
	e.t.Helper()
	var out, errb bytes.Buffer
	sys := &System{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, StdinTTY: e.stdinTTY,
		Now:     func() time.Time { return e.now },
		Getenv:  func(k string) string { return e.env[k] },
		Keyring: e.keyring,
	}
	code := runMain(context.Background(), append([]string{"otactl"}, args...), sys)
	testsecrets.Check(e.t, runLabel(args)+" (in-process)", out.String(), errb.String())
	return out.String(), errb.String(), code
}

// must runs otactl and fails the test unless it exits with want.
func (e *pubEnv) must(want int, args ...string) string {
	e.t.Helper()
	out, errs, code := e.run("", args...)
	if code != want {
		e.t.Fatalf("otactl %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errs)
	}
	return out
}

// says runs otactl, fails the test unless it exits 0, and reports an
// error unless its standard output holds each of want.
func (e *pubEnv) says(want []string, args ...string) string {
	e.t.Helper()
	out := e.must(0, args...)
	for _, w := range want {
		if !strings.Contains(out, w) {
			e.t.Errorf("otactl %s: no %q in\n%s", strings.Join(args, " "), w, out)
		}
	}
	return out
}

func (e *pubEnv) file(name string, data []byte) string {
	e.t.Helper()
	path := filepath.Join(e.dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// pubRandom is n random bytes (crypto/rand.Read never fails).
func pubRandom(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// manifest writes a release manifest for files (PACKAGE@VERSION -> path)
// with sequence seq, signed with keyFile when set.
func (e *pubEnv) manifest(name string, seq int64, keyFile string, comps ...string) string {
	e.t.Helper()
	out := filepath.Join(e.dir, name)
	args := []string{"release", "create", "--sequence", fmt.Sprint(seq), "--out", out}
	for _, c := range comps {
		args = append(args, "-c", c)
	}
	if keyFile != "" {
		args = append(args, "--sign", "file:"+keyFile)
	}
	e.must(0, args...)
	return out
}

// signingKey writes an Ed25519 key pair and returns the private and public
// PEM file paths.
func (e *pubEnv) signingKey(name string) (priv, pub string) {
	e.t.Helper()
	k, err := keys.GenerateKey("ed25519")
	if err != nil {
		e.t.Fatal(err)
	}
	testsecrets.RegisterKey(e.t, "signing key "+name, k)
	pem, err := keys.MarshalPrivatePEM(k)
	if err != nil {
		e.t.Fatal(err)
	}
	pubPEM, err := keys.ExportPublic(k.Public(), "pem", name)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.file(name+".pem", pem), e.file(name+".pub.pem", pubPEM)
}

func pubDial(t *testing.T, url string) *upload.Client {
	t.Helper()
	c, err := upload.Connect(context.Background(), upload.Options{Broker: url, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func pubRetained(t *testing.T, c *upload.Client, topic string) ([]byte, bool) {
	t.Helper()
	b, found, err := c.ReadRetained(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	return b, found
}

func TestUploadCommand(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, b *testbroker.Broker) {
		e := newPubEnvAt(t, b.URL)
		app := pubRandom(200_000)
		path := e.file("app.bin", app)

		out := e.must(0, "upload", "main@1.2.3", path)
		if !strings.Contains(out, "uploaded main@1.2.3: 200000 bytes") {
			t.Errorf("first upload said %q", out)
		}
		c := pubDial(t, b.URL)
		if got, _ := pubRetained(t, c, ".u/c/main@1.2.3"); !bytes.Equal(got, app) {
			t.Fatal("the broker does not retain the file's bytes")
		}
		out = e.must(0, "upload", "main@1.2.3", path, "-o", "json")
		var res publish.ArtifactResult
		if err := json.Unmarshal([]byte(out), &res); err != nil || res.Action != "present" || res.Size != 200000 {
			t.Errorf("second upload: %q (%v)", out, err)
		}
		other := e.file("other.bin", pubRandom(1000))
		_, errs, code := e.run("", "upload", "main@1.2.3", other)
		if code != ExitVerification || !strings.Contains(errs, "different bytes") {
			t.Errorf("different bytes: exit %d, %q", code, errs)
		}
		e.must(0, "upload", "main@1.2.3", other, "--force")
		if got, _ := pubRetained(t, c, ".u/c/main@1.2.3"); len(got) != 1000 {
			t.Errorf("after --force the broker retains %d bytes", len(got))
		}
		// A --block-size over --max-payload is refused before connecting.
		_, errs, code = e.run("", "upload", "big@1.0.0", path, "--max-payload", "100k", "--block-size", "128k", "--broker", "mqtt://127.0.0.1:1")
		if code != ExitError || !strings.Contains(errs, "max-payload") || !strings.Contains(errs, "hint:") {
			t.Errorf("max-payload: exit %d, %q", code, errs)
		}
		// Names are checked before any traffic: a bad one is a usage error.
		_, _, code = e.run("", "upload", "ma/in@1.0", path)
		if code != ExitUsage {
			t.Errorf("bad package name: exit %d", code)
		}
		_, _, code = e.run("", "upload", "main", path)
		if code != ExitUsage {
			t.Errorf("missing version: exit %d", code)
		}
	})
}

func TestPublishOrderAndGuarantees(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, b *testbroker.Broker) {
		e := newPubEnvAt(t, b.URL)
		priv, pub := e.signingKey("release")
		app := pubRandom(300_000)
		appPath := e.file("app.bin", app)
		m1 := e.manifest("r1.json", 1000, priv, "main@1.2.3="+appPath)
		c := pubDial(t, b.URL)

		// Unsigned verification against the wrong key fails before
		// anything is sent.
		_, otherPub := e.signingKey("other")
		_, errs, code := e.run("", "release", "publish", m1, appPath, "--pubkey", otherPub)
		if code != ExitVerification {
			t.Fatalf("wrong key: exit %d %s", code, errs)
		}
		if _, found := pubRetained(t, c, ".u/c/main@1.2.3"); found {
			t.Fatal("an artifact was uploaded although verification failed")
		}

		out := e.must(0, "release", "publish", m1, appPath, "--device", "canary-01", "--pubkey", pub, "-o", "json")
		var rep publish.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if rep.SequenceNumber != 1000 || len(rep.Artifacts) != 1 || rep.Artifacts[0].Action != "uploaded" ||
			len(rep.Targets) != 1 || rep.Targets[0].Topic != "devices/canary-01/.u/desired" || rep.Catalog.Action != "recorded" {
			t.Fatalf("report: %+v", rep)
		}
		file, _ := os.ReadFile(m1)
		if got, _ := pubRetained(t, c, "devices/canary-01/.u/desired"); !bytes.Equal(got, file) {
			t.Fatalf("the device's desired manifest is not the file's JSON:\n%s", got)
		}
		if got, _ := pubRetained(t, c, ".u/c/main@1.2.3"); !bytes.Equal(got, app) {
			t.Fatal("the artifact is not the file's bytes")
		}
		if _, found := pubRetained(t, c, ".u/desired"); found {
			t.Fatal("the fleet got a manifest meant for a device")
		}

		// Again, to the fleet, without the file: the artifact is read
		// back from the broker, nothing is uploaded again.
		out = e.must(0, "release", "publish", m1, "--pubkey", pub)
		if !strings.Contains(out, "artifact main@1.2.3: verified") || !strings.Contains(out, "target fleet: published .u/desired") {
			t.Errorf("fleet publish said:\n%s", out)
		}
		// Once more: everything is unchanged.
		out = e.must(0, "release", "publish", m1, appPath)
		if !strings.Contains(out, "artifact main@1.2.3: present") || !strings.Contains(out, "target fleet: unchanged") || !strings.Contains(out, "catalog: unchanged") {
			t.Errorf("repeat publish said:\n%s", out)
		}

		// The same release in the other encoding replaces it.
		out = e.must(0, "release", "publish", m1, "--device", "canary-01", "--encoding", "cbor")
		if !strings.Contains(out, "target device canary-01: published") {
			t.Errorf("re-encoding said:\n%s", out)
		}
		e.must(0, "release", "publish", m1, "--device", "canary-01")

		// Anti-rollback: a lower sequence number exits 3 and changes nothing.
		m0 := e.manifest("r0.json", 999, priv, "main@1.2.3="+appPath)
		_, errs, code = e.run("", "release", "publish", m0)
		if code != ExitVerification || !strings.Contains(errs, "anti-rollback") {
			t.Fatalf("lower sequence: exit %d %s", code, errs)
		}
		if got, _ := pubRetained(t, c, ".u/desired"); !bytes.Equal(got, file) {
			t.Fatal("a refused publish changed the fleet's manifest")
		}
		// An equal sequence number with other contents is refused too.
		app2 := pubRandom(1000)
		app2Path := e.file("app2.bin", app2)
		mSame := e.manifest("rsame.json", 1000, priv, "main@1.2.4="+app2Path)
		if _, _, code := e.run("", "release", "publish", mSame, app2Path); code != ExitVerification {
			t.Fatalf("equal sequence, other release: exit %d", code)
		}

		// A newer release, then list, current, rollback, unpublish.
		m2 := e.manifest("r2.json", 2000, priv, "main@1.2.4="+app2Path)
		e.must(0, "release", "publish", m2, app2Path, "--encoding", "cbor")
		got, _ := pubRetained(t, c, ".u/desired")
		dm, err := release.ParseCBOR(got)
		if err != nil || dm.SequenceNumber != 2000 {
			t.Fatalf("CBOR desired manifest: %v %v", dm, err)
		}
		out = e.must(0, "release", "list", "-o", "json")
		var list struct {
			Releases []struct {
				SequenceNumber int64
				Targets        []struct{ Kind, Name string }
				Signatures     []struct{ KeyID string }
			}
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Releases) != 2 ||
			list.Releases[0].SequenceNumber != 1000 || len(list.Releases[0].Targets) != 2 || len(list.Releases[1].Signatures) != 1 {
			t.Fatalf("release list: %s (%v)", out, err)
		}
		out = e.must(0, "release", "current", "--pubkey", pub)
		if !strings.Contains(out, "1 valid signature") {
			t.Errorf("release current:\n%s", out)
		}
		e.must(ExitVerification, "release", "current", "--pubkey", otherPub)
		e.must(ExitError, "release", "current", "--cohort", "nobody")

		out = e.must(0, "release", "rollback", "--to", "1000", "--sign", "file:"+priv, "-o", "json")
		if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.RollbackOf != 1000 || rep.SequenceNumber <= 2000 {
			t.Fatalf("rollback: %s (%v)", out, err)
		}
		got, _ = pubRetained(t, c, ".u/desired")
		rm, err := release.Parse(got)
		if err != nil || rm.Components[0].Version != "1.2.3" || rm.SequenceNumber != rep.SequenceNumber {
			t.Fatalf("after rollback the fleet retains %v (%v)", rm, err)
		}
		if rm.SequenceNumber != e.now.Unix() {
			t.Errorf("rollback sequence %d, want the clock's %d", rm.SequenceNumber, e.now.Unix())
		}
		if v := release.Verify(context.Background(), rm, release.VerifyOptions{Keys: pubKeys(t, pub), At: e.now}); !v.OK {
			t.Errorf("the rollback manifest does not verify: %v", v.Problems)
		}

		e.must(0, "release", "unpublish", "--device", "canary-01")
		if got, _ := pubRetained(t, c, "devices/canary-01/.u/desired"); string(got) != "{}" {
			t.Fatalf("unpublish left %q on the device's topic, want the empty manifest", got)
		}
		e.says([]string{"cleared"}, "release", "unpublish", "--device", "canary-01", "--clear")
		e.says([]string{"nothing retained"}, "release", "unpublish", "--device", "canary-01")

		// artifact list, download, delete.
		out = e.must(0, "artifact", "list", "-o", "json")
		if !strings.Contains(out, `"version":"1.2.3"`) || !strings.Contains(out, `"version":"1.2.4"`) {
			t.Errorf("artifact list: %s", out)
		}
		dl := filepath.Join(e.dir, "dl.bin")
		e.must(0, "artifact", "download", "main@1.2.3", "-O", dl)
		if got, _ := os.ReadFile(dl); !bytes.Equal(got, app) {
			t.Error("download differs")
		}
		_, errs, code = e.run("", "artifact", "delete", "main@1.2.3")
		if code != ExitError || !strings.Contains(errs, "fleet") {
			t.Errorf("delete while the fleet names it: exit %d %s", code, errs)
		}
		e.must(0, "artifact", "delete", "main@1.2.4")
		if _, found := pubRetained(t, c, ".u/c/main@1.2.4"); found {
			t.Error("artifact delete left the artifact")
		}
	})
}

func pubKeys(t *testing.T, path string) []crypto.PublicKey {
	t.Helper()
	k, err := keys.ResolvePublic(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return []crypto.PublicKey{k}
}

func TestPublishMessageSizeLimit(t *testing.T) {
	t.Parallel()
	m := mosquitto.Start(t, mosquitto.Config{MessageSizeLimit: 10_000})
	e := newPubEnvAt(t, m.URL())
	app := e.file("app.bin", pubRandom(50_000))
	mf := e.manifest("r.json", 1000, "", "main@1.2.3="+app)
	_, errs, code := e.run("", "release", "publish", mf, app)
	if code == 0 || !strings.Contains(errs, "message_size_limit") {
		t.Fatalf("publish over the broker's limit: exit %d\n%s", code, errs)
	}
	c := pubDial(t, m.URL())
	for _, topic := range []string{".u/desired", ".u/c/main@1.2.3", ".u/releases/1000"} {
		if _, found := pubRetained(t, c, topic); found {
			t.Errorf("%s is retained after a failed publish", topic)
		}
	}
	// With max-payload in the profile it goes in blocks instead, none
	// over the broker's limit.
	e.must(0, "config", "set", "max-payload", "10k")
	e.must(0, "release", "publish", mf, app)
	if _, found := pubRetained(t, c, ".u/c/main@1.2.3/blocks"); !found {
		t.Error("no block index after a publish over max-payload")
	}
	// A limit too small for blocks is refused before connecting.
	_, errs, code = e.run("", "release", "publish", mf, app, "--max-payload", "1000", "--broker", "mqtt://127.0.0.1:1")
	if code != ExitError || !strings.Contains(errs, "max-payload") {
		t.Fatalf("max-payload too small for blocks: exit %d %s", code, errs)
	}
}

func TestPercentIsStable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := testbroker.Start(t, testbroker.KindEmbedded)
	c := pubDial(t, b.URL)
	const n = 200
	for i := 0; i < n; i++ {
		topic, _ := c.Topics().Report(fmt.Sprintf("dev-%03d", i), "main")
		if err := c.PublishRetained(ctx, topic, []byte(`{"s":0,"r":0,"v":"1.0.0"}`)); err != nil {
			t.Fatal(err)
		}
	}
	e := newPubEnvAt(t, b.URL)
	app := e.file("app.bin", pubRandom(1000))
	chosen := func(seq int64, pct string) []string {
		mf := e.manifest(fmt.Sprintf("r%d.json", seq), seq, "", "main@1.2.3="+app)
		var rep publish.Report
		out := e.must(0, "release", "publish", mf, app, "--percent", pct, "-o", "json")
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, tr := range rep.Targets {
			if tr.Kind != "device" || tr.Action != "published" {
				t.Fatalf("target %+v", tr)
			}
			ids = append(ids, tr.Name)
		}
		sort.Strings(ids)
		return ids
	}
	s10 := chosen(1000, "10")
	s30 := chosen(2000, "30")
	s100 := chosen(3000, "100")
	if len(s10) == 0 || len(s10) >= len(s30) || len(s100) != n {
		t.Fatalf("sizes: %d, %d, %d", len(s10), len(s30), len(s100))
	}
	in := map[string]bool{}
	for _, d := range s30 {
		in[d] = true
	}
	for _, d := range s10 {
		if !in[d] {
			t.Errorf("%s was chosen at 10%% but not at 30%%", d)
		}
	}
	// The choice is the documented hash, whoever computes it.
	for _, d := range s10 {
		if !publish.PercentChosen(d, 10) {
			t.Errorf("%s: PercentChosen disagrees", d)
		}
	}
	// Each chosen device retains the manifest of its highest percentage.
	got, _ := pubRetained(t, c, "devices/"+s10[0]+"/.u/desired")
	if m, err := release.Parse(got); err != nil || m.SequenceNumber != 3000 {
		t.Errorf("device %s retains %v %v", s10[0], m, err)
	}
	// Without reports --percent is an error, not a silent no-op.
	_, errs, code := pubEmptyBrokerRun(t, "--percent", "10")
	if code != ExitError || !strings.Contains(errs, "no device state reports") {
		t.Errorf("--percent without reports: exit %d %s", code, errs)
	}
}

func pubEmptyBrokerRun(t *testing.T, args ...string) (string, string, int) {
	b := testbroker.Start(t, testbroker.KindEmbedded)
	e := newPubEnv(t)
	app := e.file("app.bin", pubRandom(100))
	mf := e.manifest("r.json", 1000, "", "main@1.0.0="+app)
	return e.run("", append([]string{"release", "publish", mf, app, "--broker", b.URL}, args...)...)
}

// TestRerunAfterBrokerWentAway: the broker goes away in the middle of the
// second of two artifacts, sent through paho or, 1 MiB and more, streamed;
// the run fails and no desired manifest is visible; once the broker is
// back a rerun finishes the job without sending the artifact that was
// already complete.
func TestRerunAfterBrokerWentAway(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		first, second int
		cut           int64 // bytes sent before the broker goes away
		hint          bool  // the first run's error comes with a hint
	}{
		{"paho", 400_000, 600_000, 400_000 + 300_000, false},
		{"streamed", 2 << 20, 3 << 20, 2<<20 + 1<<20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := testbroker.Start(t, testbroker.KindEmbedded)
			proxy := tcpproxy.Start(t, b.Addr)
			e := newPubEnvAt(t, proxy.URL())
			first := e.file("a-main.bin", pubRandom(tc.first))
			second := e.file("b-modem.bin", pubRandom(tc.second))
			mf := e.manifest("r.json", 1000, "", "main@1.0.0="+first, "modem@2.0.0="+second)

			// Components go in package order: main, then modem. The cut
			// comes in the middle of modem, and the broker stays down.
			start := proxy.Upstream()
			proxy.CutAfter(tc.cut, true)
			_, errs, code := e.run("", "release", "publish", mf, first, second, "--broker-timeout", "2s")
			t.Logf("first run:\n%s", errs)
			if code != ExitError || !strings.Contains(errs, "upload modem@2.0.0") || tc.hint && !strings.Contains(errs, "hint:") {
				t.Fatalf("publish while the broker went away: exit %d\n%s", code, errs)
			}
			c := pubDial(t, b.URL)
			if _, found := pubRetained(t, c, ".u/desired"); found {
				t.Fatal("a desired manifest is visible although an artifact is missing")
			}
			if _, found := pubRetained(t, c, ".u/c/main@1.0.0"); !found {
				t.Fatal("the first artifact did not make it before the cut")
			}
			if _, found := pubRetained(t, c, ".u/c/modem@2.0.0"); found {
				t.Fatal("part of the cut artifact is retained")
			}
			firstRun := proxy.Upstream() - start

			proxy.SetDown(false)
			before := proxy.Upstream()
			out := e.must(0, "release", "publish", mf, first, second)
			sent := proxy.Upstream() - before
			if !strings.Contains(out, "artifact main@1.0.0: present") || !strings.Contains(out, "artifact modem@2.0.0: uploaded") {
				t.Fatalf("rerun said:\n%s", out)
			}
			if sent >= int64(tc.first+tc.second) || sent < int64(tc.second) {
				t.Errorf("rerun sent %d bytes: want the second artifact only (first run sent %d)", sent, firstRun)
			}
			if got, _ := pubRetained(t, c, ".u/desired"); len(got) == 0 {
				t.Fatal("no desired manifest after the rerun")
			}
		})
	}
}

func TestProfilesAndPrecedence(t *testing.T) {
	t.Parallel()
	b := testbroker.Start(t, testbroker.KindEmbedded)
	e := newPubEnv(t)
	app := e.file("app.bin", pubRandom(100))
	e.must(0, "config", "set", "broker", b.URL, "--profile", "lab")
	e.must(0, "config", "set", "topic-prefix", "lab/", "--profile", "lab")
	e.must(0, "config", "set", "broker", "mqtt://127.0.0.1:1", "--profile", "dead")
	e.must(0, "config", "use", "lab")
	out := e.must(0, "config", "list")
	if !strings.Contains(out, "*\tlab\t"+b.URL) {
		t.Errorf("config list:\n%s", out)
	}
	if got := e.must(0, "config", "get", "topic-prefix"); got != "lab/\n" {
		t.Errorf("config get = %q", got)
	}
	// The current profile: its broker and prefix.
	out = e.must(0, "upload", "main@1.0.0", app, "-o", "json")
	if !strings.Contains(out, `"topic":"lab/.u/c/main@1.0.0"`) {
		t.Errorf("upload through the profile: %s", out)
	}
	// env beats profile, flag beats env.
	e.env["OTACTL_TOPIC_PREFIX"] = "env/"
	if out = e.must(0, "upload", "main@1.0.0", app, "-o", "json"); !strings.Contains(out, `"topic":"env/.u/c/main@1.0.0"`) {
		t.Errorf("env prefix: %s", out)
	}
	if out = e.must(0, "upload", "main@1.0.0", app, "-o", "json", "--topic-prefix", ""); !strings.Contains(out, `"topic":".u/c/main@1.0.0"`) {
		t.Errorf("flag prefix: %s", out)
	}
	e.env["OTACTL_PROFILE"] = "dead"
	if _, errs, code := e.run("", "upload", "main@1.0.0", app); code != ExitError || !strings.Contains(errs, "connection refused") {
		t.Errorf("OTACTL_PROFILE=dead: exit %d %s", code, errs)
	}
	if _, _, code := e.run("", "upload", "main@1.0.0", app, "--profile", "lab"); code != 0 {
		t.Errorf("--profile lab: exit %d", code)
	}
	if _, errs, code := e.run("", "upload", "main@1.0.0", app, "--profile", "nope"); code != ExitUsage || !strings.Contains(errs, "does not exist") {
		t.Errorf("--profile nope: exit %d %s", code, errs)
	}
	if _, _, code := e.run("", "config", "set", "timeout", "soon"); code != ExitUsage {
		t.Errorf("bad setting: exit %d", code)
	}
}

func TestLoginAndPasswords(t *testing.T) {
	t.Parallel()
	const pw = "s3cret-login-test"
	testsecrets.Register(t, "broker password of ci", pw)
	m := mosquitto.Start(t, mosquitto.Config{Users: map[string]string{"ci": pw}})
	e := newPubEnvAt(t, m.URL())
	e.env["OTACTL_USERNAME"] = "ci"
	app := e.file("app.bin", pubRandom(100))

	// No password: one line and a hint to log in.
	_, errs, code := e.run("", "upload", "main@1.0.0", app)
	if code != ExitError || !strings.Contains(errs, "otactl login") {
		t.Fatalf("no password: exit %d %s", code, errs)
	}
	if lines := strings.Split(strings.TrimSpace(errs), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "hint: ") {
		t.Errorf("want one error line and one hint, got %q", errs)
	}
	// A wrong password is not stored.
	if _, errs, code := e.run("wrong\n", "login"); code != ExitError || strings.Contains(errs, "wrong") {
		t.Fatalf("login with a wrong password: exit %d %s", code, errs)
	}
	if _, _, code := e.run(pw+"\n", "login"); code != 0 {
		t.Fatal("login failed")
	}
	e.must(0, "upload", "main@1.0.0", app)
	// OTACTL_PASSWORD and --password-stdin beat the keyring.
	e.env["OTACTL_PASSWORD"] = "bad"
	if _, _, code := e.run("", "upload", "main@1.0.0", app); code != ExitError {
		t.Error("OTACTL_PASSWORD=bad was not used")
	}
	if _, _, code := e.run(pw+"\n", "upload", "main@1.0.0", app, "--password-stdin"); code != 0 {
		t.Error("--password-stdin failed")
	}
	delete(e.env, "OTACTL_PASSWORD")
	e.must(0, "logout")
	if _, _, code := e.run("", "upload", "main@1.0.0", app); code != ExitError {
		t.Error("upload worked after logout")
	}
	// There is no password flag.
	if _, _, code := e.run("", "upload", "main@1.0.0", app, "--password", pw); code != ExitUsage {
		t.Errorf("--password: exit %d, want usage error", code)
	}
}

// TestBinaryEndToEnd runs the built binary against mosquitto as a user
// would, and reads the result with mosquitto_sub.
func TestBinaryEndToEnd(t *testing.T) {
	t.Parallel()
	m := mosquitto.Start(t, mosquitto.Config{})
	requireReal(t, "mosquitto_sub", haveCommand("mosquitto_sub"))
	dir := t.TempDir()
	env := []string{"OTACTL_BROKER=" + m.URL()}
	app := pubRandom(250_000)
	os.WriteFile(filepath.Join(dir, "app.bin"), app, 0o644)
	run := func(want int, args ...string) result {
		t.Helper()
		r := runOtactl(t, dir, env, "", args...)
		if r.code != want {
			t.Fatalf("otactl %s: exit %d, want %d\n%s%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
		}
		return r
	}
	run(0, "release", "create", "-c", "main@1.2.3=app.bin", "--sequence", "1000", "--out", "r1.json")
	run(0, "upload", "main@1.2.3", "app.bin")
	run(0, "release", "publish", "r1.json", "app.bin")

	sub := func(topic string) []byte {
		t.Helper()
		out, err := exec.Command("mosquitto_sub", "-h", "127.0.0.1", "-p", m.Addr()[strings.LastIndex(m.Addr(), ":")+1:],
			"-t", topic, "-C", "1", "-W", "10", "-N").Output()
		if err != nil {
			t.Fatalf("mosquitto_sub %s: %v", topic, err)
		}
		return out
	}
	file, _ := os.ReadFile(filepath.Join(dir, "r1.json"))
	if got := sub(".u/desired"); !bytes.Equal(got, file) {
		t.Fatalf("mosquitto_sub .u/desired differs from the file:\n%s", got)
	}
	if got := sub(".u/c/main@1.2.3"); !bytes.Equal(got, app) {
		t.Fatalf("mosquitto_sub .u/c/main@1.2.3: %d bytes, want the file's %d", len(got), len(app))
	}
	run(0, "release", "create", "-c", "main@1.2.3=app.bin", "--sequence", "999", "--out", "r0.json")
	r := run(ExitVerification, "release", "publish", "r0.json")
	if !strings.Contains(r.stderr, "anti-rollback") {
		t.Errorf("stderr: %s", r.stderr)
	}
	r = run(0, "release", "list")
	if !strings.Contains(r.stdout, "1000") {
		t.Errorf("release list: %s", r.stdout)
	}
	r = run(0, "release", "current", "-o", "json")
	if !strings.Contains(r.stdout, `"sequenceNumber":1000`) {
		t.Errorf("release current: %s", r.stdout)
	}
	r = run(0, "release", "rollback", "--to", "1000", "--cohort", "beta", "-o", "json")
	if !strings.Contains(r.stdout, `"rollbackOf":1000`) {
		t.Errorf("release rollback: %s", r.stdout)
	}
	run(0, "release", "unpublish")
	if got := sub(".u/desired"); string(got) != "{}" {
		t.Errorf("mosquitto_sub .u/desired after unpublish: %q, want {}", got)
	}
	run(0, "release", "current")
	run(0, "release", "unpublish", "--clear")
	run(ExitError, "release", "current")
	run(ExitUsage, "release", "publish")
	run(ExitError, "upload", "main@1.2.3", "app.bin", "--broker", "mqtt://127.0.0.1:1")
}

func TestPublishDryRun(t *testing.T) {
	e, c := embeddedPubEnv(t)
	app := e.file("app.bin", pubRandom(5000))
	mf := e.manifest("r.json", 1000, "", "main@1.2.3="+app)
	out := e.must(0, "release", "publish", mf, app, "--cohort", "beta", "--dry-run", "-o", "json")
	var rep publish.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.DryRun || rep.Artifacts[0].Action != "would upload" || rep.Targets[0].Action != "would publish" || rep.Catalog.Action != "would record" {
		t.Fatalf("dry run report: %s", out)
	}
	for _, topic := range []string{".u/c/main@1.2.3", "cohorts/beta/.u/desired", ".u/releases/1000"} {
		if _, found := pubRetained(t, c, topic); found {
			t.Errorf("--dry-run published %s", topic)
		}
	}
	// Without the file a dry run says the artifact is missing.
	if _, errs, code := e.run("", "release", "publish", mf, "--dry-run"); code != ExitError || !strings.Contains(errs, "not on the broker") {
		t.Errorf("dry run without the artifact: exit %d %s", code, errs)
	}
}

func TestMutualTLSThroughProfile(t *testing.T) {
	t.Parallel()
	pki := testpki.New(t)
	m := mosquitto.Start(t, mosquitto.Config{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CAFile: pki.CAFile, RequireClientCert: true})
	e := newPubEnv(t)
	app := e.file("app.bin", pubRandom(100))
	e.must(0, "config", "set", "broker", m.TLSURL(), "--profile", "tls")
	e.must(0, "config", "set", "ca-file", pki.CAFile, "--profile", "tls")
	e.must(0, "config", "use", "tls")
	_, errs, code := e.run("", "upload", "main@1.0.0", app)
	if code != ExitError || !strings.Contains(errs, "hint: ") || !strings.Contains(errs, "--cert-file") {
		t.Fatalf("without a client certificate: exit %d %s", code, errs)
	}
	e.must(0, "config", "set", "cert-file", pki.ClientCert)
	e.must(0, "config", "set", "key-file", pki.ClientKey)
	e.must(0, "upload", "main@1.0.0", app)
	// Without the CA the broker's certificate is refused.
	e.must(0, "config", "unset", "ca-file")
	if _, errs, code := e.run("", "upload", "main@1.0.0", app); code != ExitError || !strings.Contains(errs, "unknown authority") {
		t.Fatalf("without the CA: exit %d %s", code, errs)
	}
}

// TestPublishDeviceGlob: release publish --device GLOB targets the
// reporting devices the pattern matches, and never the fleet; a pattern
// that matches none is exit 1 with nothing published; other commands
// refuse a pattern.
func TestPublishDeviceGlob(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, b *testbroker.Broker) {
		for _, d := range []string{"sensor-1", "sensor-2", "gw-1"} {
			b.Publish(t, "devices/"+d+"/.u/c/main", reportPayload(t, report.Idle, report.ReasonReady, "1.0.0", "", "json", false))
		}
		e, c := newPubEnvAt(t, b.URL), pubDial(t, b.URL)
		app := e.file("app.bin", pubRandom(500))
		m := e.manifest("r.json", 1000, "", "main@1.1.0="+app)

		out := e.must(0, "release", "publish", m, app, "--device", "sensor-*", "-o", "json")
		var rep publish.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tg := range rep.Targets {
			names = append(names, string(tg.Kind)+":"+tg.Name)
		}
		if strings.Join(names, ",") != "device:sensor-1,device:sensor-2" {
			t.Errorf("targets %v, want the two sensors", names)
		}
		for topic, want := range map[string]bool{"devices/sensor-2/.u/desired": true, "devices/gw-1/.u/desired": false, ".u/desired": false} {
			if _, found := pubRetained(t, c, topic); found != want {
				t.Errorf("%s retained: %v, want %v", topic, found, want)
			}
		}
		if out := e.must(0, "release", "publish", m, "--device", "gw-?", "--dry-run"); !strings.Contains(out, "devices gw-?: 1 of 3 reporting devices") {
			t.Errorf("dry run said:\n%s", out)
		}
		_, errs, code := e.run("", "release", "publish", m, "--device", "camera-*")
		if code != ExitError || !strings.Contains(errs, `--device "camera-*" matches none of the 3 devices that report`) {
			t.Errorf("no match: exit %d\n%s", code, errs)
		}
		for _, args := range [][]string{
			{"release", "unpublish", "--device", "sensor-*"},
			{"release", "publish", m, "--device", "sensor-[", "--dry-run"},
		} {
			if _, errs, code := e.run("", args...); code != ExitUsage {
				t.Errorf("%v: exit %d, want 2\n%s", args, code, errs)
			}
		}
	})
}

// updatedFleet runs n simulated devices on url until every one has
// reported main updated to version, and fails the test after a minute.
func updatedFleet(t *testing.T, url string, n int, version string) {
	t.Helper()
	var (
		mu      sync.Mutex
		updated = map[string]bool{}
		log     []string
		done    = make(chan struct{})
	)
	cfg := simulator.Config{Conn: upload.Options{Broker: url}, Devices: n, IDPrefix: "blk-" + version + "-", Package: "main", Version: "1.0.0",
		OnEvent: func(e simulator.Event) {
			mu.Lock()
			defer mu.Unlock()
			log = append(log, fmt.Sprintf("%s %s (%d,%d) %s", e.Device, e.Kind, e.State, e.Reason, e.Detail))
			if e.Kind == simulator.EventReport && e.State == report.Updated && e.Reason == report.ReasonUpdated && e.Version == version && !updated[e.Device] {
				if updated[e.Device] = true; len(updated) == n {
					close(done)
				}
			}
		}}
	f, err := simulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); <-stopped })
	go func() { stopped <- f.Run(ctx) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%d of %d devices updated to %s:\n%s", len(updated), n, version, strings.Join(log, "\n"))
	}
}

// The case: a broker that takes messages of at most 128 KiB
// (mosquitto message_size_limit 131072) and an artifact of 1 MiB.
func TestBlocksOnABrokerWithASmallLimit(t *testing.T) {
	t.Parallel()
	m := mosquitto.Start(t, mosquitto.Config{MessageSizeLimit: 131072})
	e := newPubEnvAt(t, m.URL())
	app := pubRandom(1 << 20)
	path := e.file("app.bin", app)
	mf := e.manifest("r.json", 1000, "", "main@1.2.3="+path)
	e.must(0, "config", "set", "max-payload", "128k")

	out := e.must(0, "release", "publish", mf, path, "-o", "json")
	var rep publish.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Artifacts) != 1 {
		t.Fatalf("publish: %v\n%s", err, out)
	}
	if a := rep.Artifacts[0]; a.Action != "uploaded" || a.BlockSize != 126976 || a.Blocks != 9 {
		t.Fatalf("artifact %+v: want 9 blocks of 124 KiB", a)
	}
	c := pubDial(t, m.URL())
	if _, found := pubRetained(t, c, ".u/c/main@1.2.3"); found {
		t.Error("the whole artifact is retained on a broker that cannot take it")
	}
	x, err := c.ReadBlockIndex(context.Background(), ".u/c/main@1.2.3")
	if err != nil || x == nil || x.Count != 9 {
		t.Fatalf("index %+v: %v", x, err)
	}
	// Devices download the blocks.
	updatedFleet(t, m.URL(), 3, "1.2.3")

	// Again: every block is there, nothing is sent.
	out = e.must(0, "release", "publish", mf, path, "--force", "-o", "json")
	if !strings.Contains(out, `"action":"present"`) {
		t.Errorf("publish again: %s", out)
	}
	// The same bytes in another block size: the blocks retained are kept
	// (devices may be downloading them), with a warning.
	out, errs, code := e.run("", "upload", "main@1.2.3", path, "--block-size", "64k", "-o", "json")
	if code != 0 || !strings.Contains(out, `"action":"present"`) || !strings.Contains(out, `"blockSize":126976,"blocks":9`) || !strings.Contains(errs, "keeping the blocks of 124.0 KiB") {
		t.Errorf("upload in blocks of 64k: exit %d %s%s", code, out, errs)
	}
	// upload --block-size: blocks of exactly the broker's limit.
	e.must(0, "upload", "main@1.2.4", path, "--block-size", "128k")
	if x, err := c.ReadBlockIndex(context.Background(), ".u/c/main@1.2.4"); err != nil || x == nil || x.Count != 8 || x.BlockSize != 131072 {
		t.Fatalf("upload --block-size: index %+v: %v", x, err)
	}
	// A block size over max-payload is refused before connecting.
	_, errs, code = e.run("", "upload", "main@1.2.5", path, "--block-size", "256k", "--broker", "mqtt://127.0.0.1:1")
	if code != ExitError || !strings.Contains(errs, "max-payload") || !strings.Contains(errs, "hint:") {
		t.Errorf("block size over max-payload: exit %d %s", code, errs)
	}

	// list, download, delete.
	out = e.must(0, "artifact", "list", "-o", "json")
	if !strings.Contains(out, `"version":"1.2.3","topic":".u/c/main@1.2.3","size":1048576`) || !strings.Contains(out, `"whole":false,"blockSize":126976,"blocks":9`) {
		t.Errorf("artifact list: %s", out)
	}
	dl := filepath.Join(e.dir, "dl.bin")
	_, errs, _ = e.run("", "artifact", "download", "main@1.2.3", "-O", dl)
	if got, _ := os.ReadFile(dl); !bytes.Equal(got, app) {
		t.Fatalf("download is not the artifact: %s", errs)
	}
	// A corrupted block is caught by the download (exit 3), and no file is left.
	if err := c.PublishRetained(context.Background(), ".u/c/main@1.2.4/b/5", bytes.Repeat([]byte{1}, 131072)); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(e.dir, "bad.bin")
	if _, errs, code := e.run("", "artifact", "download", "main@1.2.4", "-O", bad); code != ExitVerification || !strings.Contains(errs, "block 5") {
		t.Errorf("corrupt block: exit %d %s", code, errs)
	}
	if _, err := os.Stat(bad); err == nil {
		t.Error("a download that failed verification left its file")
	}
	e.must(0, "artifact", "delete", "main@1.2.4")
	for _, topic := range []string{".u/c/main@1.2.4/blocks", ".u/c/main@1.2.4/b/0", ".u/c/main@1.2.4/b/7"} {
		if _, found := pubRetained(t, c, topic); found {
			t.Errorf("artifact delete left %s", topic)
		}
	}
}

// With --block-size on a broker that takes the whole artifact, the whole
// topic holds it too: a device that knows nothing of blocks still updates.
func TestBlocksKeepTheWholeTopicForOldDevices(t *testing.T) {
	t.Parallel()
	b := testbroker.Start(t, testbroker.KindEmbedded)
	e := newPubEnvAt(t, b.URL)
	app := pubRandom(300_000)
	path := e.file("app.bin", app)
	mf := e.manifest("r.json", 1000, "", "main@1.2.3="+path)
	out, errs, code := e.run("", "release", "publish", mf, path, "--block-size", "64k")
	if code != 0 || !strings.Contains(out+errs, "(300000 bytes) .u/c/main@1.2.3 in 5 blocks of 64.0 KiB") {
		t.Fatalf("publish: exit %d\n%s%s", code, out, errs)
	}
	c := pubDial(t, b.URL)
	// What a device that reads only the whole topic gets: the file's
	// bytes, which the manifest's component hash names.
	if whole, found := pubRetained(t, c, ".u/c/main@1.2.3"); !found || !bytes.Equal(whole, app) {
		t.Fatal("the whole-artifact topic does not retain the file's bytes")
	}
	if x, err := c.ReadBlockIndex(context.Background(), ".u/c/main@1.2.3"); err != nil || x == nil || x.Count != 5 {
		t.Fatalf("index %+v: %v", x, err)
	}
	updatedFleet(t, b.URL, 2, "1.2.3")
}

// TestUnpublishHalfWayPrintsWhatItDid: an unpublish over two targets whose
// second the broker's access rules refuse (mosquitto acknowledges and
// drops the message) takes the first back, exits 6 and, with -o json,
// prints what each target's action was and why the second failed.
func TestUnpublishHalfWayPrintsWhatItDid(t *testing.T) {
	t.Parallel()
	mosquitto.Require(t)
	const adminPW, opsPW = "unpublish-admin-pw", "unpublish-ops-pw"
	testsecrets.Register(t, "broker password of admin", adminPW)
	testsecrets.Register(t, "broker password of ops", opsPW)
	dir := t.TempDir()
	acl := filepath.Join(dir, "acl")
	rules := "user admin\ntopic readwrite #\nuser ops\ntopic read #\ntopic write devices/d1/.u/desired\n"
	if err := os.WriteFile(acl, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	m := mosquitto.Start(t, mosquitto.Config{Users: map[string]string{"admin": adminPW, "ops": opsPW}, Extra: "acl_file " + acl + "\n"})
	admin, err := upload.Connect(context.Background(), upload.Options{Broker: m.URL(), Username: "admin", Password: adminPW, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	manifest := []byte(`{"sequenceNumber":1700,"hash":"00","components":[]}`)
	for _, topic := range []string{"devices/d1/.u/desired", "devices/d2/.u/desired"} {
		if err := admin.PublishVerified(context.Background(), topic, manifest); err != nil {
			t.Fatal(err)
		}
	}

	e := newPubEnvAt(t, m.URL())
	e.env["OTACTL_USERNAME"], e.env["OTACTL_PASSWORD"] = "ops", opsPW
	out, errs, code := e.run("", "release", "unpublish", "--device", "d1", "--device", "d2", "--read-back-wait", "1s", "-o", "json")
	if code != ExitPartial {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, ExitPartial, out, errs)
	}
	var rep publish.UnpublishReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not the unpublish document: %v\n%s", err, out)
	}
	if len(rep.Targets) != 2 || rep.Targets[0].Action != publish.ActionUnpublished || rep.Targets[1].Action != publish.ActionFailed ||
		rep.Targets[1].Error == "" || !strings.Contains(rep.Error, "device d2") {
		t.Fatalf("document: %+v", rep)
	}
	if !strings.Contains(errs, "release unpublish failed on 1 target of 2: device d2") || !strings.Contains(errs, "hint: the targets whose action is unpublished or cleared") {
		t.Errorf("stderr:\n%s", errs)
	}
	if got, _ := pubRetained(t, admin, "devices/d1/.u/desired"); string(got) != "{}" {
		t.Errorf("d1 retains %q, want the empty manifest", got)
	}
	if got, _ := pubRetained(t, admin, "devices/d2/.u/desired"); string(got) != string(manifest) {
		t.Errorf("d2 retains %q: the access rules did not hold", got)
	}
}

// aclPublishEnv starts a mosquitto whose every client is held to the
// access rules of an acl_file holding rules, and an in-process otactl with
// a 2 KiB artifact fw.bin to publish there.
func aclPublishEnv(t *testing.T, rules string) (e *pubEnv, m *mosquitto.Broker, fw string) {
	t.Helper()
	mosquitto.Require(t)
	acl := filepath.Join(t.TempDir(), "acl")
	if err := os.WriteFile(acl, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	m = mosquitto.Start(t, mosquitto.Config{Extra: "acl_file " + acl + "\n"})
	e = newPubEnv(t)
	return e, m, e.file("fw.bin", pubRandom(2048))
}

// TestPublishUnconfirmedAfterDesiredExits6 runs a publish whose desired
// manifest goes out but whose catalog entry the broker drops (an ACL that
// denies it, which mosquitto acknowledges silently): the release is live,
// so the run exits 6, not 0, 1 or 3.
func TestPublishUnconfirmedAfterDesiredExits6(t *testing.T) {
	t.Parallel()
	e, m, fw := aclPublishEnv(t, "topic read #\ntopic write .u/c/#\ntopic write .u/desired\ntopic write .u/otactl/#\n")
	man := e.manifest("r.json", 1700, "", "main@1.0.0="+fw)
	out, errs, code := e.run("", "release", "publish", man, fw, "--broker", m.URL(), "--broker-timeout", "5s")
	if code != ExitPartial {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, ExitPartial, out, errs)
	}
	if !strings.Contains(errs, "catalog") || !strings.Contains(errs, "may be live") {
		t.Errorf("stderr does not say the catalog failed and the release may be live:\n%s", errs)
	}
	b, found := pubRetained(t, pubDial(t, m.URL()), ".u/desired")
	if !found {
		t.Fatal("the desired manifest is not retained: the test's ACL did not let it through")
	}
	got, err := release.Parse(b)
	if err != nil || got.SequenceNumber != 1700 {
		t.Fatalf("retained desired manifest: %v, %v", got, err)
	}
}

// TestPublishFailingOnATargetPrintsItsReport: a publish to devices a and b
// whose manifest the broker drops on b (an ACL that denies it, which
// mosquitto acknowledges silently) exits 6 and, with -o json, prints what
// it did: a published, b failed with why, no catalog entry; in text, a
// line per target.
func TestPublishFailingOnATargetPrintsItsReport(t *testing.T) {
	t.Parallel()
	e, m, fw := aclPublishEnv(t, "topic read #\ntopic write .u/#\ntopic write devices/a/#\n")
	man := e.manifest("r.json", 1800, "", "main@1.0.0="+fw)
	args := []string{"release", "publish", man, fw, "--device", "a", "--device", "b", "--broker", m.URL(), "--broker-timeout", "5s", "--read-back-wait", "1s"}
	out, errs, code := e.run("", append(args, "-o", "json")...)
	if code != ExitPartial {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, ExitPartial, out, errs)
	}
	var rep struct {
		Targets []struct{ Name, Action, Error string }
		Catalog struct{ Action string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not the report: %v\n%s", err, out)
	}
	if len(rep.Targets) != 2 || rep.Targets[0].Action != "published" || rep.Targets[1].Action != "failed" ||
		rep.Targets[1].Error == "" || rep.Catalog.Action != "" {
		t.Errorf("report %+v", rep)
	}

	man2 := e.manifest("r2.json", 1900, "", "main@1.0.0="+fw)
	args[2] = man2
	out, errs, code = e.run("", args...)
	if code != ExitPartial || !strings.Contains(out, "target device a: published") || !strings.Contains(out, "target device b: failed") {
		t.Errorf("text: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
}

// TestPublishInterruptedSaysHowFar: SIGINT (the context cancelled) just
// before the third of four device targets: the run exits 130 and says how
// far it got, on stderr and, with -o json, as the report: a and b
// published, c interrupted (it may hold the release), d not published
// to; no catalog entry. Not parallel:
// it sets the package's publish hook.
func TestPublishInterruptedSaysHowFar(t *testing.T) {
	b := testbroker.Start(t, testbroker.KindEmbedded)
	e := newPubEnvAt(t, b.URL)
	fw := e.file("fw.bin", pubRandom(2048))
	man := e.manifest("r.json", 2100, "", "main@1.0.0="+fw)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hookOnce(t, "devices/c/.u/desired", cancel)

	var out, errb bytes.Buffer
	sys := &System{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Now: func() time.Time { return e.now },
		Getenv: func(k string) string { return e.env[k] }, Keyring: e.keyring}
	code := runMain(ctx, []string{"otactl", "release", "publish", man, fw, "--device", "a", "--device", "b", "--device", "c", "--device", "d", "-o", "json"}, sys)
	if code != ExitInterrupted {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, ExitInterrupted, out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), "interrupted after the desired manifest went out: published to 2 of 4 targets (1 interrupted, 1 not published); no catalog entry recorded") {
		t.Errorf("stderr does not say how far the run got:\n%s", errb.String())
	}
	var rep struct {
		Targets []struct{ Name, Action string }
		Catalog struct{ Action string }
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not the report: %v\n%s", err, out.String())
	}
	var got []string
	for _, tr := range rep.Targets {
		got = append(got, tr.Name+" "+tr.Action)
	}
	if strings.Join(got, ", ") != "a published, b published, c interrupted, d not published" || rep.Catalog.Action != "" {
		t.Errorf("targets %q, catalog %q", got, rep.Catalog.Action)
	}
}

// simAwaitIdle waits until device reports version idle on c.
func simAwaitIdle(t *testing.T, c *upload.Client, device, version string, errOut fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if r, ok := simReports(t, c)[device]; ok && r.UpdatedTo(version) && r.State == report.Idle {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never went idle on %s: %v\n%s", device, version, simReports(t, c), errOut)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNarrowerTargetBelowTheFleetOnSimulatedDevices: a simulated device
// follows its device topic and the fleet's and acts on the highest
// sequence. A release for the device at the fleet's very sequence (a
// rollback and a create in the same second) is refused with exit 3; forced
// through, the device ignores it; a rollback to the device gets a
// sequence above the fleet's, and the device acts on it.
func TestNarrowerTargetBelowTheFleetOnSimulatedDevices(t *testing.T) {
	b := testbroker.Start(t, testbroker.KindEmbedded)
	op := pubDial(t, b.URL)
	e := newPubEnvAt(t, b.URL)
	now := e.now.Unix()
	v101, v2, v15 := e.file("v101.bin", pubRandom(2000)), e.file("v2.bin", pubRandom(2000)), e.file("v15.bin", pubRandom(2000))

	// The simulator runs as a process of its own: runMain runs one Main
	// at a time.
	sim := startOtactlIn(t, "", []string{"XDG_CONFIG_HOME=" + t.TempDir()}, nil, "simulate", "--broker", b.URL,
		"--devices", "1", "--id-prefix", "d-", "--reboot-time", "10ms", "--seed", "3", "-o", "json")
	errOut := sim.stderr
	simAwaitIdle(t, op, "d-0001", "1.0.0", errOut)

	e.must(0, "release", "publish", e.manifest("r0.json", 1000, "", "main@1.0.1="+v101), v101)
	simAwaitIdle(t, op, "d-0001", "1.0.1", errOut)
	e.must(0, "release", "publish", e.manifest("r2.json", now+100, "", "main@2.0.0="+v2), v2)
	simAwaitIdle(t, op, "d-0001", "2.0.0", errOut)

	r1 := e.manifest("r1.json", now+100, "", "main@1.5.0="+v15)
	_, errs, c := e.run("", "release", "publish", r1, v15, "--device", "d-0001")
	if c != ExitVerification || !strings.Contains(errs, fmt.Sprintf("fleet (.u/desired) retains sequence %d", now+100)) ||
		!strings.Contains(errs, fmt.Sprintf("hint: devices act on the highest sequence of their device, cohort and fleet topics: create the release again above it ('otactl release create --sequence %d'", now+101)) {
		t.Fatalf("a release the device would ignore: exit %d\n%s", c, errs)
	}
	if _, found := pubRetained(t, op, "devices/d-0001/.u/desired"); found {
		t.Fatal("the refused release was published to the device")
	}
	// Forced through, the device ignores it: the fleet's is as high.
	e.must(0, "release", "publish", r1, v15, "--device", "d-0001", "--force")

	out1 := e.must(0, "release", "rollback", "--to", "1000", "--device", "d-0001", "-o", "json")
	var rep publish.Report
	if err := json.Unmarshal([]byte(out1), &rep); err != nil || rep.SequenceNumber != now+101 {
		t.Fatalf("rollback to the device: sequence %d, want %d, one above the fleet's (%v)\n%s", rep.SequenceNumber, now+101, err, out1)
	}
	simAwaitIdle(t, op, "d-0001", "1.0.1", errOut)
	_ = sim.cmd.Process.Signal(os.Interrupt)
	res := sim.waitWithin(t, time.Minute)
	if !strings.Contains(res.stdout, `"version":"1.0.1"`) || strings.Contains(res.stdout, "1.5.0") {
		t.Errorf("the device acted on the release the fleet's sequence hid, or its events are not there:\n%s", res.stdout)
	}
}

// TestClosedStdoutDoesNotStopAPublish runs the built binary with a
// standard output whose reader has gone (a pipe closed at its read end,
// as after `| head -1`): the publish runs to its end (the desired
// manifest is retained) and exits 1 saying the output was lost, where
// SIGPIPE used to kill it silently in the middle.
func TestClosedStdoutDoesNotStopAPublish(t *testing.T) {
	t.Parallel()
	b := testbroker.Start(t, testbroker.KindEmbedded)
	e := newPubEnv(t)
	fw := e.file("fw.bin", pubRandom(2048))
	man := e.manifest("r.json", 3100, "", "main@1.0.0="+fw)

	var stderr bytes.Buffer
	cmd := otactlCommand(context.Background(), t, "", nil, "release", "publish", man, fw, "--device", "a", "--device", "b", "--broker", b.URL)
	cmd.Stdout, cmd.Stderr = readerGone(t), &stderr
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if code != ExitError || !strings.Contains(stderr.String(), "write standard output: broken pipe") {
		t.Fatalf("exit %d (%v), want %d saying the output was lost\nstderr: %s", code, err, ExitError, stderr.String())
	}
	for _, topic := range []string{"devices/a/.u/desired", "devices/b/.u/desired"} {
		got, found := pubRetained(t, pubDial(t, b.URL), topic)
		if m, err := release.Parse(got); !found || err != nil || m.SequenceNumber != 3100 {
			t.Errorf("%s retains %q (%v): the publish did not run to its end", topic, got, err)
		}
	}
}

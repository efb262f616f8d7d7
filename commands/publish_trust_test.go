package commands

import (
	"bufio"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/keys"
	"github.com/otactl/otactl/keyset"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/simulator"
)

// TestPublishAndCurrentShareTheTrustRule: release publish and release
// current resolve keys and threshold by the same rule (docs/publishing.md):
// an explicit --threshold wins over the profile's, also when the keys are
// the profile's.
func TestPublishAndCurrentShareTheTrustRule(t *testing.T) {
	t.Parallel()
	b := testbroker.Start(t, testbroker.KindEmbedded)
	e := newPubEnvAt(t, b.URL)
	priv, pub := e.signingKey("first")
	_, pub2 := e.signingKey("second")
	e.must(0, "config", "set", "require-signatures", "true")
	e.must(0, "config", "set", "pubkey", pub)
	e.must(0, "config", "set", "pubkey", pub2)
	e.must(0, "config", "set", "threshold", "2")
	app := e.file("app.bin", pubRandom(1000))
	mf := e.manifest("r.json", 1000, priv, "main@1.0.0="+app)

	// One signature of the two the profile asks for.
	_, errs, code := e.run("", "release", "publish", mf, app)
	if code != ExitVerification || !strings.Contains(errs, "1 valid signatures by trusted keys, 2 needed") {
		t.Fatalf("publish with the profile's threshold: exit %d\n%s", code, errs)
	}
	_, errs, code = e.run("", "release", "publish", mf, app, "--threshold", "1")
	if code != 0 {
		t.Fatalf("publish --threshold 1 with the profile's keys: exit %d\n%s", code, errs)
	}

	_, errs, code = e.run("", "release", "current")
	if code != ExitVerification || !strings.Contains(errs, "2 needed") {
		t.Fatalf("current with the profile's threshold: exit %d\n%s", code, errs)
	}
	out, errs, code := e.run("", "release", "current", "--threshold", "1")
	if code != 0 || !strings.Contains(out, "verified: digest, expiry and 1 valid signature\n") {
		t.Fatalf("current --threshold 1 with the profile's keys: exit %d\n%s%s", code, out, errs)
	}
	// --pubkey keys never take the profile's threshold.
	if out, errs, code := e.run("", "release", "current", "--pubkey", pub); code != 0 {
		t.Fatalf("current --pubkey: exit %d\n%s%s", code, out, errs)
	}
	if _, errs, code := e.run("", "release", "current", "--pubkey", pub2); code != ExitVerification {
		t.Fatalf("current --pubkey of a key that did not sign: exit %d\n%s", code, errs)
	}
}

// TestPublishErrorsExitCodes: the core's typed errors give the exit codes
// of docs/protocol.md, and a signal still wins.
func TestPublishErrorsExitCodes(t *testing.T) {
	live := context.Background()
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	refused := &publish.AntiRollbackError{Sequence: 1000, Reasons: []string{"fleet retains sequence 2000"}}
	partial := &publish.PartialError{Err: fmt.Errorf("catalog: %w", errors.New("not authorized"))}
	for _, tc := range []struct {
		ctx  context.Context
		err  error
		code int
	}{
		{live, refused, ExitVerification},
		{live, fmt.Errorf("x: %w", refused), ExitVerification},
		{live, partial, ExitPartial},
		{live, &publish.PartialError{Err: refused}, ExitPartial},
		{live, fmt.Errorf("%w: %s", release.ErrVerification, "digest"), ExitVerification},
		{stopped, partial, ExitInterrupted},
	} {
		if got := exitCode(tc.ctx, tc.err); got != tc.code {
			t.Errorf("%v: exit %d, want %d", tc.err, got, tc.code)
		}
	}
	if h := hint.Of(partial); !strings.Contains(h, "may be live") {
		t.Errorf("partial hint %q", h)
	}
	if h := hint.Of(refused); !strings.Contains(h, "--force") {
		t.Errorf("anti-rollback hint %q", h)
	}
}

// TestKeyRotationEndToEnd, on the embedded broker and on mosquitto:
// simulated devices provisioned with root A follow the key set that `key
// rotate --bootstrap` publishes, update with a release signed by release
// key 1, move to release key 2 after `key rotate`, and then refuse a
// release signed by key 1, which `release publish` refuses too (exit 3).
// An older key set and one signed by a key that is not the root are
// refused by `key rotate`, by the devices and (the forged one) by `release
// publish`; `key rotate --force` publishes the fleet's way out.
func TestKeyRotationEndToEnd(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, b *testbroker.Broker) {
		e := newPubEnvAt(t, b.URL)
		e.env["OTACTL_TOPIC_PREFIX"] = "acme/"
		rootPriv, rootPub := e.signingKey("root-a")
		otherPriv, _ := e.signingKey("other")
		rel1Priv, rel1Pub := e.signingKey("release-1")
		rel2Priv, rel2Pub := e.signingKey("release-2")
		rotate := []string{"key", "rotate", "--root-key", "file:" + rootPriv}

		e.says([]string{"dry run: key set version 1 would be published to acme/.u/keys (first key set)"}, append(rotate, "--bootstrap", "--release-key", rel1Pub, "--dry-run")...)
		if _, found := pubRetained(t, pubDial(t, b.URL), "acme/.u/keys"); found {
			t.Fatal("key rotate --dry-run published a key set")
		}
		e.says([]string{"key set version 1 published to acme/.u/keys (first key set)"}, append(rotate, "--bootstrap", "--release-key", rel1Pub)...)
		firstSet, _ := pubRetained(t, pubDial(t, b.URL), "acme/.u/keys")

		sim := startOtactlIn(t, e.dir, []string{"OTACTL_BROKER=" + b.URL, "OTACTL_TOPIC_PREFIX=acme/", "XDG_CONFIG_HOME=" + e.env["XDG_CONFIG_HOME"]}, nil,
			"simulate", "--devices", "3", "--reboot-time", "20ms", "--root-pubkey", rootPub, "-o", "json")
		devices := func(what string, match func(ev simulator.Event) bool) {
			t.Helper()
			waitFor(t, what, func() bool { return countDevices(sim.stdout.String(), match) == 3 })
		}
		event := func(kind, detail string) func(simulator.Event) bool {
			return func(ev simulator.Event) bool { return ev.Kind == kind && strings.Contains(ev.Detail, detail) }
		}
		updated := func(version string) func(simulator.Event) bool {
			return func(ev simulator.Event) bool {
				return ev.Kind == simulator.EventReport && ev.State == 3 && ev.Reason == 1 && ev.Version == version
			}
		}
		devices("key set 1 followed", event(simulator.EventKeySet, "following key set version 1"))

		app := e.file("app.bin", pubRandom(2000))
		m1 := e.manifest("r1.json", 1000, rel1Priv, "main@1.1.0="+app)
		e.must(0, "release", "publish", m1, app, "--root-pubkey", rootPub)
		devices("updated to 1.1.0 (release key 1)", updated("1.1.0"))

		out := e.must(0, append(rotate, "--release-key", rel2Pub, "-o", "json")...)
		var rep struct{ Version, PreviousVersion int64 }
		if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Version != 2 || rep.PreviousVersion != 1 {
			t.Fatalf("key rotate -o json: %v\n%s", err, out)
		}
		devices("key set 2 followed", event(simulator.EventKeySet, "following key set version 2"))

		// A release signed by release key 1: release publish refuses it,
		// and devices refuse it when it gets there anyway.
		m2 := e.manifest("r2.json", 1001, rel1Priv, "main@1.2.0="+app)
		if _, errs, code := e.run("", "release", "publish", m2, app, "--root-pubkey", rootPub); code != ExitVerification || !strings.Contains(errs, "release keys of key set version 2 on acme/.u/keys") {
			t.Fatalf("publish signed by release key 1: exit %d\n%s", code, errs)
		}
		b.Publish(t, "acme/.u/c/main@1.2.0", []byte(mustRead(t, app)))
		b.Publish(t, "acme/.u/desired", []byte(mustRead(t, m2)))
		devices("release key 1 refused", func(ev simulator.Event) bool { return ev.Kind == simulator.EventRefused && ev.Sequence == 1001 })

		// An older key set: key rotate refuses it, devices refuse it.
		if _, errs, code := e.run("", append(rotate, "--release-key", rel1Pub, "--version", "1")...); code != ExitVerification || !strings.Contains(errs, "not above") {
			t.Fatalf("key rotate --version 1: exit %d\n%s", code, errs)
		}
		b.Publish(t, "acme/.u/keys", firstSet)
		devices("older key set refused", event(simulator.EventKeySetRefused, "key set version 1 refused: not above version 2"))

		// A key set signed by a key that is not the root: key rotate
		// refuses to make it; published anyway, devices and release
		// publish refuse it.
		if _, errs, code := e.run("", "key", "rotate", "--root-key", "file:"+otherPriv, "--release-key", rel1Pub, "--version", "3"); code != ExitVerification || !strings.Contains(errs, "0 valid signatures by the 1 trusted root keys") {
			t.Fatalf("key rotate signed by a non-root key: exit %d\n%s", code, errs)
		}
		b.Publish(t, "acme/.u/keys", forgedKeySet(t, otherPriv, rel1Pub))
		devices("forged key set refused", event(simulator.EventKeySetRefused, "0 valid signatures by the 1 trusted root keys"))
		m3 := e.manifest("r3.json", 1002, rel2Priv, "main@1.3.0="+app)
		if _, errs, code := e.run("", "release", "publish", m3, app, "--root-pubkey", rootPub); code != ExitVerification || !strings.Contains(errs, "key set on acme/.u/keys") {
			t.Fatalf("publish under a forged key set: exit %d\n%s", code, errs)
		}

		// The way out: a key set above the forged one, signed by root A.
		e.says([]string{"key set version 4 published", "(was version 3)"}, append(rotate, "--release-key", rel2Pub, "--force")...)
		devices("key set 4 followed", event(simulator.EventKeySet, "following key set version 4"))
		e.must(0, "release", "publish", m3, app, "--root-pubkey", rootPub)
		devices("updated to 1.3.0 (release key 2)", updated("1.3.0"))

		// The root key behind an external signer: the openssl recipe of
		// docs/keys.md, run by the built binary (its mktemp writes under
		// TMPDIR, the test's folder).
		requireReal(t, "openssl", haveCommand("openssl"))
		e.file("openssl-signer.sh", []byte(mustRead(t, "testdata/openssl-signer.sh")))
		r := runOtactl(t, e.dir, []string{"OTACTL_BROKER=" + b.URL, "OTACTL_TOPIC_PREFIX=acme/", "TMPDIR=" + e.dir}, "",
			"key", "rotate", "--root-key", "exec:sh openssl-signer.sh root-a.pem", "--signer-pubkey", "root-a.pub.pem", "--release-key", rel1Pub)
		if r.code != 0 || !strings.Contains(r.stdout, "key set version 5 published") {
			t.Fatalf("key rotate with an exec: root signer: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		devices("key set 5 followed", event(simulator.EventKeySet, "following key set version 5"))
	})
}

// countDevices counts the devices with an event match accepts among the
// JSON lines of `simulate -o json`.
func countDevices(lines string, match func(simulator.Event) bool) int {
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(lines))
	for sc.Scan() {
		var ev simulator.Event
		if json.Unmarshal(sc.Bytes(), &ev) == nil && match(ev) {
			seen[ev.Device] = true
		}
	}
	return len(seen)
}

// forgedKeySet is key set version 3 of the release key in relPub, naming
// the key in privFile as its root and signed by it.
func forgedKeySet(t *testing.T, privFile, relPub string) []byte {
	t.Helper()
	k, err := keys.ParsePrivatePEM([]byte(mustRead(t, privFile)))
	if err != nil {
		t.Fatal(err)
	}
	rel, err := keys.ParsePublicPEM([]byte(mustRead(t, relPub)))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keyset.Build(3, []crypto.PublicKey{rel}, 1, []crypto.PublicKey{k.Public()}, 1)
	if err == nil {
		err = ks.Sign(k)
	}
	var b []byte
	if err == nil {
		b, err = keyset.Encode(ks)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

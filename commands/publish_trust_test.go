package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
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

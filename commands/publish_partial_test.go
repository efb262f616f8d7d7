package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/mosquitto"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/release"
)

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
// published, c failed, d not published to; no catalog entry. Not parallel:
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
	if !strings.Contains(errb.String(), "interrupted after the desired manifest went out: published to 2 of 4 targets") {
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
	if strings.Join(got, ", ") != "a published, b published, c failed, d not published" || rep.Catalog.Action != "" {
		t.Errorf("targets %q, catalog %q", got, rep.Catalog.Action)
	}
}

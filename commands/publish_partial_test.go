package commands

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/mosquitto"
	"github.com/otactl/otactl/release"
)

// TestPublishUnconfirmedAfterDesiredExits6 runs a publish whose desired
// manifest goes out but whose catalog entry the broker drops (an ACL that
// denies it, which mosquitto acknowledges silently): the release is live,
// so the run exits 6, not 0, 1 or 3.
func TestPublishUnconfirmedAfterDesiredExits6(t *testing.T) {
	t.Parallel()
	mosquitto.Require(t)
	dir := t.TempDir()
	acl := filepath.Join(dir, "acl")
	rules := "topic read #\ntopic write .u/c/#\ntopic write .u/desired\ntopic write .u/otactl/#\n"
	if err := os.WriteFile(acl, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	m := mosquitto.Start(t, mosquitto.Config{Extra: "acl_file " + acl + "\n"})

	e := newPubEnv(t)
	fw := e.file("fw.bin", pubRandom(2048))
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

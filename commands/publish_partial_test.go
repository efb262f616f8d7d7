package commands

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/mosquitto"
	"github.com/otactl/otactl/internal/testsecrets"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
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

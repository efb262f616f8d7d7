package commands

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

// TestPublishUnderTopicPrefixE2E: under --topic-prefix acme/ the artifact
// is at acme/.u/c/main@1.3.0 while the manifest's uri, signed, stays
// /.u/c/main@1.3.0, relative to the prefix (devices put their prefix
// before it). A manifest whose uri holds the prefix is refused before
// anything is sent.
func TestPublishUnderTopicPrefixE2E(t *testing.T) {
	t.Parallel()
	for _, b := range testbroker.All(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			e := newPubEnv(t)
			e.env["OTACTL_BROKER"] = b.URL
			e.env["OTACTL_TOPIC_PREFIX"] = "acme/"
			c, err := upload.Connect(context.Background(), upload.Options{Broker: b.URL})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			data := pubRandom(t, 2000)
			app := e.file("app.bin", data)
			mf := e.manifest("r.json", 1000, "", "main@1.3.0="+app)
			e.must(0, "release", "publish", mf, app)
			if got, found := pubRetained(t, c, "acme/.u/c/main@1.3.0"); !found || !bytes.Equal(got, data) {
				t.Fatal("the artifact is not at acme/.u/c/main@1.3.0")
			}
			got, _ := pubRetained(t, c, "acme/.u/desired")
			m, err := release.Parse(got)
			if err != nil || m.Components[0].URI != "/.u/c/main@1.3.0" {
				t.Fatalf("acme/.u/desired: %v, %v", m, err)
			}

			// The prefix put into the uri (by another tool): refused.
			m.SequenceNumber = 2000
			m.Components[0].URI = "/acme/.u/c/main@1.3.0"
			m.Seal()
			bad, err := release.EncodeJSON(m)
			if err != nil {
				t.Fatal(err)
			}
			badFile := e.file("bad.json", bad)
			_, errs, code := e.run("", "release", "publish", badFile, app)
			if code != ExitVerification || !strings.Contains(errs, `holds the topic prefix "acme/"`) {
				t.Errorf("a uri holding the prefix: exit %d\n%s", code, errs)
			}
			if got, _ := pubRetained(t, c, "acme/.u/desired"); string(got) != mustRead(t, mf) {
				t.Error("the refused manifest changed acme/.u/desired")
			}
		})
	}
}

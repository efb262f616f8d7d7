package commands

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

// eachPubBroker runs fn, in parallel subtests, against each real broker
// (testbroker.All): an in-process otactl pointed at it and a client that
// reads its retained messages back.
func eachPubBroker(t *testing.T, fn func(t *testing.T, e *pubEnv, c *upload.Client)) {
	onEveryBroker(t, func(t *testing.T, b *testbroker.Broker) {
		fn(t, newPubEnvAt(t, b.URL), pubDial(t, b.URL))
	})
}

// embeddedPubEnv is eachPubBroker's pair for a test that needs one broker
// only: it runs the test in parallel with the package's others, against
// an embedded broker of its own.
func embeddedPubEnv(t *testing.T) (*pubEnv, *upload.Client) {
	t.Parallel()
	b := testbroker.Start(t, testbroker.KindEmbedded)
	return newPubEnvAt(t, b.URL), pubDial(t, b.URL)
}

// lintRefused fails the test unless a run exited 1 in strict mode, naming
// the finding code, with a hint.
func lintRefused(t *testing.T, what, errs string, code int, finding string) {
	t.Helper()
	if code != ExitError || !strings.Contains(errs, "strict mode refuses a release with a device-compatibility finding: "+finding+": ") || !strings.Contains(errs, "hint: ") {
		t.Fatalf("%s: exit %d, want 1 naming %s with a hint\n%s", what, code, finding, errs)
	}
}

// TestPublishLintAndStrict: release publish warns about what devices on
// the Golioth SDK would refuse or misread, keeps -o json's stdout pure
// JSON with the findings in it, and in strict mode (flag, environment or
// profile) refuses before anything is retained.
func TestPublishLintAndStrict(t *testing.T) {
	eachPubBroker(t, func(t *testing.T, e *pubEnv, c *upload.Client) {
		app := e.file("app.bin", pubRandom(2000))
		// 14 + 16 + 16 characters: the SDK's state report does not fit.
		pkg, ver := "sensor-hub-fw2", "1.0.0-rc.1234567"
		mf := e.manifest("r.json", 1000, "", pkg+"@"+ver+"="+app)
		artifact := ".u/c/" + pkg + "@" + ver
		nothingRetained := func(what string) {
			t.Helper()
			for _, topic := range []string{artifact, ".u/desired", "cohorts/beta/.u/desired", ".u/releases/1000"} {
				if _, found := pubRetained(t, c, topic); found {
					t.Fatalf("%s: %s is retained", what, topic)
				}
			}
		}
		_, errs, code := e.run("", "release", "publish", mf, app, "--strict")
		lintRefused(t, "--strict", errs, code, release.LintReportBuffer)
		nothingRetained("--strict")

		e.env["OTACTL_STRICT"] = "true"
		_, errs, code = e.run("", "release", "publish", mf, app, "--cohort", "beta", "--dry-run")
		lintRefused(t, "OTACTL_STRICT", errs, code, release.LintReportBuffer)
		delete(e.env, "OTACTL_STRICT")
		e.must(0, "config", "set", "strict", "true")
		_, errs, code = e.run("", "release", "publish", mf, app, "--cohort", "beta")
		lintRefused(t, "the profile's strict", errs, code, release.LintReportBuffer)
		nothingRetained("the profile's strict")

		// --strict=false beats the profile: the findings are warnings.
		out, errs, code := e.run("", "release", "publish", mf, app, "--strict=false", "-o", "json")
		if code != 0 {
			t.Fatalf("--strict=false: exit %d\n%s", code, errs)
		}
		want := "warning: " + release.LintReportBuffer + ": package sensor-hub-fw2 at version 1.0.0-rc.1234567: a device updating from a version as long as 1.0.0-rc.1234567 has a state report of 65 bytes"
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
		var rep struct {
			Schema string `json:"schema"`
			publish.Report
		}
		dec := json.NewDecoder(strings.NewReader(out))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rep); err != nil || dec.More() || rep.Schema != "otactl/release-publish/v1" {
			t.Fatalf("stdout is not one JSON report (%v):\n%s", err, out)
		}
		if len(rep.Warnings) != 1 || rep.Warnings[0].Code != release.LintReportBuffer || rep.Warnings[0].Package != pkg {
			t.Errorf("report warnings %+v", rep.Warnings)
		}
		if _, found := pubRetained(t, c, ".u/desired"); !found {
			t.Error("the release was not published")
		}
	})
}

// TestRollbackLint: a rollback's new manifest is linted; a sequence past
// int32 is a warning naming what devices read, and refused in strict mode
// with the targets left as they were.
func TestRollbackLint(t *testing.T) {
	eachPubBroker(t, func(t *testing.T, e *pubEnv, c *upload.Client) {
		app := e.file("app.bin", pubRandom(2000))
		e.must(0, "release", "publish", e.manifest("r1.json", 1000, "", "main@1.0.0="+app), app)
		e.must(0, "release", "publish", e.manifest("r2.json", 2000, "", "main@1.1.0="+app), app)
		before, _ := pubRetained(t, c, ".u/desired")

		_, errs, code := e.run("", "release", "rollback", "--to", "1000", "--sequence", "3000000000", "--strict")
		lintRefused(t, "rollback --strict", errs, code, release.LintSequence)
		if !strings.Contains(errs, "reads -1294967296") || !strings.Contains(errs, "reads 2147483647") {
			t.Errorf("the refusal does not name what devices read:\n%s", errs)
		}
		if now, _ := pubRetained(t, c, ".u/desired"); string(now) != string(before) {
			t.Fatal("a refused rollback changed the fleet's manifest")
		}
		if _, found := pubRetained(t, c, ".u/releases/3000000000"); found {
			t.Fatal("a refused rollback was recorded")
		}

		out, errs, code := e.run("", "release", "rollback", "--to", "1000", "--sequence", "3000000000", "-o", "json")
		if code != 0 || !strings.Contains(errs, "warning: "+release.LintSequence+": sequenceNumber 3000000000 is above 2147483647") {
			t.Fatalf("rollback: exit %d\n%s", code, errs)
		}
		var rep publish.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.RollbackOf != 1000 || len(rep.Warnings) != 1 || rep.Warnings[0].Reads["cbor"] != "-1294967296" {
			t.Fatalf("report %v: %s", err, out)
		}
	})
}

// TestPublishEncodingDefault: the desired manifest's encoding is
// --encoding, else OTACTL_ENCODING, else the profile's encoding, else
// JSON; the help says which devices need which.
func TestPublishEncodingDefault(t *testing.T) {
	t.Parallel()
	b := testbroker.Start(t, testbroker.KindMosquitto)
	e := newPubEnv(t)
	e.env["OTACTL_BROKER"] = b.URL
	c := pubDial(t, b.URL)
	app := e.file("app.bin", pubRandom(2000))
	mf := e.manifest("r.json", 1000, "", "main@1.0.0="+app)
	isCBOR := func(device string) bool {
		t.Helper()
		got, found := pubRetained(t, c, "devices/"+device+"/.u/desired")
		if !found {
			t.Fatalf("nothing retained for %s", device)
		}
		m, err := release.ParseCBOR(got)
		return err == nil && m.SequenceNumber == 1000
	}
	e.must(0, "release", "publish", mf, app, "--device", "d1")
	e.must(0, "config", "set", "encoding", "cbor")
	e.must(0, "release", "publish", mf, "--device", "d2")
	e.env["OTACTL_ENCODING"] = "json"
	e.must(0, "release", "publish", mf, "--device", "d3")
	e.must(0, "release", "publish", mf, "--device", "d4", "--encoding", "cbor")
	for d, want := range map[string]bool{"d1": false, "d2": true, "d3": false, "d4": true} {
		if got := isCBOR(d); got != want {
			t.Errorf("%s: CBOR %v, want %v", d, got, want)
		}
	}
	e.env["OTACTL_ENCODING"] = "xml"
	if _, errs, code := e.run("", "release", "publish", mf, "--device", "d5"); code != ExitError || !strings.Contains(errs, `OTACTL_ENCODING "xml"`) {
		t.Errorf("bad OTACTL_ENCODING: exit %d %s", code, errs)
	}
	help := e.must(0, "release", "publish", "--help")
	for _, w := range []string{"cbor  devices on the current Golioth firmware SDK, which decodes CBOR only", "Golioth SDK up to v0.7.0, the last release with a JSON decoder", "OTACTL_ENCODING"} {
		if !strings.Contains(help, w) {
			t.Errorf("release publish --help lacks %q", w)
		}
	}
}

// TestMCUbootBuildNumberPublishes: an image built 1.2.3+4 gives a version
// that can be published: 1.2.3 by default, 1.2.3.4 with --build-number
// dot; a '+' given by hand is refused.
func TestMCUbootBuildNumberPublishes(t *testing.T) {
	eachPubBroker(t, func(t *testing.T, e *pubEnv, c *upload.Client) {
		body := pubRandom(4000)
		img := e.file("zephyr.signed.bin", append(release.EncodeImageHeader(release.ImageHeader{HeaderSize: 32, ImageSize: uint32(len(body)), Major: 1, Minor: 2, Revision: 3, Build: 4}), body...))
		for i, tc := range []struct{ flag, version string }{{"drop", "1.2.3"}, {"dot", "1.2.3.4"}} {
			mf := fmt.Sprintf("%s/r%d.json", e.dir, i)
			_, errs, code := e.run("", "release", "create", "-c", "main="+img, "--build-number", tc.flag, "--sequence", fmt.Sprint(1000+i), "--out", mf)
			if code != 0 {
				t.Fatalf("create --build-number %s: exit %d\n%s", tc.flag, code, errs)
			}
			if tc.flag == "drop" && !strings.Contains(errs, "says 1.2.3+4: published as 1.2.3 without the build number") {
				t.Errorf("no word on the dropped build number:\n%s", errs)
			}
			e.must(0, "release", "publish", mf, img)
			if got, found := pubRetained(t, c, ".u/c/main@"+tc.version); !found || len(got) != len(body)+32 {
				t.Errorf("--build-number %s: nothing (or the wrong bytes) at .u/c/main@%s", tc.flag, tc.version)
			}
		}
		_, errs, code := e.run("", "release", "create", "-c", "main@1.2.3+4="+img)
		if code != ExitUsage || !strings.Contains(errs, `invalid version "1.2.3+4": '+' is not allowed`) {
			t.Errorf("'+' by hand: exit %d\n%s", code, errs)
		}
		if _, errs, code := e.run("", "release", "create", "-c", "main="+img, "--build-number", "dash"); code != ExitUsage || !strings.Contains(errs, "--build-number") {
			t.Errorf("--build-number dash: exit %d\n%s", code, errs)
		}
	})
}

// TestCreateAndSignStrict: create and sign lint the release too, and in
// strict mode refuse it before writing anything.
func TestCreateAndSignStrict(t *testing.T) {
	t.Parallel()
	e := newPubEnv(t)
	app := e.file("app.bin", pubRandom(100))
	out := e.dir + "/r.json"
	_, errs, code := e.run("", "release", "create", "-c", "main@1.0.0="+app, "-c", "modem@2.0.0="+app, "--strict", "--out", out)
	lintRefused(t, "create --strict", errs, code, release.LintComponents)
	if _, err := os.ReadFile(out); err == nil {
		t.Fatal("a refused create wrote its manifest")
	}
	_, errs, code = e.run("", "release", "create", "-c", "main@1.0.0="+app, "-c", "modem@2.0.0="+app, "--out", out)
	if code != 0 || !strings.Contains(errs, "warning: "+release.LintComponents+": the release has 2 components") {
		t.Fatalf("create: exit %d\n%s", code, errs)
	}
	before, _ := os.ReadFile(out)
	priv, _ := e.signingKey("k")
	e.must(0, "config", "set", "strict", "true")
	_, errs, code = e.run("", "release", "sign", out, "--sign", "file:"+priv)
	lintRefused(t, "sign with the profile's strict", errs, code, release.LintComponents)
	if after, _ := os.ReadFile(out); string(after) != string(before) {
		t.Fatal("a refused sign rewrote the manifest")
	}
	_, errs, code = e.run("", "release", "sign", out, "--sign", "file:"+priv, "--strict=false")
	if code != 0 || !strings.Contains(errs, "warning: "+release.LintComponents) {
		t.Fatalf("sign --strict=false: exit %d\n%s", code, errs)
	}
}

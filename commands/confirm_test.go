package commands

import (
	"strings"
	"testing"
)

// TestConfirmBeforeTheWholeFleet: on a terminal, publishing to the fleet,
// unpublishing it and deleting an artifact ask first; no is exit 1 with
// nothing sent, yes and --yes go on; a device target, a dry run and a
// standard input that is not a terminal never ask.
func TestConfirmBeforeTheWholeFleet(t *testing.T) {
	e, c := embeddedPubEnv(t)
	app := e.file("app.bin", pubRandom(2000))
	m := e.manifest("r.json", 1000, "", "main@1.0.0="+app)
	const question = "for the whole fleet (.u/desired on "

	e.stdinTTY = true
	for _, no := range []string{"n\n", "\n", "nope\n", ""} {
		_, errs, code := e.run(no, "release", "publish", m, app)
		if code != ExitError || !strings.Contains(errs, "publish release 1000 "+question) || !strings.Contains(errs, "not confirmed: nothing was sent") {
			t.Fatalf("answer %q: exit %d\n%s", no, code, errs)
		}
		if _, found := pubRetained(t, c, ".u/c/main@1.0.0"); found {
			t.Fatalf("answer %q: the artifact was sent", no)
		}
	}
	for _, args := range [][]string{
		{"release", "publish", m, app, "--device", "d1"},
		{"release", "publish", m, app, "--dry-run"},
	} {
		if _, errs, code := e.run("", args...); code != 0 || strings.Contains(errs, "[y/N]") {
			t.Errorf("%v asked or failed: exit %d\n%s", args, code, errs)
		}
	}
	if _, errs, code := e.run("y\n", "release", "publish", m, app); code != 0 || !strings.Contains(errs, question) {
		t.Fatalf("yes: exit %d\n%s", code, errs)
	}
	if _, found := pubRetained(t, c, ".u/desired"); !found {
		t.Fatal("yes: the fleet's manifest is not retained")
	}

	if _, errs, code := e.run("no\n", "release", "unpublish"); code != ExitError || !strings.Contains(errs, "unpublish (no release) "+question) {
		t.Errorf("unpublish, no: exit %d\n%s", code, errs)
	}
	if _, errs, code := e.run("", "artifact", "delete", "main@1.0.0", "--force"); code != ExitError || !strings.Contains(errs, "delete artifact main@1.0.0 (.u/c/main@1.0.0 on ") {
		t.Errorf("artifact delete, no answer: exit %d\n%s", code, errs)
	}
	if got, _ := pubRetained(t, c, ".u/desired"); string(got) == "{}" {
		t.Error("a refused unpublish changed the fleet's manifest")
	}
	if _, errs, code := e.run("", "release", "unpublish", "--yes"); code != 0 || strings.Contains(errs, "[y/N]") {
		t.Errorf("unpublish --yes: exit %d\n%s", code, errs)
	}
	e.stdinTTY = false
	if _, errs, code := e.run("", "artifact", "delete", "main@1.0.0", "--force"); code != 0 || strings.Contains(errs, "[y/N]") {
		t.Errorf("artifact delete, stdin not a terminal: exit %d\n%s", code, errs)
	}
}

package commands

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/release"
)

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

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	defer w.Close()
	var stderr bytes.Buffer
	cmd := otactlCommand(context.Background(), t, "", nil, "release", "publish", man, fw, "--device", "a", "--device", "b", "--broker", b.URL)
	cmd.Stdout, cmd.Stderr = w, &stderr
	err = cmd.Run()
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

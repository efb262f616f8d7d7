package chaos

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/testbroker"
)

// The referee's own tests: each check the scenarios rely on must be able
// to fail, and fails here on a broker state or a run made to break it.

// TestRefereeInspect retains a manifest and, one after the other, no
// artifact, a short one, one with a byte changed and the right one, and
// checks that inspect reports exactly the broken ones.
func TestRefereeInspect(t *testing.T) {
	b := startBroker(t, testbroker.KindEmbedded, false, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := bytes.Repeat([]byte("firmware"), 256<<10) // 2 MiB
	man := fmt.Sprintf(`{"sequenceNumber":5,"hash":"x","components":[{"package":"main","version":"1.0.0","hash":"%s","size":%d,"uri":"/.u/c/main@1.0.0"}]}`,
		sha256Hex(data), len(data))
	put := func(topic string, payload []byte) {
		t.Helper()
		if err := publishRetained(ctx, b.Addr(), topic, payload); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(want string) {
		t.Helper()
		s, err := inspect(b.Addr(), fleetTopic)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(s.problems, "; ")
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Fatalf("inspect found %q, want %q", got, want)
		}
		if want == "" && s.seq(fleetTopic) != 5 {
			t.Fatalf("inspect read sequence %d, want 5", s.seq(fleetTopic))
		}
	}

	put(fleetTopic, []byte(man))
	expect(".u/c/main@1.0.0 retains nothing")
	put(".u/c/main@1.0.0", data[:len(data)-1])
	expect(fmt.Sprintf("retains %d bytes", len(data)-1))
	changed := bytes.Clone(data)
	changed[len(changed)/2] ^= 1
	put(".u/c/main@1.0.0", changed)
	expect(fmt.Sprintf("retains %d bytes with sha256 %.12s", len(data), sha256Hex(changed)))
	put(".u/c/main@1.0.0", data)
	expect("")
	put(fleetTopic, []byte("not json"))
	expect(".u/desired retains 8 bytes that are not a manifest")
}

// TestRefereeConfirmedLost runs the durability check of TestBrokerKilled on
// a broker that keeps nothing (no --data): what a publish confirmed is gone
// after the restart, and the check must say so.
func TestRefereeConfirmedLost(t *testing.T) {
	dir := t.TempDir()
	envv := env(t)
	art := writeRandom(t, newRand(t), dir, "main.bin", 64<<10)
	man, m := createRelease(t, envv, dir, "release.json", 100, "main@1.0.0="+art)
	b := startBroker(t, testbroker.KindEmbedded, false, "")
	r := mustOtactl(t, envv, "release", "publish", man, art, "--broker", brokerURL(b))
	b.Kill()
	b.Start()
	s, err := inspect(b.Addr(), fleetTopic)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(confirmedLost(b, s, r, m), "; ")
	for _, want := range []string{"the killed publish exited 0, but .u/desired retains no manifest", "reported main@1.0.0 uploaded, but .u/c/main@1.0.0 retains nothing"} {
		if !strings.Contains(got, want) {
			t.Errorf("confirmedLost said %q, want %q", got, want)
		}
	}
}

// TestRefereeExitProblems checks the verdicts on how runs end.
func TestRefereeExitProblems(t *testing.T) {
	for _, tc := range []struct {
		r    result
		want string // "" for no problem
	}{
		{result{code: 0}, ""},
		{result{code: 1, stderr: "connect to mqtt://x: refused\n"}, ""},
		{result{code: 1}, "without a message"},
		{result{code: 3, stderr: "verification failed: nothing retained\nhint: run again\n"}, `want one of [0 1]: "verification failed: nothing retained"`},
		{result{code: -1, hung: true}, "a run must end by itself"},
		{result{code: -1, signal: "interrupt"}, "killed by interrupt"},
		{result{code: 2, stderr: "panic: boom\n\ngoroutine 1 [running]:\n"}, "crashed: panic: boom"},
	} {
		got := strings.Join(exitProblems(tc.r, 0, 1), "; ")
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("exitProblems(%+v) = %q, want %q", tc.r, got, tc.want)
		}
	}
}

// TestRefereeOutputFolder checks the verdicts on what an interrupted write
// leaves behind.
func TestRefereeOutputFolder(t *testing.T) {
	data := []byte("complete")
	want := component{Size: int64(len(data)), Hash: sha256Hex(data)}
	for _, tc := range []struct {
		name  string
		r     result
		files map[string]string
		want  string
	}{
		{"complete", result{code: 0}, map[string]string{"out.bin": "complete"}, ""},
		{"interrupted, nothing left", result{code: 130}, nil, ""},
		{"temporary file left", result{code: 130}, map[string]string{".out.bin.tmp-1": "comp"}, `exit 130 after 0s left [".out.bin.tmp-1"]`},
		{"partial file left", result{code: 130}, map[string]string{"out.bin": "comp"}, `left ["out.bin"]`},
		{"exit 0, short", result{code: 0}, map[string]string{"out.bin": "comp"}, "holds 4 bytes"},
		{"exit 0, temporary file too", result{code: 0}, map[string]string{"out.bin": "complete", ".out.bin.tmp-1": ""}, "want only out.bin"},
		{"exit 0, nothing", result{code: 0}, nil, "exit 0 but open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got := strings.Join(outputProblems(tc.r, filepath.Join(dir, "out.bin"), want), "; ")
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("outputProblems = %q, want %q", got, tc.want)
			}
		})
	}
}
